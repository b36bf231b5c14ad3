"""First run: while no active admin exists, ``serve`` prints a one-time setup token in its log, and whoever holds
it may create the first admin (``POST /api/v1/setup``). ``medianest user create-admin`` does the same from the
command line. There is never a default password."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import attrs
import structlog
from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from medianest_core import audit, keys
from medianest_core.audit import AuditAction
from medianest_core.auth.accounts import USERNAME_PATTERN, USERNAME_RULE, AccountError, create_local_user
from medianest_core.auth.net import client_ip
from medianest_core.auth.passwords import MIN_LENGTH
from medianest_core.auth.views import MAX_PASSWORD, SignedIn, begin_session, user_doc
from medianest_core.errors import ApiError, ErrorCode
from medianest_core.models import Role, User, UserStatus
from medianest_core.schema import field, read_body
from medianest_core.types import Access, Route

log = structlog.get_logger("medianest.setup")

SETUP_TOKEN: web.AppKey[list[str]] = web.AppKey("medianest.setup_token", list)


async def admin_exists(request_or_app: web.Request | web.Application) -> bool:
    config = request_or_app.config_dict if isinstance(request_or_app, web.Request) else request_or_app
    async with config[keys.RUNTIME].sessions() as db:
        count = await db.scalar(
            select(func.count()).select_from(User).where(User.role == Role.ADMIN, User.status == UserStatus.ACTIVE)
        )
    return bool(count)


async def setup_ctx(app: web.Application) -> AsyncIterator[None]:
    """At start, with no admin yet, make the setup token and say where to use it."""
    holder = app[SETUP_TOKEN]
    if not await admin_exists(app):
        token = secrets.token_urlsafe(18)
        holder.append(token)
        log.warning(
            "setup_needed",
            message="No admin yet: open /setup in a browser and enter this setup token, "
            "or run `medianest user create-admin NAME`.",
            setup_token=token,
        )
    yield
    holder.clear()


async def setup_state(request: web.Request) -> web.Response:
    return web.json_response({"needed": not await admin_exists(request)})


@attrs.frozen
class SetupBody:
    token: str = field(max_length=200, description="The setup token from MediaNest's log")
    username: str = field(pattern=USERNAME_PATTERN, description=USERNAME_RULE)
    password: str = field(min_length=MIN_LENGTH, max_length=MAX_PASSWORD)


@attrs.frozen
class SetupState:
    """Whether MediaNest still waits for its first admin."""

    needed: bool


async def first_admin(request: web.Request) -> web.Response:
    await count_attempt(request)
    body = await read_body(request, SetupBody)
    doc, csrf = await create_first_admin(request, body)
    return web.json_response({"user": doc, "csrf_token": csrf}, status=201)


async def count_attempt(request: web.Request) -> None:
    """Setting up counts against the sign-in limit of the address it comes from: the token cannot be guessed."""
    limits = request.config_dict[keys.LIMITS]
    await limits.hit(limits.login, "setup", "ip", client_ip(request) or "unknown", what="setup attempts")


async def create_first_admin(request: web.Request, body: SetupBody) -> tuple[dict[str, Any], str]:
    """The first admin, made with the setup token and signed in on this request: their account's document and the
    session's CSRF token. Refused (:class:`ApiError`) once there is an admin or with another token."""
    holder = request.config_dict[SETUP_TOKEN]
    done = ApiError(409, ErrorCode.CONFLICT, "MediaNest already has an admin.", details={"reason": "done"})
    if not holder or await admin_exists(request) or not holder:  # (asked again: spent while the database answered)
        raise done
    if not hmac.compare_digest(body.token.strip().encode(), holder[0].encode()):
        raise ApiError(403, ErrorCode.FORBIDDEN, "That setup token is not the one in MediaNest's log.")
    # The token is spent before anything is awaited: a second form sent meanwhile (a double click) finds none.
    token = holder.pop()
    runtime = request.config_dict[keys.RUNTIME]
    try:
        async with runtime.sessions.begin() as db:
            user = await create_local_user(
                db, body.username, body.password, Role.ADMIN, actor_id=None, request=request, via="setup"
            )
            user.last_login_at = datetime.now(UTC)
            audit.record(db, AuditAction.LOGIN, actor_id=user.id, details={"provider": "setup"}, request=request)
            doc = user_doc(user)
    except AccountError as exc:
        holder.append(token)  # nothing was made: the token still makes the first admin
        raise ApiError(422, ErrorCode.VALIDATION_FAILED, str(exc), details={"fields": {exc.field: str(exc)}}) from None
    except IntegrityError:
        raise done from None  # another process made it at the same moment
    except BaseException:
        holder.append(token)
        raise
    csrf = await begin_session(request, doc["id"])
    log.info("setup_done", admin=doc["username"])
    return doc, csrf


ROUTES = (
    Route("GET", "/api/v1/setup", setup_state, name="setup-state", access=Access.PUBLIC, answer=SetupState),
    Route(
        "POST",
        "/api/v1/setup",
        first_admin,
        name="setup",
        access=Access.PUBLIC,
        body=SetupBody,
        answer=SignedIn,
        status=201,
        errors=(409,),
    ),
)
