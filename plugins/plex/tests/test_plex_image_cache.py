"""The image proxy's cache: bounded by bytes (``image_cache_mb``), one entry per person and image whatever number
the browser puts at the end of the image's path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from medianest_plex import PlexPlugin
from medianest_plex.fake import POSTER_PNG, FakePlex
from medianest_plex.images import ImageCache

from medianest_core import keys
from medianest_core.plugins import PluginStatus
from medianest_core.testing import entry_point, installed_plugin, sign_in

FILMS = 30


@pytest.fixture
async def fake() -> AsyncIterator[FakePlex]:
    plex = FakePlex()
    plex.add_section("1", "Films", "movie")
    for n in range(FILMS):
        plex.add_item("1", f"Film {n}", year=1950 + n)
    await plex.start()
    yield plex
    await plex.stop()


async def plex_client(medianest_client: Any, fake: FakePlex, **plex: Any) -> Any:
    section = {"url": fake.url, "plextv_url": fake.url, "token": fake.owner.token, **plex}
    return await medianest_client(
        entry_points=[entry_point("plex", PlexPlugin())], plugins={"plex": section}, api_rate_limit="10000/minute"
    )


def image_cache(client: Any) -> ImageCache:
    cache: ImageCache = client.app[keys.RUNTIME].plugins.get("plex").plugin.plex.images
    return cache


def fetched(fake: FakePlex) -> int:
    """How many images Plex was asked for."""
    return sum(1 for _, path in fake.calls if path.endswith(("/thumb", "/art")) or "/thumb/" in path)


async def get_image(client: Any, path: str) -> None:
    resp = await client.get("/api/v1/plex/images", params={"path": path})
    assert resp.status == 200, await resp.text()
    assert await resp.read() == POSTER_PNG


async def test_numbers_a_client_chooses_do_not_multiply_an_image(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake)
    await sign_in(client, "root", role="admin")
    films = await (await client.get("/api/v1/plex/libraries/1/items?limit=1")).json()
    key = films["items"][0]["id"]
    for number in range(40):
        await get_image(client, f"/library/metadata/{key}/thumb/{number}")
    assert len(image_cache(client)) == 1  # one person, one image: one entry
    for spelling in (f"/library/metadata/0{key}/thumb/39", f"/library/metadata/{key}/thumb/00039"):
        await get_image(client, spelling)  # the same image and version, spelt otherwise
    assert len(image_cache(client)) == 1

    # Only the latest version is kept: asking for the earlier ones again goes to Plex again.
    asked = fetched(fake)
    for number in range(39):
        await get_image(client, f"/library/metadata/{key}/thumb/{number}")
    assert fetched(fake) - asked == 39
    assert len(image_cache(client)) == 1
    bad = await client.get("/api/v1/plex/images", params={"path": f"/library/metadata/{key}/thumb/{'9' * 30}"})
    assert bad.status == 400


async def test_the_cache_never_holds_more_than_its_bytes(medianest_client: Any, fake: FakePlex) -> None:
    budget = 10 * len(POSTER_PNG)
    client = await plex_client(medianest_client, fake, image_cache_mb=budget / 1_000_000)
    await sign_in(client, "root", role="admin")
    films = await (await client.get(f"/api/v1/plex/libraries/1/items?limit={FILMS}")).json()
    posters = [item["poster"] for item in films["items"]]
    assert len(posters) == FILMS
    cache = image_cache(client)
    for poster in posters:
        resp = await client.get(poster)
        assert resp.status == 200
        assert cache.size <= budget
    assert len(cache) == 10

    # The ten most recent are kept; the others are asked of Plex again.
    asked = fetched(fake)
    for poster in posters[-10:]:
        assert (await client.get(poster)).status == 200
    assert fetched(fake) == asked
    for poster in posters[:-10]:
        assert (await client.get(poster)).status == 200
    assert fetched(fake) - asked == FILMS - 10
    assert cache.size <= budget


async def test_no_cache_at_zero(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake, image_cache_mb=0)
    await sign_in(client, "root", role="admin")
    films = await (await client.get("/api/v1/plex/libraries/1/items?limit=1")).json()
    for _ in range(3):
        assert (await client.get(films["items"][0]["poster"])).status == 200
    assert len(image_cache(client)) == 0
    assert fetched(fake) == 3


@pytest.mark.parametrize("value", [-1, 1025, float("nan")])
def test_the_size_has_bounds(medianest_settings: Any, value: float) -> None:
    record = installed_plugin("plex", medianest_settings(plugins={"plex": {"image_cache_mb": value}}))
    assert record.status is PluginStatus.BAD_SETTINGS
    assert record.reason is not None
    assert record.reason.startswith("plugins.plex.image_cache_mb: expected ")
    assert installed_plugin("plex", medianest_settings()).settings.image_cache_mb == 64
