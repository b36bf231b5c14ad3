"""Passwords of local accounts: argon2id (argon2-cffi's defaults), checked in a thread so the loop never
waits on the hash. argon2-cffi (with its C bindings) is imported by the first hash or check, not at start."""

from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argon2 import PasswordHasher

MIN_LENGTH = 12


@lru_cache(maxsize=1)
def hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    return PasswordHasher()


@lru_cache(maxsize=1)
def _decoy() -> str:
    # Checked against when the account does not exist, so a wrong username costs what a wrong password does.
    return hasher().hash("medianest decoy password")


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or ``None``."""
    if len(password) < MIN_LENGTH:
        return f"the password must have at least {MIN_LENGTH} characters"
    return None


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(hasher().hash, password)


def _verify(stored: str | None, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    try:
        return hasher().verify(stored or _decoy(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches the stored hash; ``stored=None`` (no such account) always fails, as slowly."""
    return await asyncio.to_thread(_verify, stored, password)


def needs_rehash(stored: str) -> bool:
    return hasher().check_needs_rehash(stored)
