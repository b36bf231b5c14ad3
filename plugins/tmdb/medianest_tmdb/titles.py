"""TMDB's answers as the core's :class:`~medianest_core.types.Title`: films and series (people are left out), their
ids, images as addresses of the plugin's image route, and on title pages the details (cast, trailer, seasons)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final, Literal, get_args

from medianest_core.images import TMDB_FILE
from medianest_core.types import CastMember, ExternalIds, SeasonInfo, Title, TitleKind
from medianest_tmdb import client

IMAGE_ROUTE: Final = "/api/v1/tmdb/images"
POSTER: Final = "w342"
BACKDROP: Final = "w1280"
PROFILE: Final = "w185"
ImageSize = Literal["w185", "w342", "w1280"]
"""The image sizes the image route serves: only those titles link to (``PROFILE``, ``POSTER``, ``BACKDROP``), never
``original`` (several megabytes a picture) nor another size nobody's page shows."""
SIZES: Final = frozenset(get_args(ImageSize))
CAST_SIZE: Final = 12
MAX_GENRES: Final = 20
"""The most genres of a title taken from TMDB."""
MAX_SEASONS: Final = 100
"""The most seasons of a series taken from TMDB."""
MAX_VIDEOS: Final = 50
"""The most of a title's videos read when looking for its trailer."""
YOUTUBE_KEY: Final = re.compile(r"[A-Za-z0-9_-]{1,32}", re.ASCII)
_YEAR: Final = re.compile(r"([0-9]{4})-", re.ASCII)
_KINDS: Final = {"movie": TitleKind.MOVIE, "tv": TitleKind.TV}


def image_url(size: str, path: str | None) -> str | None:
    """The image route's address of a TMDB image path (``/abc.jpg``), or ``None`` when there is none or it is not
    one the route serves: a missing poster, never a broken link."""
    if not path or size not in SIZES:
        return None
    file = path[1:] if path.startswith("/") else path
    if TMDB_FILE.fullmatch(file) is None:
        return None
    return f"{IMAGE_ROUTE}/{size}/{file}"


def year_of(date: str | None) -> int | None:
    """The year of a TMDB date (``1999-03-30``); ``None`` for an empty or unreadable one."""
    found = _YEAR.match(date or "")
    if found is None:
        return None
    year = int(found.group(1))
    return year or None


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _facts(popularity: float | None, vote_average: float | None) -> dict[str, str | int | float | bool | None]:
    return {"popularity": popularity, "vote_average": vote_average}


def list_title(item: client.ListItem, kind: str | None = None) -> Title | None:
    """A film or series of a list (``kind`` for lists of one kind); ``None`` for a person, another kind, or an item
    without a title."""
    found = _KINDS.get(item.media_type or kind or "")
    if found is None:
        return None
    if found is TitleKind.MOVIE:
        name, date = _text(item.title) or _text(item.original_title), item.release_date
    else:
        name, date = _text(item.name) or _text(item.original_name), item.first_air_date
    if name is None:
        return None
    return Title(
        kind=found.value,
        title=name,
        ids=ExternalIds(tmdb=item.id),
        year=year_of(date),
        overview=_text(item.overview),
        poster_url=image_url(POSTER, item.poster_path),
        backdrop_url=image_url(BACKDROP, item.backdrop_path),
        popularity=item.popularity,
        facts=_facts(item.popularity, item.vote_average),
    )


def cast_of(credits: client.Credits) -> list[CastMember]:
    """The first twelve of the cast, in TMDB's billing order."""
    billed = sorted(
        (credit for credit in credits.cast if _text(credit.name)),
        key=lambda credit: credit.order if credit.order is not None else 1_000_000,
    )
    return [
        CastMember(
            name=_text(credit.name) or "",
            character=_text(credit.character),
            image_url=image_url(PROFILE, credit.profile_path),
        )
        for credit in billed[:CAST_SIZE]
    ]


def trailer_of(videos: client.Videos) -> str | None:
    """The first YouTube trailer among the first fifty videos, official ones first."""
    trailers = [
        video
        for video in videos.results[:MAX_VIDEOS]
        if video.site == "YouTube" and video.type == "Trailer" and YOUTUBE_KEY.fullmatch(video.key or "")
    ]
    trailers.sort(key=lambda video: not video.official)
    return f"https://www.youtube.com/watch?v={trailers[0].key}" if trailers else None


def _ids(tmdb_id: int, external: client.ExternalIds, imdb: str | None = None) -> ExternalIds:
    return ExternalIds(tmdb=tmdb_id, tvdb=external.tvdb_id or None, imdb=_text(external.imdb_id) or _text(imdb))


def _genres(genres: Sequence[client.Genre]) -> list[str]:
    """The names of the first twenty genres."""
    return [name for genre in genres[:MAX_GENRES] if (name := _text(genre.name))]


def movie_title(movie: client.MovieDetails) -> Title:
    """A film's details for its title page."""
    return Title(
        kind=TitleKind.MOVIE.value,
        title=_text(movie.title) or _text(movie.original_title) or f"TMDB film {movie.id}",
        ids=_ids(movie.id, movie.external_ids, movie.imdb_id),
        year=year_of(movie.release_date),
        overview=_text(movie.overview),
        poster_url=image_url(POSTER, movie.poster_path),
        backdrop_url=image_url(BACKDROP, movie.backdrop_path),
        popularity=movie.popularity,
        tagline=_text(movie.tagline),
        runtime_minutes=movie.runtime if movie.runtime and movie.runtime > 0 else None,
        genres=_genres(movie.genres),
        cast=cast_of(movie.credits),
        trailer_url=trailer_of(movie.videos),
        facts=_facts(movie.popularity, movie.vote_average),
    )


def tv_title(tv: client.TvDetails) -> Title:
    """A series' details for its title page, with its first hundred seasons."""
    runtime = next((minutes for minutes in tv.episode_run_time if minutes and minutes > 0), None)
    return Title(
        kind=TitleKind.TV.value,
        title=_text(tv.name) or _text(tv.original_name) or f"TMDB series {tv.id}",
        ids=_ids(tv.id, tv.external_ids),
        year=year_of(tv.first_air_date),
        overview=_text(tv.overview),
        poster_url=image_url(POSTER, tv.poster_path),
        backdrop_url=image_url(BACKDROP, tv.backdrop_path),
        popularity=tv.popularity,
        tagline=_text(tv.tagline),
        runtime_minutes=runtime,
        genres=_genres(tv.genres),
        cast=cast_of(tv.credits),
        trailer_url=trailer_of(tv.videos),
        seasons=[
            SeasonInfo(
                number=season.season_number,
                name=_text(season.name) or f"Season {season.season_number}",
                episodes=season.episode_count,
                air_date=_text(season.air_date),
                poster_url=image_url(POSTER, season.poster_path),
            )
            for season in tv.seasons[:MAX_SEASONS]
        ],
        facts=_facts(tv.popularity, tv.vote_average),
    )
