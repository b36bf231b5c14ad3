"""What the auth middleware needs to know about a request's credentials, kept in memory.

Deciding who asks costs, without it, one to three database or Redis round trips per request (the session, its
user, the API token). :class:`AuthCache` keeps the users, API tokens and sessions that requests have used, and
:class:`CachedSessionStore` puts it in front of the session store. Both are owned by the application.

There is one way to invalidate: :meth:`AuthCache.changed` publishes :class:`~medianest_core.events.AuthChanged`
on the event bus, which reaches every process (through Redis when several run). Every process, this one
included, then forgets what it kept of that user, session or token, so a revoked token or session, a disabled
or removed user and a role change count from the next request on. The session store calls it for every ended
session or changed session data; the admin's user views and token revocation call it for the rest. A read that
started before an invalidation never stores its (possibly stale) answer: each invalidation bumps a generation,
and an answer is kept only when the generation did not move while it was read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import attrs
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medianest_core.auth.sessions import SessionRecord, SessionStore
from medianest_core.auth.tokens import PREFIX, USED_EVERY, hash_token
from medianest_core.events import AuthChanged, EventBus
from medianest_core.kept import Kept
from medianest_core.models import ApiToken, Role, User, UserStatus
from medianest_core.settings import Settings

SIZE: Final = 10_000
"""At most this many users, tokens and sessions are kept each; the oldest kept goes first."""


@attrs.frozen
class UserFacts:
    """What a request needs of its user."""

    id: int
    username: str
    display_name: str | None
    role: Role
    status: UserStatus

    @classmethod
    def of(cls, user: User) -> UserFacts:
        return cls(user.id, user.username, user.display_name, user.role, user.status)

    @property
    def active(self) -> bool:
        return self.status is UserStatus.ACTIVE


@attrs.frozen
class TokenFacts:
    """An API token that is not revoked (expiry is checked at each use)."""

    id: int
    user_id: int
    expires_at: datetime | None
    last_used_at: datetime | None


class AuthCache:
    """The users, API tokens and sessions requests used, as the database (or Redis) last said."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], events: EventBus, *, size: int = SIZE) -> None:
        self.db = sessions
        self.events = events
        self.users: Kept[int, UserFacts] = Kept(size=size)
        self.tokens: Kept[str, TokenFacts] = Kept(size=size)  # by the token's hash
        self.sessions: Kept[str, SessionRecord] = Kept(size=size)  # by the session's id

    def start(self) -> Callable[[], None]:
        """Listen for invalidations; returns the function that stops listening."""
        return self.events.subscribe(AuthChanged, self._forget)

    async def changed(
        self, *, user_id: int | None = None, session_id: str | None = None, token_id: int | None = None
    ) -> None:
        """Tell every process that a user (and with it their tokens and sessions), a session or a token changed."""
        await self.events.publish(AuthChanged(user_id=user_id, session_id=session_id, token_id=token_id))

    async def _forget(self, event: AuthChanged) -> None:
        user_id, session_id, token_id = event.user_id, event.session_id, event.token_id
        # Every map hears every change, so that no answer read meanwhile is kept.
        self.users.forget(lambda key, _: key == user_id)
        self.tokens.forget(lambda _, token: token.user_id == user_id or token.id == token_id)
        self.sessions.forget(lambda key, session: session.user_id == user_id or key == session_id)

    async def user(self, user_id: int) -> UserFacts | None:
        """The user, whatever their status, or ``None`` when there is no such user."""
        found = self.users.peek(user_id)
        if found is not None:
            return found
        since = self.users.generation
        async with self.db() as db:
            row = await db.get(User, user_id)
            facts = UserFacts.of(row) if row is not None else None
        if facts is not None:  # an id that is not there is not kept: SQLite may give it to the next account
            self.users.keep(user_id, facts, since)
        return facts

    async def token(self, token: str) -> tuple[TokenFacts, UserFacts] | None:
        """The live API token ``token`` and its active owner, or ``None`` (unknown, revoked, expired, or owner not
        active). Records its use at most once a minute."""
        if not token.startswith(PREFIX):
            return None
        key = hash_token(token)
        facts = self.tokens.peek(key)
        if facts is None:
            since = (self.tokens.generation, self.users.generation)
            async with self.db() as db:
                found = (
                    await db.execute(select(ApiToken, User).join(User).where(ApiToken.token_hash == key))
                ).one_or_none()
                if found is None or found[0].revoked_at is not None:
                    return None
                row, owner = found
                facts = TokenFacts(row.id, row.user_id, row.expires_at, row.last_used_at)
                user_facts = UserFacts.of(owner)
            self.tokens.keep(key, facts, since[0])
            self.users.keep(user_facts.id, user_facts, since[1])
        now = datetime.now(UTC)
        if facts.expires_at is not None and facts.expires_at <= now:
            return None
        user = self.users.peek(facts.user_id) or await self.user(facts.user_id)
        if user is None or not user.active:
            return None
        if facts.last_used_at is None or now - facts.last_used_at >= USED_EVERY:
            async with self.db.begin() as db:
                await db.execute(update(ApiToken).where(ApiToken.id == facts.id).values(last_used_at=now))
            facts = attrs.evolve(facts, last_used_at=now)
            self.tokens.replace(key, facts)
        return facts, user


class CachedSessionStore:
    """A :class:`~medianest_core.auth.sessions.SessionStore` with the sessions requests used kept in memory.

    A kept session is used only while it is alive by its own times; otherwise it is read again, since another
    process may have seen it more recently. Ending a session, or changing its data, invalidates it everywhere.
    """

    def __init__(self, inner: SessionStore, cache: AuthCache, settings: Settings) -> None:
        self.inner = inner
        self.cache = cache
        self.settings = settings

    async def get(self, session_id: str) -> SessionRecord | None:
        found = self.cache.sessions.peek(session_id)
        if found is not None and found.alive(datetime.now(UTC), self.settings):
            return found
        since = self.cache.sessions.generation
        record = await self.inner.get(session_id)
        if record is not None:
            self.cache.sessions.keep(session_id, record, since)
        return record

    async def add(self, record: SessionRecord) -> None:
        await self.inner.add(record)

    async def touch(self, session_id: str, now: datetime, ip: str | None) -> None:
        await self.inner.touch(session_id, now, ip)
        found = self.cache.sessions.peek(session_id)
        if found is not None:
            self.cache.sessions.replace(session_id, attrs.evolve(found, last_seen_at=now, ip=ip))

    async def set_data(self, session_id: str, data: dict[str, Any]) -> None:
        await self.inner.set_data(session_id, data)
        await self.cache.changed(session_id=session_id)

    async def delete(self, session_id: str) -> None:
        await self.inner.delete(session_id)
        await self.cache.changed(session_id=session_id)

    async def delete_for_user(self, user_id: int) -> int:
        ended = await self.inner.delete_for_user(user_id)
        await self.cache.changed(user_id=user_id)
        return ended

    async def list_for_user(self, user_id: int) -> list[SessionRecord]:
        return await self.inner.list_for_user(user_id)

    async def close(self) -> None:
        await self.inner.close()
