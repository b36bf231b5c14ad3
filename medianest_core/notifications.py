"""Notifications: stored per person, pushed live to their open pages, listed (unread first) and marked read.
Admins send announcements to everyone; system alerts go to the admins."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

import attrs
from aiohttp import web
from sqlalchemy import func, select, update

from medianest_core import audit, keys
from medianest_core.audit import AuditAction
from medianest_core.auth.principal import require
from medianest_core.errors import ApiError, ErrorCode, field_error, path_id
from medianest_core.events import NotificationCreated, NotificationsRead
from medianest_core.models import Notification, Role, User, UserStatus
from medianest_core.runtime import Runtime
from medianest_core.schema import MAX_PER_PAGE, NOT_BLANK, IdPath, PageQuery, field, read_body, read_query
from medianest_core.types import Access, Route


class Level(enum.StrEnum):
    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    ERROR = "error"


def notification_doc(row: Notification) -> dict[str, Any]:
    return {
        "id": row.id,
        "title": row.title,
        "body": row.body,
        "level": row.level,
        "link": row.link,
        "read": row.read_at is not None,
        "created_at": row.created_at.isoformat(),
    }


async def notify(
    runtime: Runtime,
    user_ids: list[int],
    title: str,
    body: str = "",
    level: Level = Level.INFO,
    link: str | None = None,
) -> list[int]:
    """Store a notification for each of ``user_ids`` and push it to them; returns the new ids."""
    rows = [Notification(user_id=uid, title=title[:200], body=body, level=level.value, link=link) for uid in user_ids]
    async with runtime.sessions.begin() as db:
        db.add_all(rows)
        await db.flush()
        docs = [(row.user_id, notification_doc(row)) for row in rows]
    for user_id, doc in docs:
        await runtime.events.publish(NotificationCreated(user_id=user_id, notification=doc))
    return [doc["id"] for _, doc in docs]


@attrs.define
class Notifier:
    """What a plugin's context offers for notifying people (``ctx.notifier``): stored, and pushed live to
    their open pages."""

    runtime: Runtime

    async def notify(
        self, user_ids: list[int], title: str, body: str = "", level: Level = Level.INFO, link: str | None = None
    ) -> list[int]:
        """Notify each of ``user_ids``; returns the new notifications' ids."""
        return await notify(self.runtime, user_ids, title, body, level, link)


async def active_users(runtime: Runtime, admins_only: bool = False) -> list[int]:
    query = select(User.id).where(User.status == UserStatus.ACTIVE)
    if admins_only:
        query = query.where(User.role == Role.ADMIN)
    async with runtime.sessions() as db:
        return list((await db.scalars(query)).all())


async def alert_admins(runtime: Runtime, title: str, body: str = "", level: Level = Level.WARNING) -> list[int]:
    """A system alert, such as a plugin that failed or a service that went down, for every active admin who
    does not already have the same alert unread (a restart does not repeat it)."""
    admins = await active_users(runtime, admins_only=True)
    async with runtime.sessions() as db:
        told = set(
            (
                await db.scalars(
                    select(Notification.user_id).where(
                        Notification.user_id.in_(admins),
                        Notification.title == title[:200],
                        Notification.body == body,
                        Notification.read_at.is_(None),
                    )
                )
            ).all()
        )
    return await notify(runtime, [a for a in admins if a not in told], title, body, level)


async def notifications_of(
    runtime: Runtime, user_id: int, page: int, per_page: int
) -> tuple[int, int, list[Notification]]:
    """One page of a person's notifications (unread first, then newest first), how many in all, how many unread."""
    mine = Notification.user_id == user_id
    async with runtime.sessions() as db:
        total = await db.scalar(select(func.count()).select_from(Notification).where(mine))
        unread = await db.scalar(
            select(func.count()).select_from(Notification).where(mine, Notification.read_at.is_(None))
        )
        rows = (
            await db.scalars(
                select(Notification)
                .where(mine)
                .order_by(Notification.read_at.is_not(None), Notification.created_at.desc(), Notification.id.desc())
                .offset((page - 1) * per_page)
                .limit(per_page)
            )
        ).all()
    return int(total or 0), int(unread or 0), list(rows)


@attrs.frozen
class NotificationsQuery(PageQuery):
    per_page: int = field(default=20, ge=1, le=MAX_PER_PAGE)


@attrs.frozen
class NotificationDoc:
    id: int
    title: str
    body: str
    level: Level
    link: str | None
    read: bool
    created_at: datetime


@attrs.frozen
class NotificationPage:
    """A page of the person's notifications, newest first, and how many are unread in all."""

    notifications: list[NotificationDoc]
    unread: int
    total: int
    page: int
    per_page: int


@attrs.frozen
class Marked:
    """How many notifications were marked as read."""

    marked: int


@attrs.frozen
class Sent:
    """How many people the announcement reached."""

    sent: int


async def list_notifications(request: web.Request) -> web.Response:
    """The signed-in person's notifications, newest first."""
    who = require(request)
    asked = read_query(request, NotificationsQuery)
    page, per_page = asked.page, asked.per_page
    total, unread, rows = await notifications_of(request.config_dict[keys.RUNTIME], who.user_id, page, per_page)
    return web.json_response(
        {
            "notifications": [notification_doc(r) for r in rows],
            "unread": unread,
            "total": total,
            "page": page,
            "per_page": per_page,
        }
    )


async def mark_read(request: web.Request) -> web.Response:
    who = require(request)
    note_id = path_id(request, "notification")
    runtime = request.config_dict[keys.RUNTIME]
    async with runtime.sessions.begin() as db:
        row = await db.scalar(
            select(Notification).where(Notification.id == note_id, Notification.user_id == who.user_id)
        )
        if row is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, "No such notification.")
        if row.read_at is None:
            row.read_at = datetime.now(UTC)
        doc = notification_doc(row)
    await runtime.events.publish(NotificationsRead(user_id=who.user_id, ids=[note_id]))
    return web.json_response(doc)


async def mark_all_read(request: web.Request) -> web.Response:
    who = require(request)
    runtime = request.config_dict[keys.RUNTIME]
    async with runtime.sessions.begin() as db:
        result = await db.execute(
            update(Notification)
            .where(Notification.user_id == who.user_id, Notification.read_at.is_(None))
            .values(read_at=datetime.now(UTC))
        )
        count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    await runtime.events.publish(NotificationsRead(user_id=who.user_id, ids=[]))
    return web.json_response({"marked": count})


@attrs.frozen
class AnnouncementBody:
    title: str = field(min_length=1, max_length=200, pattern=NOT_BLANK)
    body: str = field(default="", max_length=10_000)


async def announce(request: web.Request) -> web.Response:
    who = require(request)
    body = await read_body(request, AnnouncementBody)
    title = body.title.strip()
    if not 1 <= len(title) <= 200:
        raise field_error("title", "1 to 200 characters", "An announcement needs a title of 1 to 200 characters.")
    runtime = request.config_dict[keys.RUNTIME]
    ids = await notify(runtime, await active_users(runtime), title, body.body, Level.INFO)
    async with runtime.sessions.begin() as db:
        audit.record(
            db,
            AuditAction.ANNOUNCEMENT_SENT,
            actor_id=who.user_id,
            details={"title": title, "recipients": len(ids)},
            request=request,
        )
    return web.json_response({"sent": len(ids)}, status=201)


ROUTES = (
    Route(
        "GET",
        "/api/v1/notifications",
        list_notifications,
        name="notifications",
        query=NotificationsQuery,
        answer=NotificationPage,
    ),
    Route("POST", "/api/v1/notifications/read-all", mark_all_read, name="notifications-read-all", answer=Marked),
    Route(
        "POST",
        "/api/v1/notifications/{id}/read",
        mark_read,
        name="notification-read",
        params=IdPath,
        answer=NotificationDoc,
    ),
    Route(
        "POST",
        "/api/v1/admin/announcements",
        announce,
        name="admin-announcements",
        access=Access.ADMIN,
        body=AnnouncementBody,
        answer=Sent,
        status=201,
    ),
)
