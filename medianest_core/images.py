"""Image proxies of plugins: pictures of an image host (TMDB's posters, backdrops and profile pictures, say) served
through MediaNest, so that a browser never asks the host itself, and kept on disk for everyone.

:class:`ImageStore` is the disk cache of one plugin, shared by every MediaNest process on the machine, bounded in
bytes, least recently used out first. Each image is one file ``<root>/<size>/<file>``: a small header (a mark, the
body's length, its SHA-256 and its content type) and the body. A file is written under a temporary name and renamed
into place, so a reader sees a whole file or none; a file whose header does not match its body (a disk that lost a
write, a truncated copy) is removed, never served. Using an image sets its modification time, which orders the
eviction. Writes and evictions hold an exclusive lock (``flock`` on ``<root>/.lock``), so processes that share the
folder never count twice nor remove a file another is renaming into place; the bytes held are counted in
``<root>/.size``, and counted afresh from the folder the first time each process uses it.

:class:`ImageProxy` serves a plugin's route ``GET /api/v1/<plugin>/images/{size}/{file}`` (:func:`image_route`):
only the sizes and file names the plugin declares, pictures only (never SVG), of at most :data:`MAX_IMAGE_BYTES`,
a few fetched at once for everyone, each fetched once and kept in the store; the browser may keep an answer for a
year, since the hosts served this way give a changed picture a new file name.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import re
import secrets
import struct
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs
import structlog
from aiohttp import web

from medianest_core.errors import ApiError, ErrorCode
from medianest_core.schema import END, field
from medianest_core.types import Handler, Route
from medianest_core.upstream import BadResponse, DeadlineExceeded, NotFound, UpstreamError, current_deadline

if TYPE_CHECKING:
    from medianest_core.types import PluginContext
    from medianest_core.upstream import Upstream

log = structlog.get_logger("medianest.images")

MB: Final = 1_000_000
MAX_IMAGE_BYTES: Final = 2 * 1024 * 1024
"""The largest image a proxy takes from its host (a w1280 backdrop of TMDB is a few hundred kilobytes)."""
IMAGE_FETCHES: Final = 4
"""The most images one proxy fetches at once, for everyone: what they hold in memory is bounded."""
IMAGE_TYPES: Final = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif", "image/avif"})
"""Content types served: pictures only (an SVG image could carry a script onto MediaNest's own origin)."""
CACHE_FOREVER: Final = "public, max-age=31536000, immutable"
IMAGE_ERRORS: Final = (404, 502, 503)
"""The statuses an image route answers itself (the core adds those of sign-in and rate limits)."""
TMDB_FILE_PATTERN: Final = r"[A-Za-z0-9_-]{1,100}\.(jpg|png)"
"""An image file name of TMDB's image host (TMDB's image paths are ``/<file>``)."""
TMDB_FILE: Final = re.compile(TMDB_FILE_PATTERN, re.ASCII)
LOW_WATER: Final = 0.9
"""An eviction makes room down to this share of the bound, so that it is not needed again at the next write."""
STALE_TEMP: Final = 3600.0
"""Seconds after which a temporary file is a left-over of a process that died while writing."""
_MARK: Final = b"MNTMDB1\n"  # the TMDB plugin wrote these files first: the same mark keeps its caches valid
_HEAD: Final = struct.Struct(">I32sB")  # body length, SHA-256 of the body, length of the content type


@attrs.frozen
class StoredImage:
    body: bytes
    content_type: str


class NotAnImage(BadResponse):
    """The image host answered something that is not a picture MediaNest serves."""


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


def tmdb_file_field(description: str) -> Any:
    """The ``file`` field of an image route's path parameters that takes TMDB's image file names."""
    return field(max_length=104, pattern="^" + TMDB_FILE_PATTERN + END, description=description)


class ImageStore:
    """Images on disk under ``root``, never more than ``max_bytes`` of them (``0``: none kept). ``size`` and
    ``file`` must be checked by the caller (the route's patterns): they are used as names as they are. ``name``
    (the plugin's) begins the names of the store's log lines."""

    def __init__(self, root: Path, max_bytes: int, *, name: str = "plugin") -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.name = name
        self._counted = False  # whether this process has counted the folder once
        self._stamped = 0  # the last time given to a file, so that each use is later than the one before

    @classmethod
    def of(cls, ctx: PluginContext, megabytes: float) -> ImageStore:
        """The store of a plugin: ``<data_dir>/<plugin>/images``, at most ``megabytes`` MB."""
        return cls(ctx.data_dir / ctx.name / "images", int(megabytes * MB), name=ctx.name)

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
            log.warning(f"{self.name}_image_cache_unreadable", folder=str(self.root), error=str(exc))
            return None

    async def put(self, size: str, file: str, image: StoredImage) -> None:
        """Keep the image (unless it is larger than the whole cache), evicting the least recently used first. A
        disk that refuses (full, read-only) is a line in the log: the image is served all the same."""
        if not self.enabled:
            return
        try:
            await asyncio.to_thread(self._write, size, file, encode(image))
        except OSError as exc:
            log.warning(f"{self.name}_image_cache_unwritable", folder=str(self.root), error=str(exc))

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


class ImageProxy:
    """The images of one host, for one plugin: ``<upstream>/<prefix>/<size>/<file>`` for the ``sizes`` given and
    the file names ``file_pattern`` matches, fetched through ``upstream`` (which should send no credentials:
    images need none) and kept in ``store``. ``service`` names the host in what people are told ("TMDB has no
    such image."); while ``ready()`` is false (the plugin is not set up) the images the proxy serves are 503."""

    def __init__(
        self,
        service: str,
        upstream: Upstream,
        store: ImageStore,
        *,
        sizes: Collection[str],
        file_pattern: str = TMDB_FILE_PATTERN,
        prefix: str = "",
        max_bytes: int = MAX_IMAGE_BYTES,
        concurrency: int = IMAGE_FETCHES,
        ready: Callable[[], bool] = lambda: True,
    ) -> None:
        self.service = service
        self.upstream = upstream
        self.store = store
        self.sizes = frozenset(sizes)
        self.file = re.compile(file_pattern, re.ASCII)
        self.prefix = prefix.rstrip("/")
        self.max_bytes = max_bytes
        self.ready = ready
        self._pending: dict[tuple[str, str], asyncio.Task[StoredImage]] = {}
        self._fetching = asyncio.Semaphore(concurrency)

    def serves(self, size: str, file: str) -> bool:
        """Whether ``size`` and ``file`` are among those the proxy serves (checked before any other use)."""
        return size in self.sizes and self.file.fullmatch(file) is not None

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """The answer of the image route for the path's ``size`` and ``file``: the picture, which the browser may
        keep for a year; anything the proxy does not serve is 404, and a host that fails is told as
        :meth:`failure` says."""
        size, file = request.match_info["size"], request.match_info["file"]
        if not self.serves(size, file):
            raise ApiError(404, ErrorCode.NOT_FOUND, f"No such {self.service} image.")
        if not self.ready():
            raise not_set_up(self.service)
        try:
            found = await self.image(size, file)
        except UpstreamError as exc:
            raise self.failure(exc) from None
        return web.Response(body=found.body, content_type=found.content_type, headers={"Cache-Control": CACHE_FOREVER})

    def failure(self, exc: UpstreamError) -> ApiError:
        """What the browser is told when the image host fails: never the error's text."""
        if isinstance(exc, NotFound):
            return ApiError(404, ErrorCode.NOT_FOUND, f"{self.service} has no such image.")
        if isinstance(exc, BadResponse):
            return ApiError(502, ErrorCode.BAD_GATEWAY, f"{self.service} did not send an image.")
        if isinstance(exc, DeadlineExceeded):
            return ApiError(
                503, ErrorCode.SERVICE_UNAVAILABLE, f"{self.service} did not answer within {exc.seconds:g} s."
            )
        return ApiError(
            503, ErrorCode.SERVICE_UNAVAILABLE, f"{self.service}'s images are unavailable just now; try again soon."
        )

    async def image(self, size: str, file: str) -> StoredImage:
        """An image (``size`` and ``file`` checked with :meth:`serves`), from the store or fetched and kept;
        concurrent requests for one image share one look and one fetch; at most ``concurrency`` images are fetched
        at once, the others wait their turn within the deadline. :class:`~medianest_core.upstream.NotFound` when
        the host has no such image, :class:`~medianest_core.upstream.BadResponse` when it answers something else
        than a picture of at most ``max_bytes``."""
        key = (size, file)
        task = self._pending.get(key)
        if task is None:
            # Run in a copy of this request's context, under its deadline; it goes on for the others if this
            # request goes away.
            task = asyncio.get_running_loop().create_task(self._image(size, file))
            self._pending[key] = task
            task.add_done_callback(lambda done: self._landed(key, done))
        return await asyncio.shield(task)

    def _landed(self, key: tuple[str, str], task: asyncio.Task[StoredImage]) -> None:
        if self._pending.get(key) is task:
            del self._pending[key]
        if not task.cancelled():
            task.exception()  # retrieved, so that a failure no one waits for any more is not reported as lost

    async def _image(self, size: str, file: str) -> StoredImage:
        kept = await self.store.get(size, file)
        if kept is not None:
            return kept
        path = f"{self.prefix}/{size}/{file}"
        async with self._fetch_turn(f"GET {path}"):
            body, content_type = await self.upstream.fetch_bytes(path, max_bytes=self.max_bytes)
        kind = image_type(content_type)
        if kind is None:
            raise NotAnImage(self.upstream.service, f"{path} is not a picture ({content_type})")
        image = StoredImage(body, kind)
        await self.store.put(size, file, image)
        return image

    @contextlib.asynccontextmanager
    async def _fetch_turn(self, what: str) -> AsyncIterator[None]:
        """One of the turns to fetch an image, waited for no longer than the deadline."""
        limit = current_deadline()
        try:
            async with asyncio.timeout(None if limit is None else limit.remaining()):
                await self._fetching.acquire()
        except TimeoutError:
            assert limit is not None
            raise DeadlineExceeded(self.upstream.service, what, limit.seconds) from None
        try:
            yield
        finally:
            self._fetching.release()

    async def close(self) -> None:
        """Stop the image fetches in progress."""
        tasks = list(self._pending.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def image_route(handler: Handler, *, name: str, params: type[Any]) -> Route:
    """A plugin's image route, ``GET /images/{size}/{file}`` (``handler`` usually ends with
    :meth:`ImageProxy.serve`): it answers pictures, so the core's ``image_rate_limit`` applies to it."""
    return Route(
        "GET", "/images/{size}/{file}", handler, name=name, params=params, media="image/*", errors=IMAGE_ERRORS
    )


def not_set_up(service: str) -> ApiError:
    """What an image route answers while the plugin that serves its images is not set up."""
    return ApiError(503, ErrorCode.SERVICE_UNAVAILABLE, f"{service} is not set up.")
