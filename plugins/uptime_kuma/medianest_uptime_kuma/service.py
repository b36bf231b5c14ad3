"""The Uptime Kuma plugin's poller: every ``refresh_interval`` it reads the monitors, stores them, tells the admins
(and those who watch a monitor) when one goes down and comes back, and reports outages of the MediaNest services
tied to a monitor. Also the health check and the admin's settings test."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import attrs
import structlog
from sqlalchemy import select

from medianest_core.models import Role, User, UserStatus
from medianest_core.types import HealthCheck, HealthResult, HealthState, PluginContext
from medianest_core.upstream import AuthFailed, NotFound, Upstream, UpstreamError, deadline
from medianest_uptime_kuma import store
from medianest_uptime_kuma.client import KEPT_BEATS, SERVICE, Monitor, MonitorStatus, Source, UptimeKumaClient
from medianest_uptime_kuma.live import LoginFailed
from medianest_uptime_kuma.models import MonitorRow, State

if TYPE_CHECKING:
    from datetime import date

    from sqlalchemy.ext.asyncio import AsyncSession

    from medianest_uptime_kuma import UptimeKumaSettings
    from medianest_uptime_kuma.models import MonitorDay

log = structlog.get_logger("medianest.plugins.uptime_kuma")

POLL_SECONDS: Final = 30.0
"""The deadline of one read of every source."""
STATUS_LINK: Final = "/uptime_kuma/status/"
REFUSED: Final = "Uptime Kuma refused the API key: make a new one in its Settings, API Keys."


def upstream(ctx: PluginContext, settings: UptimeKumaSettings, *, pooled: bool = True) -> Upstream:
    """The upstream client of Uptime Kuma for ``settings``: from the core's pool, or made for a moment
    (``pooled=False``; the caller closes it). The API key travels with ``/metrics`` calls only."""
    assert ctx.upstreams is not None
    assert settings.url is not None
    url = str(settings.url).rstrip("/")
    hidden = [settings.api_key.get_secret_value()] if settings.api_key is not None else []
    if pooled:
        return ctx.upstreams.client(SERVICE, url, secrets=hidden)
    return Upstream(SERVICE, url, secrets=hidden, config=ctx.upstreams.config)


def state_of(status: MonitorStatus | None) -> State:
    return State.UNKNOWN if status is None else State(status.label)


def beat_docs(monitor: Monitor) -> list[dict[str, Any]]:
    return [
        {"status": beat.status.label, "time": beat.time.astimezone(UTC).isoformat(), "ping": beat.ping_ms}
        for beat in monitor.beats[-KEPT_BEATS:]
    ]


def trailing_down(beats: Sequence[dict[str, Any]]) -> int:
    """How many of the last beats are down, in a row."""
    count = 0
    for beat in reversed(beats):
        if beat.get("status") != State.DOWN.value:
            break
        count += 1
    return count


@attrs.frozen
class Change:
    """What one poll found about a monitor, told once the rows are stored."""

    doc: dict[str, Any]
    shown: bool
    went_down: bool = False
    came_back: bool = False
    name: str = ""
    group: str | None = None
    service: str | None = None
    watchers: tuple[int, ...] = ()


class UptimeKuma:
    """The poller of one MediaNest."""

    def __init__(self, ctx: PluginContext, settings: UptimeKumaSettings) -> None:
        self.ctx = ctx
        self.settings = settings
        self.client = UptimeKumaClient(upstream(ctx, settings), login=settings.login)
        self.poll_seconds = min(POLL_SECONDS, float(settings.refresh_interval))
        self._polling = asyncio.Lock()  # one read at a time in this process: a change is told once

    @property
    def api_key(self) -> str | None:
        key = self.settings.api_key
        return None if key is None else key.get_secret_value()

    async def poll(self) -> bool:
        """Read every source once and store what changed; ``False`` when Uptime Kuma could not be read (the rows
        are kept, with their age, and the reason is stored)."""
        async with self._polling:
            return await self._poll()

    async def _poll(self) -> bool:
        try:
            with deadline(self.poll_seconds):
                monitors = await self.client.monitors(list(self.settings.status_pages), self.api_key)
        except LoginFailed as exc:  # the user's sign-in was refused: its own reason, not the API key's
            await self._failed(exc.message)
            return False
        except UpstreamError as exc:
            await self._failed(describe(exc))
            return False
        except TimeoutError:
            await self._failed(f"Uptime Kuma did not answer within {self.poll_seconds:g} seconds")
            return False
        await self._store(monitors)
        return True

    async def _failed(self, reason: str) -> None:
        from medianest_core.events import CardUpdated

        log.warning("uptime_kuma_poll_failed", reason=reason)
        assert self.ctx.sessions is not None
        async with self.ctx.sessions.begin() as db:
            before = await store.poll_error(db)
            await store.set_state(db, store.POLL_ERROR, reason)
        if before != reason and self.ctx.events is not None:
            await self.ctx.events.publish(CardUpdated(plugin=self.ctx.name, key="monitors"))

    async def _store(self, monitors: Sequence[Monitor]) -> None:
        now = datetime.now(UTC)
        down_after = self.settings.down_after
        changes: list[Change] = []
        outages: list[tuple[str, str | None]] = []
        assert self.ctx.sessions is not None
        async with self.ctx.sessions.begin() as db:
            rows = {row.key: row for row in await store.all_rows(db)}
            days = await store.counted_days(db)
            seen: set[str] = set()
            touched: list[tuple[MonitorRow, bool, bool, bool]] = []
            counting: list[tuple[MonitorRow, Monitor, datetime | None]] = []
            for monitor in monitors:
                if monitor.key in seen:
                    continue
                seen.add(monitor.key)
                row = rows.get(monitor.key)
                if row is None and monitor.id is not None:
                    # Known before by its name alone (1.23's /metrics), now with its id: the same row, so that
                    # what the admin chose for it stays and it is not shown twice.
                    row = rows.pop(f"name:{monitor.type or ''}:{monitor.name}", None)
                    if row is not None:
                        row.key = monitor.key
                        rows[monitor.key] = row
                if row is None:
                    row = MonitorRow(key=monitor.key, name=monitor.name, beats=[], down_beats=0, alerted=False)
                    db.add(row)
                    rows[monitor.key] = row
                before = (row.status, list(row.beats or []))
                counting.append((row, monitor, newest_beat(row.beats or [])))
                status = state_of(monitor.status)
                beats = beat_docs(monitor)
                row.uk_id = monitor.id
                row.name = monitor.name[:200]
                row.group = monitor.group[:200] if monitor.group else None
                row.type = monitor.type[:40] if monitor.type else None
                row.status = status.value
                row.latency_ms = monitor.latency_ms
                row.uptime_24h = monitor.uptime_24h
                row.uptime_30d = monitor.uptime_30d
                row.cert_days = monitor.cert_days
                row.message = monitor.message
                row.from_status_page = Source.STATUS_PAGE in monitor.sources
                row.seen_at = now
                if beats:
                    row.beats = beats
                    row.down_beats = trailing_down(beats)
                elif status is State.DOWN:
                    row.down_beats = (row.down_beats or 0) + 1  # /metrics alone: each read counts as a beat
                else:
                    row.down_beats = 0
                if not row.down_beats:
                    row.down_since = None
                elif row.down_since is None:  # a run of down beats begins: its first beat, or this read
                    row.down_since = first_down(row.beats or []) or now
                changed = before != (row.status, list(row.beats or []))
                if changed:
                    row.changed_at = now
                went_down = row.down_beats >= down_after and not row.alerted
                came_back = status is State.UP and bool(row.alerted)
                if went_down:
                    row.alerted = True
                elif came_back:
                    row.alerted = False
                touched.append((row, changed, went_down, came_back))
            for key, row in rows.items():
                if key not in seen:
                    row.from_status_page = False  # no longer on a chosen page: hidden unless the admin shows it
            await store.set_state(db, store.POLLED_AT, now.isoformat())
            await store.set_state(db, store.POLL_ERROR, None)
            await db.flush()
            for row, monitor, stored in counting:
                await count_days(db, row, monitor, days.setdefault(row.id, {}), stored, now)
            told = await store.watchers(db, [row.id for row, _, down, back in touched if down or back])
            for row, changed, went_down, came_back in touched:
                if row.service and row.alerted:
                    outages.append((row.service, outage_reason(row)))
                elif row.service and came_back:
                    outages.append((row.service, None))
                if changed or went_down or came_back:
                    changes.append(
                        Change(
                            doc=store.monitor_doc(row, admin=False),
                            shown=row.shown,
                            went_down=went_down,
                            came_back=came_back,
                            name=row.title or row.name,
                            group=row.group,
                            service=row.service,
                            watchers=tuple(told.get(row.id, ())),
                        )
                    )
        await self._tell(changes)
        await self._report(outages)

    async def _tell(self, changes: Sequence[Change]) -> None:
        from medianest_core.events import CardUpdated

        if not changes:
            return
        if self.ctx.events is not None:
            for change in changes:
                await self.ctx.events.publish(store.MonitorChanged(monitor=change.doc, visible=change.shown))
            await self.ctx.events.publish(CardUpdated(plugin=self.ctx.name, key="monitors"))
        alerts = [change for change in changes if change.went_down or change.came_back]
        if not alerts or self.ctx.notifier is None:
            return
        from medianest_core.notifications import Level

        admins = await self.admins()
        for change in alerts:
            people = list(admins) + [
                user for user in change.watchers if user not in admins and change.shown
            ]  # a watcher is told only about a monitor they may see
            if not people:
                continue
            where = f" ({change.group})" if change.group else ""
            if change.went_down:
                heading, body = f"{change.name} is down", f"Uptime Kuma says {change.name}{where} is down."
                level = Level.WARNING
            else:
                heading, body = f"{change.name} is back", f"Uptime Kuma says {change.name}{where} is up again."
                level = Level.SUCCESS
            await self.ctx.notifier.notify(people, heading, body, level, link=STATUS_LINK)

    async def admins(self) -> list[int]:
        assert self.ctx.sessions is not None
        async with self.ctx.sessions() as db:
            found = await db.scalars(select(User.id).where(User.role == Role.ADMIN, User.status == UserStatus.ACTIVE))
            return list(found.all())

    async def _report(self, outages: Sequence[tuple[str, str | None]]) -> None:
        await report_outages(self.ctx, outages)


def first_down(beats: Sequence[dict[str, Any]]) -> datetime | None:
    """The time of the first beat of the last run of down beats, if the beats tell it."""
    run = trailing_down(beats)
    if not run:
        return None
    try:
        return datetime.fromisoformat(str(beats[-run]["time"])).astimezone(UTC)
    except (KeyError, ValueError):
        return None


def newest_beat(beats: Sequence[dict[str, Any]]) -> datetime | None:
    """The time of the newest of the stored beats (ISO times), if they tell it."""
    newest: datetime | None = None
    for beat in beats:
        try:
            moment = datetime.fromisoformat(str(beat["time"]))
        except (KeyError, ValueError):
            continue
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        if newest is None or moment > newest:
            newest = moment
    return newest


async def count_days(
    db: AsyncSession,
    row: MonitorRow,
    monitor: Monitor,
    days: dict[date, MonitorDay],
    stored: datetime | None,
    now: datetime,
) -> None:
    """Count the monitor's beats that are newer than any counted before (those stored at the last poll, ``stored``,
    and those the day counts remember), by UTC day, so that a beat seen by two polls is counted once; then, when
    the source gave no 30-day uptime, work it out from the counts, with over how many days it was measured."""
    after = max((moment for moment in (stored, store.last_counted(days)) if moment is not None), default=None)
    fresh = [(beat.status.label, beat.time) for beat in monitor.beats if after is None or beat.time > after]
    end = await store.count_beats(db, row.id, days, fresh, now.astimezone(UTC).date())
    if monitor.uptime_30d is not None:  # the source's own figure (2.x's /metrics) wins
        row.uptime_30d, row.uptime_30d_days = monitor.uptime_30d, None
        return
    ratio, measured = store.uptime_over(days, end)
    row.uptime_30d, row.uptime_30d_days = ratio, measured or None


def down_since(row: MonitorRow) -> datetime:
    """When the monitor went down: stored when its run of down beats began (kept while the run outlasts the beats
    kept), else when its status last changed."""
    since = row.down_since or row.changed_at
    return since.replace(tzinfo=UTC) if since.tzinfo is None else since.astimezone(UTC)


def outage_reason(row: MonitorRow) -> str:
    """The same words for as long as the monitor stays down, so the outage is not reported anew at every poll."""
    return f"{row.title or row.name}'s monitor is down (since {down_since(row):%H:%M} UTC)"


async def report_outages(ctx: PluginContext, outages: Sequence[tuple[str, str | None]]) -> None:
    """Tell the core which MediaNest services are out because their monitor is down (``None``: no longer)."""
    reporter = getattr(ctx, "outages", None)
    if reporter is None:
        return
    for service, reason in outages:
        try:
            await reporter.report(service, reason)
        except Exception:  # one failed report never stops the poll
            log.exception("uptime_kuma_outage_report_failed", service=service)


def describe(exc: UpstreamError) -> str:
    if isinstance(exc, AuthFailed):
        return REFUSED
    if isinstance(exc, NotFound):
        return f"Uptime Kuma: {exc.message}"
    return f"Uptime Kuma did not answer: {exc.message}"


# ---- health ---------------------------------------------------------------------------------------------------


async def _ask(client: UptimeKumaClient, settings: UptimeKumaSettings, *, count: bool) -> HealthResult:
    key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    pages = list(settings.status_pages)
    try:
        if count:
            monitors = await client.monitors(pages, key)
        elif pages:
            await client.status_page(pages[0])
            monitors = []
        elif key is not None:
            await client.metrics(key)
            monitors = []
        else:  # a user alone: sign in over Socket.IO
            await client.monitors()
            monitors = []
    except LoginFailed as exc:
        return HealthResult(HealthState.DOWN, exc.message)
    except AuthFailed:
        return HealthResult(HealthState.DOWN, REFUSED)
    except NotFound as exc:
        return HealthResult(HealthState.DOWN, f"Uptime Kuma has no such status page: {exc.message}.")
    except UpstreamError as exc:
        return HealthResult(HealthState.DOWN, f"Uptime Kuma did not answer: {exc.message}")
    if not count:
        return HealthResult(HealthState.UP, "Uptime Kuma answers.")
    noun = "monitor" if len(monitors) == 1 else "monitors"
    where: list[str] = []
    if pages:
        where.append(f"{len(pages)} status page{'s' if len(pages) != 1 else ''}")
    if key:
        where.append("/metrics")
    if client.login is not None:
        where.append(f"Socket.IO as {client.login.username}")
    return HealthResult(HealthState.UP, f"Found {len(monitors)} {noun} on {' and '.join(where)}.")


def health_check(service: Callable[[], UptimeKuma | None], interval: float) -> HealthCheck:
    """Every ``interval`` seconds: up when Uptime Kuma answers (a status page, or ``/metrics``)."""

    async def check() -> HealthResult:
        found = service()
        if found is None:
            return HealthResult(HealthState.UNKNOWN, "Uptime Kuma is not started yet.")
        return await _ask(found.client, found.settings, count=False)

    return HealthCheck("api", check, interval=interval, timeout=10.0)


def connection_test(ctx: PluginContext, settings: UptimeKumaSettings) -> HealthCheck:
    """Try ``settings`` (saved or not): how many monitors they find, with an upstream client of their own."""

    async def check() -> HealthResult:
        if settings.url is None or not settings.configured:
            return HealthResult(
                HealthState.DOWN,
                "Set Uptime Kuma's address and a status page's slug, an API key or a user (or more than one).",
            )
        made = upstream(ctx, settings, pooled=False)
        try:
            return await _ask(UptimeKumaClient(made, login=settings.login), settings, count=True)
        finally:
            await made.close()

    return HealthCheck("connection", check, timeout=20.0)
