"""Server-side sessions: in the database by default, in Redis when ``redis_url`` is set.

The cookie (``medianest_session``: HttpOnly, SameSite=Lax, Secure over https) holds a random token; the store
keeps the token's SHA-256, so the store alone cannot be used to sign in. Only signed-in sessions are stored. A
session ends when it has been idle for ``session_idle_timeout`` (``session_remember_lifetime`` with "remember
me"), when it reaches ``session_remember_lifetime`` in all, at logout, when it is revoked, or when its user is
disabled.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

import attrs
from aiohttp import hdrs, web
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medianest_core import keys
from medianest_core.auth.net import client_ip, is_https
from medianest_core.models import Session
from medianest_core.settings import Settings

COOKIE_NAME: Final = "medianest_session"
SEEN_EVERY: Final = timedelta(seconds=60)


# What secrets.token_urlsafe(32) makes: 43 characters of the URL-safe alphabet.
TOKEN_SHAPE: Final = re.compile(r"[A-Za-z0-9_-]{43}")


def _text(header: str) -> str:
    """A header as text a database stores: bytes that were not UTF-8 become replacement characters."""
    return header.encode("utf-8", "surrogateescape").decode("utf-8", "replace").replace("\x00", "\ufffd")


@functools.lru_cache(maxsize=16)
def _span(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


@attrs.frozen
class SessionRecord:
    id: str
    user_id: int
    csrf_token: str
    remember: bool
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ip: str | None = None
    user_agent: str | None = None
    data: dict[str, Any] = attrs.field(factory=dict)

    def idle_limit(self, settings: Settings) -> timedelta:
        return _span(settings.session_remember_lifetime if self.remember else settings.session_idle_timeout)

    def alive(self, now: datetime, settings: Settings) -> bool:
        return now < self.expires_at and now < self.last_seen_at + self.idle_limit(settings)

    def doc(self, current: str | None) -> dict[str, Any]:
        return {
            "id": self.id,
            "current": self.id == current,
            "user_agent": self.user_agent,
            "ip": self.ip,
            "created_at": self.created_at.isoformat(),
            "last_seen_at": self.last_seen_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "remember": self.remember,
        }


class SessionStore(Protocol):
    """Where sessions live. Every method takes the session's id (the SHA-256 of its token)."""

    async def get(self, session_id: str) -> SessionRecord | None: ...

    async def add(self, record: SessionRecord) -> None: ...

    async def touch(self, session_id: str, now: datetime, ip: str | None) -> None: ...

    async def set_data(self, session_id: str, data: dict[str, Any]) -> None: ...

    async def delete(self, session_id: str) -> None: ...

    async def delete_for_user(self, user_id: int) -> int: ...

    async def list_for_user(self, user_id: int) -> list[SessionRecord]: ...

    async def close(self) -> None: ...


def _record(row: Session) -> SessionRecord:
    return SessionRecord(
        id=row.id,
        user_id=row.user_id,
        csrf_token=row.csrf_token,
        remember=row.remember,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
        ip=row.ip,
        user_agent=row.user_agent,
        data=dict(row.data or {}),
    )


class DatabaseSessionStore:
    """Sessions in the ``sessions`` table: removed with their user (ON DELETE CASCADE)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def get(self, session_id: str) -> SessionRecord | None:
        async with self.sessions() as db:
            row = await db.get(Session, session_id)
            return _record(row) if row is not None else None

    async def add(self, record: SessionRecord) -> None:
        async with self.sessions.begin() as db:
            db.add(Session(**attrs.asdict(record)))

    async def touch(self, session_id: str, now: datetime, ip: str | None) -> None:
        async with self.sessions.begin() as db:
            await db.execute(update(Session).where(Session.id == session_id).values(last_seen_at=now, ip=ip))

    async def set_data(self, session_id: str, data: dict[str, Any]) -> None:
        async with self.sessions.begin() as db:
            await db.execute(update(Session).where(Session.id == session_id).values(data=data))

    async def delete(self, session_id: str) -> None:
        async with self.sessions.begin() as db:
            await db.execute(delete(Session).where(Session.id == session_id))

    async def delete_for_user(self, user_id: int) -> int:
        async with self.sessions.begin() as db:
            result = await db.execute(delete(Session).where(Session.user_id == user_id))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def list_for_user(self, user_id: int) -> list[SessionRecord]:
        async with self.sessions() as db:
            rows = await db.scalars(
                select(Session).where(Session.user_id == user_id).order_by(Session.last_seen_at.desc())
            )
            return [_record(r) for r in rows]

    async def close(self) -> None:
        return None


class RedisSessionStore:
    """Sessions in Redis, shared by every MediaNest process: one key per session that expires with it, and one
    set per user listing theirs."""

    PREFIX: Final = "medianest:session:"
    USER_PREFIX: Final = "medianest:user-sessions:"

    def __init__(self, url: str, settings: Settings) -> None:
        from redis.asyncio import Redis

        self.redis = Redis.from_url(url)
        self.settings = settings

    def _ttl(self, record: SessionRecord, now: datetime) -> int:
        until = min(record.expires_at, now + record.idle_limit(self.settings))
        return max(1, int((until - now).total_seconds()))

    @staticmethod
    def _dump(record: SessionRecord) -> str:
        doc = attrs.asdict(record)
        for key in ("created_at", "last_seen_at", "expires_at"):
            doc[key] = doc[key].isoformat()
        return json.dumps(doc)

    @staticmethod
    def _load(raw: bytes | str) -> SessionRecord:
        doc = json.loads(raw)
        for key in ("created_at", "last_seen_at", "expires_at"):
            doc[key] = datetime.fromisoformat(doc[key])
        return SessionRecord(**doc)

    async def _put(self, record: SessionRecord) -> None:
        now = datetime.now(UTC)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.PREFIX + record.id, self._dump(record), ex=self._ttl(record, now))
            pipe.sadd(f"{self.USER_PREFIX}{record.user_id}", record.id)
            await pipe.execute()

    async def get(self, session_id: str) -> SessionRecord | None:
        raw = await self.redis.get(self.PREFIX + session_id)
        return self._load(raw) if raw is not None else None

    async def add(self, record: SessionRecord) -> None:
        await self._put(record)

    async def touch(self, session_id: str, now: datetime, ip: str | None) -> None:
        record = await self.get(session_id)
        if record is not None:
            await self._put(attrs.evolve(record, last_seen_at=now, ip=ip))

    async def set_data(self, session_id: str, data: dict[str, Any]) -> None:
        record = await self.get(session_id)
        if record is not None:
            await self._put(attrs.evolve(record, data=data))

    async def delete(self, session_id: str) -> None:
        record = await self.get(session_id)
        await self.redis.delete(self.PREFIX + session_id)
        if record is not None:
            await self.redis.srem(f"{self.USER_PREFIX}{record.user_id}", session_id)

    async def delete_for_user(self, user_id: int) -> int:
        index = f"{self.USER_PREFIX}{user_id}"
        ids = [i.decode() if isinstance(i, bytes) else str(i) for i in await self.redis.smembers(index)]
        if not ids:
            return 0
        removed = int(await self.redis.delete(*(self.PREFIX + i for i in ids)))
        await self.redis.delete(index)
        return removed

    async def list_for_user(self, user_id: int) -> list[SessionRecord]:
        index = f"{self.USER_PREFIX}{user_id}"
        ids = [i.decode() if isinstance(i, bytes) else str(i) for i in await self.redis.smembers(index)]
        if not ids:
            return []
        found = await self.redis.mget([self.PREFIX + i for i in ids])
        gone = [i for i, raw in zip(ids, found, strict=True) if raw is None]
        if gone:
            await self.redis.srem(index, *gone)
        records = [self._load(raw) for raw in found if raw is not None]
        return sorted(records, key=lambda r: r.last_seen_at, reverse=True)

    async def close(self) -> None:
        await self.redis.aclose()


def make_store(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> SessionStore:
    if settings.redis_url is not None:
        return RedisSessionStore(str(settings.redis_url), settings)
    return DatabaseSessionStore(sessions)


@attrs.frozen
class CookieChange:
    """What the answer does to the browser's session cookie: set it to ``token`` (kept ``max_age`` seconds, or
    until the browser closes), or, with no token, clear it."""

    token: str | None = None
    max_age: int | None = None


MAX_COOKIES: Final = 3
"""The most ``medianest_session`` values of one request that are looked up (a browser sends one per Path and
Domain it holds)."""


def session_cookies(request: web.Request) -> list[str]:
    """The values of the ``medianest_session`` cookies the browser sent, in its order (at most
    :data:`MAX_COOKIES`).

    Only this cookie is read, straight from the ``Cookie`` header, so that a request need not parse every cookie
    of the site's other applications. A browser may send several: one another Path or a parent domain set comes
    first when its Path is longer, so none is trusted for its place alone."""
    header = request.headers.get("Cookie")
    if not header or COOKIE_NAME not in header:
        return []
    found = []
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name == COOKIE_NAME:
            found.append(value)
            if len(found) == MAX_COOKIES:
                break
    return found


class Sessions:
    """The session behind a request's cookie, and signing in and out on this browser, over a :class:`SessionStore`.

    A session is read when its cookie comes with a request; a cookie that names no live session (not a token
    MediaNest made, unknown, ended, or past its time) is cleared by the answer. Signing in stores the new session
    at once and the answer sets its cookie; whatever the answer is, even an error, carries the change."""

    def __init__(self, store: SessionStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    async def current(self, request: web.Request, token: str) -> SessionRecord | None:
        """The live session of the cookie ``token``, or ``None`` (and the cookie is cleared). Its last use is
        recorded at most once every :data:`SEEN_EVERY`."""
        if not TOKEN_SHAPE.fullmatch(token):
            request[keys.SESSION_COOKIE] = CookieChange()  # not a token MediaNest made: no session, and no cookie
            return None
        record = await self.store.get(token_hash(token))
        if record is None:
            request[keys.SESSION_COOKIE] = CookieChange()
            return None
        now = datetime.now(UTC)
        if not record.alive(now, self.settings):
            await self.store.delete(record.id)
            request[keys.SESSION_COOKIE] = CookieChange()
            return None
        if now - record.last_seen_at >= SEEN_EVERY:
            await self.store.touch(record.id, now, client_ip(request))
        return record

    async def begin(self, request: web.Request, user_id: int, *, remember: bool = False) -> SessionRecord:
        """A new session for ``user_id`` on this browser (never one planted before: the browser's old session
        ends); the answer sets its cookie."""
        for old in session_cookies(request):
            if old:
                await self.store.delete(token_hash(old))
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        record = SessionRecord(
            id=token_hash(token),
            user_id=user_id,
            csrf_token=new_csrf_token(),
            remember=remember,
            ip=client_ip(request),
            user_agent=_text(request.headers.get("User-Agent", ""))[:500] or None,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=self.settings.session_remember_lifetime),
        )
        await self.store.add(record)
        max_age = int(self.settings.session_remember_lifetime) if remember else None
        request[keys.SESSION_COOKIE] = CookieChange(token, max_age)
        return record

    async def end(self, request: web.Request) -> None:
        """End the sessions of this browser's cookies, if any, and clear the cookie."""
        for token in session_cookies(request):
            if token:
                await self.store.delete(token_hash(token))
        request[keys.SESSION_COOKIE] = CookieChange()


def write_session_cookie(request: web.Request, response: web.StreamResponse) -> None:
    """Called as every answer is prepared (:func:`medianest_core.http.answer_headers`): the answer sets or clears
    the session cookie as the request decided."""
    change = request.get(keys.SESSION_COOKIE)
    if change is None:
        return
    if change.token is None:
        if not session_cookies(request):
            return
        cookie = f'{COOKIE_NAME}=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/'
    else:  # a token is URL-safe: it needs no quoting
        cookie = f"{COOKIE_NAME}={change.token}; HttpOnly; Path=/; SameSite=Lax"
        if change.max_age is not None:
            cookie += f"; Max-Age={change.max_age}"
        if is_https(request):
            cookie += "; Secure"
    # The response's own cookies are among its headers by now: this one is added as a header too.
    response.headers.add(hdrs.SET_COOKIE, cookie)
