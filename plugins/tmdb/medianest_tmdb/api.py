"""The TMDB plugin's JSON API: its image proxy, ``GET /api/v1/tmdb/images/{size}/{file}``.

Titles from TMDB carry these addresses as their posters, backdrops and cast pictures. The proxy fetches only
``<image_url>/t/p/<size>/<file>``, for the sizes titles link to and TMDB's file names, pictures of at most 2 MiB,
four at a time, without the key (images need none), and keeps what it fetched on disk for everyone; the browser
caches it for a year, since TMDB gives a changed image a new file name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import attrs
from aiohttp import web

from medianest_core.errors import ApiError, ErrorCode
from medianest_core.schema import END, field
from medianest_core.types import Route
from medianest_core.upstream import BadResponse, DeadlineExceeded, NotFound, UpstreamError
from medianest_tmdb.service import NotSetUp, Tmdb
from medianest_tmdb.titles import FILE, FILE_PATTERN, SIZES, ImageSize

CACHE_FOREVER: Final = "public, max-age=31536000, immutable"
IMAGE_ERRORS: Final = (404, 502, 503)


@attrs.frozen
class TmdbImagePath:
    size: ImageSize = attrs.field(metadata={"help": "The size of posters, backdrops or profile pictures titles give"})
    file: str = field(
        max_length=104,
        pattern="^" + FILE_PATTERN + END,
        description="A TMDB image file, as titles' image addresses give it",
    )


def failure(exc: UpstreamError) -> ApiError:
    """What the browser is told when TMDB's image host fails: never the error's text."""
    if isinstance(exc, NotSetUp):
        return ApiError(503, ErrorCode.SERVICE_UNAVAILABLE, "TMDB is not set up.")
    if isinstance(exc, NotFound):
        return ApiError(404, ErrorCode.NOT_FOUND, "TMDB has no such image.")
    if isinstance(exc, BadResponse):
        return ApiError(502, ErrorCode.BAD_GATEWAY, "TMDB did not send an image.")
    if isinstance(exc, DeadlineExceeded):
        return ApiError(503, ErrorCode.SERVICE_UNAVAILABLE, f"TMDB did not answer within {exc.seconds:g} s.")
    return ApiError(503, ErrorCode.SERVICE_UNAVAILABLE, "TMDB's images are unavailable just now; try again soon.")


def routes(service: Callable[[], Tmdb]) -> list[Route]:
    async def image(request: web.Request) -> web.StreamResponse:
        """A TMDB poster, backdrop or profile picture, by TMDB's size and file name, kept on disk for everyone.

        Anything but the sizes titles link to and TMDB's file names is 404; the answer may be cached by the
        browser for a year."""
        size, file = request.match_info["size"], request.match_info["file"]
        if size not in SIZES or FILE.fullmatch(file) is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, "No such TMDB image.")
        try:
            found = await service().image(size, file)
        except UpstreamError as exc:
            raise failure(exc) from None
        return web.Response(body=found.body, content_type=found.content_type, headers={"Cache-Control": CACHE_FOREVER})

    return [
        Route(
            "GET",
            "/images/{size}/{file}",
            image,
            name="tmdb-image",
            params=TmdbImagePath,
            media="image/*",
            errors=IMAGE_ERRORS,
        )
    ]
