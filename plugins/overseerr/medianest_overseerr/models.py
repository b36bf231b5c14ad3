"""The Overseerr plugin's tables: who is which Overseerr user, the requests followed, and the titles people wait
for."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Final

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from medianest_core.models import Base, utcnow


class LinkKind(enum.StrEnum):
    """How a MediaNest user was matched to their Overseerr user."""

    PLEX = "plex"
    """By their Plex account id."""
    IMPORTED = "imported"
    """Imported into Overseerr from Plex, then matched."""
    ADMIN = "admin"
    """Linked by an admin."""


class RequestState(enum.StrEnum):
    """Where a request stands, as MediaNest says it: one word from Overseerr's request status, its media's
    status and the download that is running."""

    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"
    PROCESSING = "processing"
    PARTIALLY_AVAILABLE = "partially_available"
    AVAILABLE = "available"
    FAILED = "failed"


OPEN: Final = frozenset(
    {RequestState.PENDING, RequestState.APPROVED, RequestState.PROCESSING, RequestState.PARTIALLY_AVAILABLE}
)
"""States of a request that is still on its way."""


class Link(Base):
    """A MediaNest user's Overseerr user, found once and kept."""

    __tablename__ = "overseerr_links"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    overseerr_user_id: Mapped[int] = mapped_column(Integer, index=True)
    overseerr_name: Mapped[str | None] = mapped_column(String(200))
    how: Mapped[str] = mapped_column(String(16))
    linked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Request(Base):
    """A request in Overseerr, as last seen. ``user_id`` is the MediaNest user who asked (none when its Overseerr
    user is nobody's here); ``version`` is the latest change Overseerr recorded for it or its media, so an old
    answer never overwrites a newer one."""

    __tablename__ = "overseerr_requests"
    __table_args__ = (
        Index("ix_overseerr_requests_user_created", "user_id", "created_at"),
        Index("ix_overseerr_requests_title", "kind", "tmdb_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    overseerr_id: Mapped[int] = mapped_column(Integer, unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    overseerr_user_id: Mapped[int | None] = mapped_column(Integer)
    requested_by: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(8))
    tmdb_id: Mapped[int] = mapped_column(Integer)
    tvdb_id: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(String(500))
    year: Mapped[int | None] = mapped_column(Integer)
    poster_path: Mapped[str | None] = mapped_column(String(300))
    seasons: Mapped[list[int]] = mapped_column(JSON, default=list)
    seasons_available: Mapped[list[int]] = mapped_column(JSON, default=list)
    is4k: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(24), index=True)
    watch_url: Mapped[str | None] = mapped_column(String(500))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Watch(Base):
    """Someone waiting for a title, whoever asked for it: told once when it becomes available, then removed."""

    __tablename__ = "overseerr_watches"
    __table_args__ = (
        UniqueConstraint("user_id", "kind", "tmdb_id"),
        Index("ix_overseerr_watches_title", "kind", "tmdb_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    tmdb_id: Mapped[int] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
