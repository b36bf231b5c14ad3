"""Uptime Kuma set up, and moved, from the admin pages while MediaNest runs: the monitors appear on the card and in
the API, its health says up, a new address is the only one read from then on, and saving twice leaves one poller."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from html import unescape
from typing import Any

import pytest
from medianest_uptime_kuma import UptimeKumaPlugin
from medianest_uptime_kuma.fake import FakeUptimeKuma
from uptime_kuma_harness import MakeKuma, fake_kumas, home

from medianest_core import keys
from medianest_core.testing import SignedIn, entry_point, sign_in

PUT = "/api/v1/admin/services/uptime_kuma"
CARD = "/dashboard/cards/uptime_kuma/monitors"


@pytest.fixture
async def make_kuma() -> AsyncIterator[MakeKuma]:
    async with fake_kumas() as make:
        yield make


async def eventually(condition: Callable[[], Any], seconds: float = 10) -> None:
    """Wait until ``condition()`` (awaited when it gives an awaitable) is true."""
    for _ in range(int(seconds / 0.05)):
        found = condition()
        if inspect.isawaitable(found):
            found = await found
        if found:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"still not so after {seconds:g} s")


async def fresh_install(medianest_client: Any) -> tuple[Any, SignedIn]:
    """MediaNest with the Uptime Kuma plugin installed and not set up, and its admin signed in."""
    client = await medianest_client(
        entry_points=[entry_point("uptime_kuma", UptimeKumaPlugin())], upstream_breaker_failures=1000
    )
    return client, await sign_in(client, "root", role="admin")


async def save(client: Any, admin: SignedIn, kuma: FakeUptimeKuma, **more: Any) -> None:
    values = {"url": kuma.url, "status_pages": ["home"], "api_key": kuma.api_key, **more}
    resp = await client.put(PUT, json={"values": values}, headers=admin.headers)
    assert resp.status == 200, await resp.text()
    doc = await resp.json()
    assert (doc["status"], doc["reason"]) == ("loaded", None)


async def names(client: Any) -> list[str]:
    resp = await client.get("/api/v1/uptime_kuma/monitors")
    assert resp.status == 200, await resp.text()
    return sorted(doc["name"] for doc in (await resp.json())["monitors"])


async def health(client: Any) -> tuple[str, str] | None:
    components = (await (await client.get("/api/v1/health")).json())["components"]
    found = [(c["state"], c["message"]) for c in components if c["name"] == "uptime_kuma/api"]
    return found[0] if found else None


async def card(client: Any) -> str:
    resp = await client.get(CARD, headers={"Accept": "text/html"})
    assert resp.status == 200, await resp.text()
    return unescape(await resp.text())


async def test_set_up_while_running_shows_the_monitors_and_says_up(make_kuma: MakeKuma, medianest_client: Any) -> None:
    kuma = await home(make_kuma)
    client, admin = await fresh_install(medianest_client)
    assert "Not set up" in await card(client)
    assert await health(client) is None

    await save(client, admin, kuma)

    async def shown() -> bool:
        return await names(client) == ["Backup", "NAS", "Plex"]

    await eventually(shown)
    html = await card(client)
    assert "Not set up" not in html
    assert "Plex" in html
    assert "NAS" in html

    async def up() -> bool:
        return await health(client) == ("up", "Uptime Kuma answers.")

    await eventually(up)


async def test_a_new_address_is_read_and_the_old_one_no_more(make_kuma: MakeKuma, medianest_client: Any) -> None:
    first = await home(make_kuma)
    second = await make_kuma()
    router = second.add_monitor("Router", type="ping", hostname="router.lan")
    second.add_status_page("home", "Home", {"Network": [router]})
    client, admin = await fresh_install(medianest_client)
    await save(client, admin, first)

    async def first_shown() -> bool:
        return await names(client) == ["Backup", "NAS", "Plex"]

    await eventually(first_shown)

    await save(client, admin, second)

    async def second_shown() -> bool:
        return "Router" in await names(client)

    await eventually(second_shown)
    assert "Router" in await card(client)
    called = dict(first.counts)
    await asyncio.sleep(0.5)
    await client.get("/api/v1/health")
    assert dict(first.counts) == called  # nothing asks the first server any more
    assert second.count("/metrics") >= 1


async def test_saving_twice_leaves_one_poller(make_kuma: MakeKuma, medianest_client: Any) -> None:
    kuma = await home(make_kuma)
    client, admin = await fresh_install(medianest_client)
    await save(client, admin, kuma)

    async def stored() -> bool:
        return await names(client) == ["Backup", "NAS", "Plex"]

    await eventually(stored)  # the first read is over (stopping the poller amid its write is another matter)
    await save(client, admin, kuma, down_after=3)  # a change: the plugin restarts again

    async def polled() -> bool:
        return kuma.count("/metrics") >= 2

    await eventually(polled)
    await asyncio.sleep(0.5)
    # One read at each start (the second save's), then the next only after "Read every": 60 s.
    assert kuma.count("/metrics") == 2
    scheduler = client.app[keys.SCHEDULER]
    running = [t.get_name() for t in scheduler.tasks if not t.done()]
    assert [name for name in running if name.startswith("periodic:uptime_kuma.")] == ["periodic:uptime_kuma.poll"]
