"""The Overseerr plugin's JSON API: ask for a title as oneself, follow and cancel one's requests, wait for a title,
and, for admins, everyone's requests, approval, and which Overseerr user each person is. Overseerr's webhook
agent posts to ``/webhook``.

A request belongs to the person who asked for it: anyone else gets 404, except the admins, who see and decide
everyone's (``?scope=all`` lists them).
"""

from __future__ import annotations

import asyncio
import hmac
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import attrs
import structlog
from aiohttp import web
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from medianest_core.auth.principal import Principal, require
from medianest_core.errors import ID_MAX, ApiError, ErrorCode, field_error, path_id
from medianest_core.models import User as MediaNestUser
from medianest_core.ratelimit import quota_use, spend
from medianest_core.schema import MAX_PAGE, IdPath, field, parse_json, read_body, read_query
from medianest_core.types import Access, PluginContext, Route
from medianest_core.upstream import BadResponse, NotFound, UpstreamError, deadline
from medianest_overseerr import store
from medianest_overseerr.kinds import MediaType
from medianest_overseerr.models import Link, LinkKind, Request, RequestState, Watch

# Overseerr's client and the service around it are imported by the routes that call Overseerr, not when the
# routes are made at start (they are most of this plugin's code; an Overseerr that is not set up never needs them).
if TYPE_CHECKING:
    from medianest_overseerr.client import User
    from medianest_overseerr.service import Overseerr

log = structlog.get_logger("medianest.plugins.overseerr")

MAX_WATCHES: Final = 200
"""How many titles one person may wait for at once."""
NOT_SET_UP: Final = "Overseerr is not set up: the admin sets its address and API key."
SEASONS_MAX: Final = 100
SEASON_MAX: Final = 1000
SEASONS_RULE: Final = f'"all", or a list of at most {SEASONS_MAX} season numbers from 0 to {SEASON_MAX}, each once'
WEBHOOK_MAX: Final = 64 * 1024
TITLE_SECONDS: Final = 2.0
"""How long a watch waits for the title's name."""
SEEN_SECONDS: Final = 3.0
"""How long a refused duplicate waits to store the title's requests (so the title shows "Requested")."""
KIND_WORDS: Final = {MediaType.MOVIE: "films", MediaType.TV: "series"}


# ---- what the routes read ------------------------------------------------------------------------------------


@attrs.frozen
class AskBody:
    """A title to request: a film, or seasons of a series (none given: every season)."""

    kind: MediaType
    tmdb_id: int = field(ge=1, le=ID_MAX, description="The title's TMDB id")
    seasons: Any = field(default=None, description=f"Series only: {SEASONS_RULE}")
    is4k: bool = attrs.field(default=False, metadata={"help": "In 4K, when Overseerr offers it"})


@attrs.frozen
class RequestsQuery:
    scope: store.Scope = attrs.field(
        default=store.Scope.MINE, metadata={"help": "all: everyone's requests (admins only)"}
    )
    state: RequestState | None = attrs.field(default=None, metadata={"help": "Only the requests in this state"})
    page: int = field(default=1, ge=1, le=MAX_PAGE)


@attrs.frozen
class WatchPath:
    kind: MediaType
    tmdb_id: int = field(ge=1, le=ID_MAX)


@attrs.frozen
class UserPath:
    user_id: int = field(ge=1, le=ID_MAX, description="The MediaNest user's id")


@attrs.frozen
class OverseerrLinkBody:
    overseerr_user_id: int = field(ge=1, le=ID_MAX, description="The id of a user of Overseerr (GET /users)")


# ---- what the routes answer (for the OpenAPI document) ---------------------------------------------------------


@attrs.frozen
class RequesterDoc:
    user_id: int | None
    name: str | None


@attrs.frozen
class DownloadDoc:
    time_left: str | None
    title: str | None


@attrs.frozen
class RequestDoc:
    """A request: its title, the seasons asked for and those in Plex already, and where it stands."""

    id: int
    overseerr_id: int
    kind: MediaType
    tmdb_id: int
    title: str
    year: int | None
    poster: str | None
    url: str
    seasons: list[int]
    seasons_available: list[int]
    is4k: bool
    state: RequestState
    state_label: str
    cancellable: bool
    watch_url: str | None
    download: DownloadDoc | None
    created_at: datetime
    updated_at: datetime
    requested_by: RequesterDoc | None = None


@attrs.frozen
class RequestPage:
    requests: list[RequestDoc]
    page: int
    pages: int
    total: int


@attrs.frozen
class RequestAnswer:
    """The request, and what the person is told."""

    request: RequestDoc
    message: str | None = None


@attrs.frozen
class Cancelled:
    deleted: bool
    message: str


@attrs.frozen
class WatchDoc:
    watching: bool
    message: str


@attrs.frozen
class LinkDoc:
    """A MediaNest user's Overseerr user, and how they were matched (plex, imported, admin)."""

    user_id: int
    overseerr_user_id: int
    overseerr_name: str | None
    how: LinkKind


@attrs.frozen
class LinkAnswer:
    link: LinkDoc | None


@attrs.frozen
class OverseerrUserDoc:
    id: int
    name: str
    email: str | None
    plex_id: int | None


@attrs.frozen
class OverseerrUsers:
    users: list[OverseerrUserDoc]


@attrs.frozen
class WebhookResult:
    """What the delivery did: applied, ignored (nothing about a request), or deferred (Overseerr did not answer;
    the periodic reconciliation repairs it)."""

    result: str


# ---- helpers ---------------------------------------------------------------------------------------------------


def overseerr_down(exc: UpstreamError, what: str) -> ApiError:
    return ApiError(
        503,
        ErrorCode.SERVICE_UNAVAILABLE,
        f"Overseerr did not answer: {what}",
        details={"service": "overseerr", "reason": type(exc).__name__},
    )


def whole_in_path(request: web.Request, name: str, noun: str) -> int:
    """A path parameter that must be a whole number from 1 (a record's or a title's id): anything else is 404."""
    text = request.match_info[name]
    if text.isascii() and text.isdigit() and len(text) <= 10 and 1 <= int(text) <= ID_MAX:
        return int(text)
    raise ApiError(404, ErrorCode.NOT_FOUND, f"No such {noun}.")


def read_seasons(body: AskBody) -> list[int] | None:
    """The seasons asked for (``None``: every season; always ``None`` for a film), or a 422 naming the field."""
    value = body.seasons
    if body.kind is MediaType.MOVIE:
        if value is not None:
            raise field_error("seasons", "a film has no seasons", "A film has no seasons: leave seasons out.")
        return None
    if value is None or value == "all":
        return None
    if not isinstance(value, list):
        raise field_error("seasons", f"expected {SEASONS_RULE}", f"Seasons must be {SEASONS_RULE}.")
    numbers: list[int] = []
    for item in value:
        if isinstance(item, float) and item.is_integer():
            item = int(item)  # JSON has one kind of number
        if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item <= SEASON_MAX:
            raise field_error("seasons", f"expected {SEASONS_RULE}", f"Seasons must be {SEASONS_RULE}.")
        numbers.append(item)
    if not numbers:
        raise field_error("seasons", "must not be empty", "Choose at least one season.")
    if len(numbers) > SEASONS_MAX or len(set(numbers)) != len(numbers):
        raise field_error("seasons", f"expected {SEASONS_RULE}", f"Seasons must be {SEASONS_RULE}.")
    return sorted(numbers)


def _per(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return unit if count == 1 else f"{count} {unit}s"
    return f"{seconds:g} s"


def _name(row: Request) -> str:
    if row.title:
        return f"{row.title} ({row.year})" if row.year else row.title
    return "this film" if row.kind == MediaType.MOVIE.value else "this series"


def _seasons_text(numbers: list[int]) -> str:
    shown = [str(n) for n in numbers]
    if len(shown) == 1:
        return f"season {shown[0]}"
    return f"seasons {', '.join(shown[:-1])} and {shown[-1]}"


def asked_message(row: Request) -> str:
    """What the person reads once Overseerr took their request."""
    name = _name(row)
    what = f"{name}, {_seasons_text(list(row.seasons))}" if row.kind == MediaType.TV.value and row.seasons else name
    state = RequestState(row.state)
    if state is RequestState.PENDING:
        after = "It waits for the admin's approval: you will be told when it is approved."
    elif state in (RequestState.AVAILABLE, RequestState.PARTIALLY_AVAILABLE):
        after = "It is in Plex already."
    elif state is RequestState.DECLINED:
        after = "It was declined."
    else:
        after = "It was approved: you will be told when it is available in Plex."
    return f"Requested: {what}. {after}"


async def watch_of(db: AsyncSession, user_id: int, kind: MediaType, tmdb_id: int) -> Watch | None:
    found: Watch | None = await db.scalar(
        select(Watch).where(Watch.user_id == user_id, Watch.kind == kind.value, Watch.tmdb_id == tmdb_id)
    )
    return found


def link_doc(link: Link) -> dict[str, Any]:
    return {
        "user_id": link.user_id,
        "overseerr_user_id": link.overseerr_user_id,
        "overseerr_name": link.overseerr_name,
        "how": link.how,
    }


def user_doc(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.displayName or user.username or user.plexUsername or user.email or f"User {user.id}",
        "email": user.email,
        "plex_id": user.plexId,
    }


# ---- the routes ------------------------------------------------------------------------------------------------


class Requests:
    """The routes, sharing the plugin's context and its Overseerr service."""

    def __init__(self, ctx: PluginContext, service: Callable[[], Overseerr]) -> None:
        self.ctx = ctx
        self._service = service
        self._asking: dict[int, asyncio.Lock] = {}

    def service(self) -> Overseerr:
        """The Overseerr service, or a 503 saying that the admin has not set it up."""
        from medianest_overseerr.service import NotSetUp

        try:
            return self._service()
        except NotSetUp:
            raise ApiError(
                503, ErrorCode.SERVICE_UNAVAILABLE, NOT_SET_UP, details={"service": "overseerr", "reason": "not_set_up"}
            ) from None

    def poster_base(self) -> str:
        # The same address the service gives; known without it, since stored requests are shown without Overseerr.
        return f"/api/v1/{self.ctx.name}/images/{store.POSTER_SIZE}"

    def doc(self, row: Request, who: Principal) -> dict[str, Any]:
        return store.request_doc(row, asker=who.is_admin or row.user_id == who.user_id, poster_base=self.poster_base())

    def routes(self) -> list[Route]:
        return [
            Route(
                "GET",
                "/requests",
                self.listing,
                name="overseerr-requests",
                query=RequestsQuery,
                answer=RequestPage,
                errors=(403,),
            ),
            Route(
                "POST",
                "/requests",
                self.ask,
                name="overseerr-requests-create",
                body=AskBody,
                answer=RequestAnswer,
                status=201,
                errors=(404, 409, 503),
                refusals={"seasons": SEASONS_RULE + "; none for a film", "is4k": "only when Overseerr offers 4K"},
            ),
            Route("GET", "/requests/{id}", self.detail, name="overseerr-request", params=IdPath, answer=RequestAnswer),
            Route(
                "DELETE",
                "/requests/{id}",
                self.cancel,
                name="overseerr-request-cancel",
                params=IdPath,
                answer=Cancelled,
                errors=(409, 503),
            ),
            Route(
                "POST",
                "/requests/{id}/approve",
                self.approve,
                name="overseerr-request-approve",
                access=Access.ADMIN,
                params=IdPath,
                answer=RequestAnswer,
                errors=(503,),
            ),
            Route(
                "POST",
                "/requests/{id}/decline",
                self.decline,
                name="overseerr-request-decline",
                access=Access.ADMIN,
                params=IdPath,
                answer=RequestAnswer,
                errors=(503,),
            ),
            Route(
                "PUT",
                "/watches/{kind}/{tmdb_id}",
                self.watch,
                name="overseerr-watch",
                params=WatchPath,
                answer=WatchDoc,
                errors=(409, 503),
            ),
            Route(
                "DELETE",
                "/watches/{kind}/{tmdb_id}",
                self.unwatch,
                name="overseerr-watch-delete",
                params=WatchPath,
                answer=WatchDoc,
            ),
            Route(
                "GET",
                "/links/{user_id}",
                self.link,
                name="overseerr-link",
                access=Access.ADMIN,
                params=UserPath,
                answer=LinkAnswer,
            ),
            Route(
                "PUT",
                "/links/{user_id}",
                self.set_link,
                name="overseerr-link-set",
                access=Access.ADMIN,
                params=UserPath,
                body=OverseerrLinkBody,
                answer=LinkAnswer,
                errors=(503,),
                refusals={"overseerr_user_id": "a user of Overseerr"},
            ),
            Route(
                "DELETE",
                "/links/{user_id}",
                self.unlink,
                name="overseerr-link-delete",
                access=Access.ADMIN,
                params=UserPath,
                answer=LinkAnswer,
                errors=(503,),
            ),
            Route(
                "GET",
                "/users",
                self.users,
                name="overseerr-users",
                access=Access.ADMIN,
                answer=OverseerrUsers,
                errors=(503,),
            ),
            Route(
                "POST",
                "/webhook",
                self.webhook,
                name="overseerr-webhook",
                access=Access.PUBLIC,
                answer=WebhookResult,
                errors=(400, 401, 413, 503),
            ),
        ]

    # ---- one's requests ----------------------------------------------------------------------------------------

    async def listing(self, request: web.Request) -> web.Response:
        """One's requests, newest first, a page of 20; admins may list everyone's (``scope=all``)."""
        who = require(request)
        asked = read_query(request, RequestsQuery)
        if asked.scope is store.Scope.ALL and not who.is_admin:
            raise ApiError(403, ErrorCode.FORBIDDEN, "Only admins see everyone's requests.")
        assert self.ctx.sessions is not None
        async with self.ctx.sessions() as db:
            rows, total = await store.page_of(
                db, None if asked.scope is store.Scope.ALL else who.user_id, asked.state, asked.page
            )
        return web.json_response(
            {
                "requests": [self.doc(row, who) for row in rows],
                "page": asked.page,
                "pages": max(1, math.ceil(total / store.PAGE_SIZE)),
                "total": total,
            }
        )

    async def owned(self, request: web.Request) -> tuple[Principal, Request]:
        """The request named in the path, fetched with its owner unless an admin asks: anyone else's is 404."""
        who = require(request)
        request_id = path_id(request, "request")
        query = select(Request).where(Request.id == request_id)
        if not who.is_admin:
            query = query.where(Request.user_id == who.user_id)
        assert self.ctx.sessions is not None
        async with self.ctx.sessions() as db:
            row = await db.scalar(query)
        if row is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, "No such request.")
        return who, row

    async def detail(self, request: web.Request) -> web.Response:
        """One request: its title, seasons and where it stands."""
        who, row = await self.owned(request)
        return web.json_response({"request": self.doc(row, who)})

    async def ask(self, request: web.Request) -> web.Response:
        """Request a film or seasons of a series through Overseerr, as oneself (so Overseerr's own permissions,
        auto-approval and quotas apply). MediaNest's quota is spent only when Overseerr took the request.

        A refusal says why in plain words: MediaNest's quota or Overseerr's (429, with when it frees up), a
        permission or no Overseerr user (403), a title requested already (409), Overseerr not answering (503:
        nothing was requested)."""
        who = require(request)
        body = await read_body(request, AskBody)
        seasons = read_seasons(body)
        service = self.service()
        # One request of a person at a time (in this process): the quota is read, Overseerr asked, and the quota
        # spent, so parallel requests cannot all pass a quota with one left.
        async with self._asking.setdefault(who.user_id, asyncio.Lock()):
            return await self._ask(request, who.user_id, body, seasons, service)

    async def _ask(
        self, request: web.Request, user_id: int, body: AskBody, seasons: list[int] | None, service: Overseerr
    ) -> web.Response:
        from medianest_overseerr.service import QUOTA

        use = await quota_use(request, QUOTA)
        if use.limit is not None and use.remaining == 0:
            wait = (
                max(1, math.ceil((use.resets_at - datetime.now(UTC)).total_seconds()))
                if use.resets_at is not None
                else max(1, int(use.period_s))
            )
            raise ApiError(
                429,
                ErrorCode.RATE_LIMITED,
                f"Your {use.title} quota ({use.limit} per {_per(use.period_s)}) is used up: nothing was requested; "
                f"try again in {wait} s.",
                details={"quota": QUOTA, "limit": use.limit, "retry_after": wait},
                headers={"Retry-After": str(wait)},
            )
        if body.is4k:
            try:
                offered = await service.public_settings()
            except UpstreamError as exc:
                service.failed(exc)
                raise overseerr_down(exc, "nothing was requested; try again in a moment.") from None
            if not (offered.movie4kEnabled if body.kind is MediaType.MOVIE else offered.series4kEnabled):
                words = KIND_WORDS[body.kind]
                raise field_error("is4k", f"4K is not offered for {words}", f"4K requests are not offered for {words}.")
        try:
            row = await service.ask(user_id, body.kind, body.tmdb_id, seasons, body.is4k)
        except ApiError as exc:
            if exc.status == 409:
                await self._seen(service, body.kind, body.tmdb_id)
            raise
        try:
            await spend(request, QUOTA)
        except ApiError as exc:
            if exc.status != 429:  # another request spent the last one meanwhile: this one was accepted all the same
                raise
        log.info("overseerr_requested", user_id=user_id, request_id=row.id, kind=row.kind, tmdb_id=row.tmdb_id)
        return web.json_response(
            {"request": self.doc(row, require(request)), "message": asked_message(row)}, status=201
        )

    async def _seen(self, service: Overseerr, kind: MediaType, tmdb_id: int) -> None:
        """After a refused duplicate: store the title's requests, so that it shows "Requested" (errors ignored)."""
        try:
            with deadline(SEEN_SECONDS):
                await service.seen_media(kind, tmdb_id)
        except Exception as exc:  # the refusal is what the person must read; this is only a courtesy
            log.info("overseerr_seen_media_failed", kind=kind.value, tmdb_id=tmdb_id, error=str(exc))

    async def cancel(self, request: web.Request) -> web.Response:
        """Cancel a request still waiting for approval: it is removed from Overseerr too."""
        _, row = await self.owned(request)
        if row.state != RequestState.PENDING.value:
            raise self._not_pending(row)
        service = self.service()
        from medianest_overseerr.service import ASK_SECONDS

        try:
            with deadline(ASK_SECONDS):
                fresh = await service.refresh(row.overseerr_id)  # it may have been approved meanwhile
        except UpstreamError as exc:
            service.failed(exc)
            raise overseerr_down(exc, "the request was not cancelled.") from None
        if fresh is not None:
            if fresh.state != RequestState.PENDING.value:
                raise self._not_pending(fresh)
            await service.cancel(fresh)
        log.info("overseerr_request_cancelled", request_id=row.id, overseerr_id=row.overseerr_id)
        return web.json_response({"deleted": True, "message": f"Your request for {_name(row)} was cancelled."})

    @staticmethod
    def _not_pending(row: Request) -> ApiError:
        return ApiError(
            409,
            ErrorCode.CONFLICT,
            "Only a request still waiting for approval can be cancelled.",
            details={"state": row.state},
        )

    async def approve(self, request: web.Request) -> web.Response:
        """Approve a request (admins): Overseerr sends it to Radarr or Sonarr."""
        return await self._decide(request, True)

    async def decline(self, request: web.Request) -> web.Response:
        """Decline a request (admins): its asker is told."""
        return await self._decide(request, False)

    async def _decide(self, request: web.Request, approve: bool) -> web.Response:
        who, row = await self.owned(request)
        service = self.service()
        decided = await service.decide(row, approve)
        log.info("overseerr_request_decided", request_id=row.id, approve=approve, by=who.user_id)
        message = f"{'Approved' if approve else 'Declined'}: {_name(decided)}."
        return web.json_response({"request": self.doc(decided, who), "message": message})

    # ---- waiting for a title -----------------------------------------------------------------------------------

    def title_key(self, request: web.Request) -> tuple[MediaType, int]:
        kind = request.match_info["kind"]
        if kind not in (MediaType.MOVIE.value, MediaType.TV.value):
            raise ApiError(404, ErrorCode.NOT_FOUND, "No such title.")
        return MediaType(kind), whole_in_path(request, "tmdb_id", "title")

    async def watch(self, request: web.Request) -> web.Response:
        """Be told when a title is available in Plex, whoever asked for it (asking twice changes nothing)."""
        who = require(request)
        kind, tmdb_id = self.title_key(request)
        service = self.service()
        title: str | None = None
        try:
            with deadline(TITLE_SECONDS):
                about = await service.details(kind, tmdb_id)
            if about is not None:
                from medianest_overseerr.client import MovieDetails

                title = about.title if isinstance(about, MovieDetails) else about.name
        except UpstreamError:
            title = None  # the title's name is a nicety: the watch is kept without it
        assert self.ctx.sessions is not None
        try:
            async with self.ctx.sessions.begin() as db:
                found = await watch_of(db, who.user_id, kind, tmdb_id)
                if found is None:
                    held = await db.scalar(select(func.count()).where(Watch.user_id == who.user_id)) or 0
                    if held >= MAX_WATCHES:
                        raise ApiError(
                            409,
                            ErrorCode.CONFLICT,
                            f"You are waiting for {held} titles already, the most one person may: stop waiting "
                            "for some first.",
                            details={"limit": MAX_WATCHES},
                        )
                    db.add(Watch(user_id=who.user_id, kind=kind.value, tmdb_id=tmdb_id, title=title))
                elif title and not found.title:
                    found.title = title
        except IntegrityError:
            pass  # the same watch, made at the same moment by another request
        name = title or "this title"
        return web.json_response({"watching": True, "message": f"We'll tell you when {name} is available."})

    async def unwatch(self, request: web.Request) -> web.Response:
        """Stop waiting for a title."""
        who = require(request)
        kind, tmdb_id = self.title_key(request)
        assert self.ctx.sessions is not None
        async with self.ctx.sessions.begin() as db:
            found = await watch_of(db, who.user_id, kind, tmdb_id)
            if found is not None:
                await db.execute(delete(Watch).where(Watch.id == found.id))
        name = found.title if found is not None and found.title else "this title"
        return web.json_response({"watching": False, "message": f"You will not be told about {name}."})

    # ---- who is who in Overseerr (admins) -----------------------------------------------------------------------

    async def _user_exists(self, request: web.Request) -> int:
        user_id = whole_in_path(request, "user_id", "user")
        assert self.ctx.sessions is not None
        async with self.ctx.sessions() as db:
            if await db.get(MediaNestUser, user_id) is None:
                raise ApiError(404, ErrorCode.NOT_FOUND, "No such user.")
        return user_id

    async def link(self, request: web.Request) -> web.Response:
        """A MediaNest user's Overseerr user (``null``: not linked yet)."""
        user_id = await self._user_exists(request)
        assert self.ctx.sessions is not None
        async with self.ctx.sessions() as db:
            found = await store.link_of(db, user_id)
        return web.json_response({"link": link_doc(found) if found is not None else None})

    async def set_link(self, request: web.Request) -> web.Response:
        """Link a MediaNest user (a local account included) to a user of Overseerr: their requests are then made as
        that user."""
        who = require(request)
        user_id = await self._user_exists(request)
        body = await read_body(request, OverseerrLinkBody)
        service = self.service()
        try:
            user = await service.client.user(body.overseerr_user_id)
        except NotFound:
            number = body.overseerr_user_id
            raise field_error(
                "overseerr_user_id", "no such user in Overseerr", f"Overseerr has no user {number}."
            ) from None
        except UpstreamError as exc:
            service.failed(exc)
            raise overseerr_down(exc, "nothing was linked.") from None
        link = await service.save_link(user_id, user, LinkKind.ADMIN, who.user_id)
        return web.json_response({"link": link_doc(link)})

    async def unlink(self, request: web.Request) -> web.Response:
        """Forget a MediaNest user's Overseerr user: someone who signed in with Plex is matched again when they next
        ask."""
        user_id = await self._user_exists(request)
        await self.service().forget_link(user_id)
        return web.json_response({"link": None})

    async def users(self, request: web.Request) -> web.Response:
        """Overseerr's users, to link a MediaNest user to one of them."""
        service = self.service()
        try:
            found = await service.all_users()
        except UpstreamError as exc:
            service.failed(exc)
            raise overseerr_down(exc, "its users cannot be listed now.") from None
        return web.json_response({"users": [user_doc(user) for user in found]})

    # ---- Overseerr's webhook agent --------------------------------------------------------------------------------

    async def webhook(self, request: web.Request) -> web.Response:
        """A notification of Overseerr's webhook agent (public: only with its ``Authorization`` header equal to
        ``webhook_secret``). The request it names is read again from Overseerr, so a delivery that comes twice or
        late changes nothing newer. The body is Overseerr's default JSON template, at most 64 KiB."""
        secret = self.ctx.settings.webhook_secret
        if secret is None or not secret.get_secret_value():
            raise ApiError(
                401,
                ErrorCode.UNAUTHORIZED,
                "The webhook is not set up: set webhook_secret.",
                details={"reason": "no_secret"},
            )
        offered = request.headers.get("Authorization", "")
        # Header bytes that are not UTF-8 arrive as surrogates: they are simply not the secret.
        given = offered.encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, secret.get_secret_value().encode("utf-8", "surrogateescape")):
            log.warning("overseerr_webhook_refused", has_header=bool(offered))
            raise ApiError(
                401,
                ErrorCode.UNAUTHORIZED,
                "The webhook's Authorization header is not the webhook_secret.",
                details={"reason": "wrong_secret"},
            )
        service = self.service()
        raw = await self._webhook_body(request)
        from medianest_overseerr.client import parse_webhook

        try:
            payload = parse_webhook(parse_json(raw))
        except (ValueError, BadResponse) as exc:
            message = exc.message if isinstance(exc, BadResponse) else str(exc)
            raise ApiError(
                400, ErrorCode.BAD_REQUEST, f"The body is not a notification of Overseerr's webhook agent ({message})."
            ) from None
        result = await service.webhook(payload)
        log.info("overseerr_webhook", type=payload.notification_type, request_id=payload.request_id, result=result)
        return web.json_response({"result": result})

    @staticmethod
    async def _webhook_body(request: web.Request) -> bytes:
        too_large = ApiError(
            413, ErrorCode.PAYLOAD_TOO_LARGE, f"The body is too large: at most {WEBHOOK_MAX // 1024} KiB of JSON."
        )
        if (request.content_length or 0) > WEBHOOK_MAX:
            raise too_large
        data = bytearray()
        async for chunk in request.content.iter_chunked(16 * 1024):
            data += chunk
            if len(data) > WEBHOOK_MAX:
                raise too_large
        return bytes(data)


def routes(ctx: PluginContext, service: Callable[[], Overseerr]) -> list[Route]:
    return Requests(ctx, service).routes()
