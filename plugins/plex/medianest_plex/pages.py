"""The library in the web shell: libraries, collections and recently added; a library's posters (paged, sorted,
filtered by title); a collection; an item. Each page is what the person asking may see in Plex. Someone whose
account does not sign in with Plex sees, in their place, how to link their Plex account (or whom to ask)."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import quote

from aiohttp import web
from aiohttp.typedefs import Handler

from medianest_core.errors import ApiError, ErrorCode
from medianest_core.types import Page, PluginContext
from medianest_core.upstream import UpstreamError, deadline
from medianest_core.web import render
from medianest_core.web.pages import page_number
from medianest_plex.api import SORTS, Browse, failure, image_url, item_doc, plex_id, section_doc
from medianest_plex.client import PlexServer
from medianest_plex.service import Plex
from medianest_plex.titles import watch_url

PER_PAGE: Final = 48
CAST_SHOWN: Final = 12
"""How many of an item's cast its page shows (Plex lists them by billing)."""
IDENTITY_BUDGET: Final = 1.0
"""Seconds an item's page gives Plex to name the server (for "Open in Plex"), when that is not kept already."""
STYLES: Final = ("plex.css",)
"""The stylesheet of the pages (of the static folder): poster grids, an item's detail."""


def runtime(duration_ms: int | None) -> str | None:
    """A running time as people read it: "1 h 57 min", "45 min"; ``None`` when Plex does not know it."""
    if not duration_ms or duration_ms < 0:
        return None
    minutes = round(duration_ms / 60_000)
    if minutes < 60:
        return f"{max(minutes, 1)} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


class NoPlex(Exception):
    """The person's account does not sign in with Plex: the page says how to link it instead."""


def pages(ctx: PluginContext, get_plex: Callable[[], Plex]) -> list[Page]:
    browse = Browse(ctx, get_plex)

    async def viewer(request: web.Request) -> tuple[PlexServer, str]:
        found = await browse.person(request)
        if found is None:
            raise NoPlex
        return found

    def linked(handler: Callable[[web.Request], Awaitable[web.StreamResponse]], status: int) -> Handler:
        """``handler``, or for an account that does not sign in with Plex the page that says how to link one
        (with ``status``)."""

        async def page(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except NoPlex:
                back = f"/auth/plex/pin?next={quote(request.path, safe='/')}"  # then back to the page asked for
                return await render(request, "plex/link.html", {"link": back}, status=status)

        return page

    async def home(request: web.Request) -> web.StreamResponse:
        server, token = await viewer(request)
        try:
            sections = await server.sections(token)
            recent = await server.recently_added(token, 12)
            collections = [
                {**item_doc(item), "library": section.title}
                for section in sections
                for item in await server.collections(token, section.key)
            ]
        except UpstreamError as exc:
            raise failure(exc) from None
        return await render(
            request,
            "plex/home.html",
            {
                "libraries": [section_doc(s) for s in sections],
                "recent": [item_doc(i) for i in recent],
                "collections": collections,
            },
        )

    async def library(request: web.Request) -> web.StreamResponse:
        server, token = await viewer(request)
        section_id = plex_id(request)
        page = page_number(request)
        sort = request.query.get("sort", "title")
        if sort not in SORTS:
            sort = "title"
        order = "desc" if sort == "added" else "asc"
        title = request.query.get("title", "").strip()[:100]
        try:
            sections = {s.key: s for s in await server.sections(token)}
            if section_id not in sections:
                raise ApiError(404, ErrorCode.NOT_FOUND, "No such library, or it is not shared with you.")
            found = await server.items(
                token,
                section_id,
                start=(page - 1) * PER_PAGE,
                size=PER_PAGE,
                sort=f"{SORTS[sort]}:{order}",
                title=title,
            )
        except UpstreamError as exc:
            raise failure(exc) from None
        return await render(
            request,
            "plex/library.html",
            {
                "library": section_doc(sections[section_id]),
                "items": [item_doc(i) for i in found.items],
                "total": found.total,
                "page": page,
                "pages": max(1, math.ceil(found.total / PER_PAGE)),
                "sort": sort,
                "title": title,
            },
        )

    async def collection(request: web.Request) -> web.StreamResponse:
        server, token = await viewer(request)
        collection_id = plex_id(request)
        try:
            head = await server.item(token, collection_id)
            found = await server.collection_items(token, collection_id, start=0, size=200)
        except UpstreamError as exc:
            raise failure(exc) from None
        return await render(
            request,
            "plex/collection.html",
            {"collection": item_doc(head), "items": [item_doc(i) for i in found.items], "total": found.total},
        )

    async def item(request: web.Request) -> web.StreamResponse:
        server, token = await viewer(request)
        try:
            found = await server.item(token, plex_id(request))
        except UpstreamError as exc:
            raise failure(exc) from None
        detail = {
            **item_doc(found),
            "runtime": runtime(found.duration),
            "genres": [genre.tag for genre in found.Genre],
            "cast": [
                {"name": role.tag, "role": role.role, "photo": image_url(role.thumb)}
                for role in found.Role[:CAST_SHOWN]
            ],
            "plex_url": await open_in_plex(found.ratingKey),
        }
        return await render(request, "plex/item.html", {"item": detail})

    async def open_in_plex(rating_key: str) -> str | None:
        """The item's page in Plex's web app (the ``app_url`` setting), or ``None`` when Plex does not name the
        server in time (the page says where to find the item instead)."""
        try:
            with deadline(IDENTITY_BUDGET):
                machine = (await get_plex().identity()).value.machineIdentifier
        except UpstreamError:
            return None
        return watch_url(str(ctx.settings.app_url), machine, rating_key)

    return [
        Page("/", linked(home, 200), "Library", name="plex-home", short_path="/library/", styles=STYLES),
        Page(
            "/libraries/{id}",
            linked(library, 403),
            "Library",
            name="plex-library",
            styles=STYLES,
            scripts=("library.js",),
        ),
        Page("/collections/{id}", linked(collection, 403), "Collection", name="plex-collection", styles=STYLES),
        Page("/items/{id}", linked(item, 403), "Item", name="plex-item-page", styles=STYLES),
    ]
