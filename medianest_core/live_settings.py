"""Saved settings apply at once: a plugin restarts in every running process when the admin saves its settings.

Saving (or putting back) a plugin's settings publishes :class:`~medianest_core.events.PluginSettingsSaved`. Each
process, the one that saved included (before it answers), restarts the plugin through :func:`restart_plugin`, the
one path of a restart:

1. the plugin goes out of service: its routes answer 503 "restarting", its periodic tasks, event subscriptions and
   health checks stop, and its ``shutdown`` runs;
2. its settings are made again from the settings file, the environment and the saved values, and its context is
   given them (the context keeps its identity: the routes mounted with it see the new settings);
3. its contributions (cards, checks, search and title sources, tasks, subscriptions) are asked again and its
   ``startup`` runs;
4. its tasks, subscriptions and checks start again (the checks at once), and it is back in service.

Settings that do not fit leave the plugin in "bad settings", a ``startup`` or a hook that raises in "failed
start-up", each with the reason; the plugin stays unavailable and MediaNest goes on. Its routes and pages stay
mounted as they were when MediaNest started: a plugin that was not running then gets its pages at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog
from aiohttp import web

from medianest_core import keys
from medianest_core.events import PluginSettingsSaved
from medianest_core.plugins import PluginRecord, PluginStatus, describe_exception
from medianest_core.runtime import Runtime
from medianest_core.service_settings import effective, saved_values, settings_class
from medianest_core.settings import SettingsError
from medianest_core.web.assets import ASSETS

log = structlog.get_logger("medianest.live_settings")

DRAIN_TIMEOUT: float = 10.0
"""Seconds a restart waits for the requests its plugin is answering to finish before it shuts the plugin down."""

STARTUP_TIMEOUT: float = 30.0
"""Seconds a restarted plugin's ``startup`` may take before it is marked "failed start-up": the admin who saved waits
on it, and the next restart waits for this one."""


async def restart_plugin(target: web.Application | Runtime, name: str) -> PluginRecord | None:
    """Restart the plugin ``name`` with its settings as they are now saved, in the process of ``target``: a web
    application (its routes, tasks, subscriptions and checks follow), or a bare runtime (``medianest worker``).
    Returns the plugin's record, whose status says how it went; ``None`` for no such plugin. Never raises for the
    plugin's fault."""
    app = target if isinstance(target, web.Application) else None
    runtime = target[keys.RUNTIME] if isinstance(target, web.Application) else target
    record = runtime.plugins.get(name)
    if record is None or record.plugin is None:
        return record
    async with runtime.restarts:
        record.restarting = True  # new requests to its routes are answered 503 from here on
        try:
            await _answered(record, DRAIN_TIMEOUT)
            await _stop(app, runtime, record)
            if await _renew_settings(runtime, record):
                await _start(app, runtime, record)
        except BaseException as exc:
            # A fault of the core's own (the database, the scheduler): the plugin is out of service and says why,
            # never "loaded" while stopped.
            log.exception("plugin_restart_failed", plugin=name)
            with contextlib.suppress(Exception):
                await _stop(app, runtime, record)
            runtime.plugins.fail(record, PluginStatus.STARTUP_FAILED, f"the restart failed: {describe_exception(exc)}")
            if not isinstance(exc, Exception):
                raise
        finally:
            record.restarting = False
    log.info("plugin_restarted", plugin=name, status=record.status.value, reason=record.reason)
    return record


async def _answered(record: PluginRecord, timeout: float) -> None:
    """Wait until the requests the plugin is answering are answered, ``timeout`` seconds at most (a long download
    or a hanging service then meets the plugin's shutdown)."""
    waited = 0.0
    while record.answering > 0 and waited < timeout:
        await asyncio.sleep(0.02)
        waited += 0.02
    if record.answering > 0:
        log.warning("plugin_restart_not_waiting", plugin=record.name, answering=record.answering, waited_s=timeout)


async def _stop(app: web.Application | None, runtime: Runtime, record: PluginRecord) -> None:
    if app is not None:
        await app[keys.SCHEDULER].stop(record.name)
        await app[keys.HEALTH].stop(record.name)
    await runtime.stop_plugin(record.name)


async def _renew_settings(runtime: Runtime, record: PluginRecord) -> bool:
    """Give the plugin its settings from the file, the environment and the saved values; whether they fit."""
    if record.status is not PluginStatus.LOADED:
        runtime.plugins.restore(record)  # its hooks are called again (a failure had taken it out)
    cls = settings_class(runtime, record)
    if cls is None:
        runtime.plugins.fail(record, PluginStatus.BAD_SETTINGS, "its settings_class hook failed")
        return False
    saved = (await saved_values(runtime, record.name)).get(record.name, {})
    try:
        record.settings = effective(runtime, record, saved, cls)
    except SettingsError as exc:
        runtime.plugins.fail(record, PluginStatus.BAD_SETTINGS, str(exc))
        return False
    except Exception as exc:
        runtime.plugins.fail(record, PluginStatus.BAD_SETTINGS, describe_exception(exc))
        return False
    runtime.renew_context(record)
    return True


async def _start(app: web.Application | None, runtime: Runtime, record: PluginRecord) -> None:
    if app is None:
        await runtime.start_plugin(record, STARTUP_TIMEOUT)
        return
    found = runtime.contributions_of(record)
    if found is None:  # a hook raised: the plugin is in "failed start-up"
        return
    app[keys.CONTRIBUTIONS].renew(record.name, found)
    app[ASSETS].add_cards(found.cards)
    if not await runtime.start_plugin(record, STARTUP_TIMEOUT):
        return
    runtime.subscribe(record.name, (sub for _, sub in found.event_subscriptions))
    app[keys.SCHEDULER].start(record.name, [task for _, task in found.periodic_tasks])
    await app[keys.HEALTH].replace(record.name, [check for _, check in found.health_checks])


def listen(target: web.Application | Runtime) -> Callable[[], None]:
    """Restart a plugin in this process whenever its settings are saved, here or in another process (the event bus
    carries it); returns the function that stops listening."""

    async def saved(event: PluginSettingsSaved) -> None:
        await restart_plugin(target, event.plugin)

    runtime = target[keys.RUNTIME] if isinstance(target, web.Application) else target
    return runtime.events.subscribe(PluginSettingsSaved, saved)
