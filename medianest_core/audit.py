"""The audit log: who did what, when, from which address."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from medianest_core.models import AuditEntry


class AuditAction(enum.StrEnum):
    """The one list of audited actions."""

    LOGIN = "auth.login"
    LOGIN_FAILED = "auth.login_failed"
    LOGOUT = "auth.logout"
    SESSION_REVOKED = "auth.session_revoked"
    TOKEN_CREATED = "token.created"
    TOKEN_REVOKED = "token.revoked"
    USER_CREATED = "user.created"
    USER_UPDATED = "user.updated"
    USER_DELETED = "user.deleted"
    SETTINGS_CHANGED = "settings.changed"
    ANNOUNCEMENT_SENT = "announcement.sent"
    CONTENT_CHANGED = "content.changed"


def record(
    session: AsyncSession,
    action: AuditAction,
    *,
    actor_id: int | None,
    target: str | None = None,
    details: Mapping[str, Any] | None = None,
    request: web.Request | None = None,
) -> None:
    """Add an entry to ``session``; it is written with the change it describes, in the same transaction."""
    from medianest_core.auth.net import client_ip

    session.add(
        AuditEntry(
            action=action.value,
            actor_id=actor_id,
            target=target,
            details=dict(details or {}),
            ip=client_ip(request) if request is not None else None,
        )
    )


MAX_DETAIL: Final = 300
"""The longest a detail is shown in the admin pages, in characters; longer ones end with "…"."""


def describe_details(details: Any) -> list[str]:
    """An entry's details as lines people read, one per key: ``role: user → admin``, ``keys: url, api_key``,
    ``plugin: plex``. Values that are not text are told in words (``yes``, ``none``), a change ``{"from", "to"}``
    as an arrow, lists joined with commas, other mappings as ``key: value`` pairs; never as Python's repr."""
    if details is None or details == {} or details == []:
        return []
    if isinstance(details, Mapping):
        return [_clip(f"{_key(key)}: {_value(value, nested=False)}") for key, value in details.items()]
    return [_clip(_value(details, nested=False))]


def _key(key: Any) -> str:
    """A detail's name in words: ``display_name`` → "display name", ``quota:overseerr.requests`` → "quota
    overseerr.requests"."""
    return " ".join(str(key).replace("_", " ").replace(":", " ").split()) or "(no name)"


def _value(value: Any, *, nested: bool) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}" if math.isfinite(value) else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return " ".join(value.split()) or "(empty)"
    if isinstance(value, Mapping):
        if not value:
            return "none"
        if set(value) == {"from", "to"}:
            return f"{_value(value['from'], nested=True)} → {_value(value['to'], nested=True)}"
        pairs = ", ".join(f"{_key(k)}: {_value(v, nested=True)}" for k, v in value.items())
        return f"({pairs})" if nested else pairs
    if isinstance(value, list | tuple | set | frozenset):
        items = [_value(v, nested=True) for v in value]
        if isinstance(value, set | frozenset):
            items.sort()
        return ", ".join(items) if items else "none"
    return " ".join(str(value).split())


def _clip(text: str) -> str:
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"
