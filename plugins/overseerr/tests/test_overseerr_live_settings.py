"""Overseerr set up, and moved, from the admin pages while MediaNest runs: its health says up at once, and a new
address is the only one asked from then on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from medianest_overseerr import OverseerrPlugin
from medianest_overseerr.fake import FakeOverseerr

from medianest_core.testing import SignedIn, entry_point, sign_in

PUT = "/api/v1/admin/services/overseerr"
STATUS = "/api/v1/status"


@pytest.fixture
async def fake() -> AsyncIterator[FakeOverseerr]:
    made = FakeOverseerr()
    await made.start()
    yield made
    await made.stop()


@pytest.fixture
async def other() -> AsyncIterator[FakeOverseerr]:
    made = FakeOverseerr()
    await made.start()
    yield made
    await made.stop()


async def fresh_install(medianest_client: Any) -> tuple[Any, SignedIn]:
    """MediaNest with the Overseerr plugin installed and not set up, and its admin signed in."""
    client = await medianest_client(
        entry_points=[entry_point("overseerr", OverseerrPlugin())], upstream_breaker_failures=1000
    )
    return client, await sign_in(client, "root", role="admin")


async def save(client: Any, admin: SignedIn, fake: FakeOverseerr) -> None:
    resp = await client.put(PUT, json={"values": {"url": fake.url, "api_key": fake.api_key}}, headers=admin.headers)
    assert resp.status == 200, await resp.text()
    doc = await resp.json()
    assert (doc["status"], doc["reason"]) == ("loaded", None)


async def health(client: Any) -> list[tuple[str, str]]:
    components = (await (await client.get("/api/v1/health")).json())["components"]
    return [(c["state"], c["message"]) for c in components if c["name"].startswith("overseerr/")]


async def eventually_up(client: Any) -> None:
    for _ in range(100):
        found = await health(client)
        if found and found[0][0] == "up":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"Overseerr's health is {await health(client)}")


async def test_set_up_while_running_its_health_is_up(fake: FakeOverseerr, medianest_client: Any) -> None:
    client, admin = await fresh_install(medianest_client)
    assert await health(client) == []

    await save(client, admin, fake)

    await eventually_up(client)
    assert (await health(client))[0][1].endswith("accepted the API key.")
    assert fake.count(STATUS) >= 1


async def test_a_new_address_is_asked_and_the_old_one_no_more(
    fake: FakeOverseerr, other: FakeOverseerr, medianest_client: Any
) -> None:
    client, admin = await fresh_install(medianest_client)
    await save(client, admin, fake)
    await eventually_up(client)

    await save(client, admin, other)
    asked = fake.count(STATUS)
    await eventually_up(client)
    for _ in range(100):
        if other.count(STATUS):
            break
        await asyncio.sleep(0.05)
    assert other.count(STATUS) >= 1
    await asyncio.sleep(0.3)
    assert fake.count(STATUS) == asked  # the first Overseerr is asked no more
