"""The YouTube plugin's JSON API: preview a link, ask for a download, follow and manage one's downloads.

A download belongs to the person who asked for it: anyone else gets 404, except the admins, who see and manage
everyone's (``?scope=all`` lists them).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import attrs
from aiohttp import web
from sqlalchemy import select

from medianest_core.auth.principal import Principal, require
from medianest_core.auth.views import QuotaDoc
from medianest_core.errors import ApiError, ErrorCode, field_error, path_id
from medianest_core.ratelimit import quota_use, spend
from medianest_core.schema import MAX_PER_PAGE, NOT_BLANK, IdPath, PageQuery, field, read_body, read_query
from medianest_core.types import PluginContext, Route
from medianest_youtube.models import ACTIVE, Download, DownloadItem, DownloadState, ImportState, ItemState
from medianest_youtube.preview import Preview, PreviewFailed, preview
from medianest_youtube.store import (
    MB,
    Storage,
    Store,
    download_doc,
    folder_busy,
    item_doc,
    remove_files,
    source_key,
)
from medianest_youtube.urls import UrlRefused

if TYPE_CHECKING:
    from medianest_youtube import YoutubeSettings

QUOTA = "youtube.downloads"
ACTOR = "youtube.download"


LINK_RULE = "The link of a playlist or a video, on one of the allowed hosts"
READABLE = "on an allowed host, and a link yt-dlp can read"


@attrs.frozen
class PreviewBody:
    url: str = field(min_length=1, max_length=2000, pattern=NOT_BLANK, description=LINK_RULE)


@attrs.frozen
class DownloadBody:
    url: str = field(min_length=1, max_length=2000, pattern=NOT_BLANK, description=LINK_RULE)
    quality: str | None = field(default=None, max_length=50, description="One of the qualities offered (/limits)")


@attrs.frozen
class DownloadsQuery(PageQuery):
    per_page: int = field(default=20, ge=1, le=MAX_PER_PAGE)
    scope: Literal["own", "all"] = attrs.field(default="own", metadata={"help": "all: everyone's (admins only)"})


@attrs.frozen
class DeleteQuery:
    collection: bool = attrs.field(default=False, metadata={"help": "Remove its Plex collection too"})


@attrs.frozen
class PreviewDoc:
    """What a link holds: a playlist or a video, its title, how many items, and the first items' titles."""

    url: str
    kind: str
    id: str
    title: str
    count: int
    items: list[str]


@attrs.frozen
class ItemCounts:
    total: int
    done: int
    failed: int


@attrs.frozen
class LibraryDoc:
    """Where the download stands in the media library: its state, the collection, and when Plex is tried next."""

    state: str
    collection_id: str | None
    error: str | None
    next_try_at: datetime | None


@attrs.frozen
class OwnerDoc:
    id: int
    username: str | None = None


@attrs.frozen
class DownloadDoc:
    """A download; ``progress`` holds the figures of the item being downloaded."""

    id: int
    url: str
    kind: str
    title: str
    quality: str
    state: DownloadState
    folder: str
    items: ItemCounts
    bytes: int
    progress: dict[str, Any]
    error: str | None
    library: LibraryDoc
    owner: OwnerDoc
    created_at: datetime
    finished_at: datetime | None


@attrs.frozen
class EntryDoc:
    position: int
    id: str
    title: str | None
    state: ItemState
    error: str | None
    file: str | None
    size: int | None


@attrs.frozen
class DownloadDetail(DownloadDoc):
    entries: list[EntryDoc]


@attrs.frozen
class DownloadPage:
    downloads: list[DownloadDoc]
    page: int
    per_page: int
    total: int


@attrs.frozen
class DownloadDeleted:
    deleted: int
    collection_removed: bool


@attrs.frozen
class StorageDoc:
    """Room on the library's disk and under the person's cap (``cap_bytes`` null: no cap)."""

    free_bytes: int
    available_bytes: int
    floor_bytes: int
    used_bytes: int
    cap_bytes: int | None
    left_bytes: int | None


@attrs.frozen
class LimitsDoc:
    quota: QuotaDoc
    storage: StorageDoc
    qualities: list[str]
    default_quality: str


def refused(exc: UrlRefused) -> ApiError:
    # A host that is not allowed is a 400: the request is refused, not merely mistyped.
    return ApiError(400, ErrorCode.BAD_REQUEST, str(exc), details={"fields": {"url": str(exc)}})


def unreadable(exc: PreviewFailed) -> ApiError:
    return ApiError(422, ErrorCode.VALIDATION_FAILED, str(exc), details={"fields": {"url": str(exc)}})


async def owned(store: Store, request: web.Request) -> tuple[Principal, Download]:
    """The download named in the path, if the person asking may see it (its owner, or an admin); otherwise 404."""
    who = require(request)
    row = await store.get(path_id(request, "download"))
    if row is None or (row.owner_id != who.user_id and not who.is_admin):
        raise ApiError(404, ErrorCode.NOT_FOUND, "No such download.")
    return who, row


class Downloads:
    """The routes, sharing the plugin's store and storage."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.store = Store(ctx)

    @property
    def settings(self) -> YoutubeSettings:
        """The plugin's settings as they are now: the admin may change them while MediaNest runs."""
        settings: YoutubeSettings = self.ctx.settings
        return settings

    @property
    def storage(self) -> Storage:
        """The library folder, its floor and the cap, from the settings as they are now."""
        return Storage.of(self.ctx)

    def routes(self) -> list[Route]:
        return [
            Route(
                "POST",
                "/preview",
                self.show_preview,
                name="youtube-preview",
                body=PreviewBody,
                answer=PreviewDoc,
                refusals={"url": READABLE},
            ),
            Route(
                "GET",
                "/downloads",
                self.list,
                name="youtube-downloads",
                query=DownloadsQuery,
                answer=DownloadPage,
                errors=(403,),
            ),
            Route(
                "POST",
                "/downloads",
                self.create,
                name="youtube-downloads-create",
                body=DownloadBody,
                answer=DownloadDoc,
                status=201,
                errors=(409, 507),
                refusals={"url": READABLE, "quality": "one of the qualities offered"},
            ),
            Route("GET", "/downloads/{id}", self.detail, name="youtube-download", params=IdPath, answer=DownloadDetail),
            Route(
                "DELETE",
                "/downloads/{id}",
                self.delete,
                name="youtube-download-delete",
                params=IdPath,
                query=DeleteQuery,
                answer=DownloadDeleted,
                errors=(409,),
            ),
            Route(
                "POST",
                "/downloads/{id}/cancel",
                self.cancel,
                name="youtube-download-cancel",
                params=IdPath,
                answer=DownloadDoc,
                errors=(409,),
            ),
            Route(
                "POST",
                "/downloads/{id}/retry",
                self.retry,
                name="youtube-download-retry",
                params=IdPath,
                answer=DownloadDoc,
                status=202,
                errors=(409, 507),
            ),
            Route("GET", "/limits", self.limits, name="youtube-limits", answer=LimitsDoc),
        ]

    async def read(self, url: str) -> Preview:
        try:
            return await preview(url, self.settings.allowed_hosts, self.settings.extractors or None)
        except UrlRefused as exc:
            raise refused(exc) from None
        except PreviewFailed as exc:
            raise unreadable(exc) from None

    async def show_preview(self, request: web.Request) -> web.Response:
        """What a link holds (title, number of items, the first titles), read without downloading."""
        body = await read_body(request, PreviewBody)
        return web.json_response((await self.read(body.url)).doc())

    async def owned(self, request: web.Request) -> tuple[Principal, Download]:
        return await owned(self.store, request)

    def check_space(self, used: int) -> None:
        """Refuse, with nothing queued, when the disk is at its floor or the person at their cap."""
        free = self.storage.free()
        if free < self.storage.floor:
            raise ApiError(
                507,
                ErrorCode.INSUFFICIENT_STORAGE,
                f"The library's disk is almost full ({free // MB} MB free; downloads need "
                f"{self.storage.floor // MB} MB to stay free). Ask the admin to make room.",
                details={"free_mb": free // MB, "floor_mb": self.storage.floor // MB},
            )
        cap = self.storage.cap
        if cap is not None and used >= cap:
            raise ApiError(
                507,
                ErrorCode.INSUFFICIENT_STORAGE,
                f"Your downloads take {used // MB} MB of your {cap // MB} MB: delete some to make room.",
                details={"used_mb": used // MB, "cap_mb": cap // MB},
            )

    def check_outages(self) -> None:
        """Refuse a new download, with nothing read or queued, while YouTube or the media library it goes into is
        reported out (downloads under way go on)."""
        outages = self.ctx.outages
        if outages is None:
            return
        services = ["youtube"]
        if self.ctx.libraries is not None:
            services += [name for name, _ in self.ctx.libraries.available()[:1]]
        for service in services:
            why = outages.reason(service)
            if why is not None:
                raise ApiError(
                    503,
                    ErrorCode.SERVICE_UNAVAILABLE,
                    f"New downloads are paused: {why.rstrip('.')}. Try again later.",
                    details={"service": service, "reason": why},
                )

    async def create(self, request: web.Request) -> web.Response:
        """Read the link, then queue its download into the library: 201 with the download, nothing queued when
        it is refused."""
        who = require(request)
        body = await read_body(request, DownloadBody)
        quality = body.quality or self.settings.default_quality
        if quality not in self.settings.qualities:
            raise field_error(
                "quality", f"one of {', '.join(self.settings.qualities)}", "Choose one of the qualities offered."
            )
        self.check_outages()
        found = await self.read(body.url)
        key = source_key(found.kind, found.id, found.url)
        already = await self.store.active_for(who.user_id, key)
        if already is not None:
            raise ApiError(
                409,
                ErrorCode.CONFLICT,
                f"“{already.title}” is already {'queued' if already.state == 'queued' else 'downloading'} for you.",
                details={"download_id": already.id},
            )
        self.check_space(await self.store.used_by(who.user_id))
        await spend(request, QUOTA)
        row = Download(
            owner_id=who.user_id,
            url=found.url,
            kind=found.kind,
            source_id=found.id[:500],
            source_key=key,
            title=found.title[:300] or "Untitled",
            quality=quality,
            folder=await asyncio.to_thread(self.storage.shared_folder, found.title, found.id),
            state=DownloadState.QUEUED.value,
            items_total=found.count,
            progress={},
        )
        assert self.ctx.sessions is not None
        assert self.ctx.jobs is not None
        async with self.ctx.sessions.begin() as db:
            db.add(row)
        job_id = await self.ctx.jobs.submit(ACTOR, {"download_id": row.id}, owner_id=who.user_id)
        row = await self.store.update(row.id, job_id=job_id) or row
        self.ctx.log.info("youtube_download_queued", download_id=row.id, items=found.count, user_id=who.user_id)
        return web.json_response(download_doc(row, who.username), status=201)

    async def list(self, request: web.Request) -> web.Response:
        """One's own downloads, newest first; admins may list everyone's (``scope=all``)."""
        who = require(request)
        asked = read_query(request, DownloadsQuery)
        page, per_page, scope = asked.page, asked.per_page, asked.scope
        if scope == "all" and not who.is_admin:
            raise ApiError(403, ErrorCode.FORBIDDEN, "Only admins see everyone's downloads.")
        rows, total = await self.store.page(who.user_id if scope == "own" else None, page, per_page)
        return web.json_response(
            {
                "downloads": [download_doc(row, username) for row, username in rows],
                "page": page,
                "per_page": per_page,
                "total": total,
            }
        )

    async def detail(self, request: web.Request) -> web.Response:
        """A download and each of its items, with their state and error."""
        _, row = await self.owned(request)
        items = await self.store.items(row.id)
        return web.json_response(
            {**download_doc(row, await self.store.owner_name(row.owner_id)), "entries": [item_doc(i) for i in items]}
        )

    async def cancel(self, request: web.Request) -> web.Response:
        """Stop a queued or running download (within seconds) or one waiting for Plex; unfinished files go."""
        _, row = await self.owned(request)
        cancellable = (DownloadState.QUEUED, DownloadState.RUNNING, DownloadState.WAITING)
        if row.state not in cancellable:
            raise ApiError(
                409,
                ErrorCode.CONFLICT,
                f"This download is {row.state}: there is nothing to cancel.",
                details={"state": row.state},
            )
        updated = await self.store.update(
            row.id,
            only_in=cancellable,
            state=DownloadState.CANCELLED,
            import_state=ImportState.NONE.value,
            import_next_at=None,
            finished_at=datetime.now(UTC),
        )
        if updated is None:
            raise ApiError(409, ErrorCode.CONFLICT, "This download has just finished: there is nothing to cancel.")
        if row.job_id is not None and self.ctx.jobs is not None:
            await self.ctx.jobs.cancel(row.job_id)
        return web.json_response(download_doc(updated))

    async def retry(self, request: web.Request) -> web.Response:
        """Download again what is missing (failed items, or what a cancel or a failure left), or try Plex now."""
        _, row = await self.owned(request)
        if row.state == DownloadState.WAITING.value:
            updated = await self.store.update(
                row.id, only_in=(DownloadState.WAITING,), import_next_at=datetime.now(UTC)
            )
            return web.json_response(download_doc(updated or row), status=202)
        missing = row.items_failed or row.items_done < row.items_total
        retryable = row.state in (DownloadState.FAILED.value, DownloadState.CANCELLED.value) or (
            row.state == DownloadState.DONE.value and missing
        )
        if not retryable:
            raise ApiError(
                409,
                ErrorCode.CONFLICT,
                f"This download is {row.state}: there is nothing to retry.",
                details={"state": row.state},
            )
        self.check_space(await self.store.used_by(row.owner_id))
        assert self.ctx.sessions is not None
        assert self.ctx.jobs is not None
        async with self.ctx.sessions.begin() as db:
            for item in (
                await db.scalars(
                    select(DownloadItem).where(
                        DownloadItem.download_id == row.id, DownloadItem.state == ItemState.FAILED.value
                    )
                )
            ).all():
                item.state, item.error = ItemState.PENDING.value, None
        queued = await self.store.update(
            row.id,
            only_in=(DownloadState.FAILED, DownloadState.CANCELLED, DownloadState.DONE),
            state=DownloadState.QUEUED,
            error=None,
            items_failed=0,
            finished_at=None,
        )
        if queued is None:
            raise ApiError(409, ErrorCode.CONFLICT, "This download changed meanwhile; look again.")
        job_id = await self.ctx.jobs.submit(ACTOR, {"download_id": row.id}, owner_id=row.owner_id)
        queued = await self.store.update(row.id, job_id=job_id) or queued
        return web.json_response(download_doc(queued), status=202)

    async def delete(self, request: web.Request) -> web.Response:
        """Remove the download's record and its files, and its Plex collection with ``?collection=true``; the
        videos and the collection other people's downloads of the same playlist hold stay."""
        _, row = await self.owned(request)
        if row.state in ACTIVE:
            raise ApiError(
                409, ErrorCode.CONFLICT, "Cancel this download before deleting it.", details={"state": row.state}
            )
        with_collection = read_query(request, DeleteQuery).collection
        folder = self.storage.folder(row.folder)
        if await asyncio.to_thread(folder_busy, folder):
            raise _writing()
        others, kept_files, kept_collections = await self.store.sharing(row.id, row.folder)
        removed_collection = False
        if with_collection and row.collection_id and row.collection_id not in kept_collections:
            assert self.ctx.libraries is not None
            try:
                removed_collection = await self.ctx.libraries.remove_collection(row.collection_id)
            except Exception as exc:
                raise ApiError(
                    503,
                    ErrorCode.SERVICE_UNAVAILABLE,
                    "The collection could not be removed from Plex (nothing was deleted); try again later.",
                    details={"reason": type(exc).__name__},
                ) from None
        items = await self.store.items(row.id)
        mine = [(i.file, i.video_id) for i in items if i.file and i.file not in kept_files]
        try:
            removed = await asyncio.to_thread(
                remove_files,
                folder,
                [name for name, _ in mine],
                [video_id for _, video_id in mine],
                not others,
            )
        except OSError as exc:
            raise ApiError(
                503, ErrorCode.SERVICE_UNAVAILABLE, f"The files could not be removed: {exc.strerror or exc}."
            ) from None
        if not removed:
            raise _writing()
        assert self.ctx.sessions is not None
        async with self.ctx.sessions.begin() as db:
            found = await db.get(Download, row.id)
            if found is not None:
                await db.delete(found)
        self.ctx.log.info("youtube_download_deleted", download_id=row.id, collection=removed_collection)
        return web.json_response({"deleted": row.id, "collection_removed": removed_collection})

    async def limits(self, request: web.Request) -> web.Response:
        """What the person may still do: the quota's use and the room left on the disk and under their cap."""
        who = require(request)
        use = await quota_use(request, QUOTA)
        used = await self.store.used_by(who.user_id)
        cap = self.storage.cap
        return web.json_response(
            {
                "quota": use.doc(),
                "storage": {
                    "free_bytes": self.storage.free(),
                    "available_bytes": self.storage.available(),
                    "floor_bytes": self.storage.floor,
                    "used_bytes": used,
                    "cap_bytes": cap,
                    "left_bytes": None if cap is None else max(cap - used, 0),
                },
                "qualities": list(self.settings.qualities),
                "default_quality": self.settings.default_quality,
            }
        )


def _writing() -> ApiError:
    return ApiError(
        409,
        ErrorCode.CONFLICT,
        "Another download of this playlist is writing to its folder just now; delete this one when it has finished.",
        details={"reason": "folder_busy"},
    )


def routes(ctx: PluginContext) -> list[Route]:
    return Downloads(ctx).routes()
