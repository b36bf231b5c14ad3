"""The Plex plugin's JSON API: the server, libraries, items, collections and images, seen as the person asking.

A person who signed in with Plex browses with their own server token, so Plex shows only what is shared with
them; an admin without a Plex sign-in browses with the owner's token. Answers carry no Plex token and no address
of the Plex server: images go through ``/api/v1/plex/images``, which fetches only image paths of that server.
"""

from __future__ import annotations

import collections
import hashlib
import re
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import quote

from aiohttp import web

from medianest_core.auth.principal import require
from medianest_core.errors import ApiError, ErrorCode
from medianest_core.types import PluginContext, Route
from medianest_core.upstream import AuthFailed, BadResponse, NotFound, UpstreamError
from medianest_plex import login
from medianest_plex.client import Item, Page, PlexServer, Section
from medianest_plex.service import NotConfigured, Plex

IMAGE_PATH: Final = re.compile(r"^/library/(metadata|collections)/\d+/(thumb|art|composite)/\d+$")
SORTS: Final = {"title": "titleSort", "added": "addedAt", "year": "year"}
IMAGE_CACHE_ENTRIES: Final = 512
MAX_IMAGE_BYTES: Final = 5 * 1024 * 1024


def image_url(path: str | None) -> str | None:
    return f"/api/v1/plex/images?path={quote(path, safe='')}" if path and IMAGE_PATH.match(path) else None


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
    }


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
    return ApiError(503, ErrorCode.SERVICE_UNAVAILABLE, "Plex is unavailable just now; try again in a moment.")


class Browse:
    def __init__(self, ctx: PluginContext, get_plex: Callable[[], Plex]) -> None:
        self.ctx = ctx
        self.get_plex = get_plex
        self.images: collections.OrderedDict[tuple[str, str], tuple[bytes, str]] = collections.OrderedDict()

    @property
    def plex(self) -> Plex:
        return self.get_plex()

    async def viewer(self, request: web.Request) -> tuple[PlexServer, str]:
        """The server, and the token to use for the person asking."""
        who = require(request)
        try:
            server, owner_token = self.plex.require()
        except UpstreamError as exc:
            raise failure(exc) from None
        token = await login.browse_token(self.ctx, owner_token, who.user_id, who.is_admin)
        if token is None:
            raise ApiError(403, ErrorCode.FORBIDDEN, "Sign in with Plex to browse its libraries.")
        return server, token

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
        server, token = await self.viewer(request)
        start, size = _paging(request)
        sort_key = request.query.get("sort", "title")
        order = request.query.get("order", "desc" if sort_key == "added" else "asc")
        if sort_key not in SORTS or order not in ("asc", "desc"):
            raise ApiError(400, ErrorCode.BAD_REQUEST, "sort is title, added or year; order is asc or desc.")
        title = request.query.get("title", "").strip()[:100]
        try:
            page = await server.items(
                token, plex_id(request), start=start, size=size, sort=f"{SORTS[sort_key]}:{order}", title=title
            )
        except UpstreamError as exc:
            raise failure(exc) from None
        return _page_doc(page, start, size)

    async def recently_added(self, request: web.Request) -> web.Response:
        server, token = await self.viewer(request)
        _, size = _paging(request, default=20)
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
        server, token = await self.viewer(request)
        start, size = _paging(request)
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
        """A poster or background, fetched from the configured server only, with the person's own token."""
        path = request.query.get("path", "")
        if not IMAGE_PATH.match(path):
            raise ApiError(400, ErrorCode.BAD_REQUEST, "Not an image of this Plex server.")
        server, token = await self.viewer(request)
        key = (hashlib.sha256(token.encode()).hexdigest(), path)
        cached = self.images.get(key)
        if cached is None:
            try:
                body, kind = await server.image(token, path)
            except UpstreamError as exc:
                raise failure(exc) from None
            if not kind.startswith("image/") or len(body) > MAX_IMAGE_BYTES:
                raise ApiError(502, ErrorCode.BAD_GATEWAY, "Plex did not send an image.")
            cached = (body, kind)
            self.images[key] = cached
            while len(self.images) > IMAGE_CACHE_ENTRIES:
                self.images.popitem(last=False)
        else:
            self.images.move_to_end(key)
        body, kind = cached
        return web.Response(body=body, content_type=kind, headers={"Cache-Control": "private, max-age=86400"})

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/server", self.server_info, name="plex-server"),
            Route("GET", "/libraries", self.libraries, name="plex-libraries"),
            Route("GET", "/libraries/{id}/items", self.library_items, name="plex-library-items"),
            Route("GET", "/recently-added", self.recently_added, name="plex-recently-added"),
            Route("GET", "/collections", self.all_collections, name="plex-collections"),
            Route("GET", "/collections/{id}/items", self.collection_items, name="plex-collection-items"),
            Route("GET", "/items/{id}", self.item, name="plex-item"),
            Route("GET", "/images", self.image, name="plex-image"),
        ]


def _page_doc(page: Page, start: int, size: int) -> web.Response:
    return web.json_response(
        {"items": [item_doc(i) for i in page.items], "total": page.total, "offset": start, "limit": size}
    )


def plex_id(request: web.Request) -> str:
    value = request.match_info["id"]
    if not value.isdigit():
        raise ApiError(404, ErrorCode.NOT_FOUND, "No such thing in Plex.")
    return value


def _paging(request: web.Request, default: int = 50) -> tuple[int, int]:
    try:
        offset = int(request.query.get("offset", "0"))
        limit = int(request.query.get("limit", str(default)))
    except ValueError:
        raise ApiError(400, ErrorCode.BAD_REQUEST, "offset and limit are whole numbers.") from None
    if offset < 0 or not 1 <= limit <= 200:
        raise ApiError(400, ErrorCode.BAD_REQUEST, "offset is 0 or more; limit is 1 to 200.")
    return offset, limit
