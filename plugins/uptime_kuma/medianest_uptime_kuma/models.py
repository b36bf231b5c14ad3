"""The Uptime Kuma plugin's tables: the monitors as last read, the beats MediaNest has counted for each of them by
UTC day, the poller's state, and who watches which monitor."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from medianest_core.models import Base, utcnow

KEPT_DAYS: Final = 35
"""How many UTC days of counted beats are kept per monitor (the 30 of the 30-day uptime, and a few more)."""


class State(enum.StrEnum):
    """A monitor's status as MediaNest stores and shows it."""

    UP = "up"
    DOWN = "down"
    PENDING = "pending"
    MAINTENANCE = "maintenance"
    UNKNOWN = "unknown"
    """No beat yet."""


class MonitorRow(Base):
    """A monitor of Uptime Kuma, as last read, with what the admin decided about it.

    ``key`` is :attr:`medianest_uptime_kuma.client.Monitor.key`; ``title`` the admin's name for it; ``visible``
    ``None`` follows the default rule (visible when a chosen status page shows it); ``service`` a MediaNest plugin
    that depends on it; ``down_beats`` its down beats in a row; ``alerted`` whether the admins were told it is down.
    """

    __tablename__ = "uptime_kuma_monitors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    uk_id: Mapped[int | None] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(100))
    group: Mapped[str | None] = mapped_column(String(200))
    type: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default=State.UNKNOWN.value)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    uptime_24h: Mapped[float | None] = mapped_column(Float)
    uptime_30d: Mapped[float | None] = mapped_column(Float)
    uptime_30d_days: Mapped[int | None] = mapped_column(Integer)
    cert_days: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str | None] = mapped_column(Text)
    beats: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    from_status_page: Mapped[bool] = mapped_column(default=False)
    visible: Mapped[bool | None] = mapped_column(default=None)
    position: Mapped[int | None] = mapped_column(Integer)
    service: Mapped[str | None] = mapped_column(String(64))
    down_beats: Mapped[int] = mapped_column(Integer, default=0)
    alerted: Mapped[bool] = mapped_column(default=False)
    down_since: Mapped[datetime | None]
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def shown(self) -> bool:
        """Whether people who are not admins see it."""
        return self.from_status_page if self.visible is None else self.visible


class MonitorDay(Base):
    """The beats of a monitor MediaNest has seen on one UTC day, counted as Uptime Kuma 2.x counts uptime: ``up``
    beats out of ``counted`` (up, down and pending; a beat in maintenance is left out). ``last_beat`` is the time
    of the newest beat counted, so that no beat is counted twice. About :data:`KEPT_DAYS` days are kept."""

    __tablename__ = "uptime_kuma_days"
    __table_args__ = (UniqueConstraint("monitor_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("uptime_kuma_monitors.id", ondelete="CASCADE"))
    day: Mapped[date]
    up: Mapped[int] = mapped_column(Integer, default=0)
    counted: Mapped[int] = mapped_column(Integer, default=0)
    last_beat: Mapped[datetime]


class PollState(Base):
    """The poller's state: ``polled_at`` (the last good read, ISO) and ``poll_error`` (why the last read failed)."""

    __tablename__ = "uptime_kuma_state"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str | None] = mapped_column(Text)


class MonitorWatch(Base):
    """Someone who asked to be told when a monitor goes down and comes back."""

    __tablename__ = "uptime_kuma_watches"
    __table_args__ = (UniqueConstraint("user_id", "monitor_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    monitor_id: Mapped[int] = mapped_column(ForeignKey("uptime_kuma_monitors.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
