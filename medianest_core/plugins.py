"""Finding, checking and calling plugins, each with a status of its own.

Plugins come from entry points in the group ``medianest.plugins``. Each gets a :class:`PluginStatus` and a reason;
one that fails to import, has bad settings or fails at start-up is reported and left out, and the daemon goes on.
A plugin manager is made per :class:`PluginHost`, never at import time.
"""

from __future__ import annotations

import enum
import traceback
from collections.abc import Iterable, Sequence
from importlib import metadata
from typing import Any, Final, Protocol

import attrs
import pluggy
import structlog

from medianest_core import PROJECT, hookspecs
from medianest_core.settings import LoadedSettings, SettingsError, make_converter, redact_urls, structure

ENTRY_POINT_GROUP: Final = "medianest.plugins"

log = structlog.get_logger("medianest.plugins")


class PluginStatus(enum.StrEnum):
    LOADED = "loaded"
    DISABLED = "disabled"
    IMPORT_FAILED = "import_failed"
    BAD_SETTINGS = "bad_settings"
    STARTUP_FAILED = "startup_failed"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS: Final = {
    PluginStatus.LOADED: "loaded",
    PluginStatus.DISABLED: "disabled",
    PluginStatus.IMPORT_FAILED: "failed to import",
    PluginStatus.BAD_SETTINGS: "bad settings",
    PluginStatus.STARTUP_FAILED: "failed start-up",
}


class EntryPointLike(Protocol):
    """What the loader needs of an entry point; :class:`importlib.metadata.EntryPoint` is one."""

    @property
    def name(self) -> str: ...

    @property
    def value(self) -> str: ...

    def load(self) -> Any: ...


@attrs.frozen
class NoSettings:
    """The settings class of a plugin that has none."""


MAX_TITLE: Final = 60


def default_title(name: str) -> str:
    """The title of a plugin that gives none: its name in words ("uptime_kuma" → "Uptime kuma")."""
    words = name.replace("_", " ")
    return words[:1].upper() + words[1:]


def title_of(obj: Any, name: str) -> str:
    """A plugin's ``title``, the name people know its service by ("Uptime Kuma"), on one line; without one (or
    with one that is not a non-empty string) its name in words."""
    title = getattr(obj, "title", None)
    if isinstance(title, str) and title.strip():
        return " ".join(title.split())[:MAX_TITLE]
    if title is not None:
        log.warning("plugin_title_ignored", plugin=name, reason=f"title is {type(title).__name__}, not text")
    return default_title(name)


@attrs.define
class PluginRecord:
    """One plugin: where it came from, its status and why, and once loaded, the object and its settings."""

    name: str
    version: str
    status: PluginStatus
    reason: str | None = None
    distribution: str | None = None
    plugin: Any = None
    settings: Any = None
    title: str = attrs.field(default=attrs.Factory(lambda self: default_title(self.name), takes_self=True))
    """What people call the plugin's service: the plugin's ``title``, else its name in words."""
    restarting: bool = False
    """While the plugin restarts with new settings (:mod:`medianest_core.live_settings`): it is out of service."""
    answering: int = 0
    """Requests to the plugin's routes being answered now: a restart lets them finish first."""

    @property
    def active(self) -> bool:
        return self.status is PluginStatus.LOADED and not self.restarting

    @property
    def set_up(self) -> bool:
        """Whether the plugin's service is set up, as its settings say in a ``configured`` property (read as true
        or false); settings without one (and a plugin without settings) are set up. A ``configured`` that raises,
        or is a method rather than a property, counts as set up, with a warning: the plugin's checks then run and
        tell what is wrong."""
        try:
            configured = getattr(self.settings, "configured", True)
        except Exception as exc:
            log.warning("plugin_configured_failed", plugin=self.name, reason=describe_exception(exc))
            return True
        if callable(configured):
            log.warning("plugin_configured_ignored", plugin=self.name, reason="configured is a method, not a property")
            return True
        return bool(configured)

    def fail(self, status: PluginStatus, reason: str) -> None:
        """Set the status and its reason. The reason is shown to people (the command line, the health API, the
        admin pages, the log), so a password inside a URL it quotes is masked."""
        self.status = status
        self.reason = redact_urls(reason)
        log.warning("plugin_failed", plugin=self.name, status=status.value, reason=self.reason)


def describe_exception(exc: BaseException) -> str:
    """A one-line reason: the exception's type and message, and where in the plugin it was raised."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        text += f" (at {last.filename.rsplit('/', 1)[-1]}:{last.lineno})"
    return text


def installed_entry_points() -> list[EntryPointLike]:
    return list(metadata.entry_points(group=ENTRY_POINT_GROUP))


def _distribution(ep: EntryPointLike) -> tuple[str | None, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, "unknown"
    return str(dist.metadata["Name"]), str(dist.version)


class PluginHost:
    """The plugins of one process: their records and the pluggy manager holding the active ones."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}

    @classmethod
    def load(cls, loaded: LoadedSettings, entry_points: Iterable[EntryPointLike] | None = None) -> PluginHost:
        """Find, import, check and configure every plugin; never raises for a plugin's fault."""
        host = cls()
        eps = installed_entry_points() if entry_points is None else list(entry_points)
        for ep in sorted(eps, key=lambda e: e.name):
            host._load_one(ep, loaded)
        return host

    def _load_one(self, ep: EntryPointLike, loaded: LoadedSettings) -> None:
        dist_name, version = _distribution(ep)
        record = PluginRecord(name=ep.name, version=version, status=PluginStatus.LOADED, distribution=dist_name)
        if ep.name in self.records:
            record.fail(PluginStatus.IMPORT_FAILED, f"another plugin is already named {ep.name!r}")
            self.records[f"{ep.name} ({ep.value})"] = record
            return
        self.records[ep.name] = record
        try:
            enabled = loaded.plugin_enabled(ep.name)
        except ValueError as exc:
            where = loaded.sources.get(f"plugins.{ep.name}.enabled")
            suffix = f" (from {where.where})" if where is not None and where.where else ""
            record.fail(PluginStatus.BAD_SETTINGS, f"plugins.{ep.name}.enabled: {exc}{suffix}")
            return
        if not enabled:
            record.status = PluginStatus.DISABLED
            record.reason = f"enabled = false in [plugins.{ep.name}]"
            return
        try:
            obj = ep.load()
        except Exception as exc:
            record.fail(PluginStatus.IMPORT_FAILED, describe_exception(exc))
            return
        name = getattr(obj, "name", None)
        if name != ep.name:
            record.fail(
                PluginStatus.IMPORT_FAILED,
                f"entry point {ep.name!r} ({ep.value}) loads a plugin named {name!r}; the names must match",
            )
            return
        record.version = str(getattr(obj, "version", record.version))
        record.title = title_of(obj, ep.name)
        try:
            self.pm.register(obj, name=ep.name)
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            if self.pm.is_registered(obj):
                self.pm.unregister(obj)
            record.fail(PluginStatus.IMPORT_FAILED, " ".join(str(exc).split()))
            return
        record.plugin = obj
        try:
            settings_cls = self.call(record, "settings_class") or NoSettings
            section = {k: v for k, v in loaded.plugin_section(ep.name).items() if k != "enabled"}
            record.settings = structure(make_converter(), section, settings_cls, prefix=f"plugins.{ep.name}")
        except SettingsError as exc:
            key = str(exc).split(":", 1)[0]
            where = loaded.sources.get(key)
            suffix = f" (from {where.where})" if where is not None and where.where else ""
            self._drop(record, PluginStatus.BAD_SETTINGS, f"{exc}{suffix}")
            return
        except Exception as exc:
            self._drop(record, PluginStatus.BAD_SETTINGS, describe_exception(exc))
            return
        log.debug("plugin_loaded", plugin=ep.name, version=record.version)

    def _drop(self, record: PluginRecord, status: PluginStatus, reason: str) -> None:
        if record.plugin is not None and self.pm.is_registered(record.plugin):
            self.pm.unregister(record.plugin)
        record.fail(status, reason)

    def restore(self, record: PluginRecord) -> None:
        """Put back in service a plugin that was taken out for its settings, once they are good."""
        if record.plugin is not None and not self.pm.is_registered(record.plugin):
            self.pm.register(record.plugin, name=record.name)
        record.status, record.reason = PluginStatus.LOADED, None
        log.info("plugin_restored", plugin=record.name)

    def fail(self, record: PluginRecord, status: PluginStatus, reason: str) -> None:
        """Take a plugin out of service: its hooks are no longer called, its routes answer 503."""
        self._drop(record, status, reason)

    @property
    def active(self) -> list[PluginRecord]:
        return [r for r in self.records.values() if r.active]

    def get(self, name: str) -> PluginRecord | None:
        return self.records.get(name)

    def implements(self, record: PluginRecord, hook: str) -> bool:
        caller = getattr(self.pm.hook, hook)
        return any(impl.plugin is record.plugin for impl in caller.get_hookimpls())

    def settings_class(self, record: PluginRecord) -> type[Any] | None:
        """The plugin's settings class (:class:`NoSettings` when it has none), whether it is in service or not: the
        admin changes the settings of a plugin that failed too. ``None`` when the hook raises or gives no class."""
        if record.plugin is None:
            return None
        try:
            if self.pm.is_registered(record.plugin):
                cls = self.call(record, "settings_class")
            else:
                cls = None
                for attr in dir(record.plugin):
                    opts = self.pm.parse_hookimpl_opts(record.plugin, attr)
                    if opts is not None and (opts.get("specname") or attr) == "settings_class":
                        cls = getattr(record.plugin, attr)()
                        break
        except Exception:
            return None
        cls = cls or NoSettings
        return cls if isinstance(cls, type) else None

    def call(self, record: PluginRecord, hook: str, **kwargs: Any) -> Any:
        """Call one plugin's implementation of ``hook`` (``None`` if it has none), passing only the arguments
        it asks for. Exceptions propagate: the caller decides what a failure means."""
        caller = getattr(self.pm.hook, hook)
        for impl in caller.get_hookimpls():
            if impl.plugin is record.plugin:
                return impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
        return None

    def collect(self, hook: str, contexts: dict[str, Any], **kwargs: Any) -> list[tuple[PluginRecord, Any]]:
        """Call ``hook`` on every active plugin with its own ``ctx``; a plugin that raises is marked failed."""
        results: list[tuple[PluginRecord, Any]] = []
        for record in self.active:
            try:
                value = self.call(record, hook, ctx=contexts.get(record.name), **kwargs)
            except Exception as exc:
                self.fail(record, PluginStatus.STARTUP_FAILED, f"{hook}: {describe_exception(exc)}")
                continue
            if value is not None:
                results.append((record, value))
        return results

    def summary(self) -> list[dict[str, Any]]:
        """Each plugin as ``medianest plugins --json`` shows it; ``set_up`` is ``null`` for a plugin not loaded."""
        return [
            {
                "name": r.name,
                "title": r.title,
                "version": r.version,
                "status": r.status.value,
                "status_label": r.status.label,
                "set_up": r.set_up if r.active else None,
                "reason": r.reason,
            }
            for r in self.records.values()
        ]


def known_plugin_names(entry_points: Sequence[EntryPointLike] | None = None) -> list[str]:
    """Names of the installed plugins, without importing them."""
    eps = installed_entry_points() if entry_points is None else entry_points
    return sorted({ep.name for ep in eps})
