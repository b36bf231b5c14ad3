"""The download itself: a Dramatiq actor that runs yt-dlp's Python API item by item into the download's folder,
reports progress to its owner, and hands the folder to the media library when it is done.

The actor is idempotent: items already downloaded (in the database, in the folder, or in the folder's yt-dlp
download archive) are skipped, so a retry or a recovered job only fetches what is missing. Everyone's downloads of
one playlist share its folder: a video one person has downloaded is there for the next, and one download at a
time writes into the folder (it holds the folder's lock file). One failed item is recorded and the
others go on. A cancel or a full disk stops it within a moment (``DownloadCancelled`` raised from the progress
hook) and its unfinished files are removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import structlog

from medianest_core.jobrunner import JobCancelled, JobContext
from medianest_core.models import Job
from medianest_core.notifications import Level
from medianest_core.types import ActorSpec, LibraryImport, PluginContext
from medianest_youtube.failures import UNKNOWN, explain, raw_text
from medianest_youtube.models import Download, DownloadState, ImportState, ItemState
from medianest_youtube.store import (
    ARCHIVE,
    LOCK,
    MB,
    Storage,
    Store,
    file_of,
    forget,
    recount,
    remove_partials,
    video_file_name,
)
from medianest_youtube.urls import HostRefused, guarded_ydl

if TYPE_CHECKING:
    from medianest_youtube import YoutubeSettings

log = structlog.get_logger("medianest.plugins.youtube")

GONE: Final = "Its file had been removed from the library's folder; retry to download it again."
REPORT_EVERY: Final = 0.5
SPACE_EVERY: Final = 2.0
FORMATS: Final = {
    "best": "bv*+ba/b",
    "1080p": "bv*[height<=1080]+ba/b[height<=1080]/b",
    "720p": "bv*[height<=720]+ba/b[height<=720]/b",
    "480p": "bv*[height<=480]+ba/b[height<=480]/b",
    "audio": "ba[ext=m4a]/ba/b",
}
SINGLE_FILE_FORMATS: Final = {
    "best": "b/bv*+ba",
    "1080p": "b[height<=1080]/b",
    "720p": "b[height<=720]/b",
    "480p": "b[height<=480]/b",
    "audio": "ba[ext=m4a]/ba/b",
}
"""Without ffmpeg, separate video and audio streams cannot be merged: formats that hold both are chosen."""


def format_for(quality: str) -> str:
    return (FORMATS if shutil.which("ffmpeg") else SINGLE_FILE_FORMATS)[quality]


class Slots:
    """The downloads running at once in this process, at most ``limit()`` as it is now: when the admin changes
    "Downloads at once", the next download waiting for its turn goes by the new number (the ones running finish)."""

    def __init__(self, limit: Callable[[], int]) -> None:
        self._limit = limit
        self._running = 0
        self._turn = threading.Condition()

    def acquire(self, timeout: float) -> bool:
        """Take a slot when one is free within ``timeout`` seconds; whether one was taken."""
        with self._turn:
            if not self._turn.wait_for(lambda: self._running < self._limit(), timeout):
                return False
            self._running += 1
            return True

    def release(self) -> None:
        with self._turn:
            self._running -= 1
            self._turn.notify_all()


class Stopped(Exception):
    """The download stopped before its end; ``state`` and ``reason`` say how it ends."""

    def __init__(self, state: DownloadState, reason: str | None = None) -> None:
        super().__init__(reason or state.value)
        self.state = state
        self.reason = reason


def _cancel_error(reason: str) -> Exception:
    from yt_dlp.utils import DownloadCancelled

    return DownloadCancelled(reason)  # type: ignore[no-any-return]


class _Logger:
    """yt-dlp's messages in MediaNest's log (errors also surface as exceptions, handled per item)."""

    def __init__(self, download_id: int) -> None:
        self.log = log.bind(download_id=download_id)

    def debug(self, message: str) -> None:
        if not message.startswith("[download]"):
            self.log.debug("ytdlp", message=message[:500])

    def info(self, message: str) -> None:
        self.log.debug("ytdlp", message=message[:500])

    def warning(self, message: str) -> None:
        self.log.info("ytdlp_warning", message=message[:500])

    def error(self, message: str) -> None:
        self.log.info("ytdlp_error", message=message[:500])


def reason_of(exc: BaseException) -> str:
    """yt-dlp's error in words for a person (its own text goes to the log)."""
    return explain(exc)[:500]


def after(prefix: str, reason: str) -> str:
    """``reason`` following ``prefix``: a sentence after a full stop, a clause after a colon."""
    return f"{prefix}. {reason}" if reason[:1].isupper() else f"{prefix}: {reason}"


def settle(path: Path, title: str, video_id: str) -> Path:
    """Give a downloaded file its video's real title (the media server shows the file's name as the title); on a
    file system that refuses some of its characters, a portable form of it; as it was when neither can be."""
    for portable in (False, True):
        target = path.with_name(video_file_name(title, video_id, path.suffix, portable))
        if target == path:
            return path
        try:
            os.replace(path, target)
        except OSError as exc:
            log.info("youtube_rename_refused", file=path.name, error=str(exc))
            continue
        return target
    return path


@contextlib.contextmanager
def folder_lock(folder: Path, stop: Callable[[], bool]) -> Iterator[bool]:
    """Hold the folder's lock file while a download writes there (another process's download of the same playlist
    waits its turn). Yields False, holding nothing, when ``stop()`` says to give up while waiting."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / LOCK).open("a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if stop():
                    yield False
                    return
                time.sleep(1.0)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Run:
    """One attempt at one download, in a broker thread."""

    def __init__(self, downloader: Downloader, job: JobContext, row: Download) -> None:
        self.d = downloader
        self.job = job
        self.row = row
        self.id = row.id
        self.folder = downloader.storage.folder(row.folder)
        self.total = 0
        self.position = 0
        self.done_before = 0
        self.bytes_before = 0
        self.owner_used = 0
        self.current = ""
        self._reported = 0.0
        self._space_checked = 0.0
        self.stopped: Stopped | None = None

    def call(self, coro: Any) -> Any:
        return self.job.runner.call(coro)

    # -- yt-dlp's side -----------------------------------------------------------------------------------------

    def options(self) -> dict[str, Any]:
        """yt-dlp's options for this download; :func:`guarded_ydl` adds those that keep its connections in check."""
        settings = self.d.settings
        options: dict[str, Any] = {
            "format": format_for(self.row.quality),
            "merge_output_format": "mp4/mkv",
            "paths": {"home": str(self.folder), "temp": str(self.folder)},
            "outtmpl": {"default": "%(title).150B [%(id).60B].%(ext)s"},
            "windowsfilenames": True,
            "trim_file_name": 200,
            "download_archive": str(self.folder / ARCHIVE),
            "noplaylist": True,
            "continuedl": True,
            "overwrites": False,
            "retries": 5,
            "fragment_retries": 10,
            "file_access_retries": 3,
            "socket_timeout": 30,
            "ignoreerrors": False,
            "quiet": True,
            "no_warnings": True,
            "noprogress": True,
            "logger": _Logger(self.id),
            "progress_hooks": [self.hook],
            "extract_flat": "in_playlist",
            "lazy_playlist": False,
        }
        if settings.extractors:
            options["allowed_extractors"] = list(settings.extractors)
        return options

    def hook(self, status: dict[str, Any]) -> None:
        """yt-dlp's progress: throttled to the owner, and the point where a cancel or a full disk stops it."""
        if status.get("status") not in ("downloading", "finished"):
            return
        now = time.monotonic()
        finished = status.get("status") == "finished"
        if now - self._space_checked >= SPACE_EVERY:
            self._space_checked = now
            self.check_space(int(status.get("downloaded_bytes") or 0))
        if finished or now - self._reported < REPORT_EVERY:
            return  # an item's end is published with its record
        self._reported = now
        got = int(status.get("downloaded_bytes") or 0)
        size = status.get("total_bytes") or status.get("total_bytes_estimate")
        item_fraction = got / size if size else 0.0
        overall = (self.position - 1 + min(item_fraction, 1.0)) / max(self.total, 1)
        figures = {
            "item": self.position,
            "of": self.total,
            "title": self.current,
            "item_bytes": got,
            "item_size": int(size) if size else None,
            "item_fraction": round(min(item_fraction, 1.0), 4),
            "fraction": round(min(overall, 1.0), 4),
            "bytes": self.bytes_before + got,
            "speed": round(float(status["speed"]), 1) if status.get("speed") else None,
            "eta": int(status["eta"]) if status.get("eta") is not None else None,
        }
        self.report(overall, figures)

    def report(self, fraction: float, figures: dict[str, Any]) -> None:
        self.call(self.d.store.update(self.id, only_in=(DownloadState.RUNNING,), progress=figures))
        try:
            self.job.progress(min(fraction, 0.999), download_id=self.id)
        except JobCancelled:
            raise _cancel_error("cancelled") from None

    def check_space(self, writing: int) -> None:
        """Stop (through yt-dlp's cancel) when the disk would go below the floor or the person over their cap."""
        storage = self.d.storage
        if storage.free() < storage.floor:
            self.stopped = Stopped(
                DownloadState.FAILED,
                f"Stopped: less than {storage.floor // MB} MB is left free on the library's disk.",
            )
        elif storage.cap is not None and self.owner_used + writing > storage.cap:
            self.stopped = Stopped(
                DownloadState.FAILED, f"Stopped: your downloads would take more than your {storage.cap // MB} MB."
            )
        if self.stopped is not None:
            raise _cancel_error(str(self.stopped))

    # -- the download ------------------------------------------------------------------------------------------

    def run(self) -> None:
        from yt_dlp.utils import DownloadCancelled, DownloadError

        self.folder.mkdir(parents=True, exist_ok=True)
        with guarded_ydl(self.options(), self.d.settings.allowed_hosts, self.d.settings.media_hosts) as ydl:
            entries = self.list_entries(ydl)
            items = self.call(self.d.store.set_items(self.id, [(e["id"], e["title"]) for e in entries]))
            self.total = len(items)
            by_position = {item.position: entry for item, entry in zip(items, entries, strict=False)}
            for item in items:
                self.position = item.position
                self.current = item.title
                if item.state == ItemState.DONE.value and item.file and (self.folder / item.file).exists():
                    continue
                state, self.bytes_before, self.owner_used = self.call(
                    self.d.store.before_item(self.id, self.row.owner_id)
                )
                if state != DownloadState.RUNNING.value:
                    raise _cancel_error("cancelled")
                self.check_space(0)
                start = (item.position - 1) / max(self.total, 1)
                figures = {"item": item.position, "of": self.total, "title": item.title, "bytes": self.bytes_before}
                self.call(
                    self.d.store.update(
                        self.id, only_in=(DownloadState.RUNNING,), progress={**figures, "fraction": round(start, 4)}
                    )
                )
                entry = by_position.get(item.position)
                if entry is None:  # downloaded before, gone from the playlist since
                    continue
                there = file_of(self.folder, entry["id"])
                if there is not None:  # downloaded into the shared folder for someone else's download
                    self.call(
                        self.d.store.finish_item(
                            self.id, item.position, ItemState.DONE, file=there.name, size=there.stat().st_size
                        )
                    )
                    continue
                try:
                    result = ydl.process_ie_result(dict(entry["raw"]), download=True)
                except DownloadCancelled:
                    raise
                except (DownloadError, HostRefused, OSError) as exc:
                    remove_partials(self.folder)
                    reason = reason_of(exc)
                    self.call(self.d.store.finish_item(self.id, item.position, ItemState.FAILED, error=reason))
                    log.info("youtube_item_failed", download_id=self.id, item=item.position, error=raw_text(exc))
                    continue
                title = str(result.get("title") or "") if isinstance(result, dict) else ""
                title = title.strip() or item.title
                path = self.final_path(result, entry["id"])
                if path is None or not path.exists():
                    # yt-dlp's archive says it was downloaded here, but its file has gone since: forgotten, so that
                    # a retry downloads it again.
                    forget(self.folder, entry["id"])
                    self.call(
                        self.d.store.finish_item(self.id, item.position, ItemState.FAILED, error=GONE, title=title)
                    )
                    continue
                path = settle(path, title, entry["id"])
                self.call(
                    self.d.store.finish_item(
                        self.id, item.position, ItemState.DONE, file=path.name, size=path.stat().st_size, title=title
                    )
                )

    def list_entries(self, ydl: Any) -> list[dict[str, Any]]:
        """The playlist's items as yt-dlp lists them without downloading (a video is a list of one)."""
        from yt_dlp.utils import DownloadError

        try:
            info = ydl.extract_info(self.row.url, download=False)
        except (DownloadError, HostRefused) as exc:
            log.info("youtube_link_unreadable", download_id=self.id, error=raw_text(exc))
            raise Stopped(DownloadState.FAILED, after("The link could not be read", reason_of(exc))) from None
        if not isinstance(info, dict):
            raise Stopped(DownloadState.FAILED, "The link could not be read.")
        if info.get("_type") != "playlist":
            page = str(info.get("webpage_url") or self.row.url)
            raw = {"_type": "url", "url": page, "id": info.get("id"), "title": info.get("title")}
            return [{"id": str(info.get("id") or page), "title": str(info.get("title") or "Video"), "raw": raw}]
        from yt_dlp.utils import unsmuggle_url

        found = []
        for entry in info.get("entries") or []:
            if not isinstance(entry, dict) or not entry.get("url"):
                continue
            # A feed's entries carry their id (the item's guid) inside the address yt-dlp will resolve.
            plain, smuggled = unsmuggle_url(str(entry["url"]), {})
            video_id = str(entry.get("id") or (smuggled or {}).get("force_videoid") or plain)
            found.append({"id": video_id, "title": str(entry.get("title") or video_id), "raw": entry})
        if not found:
            raise Stopped(DownloadState.FAILED, "The playlist has no videos.")
        return found

    def final_path(self, result: Any, video_id: str) -> Path | None:
        """Where the item's file ended up (after any merge), or the file already there for an archived item."""
        if isinstance(result, dict):
            for download in result.get("requested_downloads") or []:
                if download.get("filepath"):
                    return Path(download["filepath"])
            if result.get("filepath"):
                return Path(result["filepath"])
        return file_of(self.folder, video_id)


class Downloader:
    """The plugin's actor, its slots (``concurrent_downloads`` per process) and the media library step."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.store = Store(ctx)
        # "Downloads at once" as it is now; the time limit is the actor's, made once: it changes at the next start.
        self.slots = Slots(lambda: self.settings.concurrent_downloads)

    @property
    def settings(self) -> YoutubeSettings:
        """The plugin's settings as they are now: a download started after the admin saved new ones uses those."""
        settings: YoutubeSettings = self.ctx.settings
        return settings

    @property
    def storage(self) -> Storage:
        """The library folder (and where Plex sees it), from the settings as they are now."""
        return Storage.of(self.ctx)

    def spec(self) -> ActorSpec:
        return ActorSpec(
            "download",
            self.actor,
            time_limit=self.settings.time_limit_hours * 3600,
            max_retries=3,
            queue="youtube",
            min_backoff=30.0,
            max_backoff=600.0,
        )

    def actor(self, job: JobContext) -> None:
        download_id = int(job.payload["download_id"])
        call: Callable[[Any], Any] = job.runner.call
        row: Download | None = call(self.store.get(download_id))
        if row is not None and row.state == DownloadState.IMPORTING.value:
            # The process stopped while Plex was being asked: ask again.
            call(self.import_into_library(download_id))
            return
        if row is None or row.state not in (DownloadState.QUEUED.value, DownloadState.RUNNING.value):
            return

        def give_up() -> bool:
            """While it waits its turn: whether it was cancelled meanwhile (the job is told it is alive)."""
            found = call(self.store.get(download_id))
            if found is None or found.state == DownloadState.CANCELLED.value:
                return True
            try:
                job.progress(0.0, download_id=download_id, waiting=True)
            except JobCancelled:
                return True
            return False

        # Someone else's download of the same playlist may be writing into the folder: this one waits for it.
        with folder_lock(self.storage.folder(row.folder), give_up) as held:
            if not held:
                return
            while not self.slots.acquire(timeout=1.0):
                if give_up():
                    return
            try:
                self._run(job, download_id)
            finally:
                self.slots.release()

    def _run(self, job: JobContext, download_id: int) -> None:
        from yt_dlp.utils import DownloadCancelled

        call: Callable[[Any], Any] = job.runner.call
        row = call(
            self.store.update(
                download_id,
                only_in=(DownloadState.QUEUED, DownloadState.RUNNING),
                state=DownloadState.RUNNING,
                error=None,
                progress={},
            )
        )
        if row is None:
            return
        run = Run(self, job, row)
        try:
            run.run()
        except (DownloadCancelled, Stopped) as exc:
            removed = remove_partials(run.folder)
            call(recount(self.store, download_id))
            stop = exc if isinstance(exc, Stopped) else run.stopped
            if stop is not None:
                call(self._end(download_id, stop.state, stop.reason))
                return
            call(self.store.update(download_id, progress={}))
            log.info("youtube_download_cancelled", download_id=download_id, removed=removed)
            raise JobCancelled(job.job_id) from None
        except Exception as exc:
            # The job runner tries again while attempts remain; the record says what happened either way.
            log.warning("youtube_attempt_failed", download_id=download_id, error=f"{type(exc).__name__}: {exc}")
            remove_partials(run.folder)
            call(recount(self.store, download_id))
            call(self._failed_attempt(job, download_id, reason_of(exc)))
            raise
        except BaseException:
            remove_partials(run.folder)
            call(self._end(download_id, DownloadState.FAILED, f"Stopped after {self.settings.time_limit_hours:g} h."))
            raise
        call(self.finished(download_id))

    async def _failed_attempt(self, job: JobContext, download_id: int, reason: str) -> None:
        assert self.ctx.sessions is not None
        async with self.ctx.sessions() as db:
            record = await db.get(Job, job.job_id)
        if record is not None and record.attempts > self.spec().max_retries:
            await self._end(download_id, DownloadState.FAILED, reason)
        else:
            again = "This attempt failed; MediaNest tries again by itself in a moment."
            await self.store.update(
                download_id,
                only_in=(DownloadState.RUNNING,),
                state=DownloadState.QUEUED,
                error=again if reason == UNKNOWN else f"{again} {reason}",
            )

    async def _end(self, download_id: int, state: DownloadState, reason: str | None) -> None:
        row = await self.store.update(
            download_id,
            only_in=(DownloadState.RUNNING, DownloadState.QUEUED),
            state=state,
            error=reason,
            progress={},
            finished_at=datetime.now(UTC),
        )
        if row is not None and state is DownloadState.FAILED and self.ctx.notifier is not None:
            await self.ctx.notifier.notify(
                [row.owner_id], f"“{row.title}” could not be downloaded", reason or "", Level.ERROR, link(row.id)
            )

    async def finished(self, download_id: int) -> None:
        """Every item has been tried: hand the folder to the media library, or say that nothing came."""
        row = await self.store.get(download_id)
        if row is None or row.state != DownloadState.RUNNING.value:
            return
        if row.items_done == 0:
            first = next((i.error for i in await self.store.items(download_id) if i.error), None) or UNKNOWN
            none = "The video" if row.items_total == 1 else f"None of the {row.items_total} videos"
            await self._end(download_id, DownloadState.FAILED, after(f"{none} could not be downloaded", first))
            return
        await self.store.update(
            download_id,
            only_in=(DownloadState.RUNNING,),
            state=DownloadState.IMPORTING,
            progress={},
            import_state=ImportState.PENDING.value,
            import_error=None,
        )
        await self.import_into_library(download_id)

    async def import_into_library(self, download_id: int) -> None:
        """Ask the media library to scan the folder and gather it as a collection named after the playlist;
        when it cannot be reached, the download waits and the periodic task tries again."""
        row = await self.store.get(download_id)
        if row is None or row.state != DownloadState.IMPORTING.value:
            return
        assert self.ctx.libraries is not None
        request = LibraryImport(
            library=self.settings.plex_library,
            path=self.storage.plex_folder(row.folder),
            collection=row.title,
            expected=row.items_done,
            wait=self.settings.import_wait,
        )
        try:
            result = await self.ctx.libraries.import_folder(request)
        except Exception as exc:
            reason = str(exc).strip() or "it could not be reached"
            log.info("youtube_import_later", download_id=download_id, error=f"{type(exc).__name__}: {exc}")
            later = datetime.now(UTC) + timedelta(seconds=self.settings.import_retry_every)
            waiting = await self.store.update(
                download_id,
                only_in=(DownloadState.IMPORTING,),
                state=DownloadState.WAITING,
                import_error=reason[:1000],
                import_attempts=row.import_attempts + 1,
                import_next_at=later,
            )
            if waiting is not None and row.import_attempts == 0 and self.ctx.notifier is not None:
                await self.ctx.notifier.notify(
                    [row.owner_id],
                    f"“{row.title}” is downloaded",
                    f"It will be added to {self.settings.plex_library} in Plex as soon as Plex can be reached.",
                    Level.WARNING,
                    link(row.id),
                )
            return
        note = (
            f"{result.missing} of {videos(row.items_done)} had not appeared in Plex yet; they will once its scan ends."
            if result.missing
            else None
        )
        done = await self.store.update(
            download_id,
            only_in=(DownloadState.IMPORTING,),
            state=DownloadState.DONE,
            collection_id=result.collection_id,
            import_state=ImportState.DONE.value,
            import_error=note,
            import_next_at=None,
            finished_at=datetime.now(UTC),
        )
        if done is not None and self.ctx.notifier is not None:
            await self.ctx.notifier.notify(
                [done.owner_id],
                f"“{done.title}” is ready in Plex",
                ready_words(done.items_done, done.items_failed, done.title, self.settings.plex_library),
                Level.SUCCESS,
                link(done.id),
            )

    async def maintain(self) -> None:
        """The periodic task: end downloads whose job has ended without them (a process stopped for good), and
        try the media library again for those waiting on it."""
        await self.reconcile()
        await self.retry_imports()

    async def reconcile(self) -> None:
        from sqlalchemy import select

        settled = datetime.now(UTC) - timedelta(seconds=30)
        assert self.ctx.sessions is not None
        async with self.ctx.sessions() as db:
            orphans = (
                await db.execute(
                    select(Download.id, Job.state, Job.error)
                    .join(Job, Job.id == Download.job_id)
                    .where(
                        Download.state.in_([DownloadState.QUEUED.value, DownloadState.RUNNING.value]),
                        Job.state.in_(["failed", "cancelled", "succeeded"]),
                        Job.finished_at < settled,
                    )
                )
            ).all()
            # Asked of Plex by a process that stopped before the answer: offered again.
            stalled = (
                await db.scalars(
                    select(Download.id).where(
                        Download.state == DownloadState.IMPORTING.value,
                        Download.updated_at < datetime.now(UTC) - timedelta(seconds=self.settings.import_wait + 120),
                    )
                )
            ).all()
        for download_id in stalled:
            await self.store.update(
                download_id,
                only_in=(DownloadState.IMPORTING,),
                state=DownloadState.WAITING,
                import_next_at=datetime.now(UTC),
            )
        for download_id, job_state, error in orphans:
            if job_state == "cancelled":
                await self.store.update(
                    download_id,
                    only_in=(DownloadState.QUEUED, DownloadState.RUNNING),
                    state=DownloadState.CANCELLED,
                    progress={},
                    finished_at=datetime.now(UTC),
                )
            else:
                log.info("youtube_job_ended", download_id=download_id, error=error)
                await self._end(download_id, DownloadState.FAILED, self.stopped_because(error))

    def stopped_because(self, error: str | None) -> str:
        """Why a download whose job ended without it stopped, in words for its owner (the job's error is logged)."""
        if error and "time limit" in error:
            return f"Stopped after {self.settings.time_limit_hours:g} h, the longest a download may run. Retry it."
        reason = explain(error) if error else UNKNOWN
        if reason == UNKNOWN:
            return "The download stopped unexpectedly. Retry it; if it stops again, the admin can find why in the log."
        return reason

    async def retry_imports(self) -> None:
        from sqlalchemy import select

        now = datetime.now(UTC)
        assert self.ctx.sessions is not None
        async with self.ctx.sessions() as db:
            due = (
                await db.scalars(
                    select(Download.id)
                    .where(
                        Download.state == DownloadState.WAITING.value,
                        Download.import_state == ImportState.PENDING.value,
                        Download.import_next_at <= now,
                    )
                    .order_by(Download.import_next_at)
                    .limit(20)
                )
            ).all()
        for download_id in due:
            claimed = await self.store.update(
                download_id, only_in=(DownloadState.WAITING,), state=DownloadState.IMPORTING
            )
            if claimed is not None:
                await self.import_into_library(download_id)


def link(download_id: int) -> str:
    return f"/youtube/#download-{download_id}"


def videos(count: int) -> str:
    """``count`` videos, in words: "1 video", "3 videos"."""
    return f"{count} video" if count == 1 else f"{count} videos"


def ready_words(done: int, failed: int, title: str, library: str) -> str:
    """The sentence that tells the owner a download is in the media library."""
    missed = f" ({failed} could not be downloaded)" if failed else ""
    return f"{videos(done)}{missed} in the collection “{title}” of {library}."
