"""Server-side sessions in the database, through aiohttp-session.

The cookie (``medianest_session``: HttpOnly, SameSite=Lax, Secure over https) holds a random token; the row's
id is the token's SHA-256. Only signed-in sessions are stored. A session ends when it has been idle for
``session_idle_timeout`` (``session_remember_lifetime`` with "remember me"), when it reaches
``session_remember_lifetime`` in all, at logout, when it is revoked, or when its user is disabled.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from aiohttp import web
from aiohttp_session import AbstractStorage
from aiohttp_session import Session as WebSession
from sqlalchemy import delete, select, update

from medianest_core import keys
from medianest_core.auth.net import client_ip, is_https
from medianest_core.models import Session, User, UserStatus

COOKIE_NAME: Final = "medianest_session"
SEEN_EVERY: Final = timedelta(seconds=60)
# Keys of the aiohttp-session mapping that live in columns of their own.
UID, CSRF, REMEMBER, ROW = "uid", "csrf", "remember", "row"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def _ended() -> WebSession:
    """An empty session that, once saved, clears the browser's stale cookie."""
    session = WebSession(None, data=None, new=True, max_age=None)
    session.changed()
    return session


class DatabaseStorage(AbstractStorage):
    def __init__(self) -> None:
        super().__init__(cookie_name=COOKIE_NAME, httponly=True, samesite="Lax", path="/")

    async def load_session(self, request: web.Request) -> WebSession:
        token = self.load_cookie(request)
        if not token:
            return WebSession(None, data=None, new=True, max_age=None)
        runtime = request.config_dict[keys.RUNTIME]
        settings = runtime.settings
        now = datetime.now(UTC)
        row_id = token_hash(token)
        async with runtime.sessions() as db:
            found = (
                await db.execute(select(Session, User.status).join(User).where(Session.id == row_id))
            ).one_or_none()
            if found is None:
                return _ended()
            row, status = found
            idle = settings.session_remember_lifetime if row.remember else settings.session_idle_timeout
            if (
                row.expires_at <= now
                or row.last_seen_at + timedelta(seconds=idle) <= now
                or (status is not UserStatus.ACTIVE)
            ):
                await db.execute(delete(Session).where(Session.id == row_id))
                await db.commit()
                return _ended()
            if now - row.last_seen_at >= SEEN_EVERY:
                await db.execute(
                    update(Session).where(Session.id == row_id).values(last_seen_at=now, ip=client_ip(request))
                )
                await db.commit()
        data = {**row.data, UID: row.user_id, CSRF: row.csrf_token, REMEMBER: row.remember, ROW: row_id}
        created = int(row.created_at.timestamp())
        return WebSession(token, data={"created": created, "session": data}, new=False, max_age=None)

    async def save_session(self, request: web.Request, response: web.StreamResponse, session: WebSession) -> None:
        runtime = request.config_dict[keys.RUNTIME]
        settings = runtime.settings
        token = session.identity
        if session.empty or session.get(UID) is None:
            if token:
                async with runtime.sessions.begin() as db:
                    await db.execute(delete(Session).where(Session.id == token_hash(str(token))))
            if self.load_cookie(request):
                response.del_cookie(COOKIE_NAME, path="/")
            return
        extra = {k: v for k, v in session.items() if k not in (UID, CSRF, REMEMBER, ROW)}
        remember = bool(session.get(REMEMBER))
        if token is None:
            token = secrets.token_urlsafe(32)
            now = datetime.now(UTC)
            async with runtime.sessions.begin() as db:
                db.add(
                    Session(
                        id=token_hash(token),
                        user_id=int(session[UID]),
                        data=extra,
                        csrf_token=str(session.get(CSRF) or new_csrf_token()),
                        remember=remember,
                        ip=client_ip(request),
                        user_agent=request.headers.get("User-Agent", "")[:500] or None,
                        created_at=now,
                        last_seen_at=now,
                        expires_at=now + timedelta(seconds=settings.session_remember_lifetime),
                    )
                )
            session.set_new_identity(token)
            session[ROW] = token_hash(token)
        else:
            async with runtime.sessions.begin() as db:
                await db.execute(update(Session).where(Session.id == token_hash(str(token))).values(data=extra))
        max_age = int(settings.session_remember_lifetime) if remember else None
        self.set_cookie(request, response, str(token), max_age)

    def set_cookie(self, request: web.Request, response: web.StreamResponse, token: str, max_age: int | None) -> None:
        params: dict[str, Any] = {"path": "/", "httponly": True, "samesite": "Lax", "secure": is_https(request)}
        if max_age is not None:
            params["max_age"] = max_age
        response.set_cookie(COOKIE_NAME, token, **params)
