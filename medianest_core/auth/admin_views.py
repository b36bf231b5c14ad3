"""The admin's accounts API: users (list, create, change role or status, remove, end their sessions) and the
audit log. There is always at least one active admin: the last one cannot be demoted, disabled or removed."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs
from aiohttp import web
from sqlalchemy import Select, func, or_, select

from medianest_core import audit, keys
from medianest_core.audit import AuditAction
from medianest_core.auth.accounts import USERNAME_PATTERN, USERNAME_RULE, AccountError, create_local_user
from medianest_core.auth.passwords import MIN_LENGTH
from medianest_core.auth.principal import require
from medianest_core.auth.views import MAX_PASSWORD, UserDoc, user_doc
from medianest_core.errors import ID_MAX, ApiError, ErrorCode, path_id
from medianest_core.events import UserDeleted
from medianest_core.models import AuditEntry, QuotaOverride, Role, User, UserStatus
from medianest_core.ratelimit import QUOTA_CEILING
from medianest_core.schema import Bounds, Deleted, IdPath, PageQuery, field, read_body, read_query
from medianest_core.types import Access, Route

if TYPE_CHECKING:
    from medianest_core.runtime import Runtime


@attrs.frozen
class UsersQuery(PageQuery):
    q: str = field(default="", max_length=150, description="Part of the username or display name")
    role: Role | None = None
    status: UserStatus | None = None


@attrs.frozen
class AdminUserDoc(UserDoc):
    email: str | None
    created_at: datetime
    last_login_at: datetime | None


@attrs.frozen
class UserPage:
    users: list[AdminUserDoc]
    page: int
    per_page: int
    total: int


def admin_user_doc(user: User) -> dict[str, Any]:
    return {
        **user_doc(user),
        "email": user.email,
        "created_at": user.created_at.isoformat(),
        "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
    }


async def list_users(request: web.Request) -> web.Response:
    """The accounts, by username; ``q`` finds part of a username or display name."""
    asked = read_query(request, UsersQuery)
    page, per_page = asked.page, asked.per_page
    query = users_matching(asked.q.strip())
    if asked.role is not None:
        query = query.where(User.role == asked.role)
    if asked.status is not None:
        query = query.where(User.status == asked.status)
    runtime = request.config_dict[keys.RUNTIME]
    async with runtime.sessions() as db:
        total = await db.scalar(select(func.count()).select_from(query.subquery()))
        users = (await db.scalars(query.order_by(User.username).offset((page - 1) * per_page).limit(per_page))).all()
    return web.json_response(
        {"users": [admin_user_doc(u) for u in users], "page": page, "per_page": per_page, "total": total}
    )


@attrs.frozen
class NewUser:
    username: str = field(pattern=USERNAME_PATTERN, description=USERNAME_RULE)
    password: str = field(min_length=MIN_LENGTH, max_length=MAX_PASSWORD)
    role: Role = Role.USER


async def create_user(request: web.Request) -> web.Response:
    who = require(request)
    body = await read_body(request, NewUser)
    runtime = request.config_dict[keys.RUNTIME]
    try:
        async with runtime.sessions.begin() as db:
            user = await create_local_user(
                db, body.username, body.password, body.role, actor_id=who.user_id, request=request
            )
            doc = admin_user_doc(user)
    except AccountError as exc:
        status = 409 if "already exists" in str(exc) else 422
        code = ErrorCode.CONFLICT if status == 409 else ErrorCode.VALIDATION_FAILED
        raise ApiError(status, code, str(exc), details={"fields": {exc.field: str(exc)}}) from None
    return web.json_response(doc, status=201)


@attrs.frozen
class UserChange:
    """What to change of an account; what is left out stays as it is."""

    role: Role | None = None
    status: UserStatus | None = None
    display_name: str | None = field(default=None, max_length=200)
    email: str | None = field(default=None, max_length=320)
    quotas: dict[str, int | None] | None = field(
        default=None,
        items=Bounds(ge=0, le=QUOTA_CEILING),
        description="Per-person quota limits by quota name; null gives back the role's default.",
    )


async def _other_active_admins(db: Any, user_id: int) -> int:
    return int(
        await db.scalar(
            select(func.count())
            .select_from(User)
            .where(User.role == Role.ADMIN, User.status == UserStatus.ACTIVE, User.id != user_id)
        )
        or 0
    )


def _last_admin() -> ApiError:
    return ApiError(
        409,
        ErrorCode.CONFLICT,
        "This is the last active admin: make someone else an admin first.",
        details={"reason": "last_admin"},
    )


async def update_user(request: web.Request) -> web.Response:
    who = require(request)
    user_id = path_id(request, "user")
    body = await read_body(request, UserChange)
    runtime = request.config_dict[keys.RUNTIME]
    async with runtime.sessions.begin() as db:
        user = await db.get(User, user_id, with_for_update=True)
        if user is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, "No such user.")
        losing_admin = (
            user.role is Role.ADMIN
            and user.status is UserStatus.ACTIVE
            and (
                (body.role is not None and body.role is not Role.ADMIN)
                or (body.status is not None and body.status is not UserStatus.ACTIVE)
            )
        )
        if losing_admin and await _other_active_admins(db, user.id) == 0:
            raise _last_admin()
        changes: dict[str, Any] = {}
        for field in ("role", "status", "display_name", "email"):
            value = getattr(body, field)
            if value is None:
                continue  # left out: stays as it is
            if value == "":
                value = None  # a name or address emptied in the form: none, as if never set, and no change from none
            if value != getattr(user, field):
                changes[field] = {"from": _plain(getattr(user, field)), "to": _plain(value)}
                setattr(user, field, value)
        if body.quotas:
            known = request.config_dict[keys.LIMITS].quotas
            unknown = sorted(set(body.quotas) - set(known))
            if unknown:
                raise ApiError(
                    422,
                    ErrorCode.VALIDATION_FAILED,
                    f"Unknown quota {unknown[0]!r}.",
                    details={"fields": {f"quotas.{n}": "no such quota" for n in unknown}},
                )
            for name, limit in body.quotas.items():
                existing = await db.get(QuotaOverride, (user.id, name))
                before = existing.limit if existing is not None else "default"
                if limit is None:
                    if existing is not None:
                        await db.delete(existing)
                elif existing is None:
                    db.add(QuotaOverride(user_id=user.id, quota=name, limit=limit))
                else:
                    existing.limit = limit
                after = "default" if limit is None else limit
                if before != after:
                    changes[f"quota:{name}"] = {"from": before, "to": after}
        if changes:
            audit.record(
                db,
                AuditAction.USER_UPDATED,
                actor_id=who.user_id,
                target=f"user:{user.id}",
                details=changes,
                request=request,
            )
        doc = admin_user_doc(user)
    if changes:  # every process forgets what it kept of the user: the change counts from the next request
        await request.config_dict[keys.AUTH_CACHE].changed(user_id=user_id)
    if body.status is UserStatus.DISABLED:
        # Disabling ends every session at once; API tokens stop working while the account is disabled.
        await request.config_dict[keys.SESSION_STORE].delete_for_user(user_id)
        await request.config_dict[keys.WS_HUB].sign_out(user_id)
    return web.json_response(doc)


def _plain(value: Any) -> Any:
    return value.value if hasattr(value, "value") else value


async def delete_user(request: web.Request) -> web.Response:
    who = require(request)
    user_id = path_id(request, "user")
    if user_id == who.user_id:
        raise ApiError(409, ErrorCode.CONFLICT, "Admins cannot remove their own account.", details={"reason": "self"})
    runtime = request.config_dict[keys.RUNTIME]
    async with runtime.sessions.begin() as db:
        user = await db.get(User, user_id, with_for_update=True)
        if user is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, "No such user.")
        if (
            user.role is Role.ADMIN
            and user.status is UserStatus.ACTIVE
            and await _other_active_admins(db, user.id) == 0
        ):
            raise _last_admin()
        username = user.username
        # Sessions, tokens, notifications and plugins' rows that reference the user go with it (ON DELETE CASCADE).
        await db.delete(user)
        audit.record(
            db,
            AuditAction.USER_DELETED,
            actor_id=who.user_id,
            target=f"user:{user_id}",
            details={"username": username},
            request=request,
        )
    await request.config_dict[keys.SESSION_STORE].delete_for_user(user_id)  # and every process forgets the user
    await request.config_dict[keys.WS_HUB].sign_out(user_id)
    await runtime.events.publish(UserDeleted(user_id=user_id, username=username))
    return web.json_response({"deleted": True})


async def end_user_sessions(request: web.Request) -> web.Response:
    who = require(request)
    user_id = path_id(request, "user")
    runtime = request.config_dict[keys.RUNTIME]
    async with runtime.sessions() as db:
        if await db.get(User, user_id) is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, "No such user.")
    ended = await request.config_dict[keys.SESSION_STORE].delete_for_user(user_id)
    await request.config_dict[keys.WS_HUB].sign_out(user_id)
    async with runtime.sessions.begin() as db:
        audit.record(
            db,
            AuditAction.SESSION_REVOKED,
            actor_id=who.user_id,
            target=f"user:{user_id}",
            details={"sessions": ended},
            request=request,
        )
    return web.json_response({"ended": ended})


@attrs.frozen
class AuditQuery(PageQuery):
    action: str = field(default="", max_length=64, description="An action, or the start of some ending in '.'")
    actor_id: int | None = field(default=None, ge=1, le=ID_MAX)
    target: str = field(default="", max_length=200)
    since: datetime | None = None
    until: datetime | None = None


@attrs.frozen
class AuditEntryDoc:
    id: int
    at: datetime
    actor_id: int | None
    actor: str | None
    action: str
    target: str | None
    details: dict[str, Any]
    ip: str | None


@attrs.frozen
class AuditPage:
    entries: list[AuditEntryDoc]
    page: int
    per_page: int
    total: int


@attrs.frozen
class Ended:
    """How many sessions were ended."""

    ended: int


async def audit_entries(runtime: Runtime, query: Select[AuditEntry], page: int, per_page: int) -> tuple[int, list[Any]]:
    """One page of audit entries (newest first) with the actor's username, and how many there are in all."""
    async with runtime.sessions() as db:
        total = int(await db.scalar(select(func.count()).select_from(query.subquery())) or 0)
        rows = (
            await db.execute(
                query.add_columns(User.username)
                .outerjoin(User, User.id == AuditEntry.actor_id)
                .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                .offset((page - 1) * per_page)
                .limit(per_page)
            )
        ).all()
    return total, list(rows)


def users_matching(text: str) -> Select[User]:
    """Accounts whose username or display name contains ``text`` (any case)."""
    query = select(User)
    if text:
        like = f"%{text.lower()}%"
        query = query.where(or_(func.lower(User.username).like(like), func.lower(User.display_name).like(like)))
    return query


async def audit_log(request: web.Request) -> web.Response:
    """The audit log, newest first: who did what, when and from where."""
    asked = read_query(request, AuditQuery)
    page, per_page = asked.page, asked.per_page
    query = select(AuditEntry)
    if action := asked.action:
        query = query.where(
            AuditEntry.action.startswith(action) if action.endswith(".") else AuditEntry.action == action
        )
    if asked.actor_id is not None:
        query = query.where(AuditEntry.actor_id == asked.actor_id)
    if target := asked.target:
        query = query.where(AuditEntry.target == target)
    if asked.since is not None:
        query = query.where(AuditEntry.at >= asked.since)
    if asked.until is not None:
        query = query.where(AuditEntry.at < asked.until)
    total, rows = await audit_entries(request.config_dict[keys.RUNTIME], query, page, per_page)
    entries = [
        {
            "id": entry.id,
            "at": entry.at.isoformat(),
            "actor_id": entry.actor_id,
            "actor": username,
            "action": entry.action,
            "target": entry.target,
            "details": entry.details,
            "ip": entry.ip,
        }
        for entry, username in rows
    ]
    return web.json_response({"entries": entries, "page": page, "per_page": per_page, "total": total})


ROUTES = (
    Route(
        "GET",
        "/api/v1/admin/users",
        list_users,
        name="admin-users",
        access=Access.ADMIN,
        query=UsersQuery,
        answer=UserPage,
    ),
    Route(
        "POST",
        "/api/v1/admin/users",
        create_user,
        name="admin-users-create",
        access=Access.ADMIN,
        body=NewUser,
        answer=AdminUserDoc,
        status=201,
        errors=(409,),
    ),
    Route(
        "PATCH",
        "/api/v1/admin/users/{id}",
        update_user,
        name="admin-user",
        access=Access.ADMIN,
        params=IdPath,
        body=UserChange,
        answer=AdminUserDoc,
        errors=(409,),
        refusals={"quotas": "names quotas that exist"},
    ),
    Route(
        "DELETE",
        "/api/v1/admin/users/{id}",
        delete_user,
        name="admin-user-delete",
        access=Access.ADMIN,
        params=IdPath,
        answer=Deleted,
        errors=(409,),
    ),
    Route(
        "DELETE",
        "/api/v1/admin/users/{id}/sessions",
        end_user_sessions,
        name="admin-user-sessions",
        access=Access.ADMIN,
        params=IdPath,
        answer=Ended,
    ),
    Route(
        "GET",
        "/api/v1/admin/audit",
        audit_log,
        name="admin-audit",
        access=Access.ADMIN,
        query=AuditQuery,
        answer=AuditPage,
    ),
)
