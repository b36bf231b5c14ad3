"""The accounts API: sign in and out, the current session, one's own sessions and API tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs
from aiohttp import web
from sqlalchemy import func, select, update

from medianest_core import audit, keys
from medianest_core.audit import AuditAction
from medianest_core.auth.cache import UserFacts
from medianest_core.auth.passwords import hash_password, needs_rehash, verify_password
from medianest_core.auth.principal import Via, require
from medianest_core.auth.tokens import create_token
from medianest_core.errors import ApiError, ErrorCode, field_error, path_id
from medianest_core.models import ApiToken, Role, User, UserStatus
from medianest_core.schema import NOT_BLANK, IdPath, field, read_body
from medianest_core.types import Access, LoginProvider, Route

MAX_USERNAME = 150
# Passwords are hashed with argon2, whose cost grows with their length: none longer is accepted.
MAX_PASSWORD = 1024


@attrs.frozen
class LoginBody:
    username: str = field(min_length=1, max_length=MAX_USERNAME)
    password: str = field(min_length=1, max_length=MAX_PASSWORD)
    remember: bool = False


@attrs.frozen
class TokenBody:
    name: str = field(min_length=1, max_length=100, pattern=NOT_BLANK)
    expires_at: datetime | None = None


@attrs.frozen
class UserDoc:
    """An account as the API shows it."""

    id: int
    username: str
    display_name: str | None
    role: Role
    status: UserStatus


@attrs.frozen
class SignedIn:
    """The account now signed in, and the CSRF token its changes carry (``X-CSRF-Token``)."""

    user: UserDoc
    csrf_token: str


@attrs.frozen
class SignedOut:
    signed_out: bool


@attrs.frozen
class CurrentSession:
    user: UserDoc
    via: Via
    csrf_token: str | None


@attrs.frozen
class SessionDoc:
    """One of the person's sessions (a browser signed in); ``current`` is the one asking."""

    id: str
    current: bool
    user_agent: str | None
    ip: str | None
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    remember: bool


@attrs.frozen
class SessionList:
    sessions: list[SessionDoc]


@attrs.frozen
class Revoked:
    revoked: bool


@attrs.frozen
class TokenDoc:
    """An API token; ``prefix`` is its first characters, to tell tokens apart."""

    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None


@attrs.frozen
class NewToken(TokenDoc):
    """A new API token: ``token`` is shown this once."""

    token: str


@attrs.frozen
class TokenList:
    tokens: list[TokenDoc]


@attrs.frozen
class QuotaDoc:
    """A person's use of one quota; ``limit`` and ``remaining`` are null when it is unlimited."""

    name: str
    title: str
    limit: int | None
    used: int
    remaining: int | None
    period_s: float
    resets_at: datetime | None


@attrs.frozen
class QuotaList:
    quotas: list[QuotaDoc]


@attrs.frozen
class ProviderDoc:
    key: str
    title: str
    start_url: str | None
    form: bool


@attrs.frozen
class ProviderList:
    """The ways to sign in, in the order the sign-in page shows them."""

    providers: list[ProviderDoc]


@attrs.frozen
class SessionPath:
    """A session's ``{id}``: the hexadecimal SHA-256 of its token."""

    id: str = field(min_length=1, max_length=128)


def user_doc(user: User | UserFacts) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role.value,
        "status": user.status.value,
    }


async def login(request: web.Request) -> web.Response:
    body = await read_body(request, LoginBody)
    return web.json_response(await sign_in_with_password(request, body))


async def sign_in_with_password(request: web.Request, body: LoginBody) -> dict[str, Any]:
    """Check the password and start a new session; answers the user and the CSRF token, or raises ApiError."""
    runtime = request.config_dict[keys.RUNTIME]
    await request.config_dict[keys.LIMITS].sign_in_attempt(request, body.username)
    doc: dict[str, Any] = {}
    failure: ApiError | None = None
    async with runtime.sessions.begin() as db:
        user = await db.scalar(select(User).where(func.lower(User.username) == body.username.strip().lower()))
        ok = await verify_password(user.password_hash if user is not None else None, body.password)
        if user is None or not ok:
            audit.record(
                db,
                AuditAction.LOGIN_FAILED,
                actor_id=user.id if user is not None else None,
                details={"username": body.username[:150], "provider": "password"},
                request=request,
            )
            failure = ApiError(401, ErrorCode.UNAUTHORIZED, "Wrong username or password.")
        elif user.status is not UserStatus.ACTIVE:
            audit.record(
                db, AuditAction.LOGIN_FAILED, actor_id=user.id, details={"reason": "disabled"}, request=request
            )
            failure = ApiError(403, ErrorCode.FORBIDDEN, "This account is disabled; ask the admin.")
        else:
            if user.password_hash and needs_rehash(user.password_hash):
                user.password_hash = await hash_password(body.password)
            user.last_login_at = datetime.now(UTC)
            audit.record(db, AuditAction.LOGIN, actor_id=user.id, details={"provider": "password"}, request=request)
            doc = user_doc(user)
    if failure is not None:
        raise failure
    return {"user": doc, "csrf_token": await begin_session(request, doc["id"], body.remember)}


async def begin_session(request: web.Request, user_id: int, remember: bool = False) -> str:
    """Sign ``user_id`` in on this browser with a new session (never one planted before); returns its CSRF
    token. Login providers call it once they know who the person is."""
    record = await request.config_dict[keys.SESSIONS].begin(request, user_id, remember=remember)
    return record.csrf_token


async def logout(request: web.Request) -> web.Response:
    who = require(request)
    runtime = request.config_dict[keys.RUNTIME]
    async with runtime.sessions.begin() as db:
        audit.record(db, AuditAction.LOGOUT, actor_id=who.user_id, request=request)
    await request.config_dict[keys.SESSIONS].end(request)
    if who.session_id is not None:
        await request.config_dict[keys.WS_HUB].sign_out(who.user_id, who.session_id)
    return web.json_response({"signed_out": True})


async def current_session(request: web.Request) -> web.Response:
    who = require(request)
    user = await request.config_dict[keys.AUTH_CACHE].user(who.user_id)
    if user is None:  # removed since the middleware looked
        raise ApiError(401, ErrorCode.UNAUTHORIZED, "Sign in first.")
    return web.json_response({"user": user_doc(user), "via": who.via.value, "csrf_token": who.csrf_token})


async def my_sessions(request: web.Request) -> web.Response:
    who = require(request)
    records = await request.config_dict[keys.SESSION_STORE].list_for_user(who.user_id)
    return web.json_response({"sessions": [r.doc(who.session_id) for r in records]})


async def revoke_my_session(request: web.Request) -> web.Response:
    who = require(request)
    session_id = request.match_info["id"]
    store = request.config_dict[keys.SESSION_STORE]
    record = await store.get(session_id)
    if record is None or record.user_id != who.user_id:
        raise ApiError(404, ErrorCode.NOT_FOUND, "No such session.")
    await store.delete(session_id)
    await request.config_dict[keys.WS_HUB].sign_out(who.user_id, session_id)
    runtime = request.config_dict[keys.RUNTIME]
    async with runtime.sessions.begin() as db:
        audit.record(
            db, AuditAction.SESSION_REVOKED, actor_id=who.user_id, target=f"session:{session_id[:12]}", request=request
        )
    if who.via is Via.SESSION and session_id == who.session_id:
        await request.config_dict[keys.SESSIONS].end(request)
    return web.json_response({"revoked": True})


def _token_doc(row: ApiToken) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "created_at": row.created_at.isoformat(),
        "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
    }


async def my_tokens(request: web.Request) -> web.Response:
    who = require(request)
    runtime = request.config_dict[keys.RUNTIME]
    async with runtime.sessions() as db:
        rows = (
            await db.scalars(
                select(ApiToken)
                .where(ApiToken.user_id == who.user_id, ApiToken.revoked_at.is_(None))
                .order_by(ApiToken.created_at.desc())
            )
        ).all()
    return web.json_response({"tokens": [_token_doc(r) for r in rows]})


async def create_my_token(request: web.Request) -> web.Response:
    who = require(request)
    body = await read_body(request, TokenBody)
    name = body.name.strip()
    if not 1 <= len(name) <= 100:
        raise field_error("name", "1 to 100 characters", "Name the token (1 to 100 characters).")
    if body.expires_at is not None and body.expires_at <= datetime.now(UTC):
        raise field_error("expires_at", "in the past", "The expiry must be in the future.")
    runtime = request.config_dict[keys.RUNTIME]
    async with runtime.sessions.begin() as db:
        row, token = await create_token(db, who.user_id, name, body.expires_at)
        audit.record(
            db,
            AuditAction.TOKEN_CREATED,
            actor_id=who.user_id,
            target=f"token:{row.id}",
            details={"name": name},
            request=request,
        )
        doc = {**_token_doc(row), "token": token}
    return web.json_response(doc, status=201)


async def revoke_my_token(request: web.Request) -> web.Response:
    who = require(request)
    token_id = path_id(request, "token")
    runtime = request.config_dict[keys.RUNTIME]
    async with runtime.sessions.begin() as db:
        result = await db.execute(
            update(ApiToken)
            .where(ApiToken.id == token_id, ApiToken.user_id == who.user_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise ApiError(404, ErrorCode.NOT_FOUND, "No such token.")
        audit.record(db, AuditAction.TOKEN_REVOKED, actor_id=who.user_id, target=f"token:{token_id}", request=request)
    await request.config_dict[keys.AUTH_CACHE].changed(token_id=token_id)
    return web.json_response({"revoked": True})


async def my_quotas(request: web.Request) -> web.Response:
    who = require(request)
    uses = await request.config_dict[keys.LIMITS].usage(request, who.user_id, who.role)
    return web.json_response({"quotas": [use.doc() for use in uses]})


PASSWORD_PROVIDER = LoginProvider("password", "Username and password", start=None, order=1000)


async def login_providers(request: web.Request) -> web.Response:
    """The ways to sign in, in the order the login page shows them."""
    found = [("core", PASSWORD_PROVIDER), *request.config_dict[keys.CONTRIBUTIONS].login_providers]
    found.sort(key=lambda item: (item[1].order, item[1].title))
    return web.json_response(
        {
            "providers": [
                {
                    "key": provider.key if plugin == "core" else f"{plugin}/{provider.key}",
                    "title": provider.title,
                    "start_url": None if provider.start is None else f"/auth/{plugin}/{provider.key}",
                    "form": provider.start is None,
                }
                for plugin, provider in found
            ]
        }
    )


ROUTES = (
    Route(
        "GET",
        "/api/v1/auth/providers",
        login_providers,
        name="auth-providers",
        access=Access.PUBLIC,
        answer=ProviderList,
    ),
    Route(
        "POST",
        "/api/v1/auth/login",
        login,
        name="auth-login",
        access=Access.PUBLIC,
        body=LoginBody,
        answer=SignedIn,
        errors=(401,),
    ),
    Route("POST", "/api/v1/auth/logout", logout, name="auth-logout", answer=SignedOut),
    Route("GET", "/api/v1/auth/session", current_session, name="auth-session", answer=CurrentSession),
    Route("GET", "/api/v1/me/sessions", my_sessions, name="me-sessions", answer=SessionList),
    Route(
        "DELETE", "/api/v1/me/sessions/{id}", revoke_my_session, name="me-session", params=SessionPath, answer=Revoked
    ),
    Route("GET", "/api/v1/me/tokens", my_tokens, name="me-tokens", answer=TokenList),
    Route(
        "POST",
        "/api/v1/me/tokens",
        create_my_token,
        name="me-tokens-create",
        body=TokenBody,
        answer=NewToken,
        status=201,
        refusals={"expires_at": "in the future"},
    ),
    Route("DELETE", "/api/v1/me/tokens/{id}", revoke_my_token, name="me-token", params=IdPath, answer=Revoked),
    Route("GET", "/api/v1/me/quotas", my_quotas, name="me-quotas", answer=QuotaList),
)
