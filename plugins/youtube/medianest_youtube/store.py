"""Downloads in the database, their folders on disk, and the live updates their owners receive."""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs
from sqlalchemy import func, select

from medianest_core.events import CardUpdated
from medianest_core.models import User
from medianest_core.types import Audience, Event, PluginContext
from medianest_youtube.models import ACTIVE, Download, DownloadItem, DownloadState, ItemState

if TYPE_CHECKING:
    from medianest_youtube import YoutubeSettings

MB: Final = 1024 * 1024
SIMPLE_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
PARTIAL: Final = re.compile(r"\.(part|ytdl)$|\.part-Frag\d+|\.temp\.\w+$")


@attrs.frozen
class DownloadUpdated(Event):
    """A download changed: its state, or its progress (a few times a second while it runs). Only its owner
    receives it; ``download`` is the same document the API answers with."""

    name: ClassVar[str] = "youtube.download"
    owner_id: int
    download: dict[str, Any]

    def audience(self) -> Audience:
        return Audience.user(self.owner_id)


def download_doc(row: Download, owner: str | None = None) -> dict[str, Any]:
    return {
        "id": row.id,
        "url": row.url,
        "kind": row.kind,
        "title": row.title,
        "quality": row.quality,
        "state": row.state,
        "folder": row.folder,
        "items": {"total": row.items_total, "done": row.items_done, "failed": row.items_failed},
        "bytes": row.bytes_done,
        "progress": dict(row.progress or {}),
        "error": row.error,
        "library": {
            "state": row.import_state,
            "collection_id": row.collection_id,
            "error": row.import_error,
            "next_try_at": row.import_next_at.isoformat() if row.import_next_at else None,
        },
        "owner": {"id": row.owner_id, "username": owner} if owner is not None else {"id": row.owner_id},
        "created_at": row.created_at.isoformat(),
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
    }


def item_doc(row: DownloadItem) -> dict[str, Any]:
    return {
        "position": row.position,
        "id": row.video_id,
        "title": row.title,
        "state": row.state,
        "error": row.error,
        "file": row.file,
        "size": row.size,
    }


def _name(text: str, limit: int) -> str:
    """``text`` as one safe path component (no separators, no leading dot, not empty)."""
    from yt_dlp.utils import sanitize_filename

    cleaned = sanitize_filename(text, restricted=False, is_id=False).strip()
    cleaned = cleaned.encode()[:limit].decode(errors="ignore").strip().lstrip(".")
    return cleaned or "_"


def folder_name(person: str, title: str, source_id: str) -> str:
    """``<person>/<title> [<id>]``, relative to the library root; an id that is not a plain token (a feed's
    address, say) is replaced by a short hash of it."""
    ident = source_id if SIMPLE_ID.fullmatch(source_id) else hashlib.sha256(source_id.encode()).hexdigest()[:12]
    return f"{_name(person, 100)}/{_name(f'{title} [{ident}]', 200)}"


def source_key(kind: str, source_id: str, url: str) -> str:
    """What makes two requests "the same playlist": the extractor's id, or the address when it has none."""
    return hashlib.sha256(f"{kind}\n{source_id or url}".encode()).hexdigest()


@attrs.define
class Storage:
    """The library root on this machine and as the media server sees it, the free-space floor and the cap."""

    root: Path
    plex_root: Path
    floor: int
    cap: int | None

    @classmethod
    def of(cls, ctx: PluginContext) -> Storage:
        settings: YoutubeSettings = ctx.settings
        root = (settings.library_root or ctx.data_dir / "youtube").expanduser()
        cap = settings.user_storage_cap_mb * MB if settings.user_storage_cap_mb is not None else None
        return cls(root, settings.plex_path or root, settings.free_space_floor_mb * MB, cap)

    def folder(self, relative: str) -> Path:
        """The absolute folder of a download, refusing anything that would leave the root."""
        path = (self.root / relative).resolve()
        root = self.root.resolve()
        if path == root or root not in path.parents or len(path.relative_to(root).parts) != 2:
            raise ValueError(f"{relative!r} is not a download folder")
        return path

    def plex_folder(self, relative: str) -> str:
        return str(self.plex_root / relative)

    def free(self) -> int:
        """Bytes free on the library's disk (the root is created the first time)."""
        self.root.mkdir(parents=True, exist_ok=True)
        return shutil.disk_usage(self.root).free

    def available(self) -> int:
        """Bytes that may still be written before the floor is reached."""
        return max(self.free() - self.floor, 0)

    def remove(self, relative: str) -> None:
        folder = self.folder(relative)
        if folder.exists():
            shutil.rmtree(folder)


def remove_partials(folder: Path) -> list[str]:
    """Delete unfinished files (``.part``, fragments, ``.ytdl`` state) left in ``folder``; returns their names."""
    removed = []
    if folder.is_dir():
        for path in folder.iterdir():
            if path.is_file() and PARTIAL.search(path.name):
                path.unlink(missing_ok=True)
                removed.append(path.name)
    return removed


class Store:
    """The plugin's database side: every change to a download is published to its owner."""

    def __init__(self, ctx: PluginContext) -> None:
        assert ctx.sessions is not None
        assert ctx.events is not None
        self.ctx = ctx
        self.sessions = ctx.sessions
        self.events = ctx.events

    async def publish(self, row: Download) -> None:
        await self.events.publish(DownloadUpdated(owner_id=row.owner_id, download=download_doc(row)))

    async def get(self, download_id: int) -> Download | None:
        async with self.sessions() as db:
            return await db.get(Download, download_id)

    async def update(self, download_id: int, only_in: Sequence[DownloadState] = (), **values: Any) -> Download | None:
        """Change a download (only while it is in one of ``only_in``, when given) and tell its owner."""
        async with self.sessions.begin() as db:
            row = await db.get(Download, download_id, with_for_update=True)
            if row is None or (only_in and row.state not in only_in):
                return None
            for key, value in values.items():
                setattr(row, key, value.value if isinstance(value, DownloadState) else value)
            row.updated_at = datetime.now(UTC)
        await self.publish(row)
        if "state" in values:
            await self.events.publish(CardUpdated("youtube", "downloads"))
        return row

    async def page(self, owner_id: int | None, page: int, per_page: int) -> tuple[list[tuple[Download, str]], int]:
        """One page of downloads, newest first, with their owners' names (everyone's when ``owner_id`` is None),
        and how many there are in all."""
        query = select(Download, User.username).join(User, User.id == Download.owner_id)
        count = select(func.count()).select_from(Download)
        if owner_id is not None:
            query = query.where(Download.owner_id == owner_id)
            count = count.where(Download.owner_id == owner_id)
        query = query.order_by(Download.created_at.desc(), Download.id.desc())
        async with self.sessions() as db:
            total = int(await db.scalar(count) or 0)
            rows = (await db.execute(query.offset((page - 1) * per_page).limit(per_page))).all()
        return [(row, name) for row, name in rows], total

    async def owner_name(self, user_id: int) -> str | None:
        async with self.sessions() as db:
            return await db.scalar(select(User.username).where(User.id == user_id))

    async def items(self, download_id: int) -> list[DownloadItem]:
        async with self.sessions() as db:
            query = select(DownloadItem).where(DownloadItem.download_id == download_id).order_by(DownloadItem.position)
            return list((await db.scalars(query)).all())

    async def set_items(self, download_id: int, entries: Sequence[tuple[str, str]]) -> list[DownloadItem]:
        """Record the playlist's items ``(id, title)`` in order, keeping what is known of items seen before
        (matched by id); items no longer in the playlist are dropped unless they were downloaded."""
        async with self.sessions.begin() as db:
            known = {
                row.video_id: row
                for row in (await db.scalars(select(DownloadItem).where(DownloadItem.download_id == download_id))).all()
            }
            for row in known.values():
                await db.delete(row)
            await db.flush()
            rows = []
            for position, (video_id, title) in enumerate(entries, start=1):
                before = known.pop(video_id, None)
                row = DownloadItem(
                    download_id=download_id,
                    position=position,
                    video_id=video_id[:500],
                    title=title[:300],
                    state=before.state if before is not None else ItemState.PENDING.value,
                    error=before.error if before is not None else None,
                    file=before.file if before is not None else None,
                    size=before.size if before is not None else 0,
                )
                rows.append(row)
            for offset, before in enumerate(r for r in known.values() if r.state == ItemState.DONE.value):
                rows.append(
                    DownloadItem(
                        download_id=download_id,
                        position=len(entries) + offset + 1,
                        video_id=before.video_id,
                        title=before.title,
                        state=before.state,
                        file=before.file,
                        size=before.size,
                    )
                )
            db.add_all(rows)
        return rows

    async def finish_item(
        self,
        download_id: int,
        position: int,
        state: ItemState,
        file: str | None = None,
        size: int = 0,
        error: str | None = None,
    ) -> Download | None:
        """Record one item's end and recount the download's items and bytes."""
        async with self.sessions.begin() as db:
            item = (
                await db.scalars(
                    select(DownloadItem).where(
                        DownloadItem.download_id == download_id, DownloadItem.position == position
                    )
                )
            ).one()
            item.state, item.file, item.size, item.error = state.value, file, size, error
            await db.flush()
            row = await db.get(Download, download_id, with_for_update=True)
            if row is None:
                return None
            await _recount(db, row)
            row.updated_at = datetime.now(UTC)
        await self.publish(row)
        return row

    async def before_item(self, download_id: int, owner_id: int) -> tuple[str, int, int]:
        """At the start of an item, in one transaction: the download's state (recounted), the bytes it has, and
        the bytes all of the owner's downloads take."""
        async with self.sessions.begin() as db:
            row = await db.get(Download, download_id, with_for_update=True)
            if row is None:
                return DownloadState.CANCELLED.value, 0, 0
            await _recount(db, row)
            return row.state, row.bytes_done, int(await db.scalar(_used(owner_id)) or 0)

    async def used_by(self, owner_id: int) -> int:
        """Bytes the person's downloads take."""
        async with self.sessions() as db:
            return int(await db.scalar(_used(owner_id)) or 0)

    async def active_for(self, owner_id: int, key: str) -> Download | None:
        async with self.sessions() as db:
            query = select(Download).where(
                Download.owner_id == owner_id,
                Download.source_key == key,
                Download.state.in_([s.value for s in ACTIVE]),
            )
            return (await db.scalars(query.limit(1))).first()


def _used(owner_id: int) -> Any:
    return select(func.coalesce(func.sum(Download.bytes_done), 0)).where(Download.owner_id == owner_id)


async def _recount(db: Any, row: Download) -> None:
    counts = dict(
        (
            await db.execute(
                select(DownloadItem.state, func.count())
                .where(DownloadItem.download_id == row.id)
                .group_by(DownloadItem.state)
            )
        ).all()
    )
    row.items_total = sum(counts.values())
    row.items_done = counts.get(ItemState.DONE.value, 0)
    row.items_failed = counts.get(ItemState.FAILED.value, 0)
    row.bytes_done = int(
        await db.scalar(select(func.coalesce(func.sum(DownloadItem.size), 0)).where(DownloadItem.download_id == row.id))
        or 0
    )


async def recount(store: Store, download_id: int) -> None:
    async with store.sessions.begin() as db:
        row = await db.get(Download, download_id, with_for_update=True)
        if row is not None:
            await _recount(db, row)
