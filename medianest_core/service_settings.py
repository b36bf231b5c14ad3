"""Plugins' settings as the admin sees and changes them in the browser.

Precedence: the environment, then the settings file, then what the admin saved here (stored in the
``service_settings`` table, secrets sealed with the keyring), then the settings class's defaults. A value set in
the file or the environment is shown with where it comes from and cannot be changed here. Saved values are
checked against the plugin's settings class before they are stored, and take effect at once: every process restarts
the plugin with them (:mod:`medianest_core.live_settings`). The values saved before the last change are kept, so
that the admin can put them back in one click when the new ones do not work.
"""

from __future__ import annotations

import enum
import json
import typing
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import NoneType, UnionType
from typing import TYPE_CHECKING, Any, Final

import attrs
import structlog
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from medianest_core import audit, keys, schema
from medianest_core.audit import AuditAction
from medianest_core.auth.principal import require
from medianest_core.errors import ApiError, ErrorCode
from medianest_core.events import PluginSettingsSaved
from medianest_core.health import run_check
from medianest_core.models import ServiceSetting
from medianest_core.plugins import NoSettings, PluginRecord, PluginStatus, describe_exception
from medianest_core.schema import read_body
from medianest_core.settings import HttpUrl, Secret, SettingsError, describe_error, make_converter, masked, structure
from medianest_core.types import Access, HealthCheck, HealthResult, HealthState, Route

if TYPE_CHECKING:
    from medianest_core.runtime import Runtime

log = structlog.get_logger("medianest.service_settings")

SECRET_CONTEXT: Final = "service_settings.secret"
PREVIOUS: Final = "~previous"
"""The key of the row that keeps a plugin's saved values from before their last change, all sealed as one secret (no
setting can have this key)."""


class Kind(enum.StrEnum):
    """How a setting is edited in the form."""

    TEXT = "text"
    URL = "url"
    NUMBER = "number"
    INTEGER = "integer"
    BOOL = "bool"
    SECRET = "secret"
    LIST = "list"
    CHOICE = "choice"
    PATH = "path"


@attrs.frozen
class FieldSpec:
    key: str
    kind: Kind
    optional: bool
    default: Any
    help: str | None = None
    choices: tuple[str, ...] = ()
    label: str = ""


ACRONYMS: Final = frozenset({"api", "db", "dns", "http", "https", "id", "ip", "mb", "gb", "tmdb", "tv", "ui", "url"})
"""Words of a key shown in capitals when a label is made from the key."""


def default_label(key: str) -> str:
    """The label of a field that declares none, made from its key: ``api_key`` → "API key", ``image_cache_mb`` →
    "Image cache MB"."""
    words = [w.upper() if w in ACRONYMS else w for w in key.split("_") if w]
    if not words:
        return key
    return words[0][:1].upper() + words[0][1:] + "".join(" " + w for w in words[1:])


def label_of(field: attrs.Attribute[Any]) -> str:
    """A field's label, declared in its metadata (``label``), else made from its key."""
    label = field.metadata.get("label")
    if isinstance(label, str) and label.strip():
        return " ".join(label.split())
    return default_label(field.name)


def _kind(annotation: Any) -> tuple[Kind, bool, tuple[str, ...]]:
    """The form kind of a type annotation, whether ``None`` is allowed, and the choices of a ``Literal``."""
    optional = False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, UnionType):
        args = [a for a in typing.get_args(annotation) if a is not NoneType]
        optional = len(args) < len(typing.get_args(annotation))
        annotation = args[0] if len(args) == 1 else str
        origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return Kind.CHOICE, optional, tuple(str(a) for a in typing.get_args(annotation))
    if origin in (list, tuple):
        return Kind.LIST, optional, ()
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return Kind.CHOICE, optional, tuple(str(m.value) for m in annotation)
        for cls, kind in (
            (Secret, Kind.SECRET),
            (bool, Kind.BOOL),
            (int, Kind.INTEGER),
            (float, Kind.NUMBER),
            (HttpUrl, Kind.URL),
            (Path, Kind.PATH),
        ):
            if issubclass(annotation, cls):
                return kind, optional, ()
    return Kind.TEXT, optional, ()


def fields_of(cls: type[Any]) -> list[FieldSpec]:
    """The editable fields of a plugin's settings class, in declaration order."""
    if cls is NoSettings or not attrs.has(cls):
        return []
    hints = typing.get_type_hints(cls)
    specs = []
    for field in attrs.fields(cls):
        if not field.init or field.name.startswith("_"):
            continue
        kind, optional, choices = _kind(hints.get(field.name, str))
        default = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory() if not default.takes_self else None
        elif default is attrs.NOTHING:
            default = None
        text = field.metadata.get("help")
        specs.append(
            FieldSpec(
                field.name,
                kind,
                optional,
                masked(default),
                text if isinstance(text, str) and text.strip() else None,
                choices,
                label_of(field),
            )
        )
    return specs


# ---- Stored values -------------------------------------------------------------------------------------------


async def saved_values(
    runtime: Runtime, plugin: str | None = None, *, previous: bool = False
) -> dict[str, dict[str, Any]]:
    """What the admin saved, by plugin and key; secrets opened with the keyring. With ``previous``: the values saved
    before the last change, for the plugins that have them."""
    query = select(ServiceSetting)
    if plugin is not None:
        query = query.where(ServiceSetting.plugin == plugin)
    query = query.where(ServiceSetting.key == PREVIOUS) if previous else query.where(ServiceSetting.key != PREVIOUS)
    async with runtime.sessions() as db:
        rows = (await db.scalars(query)).all()
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        value = row.value
        if row.secret is not None:
            value = runtime.keyring.decrypt(row.secret, SECRET_CONTEXT)
        if previous:
            found[row.plugin] = json.loads(str(value))
        else:
            found.setdefault(row.plugin, {})[row.key] = value
    return found


def file_and_env(runtime: Runtime, name: str) -> dict[str, Any]:
    return {k: v for k, v in runtime.loaded.plugin_section(name).items() if k != "enabled"}


def effective(runtime: Runtime, record: PluginRecord, saved: Mapping[str, Any], cls: type[Any]) -> Any:
    """The plugin's settings from saved values overlaid by the file and the environment; raises SettingsError."""
    section = {**saved, **file_and_env(runtime, record.name)}
    return structure(make_converter(), section, cls, prefix=f"plugins.{record.name}")


def settings_class(runtime: Runtime, record: PluginRecord) -> type[Any] | None:
    return runtime.plugins.settings_class(record)


async def apply_saved_settings(runtime: Runtime) -> None:
    """At start-up, once the database is ready: give each plugin the values the admin saved. A plugin whose file
    or environment settings were incomplete may be completed by them; saved values that no longer fit (the
    plugin changed) put the plugin in "bad settings" with the reason."""
    saved = await saved_values(runtime)
    for record in list(runtime.plugins.records.values()):
        if record.status not in (PluginStatus.LOADED, PluginStatus.BAD_SETTINGS) or record.plugin is None:
            continue
        mine = saved.get(record.name)
        if not mine:
            continue
        cls = settings_class(runtime, record)
        if cls is None:
            continue
        try:
            settings = effective(runtime, record, mine, cls)
        except SettingsError as exc:
            if record.status is PluginStatus.LOADED:
                runtime.plugins.fail(record, PluginStatus.BAD_SETTINGS, f"{exc} (saved in the admin pages)")
            continue
        if record.status is PluginStatus.BAD_SETTINGS:
            runtime.plugins.restore(record)
        record.settings = settings
        runtime.contexts.pop(record.name, None)  # a context made before holds the settings of the file alone
        log.debug("saved_settings_applied", plugin=record.name, keys=sorted(mine))


# ---- The admin API -------------------------------------------------------------------------------------------


def _source(runtime: Runtime, plugin: str, key: str, saved: Mapping[str, Any]) -> tuple[str, str | None]:
    where = runtime.loaded.sources.get(f"plugins.{plugin}.{key}")
    if where is not None:
        return where.kind, where.where
    if key in saved:
        return "saved", None
    return "default", None


def _shown(value: Any, kind: Kind) -> Any:
    if kind is Kind.SECRET:
        return None
    value = masked(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def service_doc(
    runtime: Runtime, record: PluginRecord, saved: Mapping[str, Any], previous: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    cls = settings_class(runtime, record)
    specs = fields_of(cls) if cls is not None else []
    current = record.settings
    fields = []
    for spec in specs:
        source, where = _source(runtime, record.name, spec.key, saved)
        if source in ("file", "env"):
            raw = file_and_env(runtime, record.name).get(spec.key)
        elif source == "saved":
            raw = saved.get(spec.key)
        else:
            raw = spec.default
        if current is not None and hasattr(current, spec.key) and source != "saved":
            raw = getattr(current, spec.key)
        fields.append(
            {
                "key": spec.key,
                "label": spec.label,
                "kind": spec.kind.value,
                "optional": spec.optional,
                "choices": list(spec.choices),
                "help": spec.help,
                "default": spec.default if spec.kind is not Kind.SECRET else None,
                "value": _shown(raw, spec.kind),
                "is_set": raw is not None and raw != "",
                "source": source,
                "where": where,
                "locked": source in ("file", "env"),
            }
        )
    pending = False
    if cls is not None and saved and record.status is PluginStatus.LOADED:
        try:
            pending = effective(runtime, record, saved, cls) != current
        except SettingsError:
            pending = True
    return {
        "plugin": record.name,
        "title": record.title,
        "version": record.version,
        "restart_needed": pending,
        "status": record.status.value,
        "status_label": record.status.label,
        "reason": record.reason,
        "can_test": record.plugin is not None and runtime.plugins.implements(record, "settings_test"),
        "can_put_back": previous is not None
        and record.status in (PluginStatus.STARTUP_FAILED, PluginStatus.BAD_SETTINGS),
        "fields": fields,
    }


async def services(runtime: Runtime) -> list[dict[str, Any]]:
    saved = await saved_values(runtime)
    previous = await saved_values(runtime, previous=True)
    return [
        service_doc(runtime, record, saved.get(record.name, {}), previous.get(record.name))
        for record in sorted(runtime.plugins.records.values(), key=lambda r: r.name)
    ]


async def _doc(runtime: Runtime, record: PluginRecord) -> dict[str, Any]:
    saved = (await saved_values(runtime, record.name)).get(record.name, {})
    previous = (await saved_values(runtime, record.name, previous=True)).get(record.name)
    return service_doc(runtime, record, saved, previous)


def _record(request: web.Request) -> PluginRecord:
    runtime = request.config_dict[keys.RUNTIME]
    record = runtime.plugins.get(request.match_info["plugin"])
    if record is None:
        raise ApiError(404, ErrorCode.NOT_FOUND, "No such plugin.")
    if record.plugin is None or settings_class(runtime, record) is None:
        raise ApiError(
            409,
            ErrorCode.CONFLICT,
            f"The {record.name} plugin is {record.status.label}: its settings cannot be changed here.",
            details={"status": record.status.value},
        )
    return record


@attrs.frozen
class ValuesBody:
    values: dict[str, Any] = schema.field(
        max_length=200,
        description="Settings by key: null (or the default) removes a saved value, an empty secret keeps it",
    )


@attrs.frozen
class ServicePath:
    plugin: str = schema.field(min_length=1, max_length=100, description="A plugin's name")


@attrs.frozen
class SettingDoc:
    """One setting: its label, how it is edited (``kind``), its value (secrets masked), and where it comes from;
    ``locked`` when the settings file or the environment sets it (``where`` then names the file or the variable)."""

    key: str
    label: str
    kind: Kind
    optional: bool
    choices: list[str]
    help: str | None
    default: Any
    value: Any
    is_set: bool
    source: str
    where: str | None
    locked: bool


@attrs.frozen
class ServiceDoc:
    """A plugin's settings; ``title`` is the name people know its service by. Saved values apply at once (the plugin
    restarts): ``status`` says how that went, ``restart_needed`` is true only while the values in effect differ from
    the saved ones. ``can_put_back`` when the plugin failed and the values saved before the last change can be put
    back (``POST .../revert``)."""

    plugin: str
    title: str
    version: str
    restart_needed: bool
    status: str
    status_label: str
    reason: str | None
    can_test: bool
    can_put_back: bool
    fields: list[SettingDoc]


@attrs.frozen
class SavedService(ServiceDoc):
    """The plugin's settings once saved, and the keys that changed; ``warning``, for the person who saved, when the
    plugin did not start with them."""

    changed: list[str]
    warning: str | None


@attrs.frozen
class ServiceList:
    services: list[ServiceDoc]


@attrs.frozen
class TestResult:
    """What the connection test found, with the form's values."""

    state: HealthState
    message: str | None
    latency_ms: float | None
    tested_at: datetime


STORED_INT: Final = 2**63 - 1
"""The largest whole number every database keeps exactly (SQLite turns a larger one into an approximate number)."""


def _too_large(value: Any) -> bool:
    if isinstance(value, list):
        return any(_too_large(item) for item in value)
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) > STORED_INT


def _candidate(
    runtime: Runtime, record: PluginRecord, saved: Mapping[str, Any], values: Mapping[str, Any]
) -> tuple[dict[str, Any], Any]:
    """Saved values with the form's changes applied, and the settings they make; field errors are a 422.

    In ``values``, ``null`` or the default removes a saved value; an empty secret keeps the saved one."""
    cls = settings_class(runtime, record)
    assert cls is not None
    specs = {spec.key: spec for spec in fields_of(cls)}
    problems: dict[str, str] = {}
    merged = dict(saved)
    for key, value in values.items():
        spec = specs.get(key)
        if spec is None:
            problems[key] = "no such setting"
            continue
        source, where = _source(runtime, record.name, key, saved)
        if source in ("file", "env"):
            problems[key] = (
                f"set in the {'environment' if source == 'env' else 'settings file'} ({where}); change it there"
            )
            continue
        if spec.kind is Kind.SECRET and value == "":
            continue
        if _too_large(value):
            problems[key] = f"a whole number beyond ±{STORED_INT:,} cannot be stored"
            continue
        if value is None or (value == "" and spec.kind is not Kind.TEXT) or value == spec.default:
            # Back to the default; a form sent whole stores only what differs from the defaults.
            merged.pop(key, None)
        else:
            merged[key] = value
    if problems:
        fields = {f"values.{key}": problem for key, problem in problems.items()}
        raise ApiError(422, ErrorCode.VALIDATION_FAILED, "Some settings cannot be saved.", details={"fields": fields})
    prefix = f"plugins.{record.name}."
    try:
        settings = effective(runtime, record, merged, cls)
    except SettingsError as exc:
        key, _, message = str(exc).partition(": ")
        field = "values." + key.removeprefix(prefix)
        raise ApiError(
            422, ErrorCode.VALIDATION_FAILED, str(exc), details={"fields": {field: message or str(exc)}}
        ) from None
    except Exception as exc:
        fields = {"values." + k.removeprefix(prefix): m for k, m in describe_error(exc, cls)}
        raise ApiError(
            422, ErrorCode.VALIDATION_FAILED, "Some settings are wrong.", details={"fields": fields}
        ) from None
    return merged, settings


async def list_services(request: web.Request) -> web.Response:
    runtime = request.config_dict[keys.RUNTIME]
    return web.json_response({"services": await services(runtime)})


async def save_service(request: web.Request) -> web.Response:
    """Check and store the form's values, then restart the plugin with them in every process; the answer says how
    the restart went here (``status``, ``reason``)."""
    record = _record(request)
    body = await read_body(request, ValuesBody)
    runtime = request.config_dict[keys.RUNTIME]

    async def store() -> list[str]:
        saved = (await saved_values(runtime, record.name)).get(record.name, {})
        merged, _ = _candidate(runtime, record, saved, body.values)
        return await _store(request, record, saved, merged)

    changed = await _again_if_raced(record, store)
    if changed or not record.active:
        await _apply(runtime, record)
    return _saved(await _doc(runtime, record), changed, record, "Saved")


async def revert_service(request: web.Request) -> web.Response:
    """Put back the values saved before the last change (after new ones failed), then restart the plugin with them
    in every process."""
    record = _record(request)
    runtime = request.config_dict[keys.RUNTIME]

    async def store() -> list[str]:
        previous = (await saved_values(runtime, record.name, previous=True)).get(record.name)
        if previous is None:
            raise ApiError(409, ErrorCode.CONFLICT, f"The {record.name} plugin has no previous settings to put back.")
        saved = (await saved_values(runtime, record.name)).get(record.name, {})
        return await _store(request, record, saved, previous, putting_back=True)

    changed = await _again_if_raced(record, store)
    await _apply(runtime, record)
    return _saved(await _doc(runtime, record), changed, record, "Put back")


def _saved(doc: dict[str, Any], changed: list[str], record: PluginRecord, done: str) -> web.Response:
    """The answer to a save: the plugin's settings, what changed, and a warning when it did not start with them."""
    warning = None if record.active else f"{done}, but {record.title} did not start: {record.status.label}."
    return web.json_response({**doc, "changed": changed, "warning": warning})


SAVE_ATTEMPTS: Final = 3


async def _again_if_raced(record: PluginRecord, store: Callable[[], Awaitable[list[str]]]) -> list[str]:
    """Run ``store`` (read the saved values, store new ones), again from the start when another save of the same
    plugin, here or in another process, added the same row in the meantime: the later save wins, never a 500."""
    for attempt in range(SAVE_ATTEMPTS):
        try:
            return await store()
        except IntegrityError:
            if attempt == SAVE_ATTEMPTS - 1:
                break
    raise ApiError(
        409, ErrorCode.CONFLICT, f"The {record.name} plugin's settings are being saved elsewhere; try again."
    )


async def _apply(runtime: Runtime, record: PluginRecord) -> None:
    # Every process restarts the plugin with the saved values, this one among them before publishing returns.
    await runtime.events.publish(PluginSettingsSaved(record.name))


async def _store(
    request: web.Request,
    record: PluginRecord,
    saved: Mapping[str, Any],
    wanted: Mapping[str, Any],
    *,
    putting_back: bool = False,
) -> list[str]:
    """Make the plugin's saved values ``wanted`` (secrets sealed), audited; the keys that changed. The values saved
    before are kept to be put back, unless these are them being put back (then nothing is left to put back)."""
    who = require(request)
    runtime = request.config_dict[keys.RUNTIME]
    cls = settings_class(runtime, record)
    assert cls is not None
    secrets = {spec.key for spec in fields_of(cls) if spec.kind is Kind.SECRET}
    changed = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
    async with runtime.sessions.begin() as db:
        rows = {
            row.key: row
            for row in (await db.scalars(select(ServiceSetting).where(ServiceSetting.plugin == record.name))).all()
        }
        for key in changed:
            row = rows.get(key)
            if key not in wanted:
                if row is not None:
                    await db.delete(row)
                continue
            if row is None:
                row = ServiceSetting(plugin=record.name, key=key)
                db.add(row)
            if key in secrets:
                row.value, row.secret = None, runtime.keyring.encrypt(str(wanted[key]), SECRET_CONTEXT)
            else:
                row.value, row.secret = wanted[key], None
            row.updated_by = who.user_id
        kept = rows.get(PREVIOUS)
        if putting_back:
            if kept is not None:
                await db.delete(kept)
        elif changed:
            if kept is None:
                kept = ServiceSetting(plugin=record.name, key=PREVIOUS)
                db.add(kept)
            kept.value, kept.secret = None, runtime.keyring.encrypt(json.dumps(dict(saved)), SECRET_CONTEXT)
            kept.updated_by = who.user_id
        if changed or putting_back:
            details: dict[str, Any] = {"keys": changed}
            if putting_back:
                details["put_back"] = True
            audit.record(
                db,
                AuditAction.SETTINGS_CHANGED,
                actor_id=who.user_id,
                target=f"plugin:{record.name}",
                details=details,
                request=request,
            )
    return changed


async def test_service(request: web.Request) -> web.Response:
    """Try the form's values (saved or not) against the service, through the plugin's ``settings_test``."""
    record = _record(request)
    runtime = request.config_dict[keys.RUNTIME]
    if not runtime.plugins.implements(record, "settings_test"):
        raise ApiError(404, ErrorCode.NOT_FOUND, f"The {record.name} plugin has no connection test.")
    body = await read_body(request, ValuesBody)
    saved = (await saved_values(runtime, record.name)).get(record.name, {})
    _, settings = _candidate(runtime, record, saved, body.values)
    try:
        check = runtime.plugins.call(record, "settings_test", ctx=runtime.context(record), settings=settings)
        if not isinstance(check, HealthCheck):
            raise TypeError(f"settings_test returned {type(check).__name__}, not HealthCheck")
        result = await run_check(check)
    except Exception as exc:
        log.exception("settings_test_failed", plugin=record.name)
        result = HealthResult(HealthState.DOWN, f"the test itself failed: {describe_exception(exc)}")
    return web.json_response(
        {
            "state": result.state.value,
            "message": result.message,
            "latency_ms": round(result.latency_ms, 1) if result.latency_ms is not None else None,
            "tested_at": datetime.now(UTC).isoformat(),
        }
    )


ROUTES = (
    Route(
        "GET", "/api/v1/admin/services", list_services, name="admin-services", access=Access.ADMIN, answer=ServiceList
    ),
    Route(
        "PUT",
        "/api/v1/admin/services/{plugin}",
        save_service,
        name="admin-service",
        access=Access.ADMIN,
        params=ServicePath,
        body=ValuesBody,
        answer=SavedService,
        errors=(409,),
        refusals={"values": "each a value the plugin's settings accept"},
    ),
    Route(
        "POST",
        "/api/v1/admin/services/{plugin}/revert",
        revert_service,
        name="admin-service-revert",
        access=Access.ADMIN,
        params=ServicePath,
        answer=SavedService,
        errors=(409,),
    ),
    Route(
        "POST",
        "/api/v1/admin/services/{plugin}/test",
        test_service,
        name="admin-service-test",
        access=Access.ADMIN,
        params=ServicePath,
        body=ValuesBody,
        answer=TestResult,
        errors=(409,),
        refusals={"values": "each a value the plugin's settings accept"},
    ),
)
