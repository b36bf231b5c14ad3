"""The Uptime Kuma plugin's JSON API: the monitors a person may see, one monitor with its beats, the admin's
changes to a monitor (name, order, visibility, the MediaNest service tied to it), and watching a monitor.

A monitor that is hidden from people is answered 404 to anyone but an admin, as if it did not exist."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final

import attrs
from aiohttp import web
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from medianest_core import keys
from medianest_core.auth.principal import require
from medianest_core.errors import ApiError, ErrorCode, field_error, path_id
from medianest_core.schema import IdPath, field, parse_json, read_body
from medianest_core.types import Access, Audience, Event, PluginContext, Route
from medianest_uptime_kuma import store
from medianest_uptime_kuma.models import MonitorRow, MonitorWatch

TITLE_MAX: Final = 100
POSITION_MAX: Final = 10_000
SERVICE_RULE: Final = "the name of a running MediaNest plugin (GET /api/v1/plugins), or null"


@attrs.frozen
class MonitorPatch:
    """The admin's changes to a monitor; a field left out stays as it is."""

    visible: bool | None = attrs.field(
        default=None, metadata={"help": "Shown to people (true), hidden (false), or the default rule (null)"}
    )
    title: str | None = field(
        default=None, max_length=TITLE_MAX, description="The name people read; empty or null: Uptime Kuma's name"
    )
    position: int | None = field(default=None, ge=0, le=POSITION_MAX, description="Its place in lists; null: by name")
    service: str | None = field(default=None, max_length=64, description="A MediaNest plugin that depends on it")


@attrs.frozen
class BeatDoc:
    status: str
    time: str
    ping: float | None


@attrs.frozen
class MonitorDoc:
    """A monitor: ``visible`` and ``message`` for admins only. ``uptime_30d`` is Uptime Kuma's own 30-day figure
    when it gives one (2.x's ``/metrics``); otherwise MediaNest's, from the beats it has seen, counted by UTC day
    as 2.x counts them (pending as down, maintenance left out), and ``uptime_30d_days`` says over how many days
    (1 to 30) it was measured. ``uptime_30d_days`` is null with Uptime Kuma's figure, or when there is none."""

    id: int
    name: str
    group: str | None
    type: str | None
    status: str
    latency_ms: float | None
    uptime_24h: float | None
    uptime_30d: float | None
    uptime_30d_days: int | None
    cert_days: int | None
    beats: list[BeatDoc]
    service: str | None
    position: int | None
    updated_at: str | None
    visible: bool | None = None
    message: str | None = None


@attrs.frozen
class MonitorList:
    monitors: list[MonitorDoc]
    as_of: str | None
    stale: bool
    error: str | None = None


@attrs.frozen
class MonitorAnswer:
    monitor: MonitorDoc
    watching: bool


@attrs.frozen
class WatchAnswer:
    watching: bool
    message: str


@attrs.frozen
class MonitorHidden(Event):
    """A monitor people could see was just hidden from them: their open pages drop its row. Only its id travels,
    so nothing of a hidden monitor reaches anyone but the admins."""

    name: ClassVar[str] = "uptime_kuma.monitor_hidden"
    id: int

    def audience(self) -> Audience:
        return Audience.everyone()


@attrs.frozen
class MonitorEdited(Event):
    """An admin changed a monitor: ``monitor`` is its document as admins see it (with ``visible`` and
    ``message``), for the admins' open pages."""

    name: ClassVar[str] = "uptime_kuma.monitor_edited"
    monitor: dict[str, Any]


def _not_found() -> ApiError:
    return ApiError(404, ErrorCode.NOT_FOUND, "No such monitor.")


class Monitors:
    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    @property
    def sessions(self) -> Any:
        assert self.ctx.sessions is not None
        return self.ctx.sessions

    def stale_after(self) -> timedelta:
        """Figures older than two reads (and a little) are stale."""
        return timedelta(seconds=2 * float(self.ctx.settings.refresh_interval) + 30)

    async def listing(self, request: web.Request) -> web.Response:
        """The monitors the person may see, by position then name, with when they were read."""
        who = require(request)
        async with self.sessions() as db:
            rows = await store.visible_rows(db, who.is_admin)
            polled = await store.polled_at(db)
            error = await store.poll_error(db)
            docs = [store.monitor_doc(row, admin=who.is_admin) for row in rows]
        stale = polled is None or error is not None or datetime.now(UTC) - _aware(polled) > self.stale_after()
        answer: dict[str, Any] = {
            "monitors": docs,
            "as_of": None if polled is None else _aware(polled).isoformat(),
            "stale": stale,
        }
        if who.is_admin:
            answer["error"] = error
        return web.json_response(answer)

    async def detail(self, request: web.Request) -> web.Response:
        """One monitor, with its last beats (404 when the person may not see it)."""
        who = require(request)
        monitor_id = path_id(request, "monitor")
        async with self.sessions() as db:
            row = await store.row_for(db, monitor_id, admin=who.is_admin)
            if row is None:
                raise _not_found()
            watching = await _watch_of(db, who.user_id, row.id) is not None
            doc = store.monitor_doc(row, admin=who.is_admin)
        return web.json_response({"monitor": doc, "watching": watching})

    async def patch(self, request: web.Request) -> web.Response:
        """Rename, reorder, show or hide a monitor, or tie it to a MediaNest service (admins)."""
        # The service module brings Uptime Kuma's client: imported here, not when the routes are made at start.
        from medianest_uptime_kuma.service import outage_reason, report_outages

        require(request)
        monitor_id = path_id(request, "monitor")
        body = await read_body(request, MonitorPatch)
        given = set(parse_json(await request.read()))
        if not given:  # nothing to change: the monitor as it is, and nobody told
            async with self.sessions() as db:
                found = await db.get(MonitorRow, monitor_id)
                if found is None:
                    raise _not_found()
                return web.json_response({"monitor": store.monitor_doc(found, admin=True)})
        if "service" in given and body.service is not None:
            self._check_service(request, body.service)
        outages: list[tuple[str, str | None]] = []
        async with self.sessions.begin() as db:
            row = await db.get(MonitorRow, monitor_id)
            if row is None:
                raise _not_found()
            was_shown = row.shown
            if "visible" in given:
                row.visible = body.visible
            if "title" in given:
                title = (body.title or "").strip()
                row.title = title or None
            if "position" in given:
                row.position = body.position
            if "service" in given and body.service != row.service:
                if row.alerted and row.service:
                    outages.append((row.service, None))
                row.service = body.service
                if row.alerted and row.service:
                    outages.append((row.service, outage_reason(row)))
            await db.flush()
            doc = store.monitor_doc(row, admin=True)
            public = store.monitor_doc(row, admin=False)
            shown = row.shown
        await report_outages(self.ctx, outages)
        if self.ctx.events is not None:
            from medianest_core.events import CardUpdated

            # People receive the document they may see while the monitor is shown, and only its id when it has
            # just been hidden from them; the admins receive their own document as well.
            if shown:
                await self.ctx.events.publish(store.MonitorChanged(monitor=public, visible=True))
            elif was_shown:
                await self.ctx.events.publish(MonitorHidden(id=monitor_id))
            await self.ctx.events.publish(MonitorEdited(monitor=doc))
            await self.ctx.events.publish(CardUpdated(plugin=self.ctx.name, key="monitors"))
        return web.json_response({"monitor": doc})

    def _check_service(self, request: web.Request, name: str) -> None:
        runtime = request.config_dict.get(keys.RUNTIME)
        record = runtime.plugins.get(name) if runtime is not None else None
        if record is None or not record.active or name == self.ctx.name:
            raise field_error(
                "service", SERVICE_RULE, f"{name[:64]!r} is not a running MediaNest plugin: {SERVICE_RULE}."
            )

    async def watch(self, request: web.Request) -> web.Response:
        """Be told when this monitor goes down and when it comes back (asking twice changes nothing)."""
        who = require(request)
        monitor_id = path_id(request, "monitor")
        try:
            async with self.sessions.begin() as db:
                row = await store.row_for(db, monitor_id, admin=who.is_admin)
                if row is None:
                    raise _not_found()
                name = row.title or row.name
                if await _watch_of(db, who.user_id, row.id) is None:
                    db.add(MonitorWatch(user_id=who.user_id, monitor_id=row.id))
        except IntegrityError:
            pass  # the same person asked twice at once: one watch is kept
        return web.json_response(
            {"watching": True, "message": f"You will be told when {name} goes down and when it is back."}
        )

    async def unwatch(self, request: web.Request) -> web.Response:
        """Stop being told about this monitor."""
        who = require(request)
        monitor_id = path_id(request, "monitor")
        async with self.sessions.begin() as db:
            row = await store.row_for(db, monitor_id, admin=who.is_admin)
            if row is None:
                raise _not_found()
            name = row.title or row.name
            await db.execute(
                delete(MonitorWatch).where(MonitorWatch.user_id == who.user_id, MonitorWatch.monitor_id == row.id)
            )
        return web.json_response({"watching": False, "message": f"You will not be told about {name}."})

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/monitors", self.listing, name="uptime-kuma-monitors", answer=MonitorList),
            Route(
                "GET", "/monitors/{id}", self.detail, name="uptime-kuma-monitor", params=IdPath, answer=MonitorAnswer
            ),
            Route(
                "PATCH",
                "/monitors/{id}",
                self.patch,
                name="uptime-kuma-monitor-patch",
                access=Access.ADMIN,
                params=IdPath,
                body=MonitorPatch,
                answer=MonitorAnswer,
                refusals={"service": SERVICE_RULE},
            ),
            Route(
                "PUT",
                "/monitors/{id}/watch",
                self.watch,
                name="uptime-kuma-monitor-watch",
                params=IdPath,
                answer=WatchAnswer,
            ),
            Route(
                "DELETE",
                "/monitors/{id}/watch",
                self.unwatch,
                name="uptime-kuma-monitor-unwatch",
                params=IdPath,
                answer=WatchAnswer,
            ),
        ]


async def _watch_of(db: Any, user_id: int, monitor_id: int) -> MonitorWatch | None:
    found: MonitorWatch | None = await db.scalar(
        select(MonitorWatch).where(MonitorWatch.user_id == user_id, MonitorWatch.monitor_id == monitor_id)
    )
    return found


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def routes(ctx: PluginContext) -> list[Route]:
    return Monitors(ctx).routes()
