"""A fake of Overseerr's API (``/api/v1``; Jellyseerr and Seerr share it), served by aiohttp on 127.0.0.1, for tests,
benchmarks and plugin authors.

It answers as Overseerr 1.34 does, as its code and its OpenAPI file describe it:

- **Who asks.** ``X-Api-Key: <api_key>`` acts as user 1, the admin made at construction; ``X-API-User: <id>`` with
  the key acts as that user (every permission check, auto-approval and quota is then theirs). A request with
  neither the key header nor a ``connect.sid`` cookie is stopped by the request validator: 401
  ``{"message": "cookie 'connect.sid' required", "errors": [...]}``. A wrong key, or an ``X-API-User`` that is no
  user, reaches the routes as nobody: 403 ``{"status": 403, "error": "You do not have permission to access this
  endpoint"}``; so does a user without the permission a route needs. ``GET /status`` and ``GET /settings/public``
  are public.
- **The request validator** (express-openapi-validator, before any route): an unknown path is 404 ``not found``; a
  query value holding a reserved character unencoded (``:/?#[]@!$&'()*+,;=``, so a ``+`` for a space too) is 400
  ``Parameter 'query' must be url encoded. Its value may not contain reserved characters.``; an undeclared query
  parameter is 400 ``Unknown query parameter 'x'``; a value of the wrong type or outside its enumeration, a missing
  required one, a body field of the wrong type (bodies are not coerced: ``"mediaId": "603"`` is refused, and
  ``plexIds`` must be strings) are 400 ``{"message": "request.query.page should be number", "errors": [{"path":
  ".query.page", "message": "should be number", "errorCode": "type.openapi.validation"}]}``. Other errors are
  ``{"message": "..."}`` with their status.
- **Users**: :meth:`FakeOverseerr.add_user` (Plex or local, permissions, per-user quotas); ``GET /user?take&skip&sort``
  (paged ``{pageInfo, results}``, oldest first; ``email`` and ``plexId`` only for a caller with ``MANAGE_USERS``),
  ``GET /user/{id}``, ``GET /user/{id}/quota``, ``GET /auth/me``, ``POST /user/import-from-plex`` ``{"plexIds":
  ["…"]}`` (``MANAGE_USERS``: creates users for the Plex accounts the server is shared with,
  :meth:`~FakeOverseerr.add_plex_friend`, and answers 201 with the users it created, without ``email`` or
  ``plexId``; an account already a user is updated, not answered).
- **Titles** (the TMDB data Overseerr relays): :meth:`~FakeOverseerr.add_movie`, :meth:`~FakeOverseerr.add_tv`,
  :meth:`~FakeOverseerr.add_person`; ``GET /search?query&page&language`` (20 a page, by popularity; a title matches
  when the query's words, without punctuation and case, appear in it in order), ``GET /movie/{id}``, ``GET /tv/{id}``
  in Overseerr's camelCase; an id TMDB does not know is a 500 (``Unable to retrieve movie.``), as in Overseerr.
  Details carry the title's ``tagline``, ``genres``, ``cast`` (``credits.cast``) and YouTube ``trailer``
  (``relatedVideos``), set on the :class:`FakeTitle` the ``add_*`` methods answer.
  ``mediaInfo`` appears once the fake tracks the title (requested, or marked available or processing), with its
  seasons' statuses and, in details, its requests.
- **Requests**: ``POST /request`` ``{mediaType, mediaId, seasons?: [n…] | "all", is4k?, userId?}`` → 201 the
  MediaRequest (approved at once for a requester with ``AUTO_APPROVE``, its kind's or ``MANAGE_REQUESTS``); 409
  ``Request for this media already exists.`` for a film requested already and not declined; 202 ``No seasons
  available to request`` when every season asked for is requested or available; 403 without the permission to
  request that kind (``You do not have permission to make movie requests.``) or past the user's quota (``Movie Quota
  exceeded.``, ``Series Quota exceeded.``: films, or seasons, requested and not declined in the last ``days``;
  ``MANAGE_USERS`` goes past quotas). ``GET /request?take&skip&filter&sort&requestedBy`` (newest first; a user
  without ``MANAGE_REQUESTS`` or ``REQUEST_VIEW`` sees only their own, and 403 for another's ``requestedBy``),
  ``GET /request/count``, ``GET /request/{id}``, ``DELETE /request/{id}`` (204; refused, 401, only to someone without
  ``MANAGE_REQUESTS`` removing another's request that is no longer pending, as Overseerr's code does),
  ``POST /request/{id}/approve|decline`` (``MANAGE_REQUESTS``).
- **Time moves on** through the test hooks: :meth:`~FakeOverseerr.make_available` (a film, or seasons of a series:
  partly or fully available; pending requests become approved, as when Plex finds the title),
  :meth:`~FakeOverseerr.make_processing`, :meth:`~FakeOverseerr.fail` (a request Radarr or Sonarr refused), and
  :meth:`~FakeOverseerr.advance` (the fake's clock, for quota windows).
- **The webhook agent**: :meth:`~FakeOverseerr.configure_webhook` (URL, ``Authorization`` value, notification types);
  each change (pending, approved, auto-approved, declined, available, failed) POSTs Overseerr's default template:
  every value a string, statuses by name, ``extra`` holding "Requested Seasons" for a series, ``issue`` and
  ``comment`` null. Deliveries go out in order, one at a time, after the answer (as Overseerr sends them without
  waiting); each is recorded in :attr:`~FakeOverseerr.webhook_deliveries`; :attr:`~FakeOverseerr.drop_webhooks`
  loses the next N (recorded as dropped, never sent), :meth:`~FakeOverseerr.resend` sends one again (a duplicate),
  :meth:`~FakeOverseerr.settle` waits until every delivery is made.
- **Switches**: :attr:`~FakeOverseerr.hang` (accept every request, never answer), :attr:`~FakeOverseerr.down`
  (answer 503 to everything); every request is recorded in :attr:`~FakeOverseerr.calls` with its headers, raw query
  and body, and counted by path (:meth:`~FakeOverseerr.count`).

The enumerations and messages are :mod:`medianest_overseerr.client`'s, defined once there.

Usage::

    fake = FakeOverseerr()
    alice = fake.add_user("alice", plex_id=501, quota_tv=4)
    fake.add_movie(438631, "Dune", 2021)
    fake.add_tv(1399, "Game of Thrones", 2011, seasons={1: 10, 2: 10}, tvdb_id=121361)
    await fake.start()
    fake.configure_webhook("http://127.0.0.1:8080/api/v1/overseerr/webhook", "Bearer s3cret")
    settings = {"url": fake.url, "api_key": fake.api_key}
    ...
    fake.make_available("tv", 1399, seasons=[1])
    await fake.settle()
    await fake.stop()
"""

from __future__ import annotations

import asyncio
import collections
import copy
import hashlib
import itertools
import json
import math
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

import aiohttp
import attrs
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from multidict import CIMultiDict

from medianest_core.fakes import FakeServer
from medianest_overseerr.client import (
    DUPLICATE_MESSAGE,
    MEDIA_NOTIFICATIONS,
    NO_ACCESS_MESSAGE,
    NO_SEASONS_MESSAGE,
    REQUEST_USER_MESSAGE,
    MediaRequestStatus,
    MediaStatus,
    MediaType,
    Notification,
    Permission,
    RequestFilter,
    RequestSort,
    UserType,
    auto_approved,
    has_permission,
    may_request,
    permission_message,
    quota_message,
)

__all__ = [
    "API",
    "FakeCall",
    "FakeMedia",
    "FakeOverseerr",
    "FakeRequest",
    "FakeSeason",
    "FakeSeasonRequest",
    "FakeTitle",
    "FakeUser",
    "PlexFriend",
    "WebhookDelivery",
]

API: Final = "/api/v1"
RESERVED: Final = re.compile(r"[:/?#\[\]@!$&'()*+,;=]")
"""What express-openapi-validator (4.13) refuses unencoded in a query value."""
TMDB_POSTER: Final = "https://image.tmdb.org/t/p/w600_and_h900_bestv2"
_SEARCH_PAGE: Final = 20
_DEFAULT_TAKE: Final = 10
_MESSAGE_LENGTH: Final = 500
_COOKIE_REQUIRED: Final = "cookie 'connect.sid' required"
_BODY: web.RequestKey[Any] = web.RequestKey("overseerr_fake.body")
"""The request's body, read and decoded once when it arrives."""
_RESERVED_TEXT: Final = "Parameter '{}' must be url encoded. Its value may not contain reserved characters."

Kind = MediaType | Literal["movie", "tv"]


# ---- what the fake knows ------------------------------------------------------------------------------------------


@attrs.frozen
class FakeCall:
    """A request the fake received: ``raw_query`` as sent (undecoded), ``body`` decoded JSON (or text, or
    ``None``), ``at`` when it arrived (``time.monotonic()``)."""

    method: str
    path: str
    query: dict[str, str]
    raw_query: str
    headers: CIMultiDict[str]
    body: Any
    at: float

    @property
    def as_user(self) -> str | None:
        """The ``X-API-User`` header as sent, if any."""
        return self.headers.get("X-API-User")


@attrs.define
class FakeUser:
    id: int
    email: str
    plex_username: str | None
    username: str | None
    user_type: UserType
    plex_id: int | None
    permissions: Permission
    avatar: str
    created_at: datetime
    updated_at: datetime
    movie_quota_limit: int | None = None
    movie_quota_days: int | None = None
    tv_quota_limit: int | None = None
    tv_quota_days: int | None = None

    @property
    def display_name(self) -> str:
        return self.username or self.plex_username or self.email


@attrs.define
class PlexFriend:
    """A Plex account the owner's server is shared with, which ``POST /user/import-from-plex`` can import."""

    plex_id: int
    username: str
    email: str
    thumb: str
    has_access: bool = True


@attrs.define
class FakeTitle:
    """A film or a series as TMDB knows it; ``seasons`` maps a series' season numbers to their episode counts."""

    kind: MediaType
    tmdb_id: int
    title: str
    year: int | None
    overview: str = ""
    poster_path: str | None = None
    backdrop_path: str | None = None
    popularity: float = 10.0
    imdb_id: str | None = None
    tvdb_id: int | None = None
    original_title: str | None = None
    seasons: dict[int, int] = attrs.field(factory=dict)
    tagline: str = ""
    genres: list[str] = attrs.field(factory=list)
    cast: list[tuple[str, str]] = attrs.field(factory=list)
    """Who plays whom, in billing order."""
    trailer: str | None = None
    """The YouTube key of its trailer."""
    adult: bool = False

    @property
    def date(self) -> str:
        return f"{self.year}-06-15" if self.year else ""


@attrs.define
class FakeSeason:
    """A season Overseerr tracks, with its media statuses."""

    id: int
    number: int
    status: MediaStatus
    status4k: MediaStatus
    created_at: datetime
    updated_at: datetime


@attrs.define
class FakeMedia:
    """A title Overseerr tracks (its ``mediaInfo``)."""

    id: int
    kind: MediaType
    tmdb_id: int
    tvdb_id: int | None
    imdb_id: str | None
    created_at: datetime
    updated_at: datetime
    status: MediaStatus = MediaStatus.UNKNOWN
    status4k: MediaStatus = MediaStatus.UNKNOWN
    seasons: dict[int, FakeSeason] = attrs.field(factory=dict)
    media_added_at: datetime | None = None
    rating_key: str | None = None
    rating_key4k: str | None = None
    downloading: list[dict[str, Any]] = attrs.field(factory=list)
    """``downloadStatus``: what Radarr or Sonarr is downloading of it now (:meth:`FakeOverseerr.make_processing`)."""
    downloading4k: list[dict[str, Any]] = attrs.field(factory=list)

    def state(self, is4k: bool) -> MediaStatus:
        return self.status4k if is4k else self.status

    def set_state(self, is4k: bool, value: MediaStatus) -> None:
        if is4k:
            self.status4k = value
        else:
            self.status = value


@attrs.define
class FakeSeasonRequest:
    id: int
    number: int
    status: MediaRequestStatus
    created_at: datetime
    updated_at: datetime


@attrs.define
class FakeRequest:
    id: int
    kind: MediaType
    media: FakeMedia
    requested_by: FakeUser
    status: MediaRequestStatus
    is4k: bool
    created_at: datetime
    updated_at: datetime
    modified_by: FakeUser | None = None
    seasons: list[FakeSeasonRequest] = attrs.field(factory=list)

    @property
    def season_numbers(self) -> list[int]:
        return [season.number for season in self.seasons]


@attrs.frozen
class WebhookDelivery:
    """One notification of the webhook agent: ``status`` is the HTTP status the receiver answered (``None`` when
    it could not be reached: ``error`` says why, or when the delivery was ``dropped``); ``sent_at`` is the moment
    (:func:`time.monotonic`) its POST started."""

    notification: Notification
    payload: dict[str, Any]
    status: int | None = None
    error: str | None = None
    dropped: bool = False
    resent: bool = False
    sent_at: float | None = None


@attrs.frozen
class _Param:
    name: str
    type: Literal["string", "number"] = "string"
    required: bool = False
    enum: tuple[str, ...] = ()


@attrs.frozen
class _Spec:
    """What the validator checks of a route, and the permission its route needs (``None``: public)."""

    query: tuple[_Param, ...] = ()
    path: tuple[_Param, ...] = ()
    body: Callable[[Any], list[_Problem]] | None = None
    auth: Permission | None = Permission.NONE


@attrs.frozen
class _Problem:
    """One validation error: ``where`` as the message names it, ``path`` as the error lists it."""

    where: str
    path: str
    message: str
    code: str


# ---- helpers ------------------------------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def _number(text: str | None) -> float | None:
    """JavaScript's ``Number(text)`` for what can be one; ``None`` for NaN."""
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _whole(text: str | None) -> int | None:
    value = _number(text)
    return int(value) if value is not None and value == int(value) else None


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold().replace("'", "")).split())


def _truncate(text: str, length: int = _MESSAGE_LENGTH) -> str:
    """lodash's ``truncate(text, {length, separator: /\\s/, omission: "…"})``."""
    if len(text) <= length:
        return text
    cut = text[: length - 1]
    space = max(cut.rfind(" "), cut.rfind("\n"), cut.rfind("\t"))
    return (cut[:space] if space > 0 else cut) + "…"


def _message(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


def _no_access() -> web.Response:
    return web.json_response({"status": 403, "error": NO_ACCESS_MESSAGE}, status=403)


def _invalid(problems: Sequence[_Problem]) -> web.Response:
    message = ", ".join(f"request{problem.where} {problem.message}" for problem in problems)
    errors = [{"path": p.path, "message": p.message, "errorCode": p.code} for p in problems]
    return web.json_response({"message": message, "errors": errors}, status=400)


def _plain_error(status: int, message: str, path: str) -> web.Response:
    return web.json_response({"message": message, "errors": [{"path": path, "message": message}]}, status=status)


def _type_problem(where: str, expected: str) -> _Problem:
    return _Problem(where, where, f"should be {expected}", "type.openapi.validation")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_request_body(body: Any) -> list[_Problem]:
    if not isinstance(body, dict):
        return [_type_problem(".body", "object")]
    problems = [
        _Problem(".body", f".body.{name}", f"should have required property '{name}'", "required.openapi.validation")
        for name in ("mediaType", "mediaId")
        if name not in body
    ]
    if "mediaType" in body and body["mediaType"] not in ("movie", "tv"):
        problems.append(
            _Problem(
                ".body.mediaType",
                ".body.mediaType",
                "should be equal to one of the allowed values: movie, tv",
                "enum.openapi.validation",
            )
        )
    for name in ("mediaId", "tvdbId", "serverId", "profileId", "languageProfileId"):
        if name in body and not _is_number(body[name]):
            problems.append(_type_problem(f".body.{name}", "number"))
    if "userId" in body and body["userId"] is not None and not _is_number(body["userId"]):
        problems.append(_type_problem(".body.userId", "number"))
    if "is4k" in body and not isinstance(body["is4k"], bool):
        problems.append(_type_problem(".body.is4k", "boolean"))
    if "rootFolder" in body and not isinstance(body["rootFolder"], str):
        problems.append(_type_problem(".body.rootFolder", "string"))
    if "seasons" in body:
        problems += _check_seasons(body["seasons"])
    return problems


def _check_seasons(seasons: Any) -> list[_Problem]:
    """``oneOf: [array of numbers >= 0, "all"]``, reported as ajv reports a oneOf that no branch matches."""
    if seasons == "all":
        return []
    as_array: list[_Problem] = []
    if not isinstance(seasons, list):
        as_array.append(_type_problem(".body.seasons", "array"))
    else:
        for n, item in enumerate(seasons):
            where = f".body.seasons[{n}]"
            if not _is_number(item):
                as_array.append(_type_problem(where, "number"))
            elif item < 0:
                as_array.append(_Problem(where, where, "should be >= 0", "minimum.openapi.validation"))
        if not as_array:
            return []
    as_text = (
        [
            _Problem(
                ".body.seasons",
                ".body.seasons",
                "should be equal to one of the allowed values: all",
                "enum.openapi.validation",
            )
        ]
        if isinstance(seasons, str)
        else [_type_problem(".body.seasons", "string")]
    )
    one_of = _Problem(
        ".body.seasons", ".body.seasons", "should match exactly one schema in oneOf", "oneOf.openapi.validation"
    )
    return [*as_array, *as_text, one_of]


def _check_import_body(body: Any) -> list[_Problem]:
    if body is None:
        return []
    if not isinstance(body, dict):
        return [_type_problem(".body", "object")]
    ids = body.get("plexIds")
    if ids is None:
        return []
    if not isinstance(ids, list):
        return [_type_problem(".body.plexIds", "array")]
    return [_type_problem(f".body.plexIds[{n}]", "string") for n, item in enumerate(ids) if not isinstance(item, str)]


_TAKE_SKIP: Final = (_Param("take", "number"), _Param("skip", "number"))
_LANGUAGE: Final = _Param("language")
_REQUEST_ID: Final = _Param("requestId")


# ---- the fake -----------------------------------------------------------------------------------------------------


class FakeOverseerr(FakeServer):
    """Overseerr's API under ``/api/v1`` on 127.0.0.1 (see the module's documentation)."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        admin_username: str = "owner",
        admin_email: str = "owner@example.org",
        admin_plex_id: int = 1000,
        version: str = "1.34.0",
    ) -> None:
        super().__init__()
        self.api_key = api_key or secrets.token_urlsafe(32)
        """What ``X-Api-Key`` must be."""
        self.version = version
        self.hang = False
        """When true every request is accepted and never answered (until :meth:`stop`)."""
        self.down = False
        """When true every request is answered 503, as a reverse proxy does when Overseerr is not running."""
        self.calls: list[FakeCall] = []
        """Every request received, in order (the key included: it is a fake)."""
        self.counts: collections.Counter[str] = collections.Counter()
        """How many requests each path received."""
        self.movie_4k = False
        """``movie4kEnabled`` of the public settings (a default 4K Radarr)."""
        self.series_4k = False
        self.default_permissions = Permission.REQUEST
        """The permissions of users imported from Plex (Overseerr's default)."""
        self.machine_id = secrets.token_hex(20)
        """The Plex server's identifier in ``plexUrl``."""
        self.webhook_url: str | None = None
        self.webhook_authorization: str | None = None
        self.webhook_types: Notification = Notification.NONE
        self.webhook_deliveries: list[WebhookDelivery] = []
        """Every notification of the webhook agent, in the order they went out (dropped ones included)."""
        self.drop_webhooks = 0
        """How many of the next deliveries are lost (recorded as dropped, never sent)."""
        self._offset = timedelta()
        self._users: dict[int, FakeUser] = {}
        self._friends: dict[int, PlexFriend] = {}
        self._titles: dict[tuple[MediaType, int], FakeTitle] = {}
        self._people: dict[int, tuple[str, float]] = {}
        self._media: dict[tuple[MediaType, int], FakeMedia] = {}
        self._requests: dict[int, FakeRequest] = {}
        self._user_ids = itertools.count(1)
        self._media_ids = itertools.count(1)
        self._request_ids = itertools.count(1)
        self._season_ids = itertools.count(1)
        self._rating_keys = itertools.count(50001)
        self._outbox: asyncio.Queue[WebhookDelivery] = asyncio.Queue()
        self._sender: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self.admin = self.add_user(
            admin_username, plex_id=admin_plex_id, email=admin_email, permissions=Permission.ADMIN
        )
        """User 1, whom the API key acts as."""

    # -- lifecycle ---------------------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """The API's base, ``<url>/api/v1``."""
        return f"{self.url}{API}"

    def middlewares(self) -> list[Middleware]:
        return [self._middleware]

    async def started(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        self._sender = asyncio.get_running_loop().create_task(self._send_webhooks())

    async def stopping(self) -> None:
        """Stop sending webhooks (those not sent yet go out after the next :meth:`start`)."""
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
            self._sender = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def count(self, path: str) -> int:
        """How many requests ``path`` (``/api/v1/request``) received."""
        return self.counts[path]

    def now(self) -> datetime:
        """The fake's clock: the time, moved on by :meth:`advance`."""
        return datetime.now(UTC) + self._offset

    def advance(self, *, days: float = 0, seconds: float = 0) -> None:
        """Move the fake's clock on (requests then look that much older to quotas)."""
        self._offset += timedelta(days=days, seconds=seconds)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body: Any = None
        if request.can_read_body:
            text = await request.text()
            try:
                body = json.loads(text)
            except ValueError:
                body = text
            request[_BODY] = body
        raw_query = request.raw_path.partition("?")[2]
        self.calls.append(
            FakeCall(
                request.method,
                request.path,
                dict(request.query),
                raw_query,
                CIMultiDict(request.headers),
                body,
                time.monotonic(),
            )
        )
        self.counts[request.path] += 1
        if self.hang:
            await self.hold(request)
        if self.down:
            return web.Response(status=503, text="Service Unavailable")
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return _plain_error(404, "not found", request.path)
        except web.HTTPMethodNotAllowed:
            return _plain_error(405, f"{request.method} method not allowed", request.path)

    def routes(self, app: web.Application) -> None:
        routes: list[tuple[str, str, Callable[..., Awaitable[web.Response]], _Spec]] = [
            ("GET", "/status", self._status, _Spec(auth=None)),
            ("GET", "/settings/public", self._public_settings, _Spec(auth=None)),
            ("GET", "/auth/me", self._me, _Spec()),
            ("GET", "/user", self._list_users, _Spec(query=(*_TAKE_SKIP, _Param("sort", enum=_USER_SORTS)))),
            (
                "POST",
                "/user/import-from-plex",
                self._import_from_plex,
                _Spec(body=_check_import_body, auth=Permission.MANAGE_USERS),
            ),
            ("GET", "/user/{userId}", self._user, _Spec(path=(_Param("userId", "number"),))),
            ("GET", "/user/{userId}/quota", self._quota, _Spec(path=(_Param("userId", "number"),))),
            (
                "GET",
                "/search",
                self._search,
                _Spec(query=(_Param("query", required=True), _Param("page", "number"), _LANGUAGE)),
            ),
            ("GET", "/movie/{movieId}", self._movie, _Spec(query=(_LANGUAGE,), path=(_Param("movieId", "number"),))),
            ("GET", "/tv/{tvId}", self._tv, _Spec(query=(_LANGUAGE,), path=(_Param("tvId", "number"),))),
            ("GET", "/request/count", self._request_count, _Spec()),
            (
                "GET",
                "/request",
                self._list_requests,
                _Spec(
                    query=(
                        *_TAKE_SKIP,
                        _Param("filter", enum=tuple(RequestFilter)),
                        _Param("sort", enum=tuple(RequestSort)),
                        _Param("requestedBy", "number"),
                    )
                ),
            ),
            ("POST", "/request", self._create_request, _Spec(body=_check_request_body)),
            ("GET", "/request/{requestId}", self._get_request, _Spec(path=(_REQUEST_ID,))),
            ("DELETE", "/request/{requestId}", self._delete_request, _Spec(path=(_REQUEST_ID,))),
            (
                "POST",
                "/request/{requestId}/{status}",
                self._set_request_status,
                _Spec(
                    path=(_REQUEST_ID, _Param("status", enum=("approve", "decline"))), auth=Permission.MANAGE_REQUESTS
                ),
            ),
        ]
        for method, path, handler, spec in routes:
            app.router.add_route(method, f"{API}{path}", self._serving(handler, spec))

    def _serving(
        self, handler: Callable[..., Awaitable[web.Response]], spec: _Spec
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def serve(request: web.Request) -> web.Response:
            # The validator, before any route: security (that a key or a session cookie is there), then the query
            # string as sent, then the parameters' and the body's types.
            if spec.auth is not None and "X-Api-Key" not in request.headers and "connect.sid" not in request.cookies:
                return _plain_error(401, _COOKIE_REQUIRED, request.path)
            refused = self._check_query(request, spec)
            if refused is not None:
                return refused
            problems = self._check_parameters(request, spec)
            body: Any = None
            if spec.body is not None:
                body = request.get(_BODY)
                if isinstance(body, str):
                    return _message(400, "Unexpected token in JSON")
                problems += spec.body(body)
            if problems:
                return _invalid(problems)
            # The routes: who asks (checkUser), then the permission the route needs (isAuthenticated).
            user = self._caller(request)
            if spec.auth is not None and (user is None or not has_permission(user.permissions, spec.auth)):
                return _no_access()
            if spec.body is not None:
                return await handler(request, user, body)
            return await handler(request, user)

        return serve

    def _check_query(self, request: web.Request, spec: _Spec) -> web.Response | None:
        declared = {param.name for param in spec.query}
        raw: dict[str, list[str]] = {}
        for pair in request.raw_path.partition("?")[2].split("&"):
            if pair:
                key, _, value = pair.partition("=")
                raw.setdefault(key, []).append(value)
        for param in spec.query:
            if any(RESERVED.search(value) for value in raw.get(param.name, [])):
                where = f".query.{param.name}"
                return _plain_error(400, _RESERVED_TEXT.format(param.name), where)
        for name in request.query:
            if name not in declared:
                message = f"Unknown query parameter '{name}'"
                return _plain_error(400, message, f".query.{name}")
        return None

    @staticmethod
    def _check_parameters(request: web.Request, spec: _Spec) -> list[_Problem]:
        problems: list[_Problem] = []
        for place, params, values in (
            ("query", spec.query, request.query),
            ("params", spec.path, request.match_info),
        ):
            for param in params:
                value = values.get(param.name)
                where = f".{place}.{param.name}"
                if value is None:
                    if param.required:
                        problems.append(
                            _Problem(
                                f".{place}",
                                where,
                                f"should have required property '{param.name}'",
                                "required.openapi.validation",
                            )
                        )
                elif param.type == "number" and _number(value) is None:
                    problems.append(_type_problem(where, "number"))
                elif param.enum and value not in param.enum:
                    allowed = ", ".join(param.enum)
                    problems.append(
                        _Problem(
                            where,
                            where,
                            f"should be equal to one of the allowed values: {allowed}",
                            "enum.openapi.validation",
                        )
                    )
        return problems

    def _caller(self, request: web.Request) -> FakeUser | None:
        if request.headers.get("X-Api-Key") != self.api_key:
            return None  # a session cookie would be looked up here; the fake keeps no sessions
        named = request.headers.get("X-API-User")
        user_id = 1 if named is None else _whole(named)
        return self._users.get(user_id) if user_id is not None else None

    # -- data set-up -------------------------------------------------------------------------------------------

    def add_user(
        self,
        username: str,
        *,
        plex_id: int | None = None,
        email: str | None = None,
        permissions: Permission | int = Permission.REQUEST,
        user_type: UserType = UserType.PLEX,
        quota_movie: int | None = None,
        quota_tv: int | None = None,
        quota_days: int = 7,
    ) -> FakeUser:
        """A user: a Plex user (``plexUsername``) or a local one (``username``); ``quota_movie`` films and
        ``quota_tv`` seasons every ``quota_days`` days (none: no quota). The first is user 1, the admin."""
        moment = self.now()
        user_type = UserType(user_type)
        address = (email or f"{username}@example.org").lower()
        if user_type is UserType.PLEX:
            avatar = f"https://plex.tv/users/{hashlib.sha256(address.encode()).hexdigest()[:16]}/avatar"
        else:
            avatar = f"https://gravatar.com/avatar/{hashlib.md5(address.encode()).hexdigest()}?default=mm&size=200"  # noqa: S324
        user = FakeUser(
            id=next(self._user_ids),
            email=address,
            plex_username=username if user_type is UserType.PLEX else None,
            username=username if user_type is UserType.LOCAL else None,
            user_type=user_type,
            plex_id=plex_id,
            permissions=Permission(permissions),
            avatar=avatar,
            created_at=moment,
            updated_at=moment,
            movie_quota_limit=quota_movie,
            movie_quota_days=quota_days if quota_movie is not None else None,
            tv_quota_limit=quota_tv,
            tv_quota_days=quota_days if quota_tv is not None else None,
        )
        self._users[user.id] = user
        return user

    def user(self, user_id: int) -> FakeUser:
        return self._users[user_id]

    @property
    def users(self) -> list[FakeUser]:
        return list(self._users.values())

    def add_plex_friend(
        self, plex_id: int, username: str, email: str | None = None, *, has_access: bool = True
    ) -> PlexFriend:
        """A Plex account the server is shared with (``has_access``), which an import can make a user."""
        address = email or f"{username}@example.org"
        friend = PlexFriend(plex_id, username, address, f"https://plex.tv/users/{plex_id:x}/avatar", has_access)
        self._friends[plex_id] = friend
        return friend

    def add_movie(
        self,
        tmdb_id: int,
        title: str,
        year: int | None,
        *,
        overview: str = "",
        poster_path: str | None = "auto",
        popularity: float = 10.0,
        imdb_id: str | None = None,
        original_title: str | None = None,
    ) -> FakeTitle:
        """A film TMDB knows (``poster_path`` "auto": one made up; ``None``: no poster)."""
        return self._add_title(
            FakeTitle(
                MediaType.MOVIE,
                tmdb_id,
                title,
                year,
                overview=overview,
                poster_path=self._poster(tmdb_id, poster_path),
                backdrop_path=f"/b{tmdb_id}.jpg",
                popularity=popularity,
                imdb_id=imdb_id,
                original_title=original_title,
            )
        )

    def add_tv(
        self,
        tmdb_id: int,
        name: str,
        year: int | None,
        seasons: Mapping[int, int] | None = None,
        *,
        tvdb_id: int | None = None,
        overview: str = "",
        poster_path: str | None = "auto",
        popularity: float = 10.0,
        imdb_id: str | None = None,
        original_name: str | None = None,
    ) -> FakeTitle:
        """A series TMDB knows; ``seasons`` maps season numbers (0: specials) to episode counts (by default
        ``{1: 10, 2: 8}``)."""
        return self._add_title(
            FakeTitle(
                MediaType.TV,
                tmdb_id,
                name,
                year,
                overview=overview,
                poster_path=self._poster(tmdb_id, poster_path),
                backdrop_path=f"/b{tmdb_id}.jpg",
                popularity=popularity,
                imdb_id=imdb_id,
                tvdb_id=tvdb_id,
                original_title=original_name,
                seasons=dict(sorted((seasons if seasons is not None else {1: 10, 2: 8}).items())),
            )
        )

    def add_person(self, tmdb_id: int, name: str, *, popularity: float = 5.0) -> None:
        """Someone the search finds by name."""
        self._people[tmdb_id] = (name, popularity)

    @staticmethod
    def _poster(tmdb_id: int, poster_path: str | None) -> str | None:
        return f"/p{tmdb_id}{secrets.token_hex(4)}.jpg" if poster_path == "auto" else poster_path

    def _add_title(self, title: FakeTitle) -> FakeTitle:
        self._titles[(title.kind, title.tmdb_id)] = title
        return title

    def title(self, kind: Kind, tmdb_id: int) -> FakeTitle:
        return self._titles[(MediaType(kind), tmdb_id)]

    def media(self, kind: Kind, tmdb_id: int) -> FakeMedia | None:
        """What Overseerr tracks of a title, if anything."""
        return self._media.get((MediaType(kind), tmdb_id))

    def request(self, request_id: int) -> FakeRequest:
        return self._requests[request_id]

    @property
    def requests(self) -> list[FakeRequest]:
        """Every request, oldest first."""
        return list(self._requests.values())

    def _track(self, title: FakeTitle) -> FakeMedia:
        media = self._media.get((title.kind, title.tmdb_id))
        if media is None:
            moment = self.now()
            media = FakeMedia(
                next(self._media_ids), title.kind, title.tmdb_id, title.tvdb_id, title.imdb_id, moment, moment
            )
            self._media[(title.kind, title.tmdb_id)] = media
        return media

    # -- time moves on -----------------------------------------------------------------------------------------

    def make_available(
        self,
        kind: Kind,
        tmdb_id: int,
        seasons: Iterable[int] | None = None,
        *,
        is4k: bool = False,
        rating_key: str | None = None,
    ) -> FakeMedia:
        """Plex has the film, or these seasons (``None``: every season but specials): the media becomes available
        (a series partly, until every season is), its requests' askers are notified (a series' request once all
        of its seasons are there), and requests still pending become approved."""
        title = self.title(kind, tmdb_id)
        media = self._track(title)
        before = media.state(is4k)
        moment = self.now()
        if title.kind is MediaType.MOVIE:
            after = MediaStatus.AVAILABLE
            had: set[int] = set()
            now_there: set[int] = set()
        else:
            had = self._season_numbers(media, is4k, MediaStatus.AVAILABLE)
            wanted = list(seasons) if seasons is not None else [n for n in title.seasons if n > 0]
            self._set_seasons(media, wanted, is4k, MediaStatus.AVAILABLE)
            now_there = self._season_numbers(media, is4k, MediaStatus.AVAILABLE)
            numbered = {n for n in title.seasons if n > 0}
            after = MediaStatus.AVAILABLE if numbered <= now_there else MediaStatus.PARTIALLY_AVAILABLE
        media.set_state(is4k, after)
        if after == MediaStatus.AVAILABLE:
            if is4k:
                media.downloading4k = []
            else:
                media.downloading = []
        key = rating_key or str(next(self._rating_keys))
        if is4k:
            media.rating_key4k = media.rating_key4k or key
        else:
            media.rating_key = media.rating_key or key
        media.media_added_at = media.media_added_at or moment
        media.updated_at = moment
        # Overseerr's media subscriber: who is told, then pending requests approved.
        live = [r for r in self._requests_of(media) if r.is4k == is4k and r.status != MediaRequestStatus.DECLINED]
        if title.kind is MediaType.MOVIE:
            if before != MediaStatus.AVAILABLE:
                for request in live:
                    self._notify(Notification.MEDIA_AVAILABLE, request)
        else:
            done: list[int] = []
            for number in sorted(now_there - had):
                found = next(
                    (r for r in live if set(r.season_numbers) <= now_there and number in r.season_numbers), None
                )
                if found is not None and number not in done:
                    done += found.season_numbers
                    self._notify(Notification.MEDIA_AVAILABLE, found)
        if after == MediaStatus.AVAILABLE and before == MediaStatus.PENDING:
            for request in self._requests_of(media):
                if request.is4k == is4k and request.status == MediaRequestStatus.PENDING:
                    self._change(request, MediaRequestStatus.APPROVED, None)
        return media

    def make_processing(
        self, kind: Kind, tmdb_id: int, seasons: Iterable[int] | None = None, *, is4k: bool = False
    ) -> FakeMedia:
        """Radarr or Sonarr is fetching the film or these seasons (``None``: every season but specials): the media
        is processing and its ``downloadStatus`` names the download; no notification."""
        title = self.title(kind, tmdb_id)
        media = self._track(title)
        if title.kind is MediaType.TV:
            wanted = list(seasons) if seasons is not None else [n for n in title.seasons if n > 0]
            self._set_seasons(media, wanted, is4k, MediaStatus.PROCESSING)
        media.set_state(is4k, MediaStatus.PROCESSING)
        media.updated_at = self.now()
        item = {
            "externalId": media.id,
            "estimatedCompletionTime": _iso(self.now() + timedelta(minutes=20)),
            "mediaType": title.kind.value,
            "size": 4_000_000_000,
            "sizeLeft": 3_000_000_000,
            "status": "downloading",
            "timeLeft": "00:20:00",
            "title": f"{title.title}.{title.year or ''}.1080p",
        }
        if is4k:
            media.downloading4k = [item]
        else:
            media.downloading = [item]
        return media

    def fail(self, request_id: int) -> FakeRequest:
        """Radarr or Sonarr refused the request: it fails, and the webhook says so."""
        request = self._requests[request_id]
        request.status = MediaRequestStatus.FAILED
        request.updated_at = self.now()
        self._notify(Notification.MEDIA_FAILED, request)
        return request

    def _set_seasons(self, media: FakeMedia, numbers: Iterable[int], is4k: bool, status: MediaStatus) -> None:
        moment = self.now()
        for number in numbers:
            season = media.seasons.get(number)
            if season is None:
                season = FakeSeason(
                    next(self._season_ids), number, MediaStatus.UNKNOWN, MediaStatus.UNKNOWN, moment, moment
                )
                media.seasons[number] = season
            if is4k:
                season.status4k = status
            else:
                season.status = status
            season.updated_at = moment

    @staticmethod
    def _season_numbers(media: FakeMedia, is4k: bool, status: MediaStatus) -> set[int]:
        return {n for n, s in media.seasons.items() if (s.status4k if is4k else s.status) == status}

    def _requests_of(self, media: FakeMedia) -> list[FakeRequest]:
        return [request for request in self._requests.values() if request.media is media]

    def _change(self, request: FakeRequest, status: MediaRequestStatus, by: FakeUser | None) -> None:
        """A request's status changes (approve, decline, or media found): Overseerr's hooks after an update."""
        request.status = status
        request.updated_at = self.now()
        if by is not None:
            request.modified_by = by
        media = request.media
        decided = status in (MediaRequestStatus.APPROVED, MediaRequestStatus.DECLINED)
        if decided and media.state(request.is4k) != MediaStatus.AVAILABLE:  # no "approved" once it is there
            approved = status == MediaRequestStatus.APPROVED
            self._notify(Notification.MEDIA_APPROVED if approved else Notification.MEDIA_DECLINED, request)
        self._update_parent(request)

    def _update_parent(self, request: FakeRequest) -> None:
        media, is4k = request.media, request.is4k
        state = media.state(is4k)
        if request.status == MediaRequestStatus.APPROVED and state not in (
            MediaStatus.AVAILABLE,
            MediaStatus.PARTIALLY_AVAILABLE,
        ):
            media.set_state(is4k, MediaStatus.PROCESSING)
        if request.kind is MediaType.MOVIE and request.status == MediaRequestStatus.DECLINED:
            media.set_state(is4k, MediaStatus.UNKNOWN)
        if (
            request.kind is MediaType.TV
            and request.status == MediaRequestStatus.DECLINED
            and not any(r.status == MediaRequestStatus.PENDING for r in self._requests_of(media))
            and state == MediaStatus.PENDING
        ):
            media.set_state(is4k, MediaStatus.UNKNOWN)
        if request.kind is MediaType.TV and request.status == MediaRequestStatus.APPROVED:
            for season in request.seasons:
                season.status = MediaRequestStatus.APPROVED
                season.updated_at = self.now()

    # -- the webhook agent -------------------------------------------------------------------------------------

    def configure_webhook(
        self, url: str, authorization: str | None = None, types: Notification | int = MEDIA_NOTIFICATIONS
    ) -> None:
        """Turn the webhook agent on: POST to ``url`` with ``Authorization: <authorization>`` the notifications
        whose bit is in ``types``."""
        self.webhook_url = url
        self.webhook_authorization = authorization
        self.webhook_types = Notification(types)

    def send_test_webhook(self) -> None:
        """What Overseerr's "Test" button sends (whatever the types)."""
        payload = self._payload(Notification.TEST_NOTIFICATION, None)
        payload |= {"subject": "Test Notification", "message": "Check check, 1, 2, 3. Are we coming in clear?"}
        self._queue(Notification.TEST_NOTIFICATION, payload)

    def resend(self, delivery: WebhookDelivery | None = None) -> None:
        """Send a delivery again (by default the last one): what a receiver sees when a notification comes twice."""
        chosen = delivery or self.webhook_deliveries[-1]
        self._outbox.put_nowait(WebhookDelivery(chosen.notification, copy.deepcopy(chosen.payload), resent=True))

    async def settle(self) -> None:
        """Return once every notification so far is delivered (or dropped)."""
        await self._outbox.join()

    def _notify(self, kind: Notification, request: FakeRequest) -> None:
        self._queue(kind, self._payload(kind, request))

    def _queue(self, kind: Notification, payload: dict[str, Any]) -> None:
        if self.webhook_url is None:
            return
        if kind != Notification.TEST_NOTIFICATION and not self.webhook_types & kind:
            return
        self._outbox.put_nowait(WebhookDelivery(kind, payload))

    def _payload(self, kind: Notification, request: FakeRequest | None) -> dict[str, Any]:
        """Overseerr's default webhook template, filled in as its webhook agent does."""
        payload: dict[str, Any] = {
            "notification_type": kind.name,
            "event": "",
            "subject": "",
            "message": "",
            "image": "",
            "media": None,
            "request": None,
            "issue": None,
            "comment": None,
            "extra": [],
        }
        if request is None:
            return payload
        media = request.media
        title = self._titles[(media.kind, media.tmdb_id)]
        noun = "Movie" if media.kind is MediaType.MOVIE else "Series"
        noun = f"4K {noun}" if request.is4k else noun
        events = {
            Notification.MEDIA_PENDING: f"New {noun} Request",
            Notification.MEDIA_APPROVED: f"{noun} Request Approved",
            Notification.MEDIA_AUTO_APPROVED: f"{noun} Request Automatically Approved",
            Notification.MEDIA_DECLINED: f"{noun} Request Declined",
            Notification.MEDIA_FAILED: f"{noun} Request Failed",
            Notification.MEDIA_AVAILABLE: f"{noun} Request Now Available",
        }
        asker = request.requested_by
        payload |= {
            "event": events.get(kind, ""),
            "subject": f"{title.title} ({title.year})" if title.year else title.title,
            "message": _truncate(title.overview),
            "image": f"{TMDB_POSTER}{title.poster_path if title.poster_path is not None else 'null'}",
            "media": {
                "media_type": media.kind.value,
                "tmdbId": str(media.tmdb_id),
                "tvdbId": str(media.tvdb_id) if media.tvdb_id is not None else "",
                "status": media.status.name,
                "status4k": media.status4k.name,
            },
            "request": {
                "request_id": str(request.id),
                "requestedBy_email": asker.email,
                "requestedBy_username": asker.display_name,
                "requestedBy_avatar": asker.avatar,
                "requestedBy_settings_discordId": "",
                "requestedBy_settings_telegramChatId": "",
            },
        }
        if media.kind is MediaType.TV:
            payload["extra"] = [
                {"name": "Requested Seasons", "value": ", ".join(str(n) for n in request.season_numbers)}
            ]
        return payload

    async def _send_webhooks(self) -> None:
        while True:
            delivery = await self._outbox.get()
            try:
                made = await self._deliver(delivery)
            except asyncio.CancelledError:  # stopped while sending: lost, as when Overseerr stops
                self._outbox.task_done()
                raise
            except Exception as exc:  # whatever went wrong, the delivery is recorded and the next one goes out
                made = attrs.evolve(delivery, error=f"{type(exc).__name__}: {exc}")
            self.webhook_deliveries.append(made)
            self._outbox.task_done()

    async def _deliver(self, delivery: WebhookDelivery) -> WebhookDelivery:
        if self.drop_webhooks > 0:
            self.drop_webhooks -= 1
            return attrs.evolve(delivery, dropped=True)
        if self.webhook_url is None or self._session is None:
            return attrs.evolve(delivery, error="the webhook agent is off")
        headers = {"Authorization": self.webhook_authorization} if self.webhook_authorization else {}
        delivery = attrs.evolve(delivery, sent_at=time.monotonic())
        try:
            async with self._session.post(self.webhook_url, json=delivery.payload, headers=headers) as resp:
                await resp.read()
                return attrs.evolve(delivery, status=resp.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return attrs.evolve(delivery, error=str(exc) or type(exc).__name__)

    # -- documents ---------------------------------------------------------------------------------------------

    def _user_doc(self, user: FakeUser, *, private: bool = True) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "permissions": int(user.permissions),
            "id": user.id,
            "email": user.email,
            "plexUsername": user.plex_username,
            "username": user.username,
            "recoveryLinkExpirationDate": None,
            "userType": int(user.user_type),
            "plexId": user.plex_id,
            "avatar": user.avatar,
            "movieQuotaLimit": user.movie_quota_limit,
            "movieQuotaDays": user.movie_quota_days,
            "tvQuotaLimit": user.tv_quota_limit,
            "tvQuotaDays": user.tv_quota_days,
            "createdAt": _iso(user.created_at),
            "updatedAt": _iso(user.updated_at),
            "requestCount": sum(1 for r in self._requests.values() if r.requested_by is user),
            "displayName": user.display_name,
        }
        if not private:
            del doc["email"], doc["plexId"]
        return doc

    def _media_doc(self, media: FakeMedia, *, seasons: bool = True, requests: bool = False) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "downloadStatus": list(media.downloading),
            "downloadStatus4k": list(media.downloading4k),
            "id": media.id,
            "mediaType": media.kind.value,
            "tmdbId": media.tmdb_id,
            "tvdbId": media.tvdb_id,
            "imdbId": media.imdb_id,
            "status": int(media.status),
            "status4k": int(media.status4k),
            "createdAt": _iso(media.created_at),
            "updatedAt": _iso(media.updated_at),
            "lastSeasonChange": _iso(media.created_at),
            "mediaAddedAt": _iso(media.media_added_at),
            "serviceId": None,
            "serviceId4k": None,
            "externalServiceId": None,
            "externalServiceId4k": None,
            "externalServiceSlug": None,
            "externalServiceSlug4k": None,
            "ratingKey": media.rating_key,
            "ratingKey4k": media.rating_key4k,
        }
        for suffix, key in (("", media.rating_key), ("4k", media.rating_key4k)):
            if key:
                metadata = f"%2Flibrary%2Fmetadata%2F{key}"
                doc[f"plexUrl{suffix}"] = (
                    f"https://app.plex.tv/desktop#!/server/{self.machine_id}/details?key={metadata}"
                )
                doc[f"iOSPlexUrl{suffix}"] = f"plex://preplay/?metadataKey={metadata}&server={self.machine_id}"
        if seasons:
            doc["seasons"] = [
                {
                    "id": season.id,
                    "seasonNumber": season.number,
                    "status": int(season.status),
                    "status4k": int(season.status4k),
                    "createdAt": _iso(season.created_at),
                    "updatedAt": _iso(season.updated_at),
                }
                for season in sorted(media.seasons.values(), key=lambda s: s.number)
            ]
        if requests:
            doc["requests"] = [self._request_doc(r, media=None) for r in self._requests_of(media)]
            doc["issues"] = []
        return doc

    def _request_doc(
        self, request: FakeRequest, *, media: Literal["plain", "seasons"] | None = "plain", count: bool = True
    ) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": request.id,
            "status": int(request.status),
            "createdAt": _iso(request.created_at),
            "updatedAt": _iso(request.updated_at),
            "type": request.kind.value,
            "is4k": request.is4k,
            "serverId": None,
            "profileId": None,
            "rootFolder": None,
            "languageProfileId": None,
            "tags": None,
            "isAutoRequest": False,
        }
        if media is not None:
            doc["media"] = self._media_doc(request.media, seasons=media == "seasons")
        doc |= {
            "seasons": [
                {
                    "id": season.id,
                    "seasonNumber": season.number,
                    "status": int(season.status),
                    "createdAt": _iso(season.created_at),
                    "updatedAt": _iso(season.updated_at),
                }
                for season in request.seasons
            ],
            "modifiedBy": self._user_doc(request.modified_by) if request.modified_by is not None else None,
            "requestedBy": self._user_doc(request.requested_by),
        }
        if count:
            doc["seasonCount"] = len(request.seasons)
        return doc

    def _result_doc(self, title: FakeTitle) -> dict[str, Any]:
        """A film or series as Overseerr's search maps TMDB's result."""
        doc: dict[str, Any] = {
            "id": title.tmdb_id,
            "mediaType": title.kind.value,
            "adult": False,
            "genreIds": [],
            "originalLanguage": "en",
            "overview": title.overview,
            "popularity": title.popularity,
            "voteAverage": 7.0,
            "voteCount": 100,
            "backdropPath": title.backdrop_path,
            "posterPath": title.poster_path,
        }
        if title.kind is MediaType.MOVIE:
            doc |= {
                "originalTitle": title.original_title or title.title,
                "releaseDate": title.date,
                "title": title.title,
                "video": False,
            }
        else:
            doc |= {
                "firstAirDate": title.date,
                "name": title.title,
                "originCountry": ["US"],
                "originalName": title.original_title or title.title,
            }
        media = self._media.get((title.kind, title.tmdb_id))
        if media is not None:
            doc["mediaInfo"] = self._media_doc(media)
        return doc

    def _details_doc(self, title: FakeTitle) -> dict[str, Any]:
        external = {
            "facebookId": None,
            "freebaseId": None,
            "freebaseMid": None,
            "imdbId": title.imdb_id,
            "instagramId": None,
            "tvdbId": title.tvdb_id,
            "tvrageId": None,
            "twitterId": None,
        }
        doc: dict[str, Any] = {
            "id": title.tmdb_id,
            "genres": [{"id": 18 + n, "name": name} for n, name in enumerate(title.genres)],
            "relatedVideos": [
                {
                    "site": "YouTube",
                    "key": title.trailer,
                    "name": "Official Trailer",
                    "size": 1080,
                    "type": "Trailer",
                    "url": f"https://www.youtube.com/watch?v={title.trailer}",
                }
            ]
            if title.trailer
            else [],
            "originalLanguage": "en",
            "popularity": title.popularity,
            "productionCompanies": [],
            "productionCountries": [],
            "spokenLanguages": [],
            "voteAverage": 7.0,
            "voteCount": 100,
            "backdropPath": title.backdrop_path,
            "posterPath": title.poster_path,
            "homepage": "",
            "overview": title.overview,
            "tagline": title.tagline,
            "credits": {
                "cast": [
                    {
                        "castId": order + 1,
                        "character": character,
                        "creditId": f"c{title.tmdb_id}x{order}",
                        "gender": 0,
                        "id": title.tmdb_id * 1000 + order,
                        "name": name,
                        "order": order,
                        "profilePath": f"/c{title.tmdb_id}x{order}.jpg",
                    }
                    for order, (name, character) in enumerate(title.cast)
                ],
                "crew": [],
            },
            "externalIds": external,
            "keywords": [],
            "watchProviders": [],
        }
        if title.kind is MediaType.MOVIE:
            doc |= {
                "adult": title.adult,
                "budget": 0,
                "originalTitle": title.original_title or title.title,
                "releaseDate": title.date,
                "releases": {"results": []},
                "revenue": 0,
                "status": "Released",
                "title": title.title,
                "video": False,
                "imdbId": title.imdb_id,
                "runtime": 120,
            }
        else:
            numbered = {n: count for n, count in title.seasons.items() if n > 0}
            doc |= {
                "createdBy": [],
                "episodeRunTime": [45],
                "firstAirDate": title.date,
                "inProduction": False,
                "languages": ["en"],
                "lastAirDate": title.date,
                "name": title.title,
                "networks": [],
                "numberOfEpisodes": sum(numbered.values()),
                "numberOfSeasons": len(numbered),
                "originCountry": ["US"],
                "originalName": title.original_title or title.title,
                "contentRatings": {"results": []},
                "seasons": [
                    {
                        "airDate": title.date or None,
                        "episodeCount": episodes,
                        "id": title.tmdb_id * 100 + number,
                        "name": f"Season {number}" if number else "Specials",
                        "overview": "",
                        "seasonNumber": number,
                        "posterPath": None,
                    }
                    for number, episodes in title.seasons.items()
                ],
                "status": "Ended",
                "type": "Scripted",
            }
        media = self._media.get((title.kind, title.tmdb_id))
        if media is not None:
            doc["mediaInfo"] = self._media_doc(media, requests=True)
        return doc

    # -- answers: public, users --------------------------------------------------------------------------------

    async def _status(self, request: web.Request, user: FakeUser | None) -> web.Response:
        return web.json_response(
            {
                "version": self.version,
                "commitTag": "local",
                "updateAvailable": False,
                "commitsBehind": 0,
                "restartRequired": False,
            }
        )

    async def _public_settings(self, request: web.Request, user: FakeUser | None) -> web.Response:
        return web.json_response(
            {
                "initialized": True,
                "applicationTitle": "Overseerr",
                "applicationUrl": "",
                "hideAvailable": False,
                "localLogin": True,
                "movie4kEnabled": self.movie_4k,
                "series4kEnabled": self.series_4k,
                "region": "",
                "originalLanguage": "",
                "partialRequestsEnabled": True,
                "cacheImages": False,
                "vapidPublic": "",
                "enablePushRegistration": False,
                "locale": "en",
                "emailEnabled": False,
                "newPlexLogin": True,
            }
        )

    async def _me(self, request: web.Request, user: FakeUser) -> web.Response:
        return web.json_response(self._user_doc(user))

    async def _list_users(self, request: web.Request, user: FakeUser) -> web.Response:
        take, skip = self._paging(request)
        users = sorted(self._users.values(), key=lambda u: u.id)
        match request.query.get("sort"):
            case "updated":
                users.sort(key=lambda u: u.updated_at, reverse=True)
            case "displayname":
                users.sort(key=lambda u: u.display_name.lower())
            case "requests":
                users.sort(key=lambda u: -sum(1 for r in self._requests.values() if r.requested_by is u))
        private = has_permission(user.permissions, Permission.MANAGE_USERS)
        page = users[skip : skip + take] if take else []
        return web.json_response(
            {
                "pageInfo": self._page_info(len(users), take, skip),
                "results": [self._user_doc(u, private=private) for u in page],
            }
        )

    @staticmethod
    def _paging(request: web.Request) -> tuple[int, int]:
        take = _whole(request.query.get("take")) if request.query.get("take") else _DEFAULT_TAKE
        skip = _whole(request.query.get("skip")) if request.query.get("skip") else 0
        return max(take or 0, 0), max(skip or 0, 0)

    @staticmethod
    def _page_info(total: int, take: int, skip: int) -> dict[str, Any]:
        return {
            "pages": math.ceil(total / take) if take else None,
            "pageSize": take,
            "results": total,
            "page": math.ceil(skip / take) + 1 if take else None,
        }

    async def _user(self, request: web.Request, user: FakeUser) -> web.Response:
        found = self._users.get(_whole(request.match_info["userId"]) or 0)
        if found is None:
            return _message(404, "User not found.")
        return web.json_response(
            self._user_doc(found, private=has_permission(user.permissions, Permission.MANAGE_USERS))
        )

    async def _quota(self, request: web.Request, user: FakeUser) -> web.Response:
        wanted = _whole(request.match_info["userId"])
        if wanted != user.id and not has_permission(
            user.permissions, [Permission.MANAGE_USERS, Permission.MANAGE_REQUESTS]
        ):
            return _message(403, "You do not have permission to view this user's request limits.")
        found = self._users.get(wanted or 0)
        if found is None:
            return _message(404, f'Could not find any entity of type "User" matching: {{"where": {{"id": {wanted}}}}}')
        return web.json_response(self._quota_doc(found))

    def _quota_doc(self, user: FakeUser) -> dict[str, Any]:
        bypass = has_permission(user.permissions, [Permission.MANAGE_USERS], any_of=True)
        moment = self.now()
        doc: dict[str, Any] = {}
        for kind, limit, days in (
            (MediaType.MOVIE, user.movie_quota_limit, user.movie_quota_days),
            (MediaType.TV, user.tv_quota_limit, user.tv_quota_days),
        ):
            limit = 0 if bypass else limit
            since = moment - timedelta(days=days or 0)
            counted = [
                r
                for r in self._requests.values()
                if r.requested_by is user
                and r.kind is kind
                and r.created_at > since
                and r.status != MediaRequestStatus.DECLINED
            ]
            used = (len(counted) if kind is MediaType.MOVIE else sum(len(r.seasons) for r in counted)) if limit else 0
            part: dict[str, Any] = {"used": used, "restricted": bool(limit and limit - used <= 0)}
            if days is not None:
                part["days"] = days
            if limit is not None:
                part["limit"] = limit
            if limit:
                part["remaining"] = max(0, limit - used)
            doc[kind.value] = part
        return doc

    async def _import_from_plex(self, request: web.Request, user: FakeUser, body: Any) -> web.Response:
        if isinstance(body, dict) and "plexIds" not in body:
            return _message(500, "Cannot read properties of undefined (reading 'includes')")
        wanted = body.get("plexIds") if isinstance(body, dict) else None
        created: list[FakeUser] = []
        for friend in self._friends.values():
            existing = next(
                (
                    u
                    for u in self._users.values()
                    if (u.plex_id is not None and u.plex_id == friend.plex_id) or u.email == friend.email.lower()
                ),
                None,
            )
            if existing is not None:
                existing.avatar, existing.email = friend.thumb, friend.email.lower()
                existing.plex_username = friend.username
                if existing.user_type is UserType.LOCAL:
                    existing.user_type, existing.plex_id = UserType.PLEX, friend.plex_id
                existing.updated_at = self.now()
            elif (wanted is None or str(friend.plex_id) in wanted) and friend.has_access:
                made = self.add_user(
                    friend.username, plex_id=friend.plex_id, email=friend.email, permissions=self.default_permissions
                )
                made.avatar = friend.thumb
                created.append(made)
        return web.json_response([self._user_doc(u, private=False) for u in created], status=201)

    # -- answers: titles ---------------------------------------------------------------------------------------

    async def _search(self, request: web.Request, user: FakeUser) -> web.Response:
        wanted = _words(request.query["query"])
        page = _whole(request.query.get("page")) or 1
        if not 1 <= page <= 500:
            return _message(500, "Unable to retrieve search results.")
        found: list[tuple[float, dict[str, Any]]] = []
        if wanted:
            for title in self._titles.values():
                names = [title.title, title.original_title or ""]
                if any(wanted in _words(name) for name in names):
                    found.append((title.popularity, self._result_doc(title)))
            for tmdb_id, (name, popularity) in self._people.items():
                if wanted in _words(name):
                    person = {
                        "id": tmdb_id,
                        "name": name,
                        "popularity": popularity,
                        "adult": False,
                        "mediaType": "person",
                        "profilePath": None,
                        "knownFor": [],
                    }
                    found.append((popularity, person))
        found.sort(key=lambda item: (-item[0], item[1]["id"]))
        start = (page - 1) * _SEARCH_PAGE
        return web.json_response(
            {
                "page": page,
                "totalPages": math.ceil(len(found) / _SEARCH_PAGE),
                "totalResults": len(found),
                "results": [doc for _, doc in found[start : start + _SEARCH_PAGE]],
            }
        )

    async def _movie(self, request: web.Request, user: FakeUser) -> web.Response:
        title = self._titles.get((MediaType.MOVIE, _whole(request.match_info["movieId"]) or 0))
        if title is None:
            return _message(500, "Unable to retrieve movie.")
        return web.json_response(self._details_doc(title))

    async def _tv(self, request: web.Request, user: FakeUser) -> web.Response:
        title = self._titles.get((MediaType.TV, _whole(request.match_info["tvId"]) or 0))
        if title is None:
            return _message(500, "Unable to retrieve series.")
        return web.json_response(self._details_doc(title))

    # -- answers: requests -------------------------------------------------------------------------------------

    async def _create_request(self, request: web.Request, user: FakeUser, body: dict[str, Any]) -> web.Response:
        kind = MediaType(body["mediaType"])
        is4k = bool(body.get("is4k", False))
        asker = user
        if body.get("userId"):
            if not has_permission(user.permissions, [Permission.MANAGE_USERS, Permission.MANAGE_REQUESTS]):
                return _message(403, REQUEST_USER_MESSAGE)
            named = self._users.get(int(body["userId"]))
            if named is None:
                return _message(500, f'Could not find any entity of type "User" matching: {body["userId"]}')
            asker = named
        if not may_request(asker.permissions, kind, is4k):
            return _message(403, permission_message(kind, is4k))
        quota = self._quota_doc(asker)[kind.value]
        if quota["restricted"]:
            return _message(403, quota_message(kind))
        title = self._titles.get((kind, int(body["mediaId"])))
        if title is None:
            what = "movie" if kind is MediaType.MOVIE else "TV show"
            return _message(500, f"[TMDB] Failed to fetch {what} details: Request failed with status code 404")
        media = self._media.get((kind, title.tmdb_id))
        existing = sorted(
            (r for r in self._requests_of(media) if r.is4k == is4k) if media is not None else [], key=lambda r: r.id
        )
        if kind is MediaType.MOVIE and existing and existing[0].status != MediaRequestStatus.DECLINED:
            return _message(409, DUPLICATE_MESSAGE)
        numbers: list[int] = []
        if kind is MediaType.TV:
            asked = list(title.seasons) if body.get("seasons", "all") == "all" else [int(n) for n in body["seasons"]]
            taken = {n for r in existing if r.status != MediaRequestStatus.DECLINED for n in r.season_numbers}
            taken |= {
                n
                for n, s in (media.seasons.items() if media else ())
                if (s.status4k if is4k else s.status) != MediaStatus.UNKNOWN
            }
            numbers = [n for n in asked if n not in taken]
            if not numbers:
                return _message(202, NO_SEASONS_MESSAGE)
            if quota.get("limit") and len(numbers) > quota.get("remaining", 0):
                return _message(403, quota_message(kind))
        media = self._track(title)
        if media.state(is4k) == MediaStatus.UNKNOWN:
            media.set_state(is4k, MediaStatus.PENDING)
        approve = auto_approved(user.permissions, kind, is4k)
        status = MediaRequestStatus.APPROVED if approve else MediaRequestStatus.PENDING
        moment = self.now()
        made = FakeRequest(
            id=next(self._request_ids),
            kind=kind,
            media=media,
            requested_by=asker,
            status=status,
            is4k=is4k,
            created_at=moment,
            updated_at=moment,
            modified_by=user if approve else None,
            seasons=[FakeSeasonRequest(next(self._season_ids), n, status, moment, moment) for n in numbers],
        )
        self._requests[made.id] = made
        answer = self._request_doc(made, count=False)
        self._notify(Notification.MEDIA_AUTO_APPROVED if approve else Notification.MEDIA_PENDING, made)
        self._update_parent(made)
        return web.json_response(answer, status=201)

    async def _list_requests(self, request: web.Request, user: FakeUser) -> web.Response:
        take, skip = self._paging(request)
        requested_by = _whole(request.query.get("requestedBy"))
        chosen = request.query.get("filter")
        statuses, media_statuses = _FILTERS.get(chosen or "", _FILTERS[""])
        found = [r for r in self._requests.values() if r.status in statuses and r.media.state(r.is4k) in media_statuses]
        if not has_permission(user.permissions, [Permission.MANAGE_REQUESTS, Permission.REQUEST_VIEW], any_of=True):
            if requested_by and requested_by != user.id:
                return _message(403, "You do not have permission to view this user's requests.")
            found = [r for r in found if r.requested_by is user]
        elif requested_by:
            found = [r for r in found if r.requested_by.id == requested_by]
        if request.query.get("sort") == "modified":
            found.sort(key=lambda r: (r.updated_at, r.id), reverse=True)
        else:
            found.sort(key=lambda r: r.id, reverse=True)
        page = found[skip : skip + take] if take else []
        return web.json_response(
            {"pageInfo": self._page_info(len(found), take, skip), "results": [self._request_doc(r) for r in page]}
        )

    async def _request_count(self, request: web.Request, user: FakeUser) -> web.Response:
        everything = list(self._requests.values())
        approved = [r for r in everything if r.status == MediaRequestStatus.APPROVED]
        available = [r for r in approved if r.media.state(r.is4k) == MediaStatus.AVAILABLE]
        return web.json_response(
            {
                "total": len(everything),
                "movie": sum(1 for r in everything if r.kind is MediaType.MOVIE),
                "tv": sum(1 for r in everything if r.kind is MediaType.TV),
                "pending": sum(1 for r in everything if r.status == MediaRequestStatus.PENDING),
                "approved": len(approved),
                "declined": sum(1 for r in everything if r.status == MediaRequestStatus.DECLINED),
                "processing": len(approved) - len(available),
                "available": len(available),
            }
        )

    def _find_request(self, request: web.Request) -> FakeRequest | None:
        wanted = _whole(request.match_info["requestId"])
        return self._requests.get(wanted) if wanted is not None else None

    async def _get_request(self, request: web.Request, user: FakeUser) -> web.Response:
        found = self._find_request(request)
        if found is None:
            return _message(404, "Request not found.")
        if found.requested_by is not user and not has_permission(
            user.permissions, [Permission.MANAGE_REQUESTS, Permission.REQUEST_VIEW], any_of=True
        ):
            return _message(403, "You do not have permission to view this request.")
        return web.json_response(self._request_doc(found, media="seasons", count=False))

    async def _delete_request(self, request: web.Request, user: FakeUser) -> web.Response:
        found = self._find_request(request)
        if found is None:
            return _message(404, "Request not found.")
        if (
            not has_permission(user.permissions, Permission.MANAGE_REQUESTS)
            and found.requested_by is not user
            and found.status != MediaRequestStatus.PENDING
        ):
            return _message(401, "You do not have permission to delete this request.")
        del self._requests[found.id]
        media = found.media
        left = self._requests_of(media)
        if not any(not r.is4k for r in left) and media.status != MediaStatus.AVAILABLE:
            media.status = MediaStatus.UNKNOWN
        if not any(r.is4k for r in left) and media.status4k != MediaStatus.AVAILABLE:
            media.status4k = MediaStatus.UNKNOWN
        return web.Response(status=204)

    async def _set_request_status(self, request: web.Request, user: FakeUser) -> web.Response:
        found = self._find_request(request)
        if found is None:
            return _message(404, "Request not found.")
        approve = request.match_info["status"] == "approve"
        self._change(found, MediaRequestStatus.APPROVED if approve else MediaRequestStatus.DECLINED, user)
        return web.json_response(self._request_doc(found, media="seasons", count=False))


_USER_SORTS: Final = ("created", "updated", "requests", "displayname")
_EVERY_MEDIA: Final = frozenset(
    {
        MediaStatus.UNKNOWN,
        MediaStatus.PENDING,
        MediaStatus.PROCESSING,
        MediaStatus.PARTIALLY_AVAILABLE,
        MediaStatus.AVAILABLE,
    }
)
_NOT_AVAILABLE: Final = _EVERY_MEDIA - {MediaStatus.AVAILABLE}
_FILTERS: Final[dict[str, tuple[frozenset[MediaRequestStatus], frozenset[MediaStatus]]]] = {
    "": (
        frozenset(
            {
                MediaRequestStatus.PENDING,
                MediaRequestStatus.APPROVED,
                MediaRequestStatus.DECLINED,
                MediaRequestStatus.FAILED,
            }
        ),
        _EVERY_MEDIA,
    ),
    "approved": (frozenset({MediaRequestStatus.APPROVED}), _EVERY_MEDIA),
    "processing": (frozenset({MediaRequestStatus.APPROVED}), _NOT_AVAILABLE),
    "available": (frozenset({MediaRequestStatus.APPROVED}), frozenset({MediaStatus.AVAILABLE})),
    "pending": (frozenset({MediaRequestStatus.PENDING}), _EVERY_MEDIA),
    "unavailable": (frozenset({MediaRequestStatus.PENDING, MediaRequestStatus.APPROVED}), _NOT_AVAILABLE),
    "failed": (frozenset({MediaRequestStatus.FAILED}), _EVERY_MEDIA),
}
"""``filter`` of ``GET /request``: the request statuses and media statuses it keeps (anything else: all)."""
