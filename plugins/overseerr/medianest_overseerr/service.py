"""The Overseerr plugin's connection to Overseerr (or Jellyseerr, or Seerr), made once per process at start-up:
who each person is there, asking as them, and following what becomes of their requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final

import structlog
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from medianest_core.errors import ApiError, ErrorCode
from medianest_core.images import TMDB_FILE
from medianest_core.types import PluginContext
from medianest_core.upstream import BreakerState, NotFound, Unavailable, Upstream, UpstreamError, deadline
from medianest_overseerr import store
from medianest_overseerr.client import (
    MediaRequest,
    MediaRequestStatus,
    MediaStatus,
    MediaType,
    MovieDetails,
    NoSuchUser,
    OutcomeKind,
    OverseerrClient,
    PublicSettings,
    RefusalReason,
    RequestSort,
    TvDetails,
    User,
    WebhookPayload,
    overseerr_headers,
)
from medianest_overseerr.models import Link, LinkKind, Request, RequestState, Watch

if TYPE_CHECKING:
    from medianest_overseerr import OverseerrSettings

log = structlog.get_logger("medianest.plugins.overseerr")

QUOTA: Final = "overseerr.requests"
PAUSED: Final = "Requests are paused: Overseerr is not answering"
DETAILS_TTL: Final = 6 * 3600.0
USERS_TTL: Final = 60.0
SETTINGS_TTL: Final = 600.0
ASK_SECONDS: Final = 10.0
"""How long a person waits for Overseerr to take their request."""
TROUBLE_KEPT: Final = 60.0
"""How long a failed call greys out Request buttons before Overseerr is asked again."""
RECONCILE_PAGE: Final = 100
RECONCILE_PAGES: Final = 20
RECONCILE_FETCHES: Final = 50
LEARNING_LOCKS: Final = 64
"""Requests learnt at once, at most (one at a time for each request)."""


class NotSetUp(Unavailable):
    """``[plugins.overseerr]`` lacks the server's address or its API key."""


class NotLinked(Exception):
    """The person has no Overseerr user MediaNest can find: the message says what to do."""


def upstream(ctx: PluginContext, settings: OverseerrSettings, *, pooled: bool = True) -> Upstream:
    """The upstream client of Overseerr's API for ``settings``: from the core's pool (closed at shutdown), or made
    for a moment (``pooled=False``; the caller closes it)."""
    assert ctx.upstreams is not None
    assert settings.url is not None
    assert settings.api_key is not None
    key = settings.api_key.get_secret_value()
    url = f"{str(settings.url).rstrip('/')}/api/v1"
    if pooled:
        return ctx.upstreams.client("overseerr", url, headers=overseerr_headers(key), secrets=[key])
    return Upstream("overseerr", url, headers=overseerr_headers(key), secrets=[key], config=ctx.upstreams.config)


def state_of(request: MediaRequest) -> tuple[RequestState, list[int]]:
    """Where a request stands, and which of its seasons are available, from Overseerr's answer. A request in a
    list carries its media without seasons: a series then counts as available only when its media is."""
    status = request.status
    if status == MediaRequestStatus.DECLINED:
        return RequestState.DECLINED, []
    if status == MediaRequestStatus.FAILED:
        return RequestState.FAILED, []
    if status == MediaRequestStatus.PENDING:
        return RequestState.PENDING, []
    media = request.media
    if media is None:
        return RequestState.APPROVED, []
    overall = media.status4k if request.is4k else media.status
    there = sorted(
        season.seasonNumber
        for season in media.seasons
        if (season.status4k if request.is4k else season.status) == MediaStatus.AVAILABLE
    )
    asked = set(request.season_numbers)
    mine = sorted(asked & set(there)) if asked else there
    if overall == MediaStatus.AVAILABLE or (asked and media.seasons and asked <= set(there)):
        return RequestState.AVAILABLE, mine
    if overall == MediaStatus.PARTIALLY_AVAILABLE and (mine or not media.seasons or not asked):
        return RequestState.PARTIALLY_AVAILABLE, mine
    if media.downloadStatus4k if request.is4k else media.downloadStatus:
        return RequestState.PROCESSING, mine
    return RequestState.APPROVED, mine


def still_processing(state: RequestState, stored: str) -> RequestState:
    """``state``, except that a request stored as downloading stays so when Overseerr says only "approved": its
    download finished and Plex has not found it yet (it is not approved again)."""
    if state is RequestState.APPROVED and stored == RequestState.PROCESSING.value:
        return RequestState.PROCESSING
    return state


def version_of(request: MediaRequest) -> datetime:
    """The latest change Overseerr recorded for the request or its media."""
    moments = [m for m in (request.updatedAt, request.media.updatedAt if request.media else None) if m is not None]
    return max(moments) if moments else datetime.now(UTC)


def _cut(text: str | None, length: int) -> str | None:
    """Text from Overseerr (names people choose there), cut to the column that keeps it."""
    return text[:length] if text is not None else None


def _year(text: str | None) -> int | None:
    return int(text[:4]) if text and len(text) >= 4 and text[:4].isdigit() else None


NOTICES: Final[dict[RequestState, tuple[str, str, str]]] = {
    RequestState.APPROVED: ("{title} was approved", "It is on its way to Plex.", "success"),
    RequestState.DECLINED: ("Your request for {title} was declined", "Ask the admin why.", "warning"),
    RequestState.PROCESSING: ("{title} is downloading", "It will be in Plex soon.", "info"),
    RequestState.PARTIALLY_AVAILABLE: ("Some of {title} is now in Plex", "{seasons} can be watched.", "success"),
    RequestState.AVAILABLE: ("{title} is now available in Plex", "Watch in Plex from its page.", "success"),
    RequestState.FAILED: ("{title} could not be fetched", "The admin has been told; ask them to retry.", "error"),
    RequestState.PENDING: ("Your request for {title} waits for approval", "", "info"),
}


class Overseerr:
    """Overseerr for one MediaNest: its client, on the core's resilient upstream client, and what the plugin
    does with it."""

    def __init__(self, ctx: PluginContext, settings: OverseerrSettings) -> None:
        self.ctx = ctx
        self.settings = settings
        self.upstream = upstream(ctx, settings)
        self.client = OverseerrClient(self.upstream)
        self.trouble: str | None = None
        self._trouble_at = 0.0
        self._linking: dict[int, asyncio.Lock] = {}
        self._users: tuple[float, list[User]] | None = None
        self._learning = [asyncio.Lock() for _ in range(LEARNING_LOCKS)]

    # ---- whether Overseerr answers ------------------------------------------------------------------------------

    def paused(self) -> str | None:
        """Why requests are paused right now (Overseerr failed lately, or is reported out), or ``None``."""
        outage = self.ctx.outages.reason("overseerr") if self.ctx.outages is not None else None
        if outage is not None:
            return f"Requests are paused: {outage.rstrip('.')}"
        if self.trouble is not None and time.monotonic() - self._trouble_at < TROUBLE_KEPT:
            return self.trouble
        breaker = self.upstream.breaker
        if breaker.state is BreakerState.OPEN and breaker.retry_in() > 0:
            return PAUSED
        return None

    def failed(self, exc: UpstreamError) -> None:
        if isinstance(exc, Unavailable):
            self.trouble = PAUSED
            self._trouble_at = time.monotonic()

    def answered(self) -> None:
        self.trouble = None

    # ---- what Overseerr knows of titles -------------------------------------------------------------------------

    async def details(self, kind: MediaType | str, tmdb_id: int) -> MovieDetails | TvDetails | None:
        """A title's details (cached for hours; ``None`` when TMDB does not know it)."""
        kind = MediaType(kind)

        async def fetch() -> MovieDetails | TvDetails | None:
            try:
                if kind is MediaType.MOVIE:
                    return await self.client.movie(tmdb_id)
                return await self.client.tv(tmdb_id)
            except NotFound:
                return None

        return (await self.upstream.cached(("details", kind.value, tmdb_id), DETAILS_TTL, fetch)).value

    async def fresh_details(self, kind: MediaType | str, tmdb_id: int) -> MovieDetails | TvDetails | None:
        """A title's details with what Overseerr tracks of it now (its seasons' states), uncached."""
        kind = MediaType(kind)
        try:
            return await (self.client.movie(tmdb_id) if kind is MediaType.MOVIE else self.client.tv(tmdb_id))
        except NotFound:
            return None

    async def public_settings(self) -> PublicSettings:
        return (await self.upstream.cached("settings", SETTINGS_TTL, self.client.public_settings)).value

    async def all_users(self) -> list[User]:
        """Every Overseerr user (kept a minute)."""
        kept = self._users
        if kept is not None and time.monotonic() - kept[0] < USERS_TTL:
            return kept[1]
        found: list[User] = []
        skip = 0
        while True:
            page = await self.client.users(take=100, skip=skip)
            found += page.results
            skip += 100
            if not page.results or skip >= page.pageInfo.results:
                break
        self._users = (time.monotonic(), found)
        return found

    # ---- who each person is in Overseerr --------------------------------------------------------------------------

    async def link_of(self, user_id: int) -> Link | None:
        assert self.ctx.sessions is not None
        async with self.ctx.sessions() as db:
            return await store.link_of(db, user_id)

    async def overseerr_user(self, user_id: int) -> Link:
        """The person's Overseerr user: kept, else found by their Plex account id, else imported from Plex (when
        the admin allows it). :class:`NotLinked` says what to do otherwise."""
        found = await self.link_of(user_id)
        if found is not None:
            return found
        lock = self._linking.setdefault(user_id, asyncio.Lock())
        async with lock:
            found = await self.link_of(user_id)
            if found is not None:
                return found
            return await self._find(user_id)

    async def _find(self, user_id: int) -> Link:
        account = await self.ctx.accounts.find(user_id, "plex") if self.ctx.accounts is not None else None
        if account is None:
            raise NotLinked("Your account is not linked to an Overseerr user: ask the admin to link it to one.")
        if not (account.account_id.isascii() and account.account_id.isdigit()):
            raise NotLinked("Your Plex account cannot be matched to an Overseerr user: ask the admin to link it.")
        plex_id = int(account.account_id)
        user = self._by_plex_id(await self.all_users(), plex_id)
        how = LinkKind.PLEX
        if user is None:
            if not self.settings.import_users:
                raise NotLinked("You have no Overseerr user yet: ask the admin to add you to Overseerr.")
            await self.client.import_from_plex([plex_id])
            self._users = None
            user = self._by_plex_id(await self.all_users(), plex_id)
            how = LinkKind.IMPORTED
            if user is None:
                raise NotLinked(
                    "Overseerr could not add your Plex account (is the Plex server shared with you?): ask the admin."
                )
        return await self.save_link(user_id, user, how, None)

    @staticmethod
    def _by_plex_id(users: Sequence[User], plex_id: int) -> User | None:
        return next((u for u in users if u.plexId is not None and int(u.plexId) == plex_id), None)

    async def save_link(self, user_id: int, user: User, how: LinkKind, by: int | None) -> Link:
        assert self.ctx.sessions is not None
        async with self.ctx.sessions.begin() as db:
            link = await store.link_of(db, user_id)
            if link is None:
                link = Link(user_id=user_id, overseerr_user_id=user.id, how=how.value)
                db.add(link)
            link.overseerr_user_id = user.id
            link.overseerr_name = _cut(user.displayName or user.username or user.plexUsername or user.email, 200)
            link.how = how.value
            link.linked_by = by
            await db.flush()
            db.expunge(link)
        log.info("overseerr_user_linked", user_id=user_id, overseerr_user_id=user.id, how=how.value)
        await self.claim(user_id, user.id)
        return link

    async def forget_link(self, user_id: int) -> None:
        assert self.ctx.sessions is not None
        async with self.ctx.sessions.begin() as db:
            await db.execute(delete(Link).where(Link.user_id == user_id))

    async def claim(self, user_id: int, overseerr_user_id: int) -> None:
        """Requests already known of this Overseerr user become the person's."""
        from sqlalchemy import update

        assert self.ctx.sessions is not None
        async with self.ctx.sessions.begin() as db:
            await db.execute(
                update(Request)
                .where(Request.overseerr_user_id == overseerr_user_id, Request.user_id.is_(None))
                .values(user_id=user_id)
            )

    # ---- asking ---------------------------------------------------------------------------------------------------

    async def ask(self, user_id: int, kind: MediaType, tmdb_id: int, seasons: list[int] | None, is4k: bool) -> Request:
        """Request a title as the person, or raise :class:`~medianest_core.errors.ApiError` saying why not. The
        caller has checked MediaNest's own quota and spends it once this returns."""
        why = self.paused()
        if why is not None:
            raise ApiError(503, ErrorCode.SERVICE_UNAVAILABLE, f"{why}. Nothing was requested; try again later.")
        try:
            with deadline(ASK_SECONDS):
                link = await self.overseerr_user(user_id)
                outcome = await self.client.request(link.overseerr_user_id, kind, tmdb_id, seasons, is4k)
        except NotLinked as exc:
            raise ApiError(403, ErrorCode.FORBIDDEN, str(exc), details={"reason": "not_linked"}) from exc
        except NoSuchUser as exc:
            await self.forget_link(user_id)
            raise ApiError(
                403,
                ErrorCode.FORBIDDEN,
                "Your Overseerr user no longer exists: ask the admin to link your account again.",
                details={"reason": "not_linked"},
            ) from exc
        except NotFound as exc:
            raise ApiError(404, ErrorCode.NOT_FOUND, "Overseerr does not know that title.") from exc
        except UpstreamError as exc:
            if exc.status != 500:  # Overseerr's own error about this request: it answers, so nothing is paused
                self.failed(exc)
            raise ApiError(
                503,
                ErrorCode.SERVICE_UNAVAILABLE,
                "Overseerr did not answer, so nothing was requested: try again in a moment.",
                details={"service": "overseerr"},
            ) from exc
        self.answered()
        if outcome.kind is OutcomeKind.CREATED:
            assert outcome.request is not None
            row = await self.learn(outcome.request, owner=user_id, notify=False)
            assert row is not None
            return row
        if outcome.kind is OutcomeKind.DUPLICATE:
            raise ApiError(
                409,
                ErrorCode.CONFLICT,
                "Someone has requested this already: choose “Tell me when it's available” to hear when it arrives.",
                details={"reason": "duplicate"},
            )
        if outcome.kind is OutcomeKind.NOTHING_TO_REQUEST:
            raise ApiError(
                409,
                ErrorCode.CONFLICT,
                "Every season you chose is requested already or in Plex.",
                details={"reason": "nothing_to_request"},
            )
        if outcome.reason is RefusalReason.QUOTA and outcome.quota is not None:
            quota = outcome.quota
            frees = await self._frees_at(link.overseerr_user_id, kind, quota.days)
            what = "film" if kind is MediaType.MOVIE else "season"
            limit = quota.limit or 0
            message = (
                f"Overseerr allows you {limit} {what}{'' if limit == 1 else 's'} every {quota.days or 7} days, "
                f"and you have {quota.remaining or 0} left"
            )
            message += f": the next frees up on {frees:%d %b at %H:%M} UTC." if frees else "."
            headers = {}
            details: dict[str, object] = {
                "reason": "overseerr_quota",
                "limit": quota.limit,
                "used": quota.used,
                "remaining": quota.remaining,
                "days": quota.days,
                "frees_at": frees.isoformat() if frees else None,
            }
            if frees:
                headers["Retry-After"] = str(max(1, int((frees - datetime.now(UTC)).total_seconds())))
            raise ApiError(429, ErrorCode.RATE_LIMITED, message, details=details, headers=headers)
        if outcome.reason is RefusalReason.PERMISSION:
            raise ApiError(
                403,
                ErrorCode.FORBIDDEN,
                f"{outcome.message.rstrip('.')}: Overseerr does not let you ask for this; ask the admin.",
                details={"reason": "permission"},
            )
        raise ApiError(
            403,
            ErrorCode.FORBIDDEN,
            f"Overseerr refused the request ({outcome.message.rstrip('.')}).",
            details={"reason": "refused"},
        )

    async def _frees_at(self, overseerr_user_id: int, kind: MediaType, days: int | None) -> datetime | None:
        """When the oldest request counted by the person's Overseerr quota leaves its window."""
        if not days:
            return None
        since = datetime.now(UTC) - timedelta(days=days)
        try:
            page = await self.client.requests(
                take=100, requested_by=overseerr_user_id, as_user=overseerr_user_id, sort=RequestSort.ADDED
            )
        except UpstreamError:
            return None
        counted = [r.createdAt for r in page.results if r.type is kind and r.createdAt and r.createdAt >= since]
        return min(counted) + timedelta(days=days) if counted else None

    # ---- following requests -----------------------------------------------------------------------------------

    async def learn(self, request: MediaRequest, *, owner: int | None = None, notify: bool = True) -> Request | None:
        """Store what Overseerr says of ``request`` (unless the stored state is newer) and tell whoever it
        concerns: the asker, the admins, and, once it is available, the people waiting for the title.

        One request is learnt once at a time (its webhook often arrives while the answer that made it is being
        stored), so each change is told once; a row another process stored at the same moment is updated."""
        async with self._learning[request.id % len(self._learning)]:
            try:
                return await self._learn(request, owner=owner, notify=notify)
            except IntegrityError:
                return await self._learn(request, owner=owner, notify=notify)

    async def _learn(self, request: MediaRequest, *, owner: int | None, notify: bool) -> Request | None:
        assert self.ctx.sessions is not None
        state, there = state_of(request)
        version = version_of(request)
        media = request.media
        kind = MediaType(request.type)
        tmdb_id = media.tmdbId if media else None
        if tmdb_id is None:
            return None
        asker = request.requestedBy
        about: MovieDetails | TvDetails | None = None
        try:
            about = await self.details(kind, tmdb_id)
        except UpstreamError:
            about = None
        async with self.ctx.sessions.begin() as db:
            row = await store.by_overseerr_id(db, request.id)
            before: str | None = None
            if row is None:
                if owner is None and asker is not None:
                    linked = await store.users_of(db, asker.id)
                    owner = linked[0] if len(linked) == 1 else None  # two people on one Overseerr user: nobody's
                row = Request(
                    overseerr_id=request.id,
                    user_id=owner,
                    kind=kind.value,
                    tmdb_id=tmdb_id,
                    is4k=request.is4k,
                    version=version,
                    detail={},
                    created_at=request.createdAt or datetime.now(UTC),
                )
                db.add(row)
            else:
                if version < row.version:
                    log.info("overseerr_request_stale", request_id=request.id)
                    if owner is not None and row.user_id != owner:  # the asker is known for sure: keep them
                        row.user_id = owner
                        await db.flush()
                    db.expunge(row)
                    return row
                before = row.state
                if owner is not None:  # asked through MediaNest: the person who asked, whoever else is linked
                    row.user_id = owner
                state = still_processing(state, row.state)
            seasons = request.season_numbers or list(row.seasons or [])
            changed = before != state.value or sorted(row.seasons_available or []) != there
            row.overseerr_user_id = asker.id if asker else row.overseerr_user_id
            row.requested_by = (
                _cut(asker.displayName or asker.username or asker.plexUsername, 200) if asker else row.requested_by
            )
            row.tvdb_id = media.tvdbId if media and media.tvdbId else row.tvdb_id
            if about is not None:
                row.title = _cut(about.title if isinstance(about, MovieDetails) else about.name, 500)
                row.year = _year(about.releaseDate if isinstance(about, MovieDetails) else about.firstAirDate)
                poster = about.posterPath
                row.poster_path = poster if poster and TMDB_FILE.fullmatch(poster.lstrip("/")) else None
            row.seasons = seasons
            row.seasons_available = there
            row.state = state.value
            row.version = version
            plex = (media.plexUrl4k if request.is4k else media.plexUrl) if media else None
            row.watch_url = plex if plex and plex.startswith("https://") and len(plex) <= 500 else None
            downloads = (media.downloadStatus4k if request.is4k else media.downloadStatus) if media else []
            row.detail = {
                "download": {"time_left": downloads[0].timeLeft, "title": downloads[0].title} if downloads else None,
                "modified_by": _cut(request.modifiedBy.displayName, 200) if request.modifiedBy else None,
            }
            await db.flush()
            watchers: list[Watch] = []
            if state is RequestState.AVAILABLE and before != state.value and not row.is4k:
                watchers = await store.watchers(db, kind.value, tmdb_id)
                if watchers:
                    await db.execute(delete(Watch).where(Watch.id.in_([w.id for w in watchers])))
            pending = await store.pending_count(db)
            db.expunge(row)
        if changed or before is None:
            await self._tell(row, before, pending, [w.user_id for w in watchers], notify=notify and before is not None)
        return row

    async def _tell(self, row: Request, before: str | None, pending: int, watchers: list[int], *, notify: bool) -> None:
        from medianest_core.events import CardUpdated

        assert self.ctx.events is not None
        doc = store.request_doc(row, asker=True, poster_base=self.poster_base())
        if row.user_id is not None:
            await self.ctx.events.publish(store.RequestChanged(owner_id=row.user_id, request=doc))
        await self.ctx.events.publish(store.RequestsChanged(request=doc, pending=pending))
        await self.ctx.events.publish(CardUpdated(plugin=self.ctx.name, key="requests"))
        told = [row.user_id] if row.user_id is not None else []
        for user_id in told + [w for w in watchers if w not in told]:
            await self._title_changed(user_id, row.kind, row.tmdb_id)
        title = row.title or "Your title"
        state = RequestState(row.state)
        if notify and row.user_id is not None and self.ctx.notifier is not None:
            heading, body, level = NOTICES[state]
            seasons = ", ".join(f"season {n}" for n in row.seasons_available or []) or "Some seasons"
            await self._notify(
                [row.user_id], heading.format(title=title), body.format(seasons=seasons.capitalize()), level, row
            )
        others = [w for w in watchers if w not in told]
        if others and self.ctx.notifier is not None:
            heading, body, level = NOTICES[RequestState.AVAILABLE]
            await self._notify(others, heading.format(title=title), body, level, row)

    async def _notify(self, users: list[int], heading: str, body: str, level: str, row: Request) -> None:
        from medianest_core.notifications import Level

        assert self.ctx.notifier is not None
        await self.ctx.notifier.notify(users, heading, body, Level(level), link=store.title_url(row.kind, row.tmdb_id))

    async def _title_changed(self, user_id: int, kind: str, tmdb_id: int) -> None:
        from medianest_core import events

        assert self.ctx.events is not None
        changed = getattr(events, "TitleChanged", None)
        if changed is not None:
            await self.ctx.events.publish(changed(user_id=user_id, kind=kind, tmdb_id=tmdb_id))

    def poster_base(self) -> str:
        return f"/api/v1/{self.ctx.name}/images/{store.POSTER_SIZE}"

    async def refresh(self, overseerr_id: int, *, owner: int | None = None) -> Request | None:
        """Read one request from Overseerr again and store it; a request Overseerr no longer has is removed."""
        try:
            request = await self.client.get_request(overseerr_id)
        except NotFound:
            await self.removed(overseerr_id)
            return None
        return await self.learn(request, owner=owner)

    async def removed(self, overseerr_id: int) -> None:
        assert self.ctx.sessions is not None
        assert self.ctx.events is not None
        async with self.ctx.sessions.begin() as db:
            row = await store.by_overseerr_id(db, overseerr_id)
            if row is None:
                return
            await db.delete(row)
            pending = await store.pending_count(db)
        doc = store.request_doc(row, asker=True, poster_base=self.poster_base()) | {"removed": True}
        if row.user_id is not None:
            await self.ctx.events.publish(store.RequestChanged(owner_id=row.user_id, request=doc))
            await self._title_changed(row.user_id, row.kind, row.tmdb_id)
        await self.ctx.events.publish(store.RequestsChanged(request=doc, pending=pending))

    async def webhook(self, payload: WebhookPayload) -> str:
        """One delivery of Overseerr's webhook agent: the request it names is read again from Overseerr (so a
        delivery that comes twice, or late, changes nothing that is newer). What was done, in a word."""
        request_id = payload.request_id
        if request_id is None:
            return "ignored"
        try:
            await self.refresh(request_id)
        except UpstreamError as exc:
            self.failed(exc)
            log.warning("overseerr_webhook_unread", request_id=request_id, error=exc.message)
            return "deferred"
        self.answered()
        return "applied"

    async def reconcile(self) -> None:
        """Read Overseerr's requests, last changed first, and repair every stored state that differs (a lost
        webhook, a request made in Overseerr itself); requests still open here but gone there are removed. At most
        :data:`RECONCILE_FETCHES` requests are read again in one round: the rest are repaired by the next."""
        assert self.ctx.sessions is not None
        seen: set[int] = set()
        fetches = 0
        try:
            for number in range(RECONCILE_PAGES):
                page = await self.client.requests(
                    take=RECONCILE_PAGE, skip=number * RECONCILE_PAGE, sort=RequestSort.MODIFIED
                )
                async with self.ctx.sessions() as db:
                    stored = await store.by_overseerr_ids(db, [item.id for item in page.results])
                for item in page.results:
                    seen.add(item.id)
                    if self._unchanged(stored.get(item.id), item) or fetches >= RECONCILE_FETCHES:
                        continue
                    fetches += 1
                    try:
                        await self.refresh(item.id)
                    except UpstreamError:
                        raise
                    except Exception:  # one odd request never stops the others being repaired
                        log.exception("overseerr_reconcile_request_failed", request_id=item.id)
                if not page.results or (number + 1) * RECONCILE_PAGE >= page.pageInfo.results:
                    await self._gone(seen)
                    break
        except UpstreamError as exc:
            self.failed(exc)
            log.warning("overseerr_reconcile_stopped", error=exc.message)
            return
        self.answered()

    @staticmethod
    def _unchanged(row: Request | None, item: MediaRequest) -> bool:
        """Whether a request of Overseerr's list says nothing new of its stored row. A list carries no seasons of
        the media: "partly available" there is what the row says when it is the same version, or when the row
        knows every season asked for is there."""
        if row is None:
            return False
        state = still_processing(state_of(item)[0], row.state)
        if state is RequestState.PARTIALLY_AVAILABLE and row.state == RequestState.AVAILABLE.value:
            return True
        partly = state is RequestState.PARTIALLY_AVAILABLE and not (item.media and item.media.seasons)
        return (row.state == state.value or partly) and version_of(item) <= row.version

    async def _gone(self, seen: set[int]) -> None:
        """Requests stored as open that Overseerr's full list no longer holds."""
        from sqlalchemy import select

        from medianest_overseerr.models import OPEN

        assert self.ctx.sessions is not None
        async with self.ctx.sessions() as db:
            open_ids = (
                await db.scalars(select(Request.overseerr_id).where(Request.state.in_([s.value for s in OPEN])))
            ).all()
        for overseerr_id in open_ids:
            if overseerr_id not in seen:
                await self.refresh(overseerr_id)

    # ---- an admin's decisions, a person's cancel --------------------------------------------------------------

    async def decide(self, row: Request, approve: bool) -> Request:
        try:
            with deadline(ASK_SECONDS):
                answer = await (self.client.approve if approve else self.client.decline)(row.overseerr_id)
                fresh = await self.client.get_request(answer.id)
        except NotFound as exc:
            await self.removed(row.overseerr_id)
            raise ApiError(404, ErrorCode.NOT_FOUND, "Overseerr no longer has this request.") from exc
        except UpstreamError as exc:
            self.failed(exc)
            raise ApiError(
                503,
                ErrorCode.SERVICE_UNAVAILABLE,
                "Overseerr did not answer: nothing was changed.",
                details={"service": "overseerr"},
            ) from exc
        learnt = await self.learn(fresh)
        return learnt or row

    async def cancel(self, row: Request) -> None:
        """Remove a pending request, as its asker's Overseerr user."""
        try:
            with deadline(ASK_SECONDS):
                await self.client.delete_request(row.overseerr_id, row.overseerr_user_id)
        except NotFound:
            pass
        except UpstreamError as exc:
            self.failed(exc)
            raise ApiError(
                503,
                ErrorCode.SERVICE_UNAVAILABLE,
                "Overseerr did not answer: the request was not cancelled.",
                details={"service": "overseerr"},
            ) from exc
        await self.removed(row.overseerr_id)

    async def seen_media(self, kind: MediaType, tmdb_id: int) -> None:
        """Store the requests Overseerr has of one title (after a duplicate, say)."""
        about = await self.fresh_details(kind, tmdb_id)
        info = about.mediaInfo if about is not None else None
        for request in info.requests if info is not None else []:
            await self.refresh(request.id)
