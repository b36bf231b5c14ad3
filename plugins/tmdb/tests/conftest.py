"""The TMDB plugin's fixtures: a fake TMDB with a small catalogue, and MediaNest running the plugin against it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from medianest_tmdb import TMDBPlugin
from medianest_tmdb.fake import FakeTmdb

from medianest_core.testing import entry_point

TmdbApp = Callable[..., Awaitable[Any]]
"""The ``tmdb_app`` fixture: ``await tmdb_app(**tmdb_settings)``."""


@pytest.fixture
async def fake() -> AsyncIterator[FakeTmdb]:
    tmdb = FakeTmdb()
    tmdb.add_sample()
    await tmdb.start()
    yield tmdb
    await tmdb.stop()


def section(fake: FakeTmdb, **values: Any) -> dict[str, Any]:
    """``[plugins.tmdb]`` for the fake: its key, its API and its image host."""
    return {"api_key": fake.api_key, "api_url": fake.api_url, "image_url": fake.image_url, **values}


@pytest.fixture
def tmdb_app(medianest_client: Any, fake: FakeTmdb) -> TmdbApp:
    """``await tmdb_app(**tmdb_settings)``: a test client of MediaNest with the TMDB plugin on the fake (its key,
    unless the settings say otherwise); ``keyless=True`` for none."""

    async def make(keyless: bool = False, **values: Any) -> Any:
        tmdb = values if keyless else section(fake, **values)
        return await medianest_client(
            entry_points=[entry_point("tmdb", TMDBPlugin())],
            plugins={"tmdb": tmdb},
            api_rate_limit="10000/minute",
            upstream_breaker_failures=1000,
        )

    return make
