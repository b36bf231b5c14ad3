"""Who a request comes from."""

from __future__ import annotations

import enum

import attrs
from aiohttp import web

from medianest_core import keys
from medianest_core.errors import ApiError, ErrorCode
from medianest_core.models import Role


class Via(enum.StrEnum):
    SESSION = "session"
    TOKEN = "token"


@attrs.frozen
class Principal:
    """A signed-in user as the request sees them: by session cookie or by API token."""

    user_id: int
    username: str
    role: Role
    via: Via
    session_id: str | None = None
    csrf_token: str | None = None
    token_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def current(request: web.Request) -> Principal | None:
    return request.get(keys.PRINCIPAL)


def is_admin(request: web.Request) -> bool:
    who = request.get(keys.PRINCIPAL)
    return who is not None and who.is_admin


def require(request: web.Request) -> Principal:
    """The signed-in user; the access middleware has already refused anonymous requests to such routes."""
    who: Principal | None = request.get(keys.PRINCIPAL)
    if who is None:
        raise ApiError(401, ErrorCode.UNAUTHORIZED, "Sign in first.")
    return who
