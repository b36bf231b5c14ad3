"""Plex set up, and moved, from the admin pages while MediaNest runs: its health says up and the admin browses its
library at once, and a new server is the only one asked from then on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from medianest_plex import PlexPlugin
from medianest_plex.fake import FakePlex

from medianest_core.testing import SignedIn, entry_point, sign_in

PUT = "/api/v1/admin/services/plex"


def server(*films: str) -> FakePlex:
    plex = FakePlex()
    plex.add_section("1", "Films", "movie")
    for n, title in enumerate(films):
        plex.add_item("1", title, year=1990 + n)
    return plex


@pytest.fixture
async def fake() -> AsyncIterator[FakePlex]:
    plex = server("Heat", "Ronin")
    await plex.start()
    yield plex
    await plex.stop()


@pytest.fixture
async def other() -> AsyncIterator[FakePlex]:
    plex = server("Alien")
    await plex.start()
    yield plex
    await plex.stop()


async def fresh_install(medianest_client: Any) -> tuple[Any, SignedIn]:
    """MediaNest with the Plex plugin installed and not set up, and its admin (a local account) signed in."""
    client = await medianest_client(entry_points=[entry_point("plex", PlexPlugin())], api_rate_limit="10000/minute")
    return client, await sign_in(client, "root", role="admin")


async def save(client: Any, admin: SignedIn, fake: FakePlex) -> None:
    values = {"url": fake.url, "plextv_url": fake.url, "token": fake.owner.token}
    resp = await client.put(PUT, json={"values": values}, headers=admin.headers)
    assert resp.status == 200, await resp.text()
    doc = await resp.json()
    assert (doc["status"], doc["reason"]) == ("loaded", None)


async def health(client: Any) -> list[tuple[str, str]]:
    components = (await (await client.get("/api/v1/health")).json())["components"]
    return [(c["state"], c["message"]) for c in components if c["name"] == "plex/server"]


async def eventually_up(client: Any) -> None:
    for _ in range(100):
        found = await health(client)
        if found and found[0][0] == "up":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"Plex's health is {await health(client)}")


async def films(client: Any) -> list[str]:
    resp = await client.get("/api/v1/plex/libraries/1/items?limit=50")
    assert resp.status == 200, await resp.text()
    return sorted(item["title"] for item in (await resp.json())["items"])


async def test_set_up_while_running_its_health_is_up_and_the_library_shows(
    fake: FakePlex, medianest_client: Any
) -> None:
    client, admin = await fresh_install(medianest_client)
    assert [state for state, _ in await health(client)] != ["up"]

    await save(client, admin, fake)

    await eventually_up(client)
    assert (await health(client))[0][1].startswith("Plex Media Server ")
    assert await films(client) == ["Heat", "Ronin"]


async def test_a_new_server_is_asked_and_the_old_one_no_more(
    fake: FakePlex, other: FakePlex, medianest_client: Any
) -> None:
    client, admin = await fresh_install(medianest_client)
    await save(client, admin, fake)
    assert await films(client) == ["Heat", "Ronin"]

    await save(client, admin, other)
    asked = len(fake.calls)
    await eventually_up(client)
    assert await films(client) == ["Alien"]
    await asyncio.sleep(0.3)
    assert len(fake.calls) == asked  # the first server is asked no more
