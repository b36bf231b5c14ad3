"""The image proxy's disk cache: TMDB's posters, backdrops and profile pictures, shared by everyone and by every
MediaNest process on the machine, bounded in bytes (``image_cache_mb``), least recently used out first.

Each image is one file ``<root>/<size>/<file>``: a small header (a mark, the body's length, its SHA-256 and its
content type) and the body. A file is written under a temporary name and renamed into place, so a reader sees a
whole file or none; a file whose header does not match its body (a disk that lost a write, a truncated copy) is
removed, never served. Using an image sets its modification time, which orders the eviction.

Writes and evictions hold an exclusive lock (``flock`` on ``<root>/.lock``), so processes that share the folder
never count twice nor remove a file another is renaming into place; the bytes held are counted in
``<root>/.size``, and counted afresh from the folder the first time each process uses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import secrets
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import attrs
import structlog

log = structlog.get_logger("medianest.plugins.tmdb")

MB: Final = 1_000_000
MAX_IMAGE_BYTES: Final = 2 * 1024 * 1024
"""The largest image the proxy takes from TMDB (a w1280 backdrop is a few hundred kilobytes)."""
IMAGE_TYPES: Final = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif", "image/avif"})
"""Content types served: pictures only (an SVG image could carry a script onto MediaNest's own origin)."""
LOW_WATER: Final = 0.9
"""An eviction makes room down to this share of the bound, so that it is not needed again at the next write."""
STALE_TEMP: Final = 3600.0
"""Seconds after which a temporary file is a left-over of a process that died while writing."""
_MARK: Final = b"MNTMDB1\n"
_HEAD: Final = struct.Struct(">I32sB")  # body length, SHA-256 of the body, length of the content type


@attrs.frozen
class StoredImage:
    body: bytes
    content_type: str


def image_type(content_type: str) -> str | None:
    """The content type to serve for what the image host said, or ``None`` when it is not a picture."""
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind if kind in IMAGE_TYPES else None


def encode(image: StoredImage) -> bytes:
    kind = image.content_type.encode("ascii")
    return _MARK + _HEAD.pack(len(image.body), hashlib.sha256(image.body).digest(), len(kind)) + kind + image.body


def decode(blob: bytes) -> StoredImage | None:
    """The image a file holds, or ``None`` when the file is not whole and sound."""
    start = len(_MARK) + _HEAD.size
    if len(blob) < start or not blob.startswith(_MARK):
        return None
    length, digest, kind_length = _HEAD.unpack_from(blob, len(_MARK))
    kind = blob[start : start + kind_length].decode("ascii", "replace")
    body = blob[start + kind_length :]
    if len(body) != length or hashlib.sha256(body).digest() != digest or image_type(kind) != kind:
        return None
    return StoredImage(body, kind)


class ImageStore:
    """Images on disk under ``root``, never more than ``max_bytes`` of them (``0``: none kept). ``size`` and
    ``file`` must be checked by the caller (the route's patterns): they are used as names as they are."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._counted = False  # whether this process has counted the folder once
        self._stamped = 0  # the last time given to a file, so that each use is later than the one before

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def path(self, size: str, file: str) -> Path:
        return self.root / size / file

    async def get(self, size: str, file: str) -> StoredImage | None:
        """The image when it is kept whole and sound; a disk that refuses is a line in the log and a miss."""
        if not self.enabled:
            return None
        try:
            return await asyncio.to_thread(self._read, size, file)
        except OSError as exc:
            log.warning("tmdb_image_cache_unreadable", folder=str(self.root), error=str(exc))
            return None

    async def put(self, size: str, file: str, image: StoredImage) -> None:
        """Keep the image (unless it is larger than the whole cache), evicting the least recently used first. A
        disk that refuses (full, read-only) is a line in the log: the image is served all the same."""
        if not self.enabled:
            return
        try:
            await asyncio.to_thread(self._write, size, file, encode(image))
        except OSError as exc:
            log.warning("tmdb_image_cache_unwritable", folder=str(self.root), error=str(exc))

    def held(self) -> int:
        """The bytes of images on disk now, counted from the folder."""
        return sum(entry.size for entry in self._entries())

    # ---- in a worker thread -------------------------------------------------------------------------------------

    def _read(self, size: str, file: str) -> StoredImage | None:
        if not self._counted:
            with self._locked():
                self._total()  # the first use in this process: the folder is counted (and evicted if over)
        path = self.path(size, file)
        try:
            image = decode(path.read_bytes())
        except FileNotFoundError:
            return None
        if image is None:
            self._discard(path)
            return None
        with contextlib.suppress(FileNotFoundError):
            self._stamp(path)  # used now: the last to be evicted
        return image

    def _stamp(self, path: Path) -> None:
        """Mark the file used now, to the nanosecond (file systems keep coarser times of their own)."""
        self._stamped = max(time.time_ns(), self._stamped + 1)
        os.utime(path, ns=(self._stamped, self._stamped))

    def _discard(self, path: Path) -> None:
        """Remove a file that is not whole and sound, unless it was replaced by a sound one meanwhile."""
        with self._locked():
            try:
                blob = path.read_bytes()
            except FileNotFoundError:
                return
            if decode(blob) is not None:
                return
            total = self._total()
            with contextlib.suppress(FileNotFoundError):  # an eviction in _total() may have taken it
                path.unlink()
                total -= len(blob)
            self._save_total(total)

    def _write(self, size: str, file: str, blob: bytes) -> None:
        if len(blob) > self.max_bytes:
            return
        path = self.path(size, file)
        with self._locked():
            total = self._total()
            if path.exists():
                return  # another person's request (or another process) kept it meanwhile
            if total + len(blob) > self.max_bytes:
                total = self._evict(int(self.max_bytes * LOW_WATER) - len(blob))
            path.parent.mkdir(exist_ok=True)
            temp = path.with_name(f".{file}.{secrets.token_hex(6)}.tmp")
            try:
                temp.write_bytes(blob)
                self._stamp(temp)
                temp.replace(path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    temp.unlink()
                raise
            self._save_total(total + len(blob))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _total(self) -> int:
        """The bytes held, as counted (under the lock); counted from the folder once per process, and whenever
        the count is missing or unreadable. A folder over the bound (the bound was lowered) is evicted at once."""
        if self._counted:
            with contextlib.suppress(OSError, ValueError):
                return int((self.root / ".size").read_text(encoding="ascii"))
        self._counted = True
        total = self.held()
        if total > self.max_bytes:
            return self._evict(int(self.max_bytes * LOW_WATER))
        self._save_total(total)
        return total

    def _save_total(self, total: int) -> None:
        (self.root / ".size").write_text(str(max(total, 0)), encoding="ascii")

    def _evict(self, target: int) -> int:
        """Remove the least recently used images until at most ``target`` bytes are held (under the lock), and
        left-over temporary files; the bytes held after."""
        entries = sorted(self._entries(), key=lambda entry: (entry.used_ns, entry.path.name))
        total = sum(entry.size for entry in entries)
        for entry in entries:
            if total <= target:
                break
            with contextlib.suppress(FileNotFoundError):
                entry.path.unlink()
            total -= entry.size
        self._remove_stale_temps()
        self._save_total(total)
        return total

    def _entries(self) -> list[_Entry]:
        found: list[_Entry] = []
        for entry in self._files():
            if not entry.name.startswith("."):
                with contextlib.suppress(FileNotFoundError):
                    info = entry.stat(follow_symlinks=False)
                    found.append(_Entry(Path(entry.path), info.st_size, info.st_mtime_ns))
        return found

    def _remove_stale_temps(self) -> None:
        cutoff = time.time() - STALE_TEMP
        for entry in self._files():
            if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                with contextlib.suppress(FileNotFoundError):
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        Path(entry.path).unlink()

    def _files(self) -> Iterator[os.DirEntry[str]]:
        """Every file of every size's folder."""
        for folder in _scan(self.root):
            if not folder.name.startswith(".") and folder.is_dir(follow_symlinks=False):
                yield from (entry for entry in _scan(Path(folder.path)) if entry.is_file(follow_symlinks=False))


@attrs.frozen
class _Entry:
    path: Path
    size: int
    used_ns: int


def _scan(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except (FileNotFoundError, NotADirectoryError):
        return []
