"""Personal API tokens: ``mn_<random>``, shown once; the database keeps their SHA-256 and first characters."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from medianest_core.models import ApiToken, User, UserStatus

PREFIX: Final = "mn_"
USED_EVERY: Final = timedelta(seconds=60)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


async def create_token(db: AsyncSession, user_id: int, name: str, expires_at: datetime | None) -> tuple[ApiToken, str]:
    token = new_token()
    row = ApiToken(user_id=user_id, name=name, token_hash=hash_token(token), prefix=token[:10], expires_at=expires_at)
    db.add(row)
    await db.flush()
    return row, token


async def resolve_token(db: AsyncSession, token: str) -> tuple[ApiToken, User] | None:
    """The live token and its active owner, or ``None`` (unknown, revoked, expired, or owner disabled)."""
    if not token.startswith(PREFIX):
        return None
    found = (
        await db.execute(select(ApiToken, User).join(User).where(ApiToken.token_hash == hash_token(token)))
    ).one_or_none()
    if found is None:
        return None
    row, user = found
    now = datetime.now(UTC)
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    if user.status is not UserStatus.ACTIVE:
        return None
    if row.last_used_at is None or now - row.last_used_at >= USED_EVERY:
        await db.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
        await db.commit()
    return row, user
