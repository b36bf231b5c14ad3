"""The TMDB plugin's JSON API: its image proxy, ``GET /api/v1/tmdb/images/{size}/{file}``.

Titles from TMDB carry these addresses as their posters, backdrops and cast pictures. The proxy (the core's
:class:`~medianest_core.images.ImageProxy`) fetches only ``<image_url>/t/p/<size>/<file>``, for the sizes titles
link to and TMDB's file names, pictures of at most 2 MiB, four at a time, without the key (images need none), and
keeps what it fetched on disk for everyone; the browser caches it for a year, since TMDB gives a changed image a
new file name.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
from aiohttp import web

from medianest_core.images import image_route, not_set_up, tmdb_file_field
from medianest_core.types import Route
from medianest_tmdb.service import NotSetUp, Tmdb
from medianest_tmdb.titles import ImageSize


@attrs.frozen
class TmdbImagePath:
    size: ImageSize = attrs.field(metadata={"help": "The size of posters, backdrops or profile pictures titles give"})
    file: str = tmdb_file_field("A TMDB image file, as titles' image addresses give it")


def routes(service: Callable[[], Tmdb]) -> list[Route]:
    async def image(request: web.Request) -> web.StreamResponse:
        """A TMDB poster, backdrop or profile picture, by TMDB's size and file name, kept on disk for everyone.

        Anything but the sizes titles link to and TMDB's file names is 404; the answer may be cached by the
        browser for a year."""
        try:
            found = service()
        except NotSetUp:
            raise not_set_up("TMDB") from None
        return await found.images.serve(request)

    return [image_route(image, name="tmdb-image", params=TmdbImagePath)]
