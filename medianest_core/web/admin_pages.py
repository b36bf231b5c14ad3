"""The admin's pages: users, plugins, health, the audit log, and the texts and links invitees see.

Like every page, they render what is stored and change things through the admin JSON API.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Final

from aiohttp import web
from sqlalchemy import func, select

from medianest_core import content, keys, service_settings
from medianest_core.audit import AuditAction, describe_details
from medianest_core.auth.admin_views import audit_entries, users_matching
from medianest_core.auth.principal import require
from medianest_core.errors import ApiError, ErrorCode, path_id
from medianest_core.models import AuditEntry, QuotaOverride, Role, User, UserStatus
from medianest_core.types import Access, Route
from medianest_core.web.pages import page_number
from medianest_core.web.shell import ADMIN_NAV, render

USERS_PER_PAGE: Final = 50
AUDIT_PER_PAGE: Final = 50


async def admin_index(request: web.Request) -> web.StreamResponse:
    from medianest_core.backup import backup_folder, backup_status

    runtime = request.config_dict[keys.RUNTIME]
    return await render(
        request,
        "admin/index.html",
        {
            "sections": ADMIN_NAV,
            "backup": await backup_status(runtime),
            "backup_folder": str(backup_folder(runtime.settings)),
            "now": datetime.now(UTC),
        },
    )


async def users_page(request: web.Request) -> web.StreamResponse:
    page = page_number(request)
    text = request.query.get("q", "").strip()[:150]
    query = users_matching(text)
    runtime = request.config_dict[keys.RUNTIME]
    async with runtime.sessions() as db:
        total = int(await db.scalar(select(func.count()).select_from(query.subquery())) or 0)
        users = (
            await db.scalars(
                query.order_by(func.lower(User.username)).offset((page - 1) * USERS_PER_PAGE).limit(USERS_PER_PAGE)
            )
        ).all()
    return await render(
        request,
        "admin/users.html",
        {
            "users": users,
            "q": text,
            "page": page,
            "pages": max(1, math.ceil(total / USERS_PER_PAGE)),
            "total": total,
            "roles": list(Role),
            "now": datetime.now(UTC),
        },
    )


async def user_page(request: web.Request) -> web.StreamResponse:
    who = require(request)
    user_id = path_id(request, "user")
    runtime = request.config_dict[keys.RUNTIME]
    async with runtime.sessions() as db:
        user = await db.get(User, user_id)
        if user is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, "No such user.")
        overrides = {
            row.quota: row.limit
            for row in (await db.scalars(select(QuotaOverride).where(QuotaOverride.user_id == user_id))).all()
        }
    limits = request.config_dict[keys.LIMITS]
    uses = await limits.usage(request, user.id, user.role)
    sessions = await request.config_dict[keys.SESSION_STORE].list_for_user(user.id)
    elsewhere = await runtime.accounts.of_person(user.id)
    return await render(
        request,
        "admin/user.html",
        {
            "user": user,
            "is_me": user.id == who.user_id,
            "roles": list(Role),
            "statuses": list(UserStatus),
            "uses": uses,
            "overrides": overrides,
            "quotas": limits.quotas,
            "session_count": len(sessions),
            "elsewhere": elsewhere,
            "now": datetime.now(UTC),
        },
    )


async def plugins_page(request: web.Request) -> web.StreamResponse:
    runtime = request.config_dict[keys.RUNTIME]
    records = sorted(runtime.plugins.records.values(), key=lambda r: r.name)
    return await render(request, "admin/plugins.html", {"records": records})


async def health_page(request: web.Request) -> web.StreamResponse:
    status, doc = await request.config_dict[keys.HEALTH].report(admin=True)
    runtime = request.config_dict[keys.RUNTIME]
    return await render(
        request,
        "admin/health.html",
        {"doc": doc, "http_status": status, "broker": runtime.jobs.kind, "now": datetime.now(UTC)},
    )


async def audit_page(request: web.Request) -> web.StreamResponse:
    page = page_number(request)
    action = request.query.get("action", "")
    query = select(AuditEntry)
    if action:
        if action not in {a.value for a in AuditAction}:
            raise ApiError(400, ErrorCode.BAD_REQUEST, f"Unknown action {action[:64]!r}.")
        query = query.where(AuditEntry.action == action)
    total, rows = await audit_entries(request.config_dict[keys.RUNTIME], query, page, AUDIT_PER_PAGE)
    return await render(
        request,
        "admin/audit.html",
        {
            "rows": [(entry, username, describe_details(entry.details)) for entry, username in rows],
            "action": action,
            "actions": sorted(a.value for a in AuditAction),
            "page": page,
            "pages": max(1, math.ceil(total / AUDIT_PER_PAGE)),
            "now": datetime.now(UTC),
        },
    )


async def content_page(request: web.Request) -> web.StreamResponse:
    runtime = request.config_dict[keys.RUNTIME]
    texts = [await content.read_text(runtime, key) for key in content.TextKey]
    links = await content.visible_links(request, require(request))
    return await render(
        request,
        "admin/content.html",
        {
            "texts": texts,
            "links": links,
            "icons": content.LINK_ICONS,
            "audiences": list(content.LinkAudience),
            "now": datetime.now(UTC),
        },
    )


async def services_page(request: web.Request) -> web.StreamResponse:
    runtime = request.config_dict[keys.RUNTIME]
    # How each set-up service answers its checks now, beside its settings: a saved address that cannot be reached
    # shows here, not only on the dashboard.
    lines = {line.plugin: line for line in request.app[keys.HEALTH].services(admin=True)}
    # The values saved before the last change can be put back from there too.
    previous = await service_settings.saved_values(runtime, previous=True)
    return await render(
        request,
        "admin/services.html",
        {"services": await service_settings.services(runtime), "health": lines, "has_previous": set(previous)},
    )


ROUTES = (
    Route("GET", "/admin", admin_index, name="page-admin", access=Access.ADMIN),
    Route("GET", "/admin/users", users_page, name="page-admin-users", access=Access.ADMIN),
    Route("GET", "/admin/users/{id}", user_page, name="page-admin-user", access=Access.ADMIN),
    Route("GET", "/admin/services", services_page, name="page-admin-services", access=Access.ADMIN),
    Route("GET", "/admin/plugins", plugins_page, name="page-admin-plugins", access=Access.ADMIN),
    Route("GET", "/admin/health", health_page, name="page-admin-health", access=Access.ADMIN),
    Route("GET", "/admin/audit", audit_page, name="page-admin-audit", access=Access.ADMIN),
    Route("GET", "/admin/content", content_page, name="page-admin-content", access=Access.ADMIN),
)
