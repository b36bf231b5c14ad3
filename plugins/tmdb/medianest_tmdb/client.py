"""The client of TMDB's API (version 3), on the core's resilient upstream client.

Answers are structured into the attrs classes below, which keep TMDB's own snake_case names. The key travels as
``?api_key=`` (a v3 key) or the token as ``Authorization: Bearer`` (set on the upstream's session); neither is ever
part of a cache key, a log line or an error's message. Every read goes through :meth:`Upstream.cached`: the same
question, asked by twenty people, is one call to TMDB.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Final, TypeVar

import attrs

from medianest_core.upstream import NotFound, Upstream

T = TypeVar("T")
V = TypeVar("V")

APPEND: Final = "credits,external_ids,videos"
"""What a title's details bring in the same call."""
SEARCH_TTL: Final = 600.0
DETAILS_TTL: Final = 6 * 3600.0
LIST_TTL: Final = 3600.0
PAGE_SIZE: Final = 20
"""How many results a page of TMDB's lists holds."""
MAX_PAGE: Final = 500
"""TMDB answers pages 1 to 500 of a list."""


# ---- answers ------------------------------------------------------------------------------------------------------


@attrs.frozen
class ListItem:
    """A film, a series or a person in a list (search, trending, popular); which one is ``media_type`` (absent in
    lists of one kind)."""

    id: int
    media_type: str | None = None
    title: str | None = None
    original_title: str | None = None
    name: str | None = None
    original_name: str | None = None
    release_date: str | None = None
    first_air_date: str | None = None
    overview: str | None = None
    poster_path: str | None = None
    backdrop_path: str | None = None
    profile_path: str | None = None
    popularity: float | None = None
    vote_average: float | None = None
    adult: bool | None = None


@attrs.frozen
class Paged:
    page: int = 1
    results: list[ListItem] = attrs.field(factory=list)
    total_pages: int = 0
    total_results: int = 0


@attrs.frozen
class Genre:
    id: int | None = None
    name: str | None = None


@attrs.frozen
class CastCredit:
    name: str | None = None
    character: str | None = None
    order: int | None = None
    profile_path: str | None = None


@attrs.frozen
class Credits:
    cast: list[CastCredit] = attrs.field(factory=list)


@attrs.frozen
class ExternalIds:
    imdb_id: str | None = None
    tvdb_id: int | None = None


@attrs.frozen
class Video:
    key: str | None = None
    site: str | None = None
    type: str | None = None
    name: str | None = None
    official: bool | None = None


@attrs.frozen
class Videos:
    results: list[Video] = attrs.field(factory=list)


@attrs.frozen
class Season:
    season_number: int
    name: str | None = None
    episode_count: int | None = None
    air_date: str | None = None
    poster_path: str | None = None


@attrs.frozen
class MovieDetails:
    """``GET /movie/{id}`` with ``append_to_response=credits,external_ids,videos``."""

    id: int
    title: str | None = None
    original_title: str | None = None
    overview: str | None = None
    tagline: str | None = None
    release_date: str | None = None
    runtime: int | None = None
    imdb_id: str | None = None
    genres: list[Genre] = attrs.field(factory=list)
    poster_path: str | None = None
    backdrop_path: str | None = None
    popularity: float | None = None
    vote_average: float | None = None
    adult: bool | None = None
    credits: Credits = Credits()
    external_ids: ExternalIds = ExternalIds()
    videos: Videos = Videos()


@attrs.frozen
class TvDetails:
    """``GET /tv/{id}`` with ``append_to_response=credits,external_ids,videos``."""

    id: int
    name: str | None = None
    original_name: str | None = None
    overview: str | None = None
    tagline: str | None = None
    first_air_date: str | None = None
    episode_run_time: list[int] = attrs.field(factory=list)
    genres: list[Genre] = attrs.field(factory=list)
    seasons: list[Season] = attrs.field(factory=list)
    poster_path: str | None = None
    backdrop_path: str | None = None
    popularity: float | None = None
    vote_average: float | None = None
    adult: bool | None = None
    credits: Credits = Credits()
    external_ids: ExternalIds = ExternalIds()
    videos: Videos = Videos()


@attrs.frozen
class ImageConfiguration:
    base_url: str | None = None
    secure_base_url: str | None = None
    poster_sizes: list[str] = attrs.field(factory=list)
    backdrop_sizes: list[str] = attrs.field(factory=list)
    profile_sizes: list[str] = attrs.field(factory=list)


@attrs.frozen
class Configuration:
    """``GET /configuration``: where images are and in which sizes; asked by checks only."""

    images: ImageConfiguration = ImageConfiguration()
    change_keys: list[str] = attrs.field(factory=list)


# ---- the client ---------------------------------------------------------------------------------------------------


@attrs.frozen
class Asking:
    """How MediaNest asks TMDB: the language of titles and overviews, the region of popular films, and whether
    adult titles are wanted. Part of every cache key through the parameters they become."""

    language: str = "en-US"
    region: str | None = None
    include_adult: bool = False


class TmdbClient:
    """TMDB's API. ``api_key`` is sent as ``?api_key=`` when given: when the upstream carries a read access token
    (its ``Authorization`` header), it is ``None``."""

    def __init__(self, upstream: Upstream, asking: Asking, api_key: str | None = None) -> None:
        self.upstream = upstream
        self.asking = asking
        self._auth = {"api_key": api_key} if api_key else {}

    async def _get(self, path: str, params: Mapping[str, str], cls: type[T], ttl: float) -> T:
        """``GET path`` structured as ``cls``, cached ``ttl`` seconds under the path and the parameters (the key
        left out), one call for every concurrent caller."""

        async def fetch() -> T:
            answer: T = await self.upstream.request("GET", path, params={**params, **self._auth}, expect=cls)
            return answer

        return await self._cached(path, params, ttl, fetch)

    async def _find(self, path: str, params: Mapping[str, str], cls: type[T], ttl: float) -> T | None:
        """Like :meth:`_get`, but ``None`` when TMDB has no such thing (404), kept as long as an answer: asking
        again for an id TMDB does not know is not another call to TMDB."""

        async def fetch() -> T | None:
            try:
                answer: T = await self.upstream.request("GET", path, params={**params, **self._auth}, expect=cls)
            except NotFound:
                return None
            return answer

        return await self._cached(path, params, ttl, fetch)

    async def _cached(self, path: str, params: Mapping[str, str], ttl: float, fetch: Callable[[], Awaitable[V]]) -> V:
        key = ("tmdb", path, tuple(sorted(params.items())))
        fetched = await self.upstream.cached(key, ttl, fetch)
        return fetched.value

    def _language(self) -> dict[str, str]:
        return {"language": self.asking.language}

    async def search_multi(self, text: str, page: int = 1) -> Paged:
        """Films, series and people whose title or name matches ``text``."""
        params = {
            "query": text,
            "page": str(page),
            "include_adult": "true" if self.asking.include_adult else "false",
            **self._language(),
        }
        return await self._get("/search/multi", params, Paged, SEARCH_TTL)

    async def movie(self, tmdb_id: int) -> MovieDetails | None:
        """A film with its credits, external ids and videos, in one call; ``None`` for an id TMDB does not know
        (kept as long as details are)."""
        return await self._find(f"/movie/{tmdb_id}", self._details_params(), MovieDetails, DETAILS_TTL)

    async def tv(self, tmdb_id: int) -> TvDetails | None:
        """A series with its seasons, credits, external ids and videos, in one call; ``None`` for an unknown id."""
        return await self._find(f"/tv/{tmdb_id}", self._details_params(), TvDetails, DETAILS_TTL)

    def _details_params(self) -> dict[str, str]:
        # Videos follow ``language``; trailers in English or in no language are worth having too.
        prefix = self.asking.language.split("-", 1)[0]
        videos = ",".join(dict.fromkeys((prefix, "en", "null")))
        return {"append_to_response": APPEND, "include_video_language": videos, **self._language()}

    async def trending(self, page: int = 1) -> Paged:
        """This week's trending films, series and people."""
        params = {"page": str(page), **self._language()}
        return await self._get("/trending/all/week", params, Paged, LIST_TTL)

    async def popular_movies(self, page: int = 1) -> Paged:
        params: dict[str, str] = {"page": str(page), **self._language()}
        if self.asking.region is not None:
            params["region"] = self.asking.region
        return await self._get("/movie/popular", params, Paged, LIST_TTL)

    async def popular_tv(self, page: int = 1) -> Paged:
        params = {"page": str(page), **self._language()}
        return await self._get("/tv/popular", params, Paged, LIST_TTL)

    async def configuration(self) -> Configuration:
        """Asked afresh each time (no cache): it is how the checks see that TMDB answers and takes the key."""
        answer: Configuration = await self.upstream.request(
            "GET", "/configuration", params=dict(self._auth), expect=Configuration
        )
        return answer


def tmdb_headers(token: str | None) -> dict[str, str]:
    """The headers of every call to TMDB's API: JSON, and the read access token when there is one."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers
