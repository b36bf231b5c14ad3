"""Health: the core's components checked on demand, plugin checks polled in the background.

``GET /api/v1/health`` reads what the poller stored, so it never waits on an external service; only the local
database and broker are asked live, with a short timeout. It answers 503 only when MediaNest itself cannot work
(database or broker down); a plugin or service that is down makes the status "degraded".
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs
import structlog

from medianest_core import db
from medianest_core.events import ServiceStatusChanged
from medianest_core.jobs import broker_health
from medianest_core.models import ServiceStatus
from medianest_core.plugins import PluginStatus
from medianest_core.types import HealthCheck, HealthResult, HealthState

if TYPE_CHECKING:
    from medianest_core.runtime import Runtime

log = structlog.get_logger("medianest.health")

CORE_TIMEOUT = 3.0
STORE_EVERY = 30.0


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

    async def _poll(self, state: CheckState) -> None:
        while True:
            record = self.runtime.plugins.get(state.plugin)
            if record is None or not record.active:
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

        name = state.plugin if state.check.name == "service" else f"{state.plugin} ({state.check.name})"
        if result.state is HealthState.DOWN:
            await notifications.alert_admins(
                self.runtime, f"{name} is down", result.message or "", notifications.Level.ERROR
            )
        elif result.state is HealthState.UP and before is HealthState.DOWN:
            await notifications.alert_admins(
                self.runtime, f"{name} is back", "It answers again.", notifications.Level.INFO
            )

    def start(self) -> None:
        for state in self.states:
            name = f"health:{state.plugin}/{state.check.name}"
            self._tasks.append(asyncio.create_task(self._poll(state), name=name))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def report(self, admin: bool) -> tuple[int, dict[str, Any]]:
        """The health document and its HTTP status. Everyone sees states and short messages; ``details``
        (reasons, versions, times) are for admins only."""
        database, broker = await asyncio.gather(self._database(), broker_health(self.runtime.jobs, CORE_TIMEOUT))
        components: list[dict[str, Any]] = [
            _component("database", "core", database, admin, {"backend": self._db_backend()}),
            _component("broker", "core", broker, admin, {"kind": self.runtime.jobs.kind}),
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
            else:
                result = HealthResult(HealthState.UP, "loaded")
            components.append(_component(record.name, "plugin", result, admin, details))
        for state in self.states:
            owner = self.runtime.plugins.get(state.plugin)
            if owner is None or not owner.active:
                continue
            if state.result.state in (HealthState.DOWN, HealthState.DEGRADED):
                worst_plugin = HealthState.DOWN
            extra = {
                "checked_at": state.checked_at.isoformat() if state.checked_at else None,
                "last_success_at": state.last_success_at.isoformat() if state.last_success_at else None,
                "interval_s": state.check.interval,
            }
            components.append(_component(f"{state.plugin}/{state.check.name}", "check", state.result, admin, extra))
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


def _component(name: str, kind: str, result: HealthResult, admin: bool, details: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": name,
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
    if result.state is HealthState.UNKNOWN:
        return result.message if result.message in ("disabled", "not checked yet") else "unknown"
    if result.message in {s.label for s in PluginStatus}:
        return result.message
    return "unavailable"
