"""Health: the core's components checked on demand, plugin checks polled in the background.

``GET /api/v1/health`` reads what the poller stored, so it never waits on an external service; only the local
database and broker are asked live, with a short timeout. It answers 503 only when MediaNest itself cannot work
(database or broker down); a plugin or service that is down makes the status "degraded".

A plugin whose settings say its service is not configured is "not set up": its checks are not run, and it is
never up and never down (:attr:`~medianest_core.plugins.PluginRecord.set_up`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs
import structlog

from medianest_core import db
from medianest_core.events import ServiceStatusChanged
from medianest_core.jobs import broker_health
from medianest_core.models import ServiceStatus
from medianest_core.plugins import PluginStatus, default_title
from medianest_core.types import HealthCheck, HealthResult, HealthState

if TYPE_CHECKING:
    from medianest_core.runtime import Runtime

log = structlog.get_logger("medianest.health")

CORE_TIMEOUT = 3.0
STORE_EVERY = 30.0
NOT_SET_UP = HealthResult(HealthState.NOT_SET_UP, "not set up")

_SEVERITY: dict[HealthState, int] = {
    HealthState.UP: 0,
    HealthState.UNKNOWN: 1,
    HealthState.NOT_SET_UP: 1,
    HealthState.DEGRADED: 2,
    HealthState.DOWN: 3,
}


def worst(states: Iterable[HealthState]) -> HealthState:
    """The worst of some states: down, then degraded, then unknown, then up (``up`` for none)."""
    return max(states, key=_SEVERITY.__getitem__, default=HealthState.UP)


def settings_page(plugin: str) -> str:
    """Where an admin sets a plugin up: its section of the admin's services page."""
    return f"/admin/services#service-{plugin}"


@attrs.define
class CheckState:
    plugin: str
    check: HealthCheck
    result: HealthResult = HealthResult(HealthState.UNKNOWN, "not checked yet")
    checked_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    changed_at: datetime | None = None
    stored_at: float = float("-inf")

    @property
    def key(self) -> str:
        """The service's name in the status table: ``<plugin>/<check>``."""
        return f"{self.plugin}/{self.check.name}"


@attrs.frozen
class ServiceLine:
    """One plugin's line of the services card: its title and the worst state of its checks, or "not set up"
    (with the admin's page where it is set up)."""

    plugin: str
    title: str
    state: HealthState
    checks: tuple[CheckState, ...] = ()
    settings_page: str | None = None
    details: tuple[CheckState, ...] = ()
    """Each check with its state and message, for admins, when the plugin has several."""


async def run_check(check: HealthCheck) -> HealthResult:
    """Run one check within its timeout; an exception or an overrun is "down", never an error."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(check.timeout):
            result = await check.check()
    except TimeoutError:
        return HealthResult(HealthState.DOWN, f"no answer within {check.timeout:g} s")
    except Exception as exc:
        return HealthResult(HealthState.DOWN, f"{type(exc).__name__}: {exc}")
    if not isinstance(result, HealthResult):
        return HealthResult(HealthState.DOWN, f"check returned {type(result).__name__}, not HealthResult")
    if result.latency_ms is None:
        result = attrs.evolve(result, latency_ms=(time.perf_counter() - started) * 1000)
    return result


class HealthMonitor:
    def __init__(self, runtime: Runtime, checks: Sequence[tuple[str, HealthCheck]]) -> None:
        self.runtime = runtime
        self.states = [CheckState(plugin, check) for plugin, check in checks]
        self._tasks: list[asyncio.Task[None]] = []
        self._plugin_of: dict[asyncio.Task[None], str] = {}
        self._running = False

    def title(self, plugin: str) -> str:
        """What people call a plugin's service ("Uptime Kuma"): its title."""
        record = self.runtime.plugins.get(plugin)
        return record.title if record is not None else default_title(plugin)

    def check_title(self, state: CheckState) -> str:
        """A check as people read it: its plugin's title, followed by the check's name in brackets when the plugin
        has several checks ("YouTube downloads", "Plex (server)" only beside another Plex check)."""
        title = self.title(state.plugin)
        several = sum(other.plugin == state.plugin for other in self.states) > 1
        return f"{title} ({state.check.name})" if several and state.check.name != "service" else title

    def set_up(self, plugin: str) -> bool:
        """Whether ``plugin`` is running and its service set up, so that its checks run."""
        record = self.runtime.plugins.get(plugin)
        return record is not None and record.active and record.set_up

    def services(self, admin: bool) -> list[ServiceLine]:
        """One line per running plugin that has checks, by title, with the worst state of its checks. A plugin
        whose service is not set up is a "not set up" line for admins (with its settings page) and no line for
        anyone else; one that is set up but has no checks has nothing to show, so it has no line."""
        lines = []
        for record in sorted(self.runtime.plugins.active, key=lambda r: (r.title.casefold(), r.name)):
            if not record.set_up:
                if admin:
                    lines.append(
                        ServiceLine(record.name, record.title, HealthState.NOT_SET_UP, (), settings_page(record.name))
                    )
                continue
            checks = tuple(state for state in self.states if state.plugin == record.name)
            if checks:
                state = worst(check.result.state for check in checks)
                details = checks if admin and len(checks) > 1 else ()
                page = settings_page(record.name) if admin and state is HealthState.NOT_SET_UP else None
                lines.append(ServiceLine(record.name, record.title, state, checks, page, details))
        return lines

    async def _poll(self, state: CheckState) -> None:
        while True:
            record = self.runtime.plugins.get(state.plugin)
            if record is None or not record.active or not record.set_up:
                return
            result = await run_check(state.check)
            now = datetime.now(UTC)
            before = state.result.state
            changed = result.state != before
            state.result, state.checked_at = result, now
            if result.state is HealthState.UP:
                state.last_success_at = now
            else:
                state.last_error = result.message
            if changed:
                log.info(
                    "health_changed",
                    plugin=state.plugin,
                    check=state.check.name,
                    state=result.state.value,
                    message=result.message,
                )
                state.changed_at = now
            try:
                await self._store(state, changed)
                if changed:
                    await self._announce(state, before)
            except Exception:
                log.exception("health_store_failed", plugin=state.plugin, check=state.check.name)
            await asyncio.sleep(state.check.interval)

    async def _store(self, state: CheckState, changed: bool) -> None:
        """Keep the last result in the service status table (for every process and across restarts): at each
        change, and otherwise at most every ``STORE_EVERY`` seconds."""
        now = time.monotonic()
        if not changed and now - state.stored_at < STORE_EVERY:
            return
        state.stored_at = now
        async with self.runtime.sessions.begin() as db:
            row = await db.get(ServiceStatus, state.key)
            if row is None:
                row = ServiceStatus(service=state.key, state=state.result.state.value)
                db.add(row)
            row.state = state.result.state.value
            row.latency_ms = state.result.latency_ms
            row.message = state.result.message
            row.checked_at = state.checked_at
            row.last_success_at = state.last_success_at or row.last_success_at
            row.last_error = state.last_error or row.last_error
            if changed or row.changed_at is None:
                row.changed_at = state.changed_at or state.checked_at

    async def _announce(self, state: CheckState, before: HealthState) -> None:
        """Open dashboards learn of every change; admins are told when a service goes down and when it is back."""
        result = state.result
        await self.runtime.events.publish(
            ServiceStatusChanged(state.plugin, state.check.name, result.state.value, _public_message(result))
        )
        from medianest_core import notifications

        name = self.check_title(state)
        if result.state is HealthState.DOWN:
            await notifications.alert_admins(
                self.runtime, f"{name} is down", result.message or "", notifications.Level.ERROR
            )
        elif result.state is HealthState.UP and before is HealthState.DOWN:
            await notifications.alert_admins(
                self.runtime, f"{name} is back", "It answers again.", notifications.Level.INFO
            )

    def start(self) -> None:
        self._running = True
        for state in self.states:
            self._start(state)

    def _start(self, state: CheckState) -> None:
        name = f"health:{state.plugin}/{state.check.name}"
        made = asyncio.create_task(self._poll(state), name=name)
        self._tasks.append(made)
        self._plugin_of[made] = state.plugin

    async def stop(self, plugin: str | None = None) -> None:
        """Stop polling the checks of ``plugin``, or all checks."""
        if plugin is None:
            self._running = False
        stopping = [task for task in self._tasks if plugin is None or self._plugin_of.get(task) == plugin]
        for task in stopping:
            task.cancel()
        for task in stopping:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks[:] = [task for task in self._tasks if task not in stopping]
        for task in stopping:
            self._plugin_of.pop(task, None)

    async def replace(self, plugin: str, checks: Sequence[HealthCheck]) -> None:
        """Poll ``checks`` for ``plugin`` in place of the checks it had (it restarted with new settings): the old
        polls stop and their results are forgotten; the new checks run at once while the monitor runs."""
        await self.stop(plugin)
        fresh = [CheckState(plugin, check) for check in checks]
        self.states[:] = [state for state in self.states if state.plugin != plugin] + fresh
        if self._running:
            for state in fresh:
                self._start(state)

    async def report(self, admin: bool) -> tuple[int, dict[str, Any]]:
        """The health document and its HTTP status. Everyone sees states and short messages; ``details``
        (reasons, versions, times) are for admins only."""
        database, broker = await asyncio.gather(self._database(), broker_health(self.runtime.jobs, CORE_TIMEOUT))
        components: list[dict[str, Any]] = [
            _component("database", "Database", "core", database, admin, {"backend": self._db_backend()}),
            _component("broker", "Job broker", "core", broker, admin, {"kind": self.runtime.jobs.kind}),
        ]
        worst_plugin = HealthState.UP
        for record in self.runtime.plugins.records.values():
            details: dict[str, Any] = {"version": record.version, "status": record.status.value}
            if record.status is PluginStatus.DISABLED:
                result = HealthResult(HealthState.UNKNOWN, "disabled")
            elif record.status is not PluginStatus.LOADED:
                result = HealthResult(HealthState.DOWN, record.status.label)
                details["reason"] = record.reason
                worst_plugin = HealthState.DOWN
            elif not record.set_up:
                result = NOT_SET_UP
                details["settings_page"] = settings_page(record.name)
            else:
                result = HealthResult(HealthState.UP, "loaded")
            components.append(_component(record.name, record.title, "plugin", result, admin, details))
        for state in self.states:
            owner = self.runtime.plugins.get(state.plugin)
            if owner is None or not owner.active:
                continue
            result = state.result if owner.set_up else NOT_SET_UP  # its checks are not run
            if result.state in (HealthState.DOWN, HealthState.DEGRADED):
                worst_plugin = HealthState.DOWN
            extra = {
                "checked_at": state.checked_at.isoformat() if state.checked_at else None,
                "last_success_at": state.last_success_at.isoformat() if state.last_success_at else None,
                "interval_s": state.check.interval,
            }
            name = f"{state.plugin}/{state.check.name}"
            components.append(_component(name, self.check_title(state), "check", result, admin, extra))
        if HealthState.DOWN in (database.state, broker.state):
            status, code = "down", 503
        elif worst_plugin is not HealthState.UP:
            status, code = "degraded", 200
        else:
            status, code = "ok", 200
        return code, {"status": status, "components": components}

    def _db_backend(self) -> str:
        return "sqlite" if self.runtime.settings.effective_database_url.is_sqlite else "postgresql"

    async def _database(self) -> HealthResult:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(CORE_TIMEOUT):
                await db.ping(self.runtime.engine)
        except TimeoutError:
            return HealthResult(HealthState.DOWN, f"no answer within {CORE_TIMEOUT:g} s")
        except Exception as exc:
            return HealthResult(HealthState.DOWN, f"{type(exc).__name__}: {exc}")
        return HealthResult(HealthState.UP, None, (time.perf_counter() - started) * 1000)


def _component(
    name: str, title: str, kind: str, result: HealthResult, admin: bool, details: dict[str, Any]
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": name,
        "title": title,
        "kind": kind,
        "state": result.state.value,
        "latency_ms": round(result.latency_ms, 2) if result.latency_ms is not None else None,
        "message": _public_message(result) if not admin else result.message,
    }
    if admin:
        doc["details"] = details
    return doc


def _public_message(result: HealthResult) -> str | None:
    """What anyone may read: the state in words, not the error text (it may name hosts or paths)."""
    if result.state is HealthState.UP:
        return "ok"
    if result.state is HealthState.NOT_SET_UP:
        return "not set up"
    if result.state is HealthState.UNKNOWN:
        return result.message if result.message in ("disabled", "not checked yet") else "unknown"
    if result.message in {s.label for s in PluginStatus}:
        return result.message
    return "unavailable"
