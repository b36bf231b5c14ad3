"""The runtime of one MediaNest process: settings, plugins, storage, keys, metrics and jobs, built once.

``serve``, ``worker`` and the other commands build a :class:`Runtime` from the loaded settings; the web
application (:func:`medianest_core.app.create_app`) is one consumer of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs
import structlog
from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from medianest_core import db
from medianest_core.accounts import Accounts
from medianest_core.crypto import Keyring, load_keyring
from medianest_core.events import EventBus
from medianest_core.jobs import Jobs, create_broker, declare_actors
from medianest_core.libraries import Libraries
from medianest_core.outages import Outages
from medianest_core.plugins import EntryPointLike, PluginHost, PluginRecord, PluginStatus, describe_exception
from medianest_core.settings import LoadedSettings
from medianest_core.types import (
    Card,
    DiscoveryRow,
    EventSubscription,
    HealthCheck,
    LoginProvider,
    Migrations,
    NavLink,
    PeriodicTask,
    PluginContext,
    Quota,
    SearchProvider,
    TitleFactSource,
    TitleSource,
    WebAssets,
    WsCommand,
)

if TYPE_CHECKING:
    from medianest_core.notifications import Notifier
from medianest_core.upstream import UpstreamConfig, UpstreamPool

log = structlog.get_logger("medianest.runtime")


@attrs.define
class Contributions:
    """What the active plugins contributed through their hooks, each item with its plugin's name."""

    cards: list[tuple[str, Card]] = attrs.field(factory=list)
    health_checks: list[tuple[str, HealthCheck]] = attrs.field(factory=list)
    nav_links: list[tuple[str, NavLink]] = attrs.field(factory=list)
    login_providers: list[tuple[str, LoginProvider]] = attrs.field(factory=list)
    search_providers: list[tuple[str, SearchProvider]] = attrs.field(factory=list)
    title_sources: list[tuple[str, TitleSource]] = attrs.field(factory=list)
    title_facts: list[tuple[str, TitleFactSource]] = attrs.field(factory=list)
    discovery_rows: list[tuple[str, DiscoveryRow]] = attrs.field(factory=list)
    periodic_tasks: list[tuple[str, PeriodicTask]] = attrs.field(factory=list)
    quotas: dict[str, Quota] = attrs.field(factory=dict)
    ws_commands: dict[str, tuple[str, WsCommand]] = attrs.field(factory=dict)
    event_subscriptions: list[tuple[str, EventSubscription]] = attrs.field(factory=list)
    assets: list[tuple[str, WebAssets]] = attrs.field(factory=list)

    def add(self, other: Contributions) -> None:
        """Take in what ``other`` holds (one plugin's contributions), after what is here."""
        for field in attrs.fields(Contributions):
            mine, theirs = getattr(self, field.name), getattr(other, field.name)
            if isinstance(mine, dict):
                mine.update(theirs)
            else:
                mine.extend(theirs)

    def renew(self, plugin: str, other: Contributions) -> None:
        """Put, in place, what ``other`` holds for ``plugin`` instead of what it contributed before, in each list
        read where it is used (cards, checks, links, search and title sources, tasks, subscriptions). Quotas,
        websocket commands, sign-in providers and web assets are wired into the application when it is made, and
        stay as they were then."""
        for name in RENEWED:
            held = getattr(self, name)
            first = next((i for i, item in enumerate(held) if item[0] == plugin), len(held))
            rest = [item for item in held[first:] if item[0] != plugin]
            held[:] = held[:first] + list(getattr(other, name)) + rest


RENEWED: Final = (
    "cards",
    "health_checks",
    "nav_links",
    "search_providers",
    "title_sources",
    "title_facts",
    "discovery_rows",
    "periodic_tasks",
    "event_subscriptions",
)
"""The fields of :class:`Contributions` a plugin's restart renews."""


LIST_HOOKS: dict[str, type[Any]] = {
    "dashboard_cards": Card,
    "health_checks": HealthCheck,
    "nav_links": NavLink,
    "login_providers": LoginProvider,
    "search_providers": SearchProvider,
    "title_sources": TitleSource,
    "title_facts": TitleFactSource,
    "discovery_rows": DiscoveryRow,
    "periodic_tasks": PeriodicTask,
    "quotas": Quota,
    "event_subscriptions": EventSubscription,
    "ws_commands": WsCommand,
}


def _checked(hook: str, value: Any, expected: type[Any]) -> list[Any]:
    items = list(value or ())
    for item in items:
        if not isinstance(item, expected):
            raise TypeError(f"{hook} returned {type(item).__name__}, not {expected.__name__}")
    return items


def _card_ok(plugin: str, card: Card) -> bool:
    """Whether a card keeps its class's rules (one loader, ``load`` or ``load_for``). A card built around them
    (with attrs' validators turned off) is dropped, alone, with a warning; building a bad card normally raises in
    the plugin's hook, which fails the plugin with the reason."""
    try:
        attrs.validate(card)
    except (TypeError, ValueError) as exc:
        log.warning("dashboard_card_dropped", plugin=plugin, card=card.key, reason=str(exc))
        return False
    return True


@attrs.define
class Runtime:
    loaded: LoadedSettings
    plugins: PluginHost
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    keyring: Keyring
    metrics: CollectorRegistry
    jobs: Jobs
    events: EventBus
    upstreams: UpstreamPool
    libraries: Libraries = attrs.field(init=False)
    accounts: Accounts = attrs.field(init=False)
    outages: Outages = attrs.field(init=False)
    contexts: dict[str, PluginContext] = attrs.field(factory=dict)
    started: list[str] = attrs.field(factory=list)
    _shutdowns: dict[str, Callable[[], Awaitable[None]]] = attrs.field(factory=dict, alias="_shutdowns")
    _unsubscribes: dict[str, list[Callable[[], None]]] = attrs.field(factory=dict, alias="_unsubscribes")
    restarts: asyncio.Lock = attrs.field(factory=asyncio.Lock)
    """Held while a plugin restarts with new settings: one restart at a time (:mod:`medianest_core.live_settings`)."""

    def __attrs_post_init__(self) -> None:
        self.libraries = Libraries(self)
        self.accounts = Accounts(self)
        # Kept here and told to every process through the event bus (and its Redis bridge).
        self.outages = Outages(self.events, known=lambda name: self.plugins.get(name) is not None)

    @property
    def settings(self) -> Any:
        return self.loaded.settings

    def context(self, record: PluginRecord) -> PluginContext:
        ctx = self.contexts.get(record.name)
        if ctx is None:
            ctx = PluginContext(
                name=record.name,
                settings=record.settings,
                core=self.loaded.settings,
                data_dir=self.loaded.settings.data_dir,
                log=structlog.get_logger(f"medianest.plugins.{record.name}").bind(plugin=record.name),
                metrics=self.metrics,
                engine=self.engine,
                sessions=self.sessions,
                keyring=self.keyring,
                events=self.events,
                jobs=self.jobs,
                upstreams=self.upstreams.part(record.name),
                libraries=self.libraries,
                notifier=self._notifier(),
                accounts=self.accounts,
                outages=self.outages,
            )
            self.contexts[record.name] = ctx
        return ctx

    def renew_context(self, record: PluginRecord) -> PluginContext:
        """The plugin's context, given the plugin's current settings. A context made before keeps its identity: the
        routes mounted with it, the actors declared with it and what the plugin keeps by it see the new settings."""
        ctx = self.contexts.get(record.name)
        if ctx is None:
            return self.context(record)
        # Frozen for plugins; only the core renews a running plugin's settings, here.
        object.__setattr__(ctx, "settings", record.settings)
        return ctx

    def _notifier(self) -> Notifier:
        from medianest_core.notifications import Notifier

        return Notifier(self)

    def migration_locations(self) -> dict[str, Path]:
        """The revision folders of the active plugins that own tables, by plugin name."""
        locations: dict[str, Path] = {}
        for record in self.plugins.active:
            try:
                found = self.plugins.call(record, "migrations")
            except Exception as exc:
                self.plugins.fail(record, PluginStatus.STARTUP_FAILED, f"migrations: {describe_exception(exc)}")
                continue
            if isinstance(found, Migrations):
                locations[record.name] = found.path
        return locations

    def collect(self) -> Contributions:
        """Ask every active plugin for its contributions; a plugin whose hook raises or returns the wrong
        type is marked failed and contributes nothing."""
        out = Contributions()
        for record in list(self.plugins.active):
            found = self.contributions_of(record)
            if found is not None:
                out.add(found)
        return out

    def contributions_of(self, record: PluginRecord) -> Contributions | None:
        """One plugin's contributions; ``None`` when a hook raises or returns the wrong type (the plugin is then
        marked failed)."""
        ctx = self.context(record)
        try:
            gathered = {
                hook: _checked(hook, self.plugins.call(record, hook, ctx=ctx), expected)
                for hook, expected in LIST_HOOKS.items()
            }
            assets = self.plugins.call(record, "web_assets", ctx=ctx)
            if assets is not None and not isinstance(assets, WebAssets):
                raise TypeError(f"web_assets returned {type(assets).__name__}, not WebAssets")
        except Exception as exc:
            self.plugins.fail(record, PluginStatus.STARTUP_FAILED, describe_exception(exc))
            return None
        name = record.name
        out = Contributions()
        out.cards += [(name, c) for c in gathered["dashboard_cards"] if _card_ok(name, c)]
        out.health_checks += [(name, c) for c in gathered["health_checks"]]
        out.nav_links += [(name, c) for c in gathered["nav_links"]]
        out.login_providers += [(name, c) for c in gathered["login_providers"]]
        out.search_providers += [(name, c) for c in gathered["search_providers"]]
        out.title_sources += [(name, c) for c in gathered["title_sources"]]
        out.title_facts += [(name, c) for c in gathered["title_facts"]]
        out.discovery_rows += [(name, c) for c in gathered["discovery_rows"]]
        out.periodic_tasks += [(name, c) for c in gathered["periodic_tasks"]]
        out.event_subscriptions += [(name, c) for c in gathered["event_subscriptions"]]
        for quota in gathered["quotas"]:
            out.quotas[f"{name}.{quota.name}"] = quota
        for command in gathered["ws_commands"]:
            out.ws_commands[f"{name}/{command.name}"] = (name, command)
        if assets is not None:
            out.assets.append((name, assets))
        return out

    def declare_actors(self) -> list[str]:
        """Create the Dramatiq actors of every active plugin on this process's broker."""
        names: list[str] = []
        for record in list(self.plugins.active):
            try:
                specs = list(self.plugins.call(record, "actors", ctx=self.context(record)) or ())
                names += declare_actors(self.jobs, record.name, specs)
            except Exception as exc:
                self.plugins.fail(record, PluginStatus.STARTUP_FAILED, f"actors: {describe_exception(exc)}")
        return names

    async def start_plugins(self) -> None:
        """Run every active plugin's ``startup``; one that raises is marked "failed start-up"."""
        for record in list(self.plugins.active):
            await self.start_plugin(record)

    async def start_plugin(self, record: PluginRecord, timeout: float | None = None) -> bool:
        """Run one plugin's ``startup`` with its context, within ``timeout`` seconds when given; whether it started
        (one that raises or does not finish in time is marked "failed start-up" with the reason)."""
        ctx = self.context(record)
        if self.plugins.implements(record, "startup"):
            deadline = asyncio.timeout(timeout)
            try:
                async with deadline:
                    await self.plugins.call(record, "startup", ctx=ctx)
            except TimeoutError as exc:
                reason = describe_exception(exc)
                if deadline.expired():
                    reason = f"its start-up did not finish within {timeout:g} s"
                self.plugins.fail(record, PluginStatus.STARTUP_FAILED, reason)
                await self.upstreams.close_part(record.name)  # what it made before it failed serves nothing
                return False
            except Exception as exc:
                self.plugins.fail(record, PluginStatus.STARTUP_FAILED, describe_exception(exc))
                await self.upstreams.close_part(record.name)
                return False
        self.started.append(record.name)
        if self.plugins.implements(record, "shutdown"):
            # Bound now: a plugin taken out of service later is still shut down.
            self._shutdowns[record.name] = partial(self.plugins.call, record, "shutdown", ctx=ctx)
        return True

    def subscribe(self, name: str, subscriptions: Iterable[EventSubscription]) -> None:
        """Deliver to a started plugin the events it subscribed to, until it stops."""
        self._unsubscribes.setdefault(name, []).extend(
            self.events.subscribe(sub.event, sub.handler) for sub in subscriptions
        )

    async def stop_plugins(self, timeout: float = 5.0) -> None:
        for name in reversed(list(self.started)):
            await self.stop_plugin(name, timeout)

    async def stop_plugin(self, name: str, timeout: float = 5.0) -> None:
        """End a started plugin's event subscriptions, then run its ``shutdown`` (within ``timeout`` seconds; a
        failure is logged), then close the upstream clients it made (``ctx.upstreams``), even when its start-up
        failed half-way."""
        for off in self._unsubscribes.pop(name, ()):
            off()
        if name in self.started:
            self.started.remove(name)
        shutdown = self._shutdowns.pop(name, None)
        if shutdown is not None:
            try:
                async with asyncio.timeout(timeout):
                    await shutdown()
            except Exception as exc:
                log.error("plugin_shutdown_failed", plugin=name, reason=describe_exception(exc))
        # What it made of the process's upstream clients goes with it: a restart makes its own anew.
        await self.upstreams.close_part(name)

    async def close(self) -> None:
        await self.upstreams.close()
        await self.engine.dispose()


def build_runtime(
    loaded: LoadedSettings, entry_points: Iterable[EntryPointLike] | None = None, *, keyring: Keyring | None = None
) -> Runtime:
    """Load plugins and make the process's services; nothing connects yet. The keyring is the settings' (the key
    file is made on first run) unless one is given.

    Raises :class:`medianest_core.crypto.CryptoError` when the configured key cannot be used.
    """
    settings = loaded.settings
    plugins = PluginHost.load(loaded, entry_points)
    engine = db.create_engine(settings.effective_database_url)
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    runtime = Runtime(
        loaded=loaded,
        plugins=plugins,
        engine=engine,
        sessions=db.session_factory(engine),
        keyring=keyring if keyring is not None else load_keyring(settings),
        metrics=registry,
        jobs=create_broker(settings),
        events=EventBus(),
        upstreams=UpstreamPool(
            UpstreamConfig(
                connect_timeout=settings.upstream_connect_timeout,
                timeout=settings.upstream_timeout,
                breaker_failures=settings.upstream_breaker_failures,
                breaker_reset=settings.upstream_breaker_reset,
            )
        ),
    )
    from medianest_core.jobrunner import JobRunner

    runtime.jobs.runner = JobRunner(runtime)
    return runtime


async def prepare_database(runtime: Runtime, migrate: bool | None = None, *, apart: bool = False) -> db.MigrationState:
    """Bring the database to the version this code needs, or say why it cannot.

    The embedded SQLite database migrates itself; any other needs ``medianest db upgrade`` first (``migrate``
    overrides). With ``apart`` (``serve``), the migration runs in a child process, so that Alembic never stays in
    this one's memory. Raises :class:`medianest_core.db.DatabaseError` with one line.
    """
    url = str(runtime.settings.effective_database_url)
    locations = runtime.migration_locations()
    if migrate is None:
        migrate = url.startswith("sqlite")
    try:
        if migrate and apart:
            state = await db.migration_state(runtime.engine, locations)
            if not state.up_to_date:
                from medianest_core.migrate_apart import upgrade_apart

                await upgrade_apart(url, locations)
                state = await db.migration_state(runtime.engine, locations)
        elif migrate:
            state = await db.upgrade(runtime.engine, locations)
        else:
            state = await db.migration_state(runtime.engine, locations)
    except db.DatabaseError:
        raise
    except Exception as exc:
        raise db.DatabaseError(db.describe_db_error(exc, url)) from None
    if not state.up_to_date:
        raise db.DatabaseError(
            f"the database is not up to date (it has {state.describe('current')}; "
            f"this version needs {state.describe('wanted')}): run `medianest db upgrade`"
        )
    # Only now can the values the admin saved in the browser join the plugins' settings.
    from medianest_core.service_settings import apply_saved_settings

    await apply_saved_settings(runtime)
    return state
