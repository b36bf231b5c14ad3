"""What depends on a monitor, from end to end: the admin ties Uptime Kuma's "Overseerr" monitor to the Overseerr
plugin; once the monitor has been down ``down_after`` beats, people see the Request button greyed with the reason
naming the monitor and a request is refused without reaching Overseerr; once it is up again, Request is offered
again."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from medianest_overseerr import OverseerrPlugin
from medianest_overseerr.fake import FakeOverseerr
from medianest_uptime_kuma import UptimeKumaPlugin
from medianest_uptime_kuma.client import MonitorStatus
from medianest_uptime_kuma.fake import FakeUptimeKuma

from medianest_core import hookimpl, keys
from medianest_core.testing import SignedIn, entry_point, sign_in
from medianest_core.types import AccountSource, LinkedAccount, PeriodicTask, PluginContext

DUNE = 438631
ALICE_PLEX_ID = 501


class ManualUptimeKuma(UptimeKumaPlugin):
    """Uptime Kuma's plugin whose poll runs when the test says, not on the scheduler's clock."""

    @hookimpl
    def periodic_tasks(self, ctx: PluginContext) -> list[PeriodicTask]:
        return []


class PlexAccounts:
    """Gives alice a Plex account, as the Plex plugin does for someone who signed in with Plex."""

    name = "plexaccounts"
    version = "0"

    def __init__(self) -> None:
        self.accounts: dict[int, int] = {}

    @hookimpl
    def linked_accounts(self, ctx: PluginContext) -> list[AccountSource]:
        async def lookup(user_id: int) -> LinkedAccount | None:
            plex_id = self.accounts.get(user_id)
            return None if plex_id is None else LinkedAccount("plex", str(plex_id), f"plex{plex_id}")

        return [AccountSource("plex", "Plex", lookup)]


@pytest.fixture
async def overseerr() -> AsyncIterator[FakeOverseerr]:
    made = FakeOverseerr()
    made.add_movie(DUNE, "Dune", 2021, popularity=80.0)
    await made.start()
    yield made
    await made.stop()


@pytest.fixture
async def kuma() -> AsyncIterator[FakeUptimeKuma]:
    made = FakeUptimeKuma()
    watched = made.add_monitor("Overseerr", url="https://requests.example.org")
    plex = made.add_monitor("Plex", url="https://plex.example.org")
    made.add_status_page("home", "Home", {"Media": [watched, plex]})
    await made.start()
    yield made
    await made.stop()


async def call(client: Any, signed: SignedIn, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    headers = signed.headers if method != "GET" else {}
    resp = await client.request(method, path, headers=headers, **kwargs)
    text = await resp.text()
    return resp.status, json.loads(text) if text else None


async def request_button(client: Any, signed: SignedIn) -> dict[str, Any]:
    status, facts = await call(client, signed, "GET", f"/api/v1/titles/movie/{DUNE}/facts")
    assert status == 200, facts
    [button] = [action for action in facts["actions"] if action["source"] == "overseerr.requests"]
    return button  # type: ignore[no-any-return]


def beat(kuma: FakeUptimeKuma) -> None:
    """One more beat of every monitor (a minute apart), past Uptime Kuma's minute of cache."""
    kuma.advance(seconds=61)


async def test_a_down_monitor_pauses_requests_for_the_service_tied_to_it(
    medianest_client: Any, overseerr: FakeOverseerr, kuma: FakeUptimeKuma
) -> None:
    uptime = ManualUptimeKuma()
    accounts = PlexAccounts()
    client = await medianest_client(
        entry_points=[
            entry_point("overseerr", OverseerrPlugin()),
            entry_point("uptime_kuma", uptime),
            entry_point("plexaccounts", accounts),
        ],
        plugins={
            "overseerr": {"url": overseerr.url, "api_key": overseerr.api_key},
            "uptime_kuma": {"url": kuma.url, "status_pages": ["home"], "down_after": 2},
        },
        upstream_breaker_failures=1000,
    )
    poller = uptime.service(client.app[keys.RUNTIME].contexts["uptime_kuma"])
    assert poller is not None
    admin = await sign_in(client, "root", role="admin")
    alice_client = await medianest_client(browser_of=client)
    alice = await sign_in(alice_client, "alice")
    accounts.accounts[alice.user_id] = ALICE_PLEX_ID
    overseerr.add_user("alice", plex_id=ALICE_PLEX_ID)

    assert await poller.poll()
    status, listed = await call(client, admin, "GET", "/api/v1/uptime_kuma/monitors")
    assert status == 200, listed
    monitor_id = next(doc["id"] for doc in listed["monitors"] if doc["name"] == "Overseerr")
    status, body = await call(
        client, admin, "PATCH", f"/api/v1/uptime_kuma/monitors/{monitor_id}", json={"service": "overseerr"}
    )
    assert status == 200, body
    assert (await request_button(alice_client, alice))["enabled"] is True

    watched = kuma.monitors[0]
    kuma.set_status(watched.id, MonitorStatus.DOWN, msg="connect ECONNREFUSED 10.0.0.7:5055")
    went_down = kuma.beats(watched.id)[-1].time
    assert await poller.poll()
    assert (await request_button(alice_client, alice))["enabled"] is True  # one down beat: a blip so far
    beat(kuma)
    assert await poller.poll()

    reason = f"Overseerr's monitor is down (since {went_down:%H:%M} UTC)"
    button = await request_button(alice_client, alice)
    assert (button["label"], button["enabled"]) == ("Request", False)
    assert button["reason"] == f"Requests are paused: {reason}"
    asked_before = len(overseerr.calls)
    status, answer = await call(
        alice_client, alice, "POST", "/api/v1/overseerr/requests", json={"kind": "movie", "tmdb_id": DUNE}
    )
    assert status == 503, answer
    assert reason in answer["error"]["message"]
    assert overseerr.calls[asked_before:] == []  # Overseerr was not asked anything
    assert not any(call.method == "POST" for call in overseerr.calls)

    kuma.set_status(watched.id, MonitorStatus.UP)
    assert await poller.poll()
    button = await request_button(alice_client, alice)
    assert button["enabled"] is True, button
    status, answer = await call(
        alice_client, alice, "POST", "/api/v1/overseerr/requests", json={"kind": "movie", "tmdb_id": DUNE}
    )
    assert status == 201, answer
