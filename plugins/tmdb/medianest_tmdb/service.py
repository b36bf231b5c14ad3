"""The TMDB plugin's connection to TMDB, made once per process at start-up when a key or a token is set: search,
title pages' details, Discover rows and the images they show."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

from medianest_core.images import ImageProxy, ImageStore
from medianest_core.types import DiscoveryQuery, PluginContext, SearchQuery, Title, TitleKind, TitleQuery
from medianest_core.upstream import Unavailable, Upstream
from medianest_tmdb import titles
from medianest_tmdb.client import MAX_PAGE, PAGE_SIZE, Asking, Paged, TmdbClient, tmdb_headers

if TYPE_CHECKING:
    from medianest_tmdb import TmdbSettings

MAX_PAGES: Final = 3
"""The most pages of one list asked for one answer (60 titles)."""
TMDB_ID_MAX: Final = 2**31 - 1


class NotSetUp(Unavailable):
    """``[plugins.tmdb]`` has neither a key nor a token."""


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
        self.images = ImageProxy(
            "TMDB",
            self.image_upstream,
            ImageStore.of(ctx, settings.image_cache_mb),
            sizes=titles.SIZES,
            prefix="/t/p",
        )
        """TMDB's images, ``<image_url>/t/p/<size>/<file>``, kept under ``<data_dir>/tmdb/images``."""

    # ---- titles -------------------------------------------------------------------------------------------------

    async def _titles(self, fetch: Callable[[int], Awaitable[Paged]], limit: int, kind: str | None) -> list[Title]:
        """Up to ``limit`` films and series of a paged list, each once, from as few pages as ``limit`` needs."""
        pages = max(1, min(MAX_PAGES, math.ceil(limit / PAGE_SIZE)))
        found: list[Title] = []
        seen: set[tuple[str, int | None]] = set()
        for page in range(1, pages + 1):
            answer = await fetch(page)
            for item in answer.results:
                if not self._shown(item.adult):
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
        """A film's or a series' details, or ``None`` when TMDB does not know the id, or when it is an adult title
        and ``include_adult`` is off."""
        if not 1 <= query.tmdb_id <= TMDB_ID_MAX:
            return None
        if query.kind is TitleKind.MOVIE:
            movie = await self.client.movie(query.tmdb_id)
            return titles.movie_title(movie) if movie is not None and self._shown(movie.adult) else None
        tv = await self.client.tv(query.tmdb_id)
        return titles.tv_title(tv) if tv is not None and self._shown(tv.adult) else None

    def _shown(self, adult: bool | None) -> bool:
        return not adult or self.include_adult

    async def trending(self, query: DiscoveryQuery) -> list[Title]:
        return await self._titles(self.client.trending, query.limit, None)

    async def popular_films(self, query: DiscoveryQuery) -> list[Title]:
        return await self._titles(self.client.popular_movies, query.limit, TitleKind.MOVIE.value)

    async def popular_series(self, query: DiscoveryQuery) -> list[Title]:
        return await self._titles(self.client.popular_tv, query.limit, TitleKind.TV.value)

    async def close(self) -> None:
        """Stop the image fetches in progress."""
        await self.images.close()
