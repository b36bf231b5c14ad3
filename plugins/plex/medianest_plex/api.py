"""The Plex plugin's JSON API: the server, libraries, items, collections and images, seen as the person asking.

A person who signed in with Plex browses with their own server token, so Plex shows only what is shared with
them; an admin without a Plex sign-in browses with the owner's token. Answers carry no Plex token and no address
of the Plex server: images go through ``/api/v1/plex/images``, which fetches only image paths of that server.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any, Final, Literal
from urllib.parse import quote

import attrs
from aiohttp import web

from medianest_core.auth.principal import require
from medianest_core.errors import ApiError, ErrorCode
from medianest_core.schema import END, field, read_query
from medianest_core.types import PluginContext, Route
from medianest_core.upstream import AuthFailed, BadResponse, DeadlineExceeded, NotFound, UpstreamError
from medianest_plex import login
from medianest_plex.client import Item, Page, PlexServer, Section
from medianest_plex.images import MAX_IMAGE_BYTES, parse_image, raster_type
from medianest_plex.service import NotConfigured, Plex

SORTS: Final = {"title": "titleSort", "added": "addedAt", "year": "year"}
# Plex's ratingKeys and library keys: whole numbers, as text.
PLEX_ID: Final = r"^[0-9]{1,19}" + END
BROWSE_ERRORS: Final = (403, 404, 502)
LINK_PATH: Final = "/auth/plex/pin?next=/plex/"
"""Where someone signed in with a password links their Plex account, then comes back to the library."""
NO_PLEX: Final = "Browsing the library needs your Plex account: link it on the Library page (Sign in with Plex)."


@attrs.frozen
class PlexIdPath:
    id: str = field(pattern=PLEX_ID, description="A Plex library's or item's id")


@attrs.frozen
class Window:
    """A window of a long list: ``limit`` items from ``offset``."""

    offset: int = field(default=0, ge=0, le=10_000_000)
    limit: int = field(default=50, ge=1, le=200)


@attrs.frozen
class LibraryItemsQuery(Window):
    sort: Literal["title", "added", "year"] = "title"
    order: Literal["asc", "desc"] | None = attrs.field(
        default=None, metadata={"help": "asc, or desc; by default desc for added and asc otherwise"}
    )
    title: str = field(default="", max_length=100, description="Part of the title")


@attrs.frozen
class RecentQuery:
    limit: int = field(default=20, ge=1, le=200)


@attrs.frozen
class ImageQuery:
    path: str = field(min_length=1, max_length=500, description="An image of the Plex server's answers, as given")


@attrs.frozen
class ServerDoc:
    """The Plex server; ``stale`` when Plex did not answer and this is what it said ``age_s`` seconds ago."""

    name: str
    version: str
    platform: str
    stale: bool
    age_s: float


@attrs.frozen
class LibraryDoc:
    id: str
    title: str
    type: str


@attrs.frozen
class LibraryList:
    libraries: list[LibraryDoc]


@attrs.frozen
class ItemDoc:
    """A film, a series, an episode or a collection; ``poster`` and ``art`` are addresses of MediaNest's image
    proxy; ``title_url`` is the title page of a film or a series whose TMDB id Plex knows."""

    id: str
    title: str
    type: str
    year: int | None
    summary: str | None
    library_id: str | None
    library: str | None
    added_at: int | None
    duration_ms: int | None
    count: int | None
    poster: str | None
    art: str | None
    title_url: str | None


@attrs.frozen
class ItemPage:
    items: list[ItemDoc]
    total: int
    offset: int
    limit: int


@attrs.frozen
class ItemList:
    items: list[ItemDoc]


@attrs.frozen
class CollectionList:
    collections: list[ItemDoc]


def image_url(path: str | None) -> str | None:
    """The image proxy's address of an image of Plex's answers (a poster, a background, a cast member's photo)."""
    return f"/api/v1/plex/images?path={quote(path, safe='')}" if path and parse_image(path) is not None else None


def item_doc(item: Item) -> dict[str, Any]:
    return {
        "id": item.ratingKey,
        "title": item.title,
        "type": item.type,
        "year": item.year,
        "summary": item.summary,
        "library_id": str(item.librarySectionID) if item.librarySectionID is not None else None,
        "library": item.librarySectionTitle,
        "added_at": item.addedAt,
        "duration_ms": item.duration,
        "count": item.childCount if item.childCount is not None else item.leafCount,
        "poster": image_url(item.thumb),
        "art": image_url(item.art),
        "title_url": title_url(item),
    }


TITLE_KINDS: Final = {"movie": "movie", "show": "tv"}
"""Plex's types of the items that have title pages, and the kind of title each is."""


def title_url(item: Item) -> str | None:
    """The title page of a film or a series whose TMDB id Plex knows (``/titles/movie/603``), else ``None``."""
    kind = TITLE_KINDS.get(item.type)
    tmdb = item.ids.tmdb
    return f"/titles/{kind}/{tmdb}" if kind is not None and tmdb is not None else None


def section_doc(section: Section) -> dict[str, Any]:
    return {"id": section.key, "title": section.title, "type": section.type}


def failure(exc: UpstreamError) -> ApiError:
    """What the browser is told when Plex fails: never the error's text, which may name the server."""
    if isinstance(exc, NotConfigured):
        return ApiError(503, ErrorCode.SERVICE_UNAVAILABLE, "Plex is not set up yet.")
    if isinstance(exc, NotFound):
        return ApiError(404, ErrorCode.NOT_FOUND, "Plex has no such thing, or it is not shared with you.")
    if isinstance(exc, AuthFailed):
        return ApiError(403, ErrorCode.FORBIDDEN, "Plex no longer accepts your access; sign in with Plex again.")
    if isinstance(exc, BadResponse):
        return ApiError(502, ErrorCode.BAD_GATEWAY, "Plex answered in a way MediaNest did not expect.")
    if isinstance(exc, DeadlineExceeded):
        return ApiError(
            503, ErrorCode.SERVICE_UNAVAILABLE, f"Plex did not answer within {exc.seconds:g} s; try again in a moment."
        )
    return ApiError(503, ErrorCode.SERVICE_UNAVAILABLE, "Plex is unavailable just now; try again in a moment.")


class Browse:
    def __init__(self, ctx: PluginContext, get_plex: Callable[[], Plex]) -> None:
        self.ctx = ctx
        self.get_plex = get_plex

    @property
    def plex(self) -> Plex:
        return self.get_plex()

    async def viewer(self, request: web.Request) -> tuple[PlexServer, str]:
        """The server, and the token to use for the person asking; a 503 with the reason at once while Plex is
        reported out (its monitor is down, say), rather than waiting on it; a 403 that says how for an account
        that does not sign in with Plex."""
        found = await self.person(request)
        if found is None:
            raise ApiError(403, ErrorCode.FORBIDDEN, NO_PLEX, details={"sign_in": LINK_PATH})
        return found

    async def person(self, request: web.Request) -> tuple[PlexServer, str] | None:
        """As :meth:`viewer`, but ``None`` for an account that does not sign in with Plex (and is no admin)."""
        who = require(request)
        outage = self.ctx.outages.reason("plex") if self.ctx.outages is not None else None
        if outage is not None:
            raise ApiError(
                503,
                ErrorCode.SERVICE_UNAVAILABLE,
                f"Plex is unavailable: {outage.rstrip('.')}. Try again later.",
                details={"service": "plex", "reason": outage},
            )
        try:
            server, owner_token = self.plex.require()
        except UpstreamError as exc:
            raise failure(exc) from None
        token = await login.browse_token(self.ctx, owner_token, who.user_id, who.is_admin)
        return None if token is None else (server, token)

    async def server_info(self, request: web.Request) -> web.Response:
        await self.viewer(request)
        try:
            info = await self.plex.info()
        except UpstreamError as exc:
            raise failure(exc) from None
        return web.json_response(
            {
                "name": info.value.friendlyName,
                "version": info.value.version,
                "platform": info.value.platform,
                "stale": info.stale,
                "age_s": round(info.age, 1),
            }
        )

    async def libraries(self, request: web.Request) -> web.Response:
        server, token = await self.viewer(request)
        try:
            sections = await server.sections(token)
        except UpstreamError as exc:
            raise failure(exc) from None
        return web.json_response({"libraries": [section_doc(s) for s in sections]})

    async def library_items(self, request: web.Request) -> web.Response:
        """A library's items, sorted, filtered by title and paged."""
        server, token = await self.viewer(request)
        asked = read_query(request, LibraryItemsQuery)
        start, size, sort_key = asked.offset, asked.limit, asked.sort
        order = asked.order or ("desc" if sort_key == "added" else "asc")
        title = asked.title.strip()
        try:
            page = await server.items(
                token, plex_id(request), start=start, size=size, sort=f"{SORTS[sort_key]}:{order}", title=title
            )
        except UpstreamError as exc:
            raise failure(exc) from None
        return _page_doc(page, start, size)

    async def recently_added(self, request: web.Request) -> web.Response:
        server, token = await self.viewer(request)
        size = read_query(request, RecentQuery).limit
        try:
            items = await server.recently_added(token, size)
        except UpstreamError as exc:
            raise failure(exc) from None
        return web.json_response({"items": [item_doc(i) for i in items]})

    async def all_collections(self, request: web.Request) -> web.Response:
        server, token = await self.viewer(request)
        try:
            found = []
            for section in await server.sections(token):
                for item in await server.collections(token, section.key):
                    found.append({**item_doc(item), "library_id": section.key, "library": section.title})
        except UpstreamError as exc:
            raise failure(exc) from None
        return web.json_response({"collections": found})

    async def collection_items(self, request: web.Request) -> web.Response:
        """A collection's items, paged."""
        server, token = await self.viewer(request)
        window = read_query(request, Window)
        start, size = window.offset, window.limit
        try:
            page = await server.collection_items(token, plex_id(request), start=start, size=size)
        except UpstreamError as exc:
            raise failure(exc) from None
        return _page_doc(page, start, size)

    async def item(self, request: web.Request) -> web.Response:
        server, token = await self.viewer(request)
        try:
            found = await server.item(token, plex_id(request))
        except UpstreamError as exc:
            raise failure(exc) from None
        return web.json_response(item_doc(found))

    async def image(self, request: web.Request) -> web.StreamResponse:
        """A poster or background, fetched from the configured server only, with the person's own token; kept in
        the plugin's image cache (``image_cache_mb``), one entry per person and image."""
        image = parse_image(read_query(request, ImageQuery).path)
        if image is None:
            problem = "not an image of this Plex server"
            raise ApiError(
                400, ErrorCode.BAD_REQUEST, "Not an image of this Plex server.", {"fields": {"path": problem}}
            )
        server, token = await self.viewer(request)
        owner = hashlib.sha256(token.encode()).hexdigest()
        cache = self.plex.images
        kept = cache.get(owner, image)
        if kept is not None:
            body, kind = kept.body, kept.content_type
        else:
            try:
                body, sent = await server.image(token, image.path, image.params, max_bytes=MAX_IMAGE_BYTES)
            except UpstreamError as exc:
                raise failure(exc) from None
            raster = raster_type(sent)
            if raster is None:  # an SVG (script on MediaNest's origin), a page, …: never served as it came
                raise ApiError(502, ErrorCode.BAD_GATEWAY, "Plex did not send an image.")
            kind = raster
            cache.put(owner, image, body, kind)
        return web.Response(body=body, content_type=kind, headers={"Cache-Control": "private, max-age=86400"})

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/server", self.server_info, name="plex-server", answer=ServerDoc, errors=BROWSE_ERRORS),
            Route("GET", "/libraries", self.libraries, name="plex-libraries", answer=LibraryList, errors=BROWSE_ERRORS),
            Route(
                "GET",
                "/libraries/{id}/items",
                self.library_items,
                name="plex-library-items",
                params=PlexIdPath,
                query=LibraryItemsQuery,
                answer=ItemPage,
                errors=BROWSE_ERRORS,
            ),
            Route(
                "GET",
                "/recently-added",
                self.recently_added,
                name="plex-recently-added",
                query=RecentQuery,
                answer=ItemList,
                errors=BROWSE_ERRORS,
            ),
            Route(
                "GET",
                "/collections",
                self.all_collections,
                name="plex-collections",
                answer=CollectionList,
                errors=BROWSE_ERRORS,
            ),
            Route(
                "GET",
                "/collections/{id}/items",
                self.collection_items,
                name="plex-collection-items",
                params=PlexIdPath,
                query=Window,
                answer=ItemPage,
                errors=BROWSE_ERRORS,
            ),
            Route(
                "GET",
                "/items/{id}",
                self.item,
                name="plex-item",
                params=PlexIdPath,
                answer=ItemDoc,
                errors=BROWSE_ERRORS,
            ),
            Route(
                "GET",
                "/images",
                self.image,
                name="plex-image",
                query=ImageQuery,
                media="image/*",
                refusals={"path": "an image of the Plex server's answers (a poster, a background, a photo), as given"},
                errors=BROWSE_ERRORS,
            ),
        ]


def _page_doc(page: Page, start: int, size: int) -> web.Response:
    return web.json_response(
        {"items": [item_doc(i) for i in page.items], "total": page.total, "offset": start, "limit": size}
    )


def plex_id(request: web.Request) -> str:
    value = request.match_info["id"]
    if not re.fullmatch(PLEX_ID, value):
        raise ApiError(404, ErrorCode.NOT_FOUND, "No such thing in Plex.")
    return value
