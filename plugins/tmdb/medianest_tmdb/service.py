"""The TMDB plugin's connection to TMDB, made once per process at start-up when a key or a token is set: search,
title pages' details, Discover rows and the images they show."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

from medianest_core.types import DiscoveryQuery, PluginContext, SearchQuery, Title, TitleKind, TitleQuery
from medianest_core.upstream import BadResponse, NotFound, Unavailable, Upstream
from medianest_tmdb import titles
from medianest_tmdb.client import MAX_PAGE, PAGE_SIZE, Asking, Paged, TmdbClient, tmdb_headers
from medianest_tmdb.images import MAX_IMAGE_BYTES, MB, ImageStore, StoredImage, image_type

if TYPE_CHECKING:
    from medianest_tmdb import TmdbSettings

MAX_PAGES: Final = 3
"""The most pages of one list asked for one answer (60 titles)."""
TMDB_ID_MAX: Final = 2**31 - 1


class NotSetUp(Unavailable):
    """``[plugins.tmdb]`` has neither a key nor a token."""


class NotAnImage(BadResponse):
    """The image host answered something that is not a picture MediaNest serves."""


def upstreams(
    ctx: PluginContext, settings: TmdbSettings, *, pooled: bool = True
) -> tuple[Upstream, TmdbClient, Upstream]:
    """The API's upstream and client, and the image host's upstream (which never sees the key), for ``settings``:
    from the core's pool (closed at shutdown), or made for a moment (``pooled=False``; the caller closes them)."""
    assert ctx.upstreams is not None
    pool = ctx.upstreams
    token = settings.read_access_token.get_secret_value() if settings.read_access_token else None
    key = None if token else (settings.api_key.get_secret_value() if settings.api_key else None)

    def make(service: str, url: str, headers: dict[str, str], secrets: list[str]) -> Upstream:
        if pooled:
            return pool.client(service, url, headers=headers, secrets=secrets)
        return Upstream(service, url, headers=headers, secrets=secrets, config=pool.config)

    api = make("tmdb", str(settings.api_url), tmdb_headers(token), [s for s in (token, key) if s])
    images = make("tmdb images", str(settings.image_url), {"Accept": "image/*"}, [])
    asking = Asking(language=settings.language, region=settings.region, include_adult=settings.include_adult)
    return api, TmdbClient(api, asking, api_key=key), images


class Tmdb:
    """TMDB for one MediaNest: its client (answers cached for everyone) and its image cache."""

    def __init__(self, ctx: PluginContext, settings: TmdbSettings) -> None:
        self.ctx = ctx
        self.include_adult: bool = settings.include_adult
        self.upstream, self.client, self.image_upstream = upstreams(ctx, settings)
        self.images = ImageStore(ctx.data_dir / "tmdb" / "images", int(settings.image_cache_mb * MB))
        self._pending: dict[tuple[str, str], asyncio.Task[StoredImage]] = {}

    # ---- titles -------------------------------------------------------------------------------------------------

    async def _titles(self, fetch: Callable[[int], Awaitable[Paged]], limit: int, kind: str | None) -> list[Title]:
        """Up to ``limit`` films and series of a paged list, each once, from as few pages as ``limit`` needs."""
        pages = max(1, min(MAX_PAGES, math.ceil(limit / PAGE_SIZE)))
        found: list[Title] = []
        seen: set[tuple[str, int | None]] = set()
        for page in range(1, pages + 1):
            answer = await fetch(page)
            for item in answer.results:
                if item.adult and not self.include_adult:
                    continue
                title = titles.list_title(item, kind)
                if title is None or (title.kind, title.ids.tmdb) in seen:
                    continue
                seen.add((title.kind, title.ids.tmdb))
                found.append(title)
            if len(found) >= limit or page >= min(answer.total_pages, MAX_PAGE):
                break
        return found[:limit]

    async def search(self, query: SearchQuery) -> list[Title]:
        """Films and series whose title matches; people are left out. The text is asked in one spelling (spaces
        collapsed, lower case: TMDB's search ignores case), so one cached answer serves every spelling."""
        text = " ".join(query.text.split()).lower()
        if not text:
            return []
        return await self._titles(lambda page: self.client.search_multi(text, page), query.limit, None)

    async def details(self, query: TitleQuery) -> Title | None:
        """A film's or a series' details, or ``None`` when TMDB does not know the id."""
        if not 1 <= query.tmdb_id <= TMDB_ID_MAX:
            return None
        try:
            if query.kind is TitleKind.MOVIE:
                return titles.movie_title(await self.client.movie(query.tmdb_id))
            return titles.tv_title(await self.client.tv(query.tmdb_id))
        except NotFound:
            return None

    async def trending(self, query: DiscoveryQuery) -> list[Title]:
        return await self._titles(self.client.trending, query.limit, None)

    async def popular_films(self, query: DiscoveryQuery) -> list[Title]:
        return await self._titles(self.client.popular_movies, query.limit, TitleKind.MOVIE.value)

    async def popular_series(self, query: DiscoveryQuery) -> list[Title]:
        return await self._titles(self.client.popular_tv, query.limit, TitleKind.TV.value)

    # ---- images -------------------------------------------------------------------------------------------------

    async def image(self, size: str, file: str) -> StoredImage:
        """An image of TMDB (``size`` and ``file`` checked by the route), from the disk cache or fetched from
        ``<image_url>/t/p/<size>/<file>`` and kept; concurrent requests for one image share one look and one
        fetch. :class:`NotFound` when the host has no such image, :class:`NotAnImage` when it answers something
        else than a picture of at most 10 MiB."""
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
        kept = await self.images.get(size, file)
        if kept is not None:
            return kept
        body, content_type = await self.image_upstream.fetch_bytes(f"/t/p/{size}/{file}")
        kind = image_type(content_type)
        if kind is None:
            raise NotAnImage(self.image_upstream.service, f"/t/p/{size}/{file} is not a picture ({content_type})")
        if len(body) > MAX_IMAGE_BYTES:
            raise NotAnImage(self.image_upstream.service, f"/t/p/{size}/{file} is larger than 10 MiB")
        image = StoredImage(body, kind)
        await self.images.put(size, file, image)
        return image

    async def close(self) -> None:
        """Stop the image fetches in progress."""
        tasks = list(self._pending.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
