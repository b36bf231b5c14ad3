"""Monitors in the database, the beats counted for each by UTC day (and the 30-day uptime they give), the documents
the API answers with, and the live updates."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, Final

import attrs
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from medianest_core.types import Audience, Event
from medianest_uptime_kuma.models import KEPT_DAYS, MonitorDay, MonitorRow, MonitorWatch, PollState, State

POLLED_AT: Final = "polled_at"
POLL_ERROR: Final = "poll_error"
WINDOW_DAYS: Final = 30
"""The days of the 30-day uptime: the UTC day of the newest beat (or today, if later) and the 29 before it."""
COUNTED: Final = {State.UP.value: 1, State.DOWN.value: 0, State.PENDING.value: 0}
"""The beats that count towards uptime, each with how much of an up beat it is: as Uptime Kuma 2.x counts, a
pending beat is down and a beat in maintenance is left out."""


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def monitor_doc(row: MonitorRow, *, admin: bool) -> dict[str, Any]:
    """A monitor as the API answers it; ``visible`` and ``message`` (which may name internal hosts) for admins only.
    ``uptime_30d_days`` is set when MediaNest worked the 30-day uptime out from the beats it counted: over how many
    UTC days (1 to 30); ``None`` when Uptime Kuma gave the figure, or there is none."""
    doc: dict[str, Any] = {
        "id": row.id,
        "name": row.title or row.name,
        "group": row.group,
        "type": row.type,
        "status": row.status,
        "latency_ms": row.latency_ms,
        "uptime_24h": row.uptime_24h,
        "uptime_30d": row.uptime_30d,
        "uptime_30d_days": row.uptime_30d_days,
        "cert_days": row.cert_days,
        "beats": list(row.beats or []),
        "service": row.service,
        "position": row.position,
        "updated_at": _iso(row.seen_at),
    }
    if admin:
        doc["visible"] = row.shown
        doc["message"] = row.message
    return doc


@attrs.frozen
class MonitorChanged(Event):
    """A monitor's status or beats changed: ``monitor`` is its document as people see it (without the admins'
    fields). Everyone receives it when the monitor is visible, only the admins otherwise."""

    name: ClassVar[str] = "uptime_kuma.monitor"
    monitor: dict[str, Any]
    visible: bool = True

    def audience(self) -> Audience:
        return Audience.everyone() if self.visible else Audience.admins()


def _ordered() -> Any:
    return select(MonitorRow).order_by(
        MonitorRow.position.is_(None), MonitorRow.position, MonitorRow.title, MonitorRow.name, MonitorRow.id
    )


async def visible_rows(db: AsyncSession, admin: bool) -> list[MonitorRow]:
    """The monitors a person sees (admins: all), by position then name."""
    rows = list((await db.scalars(_ordered())).all())
    if not admin:
        rows = [row for row in rows if row.shown]
    rows.sort(key=lambda row: (row.position is None, row.position or 0, (row.title or row.name).casefold(), row.id))
    return rows


async def all_rows(db: AsyncSession) -> list[MonitorRow]:
    return list((await db.scalars(select(MonitorRow))).all())


async def row_for(db: AsyncSession, monitor_id: int, *, admin: bool) -> MonitorRow | None:
    """The monitor ``monitor_id`` when the person may see it."""
    row = await db.get(MonitorRow, monitor_id)
    if row is None or (not admin and not row.shown):
        return None
    return row


async def state_value(db: AsyncSession, key: str) -> str | None:
    row = await db.get(PollState, key)
    return None if row is None else row.value


async def set_state(db: AsyncSession, key: str, value: str | None) -> None:
    row = await db.get(PollState, key)
    if row is None:
        db.add(PollState(key=key, value=value))
    else:
        row.value = value


async def polled_at(db: AsyncSession) -> datetime | None:
    """When the monitors were last read from Uptime Kuma, or ``None`` before the first good read."""
    text = await state_value(db, POLLED_AT)
    return datetime.fromisoformat(text) if text else None


async def poll_error(db: AsyncSession) -> str | None:
    """Why the last read failed (``None`` when it did not)."""
    return await state_value(db, POLL_ERROR)


async def watchers(db: AsyncSession, monitor_ids: Sequence[int]) -> dict[int, list[int]]:
    """Who watches each of ``monitor_ids``."""
    found: dict[int, list[int]] = {}
    if not monitor_ids:
        return found
    rows = await db.scalars(select(MonitorWatch).where(MonitorWatch.monitor_id.in_(list(monitor_ids))))
    for watch in rows:
        found.setdefault(watch.monitor_id, []).append(watch.user_id)
    return found


# ---- beats counted by UTC day ---------------------------------------------------------------------------------


async def counted_days(db: AsyncSession) -> dict[int, dict[date, MonitorDay]]:
    """The days counted for every monitor, by monitor id then day (at most about :data:`KEPT_DAYS` each)."""
    found: dict[int, dict[date, MonitorDay]] = {}
    for day in await db.scalars(select(MonitorDay)):
        found.setdefault(day.monitor_id, {})[day.day] = day
    return found


def last_counted(days: Mapping[date, MonitorDay]) -> datetime | None:
    """The time of the newest beat counted among ``days``."""
    newest = max((day.last_beat for day in days.values()), default=None)
    return None if newest is None else _aware(newest)


async def count_beats(
    db: AsyncSession,
    monitor_id: int,
    days: MutableMapping[date, MonitorDay],
    beats: Iterable[tuple[str, datetime]],
    today: date,
) -> date:
    """Add ``beats`` (status, time; none of them counted before) to the monitor's counts of their UTC days, and
    forget the days before the last :data:`KEPT_DAYS`; ``days`` (the monitor's, from :func:`counted_days`) follows.
    Every beat moves its day's ``last_beat`` on, but only up, down and pending beats are counted. Returns the last
    day of the 30-day window: ``today`` (UTC), or the day of the newest beat when that is later (Uptime Kuma's
    clock may be ahead of MediaNest's)."""
    seen = [(status, _aware(moment).astimezone(UTC)) for status, moment in beats]
    end = max([today, *days, *(moment.date() for _, moment in seen)])
    first = end - timedelta(days=KEPT_DAYS - 1)
    for status, moment in seen:
        if moment.date() < first:
            continue
        day = days.get(moment.date())
        if day is None:
            day = MonitorDay(monitor_id=monitor_id, day=moment.date(), up=0, counted=0, last_beat=moment)
            db.add(day)
            days[moment.date()] = day
        if status in COUNTED:
            day.up += COUNTED[status]
            day.counted += 1
        if moment > _aware(day.last_beat):
            day.last_beat = moment
    old = [when for when in days if when < first]
    if old:
        for when in old:
            del days[when]
        await db.execute(delete(MonitorDay).where(MonitorDay.monitor_id == monitor_id, MonitorDay.day < first))
    return end


def uptime_over(days: Mapping[date, MonitorDay], end: date) -> tuple[float | None, int]:
    """The uptime ratio of the beats counted over the :data:`WINDOW_DAYS` days ending on ``end``, and on how many
    of those days beats were counted (``None`` and 0 when none was)."""
    first = end - timedelta(days=WINDOW_DAYS - 1)
    measured = [day for when, day in days.items() if first <= when <= end and day.counted > 0]
    counted = sum(day.counted for day in measured)
    if not counted:
        return None, 0
    return sum(day.up for day in measured) / counted, len(measured)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
