"""The client of Overseerr's API (``/api/v1``; Jellyseerr and Seerr share it), on the core's resilient upstream client.

Answers are structured into the attrs classes below, which keep Overseerr's own camelCase names. The enumerations
(media and request statuses, permissions, user types, notification types) and the messages Overseerr answers with
are defined here once (``MediaType`` in :mod:`medianest_overseerr.kinds`, and given here too);
:mod:`medianest_overseerr.fake` uses the same ones.

Who asks: the upstream's session carries the admin's ``X-Api-Key`` (:func:`overseerr_headers`), which Overseerr
takes as its user 1; a call made for someone adds ``X-API-User: <their Overseerr id>``, so Overseerr's own
permissions, auto-approval and quotas apply to them (``as_user`` below).

Query strings are built here, each value percent-encoded with ``%20`` for a space, never ``+``: Overseerr's request
validator refuses a ``+`` or any other reserved character in a query value (400, "Parameter 'query' must be url
encoded…"). The HTTP layer re-reads a URL given as text and turns ``%3A``, ``%2F``, ``%3F``, ``%40``, ``%21``,
``%24``, ``%27``, ``%28``, ``%29``, ``%2A`` and ``%2C`` back into the characters, which Overseerr would then refuse;
so :func:`search_text` takes those characters out of a search before it is sent ("Mission: Impossible" is searched
as "Mission Impossible", "Schindler's List" as "Schindlers List"), which TMDB's search, behind Overseerr's, matches
all the same.

:meth:`OverseerrClient.request` answers a :class:`RequestOutcome` rather than raising for what Overseerr answers a
person: created (201), nothing left to request (202), a duplicate (409) or refused (403: a permission or a quota,
with Overseerr's own message and, for a quota, its limit and use). Everything else is the upstream's exceptions:
:class:`~medianest_core.upstream.AuthFailed` (the key is refused), :class:`NoSuchUser` (the key is good but
Overseerr has no user with that id), :class:`~medianest_core.upstream.NotFound`,
:class:`~medianest_core.upstream.Unavailable`, :class:`~medianest_core.upstream.BadResponse`.

Nothing is cached here: Overseerr's answers carry availability, which the plugin decides how long to keep.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Literal
from urllib.parse import quote

import attrs

from medianest_core.upstream import AuthFailed, BadResponse, NotFound, Unavailable, Upstream, structure
from medianest_overseerr.kinds import MediaType as MediaType  # defined apart, for the routes' schemas

SERVICE: Final = "overseerr"
"""The service name of the upstream client (and of its errors)."""
DEFAULT_TAKE: Final = 10
"""How many users or requests Overseerr answers a page when ``take`` is not given."""
SEARCH_PAGE_SIZE: Final = 20
"""How many results a page of Overseerr's search holds (TMDB's page)."""


# ---- enumerations -------------------------------------------------------------------------------------------------


class MediaRequestStatus(enum.IntEnum):
    """``MediaRequest.status`` (and ``SeasonRequest.status``); 5 to 8 are Jellyseerr's."""

    PENDING = 1
    APPROVED = 2
    DECLINED = 3
    FAILED = 4
    COMPLETED = 5
    DELETION_PENDING = 6
    DELETION_APPROVED = 7
    DELETION_DECLINED = 8


class MediaStatus(enum.IntEnum):
    """``Media.status`` / ``status4k`` and ``Season.status`` / ``status4k``; 6 and 7 are Jellyseerr's."""

    UNKNOWN = 1
    PENDING = 2
    PROCESSING = 3
    PARTIALLY_AVAILABLE = 4
    AVAILABLE = 5
    BLACKLISTED = 6
    DELETED = 7


class UserType(enum.IntEnum):
    PLEX = 1
    LOCAL = 2


class Permission(enum.IntFlag):
    """Overseerr's permission bits; ``ADMIN`` passes every check (:func:`has_permission`)."""

    NONE = 0
    ADMIN = 2
    MANAGE_USERS = 8
    MANAGE_REQUESTS = 16
    REQUEST = 32
    VOTE = 64
    AUTO_APPROVE = 128
    AUTO_APPROVE_MOVIE = 256
    AUTO_APPROVE_TV = 512
    REQUEST_4K = 1024
    REQUEST_4K_MOVIE = 2048
    REQUEST_4K_TV = 4096
    REQUEST_ADVANCED = 8192
    REQUEST_VIEW = 16384
    AUTO_APPROVE_4K = 32768
    AUTO_APPROVE_4K_MOVIE = 65536
    AUTO_APPROVE_4K_TV = 131072
    REQUEST_MOVIE = 262144
    REQUEST_TV = 524288
    MANAGE_ISSUES = 1048576
    VIEW_ISSUES = 2097152
    CREATE_ISSUES = 4194304
    AUTO_REQUEST = 8388608
    AUTO_REQUEST_MOVIE = 16777216
    AUTO_REQUEST_TV = 33554432
    RECENT_VIEW = 67108864
    WATCHLIST_VIEW = 134217728


class Notification(enum.IntFlag):
    """Notification types: the bits of a webhook agent's ``types``; a payload's ``notification_type`` is the name."""

    NONE = 0
    MEDIA_PENDING = 2
    MEDIA_APPROVED = 4
    MEDIA_AVAILABLE = 8
    MEDIA_FAILED = 16
    TEST_NOTIFICATION = 32
    MEDIA_DECLINED = 64
    MEDIA_AUTO_APPROVED = 128
    ISSUE_CREATED = 256
    ISSUE_COMMENT = 512
    ISSUE_RESOLVED = 1024
    ISSUE_REOPENED = 2048
    MEDIA_AUTO_REQUESTED = 4096


MEDIA_NOTIFICATIONS: Final = (
    Notification.MEDIA_PENDING
    | Notification.MEDIA_APPROVED
    | Notification.MEDIA_AVAILABLE
    | Notification.MEDIA_FAILED
    | Notification.MEDIA_DECLINED
    | Notification.MEDIA_AUTO_APPROVED
)
"""The webhook types MediaNest follows requests with."""


class RequestFilter(enum.StrEnum):
    """``filter`` of ``GET /request``: approved, processing and available are approved requests (available: whose
    media is available; processing: whose media is not yet); unavailable is pending or approved, not available."""

    ALL = "all"
    APPROVED = "approved"
    AVAILABLE = "available"
    PENDING = "pending"
    PROCESSING = "processing"
    UNAVAILABLE = "unavailable"
    FAILED = "failed"


class RequestSort(enum.StrEnum):
    ADDED = "added"
    MODIFIED = "modified"


# ---- Overseerr's own messages -------------------------------------------------------------------------------------

NO_ACCESS_MESSAGE: Final = "You do not have permission to access this endpoint"
"""``error`` of the 403 a wrong key or an unknown ``X-API-User`` gets (``{"status": 403, "error": …}``)."""
DUPLICATE_MESSAGE: Final = "Request for this media already exists."
NO_SEASONS_MESSAGE: Final = "No seasons available to request"
MOVIE_QUOTA_MESSAGE: Final = "Movie Quota exceeded."
SERIES_QUOTA_MESSAGE: Final = "Series Quota exceeded."
REQUEST_USER_MESSAGE: Final = "You do not have permission to modify the request user."
REFUSED_MESSAGE: Final = "Overseerr refused the request."
"""Said of a 403 that neither a permission nor a quota explains (Jellyseerr's blocklist, say)."""


def permission_message(kind: MediaType, is4k: bool) -> str:
    """What Overseerr answers (403) someone who may not make this kind of request."""
    noun = "movie" if kind is MediaType.MOVIE else "series"
    return f"You do not have permission to make {'4K ' if is4k else ''}{noun} requests."


def quota_message(kind: MediaType) -> str:
    return MOVIE_QUOTA_MESSAGE if kind is MediaType.MOVIE else SERIES_QUOTA_MESSAGE


def has_permission(value: int, wanted: Permission | Sequence[Permission], *, any_of: bool = False) -> bool:
    """Overseerr's check: ``ADMIN`` passes; a list needs all of its permissions, or one with ``any_of``."""
    held = int(value)
    if held & Permission.ADMIN:
        return True
    if isinstance(wanted, Permission):
        return wanted == Permission.NONE or bool(held & wanted)
    checks = [bool(held & permission) for permission in wanted]
    return any(checks) if any_of else all(checks)


def may_request(permissions: int, kind: MediaType, is4k: bool = False) -> bool:
    """Whether Overseerr lets someone with ``permissions`` request this kind (in 4K)."""
    if is4k:
        own = Permission.REQUEST_4K_MOVIE if kind is MediaType.MOVIE else Permission.REQUEST_4K_TV
        wanted = [Permission.REQUEST_4K, own]
    else:
        wanted = [Permission.REQUEST, Permission.REQUEST_MOVIE if kind is MediaType.MOVIE else Permission.REQUEST_TV]
    return has_permission(permissions, wanted, any_of=True)


def auto_approved(permissions: int, kind: MediaType, is4k: bool = False) -> bool:
    """Whether Overseerr approves this person's request of this kind at once."""
    if is4k:
        own = Permission.AUTO_APPROVE_4K_MOVIE if kind is MediaType.MOVIE else Permission.AUTO_APPROVE_4K_TV
        wanted = [Permission.AUTO_APPROVE_4K, own, Permission.MANAGE_REQUESTS]
    else:
        own = Permission.AUTO_APPROVE_MOVIE if kind is MediaType.MOVIE else Permission.AUTO_APPROVE_TV
        wanted = [Permission.AUTO_APPROVE, own, Permission.MANAGE_REQUESTS]
    return has_permission(permissions, wanted, any_of=True)


# ---- query strings ------------------------------------------------------------------------------------------------

_UNSENDABLE: Final = re.compile(r"[:/?@!$()*,]")
"""Reserved characters the HTTP layer would send unencoded, which Overseerr's validator refuses."""


def search_text(text: str) -> str:
    """``text`` as it can be sent to Overseerr's search: apostrophes dropped, ``:/?@!$()*,`` made spaces, spaces
    collapsed."""
    return " ".join(_UNSENDABLE.sub(" ", text.replace("'", "")).split())


def with_query(path: str, params: Mapping[str, object | None]) -> str:
    """``path?k=v&…`` with each value percent-encoded (``%20``, never ``+``), ``None`` values left out."""
    parts = [
        f"{quote(key, safe='')}={quote(str(value), safe='')}" for key, value in params.items() if value is not None
    ]
    return f"{path}?{'&'.join(parts)}" if parts else path


def overseerr_headers(api_key: str) -> dict[str, str]:
    """The headers of every call: JSON, and the admin's API key (Overseerr's user 1)."""
    return {"Accept": "application/json", "X-Api-Key": api_key}


def _as(user_id: int | None) -> dict[str, str] | None:
    return None if user_id is None else {"X-API-User": str(user_id)}


# ---- answers ------------------------------------------------------------------------------------------------------


@attrs.frozen
class Status:
    """``GET /status`` (public)."""

    version: str
    commitTag: str | None = None
    updateAvailable: bool = False
    commitsBehind: int = 0
    restartRequired: bool = False


@attrs.frozen
class PublicSettings:
    """``GET /settings/public`` (public): what MediaNest reads of it."""

    initialized: bool = False
    applicationTitle: str | None = None
    applicationUrl: str | None = None
    localLogin: bool = False
    movie4kEnabled: bool = False
    series4kEnabled: bool = False
    partialRequestsEnabled: bool = True
    hideAvailable: bool = False
    region: str | None = None
    originalLanguage: str | None = None
    locale: str | None = None


@attrs.frozen
class PageInfo:
    pages: int | None = None
    pageSize: int | None = None
    results: int = 0
    page: int = 1


@attrs.frozen
class User:
    """An Overseerr user. ``email`` and ``plexId`` are present only when the key may manage users (the admin's key
    may), and never in the answer of :meth:`OverseerrClient.import_from_plex`."""

    id: int
    displayName: str | None = None
    username: str | None = None
    plexUsername: str | None = None
    email: str | None = None
    plexId: int | None = None
    userType: UserType = UserType.PLEX
    permissions: Permission = Permission.NONE
    avatar: str | None = None
    requestCount: int | None = None
    movieQuotaLimit: int | None = None
    movieQuotaDays: int | None = None
    tvQuotaLimit: int | None = None
    tvQuotaDays: int | None = None
    createdAt: datetime | None = None
    updatedAt: datetime | None = None


@attrs.frozen
class UserPage:
    pageInfo: PageInfo
    results: list[User] = attrs.field(factory=list)


@attrs.frozen
class QuotaLimit:
    """One kind's quota: ``limit`` requests (films) or seasons (series) per ``days``; no ``limit``: no quota."""

    used: int = 0
    limit: int | None = None
    days: int | None = None
    remaining: int | None = None
    restricted: bool = False


@attrs.frozen
class Quota:
    """``GET /user/{id}/quota``."""

    movie: QuotaLimit = QuotaLimit()
    tv: QuotaLimit = QuotaLimit()


@attrs.frozen
class SeasonRequest:
    id: int
    seasonNumber: int
    status: MediaRequestStatus = MediaRequestStatus.PENDING


@attrs.frozen
class Season:
    """A season Overseerr tracks (what Plex or Sonarr reported of it)."""

    seasonNumber: int
    status: MediaStatus = MediaStatus.UNKNOWN
    status4k: MediaStatus = MediaStatus.UNKNOWN
    id: int | None = None


@attrs.frozen
class DownloadStatus:
    """A download Radarr or Sonarr is running for a media (``downloadStatus`` of a media Overseerr tracks)."""

    title: str | None = None
    status: str | None = None
    size: int | None = None
    sizeLeft: int | None = None
    timeLeft: str | None = None
    estimatedCompletionTime: datetime | None = None


@attrs.frozen
class Media:
    """Media Overseerr tracks (``mediaInfo`` of a search result or of details; ``media`` of a request). Its
    ``requests`` are present in details only; ``seasons`` in details, search results and a single request."""

    id: int
    mediaType: MediaType
    tmdbId: int
    tvdbId: int | None = None
    imdbId: str | None = None
    status: MediaStatus = MediaStatus.UNKNOWN
    status4k: MediaStatus = MediaStatus.UNKNOWN
    seasons: list[Season] = attrs.field(factory=list)
    requests: list[MediaRequest] = attrs.field(factory=list)
    ratingKey: str | None = None
    ratingKey4k: str | None = None
    plexUrl: str | None = None
    plexUrl4k: str | None = None
    downloadStatus: list[DownloadStatus] = attrs.field(factory=list)
    downloadStatus4k: list[DownloadStatus] = attrs.field(factory=list)
    mediaAddedAt: datetime | None = None
    createdAt: datetime | None = None
    updatedAt: datetime | None = None


@attrs.frozen
class MediaRequest:
    id: int
    status: MediaRequestStatus
    type: MediaType
    is4k: bool = False
    media: Media | None = None
    requestedBy: User | None = None
    modifiedBy: User | None = None
    seasons: list[SeasonRequest] = attrs.field(factory=list)
    isAutoRequest: bool = False
    createdAt: datetime | None = None
    updatedAt: datetime | None = None

    @property
    def season_numbers(self) -> list[int]:
        return sorted(season.seasonNumber for season in self.seasons)


@attrs.frozen
class RequestPage:
    pageInfo: PageInfo
    results: list[MediaRequest] = attrs.field(factory=list)


@attrs.frozen
class RequestCount:
    """``GET /request/count``: everyone's requests, whoever asks."""

    total: int = 0
    movie: int = 0
    tv: int = 0
    pending: int = 0
    approved: int = 0
    declined: int = 0
    processing: int = 0
    available: int = 0


@attrs.frozen
class SearchResult:
    """A film, a series or a person (``mediaType``; Overseerr also knows ``collection``) in search results, in
    Overseerr's camelCase mapping of TMDB; ``mediaInfo`` only when Overseerr tracks it."""

    id: int
    mediaType: str
    title: str | None = None
    originalTitle: str | None = None
    name: str | None = None
    originalName: str | None = None
    releaseDate: str | None = None
    firstAirDate: str | None = None
    overview: str | None = None
    posterPath: str | None = None
    backdropPath: str | None = None
    profilePath: str | None = None
    popularity: float | None = None
    voteAverage: float | None = None
    voteCount: int | None = None
    genreIds: list[int] = attrs.field(factory=list)
    originalLanguage: str | None = None
    adult: bool | None = None
    mediaInfo: Media | None = None


@attrs.frozen
class SearchPage:
    page: int = 1
    totalPages: int = 0
    totalResults: int = 0
    results: list[SearchResult] = attrs.field(factory=list)


@attrs.frozen
class Genre:
    id: int | None = None
    name: str | None = None


@attrs.frozen
class CastCredit:
    """Someone of a title's cast (``credits.cast`` of details), in billing ``order``."""

    name: str | None = None
    character: str | None = None
    order: int | None = None
    profilePath: str | None = None
    id: int | None = None


@attrs.frozen
class Credits:
    cast: list[CastCredit] = attrs.field(factory=list)


@attrs.frozen
class Video:
    """A video of a title (``relatedVideos`` of details): ``key`` on ``site`` (YouTube), of a ``type`` such as
    "Trailer", "Teaser" or "Clip"."""

    key: str | None = None
    site: str | None = None
    type: str | None = None
    name: str | None = None
    url: str | None = None


@attrs.frozen
class ExternalIds:
    imdbId: str | None = None
    tvdbId: int | None = None


@attrs.frozen
class TvSeason:
    """A season as TMDB knows it (``seasons`` of series details)."""

    seasonNumber: int
    id: int | None = None
    name: str | None = None
    airDate: str | None = None
    episodeCount: int | None = None
    overview: str | None = None
    posterPath: str | None = None


@attrs.frozen
class MovieDetails:
    """``GET /movie/{tmdbId}``."""

    id: int
    title: str | None = None
    originalTitle: str | None = None
    releaseDate: str | None = None
    overview: str | None = None
    tagline: str | None = None
    runtime: int | None = None
    status: str | None = None
    imdbId: str | None = None
    adult: bool | None = None
    popularity: float | None = None
    posterPath: str | None = None
    backdropPath: str | None = None
    genres: list[Genre] = attrs.field(factory=list)
    credits: Credits | None = None
    relatedVideos: list[Video] | None = None
    externalIds: ExternalIds = ExternalIds()
    mediaInfo: Media | None = None


@attrs.frozen
class TvDetails:
    """``GET /tv/{tmdbId}``."""

    id: int
    name: str | None = None
    originalName: str | None = None
    firstAirDate: str | None = None
    lastAirDate: str | None = None
    overview: str | None = None
    tagline: str | None = None
    status: str | None = None
    numberOfSeasons: int | None = None
    numberOfEpisodes: int | None = None
    seasons: list[TvSeason] = attrs.field(factory=list)
    episodeRunTime: list[int] | None = None
    popularity: float | None = None
    posterPath: str | None = None
    backdropPath: str | None = None
    genres: list[Genre] = attrs.field(factory=list)
    credits: Credits | None = None
    relatedVideos: list[Video] | None = None
    externalIds: ExternalIds = ExternalIds()
    mediaInfo: Media | None = None


# ---- webhook payloads ---------------------------------------------------------------------------------------------


@attrs.frozen
class WebhookMedia:
    """``media`` of the default webhook template: every value a string, statuses by name."""

    media_type: str = ""
    tmdbId: str = ""
    tvdbId: str = ""
    status: str = ""
    status4k: str = ""


@attrs.frozen
class WebhookRequest:
    request_id: str = ""
    requestedBy_email: str = ""
    requestedBy_username: str = ""
    requestedBy_avatar: str = ""
    requestedBy_settings_discordId: str = ""
    requestedBy_settings_telegramChatId: str = ""


@attrs.frozen
class WebhookExtra:
    name: str = ""
    value: str = ""


@attrs.frozen
class WebhookPayload:
    """A notification sent with Overseerr's default webhook template (``issue`` and ``comment`` are not read)."""

    notification_type: str
    event: str = ""
    subject: str = ""
    message: str = ""
    image: str = ""
    media: WebhookMedia | None = None
    request: WebhookRequest | None = None
    extra: list[WebhookExtra] = attrs.field(factory=list)

    @property
    def notification(self) -> Notification | None:
        """The type, or ``None`` for one this version does not know."""
        return Notification.__members__.get(self.notification_type)

    @property
    def request_id(self) -> int | None:
        text = self.request.request_id if self.request is not None else ""
        # ASCII digits only, and an id Overseerr can have (its ids are 32-bit): anything else names no request.
        if not (text.isascii() and text.isdigit() and len(text) <= 10):
            return None
        number = int(text)
        return number if 1 <= number <= 2**31 - 1 else None

    @property
    def requested_seasons(self) -> list[int]:
        """``extra``'s "Requested Seasons" ("1, 2") as numbers; none for a film."""
        for item in self.extra:
            if item.name == "Requested Seasons":
                return [int(part) for part in item.value.split(",") if part.strip().isdecimal()]
        return []


def parse_webhook(body: Any) -> WebhookPayload:
    """A webhook body (decoded JSON) as a :class:`WebhookPayload`; a :class:`BadResponse` if it is not one."""
    payload: WebhookPayload = structure(SERVICE, body, WebhookPayload)
    return payload


# ---- outcomes of a request ----------------------------------------------------------------------------------------


class OutcomeKind(enum.StrEnum):
    CREATED = "created"
    """201: the request exists now (``request``)."""
    NOTHING_TO_REQUEST = "nothing_to_request"
    """202: every season asked for is requested or available already."""
    DUPLICATE = "duplicate"
    """409: the film is requested already (by anyone)."""
    REFUSED = "refused"
    """403: a permission or a quota (``reason``)."""


class RefusalReason(enum.StrEnum):
    PERMISSION = "permission"
    QUOTA = "quota"
    OTHER = "other"


@attrs.frozen
class RequestOutcome:
    """What became of a request: ``message`` is Overseerr's own (or, for a 403, the one it gives for that reason);
    ``quota`` is the asker's quota of that kind when it is why."""

    kind: OutcomeKind
    message: str = ""
    request: MediaRequest | None = None
    reason: RefusalReason | None = None
    quota: QuotaLimit | None = None

    @property
    def created(self) -> bool:
        return self.kind is OutcomeKind.CREATED


UNKNOWN_TITLE: Final = (500,)
"""What Overseerr answers for a TMDB id that TMDB does not know (its details, a request of it)."""


class NoSuchUser(NotFound):
    """The key is good, but Overseerr has no user with the id given as ``X-API-User``."""


Seasons = Sequence[int] | Literal["all"]


# ---- the client ---------------------------------------------------------------------------------------------------


class OverseerrClient:
    """Overseerr's API through ``upstream`` (its base URL ends with ``/api/v1``; its session carries
    :func:`overseerr_headers`). ``as_user`` is always an Overseerr user id."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream

    async def _get(self, path: str, cls: type[Any], *, as_user: int | None = None) -> Any:
        return await self.upstream.request("GET", path, headers=_as(as_user), expect=cls)

    async def status(self) -> Status:
        """Version and update state; public, so it says whether Overseerr answers, not whether the key is good."""
        answer: Status = await self._get("/status", Status)
        return answer

    async def public_settings(self) -> PublicSettings:
        answer: PublicSettings = await self._get("/settings/public", PublicSettings)
        return answer

    async def me(self, as_user: int | None = None) -> User:
        """The user the key acts as (user 1), or ``as_user``: how the checks see that the key is good."""
        answer: User = await self._get("/auth/me", User, as_user=as_user)
        return answer

    async def search(self, query: str, page: int = 1, language: str | None = None) -> SearchPage:
        """Films, series and people matching ``query`` (sent as :func:`search_text`), with Overseerr's
        ``mediaInfo`` on what it tracks."""
        path = with_query("/search", {"query": search_text(query), "page": page, "language": language})
        answer: SearchPage = await self._get(path, SearchPage)
        return answer

    async def _title(self, path: str, cls: type[Any]) -> Any:
        """Overseerr answers an id TMDB does not know with a 500: that is :class:`NotFound` here, and an answer,
        so that ids nobody has never pause Overseerr for everyone (its breaker)."""
        try:
            return await self.upstream.request("GET", path, expect=cls, answers=UNKNOWN_TITLE)
        except BadResponse as exc:
            if exc.status in UNKNOWN_TITLE:
                raise NotFound(SERVICE, f"{path.split('?', 1)[0]}: TMDB does not know this id", status=404) from exc
            raise

    async def movie(self, tmdb_id: int, language: str | None = None) -> MovieDetails:
        """A film's details; :class:`~medianest_core.upstream.NotFound` for an id TMDB does not know."""
        answer: MovieDetails = await self._title(with_query(f"/movie/{tmdb_id}", {"language": language}), MovieDetails)
        return answer

    async def tv(self, tmdb_id: int, language: str | None = None) -> TvDetails:
        """A series' details, its seasons and, in ``mediaInfo``, what is requested or available of them;
        :class:`~medianest_core.upstream.NotFound` for an id TMDB does not know."""
        answer: TvDetails = await self._title(with_query(f"/tv/{tmdb_id}", {"language": language}), TvDetails)
        return answer

    async def users(self, take: int = DEFAULT_TAKE, skip: int = 0) -> UserPage:
        """A page of users, oldest first."""
        answer: UserPage = await self._get(with_query("/user", {"take": take, "skip": skip}), UserPage)
        return answer

    async def user(self, user_id: int) -> User:
        """One user; :class:`~medianest_core.upstream.NotFound` if there is none."""
        answer: User = await self._get(f"/user/{user_id}", User)
        return answer

    async def quota(self, user_id: int, as_user: int | None = None) -> Quota:
        """A user's quotas and their use (asked as the user themselves, or by the key)."""
        answer: Quota = await self._get(f"/user/{user_id}/quota", Quota, as_user=as_user)
        return answer

    async def import_from_plex(self, plex_ids: Sequence[int | str]) -> list[User]:
        """Create the Overseerr users of these Plex accounts, among those the Plex server is shared with. Answers the
        users created (none for an account already there, updated instead), without their ``email`` or ``plexId``:
        find a user by Plex id with :meth:`users`. Plex ids go as strings, as Overseerr's validator wants."""
        body = {"plexIds": [str(plex_id) for plex_id in plex_ids]}
        answer: list[User] = await self.upstream.request("POST", "/user/import-from-plex", json=body, expect=list[User])
        return answer

    async def request(
        self, as_user: int, kind: MediaType, tmdb_id: int, seasons: Seasons | None = None, is4k: bool = False
    ) -> RequestOutcome:
        """Request a film or seasons of a series (``"all"`` or ``None``: every season) as Overseerr user
        ``as_user`` (``X-API-User``), so that their permissions, auto-approval and quotas apply.

        A 403 does not say why in a way the upstream keeps, so on a 403 the asker's permissions and quota are read
        (``/auth/me`` and ``/user/{id}/quota``, as them) and the outcome says which one refused it, with
        Overseerr's message for it. A 409 after a retried call may be this very request: the reconciliation of
        requests finds it."""
        kind = MediaType(kind)
        body: dict[str, Any] = {"mediaType": kind.value, "mediaId": tmdb_id, "is4k": is4k}
        if kind is MediaType.TV:
            body["seasons"] = "all" if seasons is None or seasons == "all" else [int(n) for n in seasons]
        try:
            answer = await self.upstream.request(
                "POST", "/request", json=body, headers=_as(as_user), answers=UNKNOWN_TITLE
            )
        except BadResponse as exc:
            if exc.status == 409:
                return RequestOutcome(OutcomeKind.DUPLICATE, DUPLICATE_MESSAGE)
            if exc.status in UNKNOWN_TITLE:
                # Overseerr's 500 for a title TMDB does not know, or any other failure of its own: which one,
                # the title's details say (and they count as an answer either way).
                await (self.movie(tmdb_id) if kind is MediaType.MOVIE else self.tv(tmdb_id))
                raise Unavailable(SERVICE, "POST /request answered 500", status=500) from exc
            raise
        except AuthFailed as exc:
            if exc.status != 403:
                raise
            wanted = None if kind is MediaType.MOVIE or body["seasons"] == "all" else len(body["seasons"])
            return await self._refusal(exc, as_user, kind, is4k, wanted)
        if isinstance(answer, dict) and "id" not in answer and isinstance(answer.get("message"), str):
            return RequestOutcome(OutcomeKind.NOTHING_TO_REQUEST, answer["message"])
        made: MediaRequest = structure(SERVICE, answer, MediaRequest)
        return RequestOutcome(OutcomeKind.CREATED, request=made)

    async def _refusal(
        self, refused: AuthFailed, as_user: int, kind: MediaType, is4k: bool, seasons: int | None
    ) -> RequestOutcome:
        try:
            asker = await self.me(as_user)
        except AuthFailed:
            await self.me()  # the key itself refused: AuthFailed again
            raise NoSuchUser(SERVICE, f"there is no user {as_user}", status=403) from refused
        if not may_request(asker.permissions, kind, is4k):
            return RequestOutcome(OutcomeKind.REFUSED, permission_message(kind, is4k), reason=RefusalReason.PERMISSION)
        quota = await self.quota(as_user, as_user=as_user)
        limit = quota.movie if kind is MediaType.MOVIE else quota.tv
        short = limit.remaining is not None and (seasons is None or seasons > limit.remaining)
        if limit.restricted or (kind is MediaType.TV and limit.limit and short):
            return RequestOutcome(OutcomeKind.REFUSED, quota_message(kind), reason=RefusalReason.QUOTA, quota=limit)
        return RequestOutcome(OutcomeKind.REFUSED, REFUSED_MESSAGE, reason=RefusalReason.OTHER)

    async def requests(
        self,
        take: int = DEFAULT_TAKE,
        skip: int = 0,
        filter: RequestFilter = RequestFilter.ALL,
        requested_by: int | None = None,
        as_user: int | None = None,
        sort: RequestSort = RequestSort.ADDED,
    ) -> RequestPage:
        """A page of requests, newest first (``sort=modified``: last changed first). Asked by the key, everyone's;
        ``as_user`` without ``MANAGE_REQUESTS`` sees only their own (and may not name another ``requested_by``).
        Requests in a list carry their media without its seasons."""
        params = {
            "take": take,
            "skip": skip,
            "filter": RequestFilter(filter).value,
            "sort": RequestSort(sort).value,
            "requestedBy": requested_by,
        }
        answer: RequestPage = await self._get(with_query("/request", params), RequestPage, as_user=as_user)
        return answer

    async def request_count(self) -> RequestCount:
        answer: RequestCount = await self._get("/request/count", RequestCount)
        return answer

    async def get_request(self, request_id: int, as_user: int | None = None) -> MediaRequest:
        """One request; :class:`~medianest_core.upstream.NotFound` if there is none, ``AuthFailed`` if ``as_user``
        may not see it."""
        answer: MediaRequest = await self._get(f"/request/{request_id}", MediaRequest, as_user=as_user)
        return answer

    async def delete_request(self, request_id: int, as_user: int | None) -> None:
        """Remove a request as ``as_user`` (``None``: as the key). Overseerr refuses (401) only someone without
        ``MANAGE_REQUESTS`` removing another's request that is no longer pending: the plugin checks ownership and
        state itself first."""
        await self.upstream.request("DELETE", f"/request/{request_id}", headers=_as(as_user))

    async def approve(self, request_id: int) -> MediaRequest:
        """Approve as the key's user (``MANAGE_REQUESTS``)."""
        answer: MediaRequest = await self.upstream.request(
            "POST", f"/request/{request_id}/approve", expect=MediaRequest
        )
        return answer

    async def decline(self, request_id: int) -> MediaRequest:
        answer: MediaRequest = await self.upstream.request(
            "POST", f"/request/{request_id}/decline", expect=MediaRequest
        )
        return answer
