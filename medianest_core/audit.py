"""The audit log: who did what, when, from which address."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

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
