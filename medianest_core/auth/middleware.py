"""Authentication is on by default: the middleware resolves who is asking, then lets the route's declared access
decide. Anonymous requests to a signed-in route get 401 (API) or a redirect to the login page (pages); users on
an admin route get 403. Cookie-authenticated writes need the session's CSRF token; bearer tokens are exempt.
"""

from __future__ import annotations

import hmac
from typing import Final
from urllib.parse import quote

from aiohttp import web
from aiohttp_session import get_session

from medianest_core import keys
from medianest_core.auth.net import client_network, own_origin
from medianest_core.auth.principal import Principal, Via
from medianest_core.auth.sessions import COOKIE_NAME, CSRF, ROW, UID
from medianest_core.errors import ApiError, ErrorCode
from medianest_core.http import wants_json
from medianest_core.schema import read_form
from medianest_core.types import Access, Handler

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER: Final = "X-CSRF-Token"
CSRF_FIELD: Final = "csrf_token"
LOGIN_PATH: Final = "/login"


def route_access(request: web.Request) -> Access | None:
    """The access the matched route declared; ``None`` when nothing matched (the router answers 404/405)."""
    info = request.match_info
    if info.http_exception is not None:
        return None
    return request.config_dict[keys.ROUTE_ACCESS].get(info.route, Access.USER)


METERED: Final = ("/api/", "/titles/")
"""Paths counted against ``api_rate_limit``: the API, and title pages, which ask every title source as the API does."""


def _is_image(request: web.Request) -> bool:
    """Whether the matched route answers images (its declared ``media``)."""
    spec = request.config_dict[keys.ROUTE_SPECS].get(request.match_info.route)
    return spec is not None and spec.media.startswith("image/")


async def _from_token(request: web.Request, token: str) -> Principal | None:
    found = await request.config_dict[keys.AUTH_CACHE].token(token)
    if found is None:
        return None
    row, user = found
    return Principal(user.id, user.username, user.role, Via.TOKEN, token_id=row.id)


async def _from_session(request: web.Request) -> Principal | None:
    session = await get_session(request)
    uid = session.get(UID)
    if uid is None:
        return None
    user = await request.config_dict[keys.AUTH_CACHE].user(int(uid))
    if user is None or not user.active:
        session.invalidate()
        return None
    return Principal(
        user.id, user.username, user.role, Via.SESSION, session_id=session.get(ROW), csrf_token=session.get(CSRF)
    )


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


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    access = route_access(request)
    header = request.headers.get("Authorization", "")
    who: Principal | None
    if header.lower().startswith("bearer "):
        who = await _from_token(request, header[7:].strip())
        if who is None and access is not Access.PUBLIC:
            raise ApiError(
                401,
                ErrorCode.UNAUTHORIZED,
                "The API token is unknown, revoked or expired.",
                headers={"WWW-Authenticate": 'Bearer realm="medianest"'},
            )
    elif COOKIE_NAME in request.cookies:
        who = await _from_session(request)
    else:  # no session to look up: a request without the cookie is anonymous
        who = None
    if who is not None:
        request[keys.PRINCIPAL] = who
    if request.path.startswith(METERED):
        limits = request.config_dict[keys.LIMITS]
        key = ("user", str(who.user_id)) if who is not None else ("ip", client_network(request))
        if _is_image(request):  # a page of posters asks for dozens at once: they count apart from the API's calls
            await limits.hit_request(limits.images, "images", *key, what="image requests")
        else:
            await limits.hit_request(limits.api, "api", *key, what="requests")
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
        raise web.HTTPFound(f"{LOGIN_PATH}?next={quote(request.path_qs, safe='')}")
    if access is Access.ADMIN and not who.is_admin:
        raise ApiError(403, ErrorCode.FORBIDDEN, "This is for admins.")
    return await handler(request)
