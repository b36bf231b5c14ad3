"""Local accounts: the rules for usernames and passwords, and creating one (from the CLI or the admin API)."""

from __future__ import annotations

import re
from typing import Final

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from medianest_core import audit
from medianest_core.audit import AuditAction
from medianest_core.auth.passwords import hash_password, password_problem
from medianest_core.models import Role, User
from medianest_core.schema import END

USERNAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,149}" + END
USERNAME_RULE: Final = "Letters, digits and . _ @ -, starting with a letter or digit, at most 150 characters"
USERNAME_RE: Final = re.compile(USERNAME_PATTERN)


class AccountError(Exception):
    """Why an account cannot be made as asked; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def username_problem(username: str) -> str | None:
    if not USERNAME_RE.match(username):
        return (
            f"invalid username {username!r}: use letters, digits and . _ @ -, starting with a letter or digit, "
            "at most 150 characters"
        )
    return None


async def create_local_user(
    db: AsyncSession,
    username: str,
    password: str,
    role: Role,
    *,
    actor_id: int | None,
    request: web.Request | None = None,
    via: str = "api",
) -> User:
    """Add an account with a password (argon2id) and audit it; raises :class:`AccountError`."""
    problem = username_problem(username)
    if problem:
        raise AccountError("username", problem)
    problem = password_problem(password)
    if problem:
        raise AccountError("password", problem)
    taken = await db.scalar(select(func.count()).select_from(User).where(func.lower(User.username) == username.lower()))
    if taken:
        raise AccountError("username", f"a user named {username!r} already exists")
    user = User(username=username, role=role, password_hash=await hash_password(password))
    db.add(user)
    await db.flush()
    audit.record(
        db,
        AuditAction.USER_CREATED,
        actor_id=actor_id,
        target=f"user:{user.id}",
        details={"username": username, "role": role.value, "by": via},
        request=request,
    )
    return user


def _usable(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.@-]+", "-", name.strip()).strip("-_.@")[:140]
    return cleaned or "user"


async def create_external_user(
    db: AsyncSession,
    wanted: str,
    role: Role,
    *,
    provider: str,
    display_name: str | None = None,
    email: str | None = None,
    request: web.Request | None = None,
) -> User:
    """Add an account that signs in through another service (Plex, say): no password. Its username is
    ``wanted`` made valid, with ``-2``, ``-3``… when a local account already has it. Audited."""
    base = _usable(wanted)
    username = base
    for n in range(2, 1000):
        taken = await db.scalar(
            select(func.count()).select_from(User).where(func.lower(User.username) == username.lower())
        )
        if not taken:
            break
        username = f"{base}-{n}"
    user = User(username=username, role=role, display_name=display_name, email=email, password_hash=None)
    db.add(user)
    await db.flush()
    audit.record(
        db,
        AuditAction.USER_CREATED,
        actor_id=user.id,
        target=f"user:{user.id}",
        details={"username": username, "role": role.value, "by": provider},
        request=request,
    )
    return user
