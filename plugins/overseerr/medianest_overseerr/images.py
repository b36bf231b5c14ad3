"""Posters of requests and of Overseerr's search results: ``GET /api/v1/overseerr/images/{size}/{file}``.

Overseerr gives titles TMDB's poster paths (``/abc.jpg``); MediaNest serves them through the core's image proxy
(:class:`~medianest_core.images.ImageProxy`), fetched from ``<image_url>/<size>/<file>`` without Overseerr's key
(images need none), pictures of at most 2 MiB, four at a time, and kept on disk under
``<data_dir>/overseerr/images`` (``image_cache_mb``) for everyone; the browser caches them for a year.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

import attrs
from aiohttp import web

from medianest_core.images import ImageProxy, ImageStore, image_route, tmdb_file_field
from medianest_core.types import PluginContext, Route

ImageSize = Literal["w185", "w342", "w1280"]
"""The sizes served: posters (``store.POSTER_SIZE``), small posters and cast pictures, and title pages' backdrops;
never TMDB's ``original``."""
SIZES: Final = frozenset(get_args(ImageSize))


@attrs.frozen
class OverseerrImagePath:
    size: ImageSize = attrs.field(metadata={"help": "The size of the poster"})
    file: str = tmdb_file_field("A TMDB image file, as requests' poster addresses give it")


def routes(ctx: PluginContext) -> list[Route]:
    assert ctx.upstreams is not None
    upstream = ctx.upstreams.client("overseerr images", str(ctx.settings.image_url), headers={"Accept": "image/*"})
    proxy = ImageProxy(
        "Overseerr",
        upstream,
        ImageStore.of(ctx, ctx.settings.image_cache_mb),
        sizes=SIZES,
        ready=lambda: bool(ctx.settings.configured),
    )

    async def image(request: web.Request) -> web.StreamResponse:
        """A poster of a request or of a title Overseerr knows, by TMDB's size and file name, kept on disk for
        everyone.

        Anything but the sizes posters use and TMDB's file names is 404; 503 while Overseerr is not set up; the
        answer may be cached by the browser for a year."""
        return await proxy.serve(request)

    return [image_route(image, name="overseerr-image", params=OverseerrImagePath)]
