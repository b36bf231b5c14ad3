"""The 30-day uptime MediaNest works out from the beats it has seen when Uptime Kuma gives none (1.23, or status
pages alone): each beat counted once however much the heartbeat lists of two polls overlap, by UTC day, as 2.x
counts (pending as down, maintenance left out), shown with over how many days it was measured; Uptime Kuma 2.x's own
figure from ``/metrics`` wins; days older than about 35 are forgotten."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from html import unescape
from typing import Any

import pytest
from medianest_uptime_kuma.client import MonitorStatus
from medianest_uptime_kuma.fake import V1, V2, FakeUptimeKuma
from medianest_uptime_kuma.models import KEPT_DAYS, MonitorDay, MonitorRow
from sqlalchemy import select
from uptime_kuma_harness import MakeKuma, ManualUptimeKuma, Person, Setup, fake_kumas, setup

from medianest_core.testing import entry_point

HTML = {"Accept": "text/html"}
STATUS_PAGE = "/uptime_kuma/status/"


@pytest.fixture
async def make_kuma() -> AsyncIterator[MakeKuma]:
    async with fake_kumas() as make:
        yield make


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """MediaNest runs in New York: a day is still a UTC day."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def move_to(kuma: FakeUptimeKuma, hour: int, minute: int = 0) -> None:
    """Move the fake's clock on to the next ``hour:minute`` UTC (before any monitor beats)."""
    now = kuma.now()
    target = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if target <= now:
        target += timedelta(days=1)
    kuma.advance(seconds=(target - now).total_seconds())


async def with_plex(
    make_kuma: MakeKuma, version: str, *, interval: int = 60, at: tuple[int, int] = (12, 0)
) -> FakeUptimeKuma:
    """Plex on the status page "home", beating every ``interval`` seconds from ``at`` (hour, minute) UTC."""
    kuma = await make_kuma(version)
    move_to(kuma, *at)
    plex = kuma.add_monitor("Plex", url="https://plex.example.org", interval=interval)
    kuma.add_status_page("home", "Home", {"Media": [plex]})
    return kuma


def as_kuma_counts(kuma: FakeUptimeKuma, monitor_id: int) -> tuple[float, int]:
    """2.x's count over every beat the fake has made: up beats over up, down and pending ones, and on how many
    UTC days."""
    beats = [beat for beat in kuma.beats(monitor_id) if beat.status is not MonitorStatus.MAINTENANCE]
    up = sum(beat.status is MonitorStatus.UP for beat in beats)
    return up / len(beats), len({beat.time.date() for beat in beats})


async def doc_of(person: Person, name: str = "Plex") -> dict[str, Any]:
    found: dict[str, Any] = next(doc for doc in (await person.monitors())["monitors"] if doc["name"] == name)
    return found


async def shown_30d(person: Person) -> list[str]:
    """The 30-day figures the status page shows the person."""
    status, html = await person.call("GET", STATUS_PAGE, headers=HTML)
    assert status == 200, html
    return [unescape(text) for text in re.findall(r'data-role="uptime_30d">([^<]*)<', html)]


async def days_of(s: Setup, name: str = "Plex") -> dict[date, tuple[int, int]]:
    """The monitor's counted days: (up, counted) by UTC day."""
    async with s.runtime.sessions() as db:
        row = await db.scalar(select(MonitorRow).where(MonitorRow.name == name))
        assert row is not None
        days = await db.scalars(select(MonitorDay).where(MonitorDay.monitor_id == row.id))
        return {day.day: (day.up, day.counted) for day in days}


async def setup_on(medianest_client: Any, kuma: FakeUptimeKuma, database_url: str, **values: Any) -> Setup:
    """:func:`uptime_kuma_harness.setup` on the database ``database_url``."""
    plugin = ManualUptimeKuma()
    settings = {"url": kuma.url, "status_pages": ["home"]} | values
    client = await medianest_client(
        entry_points=[entry_point("uptime_kuma", plugin)],
        plugins={"uptime_kuma": settings},
        upstream_breaker_failures=1000,
        database_url=database_url,
    )
    return Setup(client, kuma, plugin, medianest_client)


@pytest.mark.parametrize("version", [V1, V2])
async def test_overlapping_heartbeat_lists_count_each_beat_once(
    medianest_client: Any, make_kuma: MakeKuma, version: str
) -> None:
    kuma = await with_plex(make_kuma, version)
    plex = kuma.monitors[0]
    s = await setup(medianest_client, kuma, api_key=None)  # status pages only: no 30-day figure from Uptime Kuma
    alice = await s.person("alice")
    assert await s.poll()
    kuma.set_status(plex.id, MonitorStatus.DOWN)
    assert await s.poll()
    for _ in range(3):  # each list repeats all but one of the beats of the one before
        kuma.advance(seconds=61)
        assert await s.poll()
    kuma.set_status(plex.id, MonitorStatus.UP)
    kuma.advance(seconds=61)
    assert await s.poll()
    assert await s.poll()  # the same answer again (Uptime Kuma's minute of cache)

    beats = kuma.beats(plex.id)
    assert [beat.status for beat in beats] == [MonitorStatus.UP] + [MonitorStatus.DOWN] * 4 + [MonitorStatus.UP] * 2
    assert await days_of(s) == {beats[0].time.date(): (3, 7)}
    doc = await doc_of(alice)
    assert doc["uptime_30d"] == pytest.approx(3 / 7)
    assert doc["uptime_30d_days"] == 1
    assert await shown_30d(alice) == ["42.85% over 1 day"]


@pytest.mark.parametrize("version", [V1, V2])
async def test_pending_counts_as_down_and_maintenance_is_left_out(
    medianest_client: Any, make_kuma: MakeKuma, version: str
) -> None:
    kuma = await with_plex(make_kuma, version)
    plex = kuma.monitors[0]
    for status in (MonitorStatus.PENDING, MonitorStatus.MAINTENANCE, MonitorStatus.DOWN, MonitorStatus.UP):
        kuma.advance(seconds=1)
        kuma.set_status(plex.id, status)
    s = await setup(medianest_client, kuma, api_key=None)
    alice = await s.person("alice")
    assert await s.poll()

    doc = await doc_of(alice)
    assert doc["uptime_30d"] == 0.5  # up, pending, (maintenance), down, up: 2 of 4
    assert await days_of(s) == {kuma.beats(plex.id)[0].time.date(): (2, 4)}
    assert await shown_30d(alice) == ["50% over 1 day"]


async def test_beats_are_counted_by_utc_day(medianest_client: Any, make_kuma: MakeKuma, far_from_utc: None) -> None:
    kuma = await with_plex(make_kuma, V1, interval=600, at=(23, 40))
    plex = kuma.monitors[0]
    kuma.advance(minutes=15)  # up at 23:40 and 23:50
    kuma.set_status(plex.id, MonitorStatus.DOWN)  # 23:55
    kuma.advance(minutes=15)  # down at 00:05
    kuma.set_status(plex.id, MonitorStatus.UP)  # 00:10
    s = await setup(medianest_client, kuma, api_key=None)
    alice = await s.person("alice")
    assert await s.poll()

    first = kuma.beats(plex.id)[0].time
    assert (first.hour, first.minute) == (23, 40)
    day = first.date()
    assert await days_of(s) == {day: (2, 3), day + timedelta(days=1): (1, 2)}
    doc = await doc_of(alice)
    assert (doc["uptime_30d"], doc["uptime_30d_days"]) == (pytest.approx(0.6), 2)
    assert await shown_30d(alice) == ["60% over 2 days"]


async def test_uptime_kuma_1_23_status_pages_alone_show_a_30_day_figure_with_its_days(
    medianest_client: Any, make_kuma: MakeKuma
) -> None:
    kuma = await with_plex(make_kuma, V1, interval=3600)
    plex = kuma.monitors[0]
    s = await setup(medianest_client, kuma)  # 1.23's /metrics has no 30-day figure either
    admin = await s.person("root", role="admin")
    alice = await s.person("alice")
    assert await s.poll()
    assert await shown_30d(alice) == ["100% over 1 day"]
    for day in range(1, 6):
        kuma.advance(days=1)
        if day == 2:
            kuma.set_status(plex.id, MonitorStatus.DOWN)
            kuma.advance(hours=3)
            kuma.set_status(plex.id, MonitorStatus.UP)
        assert await s.poll()

    ratio, days = as_kuma_counts(kuma, plex.id)
    assert days == 6
    for person in (admin, alice):
        doc = await doc_of(person)
        assert doc["uptime_30d"] == pytest.approx(ratio)
        assert doc["uptime_30d_days"] == 6
    assert ratio < 1
    [shown] = await shown_30d(alice)
    assert shown.endswith("% over 6 days")
    assert shown != "100% over 6 days"


async def test_uptime_kuma_2_metrics_figure_wins(medianest_client: Any, make_kuma: MakeKuma) -> None:
    kuma = await with_plex(make_kuma, V2)
    plex = kuma.monitors[0]
    kuma.set_status(plex.id, MonitorStatus.DOWN)
    kuma.advance(hours=2)  # down for two hours before MediaNest first looks: beyond the beats it can see
    kuma.set_status(plex.id, MonitorStatus.UP)
    kuma.advance(hours=1)
    s = await setup(medianest_client, kuma)  # the status page and /metrics with the API key
    alice = await s.person("alice")
    assert await s.poll()

    doc = await doc_of(alice)
    assert doc["uptime_30d"] == pytest.approx(kuma.uptime(plex, "30d"), abs=1e-9)
    assert doc["uptime_30d"] < 0.5  # not MediaNest's count of the last beats, all of them up
    assert doc["uptime_30d_days"] is None
    [shown] = await shown_30d(alice)
    assert "over" not in shown
    assert shown.startswith("33.")


async def test_old_days_are_forgotten(medianest_client: Any, make_kuma: MakeKuma, medianest_database_url: str) -> None:
    kuma = await with_plex(make_kuma, V1, interval=3600)
    plex = kuma.monitors[0]
    kuma.advance(seconds=1)
    kuma.set_status(plex.id, MonitorStatus.DOWN)
    kuma.advance(hours=2)
    kuma.set_status(plex.id, MonitorStatus.UP)
    s = await setup_on(medianest_client, kuma, medianest_database_url)
    alice = await s.person("alice")
    assert await s.poll()
    first = kuma.beats(plex.id)[0].time.date()
    for _ in range(10):
        kuma.advance(days=1)
        assert await s.poll()
    doc = await doc_of(alice)
    assert doc["uptime_30d"] == pytest.approx(as_kuma_counts(kuma, plex.id)[0])
    assert doc["uptime_30d"] < 1
    assert doc["uptime_30d_days"] == 11

    for _ in range(30):
        kuma.advance(days=1)
        assert await s.poll()
    last = first + timedelta(days=40)
    days = await days_of(s)
    assert max(days) == last
    assert sorted(days) == [last - timedelta(days=n) for n in reversed(range(KEPT_DAYS))]
    doc = await doc_of(alice)
    assert doc["uptime_30d"] == 1.0  # the outage of 40 days ago is out of the 30 days
    assert doc["uptime_30d_days"] == 30
    assert await shown_30d(alice) == ["100%"]


async def test_the_migrations_make_the_tables_the_models_describe(
    medianest_client: Any, make_kuma: MakeKuma, medianest_database_url: str
) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from medianest_core.models import Base

    kuma = await make_kuma(V1)
    s = await setup_on(medianest_client, kuma, medianest_database_url)

    def differences(conn: Any) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        found = compare_metadata(context, Base.metadata)
        return [d for d in found if "uptime_kuma_" in repr(d) and "alembic_version" not in repr(d)]

    async with s.runtime.engine.connect() as conn:
        assert await conn.run_sync(differences) == []
