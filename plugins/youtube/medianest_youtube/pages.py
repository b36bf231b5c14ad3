"""The YouTube page (the form with its preview, one's downloads with live progress, quota and room left), the
row fragment its script swaps in, the dashboard card, and the storage health check."""

from __future__ import annotations

import math
import os
import shutil
from datetime import UTC, datetime
from typing import Final

from aiohttp import web
from sqlalchemy import func, select

from medianest_core.auth.principal import require
from medianest_core.ratelimit import quota_use
from medianest_core.types import Card, CardData, CardState, HealthResult, HealthState, Page, PluginContext
from medianest_core.web import render
from medianest_core.web.pages import page_number
from medianest_core.web.shell import render_fragment, size
from medianest_youtube.api import QUOTA, owned
from medianest_youtube.models import Download, DownloadState
from medianest_youtube.store import Storage, Store, download_doc

PER_PAGE: Final = 20
QUALITY_WORDS: Final = {"best": "Best", "audio": "Audio only"}
STATE_WORDS: Final = {
    "queued": "Queued",
    "running": "Downloading",
    "importing": "Adding to Plex",
    "waiting": "Waiting for Plex",
    "done": "Done",
    "failed": "Failed",
    "cancelled": "Cancelled",
}


def pages(ctx: PluginContext) -> list[Page]:
    store = Store(ctx)

    async def home(request: web.Request) -> web.StreamResponse:
        who = require(request)
        storage = Storage.of(ctx)  # from the settings as they are now: the admin may change them while it runs
        everyone = who.is_admin and request.query.get("scope") == "all"
        page = page_number(request)
        rows, total = await store.page(None if everyone else who.user_id, page, PER_PAGE)
        use = await quota_use(request, QUOTA)
        used = await store.used_by(who.user_id)
        return await render(
            request,
            "youtube/home.html",
            {
                "downloads": [download_doc(row, name) for row, name in rows],
                "everyone": everyone,
                "is_admin": who.is_admin,
                "page": page,
                "pages": max(1, math.ceil(total / PER_PAGE)),
                "total": total,
                "quota": use,
                "available": storage.available(),
                "used": used,
                "cap": storage.cap,
                "qualities": ctx.settings.qualities,
                "default_quality": ctx.settings.default_quality,
                "words": STATE_WORDS,
                "viewer": who.user_id,
                "library_title": ctx.settings.plex_library,
                "quality_words": QUALITY_WORDS,
            },
        )

    async def row(request: web.Request) -> web.StreamResponse:
        """One download's row of the list, as the page shows it (for its script to swap in)."""
        who, found = await owned(store, request)
        name = await store.owner_name(found.owner_id)
        html = render_fragment(
            request,
            "youtube/_row.html",
            {"d": download_doc(found, name), "words": STATE_WORDS, "viewer": who.user_id},
        )
        return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})

    return [
        Page("/", home, "YouTube", name="youtube-home", styles=["youtube.css"], scripts=["youtube.js"]),
        Page("/rows/{id}", row, "YouTube", name="youtube-row"),
    ]


def card(ctx: PluginContext) -> Card:
    storage = Storage.of(ctx)

    async def load() -> CardData:
        assert ctx.sessions is not None
        async with ctx.sessions() as db:
            counts: dict[str, int] = dict(
                (
                    await db.execute(
                        select(Download.state, func.count())
                        .where(
                            Download.state.in_(
                                [DownloadState.QUEUED.value, DownloadState.RUNNING.value, DownloadState.WAITING.value]
                            )
                        )
                        .group_by(Download.state)
                    )
                ).all()
            )
        figures: dict[str, str | int | float] = {
            "Downloading": counts.get(DownloadState.RUNNING.value, 0),
            "Queued": counts.get(DownloadState.QUEUED.value, 0),
            "Space left": size(available := storage.available()),
        }
        message = None
        waiting = counts.get(DownloadState.WAITING.value, 0)
        if waiting:
            message = (
                "1 finished download is waiting for Plex."
                if waiting == 1
                else f"{waiting} finished downloads are waiting for Plex."
            )
        state = CardState.OK
        if available == 0:
            state, message = CardState.DEGRADED, "The library's disk is full: new downloads are refused."
        return CardData(state, figures=figures, message=message, updated_at=datetime.now(UTC))

    return Card("downloads", "YouTube downloads", load, template="youtube/card.html", order=40)


async def storage_health(ctx: PluginContext) -> HealthResult:
    """The library folder exists (it is created), can be written to, and has room above the floor."""
    storage = Storage.of(ctx)
    try:
        free = storage.free()
    except OSError as exc:
        return HealthResult(HealthState.DOWN, f"The library folder cannot be used: {exc.strerror or exc}")
    if not os.access(storage.root, os.W_OK):
        return HealthResult(HealthState.DOWN, f"MediaNest may not write to {storage.root}")
    if free < storage.floor:
        return HealthResult(HealthState.DEGRADED, f"{size(free)} free, below the floor of {size(storage.floor)}")
    if shutil.which("ffmpeg") is None:
        return HealthResult(
            HealthState.DEGRADED, "ffmpeg is not installed: only formats that need no merging are downloaded"
        )
    return HealthResult(HealthState.UP, f"{size(free - storage.floor)} left for downloads")
