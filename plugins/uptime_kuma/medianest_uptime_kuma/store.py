"""Monitors in the database, the documents the API answers with, and the live updates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Final

import attrs
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from medianest_core.types import Audience, Event
from medianest_uptime_kuma.models import MonitorRow, MonitorWatch, PollState

POLLED_AT: Final = "polled_at"
POLL_ERROR: Final = "poll_error"


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def monitor_doc(row: MonitorRow, *, admin: bool) -> dict[str, Any]:
    """A monitor as the API answers it; ``visible`` and ``message`` (which may name internal hosts) for admins only."""
    doc: dict[str, Any] = {
        "id": row.id,
        "name": row.title or row.name,
        "group": row.group,
        "type": row.type,
        "status": row.status,
        "latency_ms": row.latency_ms,
        "uptime_24h": row.uptime_24h,
        "uptime_30d": row.uptime_30d,
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
