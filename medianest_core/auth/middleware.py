"""Authentication is on by default: :class:`Gatekeeper`, run by the request middleware, resolves who is asking,
then lets the route's declared access decide. Anonymous requests to a signed-in route get 401 (API) or a redirect to
the login page (pages); users on an admin route get 403. Cookie-authenticated writes need the session's CSRF
token; bearer tokens are exempt.
"""

from __future__ import annotations

import hmac
from functools import cached_property
from typing import TYPE_CHECKING, Final
from urllib.parse import quote

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute

from medianest_core import keys
from medianest_core.auth.net import client_network, own_origin
from medianest_core.auth.principal import Principal, Via
from medianest_core.auth.sessions import session_cookies
from medianest_core.errors import ApiError, ErrorCode
from medianest_core.http import wants_json
from medianest_core.schema import read_form
from medianest_core.types import Access, Handler

if TYPE_CHECKING:
    from medianest_core.auth.cache import AuthCache
    from medianest_core.auth.sessions import Sessions
    from medianest_core.ratelimit import Limits
    from medianest_core.types import Route

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER: Final = "X-CSRF-Token"
CSRF_FIELD: Final = "csrf_token"
LOGIN_PATH: Final = "/login"
SETUP_PATH: Final = "/setup"


METERED: Final = ("/api/", "/titles/")
"""Paths counted against ``api_rate_limit``: the API, and title pages, which ask every title source as the API does."""


async def _check_csrf(request: web.Request, who: Principal | None) -> None:
    origin = request.headers.get("Origin")
    if origin is not None and origin != own_origin(request):
        raise ApiError(403, ErrorCode.FORBIDDEN, "This request comes from another site.", details={"origin": origin})
    if who is None or who.via is not Via.SESSION:
        return
    offered = request.headers.get(CSRF_HEADER)
    if offered is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await read_form(request)
        field = form.get(CSRF_FIELD)
        offered = field if isinstance(field, str) else None
    if not offered or not who.csrf_token or not hmac.compare_digest(offered, who.csrf_token):
        raise ApiError(
            403,
            ErrorCode.FORBIDDEN,
            f"This change needs the session's CSRF token (the {CSRF_HEADER} header).",
            details={"reason": "csrf"},
        )


class Gatekeeper:
    """Who asks (an API token, else the session cookie, else nobody), counted against the limits, checked against
    CSRF for changes and against the route's declared access; then the handler's answer.

    The request middleware runs it for every request. What it reads of the application (the routes' access, the
    auth cache, the sessions, the limits) is looked up once, not on every request."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    @cached_property
    def _access(self) -> dict[AbstractRoute, Access]:
        return self.app[keys.ROUTE_ACCESS]

    @cached_property
    def _specs(self) -> dict[AbstractRoute, Route]:
        return self.app[keys.ROUTE_SPECS]

    @cached_property
    def _cache(self) -> AuthCache:
        return self.app[keys.AUTH_CACHE]

    @cached_property
    def _sessions(self) -> Sessions:
        return self.app[keys.SESSIONS]

    @cached_property
    def _limits(self) -> Limits:
        return self.app[keys.LIMITS]

    @cached_property
    def _setup_token(self) -> list[str]:
        """The setup token while MediaNest waits for its first admin; empty once there is one."""
        from medianest_core.auth.setup import SETUP_TOKEN

        return self.app[SETUP_TOKEN]

    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        info = request.match_info
        # None when nothing matched: the router answers 404 or 405.
        access = None if info.http_exception is not None else self._access.get(info.route, Access.USER)
        header = request.headers.get("Authorization")
        who: Principal | None
        if header is not None and header[:7].lower() == "bearer ":
            who = await self._from_token(header[7:].strip())
            if who is None and access is not Access.PUBLIC:
                raise ApiError(
                    401,
                    ErrorCode.UNAUTHORIZED,
                    "The API token is unknown, revoked or expired.",
                    headers={"WWW-Authenticate": 'Bearer realm="medianest"'},
                )
        else:
            # The first cookie that names a live session counts; one that names none is cleared only when none
            # does. Without the cookie a request is anonymous.
            who = None
            for cookie in session_cookies(request):
                who = await self._from_session(request, cookie)
                if who is not None:
                    request.pop(keys.SESSION_COOKIE, None)
                    break
        if who is not None:
            request[keys.PRINCIPAL] = who
        if request.path.startswith(METERED):
            await self._count(request, who)
        if request.method not in SAFE_METHODS and access is not None:
            # Public routes (signing in, webhooks with their own secret) act for no session: only the origin counts.
            await _check_csrf(request, None if access is Access.PUBLIC else who)
        if access is Access.PUBLIC or access is None:
            return await handler(request)
        if who is None:
            if wants_json(request):
                raise ApiError(
                    401,
                    ErrorCode.UNAUTHORIZED,
                    "Sign in first.",
                    headers={"WWW-Authenticate": 'Bearer realm="medianest"'},
                )
            if request.path == "/" and self._setup_token:  # a fresh install starts by making its admin
                raise web.HTTPFound(SETUP_PATH)
            raise web.HTTPFound(f"{LOGIN_PATH}?next={quote(request.path_qs, safe='')}")
        if access is Access.ADMIN and not who.is_admin:
            raise ApiError(403, ErrorCode.FORBIDDEN, "This is for admins.")
        return await handler(request)

    async def _from_token(self, token: str) -> Principal | None:
        found = await self._cache.token(token)
        if found is None:
            return None
        row, user = found
        return Principal(user.id, user.username, user.role, Via.TOKEN, token_id=row.id)

    async def _from_session(self, request: web.Request, token: str) -> Principal | None:
        record = await self._sessions.current(request, token)
        if record is None:
            return None
        user = self._cache.users.peek(record.user_id) or await self._cache.user(record.user_id)
        if user is None or not user.active:
            await self._sessions.end(request)
            return None
        return Principal(
            user.id, user.username, user.role, Via.SESSION, session_id=record.id, csrf_token=record.csrf_token
        )

    async def _count(self, request: web.Request, who: Principal | None) -> None:
        limits = self._limits
        key = ("user", str(who.user_id)) if who is not None else ("ip", client_network(request))
        spec = self._specs.get(request.match_info.route)
        if spec is not None and spec.media.startswith("image/"):
            # A page of posters asks for dozens at once: they count apart from the API's calls.
            await limits.hit_request(limits.images, "images", *key, what="image requests")
        else:
            await limits.hit_request(limits.api, "api", *key, what="requests")
