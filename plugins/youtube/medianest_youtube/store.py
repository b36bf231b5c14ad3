"""Downloads in the database, their folders on disk, and the live updates their owners receive."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import re
import shutil
from collections.abc import Iterator, Sequence
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
ARCHIVE: Final = ".medianest-archive.txt"
"""The folder's yt-dlp download archive: the videos downloaded there, which yt-dlp skips."""
LOCK: Final = ".medianest-lock"
"""Held by the one download at a time that writes into the folder."""
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


def source_ident(source_id: str) -> str:
    """The playlist's (or video's) id as it appears in its folder's name: the id itself, or a short hash of an id
    that is not a plain token (a feed's address, say)."""
    return source_id if SIMPLE_ID.fullmatch(source_id) else hashlib.sha256(source_id.encode()).hexdigest()[:12]


def folder_name(title: str, source_id: str) -> str:
    """``<title> [<id>]``, relative to the library root. Everyone's downloads of one playlist share this folder,
    so each of its videos is on disk, and in the media library, once. Only the title is shortened to fit: the name
    always ends with the playlist's own id, which is how the folder is found again."""
    end = f" [{source_ident(source_id)}]"
    return _name(title, 200 - len(end.encode())) + end


def video_ident(video_id: str) -> str:
    """The video's id as it ends a file's name (between brackets, before the extension)."""
    from yt_dlp.utils import sanitize_filename

    return str(sanitize_filename(video_id, is_id=True))[:60]


_UNSAFE_ANYWHERE: Final = re.compile(r"[\x00-\x1f\x7f/]+")
_NOT_PORTABLE: Final = {":": " -", "|": "-", "\\": "-", '"': "'", "*": "", "?": "", "<": "", ">": ""}


def video_file_name(title: str, video_id: str, ext: str, portable: bool = False) -> str:
    """``<title> [<id>].<ext>``, the title as it is (the media server shows it as the video's title), only what no
    file name may hold changed: ``/`` and control characters; with ``portable``, also what Windows and network
    shares refuse (``:`` becomes `` -``, ``?`` and ``*`` go), for a file system that refuses the first name."""
    name = _UNSAFE_ANYWHERE.sub(lambda m: "-" if "/" in m.group(0) else " ", title)
    if portable:
        name = "".join(_NOT_PORTABLE.get(char, char) for char in name).rstrip(". ")
    name = " ".join(name.split()).lstrip(".")
    name = name.encode()[:150].decode(errors="ignore").strip() or "Video"
    return f"{name} [{video_ident(video_id)}].{ext.lstrip('.')}"


def file_of(folder: Path, video_id: str) -> Path | None:
    """The finished file of the video in ``folder`` (not a partial one, nor a stream waiting to be merged)."""
    if not folder.is_dir():
        return None
    end = f"[{video_ident(video_id)}]"
    for path in sorted(folder.iterdir()):
        stem, dot, _ = path.name.rpartition(".")
        finished = dot and stem.endswith(end) and not path.name.startswith(".") and not PARTIAL.search(path.name)
        if finished and path.is_file():
            return path
    return None


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
        """The absolute folder of a download (``<title> [<id>]``, or ``<person>/<title> [<id>]`` for downloads
        made before folders were shared), refusing anything that would leave the root."""
        path = (self.root / relative).resolve()
        root = self.root.resolve()
        if path == root or root not in path.parents or len(path.relative_to(root).parts) not in (1, 2):
            raise ValueError(f"{relative!r} is not a download folder")
        return path

    def shared_folder(self, title: str, source_id: str) -> str:
        """The folder everyone's downloads of this playlist share: the one already on disk for its id (even if the
        playlist has been renamed since), or a new one named after it."""
        end = f"[{source_ident(source_id)}]"
        if self.root.is_dir():
            for path in sorted(self.root.iterdir()):
                if path.name.endswith(end) and path.is_dir() and not path.is_symlink():
                    return path.name
        return folder_name(title, source_id)

    def plex_folder(self, relative: str) -> str:
        return str(self.plex_root / relative)

    def free(self) -> int:
        """Bytes free on the library's disk (the root is created the first time)."""
        self.root.mkdir(parents=True, exist_ok=True)
        return shutil.disk_usage(self.root).free

    def available(self) -> int:
        """Bytes that may still be written before the floor is reached."""
        return max(self.free() - self.floor, 0)


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
        title: str | None = None,
    ) -> Download | None:
        """Record one item's end (and its title, when yt-dlp told it) and recount the download's items and
        bytes."""
        async with self.sessions.begin() as db:
            item = (
                await db.scalars(
                    select(DownloadItem).where(
                        DownloadItem.download_id == download_id, DownloadItem.position == position
                    )
                )
            ).one()
            item.state, item.file, item.size, item.error = state.value, file, size, error
            if title:
                item.title = title[:300]
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

    async def sharing(self, download_id: int, folder: str) -> tuple[int, set[str], set[str]]:
        """What the other downloads in ``folder`` hold: how many there are, the names of their files, and their
        collections."""
        async with self.sessions() as db:
            others = (
                await db.execute(
                    select(Download.id, Download.collection_id).where(
                        Download.folder == folder, Download.id != download_id
                    )
                )
            ).all()
            ids = [row.id for row in others]
            files = (
                (
                    await db.scalars(
                        select(DownloadItem.file).where(
                            DownloadItem.download_id.in_(ids), DownloadItem.file.is_not(None)
                        )
                    )
                ).all()
                if ids
                else []
            )
        return len(ids), {f for f in files if f}, {row.collection_id for row in others if row.collection_id}


@contextlib.contextmanager
def _unless_busy(folder: Path) -> Iterator[bool]:
    """Hold the folder's lock unless a download holds it (as it does while it writes there): yields whether this
    holds it now."""
    with (folder / LOCK).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def folder_busy(folder: Path) -> bool:
    """Whether a download writes in ``folder`` now (it holds the folder's lock file)."""
    if not (folder / LOCK).is_file():
        return False
    with _unless_busy(folder) as held:
        return not held


def remove_files(folder: Path, names: Sequence[str], video_ids: Sequence[str], everything: bool) -> bool:
    """Remove a download's files from its folder (the whole folder when ``everything``), and forget their videos in
    the folder's yt-dlp archive, so that a later download fetches them again; holding the folder's lock, as a
    download writing there does. Returns False, removing nothing, while a download holds it. Blocking: run it in a
    thread."""
    if not folder.is_dir():
        return True
    with _unless_busy(folder) as held:
        if not held:
            return False
        if everything:
            shutil.rmtree(folder)
            return True
        for name in names:
            path = folder / name
            if path.parent == folder and path.is_file():
                path.unlink()
        forget(folder, *video_ids)
        return True


def forget(folder: Path, *video_ids: str) -> None:
    """Take videos out of the folder's yt-dlp archive, so that the next download fetches them again."""
    archive = folder / ARCHIVE
    if video_ids and archive.is_file():
        gone = set(video_ids)
        kept = [line for line in archive.read_text().splitlines() if line.rpartition(" ")[2] not in gone]
        archive.write_text("".join(f"{line}\n" for line in kept))


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
