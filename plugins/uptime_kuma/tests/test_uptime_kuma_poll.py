"""The poller: monitors read from status pages and ``/metrics`` (Uptime Kuma 2.x and 1.23) stored once each, the
admins told once when a monitor goes down (after ``down_after`` beats) and once when it is back, watchers told too,
outages reported for a tied service, and a hung Uptime Kuma that leaves the stored figures with their age."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from medianest_uptime_kuma.client import MonitorStatus
from medianest_uptime_kuma.fake import V1, V2, FakeUptimeKuma
from medianest_uptime_kuma.store import MonitorChanged
from uptime_kuma_harness import MakeKuma, Setup, fake_kumas, home, setup

from medianest_core import hookimpl
from medianest_core.testing import entry_point
from medianest_core.types import HealthState, PluginContext, Route


@pytest.fixture
async def make_kuma() -> AsyncIterator[MakeKuma]:
    async with fake_kumas() as make:
        yield make


def beat(kuma: FakeUptimeKuma) -> None:
    """One more beat of every monitor (their interval is a minute), past Uptime Kuma's minute of cache."""
    kuma.advance(seconds=61)


@pytest.mark.parametrize("version", [V2, V1])
async def test_monitors_from_a_status_page_and_metrics_appear_once(
    medianest_client: Any, make_kuma: MakeKuma, version: str
) -> None:
    kuma = await home(make_kuma, version)
    s = await setup(medianest_client, kuma)
    admin = await s.person("root", role="admin")
    alice = await s.person("alice")
    assert await s.poll()
    listed = await admin.monitors()
    assert sorted(doc["name"] for doc in listed["monitors"]) == ["Backup", "NAS", "Plex"]
    assert listed["stale"] is False
    assert listed["as_of"] is not None
    plex = next(doc for doc in listed["monitors"] if doc["name"] == "Plex")
    assert plex["group"] == "Media"
    assert plex["status"] == "up"
    assert plex["beats"]
    assert plex["beats"][-1]["status"] == "up"
    backup = next(doc for doc in listed["monitors"] if doc["name"] == "Backup")
    assert backup["visible"] is False  # known from /metrics alone: hidden until the admin shows it
    assert sorted(await alice.names()) == ["NAS", "Plex"]
    assert await s.poll()  # a second read updates the same rows
    assert sorted(doc["name"] for doc in (await admin.monitors())["monitors"]) == ["Backup", "NAS", "Plex"]


async def test_only_metrics_without_status_pages(medianest_client: Any, make_kuma: MakeKuma) -> None:
    kuma = await home(make_kuma)
    s = await setup(medianest_client, kuma, status_pages=[])
    admin = await s.person("root", role="admin")
    alice = await s.person("alice")
    assert await s.poll()
    assert sorted(await admin.names()) == ["Backup", "NAS", "Plex"]
    assert await alice.names() == []


@pytest.mark.parametrize("version", [V2, V1])
async def test_down_after_two_beats_tells_admins_once_and_once_when_back(
    medianest_client: Any, make_kuma: MakeKuma, version: str
) -> None:
    kuma = await home(make_kuma, version)
    plex = kuma.monitors[0]
    s = await setup(medianest_client, kuma)
    admin = await s.person("root", role="admin")
    alice = await s.person("alice")
    bob = await s.person("bob")
    assert await s.poll()
    plex_id = next(doc["id"] for doc in (await alice.monitors())["monitors"] if doc["name"] == "Plex")
    status, _ = await alice.call("PUT", f"/api/v1/uptime_kuma/monitors/{plex_id}/watch")
    assert status == 200

    kuma.set_status(plex.id, MonitorStatus.DOWN, msg="connect ECONNREFUSED 10.0.0.5:32400")
    assert await s.poll()
    assert await admin.notifications() == []  # one down beat: a blip so far
    doc = next(d for d in (await alice.monitors())["monitors"] if d["name"] == "Plex")
    assert doc["status"] == "down"

    beat(kuma)
    assert await s.poll()
    assert await admin.notifications() == ["Plex is down"]
    assert await alice.notifications() == ["Plex is down"]
    assert await bob.notifications() == []

    beat(kuma)
    assert await s.poll()
    assert await admin.notifications() == ["Plex is down"]  # still down: told once

    kuma.set_status(plex.id, MonitorStatus.UP)
    assert await s.poll()
    beat(kuma)
    assert await s.poll()
    assert await admin.notifications() == ["Plex is down", "Plex is back"]
    assert await alice.notifications() == ["Plex is down", "Plex is back"]
    assert await bob.notifications() == []


async def test_a_blip_tells_nobody(medianest_client: Any, make_kuma: MakeKuma) -> None:
    kuma = await home(make_kuma)
    plex = kuma.monitors[0]
    s = await setup(medianest_client, kuma)
    admin = await s.person("root", role="admin")
    assert await s.poll()
    kuma.set_status(plex.id, MonitorStatus.DOWN)
    assert await s.poll()
    kuma.set_status(plex.id, MonitorStatus.UP)
    assert await s.poll()
    beat(kuma)
    assert await s.poll()
    assert await admin.notifications() == []


async def test_a_metrics_only_monitor_counts_reads_as_beats(medianest_client: Any, make_kuma: MakeKuma) -> None:
    kuma = await home(make_kuma)
    backup = kuma.monitors[2]
    s = await setup(medianest_client, kuma, down_after=3)
    admin = await s.person("root", role="admin")
    assert await s.poll()
    kuma.set_status(backup.id, MonitorStatus.DOWN)
    for _ in range(2):
        assert await s.poll()
    assert await admin.notifications() == []
    assert await s.poll()
    assert await admin.notifications() == ["Backup is down"]


async def test_a_hidden_monitor_changing_reaches_only_the_admins(medianest_client: Any, make_kuma: MakeKuma) -> None:
    kuma = await home(make_kuma)
    plex, _, backup = kuma.monitors
    s = await setup(medianest_client, kuma)
    await s.person("root", role="admin")
    assert await s.poll()
    s.listen(MonitorChanged)
    kuma.set_status(backup.id, MonitorStatus.DOWN)
    kuma.set_status(plex.id, MonitorStatus.DOWN)
    assert await s.poll()
    by_name = {event.monitor["name"]: event for event in s.events if isinstance(event, MonitorChanged)}
    assert set(by_name) == {"Backup", "Plex"}
    assert not by_name["Backup"].audience().includes(99, False)
    assert by_name["Backup"].audience().includes(99, True)
    assert by_name["Plex"].audience().includes(99, False)
    assert "message" not in by_name["Plex"].monitor
    assert "visible" not in by_name["Plex"].monitor


async def test_a_watcher_is_not_told_about_a_monitor_hidden_from_them(
    medianest_client: Any, make_kuma: MakeKuma
) -> None:
    kuma = await home(make_kuma)
    plex = kuma.monitors[0]
    s = await setup(medianest_client, kuma)
    admin = await s.person("root", role="admin")
    alice = await s.person("alice")
    assert await s.poll()
    plex_id = next(doc["id"] for doc in (await alice.monitors())["monitors"] if doc["name"] == "Plex")
    assert (await alice.call("PUT", f"/api/v1/uptime_kuma/monitors/{plex_id}/watch"))[0] == 200
    status, _ = await admin.call("PATCH", f"/api/v1/uptime_kuma/monitors/{plex_id}", json={"visible": False})
    assert status == 200
    kuma.set_status(plex.id, MonitorStatus.DOWN)
    assert await s.poll()
    beat(kuma)
    assert await s.poll()
    assert await admin.notifications() == ["Plex is down"]
    assert await alice.notifications() == []


class Other:
    """A plugin a monitor can be tied to."""

    name = "other"
    version = "0"

    @hookimpl
    def api_routes(self, ctx: PluginContext) -> list[Route]:
        return []


async def test_a_tied_service_is_reported_out_while_its_monitor_is_down(
    medianest_client: Any, make_kuma: MakeKuma
) -> None:
    from uptime_kuma_harness import ManualUptimeKuma

    kuma = await home(make_kuma)
    plex = kuma.monitors[0]
    plugin = ManualUptimeKuma()
    client = await medianest_client(
        entry_points=[entry_point("uptime_kuma", plugin), entry_point("other", Other())],
        plugins={"uptime_kuma": {"url": kuma.url, "status_pages": ["home"]}},
    )
    s = Setup(client, kuma, plugin, medianest_client)
    admin = await s.person("root", role="admin")
    assert await s.poll()
    plex_id = next(doc["id"] for doc in (await admin.monitors())["monitors"] if doc["name"] == "Plex")
    status, body = await admin.call("PATCH", f"/api/v1/uptime_kuma/monitors/{plex_id}", json={"service": "other"})
    assert status == 200, body
    assert body["monitor"]["service"] == "other"
    outages = s.runtime.outages
    kuma.set_status(plex.id, MonitorStatus.DOWN)
    assert await s.poll()
    assert outages.reason("other") is None  # one beat: not yet
    beat(kuma)
    assert await s.poll()
    reason = outages.reason("other")
    assert reason is not None
    assert reason.startswith("Plex's monitor is down (since ")
    kuma.advance(seconds=3600)  # an hour later, still down: the same words, the time it went down
    assert await s.poll()
    assert outages.reason("other") == reason
    kuma.set_status(plex.id, MonitorStatus.UP)
    assert await s.poll()
    assert outages.reason("other") is None


async def test_uptime_kuma_hung_keeps_the_figures_with_their_age(medianest_client: Any, make_kuma: MakeKuma) -> None:
    kuma = await home(make_kuma)
    s = await setup(medianest_client, kuma)
    admin = await s.person("root", role="admin")
    alice = await s.person("alice")
    assert await s.poll()
    before = await alice.monitors()
    kuma.hang = True
    s.service.poll_seconds = 0.5
    assert not await s.poll()
    started = time.monotonic()
    after = await alice.monitors()
    assert time.monotonic() - started < 2.0
    assert after["stale"] is True
    assert after["as_of"] == before["as_of"]
    assert datetime.fromisoformat(after["as_of"]).tzinfo is not None
    assert [doc["name"] for doc in after["monitors"]] == [doc["name"] for doc in before["monitors"]]
    assert "error" not in after
    assert (await admin.monitors())["error"]


async def test_health_check_and_settings_test(medianest_client: Any, make_kuma: MakeKuma) -> None:
    from medianest_uptime_kuma import UptimeKumaSettings
    from medianest_uptime_kuma.service import connection_test, health_check

    from medianest_core.settings import HttpUrl, Secret

    kuma = await home(make_kuma)
    s = await setup(medianest_client, kuma)
    ctx = s.runtime.contexts["uptime_kuma"]
    check = health_check(lambda: s.service, 60)
    assert check.name == "api"
    assert (await check.check()).state is HealthState.UP
    kuma.down = True
    assert (await check.check()).state is HealthState.DOWN
    kuma.down = False

    def trying(**values: Any) -> UptimeKumaSettings:
        base: dict[str, Any] = {"url": HttpUrl(kuma.url), "status_pages": ["home"], "api_key": Secret(kuma.api_key)}
        return UptimeKumaSettings(**(base | values))

    found = await connection_test(ctx, trying()).check()
    assert (found.state, found.message) == (HealthState.UP, "Found 3 monitors on 1 status page and /metrics.")
    found = await connection_test(ctx, trying(api_key=None)).check()
    assert (found.state, found.message) == (HealthState.UP, "Found 2 monitors on 1 status page.")
    refused = await connection_test(ctx, trying(api_key=Secret("uk1_wrong"))).check()
    assert refused.state is HealthState.DOWN
    assert "refused the API key" in (refused.message or "")
    unknown = await connection_test(ctx, trying(status_pages=["nope"], api_key=None)).check()
    assert unknown.state is HealthState.DOWN
    assert "no such status page" in (unknown.message or "")


def test_settings_defaults_and_what_they_refuse(medianest_settings: Any) -> None:
    from medianest_core.plugins import PluginStatus
    from medianest_core.testing import installed_plugin

    record = installed_plugin("uptime_kuma", medianest_settings())
    assert record.status is PluginStatus.LOADED
    assert record.settings.status_pages == []
    assert not record.settings.configured
    record = installed_plugin(
        "uptime_kuma",
        medianest_settings(
            env={"MEDIANEST_UPTIME_KUMA_URL": "http://127.0.0.1:9", "MEDIANEST_UPTIME_KUMA_STATUS_PAGES": "home"},
            plugins={"uptime_kuma": {}},
        ),
    )
    assert record.settings.status_pages == ["home"]
    assert record.settings.configured
    assert record.settings.refresh_interval == 60
    assert record.settings.down_after == 2
    for wrong in ({"status_pages": ["Home Page"]}, {"refresh_interval": 5}, {"down_after": 0}, {"status_page": "x"}):
        record = installed_plugin("uptime_kuma", medianest_settings(plugins={"uptime_kuma": wrong}))
        assert record.status is PluginStatus.BAD_SETTINGS, wrong
        assert next(iter(wrong)) in (record.reason or "")
