"""The client of Uptime Kuma, against the fake: it reads status pages with their heartbeats and ``/metrics`` with
the API key, in 2.x's and 1.23's shapes, into one shape of monitor; puts the sources together without duplicates;
and fails as the upstream client's errors (NotFound, AuthFailed, Unavailable within the deadline)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from medianest_uptime_kuma.client import (
    KEPT_BEATS,
    Monitor,
    MonitorStatus,
    Source,
    UptimeKumaClient,
    merge,
    parse_metrics,
    parse_time,
)
from medianest_uptime_kuma.fake import V1, V2, FakeMonitor, FakeUptimeKuma

from medianest_core.upstream import (
    AuthFailed,
    BadResponse,
    NotFound,
    Unavailable,
    Upstream,
    UpstreamConfig,
    deadline,
)

FAST = UpstreamConfig(wait_initial=0.01, wait_max=0.05, breaker_failures=1000, timeout=2.0)
Setup = Callable[..., Awaitable[tuple[FakeUptimeKuma, UptimeKumaClient]]]


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    """``await setup(version)``: a started fake with Plex and a NAS on the page ``home`` (and a VPN on no page),
    and a client of it."""
    fakes: list[FakeUptimeKuma] = []
    upstreams: list[Upstream] = []

    async def make(version: str = V2, **options: Any) -> tuple[FakeUptimeKuma, UptimeKumaClient]:
        kuma = FakeUptimeKuma(version, **options)
        plex = kuma.add_monitor("Plex", url="https://plex.example.org", cert_days=40, tags=[("service", "plex")])
        nas = kuma.add_monitor("NAS", type="ping", hostname="nas.lan", ping=3)
        kuma.add_monitor("VPN", type="port", hostname="vpn.lan", port=51820)
        kuma.add_status_page("home", "Home", {"Media": [plex], "Storage": [nas]}, show_tags=True, show_cert_expiry=True)
        await kuma.start()
        fakes.append(kuma)
        upstream = Upstream("uptime_kuma", kuma.url, config=FAST, secrets=[kuma.api_key])
        upstreams.append(upstream)
        return kuma, UptimeKumaClient(upstream, status_page_timeout=0.5)

    yield make
    for upstream in upstreams:
        await upstream.close()
    for kuma in fakes:
        await kuma.stop()


def named(monitors: list[Monitor]) -> dict[str, Monitor]:
    return {monitor.name: monitor for monitor in monitors}


def by(kuma: FakeUptimeKuma, name: str) -> FakeMonitor:
    return next(monitor for monitor in kuma.monitors if monitor.name == name)


@pytest.mark.parametrize("version", [V2, V1])
async def test_monitors_of_a_status_page(setup: Setup, version: str) -> None:
    kuma, client = await setup(version)
    nas = by(kuma, "NAS")
    kuma.advance(30, minutes=80)  # 81 beats each, then half an interval
    kuma.set_status(nas.id, MonitorStatus.DOWN, msg="connect EHOSTUNREACH 10.0.0.5")

    page = await client.status_page("home")
    assert (page.config.title, page.all_incidents) == ("Home", [])
    found = named(await client.status_page_monitors("home"))
    assert list(found) == ["Plex", "NAS"]  # the VPN is on no page
    plex, down = found["Plex"], found["NAS"]
    assert (plex.id, plex.type, plex.group, plex.status, plex.latency_ms) == (1, "http", "Media", MonitorStatus.UP, 42)
    # 40 days of certificate (and the hour the fake adds) less 80 minutes: 39 whole days left.
    assert (plex.cert_days, plex.tags, plex.url) == (39, (("service", "plex"),), None)  # the page hides the URL
    assert (plex.uptime_24h, plex.uptime_30d) == (1, None)  # 30 days only from 2.x's /metrics
    assert (down.group, down.status, down.latency_ms) == ("Storage", MonitorStatus.DOWN, None)
    assert down.cert_days is None
    assert down.message is None  # a beat's message is never public
    assert len(down.beats) == KEPT_BEATS
    assert [beat.time for beat in down.beats] == sorted(beat.time for beat in down.beats)
    assert down.beats[-1].status is MonitorStatus.DOWN
    assert abs((down.beats[-1].time - kuma.beats(nas.id)[-1].time).total_seconds()) < 0.001  # to the millisecond
    assert (down.sources, down.status_pages, down.key) == (frozenset({Source.STATUS_PAGE}), ("home",), "id:2")
    assert 0 < (down.uptime_24h or 0) < 1


async def test_an_incident_in_either_shape(setup: Setup) -> None:
    for version in (V2, V1):
        kuma, client = await setup(version)
        kuma.set_incident("home", "Slow", "Working on it")
        assert [incident.title for incident in (await client.status_page("home")).all_incidents] == ["Slow"]


async def test_metrics_of_2x(setup: Setup) -> None:
    kuma, client = await setup(V2)
    kuma.set_status(by(kuma, "NAS").id, MonitorStatus.DOWN)
    metrics = await client.metrics(kuma.api_key)
    assert metrics.version == V2
    found = {monitor.name: monitor for monitor in metrics.monitors}
    assert set(found) == {"Plex", "NAS", "VPN"}
    plex, nas, vpn = found["Plex"], found["NAS"], found["VPN"]
    assert (plex.id, plex.type, plex.url, plex.hostname, plex.port) == (
        1,
        "http",
        "https://plex.example.org",
        None,
        None,
    )
    assert (plex.status, plex.response_ms, plex.cert_days, plex.cert_valid) == (MonitorStatus.UP, 42, 40, True)
    assert plex.tags == {"service": "plex"}
    assert plex.uptime == {"1d": 1, "30d": 1, "365d": 1}
    assert (nas.status, nas.response_ms, nas.url, nas.uptime["30d"]) == (MonitorStatus.DOWN, None, None, 0.5)
    assert (vpn.id, vpn.hostname, vpn.port, vpn.cert_days) == (3, "vpn.lan", "51820", None)


async def test_metrics_of_1_23_have_no_ids(setup: Setup) -> None:
    kuma, client = await setup(V1)
    metrics = await client.metrics(kuma.api_key)
    assert metrics.version == V1
    assert {(monitor.name, monitor.id, monitor.status) for monitor in metrics.monitors} == {
        ("Plex", None, MonitorStatus.UP),
        ("NAS", None, MonitorStatus.UP),
        ("VPN", None, MonitorStatus.UP),
    }
    assert all(monitor.uptime == {} and monitor.tags == {} for monitor in metrics.monitors)


async def test_a_wrong_key_is_auth_failed(setup: Setup) -> None:
    kuma, client = await setup(V2)
    with pytest.raises(AuthFailed) as refused:
        await client.metrics("uk1_wrong")
    assert "refused the credentials (401)" in str(refused.value)
    kuma.key_active = False
    with pytest.raises(AuthFailed):
        await client.metrics(kuma.api_key)
    header = kuma.calls[-1].headers["Authorization"]
    assert header.startswith("Basic ")
    assert kuma.calls[-1].path == "/metrics"


@pytest.mark.parametrize("version", [V2, V1])
async def test_both_sources_without_duplicates(setup: Setup, version: str) -> None:
    kuma, client = await setup(version)
    kuma.add_status_page("family", "Family", {"Watch": [by(kuma, "Plex")]})
    monitors = await client.monitors(["home", "family"], kuma.api_key)
    assert [monitor.name for monitor in monitors] == ["Plex", "NAS", "VPN"]
    plex, nas, vpn = monitors
    assert plex.sources == {Source.STATUS_PAGE, Source.METRICS}
    assert (plex.id, plex.group, plex.status_pages) == (1, "Media", ("home", "family"))
    assert len(plex.beats) == 1
    assert (nas.id, nas.group, nas.sources) == (2, "Storage", frozenset({Source.STATUS_PAGE, Source.METRICS}))
    # Known from /metrics alone: by id in 2.x, by name in 1.23.
    assert vpn.sources == {Source.METRICS}
    assert vpn.group is None
    assert vpn.key == ("id:3" if version == V2 else "name:port:VPN")
    assert plex.uptime_30d == (1 if version == V2 else None)


def test_merge_by_name_only_when_it_is_unambiguous() -> None:
    page = [
        Monitor(1, "Web", type="http", sources=frozenset({Source.STATUS_PAGE})),
        Monitor(2, "Web", type="http", sources=frozenset({Source.STATUS_PAGE})),
        Monitor(3, "DB", type="port", group="Storage", sources=frozenset({Source.STATUS_PAGE})),
    ]
    metrics = [
        Monitor(None, "Web", type="http", status=MonitorStatus.UP, sources=frozenset({Source.METRICS})),
        Monitor(None, "DB", type="port", status=MonitorStatus.DOWN, sources=frozenset({Source.METRICS})),
    ]
    merged = merge(page, metrics)
    assert [(monitor.id, monitor.name, monitor.status) for monitor in merged] == [
        (1, "Web", None),
        (2, "Web", None),
        (3, "DB", MonitorStatus.DOWN),
        (None, "Web", MonitorStatus.UP),  # two "Web" on the page: which one is not known, so kept apart
    ]
    assert merged[2].group == "Storage"


@pytest.mark.parametrize("version", [V2, V1])
async def test_an_unknown_slug_is_not_found(setup: Setup, version: str) -> None:
    _, client = await setup(version)
    started = time.monotonic()
    with pytest.raises(NotFound) as missing:
        await client.status_page("nowhere")
    assert "'nowhere'" in str(missing.value)
    assert time.monotonic() - started < 2  # 1.23 never answers: the client stops waiting by itself
    assert (await client.heartbeats("nowhere")).heartbeatList == {}
    assert (await client.status_page("home")).config.slug == "home"


async def test_hang_is_unavailable_within_the_deadline(setup: Setup) -> None:
    kuma, client = await setup(V2)
    kuma.hang = True
    for call in (client.status_page("home"), client.heartbeats("home"), client.metrics(kuma.api_key)):
        started = time.monotonic()
        with deadline(0.3), pytest.raises(Unavailable):
            await call
        assert time.monotonic() - started < 1.0


async def test_a_hang_without_deadline_is_unavailable_not_not_found(setup: Setup) -> None:
    # The status page is given up after status_page_timeout; the heartbeats do not answer either, so Uptime Kuma
    # is unavailable, not missing a page.
    kuma, client = await setup(V1)
    kuma.hang = True
    started = time.monotonic()
    with pytest.raises(Unavailable):
        await client.status_page("home")
    assert time.monotonic() - started < 2


async def test_down_and_failing_are_unavailable(setup: Setup) -> None:
    kuma, client = await setup(V2)
    kuma.down = True
    with pytest.raises(Unavailable):
        await client.monitors(["home"])
    kuma.down = False
    # Uptime Kuma answers 403 on a public route for an error of its own: not a refused key.
    kuma.error = "Cannot read properties of null (reading 'id')"
    with pytest.raises(Unavailable, match="failed inside Uptime Kuma"):
        await client.status_page("home")
    kuma.error = "SQLITE_BUSY: database is locked"
    kuma.clear_cache()
    with pytest.raises(Unavailable, match="503"):
        await client.heartbeats("home")


async def test_times_with_and_without_milliseconds(setup: Setup) -> None:
    assert parse_time("2026-08-01 12:30:05.120") == datetime(2026, 8, 1, 12, 30, 5, 120000, tzinfo=UTC)
    assert parse_time("2026-08-01 12:30:05") == datetime(2026, 8, 1, 12, 30, 5, tzinfo=UTC)
    with pytest.raises(ValueError, match="not a beat time"):
        parse_time("yesterday")
    kuma, client = await setup(V2, mariadb=True)
    plex = named(await client.status_page_monitors("home"))["Plex"]
    assert plex.beats[0].time == kuma.beats(1)[0].time.replace(microsecond=0)


def test_metrics_that_are_not_prometheus_text() -> None:
    with pytest.raises(BadResponse, match="not Prometheus text"):
        parse_metrics('monitor_status{monitor_name="x" 1\n')
    assert parse_metrics("").monitors == []
