"""TMDB set up, and moved, from the admin pages while MediaNest runs: search finds its titles at once, their posters
show, and a new address is the only one asked from then on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from medianest_tmdb import TMDBPlugin
from medianest_tmdb.fake import FakeTmdb

from medianest_core.testing import SignedIn, entry_point, sign_in

PUT = "/api/v1/admin/services/tmdb"
SEARCH = "/api/v1/search/multi"


@pytest.fixture
async def other() -> AsyncIterator[FakeTmdb]:
    """A second TMDB (another address) that knows one film of its own."""
    tmdb = FakeTmdb()
    tmdb.add_movie("The Matrix Elsewhere", year=2031)
    await tmdb.start()
    yield tmdb
    await tmdb.stop()


async def fresh_install(medianest_client: Any) -> tuple[Any, SignedIn]:
    """MediaNest with the TMDB plugin installed and not set up, and its admin signed in."""
    client = await medianest_client(
        entry_points=[entry_point("tmdb", TMDBPlugin())], api_rate_limit="10000/minute", upstream_breaker_failures=1000
    )
    return client, await sign_in(client, "root", role="admin")


async def save(client: Any, admin: SignedIn, fake: FakeTmdb) -> None:
    values = {"api_key": fake.api_key, "api_url": fake.api_url, "image_url": fake.image_url}
    resp = await client.put(PUT, json={"values": values}, headers=admin.headers)
    assert resp.status == 200, await resp.text()
    doc = await resp.json()
    assert (doc["status"], doc["reason"]) == ("loaded", None)


async def titles(client: Any, query: str) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/search", params={"q": query})
    assert resp.status == 200, await resp.text()
    found: list[dict[str, Any]] = (await resp.json())["results"]
    return found


async def test_set_up_while_running_search_finds_its_titles_with_their_posters(
    fake: FakeTmdb, medianest_client: Any
) -> None:
    client, admin = await fresh_install(medianest_client)
    assert await titles(client, "matrix") == []

    await save(client, admin, fake)

    found = await titles(client, "matrix")
    assert "The Matrix" in [title["title"] for title in found]
    poster = next(title["poster"] for title in found if title["title"] == "The Matrix")
    assert poster.startswith("/api/v1/tmdb/images/")
    resp = await client.get(poster)
    assert resp.status == 200  # the poster shows, without a restart of MediaNest
    assert resp.content_type.startswith("image/")
    health = (await (await client.get("/api/v1/health")).json())["components"]
    assert [c["state"] for c in health if c["name"].startswith("tmdb/")] == ["up"]


async def test_a_new_address_is_asked_and_the_old_one_no_more(
    fake: FakeTmdb, other: FakeTmdb, medianest_client: Any
) -> None:
    client, admin = await fresh_install(medianest_client)
    await save(client, admin, fake)
    assert "The Matrix" in [title["title"] for title in await titles(client, "matrix")]

    await save(client, admin, other)
    asked = fake.count(SEARCH.replace("/api/v1", "/3"))
    found = [title["title"] for title in await titles(client, "matrix")]
    assert found == ["The Matrix Elsewhere"]
    assert fake.count("/3/search/multi") == asked  # the first TMDB is asked no more
    assert other.count("/3/search/multi") == 1
