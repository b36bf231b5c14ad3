"""The YouTube plugin's tables: each download (a playlist or a video for one person) and its items."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Final

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from medianest_core.models import Base, utcnow


class DownloadState(enum.StrEnum):
    """Where a download is: waiting for a worker, fetching, asking the media library to take it in, waiting for
    the library to come back, or finished one way or another."""

    QUEUED = "queued"
    RUNNING = "running"
    IMPORTING = "importing"
    WAITING = "waiting"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE: Final = frozenset({DownloadState.QUEUED, DownloadState.RUNNING, DownloadState.IMPORTING})
"""States in which the download's job may still touch its folder."""


class ItemState(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class ImportState(enum.StrEnum):
    """The media library step: not reached yet, to be tried (again), or done."""

    NONE = "none"
    PENDING = "pending"
    DONE = "done"


class Download(Base):
    """One link a person asked for. ``folder`` is relative to ``library_root``; ``progress`` holds the live
    figures of a running download (item i of n, bytes, speed, time left) so a reload shows them."""

    __tablename__ = "youtube_downloads"
    __table_args__ = (
        Index("ix_youtube_downloads_owner_created", "owner_id", "created_at"),
        Index("ix_youtube_downloads_import", "import_state", "import_next_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2000))
    kind: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str] = mapped_column(String(500))
    source_key: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(300))
    quality: Mapped[str] = mapped_column(String(16))
    folder: Mapped[str] = mapped_column(String(1000))
    state: Mapped[str] = mapped_column(String(16), default=DownloadState.QUEUED.value, index=True)
    job_id: Mapped[int | None] = mapped_column(Integer)
    items_total: Mapped[int] = mapped_column(Integer, default=0)
    items_done: Mapped[int] = mapped_column(Integer, default=0)
    items_failed: Mapped[int] = mapped_column(Integer, default=0)
    bytes_done: Mapped[int] = mapped_column(BigInteger, default=0)
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    collection_id: Mapped[str | None] = mapped_column(String(64))
    import_state: Mapped[str] = mapped_column(String(16), default=ImportState.NONE.value)
    import_error: Mapped[str | None] = mapped_column(Text)
    import_attempts: Mapped[int] = mapped_column(Integer, default=0)
    import_next_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None]


class DownloadItem(Base):
    """One video of a download, in playlist order; ``file`` is its name inside the download's folder."""

    __tablename__ = "youtube_items"
    __table_args__ = (UniqueConstraint("download_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    download_id: Mapped[int] = mapped_column(ForeignKey("youtube_downloads.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    video_id: Mapped[str] = mapped_column(String(500))
    title: Mapped[str] = mapped_column(String(300))
    state: Mapped[str] = mapped_column(String(16), default=ItemState.PENDING.value)
    error: Mapped[str | None] = mapped_column(Text)
    file: Mapped[str | None] = mapped_column(String(500))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
