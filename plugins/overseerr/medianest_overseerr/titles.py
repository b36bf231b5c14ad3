"""What Overseerr adds to titles, and Overseerr's own search.

**Facts.** On every search list, title page and Discover row, each film and series with a TMDB id gets the word of
the requests MediaNest follows (:mod:`medianest_overseerr.store`): its status ("Requested", "Downloading"…, the
asker named only to admins and to the asker), and its buttons: "Request" (a series' seasons to tick, those
requested or in Plex greyed out), "Request in 4K" when Overseerr offers it, and "Tell me when it's available" on
someone else's request. The facts read what is stored; the only calls made while someone waits are a series'
seasons and, on a title page, what Overseerr has of the title (:meth:`~medianest_overseerr.service.Overseerr.details`,
cached), and Overseerr's public settings (cached), all within :data:`LIVE_SECONDS`, and none while requests are
paused: the buttons are then greyed out at once with the reason.

**Search.** Overseerr's search relays TMDB's, so its films and series are titles like TMDB's (people are left
out), with the ids Overseerr tracks and its posters through the plugin's image route. What Overseerr says it has
of each result (``mediaInfo``) is remembered for a while (:class:`Known`), so that a title Overseerr already has
offers no Request button.

**Title pages.** Overseerr's details of a film or a series (kept for hours) make a title page on their own: title,
year, overview, tagline, runtime, genres, cast, trailer, a series' seasons, and pictures through the plugin's image
route, so that MediaNest needs no TMDB key when Overseerr is there. TMDB's details come first where both answer. An
id Overseerr does not know (its answer is a 500) is no title; while requests are paused, only details kept from
before are shown, without asking Overseerr.
"""

from __future__ import annotations

import asyncio
import collections
import re
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Final

import attrs
import structlog

from medianest_core.images import TMDB_FILE
from medianest_core.titles import MAX_CHOICES, TMDB_ID_MAX
from medianest_core.types import (
    ActionChoice,
    CastMember,
    ExternalIds,
    FactsQuery,
    PluginContext,
    SearchProvider,
    SearchQuery,
    SeasonInfo,
    Title,
    TitleAction,
    TitleFacts,
    TitleFactSource,
    TitleKind,
    TitleQuery,
    TitleSource,
    TitleStatus,
    Viewer,
)
from medianest_core.upstream import DeadlineExceeded, Unavailable, UpstreamError, deadline
from medianest_overseerr import store
from medianest_overseerr.client import (
    Credits,
    Genre,
    Media,
    MediaStatus,
    MediaType,
    MovieDetails,
    PublicSettings,
    SearchResult,
    TvDetails,
    Video,
)
from medianest_overseerr.models import OPEN, Link, Request, RequestState
from medianest_overseerr.service import PAUSED, Overseerr

log = structlog.get_logger("medianest.plugins.overseerr")

FACTS_TIMEOUT: Final = 2.0
FACTS_ORDER: Final = 20
"""After Plex's facts (10): where a title is comes before what is asked of it."""
SEARCH_TIMEOUT: Final = 5.0
SEARCH_SECONDS: Final = 4.5
"""The deadline of Overseerr's search: inside the provider's timeout, so that a search Overseerr leaves
unanswered is seen as such and pauses requests."""
SEARCH_ORDER: Final = 30
"""After TMDB's search (20): where both find a title, TMDB's fields win."""
LIVE_SECONDS: Final = 1.0
"""What one facts lookup gives Overseerr in all (series' seasons, public settings)."""
LIVE_TITLES: Final = 20
"""The most titles whose details one facts lookup asks for (a series' seasons; on a title page, what Overseerr
has of it)."""
DETAILS_TIMEOUT: Final = 5.0
DETAILS_SECONDS: Final = 4.5
"""The deadline of a title's details: inside the source's timeout, so that details Overseerr leaves unanswered are
seen as such and pause requests."""
DETAILS_ORDER: Final = 20
"""After TMDB's details (10): where both know a title, TMDB's fields win."""
BACKDROP_SIZE: Final = "w1280"
PROFILE_SIZE: Final = "w185"
CAST_SIZE: Final = 12
MAX_GENRES: Final = 20
MAX_SEASONS: Final = 100
MAX_VIDEOS: Final = 50
"""The most of a title's videos read when looking for its trailer."""
YOUTUBE_KEY: Final = re.compile(r"[A-Za-z0-9_-]{1,32}", re.ASCII)
KNOWN_ENTRIES: Final = 2000
KNOWN_TTL: Final = 1800.0
"""Seconds what a search said Overseerr has of a title is trusted."""
NOT_LINKED: Final = "Your account is not linked to Overseerr: ask the admin."
REQUESTED_ALREADY: Final = "Requested already"
IN_PLEX: Final = "In Plex"
CHOOSE: Final = "Which seasons?"
WATCH: Final = "Tell me when it's available"
UNWATCH: Final = "Stop telling me"

LABELS: Final[dict[RequestState, str]] = {
    RequestState.PENDING: "Requested",
    RequestState.APPROVED: "Approved",
    RequestState.DECLINED: "Declined",
    RequestState.PROCESSING: "Downloading",
    RequestState.PARTIALLY_AVAILABLE: "Partly available",
    RequestState.AVAILABLE: "Available",
    RequestState.FAILED: "Request failed",
}
"""A request's state as a title's status says it."""

MEDIA_LABELS: Final[dict[MediaStatus, tuple[str, str]]] = {
    MediaStatus.PENDING: ("Requested", "info"),
    MediaStatus.PROCESSING: ("Downloading", "info"),
    MediaStatus.PARTIALLY_AVAILABLE: ("Partly available", "ok"),
    MediaStatus.AVAILABLE: ("Available", "ok"),
}
"""What Overseerr has of a title no request followed here concerns (asked in Overseerr itself)."""

OPEN_STATES: Final = frozenset(state.value for state in OPEN)
THERE: Final = frozenset({MediaStatus.AVAILABLE, MediaStatus.PARTIALLY_AVAILABLE})
ASKED: Final = frozenset({MediaStatus.PENDING, MediaStatus.PROCESSING})
_YEAR: Final = re.compile(r"([0-9]{4})-", re.ASCII)

Key = tuple[str, int]


# ---- what Overseerr said lately of titles ----------------------------------------------------------------------------


@attrs.frozen
class Seen:
    """What Overseerr tracks of one title (its ``mediaInfo``), as a search answered it: the title's status and
    its seasons' (in 4K too). A title Overseerr does not track is all ``UNKNOWN``."""

    status: MediaStatus = MediaStatus.UNKNOWN
    status4k: MediaStatus = MediaStatus.UNKNOWN
    seasons: Mapping[int, MediaStatus] = attrs.field(factory=dict)
    seasons4k: Mapping[int, MediaStatus] = attrs.field(factory=dict)

    @classmethod
    def of(cls, media: Media | None) -> Seen:
        if media is None:
            return cls()
        return cls(
            media.status,
            media.status4k,
            {season.seasonNumber: season.status for season in media.seasons},
            {season.seasonNumber: season.status4k for season in media.seasons},
        )

    def state(self, is4k: bool) -> MediaStatus:
        return self.status4k if is4k else self.status

    def season_states(self, is4k: bool) -> Mapping[int, MediaStatus]:
        return self.seasons4k if is4k else self.seasons


class Known:
    """What Overseerr's searches said of titles lately, by (kind, TMDB id): at most :data:`KNOWN_ENTRIES`, each
    trusted for :data:`KNOWN_TTL` seconds."""

    def __init__(
        self, size: int = KNOWN_ENTRIES, ttl: float = KNOWN_TTL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.size = size
        self.ttl = ttl
        self.clock = clock
        self._seen: collections.OrderedDict[Key, tuple[float, Seen]] = collections.OrderedDict()

    def learn(self, kind: str, tmdb_id: int, media: Media | None) -> None:
        key = (kind, tmdb_id)
        self._seen[key] = (self.clock(), Seen.of(media))
        self._seen.move_to_end(key)
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)

    def get(self, kind: str, tmdb_id: int) -> Seen | None:
        found = self._seen.get((kind, tmdb_id))
        if found is None:
            return None
        if self.clock() - found[0] > self.ttl:
            del self._seen[(kind, tmdb_id)]
            return None
        return found[1]

    def __len__(self) -> int:
        return len(self._seen)


_KNOWN: weakref.WeakKeyDictionary[Overseerr, Known] = weakref.WeakKeyDictionary()


def known(service: Overseerr) -> Known:
    """What this MediaNest's Overseerr said lately (one per service: tests run several MediaNests)."""
    found = _KNOWN.get(service)
    if found is None:
        found = _KNOWN[service] = Known()
    return found


def _troubled(service: Overseerr, exc: UpstreamError, *, slow: bool = True) -> None:
    """Overseerr failed a call made while someone waits: requests are paused for a while, unless it merely answered
    an error (a 500 is its answer for an id TMDB does not know) or, when ``slow`` is false, was only slower than
    the short budget of facts (Overseerr asks TMDB for what it does not have yet)."""
    log.info("overseerr_titles_call_failed", error=str(exc))
    if not isinstance(exc, Unavailable) or exc.status in (500, 501):
        return
    if isinstance(exc, DeadlineExceeded) and not slow:
        return
    service.failed(exc)


# ---- search ----------------------------------------------------------------------------------------------------------


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def year_of(date: str | None) -> int | None:
    found = _YEAR.match(date or "")
    return int(found.group(1)) or None if found else None


def poster_url(poster_base: str, path: str | None) -> str | None:
    """The image route's address of a TMDB poster path (``/abc.jpg``); ``None`` for none or an odd one."""
    return f"{poster_base}{path}" if path and path[:1] == "/" and TMDB_FILE.fullmatch(path[1:]) else None


def as_title(result: SearchResult, poster_base: str) -> Title | None:
    """A film or a series of Overseerr's search; ``None`` for a person, a collection or a result without a name."""
    if result.mediaType == MediaType.MOVIE.value:
        kind, name, date = TitleKind.MOVIE, _text(result.title) or _text(result.originalTitle), result.releaseDate
    elif result.mediaType == MediaType.TV.value:
        kind, name, date = TitleKind.TV, _text(result.name) or _text(result.originalName), result.firstAirDate
    else:
        return None
    if name is None or not 1 <= result.id <= TMDB_ID_MAX:
        return None
    media = result.mediaInfo
    ids = ExternalIds(
        tmdb=result.id,
        tvdb=media.tvdbId if media is not None and media.tvdbId and kind is TitleKind.TV else None,
        imdb=_text(media.imdbId) if media is not None else None,
    )
    status = media.status.name.lower() if media is not None else None
    return Title(
        kind=kind.value,
        title=name,
        ids=ids,
        year=year_of(date),
        overview=_text(result.overview),
        poster_url=poster_url(poster_base, result.posterPath),
        popularity=result.popularity,
        url=store.title_url(kind.value, result.id),
        facts={"status": status},
    )


# ---- title pages -----------------------------------------------------------------------------------------------------


def sized(poster_base: str, size: str) -> str:
    """The image route's base for pictures of ``size``, from its base for posters (``…/images/w342``)."""
    return f"{poster_base.rsplit('/', 1)[0]}/{size}"


def _genres(genres: Sequence[Genre]) -> list[str]:
    """The names of the first :data:`MAX_GENRES` genres."""
    return [name for genre in genres[:MAX_GENRES] if (name := _text(genre.name))]


def cast_of(credits: Credits | None, poster_base: str) -> list[CastMember]:
    """The first :data:`CAST_SIZE` of the cast, in billing order, with their pictures."""
    billed = sorted(
        (credit for credit in (credits.cast if credits is not None else []) if _text(credit.name)),
        key=lambda credit: credit.order if credit.order is not None else 1_000_000,
    )
    profiles = sized(poster_base, PROFILE_SIZE)
    return [
        CastMember(
            name=_text(credit.name) or "",
            character=_text(credit.character),
            image_url=poster_url(profiles, credit.profilePath),
        )
        for credit in billed[:CAST_SIZE]
    ]


def trailer_of(videos: Sequence[Video] | None) -> str | None:
    """The first YouTube trailer among the first :data:`MAX_VIDEOS` videos, as an address made here from its key."""
    for video in (videos or [])[:MAX_VIDEOS]:
        if video.site == "YouTube" and video.type == "Trailer" and YOUTUBE_KEY.fullmatch(video.key or ""):
            return f"https://www.youtube.com/watch?v={video.key}"
    return None


def page_title(about: MovieDetails | TvDetails, poster_base: str) -> Title:
    """A film's or a series' details, as Overseerr gives them, for its title page."""
    external = about.externalIds
    seasons: list[SeasonInfo] = []
    if isinstance(about, MovieDetails):
        kind, name, date = TitleKind.MOVIE, _text(about.title) or _text(about.originalTitle), about.releaseDate
        runtime = about.runtime if about.runtime and about.runtime > 0 else None
        tvdb = None
        imdb = _text(about.imdbId) or _text(external.imdbId)
    else:
        kind, name, date = TitleKind.TV, _text(about.name) or _text(about.originalName), about.firstAirDate
        runtime = next((minutes for minutes in about.episodeRunTime or [] if minutes and minutes > 0), None)
        media = about.mediaInfo
        tvdb = external.tvdbId or (media.tvdbId if media is not None else None)
        imdb = _text(external.imdbId) or (_text(media.imdbId) if media is not None else None)
        seasons = [
            SeasonInfo(
                number=season.seasonNumber,
                name=_text(season.name) or f"Season {season.seasonNumber}",
                episodes=season.episodeCount,
                air_date=_text(season.airDate),
                poster_url=poster_url(poster_base, season.posterPath),
            )
            for season in about.seasons[:MAX_SEASONS]
        ]
    return Title(
        kind=kind.value,
        title=name or f"TMDB {'film' if kind is TitleKind.MOVIE else 'series'} {about.id}",
        ids=ExternalIds(tmdb=about.id, tvdb=tvdb if tvdb and tvdb > 0 else None, imdb=imdb),
        year=year_of(date),
        overview=_text(about.overview),
        poster_url=poster_url(poster_base, about.posterPath),
        backdrop_url=poster_url(sized(poster_base, BACKDROP_SIZE), about.backdropPath),
        popularity=about.popularity,
        tagline=_text(about.tagline),
        runtime_minutes=runtime,
        genres=_genres(about.genres),
        cast=cast_of(about.credits, poster_base),
        trailer_url=trailer_of(about.relatedVideos),
        seasons=seasons,
    )


# ---- facts -----------------------------------------------------------------------------------------------------------


def _day(moment: datetime) -> str:
    return f"{moment.day} {moment:%b %Y}"


def _seasons_text(numbers: Iterable[int]) -> str:
    found = sorted(set(numbers))
    return f"Season{'s' if len(found) > 1 else ''} {', '.join(str(n) for n in found)}"


@attrs.frozen
class Asked:
    """Everything one facts lookup knows, read once for the whole list."""

    viewer: Viewer
    link: Link | None
    rows: Mapping[Key, list[Request]]
    watching: set[Key]
    names: Mapping[int, str]
    blocked: str | None
    """Why Request buttons are greyed out (not linked, paused), or ``None``."""
    offers4k: Mapping[str, bool]
    seasons: Mapping[Key, list[SeasonInfo]]
    seen: Mapping[Key, Seen]
    url: str
    """The plugin's API, ``/api/v1/<plugin>``."""

    def mine(self, row: Request) -> bool:
        if row.user_id is not None:
            return row.user_id == self.viewer.user_id
        return self.link is not None and row.overseerr_user_id == self.link.overseerr_user_id


class Requests:
    """The facts source and the search provider of the Overseerr plugin."""

    def __init__(self, ctx: PluginContext, service: Callable[[], Overseerr]) -> None:
        self.ctx = ctx
        self.service = service

    @property
    def url(self) -> str:
        return f"/api/v1/{self.ctx.name}"

    def _service(self) -> Overseerr | None:
        try:
            return self.service()
        except Unavailable:  # not set up, or not started
            return None

    # ---- search ---------------------------------------------------------------------------------------------------

    async def search(self, query: SearchQuery) -> list[Title]:
        """Overseerr's films and series for the query; Overseerr's word on each is remembered (:class:`Known`).
        While requests are paused (Overseerr failed lately) it fails at once, the other sources' list stands."""
        service = self.service()
        why = service.paused()
        if why is not None:
            raise Unavailable("overseerr", why)
        try:
            with deadline(SEARCH_SECONDS):
                page = await service.client.search(query.text)
        except UpstreamError as exc:
            _troubled(service, exc)
            raise
        service.answered()
        remembered = known(service)
        base = service.poster_base()
        titles: list[Title] = []
        shown: set[Key] = set()
        for result in page.results:
            title = as_title(result, base)
            if title is None or title.ids.tmdb is None:
                continue
            remembered.learn(title.kind, title.ids.tmdb, result.mediaInfo)
            key = (title.kind, title.ids.tmdb)
            if key not in shown:
                shown.add(key)
                titles.append(title)
        return titles[: query.limit]

    # ---- title pages ----------------------------------------------------------------------------------------------

    async def details(self, query: TitleQuery) -> Title | None:
        """What Overseerr has of a film or a series for its title page (kept for hours), or ``None`` when it does
        not know the id: it answers a 500 for an id TMDB does not know, which is no title and no trouble. While
        requests are paused Overseerr is not asked: only details kept from before are shown."""
        if not 1 <= query.tmdb_id <= TMDB_ID_MAX:
            return None
        service = self.service()
        why = service.paused()
        try:
            # A deadline already past lets through what is kept, and asks nothing.
            with deadline(DETAILS_SECONDS if why is None else 0.0):
                about = await service.details(query.kind.value, query.tmdb_id)
        except UpstreamError as exc:
            if why is not None:
                raise Unavailable("overseerr", why) from None
            if isinstance(exc, Unavailable) and not isinstance(exc, DeadlineExceeded) and exc.status == 500:
                return None
            # Joined to a call started by a facts lookup, whose short budget ran out: slow, not failing.
            shorter = isinstance(exc, DeadlineExceeded) and exc.seconds < DETAILS_SECONDS
            _troubled(service, exc, slow=not shorter)
            raise
        if about is None or (isinstance(about, MovieDetails) and about.adult):
            return None
        return page_title(about, service.poster_base())

    # ---- facts ----------------------------------------------------------------------------------------------------

    async def facts(self, query: FactsQuery) -> list[TitleFacts | None]:
        """For each film and series with a TMDB id: the status of its requests and the buttons it offers the
        viewer; ``None`` for anything else."""
        answer: list[TitleFacts | None] = [None] * len(query.titles)
        asked: list[tuple[int, Key, Title]] = [
            (n, (str(title.kind), title.ids.tmdb), title)
            for n, title in enumerate(query.titles)
            if title.kind in (TitleKind.MOVIE, TitleKind.TV) and title.ids.tmdb is not None
        ]
        if not asked:
            return answer
        keys = list(dict.fromkeys(key for _, key, _ in asked))
        viewer = query.viewer
        assert self.ctx.sessions is not None
        async with self.ctx.sessions() as db:
            rows = await store.of_titles(db, keys)
            watching = await store.watching(db, viewer.user_id, keys)
            link = await store.link_of(db, viewer.user_id)
            others = {r.user_id for found in rows.values() for r in found if r.user_id not in (None, viewer.user_id)}
            names = await store.names(db, [uid for uid in others if uid is not None]) if viewer.is_admin else {}
        service = self._service()
        paused = PAUSED if service is None else service.paused()
        blocked = paused
        if link is None and not await self._linkable(viewer.user_id):
            blocked = NOT_LINKED
        remembered = known(service) if service is not None else None
        seen = {key: found for key in keys if remembered is not None and (found := remembered.get(*key)) is not None}
        seasons: dict[Key, list[SeasonInfo]] = {key: list(title.seasons) for _, key, title in asked if title.seasons}
        offers4k: dict[str, bool] = {}
        if service is not None and paused is None:
            wanted = [
                key
                for key in keys
                if (key[0] == TitleKind.TV.value and key not in seasons and not _all_there(seen.get(key)))
                or (query.detail and key not in seen)
            ][:LIVE_TITLES]
            live_seasons, offers4k = await self._live(service, wanted, seen)
            seasons.update(live_seasons)
        about = Asked(
            viewer=viewer,
            link=link,
            rows=rows,
            watching=watching,
            names=names,
            blocked=blocked,
            offers4k=offers4k,
            seasons=seasons,
            seen=seen,
            url=self.url,
        )
        for n, key, title in asked:
            answer[n] = title_facts(about, key, title)
        return answer

    async def _linkable(self, user_id: int) -> bool:
        """Whether MediaNest can find the person's Overseerr user: by their Plex account."""
        accounts = self.ctx.accounts
        return accounts is not None and await accounts.find(user_id, "plex") is not None

    async def _live(
        self, service: Overseerr, titles: Sequence[Key], seen: dict[Key, Seen]
    ) -> tuple[dict[Key, list[SeasonInfo]], dict[str, bool]]:
        """The details of ``titles`` (a series' seasons) and whether Overseerr offers 4K, asked at once (cached),
        all within :data:`LIVE_SECONDS`; what Overseerr cannot say in time is left out. What the details say
        Overseerr has of a title completes ``seen`` where no search said it."""
        with deadline(LIVE_SECONDS):
            answers = await asyncio.gather(
                service.public_settings(),
                *(service.details(kind, tmdb_id) for kind, tmdb_id in titles),
                return_exceptions=True,
            )
        settings, details = answers[0], answers[1:]
        for answer in answers:
            if isinstance(answer, UpstreamError):
                _troubled(service, answer, slow=False)
            elif isinstance(answer, BaseException):
                raise answer
        offers4k: dict[str, bool] = {}
        if isinstance(settings, PublicSettings):
            offers4k = {TitleKind.MOVIE.value: settings.movie4kEnabled, TitleKind.TV.value: settings.series4kEnabled}
        seasons: dict[Key, list[SeasonInfo]] = {}
        for key, about in zip(titles, details, strict=True):
            if not isinstance(about, MovieDetails | TvDetails):
                continue
            if key not in seen and about.mediaInfo is not None:
                seen[key] = Seen.of(about.mediaInfo)
            if not isinstance(about, TvDetails):
                continue
            seasons[key] = [
                SeasonInfo(
                    number=s.seasonNumber, name=_text(s.name) or f"Season {s.seasonNumber}", episodes=s.episodeCount
                )
                for s in about.seasons
            ]
        return seasons, offers4k


def _all_there(seen: Seen | None) -> bool:
    return seen is not None and seen.status == MediaStatus.AVAILABLE


def _live_rows(rows: Iterable[Request]) -> list[Request]:
    return [row for row in rows if row.state != RequestState.DECLINED.value]


def _first(rows: Sequence[Request], about: Asked) -> Request | None:
    """The request a status speaks of: the viewer's own (newest first), else the newest."""
    return next((row for row in rows if about.mine(row)), rows[0] if rows else None)


def title_facts(about: Asked, key: Key, title: Title) -> TitleFacts | None:
    """One title's status and buttons for the viewer."""
    rows = about.rows.get(key, [])
    seen = about.seen.get(key)
    status = _status(about, rows, seen)
    actions: list[TitleAction] = []
    for is4k in (False, True):
        if is4k and not about.offers4k.get(key[0], False):
            continue
        action = _request(about, key, title, rows, seen, is4k)
        if action is not None:
            actions.append(action)
    watch = _watch(about, key, rows, seen)
    if watch is not None:
        actions.append(watch)
    if status is None and not actions:
        return None
    return TitleFacts(status=status, actions=actions)


def _status(about: Asked, rows: list[Request], seen: Seen | None) -> TitleStatus | None:
    live = _live_rows(rows)
    shown = _first([r for r in live if not r.is4k], about) or _first([r for r in live if r.is4k], about)
    if shown is None:
        declined = next((r for r in rows if about.mine(r)), None)
        if declined is not None:
            return _row_status(about, declined)
        if not rows and seen is not None and seen.status in MEDIA_LABELS:
            label, tone = MEDIA_LABELS[seen.status]
            return TitleStatus(label, tone, "Requested in Overseerr" if seen.status in ASKED else None)
        return None
    return _row_status(about, shown)


def _row_status(about: Asked, row: Request) -> TitleStatus:
    state = RequestState(row.state)
    label = LABELS[state] + (" (4K)" if row.is4k else "")
    parts: list[str] = []
    if state is RequestState.PENDING:
        parts.append("Waiting for approval")
    elif state is RequestState.PROCESSING:
        download = (row.detail or {}).get("download") or {}
        left = download.get("time_left") if isinstance(download, dict) else None
        parts.append(f"{left} left" if left else "On its way to Plex")
    elif state is RequestState.APPROVED:
        parts.append("On its way to Plex")
    elif state is RequestState.PARTIALLY_AVAILABLE and row.seasons_available:
        parts.append(f"{_seasons_text(row.seasons_available)} in Plex")
    elif state is RequestState.FAILED:
        parts.append("Ask the admin to retry")
    elif state is RequestState.DECLINED:
        parts.append("Ask the admin why")
    if row.kind == TitleKind.TV.value and row.seasons and state is not RequestState.PARTIALLY_AVAILABLE:
        parts.append(_seasons_text(row.seasons))
    on = _day(row.created_at)
    if about.mine(row):
        parts.append(f"You requested it on {on}")
    elif about.viewer.is_admin:
        name = (about.names.get(row.user_id) if row.user_id is not None else None) or row.requested_by or "someone"
        parts.append(f"Requested by {name} on {on}")
    else:
        parts.append("Requested by someone else")
    if (row.kind, row.tmdb_id) in about.watching:
        parts.append("We'll tell you when it's available")
    return TitleStatus(label, store.STATE_TONES[state], " · ".join(parts))


def _request(
    about: Asked, key: Key, title: Title, rows: list[Request], seen: Seen | None, is4k: bool
) -> TitleAction | None:
    """The Request button of one quality, or ``None`` when there is nothing left to request."""
    kind, tmdb_id = key
    live = [r for r in _live_rows(rows) if r.is4k == is4k]
    overall = seen.state(is4k) if seen is not None else MediaStatus.UNKNOWN
    in_plex = title.presence is not None and not is4k
    body: dict[str, object] = {"kind": kind, "tmdb_id": tmdb_id}
    if is4k:
        body["is4k"] = True
    action = "request-4k" if is4k else "request"
    suffix = " in 4K" if is4k else ""
    enabled, reason = about.blocked is None, about.blocked
    url = f"{about.url}/requests"
    if kind == TitleKind.MOVIE.value:
        if live or in_plex or overall in THERE or (not rows and overall in ASKED):
            return None
        return TitleAction(action, f"Request{suffix}", url, "POST", body, enabled, reason)
    there: set[int] = set()
    requested: set[int] = set()
    for row in live:
        got = set(row.seasons_available or [])
        if row.state == RequestState.AVAILABLE.value:
            got |= set(row.seasons or [])
        there |= got
        requested |= set(row.seasons or []) - got
    if seen is not None:
        for number, state in seen.season_states(is4k).items():
            if state in THERE:
                there.add(number)
            elif state in ASKED and not rows:
                requested.add(number)
    numbered = [info for info in about.seasons.get(key, []) if info.number >= 1]
    if in_plex and title.presence is not None:
        if not title.presence.seasons:
            return None  # in a library, and which seasons it has is not known
        for info in numbered:
            have = title.presence.seasons.get(info.number, 0)
            if have > 0 and info.episodes is not None and have >= info.episodes:
                there.add(info.number)
    if not numbered or len(numbered) > MAX_CHOICES:
        if live or there or requested or in_plex or overall in THERE or (not rows and overall in ASKED):
            return None
        return TitleAction(
            action, f"Request all seasons{suffix}", url, "POST", body | {"seasons": "all"}, enabled, reason
        )
    choices = []
    for info in sorted(numbered, key=lambda s: s.number):
        why = IN_PLEX if info.number in there else REQUESTED_ALREADY if info.number in requested else None
        choices.append(ActionChoice(info.number, info.name or f"Season {info.number}", why is None, why))
    if not any(choice.enabled for choice in choices):
        return None
    label = "Request more seasons" if any(not choice.enabled for choice in choices) else "Request"
    return TitleAction(
        action, f"{label}{suffix}", url, "POST", body, enabled, reason, choices, field="seasons", choose=CHOOSE
    )


def _watch(about: Asked, key: Key, rows: list[Request], seen: Seen | None) -> TitleAction | None:
    """The button to be told when a title someone else requested arrives, while their request is on its way
    ("Stop telling me" once pressed); the asker is told anyway."""
    kind, tmdb_id = key
    url = f"{about.url}/watches/{kind}/{tmdb_id}"
    if key in about.watching:
        return TitleAction("unwatch", UNWATCH, url, "DELETE")
    live = _live_rows(rows)
    if any(about.mine(r) for r in live if r.state in OPEN_STATES):
        return None
    if any(r.state == RequestState.AVAILABLE.value and not r.is4k for r in live):
        return None
    waiting = any(r.state in OPEN_STATES for r in live)
    if not rows and seen is not None and seen.status in ASKED:
        waiting = True
    if not waiting:
        return None
    return TitleAction("watch", WATCH, url, "PUT")


# ---- the hooks' answers ----------------------------------------------------------------------------------------------


def fact_sources(ctx: PluginContext, service: Callable[[], Overseerr]) -> list[TitleFactSource]:
    return [
        TitleFactSource("requests", "Overseerr", Requests(ctx, service).facts, timeout=FACTS_TIMEOUT, order=FACTS_ORDER)
    ]


def title_sources(ctx: PluginContext, service: Callable[[], Overseerr]) -> list[TitleSource]:
    return [
        TitleSource(
            "details", "Overseerr", Requests(ctx, service).details, timeout=DETAILS_TIMEOUT, order=DETAILS_ORDER
        )
    ]


def search_providers(ctx: PluginContext, service: Callable[[], Overseerr]) -> list[SearchProvider]:
    return [
        SearchProvider("search", "Overseerr", Requests(ctx, service).search, timeout=SEARCH_TIMEOUT, order=SEARCH_ORDER)
    ]
