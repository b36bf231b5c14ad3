"""Server-side sessions, through aiohttp-session: in the database by default, in Redis when ``redis_url`` is set.

The cookie (``medianest_session``: HttpOnly, SameSite=Lax, Secure over https) holds a random token; the store
keeps the token's SHA-256, so the store alone cannot be used to sign in. Only signed-in sessions are stored. A
session ends when it has been idle for ``session_idle_timeout`` (``session_remember_lifetime`` with "remember
me"), when it reaches ``session_remember_lifetime`` in all, at logout, when it is revoked, or when its user is
disabled.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

import attrs
from aiohttp import web
from aiohttp_session import AbstractStorage
from aiohttp_session import Session as WebSession
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medianest_core import keys
from medianest_core.auth.net import client_ip, is_https
from medianest_core.models import Session
from medianest_core.settings import Settings

COOKIE_NAME: Final = "medianest_session"
SEEN_EVERY: Final = timedelta(seconds=60)
# Keys of the aiohttp-session mapping that the store keeps in fields of their own.
UID, CSRF, REMEMBER, ROW = "uid", "csrf", "remember", "row"


# What secrets.token_urlsafe(32) makes: 43 characters of the URL-safe alphabet.
TOKEN_SHAPE: Final = re.compile(r"[A-Za-z0-9_-]{43}")


def _text(header: str) -> str:
    """A header as text a database stores: bytes that were not UTF-8 become replacement characters."""
    return header.encode("utf-8", "surrogateescape").decode("utf-8", "replace").replace("\x00", "\ufffd")


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
        seconds = settings.session_remember_lifetime if self.remember else settings.session_idle_timeout
        return timedelta(seconds=seconds)

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


def _ended() -> WebSession:
    """An empty session that, once saved, clears the browser's stale cookie."""
    session = WebSession(None, data=None, new=True, max_age=None)
    session.changed()
    return session


class ServerSideStorage(AbstractStorage):
    """aiohttp-session's storage over a :class:`SessionStore`."""

    def __init__(self) -> None:
        super().__init__(cookie_name=COOKIE_NAME, httponly=True, samesite="Lax", path="/")

    async def load_session(self, request: web.Request) -> WebSession:
        token = self.load_cookie(request)
        if not token:
            return WebSession(None, data=None, new=True, max_age=None)
        if not isinstance(token, str) or not TOKEN_SHAPE.fullmatch(token):
            return _ended()  # not a token MediaNest made: no session, and the cookie is cleared
        store = request.config_dict[keys.SESSION_STORE]
        settings = request.config_dict[keys.RUNTIME].settings
        now = datetime.now(UTC)
        record = await store.get(token_hash(token))
        if record is None:
            return _ended()
        if not record.alive(now, settings):
            await store.delete(record.id)
            return _ended()
        if now - record.last_seen_at >= SEEN_EVERY:
            await store.touch(record.id, now, client_ip(request))
        data = {**record.data, UID: record.user_id, CSRF: record.csrf_token, REMEMBER: record.remember, ROW: record.id}
        created = int(record.created_at.timestamp())
        return WebSession(token, data={"created": created, "session": data}, new=False, max_age=None)

    async def save_session(self, request: web.Request, response: web.StreamResponse, session: WebSession) -> None:
        store = request.config_dict[keys.SESSION_STORE]
        settings = request.config_dict[keys.RUNTIME].settings
        token = session.identity
        if session.empty or session.get(UID) is None:
            if token:
                await store.delete(token_hash(str(token)))
            if self.load_cookie(request):
                response.del_cookie(COOKIE_NAME, path="/")
            return
        extra = {k: v for k, v in session.items() if k not in (UID, CSRF, REMEMBER, ROW)}
        remember = bool(session.get(REMEMBER))
        if token is None:
            token = secrets.token_urlsafe(32)
            now = datetime.now(UTC)
            await store.add(
                SessionRecord(
                    id=token_hash(token),
                    user_id=int(session[UID]),
                    data=extra,
                    csrf_token=str(session.get(CSRF) or new_csrf_token()),
                    remember=remember,
                    ip=client_ip(request),
                    user_agent=_text(request.headers.get("User-Agent", ""))[:500] or None,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + timedelta(seconds=settings.session_remember_lifetime),
                )
            )
            session.set_new_identity(token)
            session[ROW] = token_hash(token)
        else:
            await store.set_data(token_hash(str(token)), extra)
        max_age = int(settings.session_remember_lifetime) if remember else None
        self.set_cookie(request, response, str(token), max_age)

    def set_cookie(self, request: web.Request, response: web.StreamResponse, token: str, max_age: int | None) -> None:
        params: dict[str, Any] = {"path": "/", "httponly": True, "samesite": "Lax", "secure": is_https(request)}
        if max_age is not None:
            params["max_age"] = max_age
        response.set_cookie(COOKIE_NAME, token, **params)
