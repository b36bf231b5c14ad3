"""A fake of TMDB's API (version 3) and of its image host, served by aiohttp on 127.0.0.1, for tests, benchmarks and
plugin authors.

It answers like the real service as its documentation describes it: a v3 key as ``?api_key=`` or a read access
token as ``Authorization: Bearer``; errors as ``{"status_code", "status_message", "success": false}`` (7: a bad key,
401; 34: no such thing, 404; 22: a bad page, 400; 25: too many requests, 429 with ``Retry-After``); lists paged as
``{page, results, total_pages, total_results}`` with 20 results a page and pages 1 to 500; ``/search/multi`` (films,
series and people, matched without regard to case on their titles and original titles), ``/movie/{id}`` and
``/tv/{id}`` with ``append_to_response`` (``credits``, ``external_ids``, ``videos``), ``/trending/{type}/{window}``,
``/movie/popular``, ``/tv/popular`` and ``/configuration``. The API is under ``/3`` (:attr:`FakeTmdb.api_url`), the
images under ``/t/p/<size>/<file>`` (:attr:`FakeTmdb.image_url`), with no key.

Usage::

    fake = FakeTmdb()
    fake.add_movie("Heat", year=1995, cast=[("Al Pacino", "Vincent Hanna")], trailer="abc123")
    await fake.start()
    settings = {"api_key": fake.api_key, "api_url": fake.api_url, "image_url": fake.image_url}
    ...
    await fake.stop()
"""

from __future__ import annotations

import asyncio
import collections
import functools
import itertools
import math
import re
import secrets
import struct
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import attrs
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from medianest_core.fakes import FakeServer

__all__ = [
    "BACKDROP_SIZES",
    "POSTER_SIZES",
    "PROFILE_SIZES",
    "FakeCall",
    "FakeSeason",
    "FakeTmdb",
    "FakeVideo",
    "Sample",
    "jpeg_bytes",
    "png_bytes",
]

POSTER_SIZES: Final = ("w92", "w154", "w185", "w342", "w500", "w780", "original")
BACKDROP_SIZES: Final = ("w300", "w780", "w1280", "original")
PROFILE_SIZES: Final = ("w45", "w185", "h632", "original")
_LOGO_SIZES: Final = ("w45", "w92", "w154", "w185", "w300", "w500", "original")
_STILL_SIZES: Final = ("w92", "w185", "w300", "original")
_IMAGE_SIZES: Final = frozenset((*POSTER_SIZES, *BACKDROP_SIZES, *PROFILE_SIZES, *_LOGO_SIZES, *_STILL_SIZES))
_PAGE_SIZE: Final = 20
_MAX_PAGE: Final = 500
_NO_KEY: Final = (7, "Invalid API key: You must be granted a valid key.")
_NOT_FOUND: Final = (34, "The resource you requested could not be found.")
_BAD_PAGE: Final = (22, "Invalid page: Pages start at 1 and max at 500. They are expected to be an integer.")
_TOO_MANY: Final = (25, "Your request count (#) is over the allowed limit of (40).")
_GENRES: Final = {
    "Action": 28,
    "Adventure": 12,
    "Animation": 16,
    "Comedy": 35,
    "Crime": 80,
    "Documentary": 99,
    "Drama": 18,
    "Family": 10751,
    "Fantasy": 14,
    "Horror": 27,
    "Mystery": 9648,
    "Romance": 10749,
    "Science Fiction": 878,
    "Thriller": 53,
    "Western": 37,
}


# ---- tiny images --------------------------------------------------------------------------------------------------


@functools.cache
def png_bytes() -> bytes:
    """A valid 2x3 PNG built by hand: signature, IHDR, one zlib IDAT, IEND."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = (b"\x00" + b"\x01\xb4\xe4" * 2) * 3  # each row: filter type 0, then two teal pixels
    header = struct.pack(">IIBBBBB", 2, 3, 8, 2, 0, 0, 0)  # 8 bits per channel, truecolour, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@functools.cache
def jpeg_bytes() -> bytes:
    """A valid 8x8 grey baseline JPEG built by hand: one component, one block whose coefficients are all zero,
    each Huffman table holding one code of one bit."""

    def segment(marker: int, data: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(data) + 2) + data

    quantisation = segment(0xDB, b"\x00" + b"\x01" * 64)
    frame = segment(0xC0, struct.pack(">BHHB", 8, 8, 8, 1) + b"\x01\x11\x00")  # 8 bits, 8x8, component 1
    counts = b"\x01" + b"\x00" * 15  # one code of length 1
    dc_table = segment(0xC4, b"\x00" + counts + b"\x00")  # DC table 0: the only symbol is category 0
    ac_table = segment(0xC4, b"\x10" + counts + b"\x00")  # AC table 0: the only symbol is end-of-block
    scan = segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")  # component 1 with tables 0/0, spectral 0-63
    entropy = b"\x3f"  # bits 0 (DC difference 0) and 0 (end of block), padded with ones
    return b"\xff\xd8" + quantisation + frame + dc_table + ac_table + scan + entropy + b"\xff\xd9"


# ---- what the fake knows ------------------------------------------------------------------------------------------


@attrs.frozen
class FakeCall:
    """A request the fake received: ``at`` is when it arrived (``time.monotonic()``)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float


@attrs.frozen
class FakeVideo:
    """A video of a title, as TMDB lists it; ``language`` is its ``iso_639_1`` (``None``: no language)."""

    key: str
    type: str = "Trailer"
    site: str = "YouTube"
    name: str = "Official Trailer"
    official: bool = True
    language: str | None = "en"


@attrs.frozen
class FakeSeason:
    number: int
    episodes: int
    name: str | None = None
    air_date: str | None = None
    poster_path: str | None = None


def _image_name(prefix: str, number: int, suffix: str = ".jpg") -> str:
    return f"/{prefix}{number:05d}{secrets.token_hex(4)}{suffix}"


def _error(status: int, problem: tuple[int, str], headers: Mapping[str, str] | None = None) -> web.Response:
    code, message = problem
    body = {"status_code": code, "status_message": message, "success": False}
    return web.json_response(body, status=status, headers=headers)


class Sample:
    """The ids of the titles of :meth:`FakeTmdb.add_sample`."""

    MATRIX: Final = 603
    """The film "The Matrix"; the series "The Matrix Files" has the same id."""
    BREAKING_BAD: Final = 1396
    AMELIE: Final = 194
    LEON: Final = 101
    SPIRITED_AWAY: Final = 129


class FakeTmdb(FakeServer):
    """TMDB's API under ``/3`` and its image host under ``/t/p/``, in one aiohttp app on 127.0.0.1.

    Switches: :attr:`rate_limited` answers that many of the next API requests with 429 (code 25) and
    ``Retry-After: <retry_after>``; :attr:`hang` accepts every request and never answers (until :meth:`stop`);
    :attr:`hold_images` holds image requests until :meth:`release_images`, counting how many are held at once.
    Every request is recorded in :attr:`calls` and counted by path (:meth:`count`)."""

    def __init__(self, *, api_key: str | None = None, token: str | None = None) -> None:
        super().__init__()
        self.api_key = api_key or secrets.token_hex(16)
        """The v3 key TMDB takes as ``?api_key=``."""
        self.token = token or "eyJhbGciOiJIUzI1NiJ9." + secrets.token_urlsafe(48)
        """The read access token TMDB takes as ``Authorization: Bearer``."""
        self.hang = False
        """When true every request is accepted and never answered (until :meth:`stop`)."""
        self.rate_limited = 0
        """How many of the next API requests are answered 429 (then they are answered again)."""
        self.retry_after = "1"
        """The ``Retry-After`` of a 429."""
        self.calls: list[FakeCall] = []
        """Every request received, in order (the key included: it is a fake)."""
        self.counts: collections.Counter[str] = collections.Counter()
        """How many requests each path received."""
        self.images: dict[str, tuple[bytes, str]] = {}
        """Image file name (``abc.jpg``) -> body and content type, served at ``/t/p/<size>/<file>``."""
        self.hold_images = False
        """When true image requests wait, unanswered, until :meth:`release_images` (or :meth:`stop`)."""
        self.images_held = 0
        """How many image requests are held now."""
        self.most_images_held = 0
        """The most image requests held at once."""
        self._images_released = asyncio.Event()
        self._held_changed = asyncio.Condition()
        self._movies: dict[int, dict[str, Any]] = {}
        self._tv: dict[int, dict[str, Any]] = {}
        self._people: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(1001)  # films, series and people without an id of their own
        self._other_ids = itertools.count(5_000_001)  # cast members and seasons

    # -- lifecycle ---------------------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """What ``[plugins.tmdb] api_url`` is set to."""
        return f"{self.url}/3"

    @property
    def image_url(self) -> str:
        """What ``[plugins.tmdb] image_url`` is set to."""
        return self.url

    def routes(self, app: web.Application) -> None:
        app.add_routes(
            [
                web.get("/3/configuration", self._configuration),
                web.get("/3/search/multi", self._search_multi),
                web.get("/3/movie/popular", self._popular_movies),
                web.get("/3/tv/popular", self._popular_tv),
                web.get("/3/movie/{id}", self._movie),
                web.get("/3/tv/{id}", self._tv_details),
                web.get("/3/trending/{media_type}/{time_window}", self._trending),
                web.get("/t/p/{size}/{file}", self._image),
            ]
        )

    def middlewares(self) -> list[Middleware]:
        return [self._middleware]

    async def stopping(self) -> None:
        self.release_images()

    def movie(self, tmdb_id: int) -> dict[str, Any]:
        """What the fake holds of a film (its poster path, its cast with their pictures, …)."""
        return self._movies[tmdb_id]

    def tv(self, tmdb_id: int) -> dict[str, Any]:
        """What the fake holds of a series."""
        return self._tv[tmdb_id]

    def release_images(self) -> None:
        """Answer the image requests held, and hold no more."""
        self.hold_images = False
        released, self._images_released = self._images_released, asyncio.Event()
        released.set()

    async def wait_for_held_images(self, count: int) -> None:
        """Return once at least ``count`` image requests are held at once."""
        async with self._held_changed:
            await self._held_changed.wait_for(lambda: self.images_held >= count)

    def count(self, path: str) -> int:
        """How many requests ``path`` (``/3/search/multi``, ``/t/p/w342/abc.jpg``) received."""
        return self.counts[path]

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.calls.append(
            FakeCall(request.method, request.path, dict(request.query), dict(request.headers), time.monotonic())
        )
        self.counts[request.path] += 1
        if self.hang:
            await self.hold(request)
        if not request.path.startswith("/3/"):
            return await handler(request)  # the image host takes no key
        if self.rate_limited > 0:
            self.rate_limited -= 1
            return _error(429, _TOO_MANY, {"Retry-After": self.retry_after})
        bearer = request.headers.get("Authorization", "")
        if request.query.get("api_key") != self.api_key and bearer != f"Bearer {self.token}":
            return _error(401, _NO_KEY)
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return _error(404, _NOT_FOUND)

    # -- data set-up -------------------------------------------------------------------------------------------

    def add_sample(self) -> FakeTmdb:
        """A small catalogue for tests and demonstrations (ids in :class:`Sample`): films and series that share
        words ("matrix"), a series with the id of a film, people, a film without a poster and with a backdrop path
        that is not TMDB's, titles in other scripts and languages, a film without a release date, fifteen cast
        members and several videos of which one official YouTube trailer, a series with specials and seasons, and
        an adult film."""
        self.add_movie(
            "The Matrix",
            id=Sample.MATRIX,
            year=1999,
            overview="A hacker learns what the world is.",
            tagline="Welcome to the Real World.",
            runtime=136,
            genres=["Action", "Science Fiction"],
            popularity=80.5,
            vote_average=8.2,
            imdb_id="tt0133093",
            cast=[(f"Actor {n:02d}", f"Role {n:02d}") for n in range(1, 16)],
            videos=[
                FakeVideo("teaser01", type="Teaser"),
                FakeVideo("fanmade1", official=False),
                FakeVideo("vimeo001", site="Vimeo"),
                FakeVideo("bad key with spaces"),
                FakeVideo("official1"),
                FakeVideo("german01", language="de"),
            ],
        )
        self.add_movie("The Matrix Reloaded", year=2003, popularity=40.0, imdb_id="tt0234215")
        self.add_tv("The Matrix Files", id=Sample.MATRIX, year=2001, popularity=3.0)  # a series with the id of a film
        self.add_movie("Matrix Unrated", year=2001, adult=True, popularity=90.0)
        self.add_tv(
            "Breaking Bad",
            id=Sample.BREAKING_BAD,
            year=2008,
            overview="A chemistry teacher turns to crime.",
            episode_run_time=[0, 47, 45],
            seasons=[
                FakeSeason(0, 9, name="Specials"),
                FakeSeason(1, 7, air_date="2008-01-20", poster_path="/s1poster.jpg"),
                FakeSeason(2, 13, air_date="2009-03-08"),
            ],
            genres=["Drama", "Crime"],
            popularity=200.0,
            vote_average=8.9,
            tvdb_id=81189,
            imdb_id="tt0903747",
            cast=[("Bryan Cranston", "Walter White"), ("Aaron Paul", "Jesse Pinkman")],
            trailer="HhesaQXLuRY",
        )
        self.add_movie(
            "Amélie",
            id=Sample.AMELIE,
            year=2001,
            original_title="Le Fabuleux Destin d'Amélie Poulain",
            poster_path=None,
            backdrop_path="/not a tmdb path.jpg",
            popularity=20.0,
            titles={"de-DE": "Die fabelhafte Welt der Amélie"},
        )
        self.add_movie("Léon", id=Sample.LEON, release_date="", popularity=15.0)
        self.add_movie(
            "Spirited Away", id=Sample.SPIRITED_AWAY, year=2001, original_title="千と千尋の神隠し", popularity=30.0
        )
        self.add_person("Keanu Reeves", popularity=500.0)
        self.add_person("Matrix Person", popularity=1.0)
        return self

    def _new_id(self, given: int | None) -> int:
        return given if given is not None else next(self._ids)

    def _keep_image(self, path: str | None) -> None:
        if path and re.fullmatch(r"/[A-Za-z0-9_-]+\.(jpg|png)", path):
            self.add_image(path[1:])

    def add_image(self, file: str, body: bytes | None = None, content_type: str | None = None) -> None:
        """Serve ``body`` (a tiny picture of the file's kind by default) at ``/t/p/<any size>/<file>``."""
        png = file.endswith(".png")
        if body is None:
            body = png_bytes() if png else jpeg_bytes()
        self.images[file] = (body, content_type or ("image/png" if png else "image/jpeg"))

    def add_movie(
        self,
        title: str,
        *,
        id: int | None = None,
        year: int | None = None,
        release_date: str | None = None,
        original_title: str | None = None,
        overview: str = "",
        tagline: str = "",
        runtime: int | None = 0,
        genres: Sequence[str] = (),
        popularity: float = 10.0,
        vote_average: float = 7.0,
        poster_path: str | bool | None = True,
        backdrop_path: str | bool | None = True,
        imdb_id: str | None = None,
        cast: Iterable[tuple[str, str]] = (),
        videos: Iterable[FakeVideo] = (),
        trailer: str | None = None,
        adult: bool = False,
        titles: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """A film; ``poster_path``/``backdrop_path`` true for a made-up image (served), ``None`` for none; ``cast``
        as (name, character) in billing order; ``trailer`` a YouTube key for an official trailer; ``titles`` its
        title by language (``{"de-DE": "…"}``)."""
        tmdb_id = self._new_id(id)
        movie = self._title_record(tmdb_id, "movie", poster_path, backdrop_path, popularity, vote_average, adult)
        movie |= {
            "title": title,
            "original_title": original_title or title,
            "release_date": release_date if release_date is not None else (f"{year}-06-15" if year else ""),
            "overview": overview,
            "tagline": tagline,
            "runtime": runtime,
            "imdb_id": imdb_id,
            "status": "Released",
            "budget": 0,
            "revenue": 0,
            "homepage": "",
            "video": False,
            "belongs_to_collection": None,
            "production_companies": [],
            "production_countries": [{"iso_3166_1": "US", "name": "United States of America"}],
            "spoken_languages": [{"iso_639_1": "en", "name": "English"}],
        }
        self._add_details(movie, genres, cast, videos, trailer, {"imdb_id": imdb_id, "tvdb_id": None})
        movie["_titles"] = dict(titles or {})
        self._movies[tmdb_id] = movie
        return movie

    def add_tv(
        self,
        name: str,
        *,
        id: int | None = None,
        year: int | None = None,
        first_air_date: str | None = None,
        original_name: str | None = None,
        overview: str = "",
        tagline: str = "",
        episode_run_time: Sequence[int] = (),
        seasons: Sequence[FakeSeason] | int = 1,
        genres: Sequence[str] = (),
        popularity: float = 10.0,
        vote_average: float = 7.0,
        poster_path: str | bool | None = True,
        backdrop_path: str | bool | None = True,
        tvdb_id: int | None = None,
        imdb_id: str | None = None,
        cast: Iterable[tuple[str, str]] = (),
        videos: Iterable[FakeVideo] = (),
        trailer: str | None = None,
        adult: bool = False,
        titles: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """A series; ``seasons`` a number of ten-episode seasons or their list."""
        tmdb_id = self._new_id(id)
        air_date = first_air_date if first_air_date is not None else (f"{year}-09-01" if year else "")
        if isinstance(seasons, int):
            seasons = [FakeSeason(n, 10, air_date=air_date or None) for n in range(1, seasons + 1)]
        show = self._title_record(tmdb_id, "tv", poster_path, backdrop_path, popularity, vote_average, adult)
        season_docs = []
        for season in seasons:
            self._keep_image(season.poster_path)
            season_docs.append(
                {
                    "id": next(self._other_ids),
                    "air_date": season.air_date,
                    "episode_count": season.episodes,
                    "name": season.name or (f"Season {season.number}" if season.number else "Specials"),
                    "overview": "",
                    "poster_path": season.poster_path,
                    "season_number": season.number,
                    "vote_average": 0.0,
                }
            )
        numbered = [s for s in seasons if s.number > 0]
        show |= {
            "name": name,
            "original_name": original_name or name,
            "first_air_date": air_date,
            "last_air_date": air_date,
            "overview": overview,
            "tagline": tagline,
            "episode_run_time": list(episode_run_time),
            "number_of_seasons": len(numbered),
            "number_of_episodes": sum(s.episodes for s in numbered),
            "seasons": season_docs,
            "status": "Returning Series",
            "type": "Scripted",
            "in_production": True,
            "networks": [],
            "created_by": [],
            "languages": ["en"],
            "origin_country": ["US"],
            "last_episode_to_air": None,
            "next_episode_to_air": None,
        }
        self._add_details(show, genres, cast, videos, trailer, {"imdb_id": imdb_id, "tvdb_id": tvdb_id})
        show["_titles"] = dict(titles or {})
        self._tv[tmdb_id] = show
        return show

    def add_person(self, name: str, *, id: int | None = None, popularity: float = 5.0) -> dict[str, Any]:
        """Someone TMDB's search finds by name."""
        tmdb_id = self._new_id(id)
        person = {
            "id": tmdb_id,
            "media_type": "person",
            "name": name,
            "original_name": name,
            "popularity": popularity,
            "profile_path": None,
            "adult": False,
            "gender": 0,
            "known_for_department": "Acting",
            "known_for": [],
        }
        self._people[tmdb_id] = person
        return person

    def _title_record(
        self,
        tmdb_id: int,
        kind: str,
        poster_path: str | bool | None,
        backdrop_path: str | bool | None,
        popularity: float,
        vote_average: float,
        adult: bool,
    ) -> dict[str, Any]:
        poster = _image_name("p", tmdb_id) if poster_path is True else (poster_path or None)
        backdrop = _image_name("b", tmdb_id) if backdrop_path is True else (backdrop_path or None)
        self._keep_image(poster)
        self._keep_image(backdrop)
        return {
            "id": tmdb_id,
            "_kind": kind,
            "poster_path": poster,
            "backdrop_path": backdrop,
            "popularity": popularity,
            "vote_average": vote_average,
            "vote_count": 100,
            "adult": adult,
            "original_language": "en",
        }

    def _add_details(
        self,
        record: dict[str, Any],
        genres: Sequence[str],
        cast: Iterable[tuple[str, str]],
        videos: Iterable[FakeVideo],
        trailer: str | None,
        external: dict[str, Any],
    ) -> None:
        record["genres"] = [{"id": _GENRES.get(name, 10000 + n), "name": name} for n, name in enumerate(genres)]
        members = []
        for order, (name, character) in enumerate(cast):
            profile = _image_name("c", record["id"] * 100 + order)
            self._keep_image(profile)
            members.append(
                {
                    "adult": False,
                    "gender": 0,
                    "id": next(self._other_ids),
                    "known_for_department": "Acting",
                    "name": name,
                    "original_name": name,
                    "popularity": 1.0,
                    "profile_path": profile,
                    "character": character,
                    "credit_id": secrets.token_hex(12),
                    "order": order,
                }
            )
        record["_credits"] = {"cast": members, "crew": []}
        listed = list(videos)
        if trailer is not None:
            listed.append(FakeVideo(trailer))
        record["_videos"] = listed
        record["_external_ids"] = {**external, "wikidata_id": None, "facebook_id": None, "instagram_id": None}

    # -- answers -----------------------------------------------------------------------------------------------

    @staticmethod
    def _page(request: web.Request) -> int | None:
        text = request.query.get("page", "1")
        if not re.fullmatch(r"[0-9]{1,9}", text) or not 1 <= int(text) <= _MAX_PAGE:
            return None
        return int(text)

    def _paged(self, request: web.Request, entries: list[dict[str, Any]]) -> web.Response:
        page = self._page(request)
        if page is None:
            return _error(400, _BAD_PAGE)
        start = (page - 1) * _PAGE_SIZE
        return web.json_response(
            {
                "page": page,
                "results": entries[start : start + _PAGE_SIZE],
                "total_pages": min(math.ceil(len(entries) / _PAGE_SIZE), _MAX_PAGE),
                "total_results": len(entries),
            }
        )

    @staticmethod
    def _localised(record: Mapping[str, Any], language: str) -> str:
        name = "title" if record["_kind"] == "movie" else "name"
        titles: Mapping[str, str] = record["_titles"]
        return titles.get(language) or str(record[name])

    def _list_item(self, record: Mapping[str, Any], language: str, *, with_type: bool) -> dict[str, Any]:
        """A film or series as lists show it (``media_type`` in lists of several kinds)."""
        fields = _MOVIE_ITEM if record["_kind"] == "movie" else _TV_ITEM
        item: dict[str, Any] = {key: record[key] for key in fields}
        item["genre_ids"] = [genre["id"] for genre in record["genres"]]
        item["title" if record["_kind"] == "movie" else "name"] = self._localised(record, language)
        if with_type:
            item["media_type"] = record["_kind"]
        return item

    def _by_popularity(self, records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(records, key=lambda record: (-float(record["popularity"]), int(record["id"])))

    async def _configuration(self, request: web.Request) -> web.Response:
        base = f"{self.url}/t/p/"
        return web.json_response(
            {
                "images": {
                    "base_url": base,
                    "secure_base_url": base,
                    "backdrop_sizes": list(BACKDROP_SIZES),
                    "logo_sizes": list(_LOGO_SIZES),
                    "poster_sizes": list(POSTER_SIZES),
                    "profile_sizes": list(PROFILE_SIZES),
                    "still_sizes": list(_STILL_SIZES),
                },
                "change_keys": ["adult", "air_date", "also_known_as", "biography", "birthday", "cast", "crew"],
            }
        )

    async def _search_multi(self, request: web.Request) -> web.Response:
        wanted = request.query.get("query", "").casefold().strip()
        language = request.query.get("language", "en-US")
        adult = request.query.get("include_adult", "false") == "true"
        found: list[dict[str, Any]] = []
        if wanted:
            for record in self._by_popularity([*self._movies.values(), *self._tv.values(), *self._people.values()]):
                if record.get("adult") and not adult:
                    continue
                if record.get("media_type") == "person":
                    if wanted in str(record["name"]).casefold():
                        found.append(dict(record))
                    continue
                names = [self._localised(record, language), *(str(record.get(k) or "") for k in _ORIGINALS)]
                if any(wanted in name.casefold() for name in names):
                    found.append(self._list_item(record, language, with_type=True))
        return self._paged(request, found)

    async def _trending(self, request: web.Request) -> web.Response:
        kind, window = request.match_info["media_type"], request.match_info["time_window"]
        if kind not in ("all", "movie", "tv", "person") or window not in ("day", "week"):
            return _error(404, _NOT_FOUND)
        language = request.query.get("language", "en-US")
        records: list[dict[str, Any]] = []
        if kind in ("all", "movie"):
            records += self._movies.values()
        if kind in ("all", "tv"):
            records += self._tv.values()
        found = [self._list_item(r, language, with_type=True) for r in self._by_popularity(records)]
        if kind in ("all", "person"):
            found += [dict(person) for person in self._by_popularity(self._people.values())]
        return self._paged(request, found)

    async def _popular_movies(self, request: web.Request) -> web.Response:
        language = request.query.get("language", "en-US")
        records = self._by_popularity(self._movies.values())
        return self._paged(request, [self._list_item(r, language, with_type=False) for r in records])

    async def _popular_tv(self, request: web.Request) -> web.Response:
        language = request.query.get("language", "en-US")
        records = self._by_popularity(self._tv.values())
        return self._paged(request, [self._list_item(r, language, with_type=False) for r in records])

    async def _movie(self, request: web.Request) -> web.Response:
        return self._details(request, self._movies)

    async def _tv_details(self, request: web.Request) -> web.Response:
        return self._details(request, self._tv)

    def _details(self, request: web.Request, records: Mapping[int, dict[str, Any]]) -> web.Response:
        text = request.match_info["id"]
        record = records.get(int(text)) if re.fullmatch(r"[0-9]{1,10}", text) else None
        if record is None:
            return _error(404, _NOT_FOUND)
        language = request.query.get("language", "en-US")
        doc: dict[str, Any] = {key: value for key, value in record.items() if not key.startswith("_")}
        doc["title" if record["_kind"] == "movie" else "name"] = self._localised(record, language)
        appended = {part.strip() for part in request.query.get("append_to_response", "").split(",")}
        if "credits" in appended:
            doc["credits"] = record["_credits"]
        if "external_ids" in appended:
            doc["external_ids"] = {"id": record["id"], **record["_external_ids"]}
        if "videos" in appended:
            languages = request.query.get("include_video_language", "").split(",")
            if languages == [""]:
                languages = [language.split("-", 1)[0]]
            doc["videos"] = {
                "results": [_video_doc(video) for video in record["_videos"] if (video.language or "null") in languages]
            }
        return web.json_response(doc)

    async def _image(self, request: web.Request) -> web.Response:
        if self.hold_images:
            released = self._images_released
            async with self._held_changed:
                self.images_held += 1
                self.most_images_held = max(self.most_images_held, self.images_held)
                self._held_changed.notify_all()
            try:
                await released.wait()
            finally:
                self.images_held -= 1
        found = self.images.get(request.match_info["file"])
        if request.match_info["size"] not in _IMAGE_SIZES or found is None:
            return web.Response(status=404, text="Not Found")
        body, content_type = found
        return web.Response(body=body, content_type=content_type)


_ORIGINALS: Final = ("original_title", "original_name")
_SHARED_ITEM: Final = ("overview", "poster_path", "backdrop_path", "popularity", "vote_count", "vote_average")
_MOVIE_ITEM: Final = ("id", "title", "original_title", "release_date", *_SHARED_ITEM, "original_language", "adult")
_TV_ITEM: Final = ("id", "name", "original_name", "first_air_date", "origin_country", *_SHARED_ITEM, "adult")


def _video_doc(video: FakeVideo) -> dict[str, Any]:
    return {
        "iso_639_1": video.language,
        "iso_3166_1": "US",
        "name": video.name,
        "key": video.key,
        "site": video.site,
        "size": 1080,
        "type": video.type,
        "official": video.official,
        "published_at": "2020-01-01T00:00:00.000Z",
        "id": secrets.token_hex(12),
    }
