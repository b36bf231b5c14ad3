"""Personal API tokens: ``mn_<random>``, shown once; the database keeps their SHA-256 and first characters."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from medianest_core.models import ApiToken

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
