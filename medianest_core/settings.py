"""Settings: one TOML file plus ``MEDIANEST_…`` environment overrides, structured into attrs classes.

Precedence: environment, then the settings file, then defaults. Every value remembers where it came from, so
``medianest config check`` can show it. Anything wrong is reported as one :class:`SettingsError` line that
names the key.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import tomllib
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final, Literal, final

import attrs
import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError
from yarl import URL

ENV_PREFIX: Final = "MEDIANEST_"
CONFIG_ENV: Final = "MEDIANEST_CONFIG"
DATA_DIR_ENV: Final = "MEDIANEST_DATA_DIR"
CONFIG_FILE_NAME: Final = "medianest.toml"
MASK: Final = "********"

LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["auto", "json", "console"]


class SettingsError(Exception):
    """A settings problem, told in one line that names the key and where it came from."""


class InvalidValue(ValueError):
    """Raised by a settings class's validators, naming the key whose value is wrong."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@final
class Secret:
    """A value that never prints: ``str()``, ``repr()`` and logs show ``********``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


class HttpUrl(str):
    """An absolute ``http`` or ``https`` URL with a host."""

    __slots__ = ()


class DatabaseUrl(str):
    """A SQLAlchemy URL for SQLite (aiosqlite) or PostgreSQL (asyncpg); plain forms get the async driver."""

    __slots__ = ()

    @property
    def is_sqlite(self) -> bool:
        return self.startswith("sqlite")


class RedisUrl(str):
    __slots__ = ()


class BrokerUrl(str):
    """``redis://…`` or ``amqp://…``; unset means the in-process broker."""

    __slots__ = ()


def _http_url(value: object, _: type) -> HttpUrl:
    text = _text(value)
    url = URL(text)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"expected an http:// or https:// URL with a host, got {text!r}")
    return HttpUrl(text.rstrip("/"))


_DB_DRIVERS: Final = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def _database_url(value: object, _: type) -> DatabaseUrl:
    text = _text(value)
    scheme, sep, rest = text.partition("://")
    if not sep or scheme not in _DB_DRIVERS:
        raise ValueError(f"expected a sqlite:/// or postgresql:// URL, got {_redact_url(text)!r}")
    return DatabaseUrl(f"{_DB_DRIVERS[scheme]}://{rest}")


def _scheme_url(schemes: tuple[str, ...], cls: type[str]) -> Callable[[object, type], str]:
    def structure(value: object, _: type) -> str:
        text = _text(value)
        url = URL(text)
        if url.scheme not in schemes:
            wanted = " or ".join(f"{s}://" for s in schemes)
            raise ValueError(f"expected a {wanted} URL, got {_redact_url(text)!r}")
        return cls(text)

    return structure


def _redact_url(text: str) -> str:
    try:
        url = URL(text)
    except ValueError:
        return text
    return str(url.with_password(MASK)) if url.password else text


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value.strip()


_TRUE: Final = {"1", "true", "yes", "on"}
_FALSE: Final = {"0", "false", "no", "off"}


def _bool(value: object, _: type) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"expected true or false, got {value!r}")


def _int(value: object, _: type) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ValueError(f"expected a whole number, got {value!r}")


def _float(value: object, _: type) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise ValueError(f"expected a number, got {value!r}")


def _str(value: object, _: type) -> str:
    if isinstance(value, str):
        return value
    raise ValueError(f"expected a string, got {value!r}")


def _path(value: object, _: type) -> Path:
    return Path(_text(value)).expanduser()


def _secret(value: object, _: type) -> Secret:
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return Secret(value)


def make_converter() -> cattrs.Converter:
    """The converter for every settings class, the core's and the plugins': strict keys, friendly types.

    Values from the environment are strings; they are read as numbers, booleans and comma-separated lists
    where the field wants one.
    """
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    conv.register_structure_hook(bool, _bool)
    conv.register_structure_hook(int, _int)
    conv.register_structure_hook(float, _float)
    conv.register_structure_hook(str, _str)
    conv.register_structure_hook(Path, _path)
    conv.register_structure_hook(Secret, _secret)
    conv.register_structure_hook(HttpUrl, _http_url)
    conv.register_structure_hook(DatabaseUrl, _database_url)
    conv.register_structure_hook(RedisUrl, _scheme_url(("redis", "rediss", "unix"), RedisUrl))
    conv.register_structure_hook(BrokerUrl, _scheme_url(("redis", "rediss", "amqp", "amqps"), BrokerUrl))

    def is_list(t: Any) -> bool:
        return typing.get_origin(t) in (list, tuple, frozenset, set)

    def list_hook(t: Any) -> Callable[[Any, Any], Any]:
        origin = typing.get_origin(t)
        args = typing.get_args(t)
        item = args[0] if args else str

        def structure(value: Any, _: Any) -> Any:
            if isinstance(value, str):
                value = [part.strip() for part in value.split(",") if part.strip()]
            if not isinstance(value, list | tuple):
                raise ValueError(f"expected a list, got {value!r}")
            return origin(conv.structure(v, item) for v in value)

        return structure

    conv.register_structure_hook_factory(is_list, list_hook)

    def is_literal(t: Any) -> bool:
        return typing.get_origin(t) is Literal

    def literal_hook(t: Any) -> Callable[[Any, Any], Any]:
        choices = typing.get_args(t)

        def structure(value: Any, _: Any) -> Any:
            if value in choices:
                return value
            shown = ", ".join(str(c) for c in choices)
            raise ValueError(f"expected one of {shown}, got {value!r}")

        return structure

    conv.register_structure_hook_factory(is_literal, literal_hook)
    return conv


def default_data_dir(env: Mapping[str, str]) -> Path:
    if env.get(DATA_DIR_ENV):
        return Path(env[DATA_DIR_ENV]).expanduser()
    xdg = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg).expanduser() / "medianest"


@attrs.frozen
class Settings:
    """The core's settings: top-level keys of the settings file; ``MEDIANEST_<KEY>`` in the environment."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = attrs.field(default=8080)
    public_url: HttpUrl | None = None
    database_url: DatabaseUrl | None = None
    redis_url: RedisUrl | None = None
    broker_url: BrokerUrl | None = None
    secret_key: Secret | None = None
    secret_key_file: Path | None = None
    log_level: LogLevel = "info"
    log_format: LogFormat = "auto"
    metrics_enabled: bool = True
    metrics_token: Secret | None = None
    shutdown_timeout: float = 10.0
    session_idle_timeout: float = attrs.field(default=86400.0)
    session_remember_lifetime: float = attrs.field(default=30 * 86400.0)
    trusted_proxies: list[str] = attrs.field(factory=list)
    ws_queue_size: int = attrs.field(default=256)
    job_heartbeat_timeout: float = attrs.field(default=60.0)
    api_rate_limit: str = attrs.field(default="100/minute")
    login_rate_limit: str = attrs.field(default="10/minute")
    upstream_connect_timeout: float = attrs.field(default=3.0)
    upstream_timeout: float = attrs.field(default=10.0)
    upstream_breaker_failures: int = attrs.field(default=5)
    upstream_breaker_reset: float = attrs.field(default=30.0)
    plugins: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)

    @port.validator
    def _check_port(self, _: attrs.Attribute[int], value: int) -> None:
        if not 0 <= value <= 65535:
            raise InvalidValue("port", f"expected a port between 0 and 65535, got {value}")

    @session_idle_timeout.validator
    @session_remember_lifetime.validator
    def _check_duration(self, attribute: attrs.Attribute[float], value: float) -> None:
        if value < 60:
            raise InvalidValue(attribute.name, f"expected at least 60 seconds, got {value:g}")

    @trusted_proxies.validator
    def _check_proxies(self, _: attrs.Attribute[list[str]], value: list[str]) -> None:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise InvalidValue("trusted_proxies", f"expected IP addresses or networks, got {item!r}") from None

    @job_heartbeat_timeout.validator
    def _check_heartbeat(self, _: attrs.Attribute[float], value: float) -> None:
        if value < 1:
            raise InvalidValue("job_heartbeat_timeout", f"expected at least 1 second, got {value:g}")

    @ws_queue_size.validator
    def _check_queue(self, _: attrs.Attribute[int], value: int) -> None:
        if value < 8:
            raise InvalidValue("ws_queue_size", f"expected at least 8, got {value}")

    @upstream_connect_timeout.validator
    @upstream_timeout.validator
    def _check_upstream_timeout(self, attribute: attrs.Attribute[float], value: float) -> None:
        if not 0.1 <= value <= 120:
            raise InvalidValue(attribute.name, f"expected 0.1 to 120 seconds, got {value:g}")

    @upstream_breaker_failures.validator
    def _check_breaker_failures(self, _: attrs.Attribute[int], value: int) -> None:
        if value < 1:
            raise InvalidValue("upstream_breaker_failures", f"expected at least 1, got {value}")

    @upstream_breaker_reset.validator
    def _check_breaker_reset(self, _: attrs.Attribute[float], value: float) -> None:
        if not 1 <= value <= 3600:
            raise InvalidValue("upstream_breaker_reset", f"expected 1 to 3600 seconds, got {value:g}")

    @api_rate_limit.validator
    @login_rate_limit.validator
    def _check_rate(self, attribute: attrs.Attribute[str], value: str) -> None:
        from limits import parse

        try:
            parse(value)
        except ValueError:
            raise InvalidValue(attribute.name, f'expected a rate such as "100/minute", got {value!r}') from None

    @property
    def effective_database_url(self) -> DatabaseUrl:
        if self.database_url is not None:
            return self.database_url
        return DatabaseUrl(f"sqlite+aiosqlite:///{self.data_dir / 'medianest.db'}")


CORE_KEYS: Final = tuple(a.name for a in attrs.fields(Settings) if a.name != "plugins")
PLUGIN_CORE_KEYS: Final = ("enabled",)


@attrs.frozen
class Source:
    """Where one value came from: ``default``, ``file`` (with its path) or ``env`` (with the variable)."""

    kind: Literal["default", "file", "env", "database"]
    where: str | None = None

    def __str__(self) -> str:
        return self.kind if self.where is None else f"{self.kind} {self.where}"


@attrs.frozen
class LoadedSettings:
    settings: Settings
    config_path: Path
    config_found: bool
    sources: Mapping[str, Source]

    def plugin_section(self, name: str) -> dict[str, Any]:
        return dict(self.settings.plugins.get(name, {}))

    def plugin_enabled(self, name: str) -> bool:
        """Whether ``[plugins.<name>]`` leaves the plugin on; raises ValueError for a value that is no boolean."""
        value = self.settings.plugins.get(name, {}).get("enabled", True)
        return _bool(value, bool)

    def source(self, key: str) -> Source:
        return self.sources.get(key, Source("default"))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def describe_error(exc: BaseException, cls: type[Any], prefix: str = "") -> list[tuple[str, str]]:
    """Turn a cattrs structuring error into ``(key, message)`` pairs, keys dotted from ``prefix``."""

    out: list[tuple[str, str]] = []

    def walk(err: BaseException, path: str, owner: type[Any]) -> None:
        if isinstance(err, ForbiddenExtraKeysError):
            names = [a.name for a in attrs.fields(err.cl)] if attrs.has(err.cl) else []
            for extra in sorted(err.extra_fields):
                key = f"{path}.{extra}" if path else extra
                out.append((key, f"unknown key{did_you_mean(extra, names)}"))
            return
        if isinstance(err, ClassValidationError):
            for sub in err.exceptions:
                name = None
                sub_owner = owner
                for note in getattr(sub, "__notes__", []):
                    if isinstance(note, cattrs.AttributeValidationNote):
                        name = note.name
                        sub_owner = note.type if isinstance(note.type, type) else owner
                sub_path = path if name is None else (f"{path}.{name}" if path else name)
                walk(sub, sub_path, sub_owner)
            return
        if isinstance(err, ExceptionGroup):
            for sub in err.exceptions:
                walk(sub, path, owner)
            return
        if isinstance(err, InvalidValue):
            out.append((f"{path}.{err.key}" if path else err.key, str(err)))
            return
        if isinstance(err, KeyError):
            out.append((path, "is required"))
            return
        message = str(err) or type(err).__name__
        if isinstance(err, TypeError) and "required positional argument" in message:
            missing = message.rsplit(":", 1)[-1].strip().strip("'")
            out.append((f"{path}.{missing}" if path else missing, "is required"))
            return
        out.append((path, message))

    walk(exc, prefix, cls)
    return out


def structure(conv: cattrs.Converter, data: Mapping[str, Any], cls: type[Any], prefix: str = "") -> Any:
    """Structure ``data`` into ``cls`` or raise :class:`SettingsError` naming the first bad key."""
    try:
        return conv.structure(dict(data), cls)
    except (ClassValidationError, ForbiddenExtraKeysError, ValueError, TypeError) as exc:
        problems = describe_error(exc, cls, prefix) or [(prefix, str(exc))]
        key, message = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise SettingsError(f"{key}: {message}{more}" if key else f"{message}{more}") from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise SettingsError(f"{path}: cannot be read: {exc.strerror}") from None


def env_overrides(
    env: Mapping[str, str], plugin_names: Iterable[str]
) -> tuple[dict[str, str], dict[str, dict[str, str]], dict[str, str]]:
    """Split ``MEDIANEST_…`` variables into core keys and plugin keys (``MEDIANEST_<PLUGIN>_<KEY>``).

    Returns (core values, plugin values, the variable each key came from). Variables that name neither, such as
    ``MEDIANEST_CONFIG`` or ``MEDIANEST_PASSWORD``, are not settings and are left alone.
    """
    core: dict[str, str] = {}
    plugins: dict[str, dict[str, str]] = {}
    origin: dict[str, str] = {}
    names = sorted(set(plugin_names), key=len, reverse=True)
    for var, value in env.items():
        if not var.startswith(ENV_PREFIX):
            continue
        key = var[len(ENV_PREFIX) :].lower()
        if key in CORE_KEYS:
            core[key] = value
            origin[key] = var
            continue
        for name in names:
            if key.startswith(name + "_") and len(key) > len(name) + 1:
                sub = key[len(name) + 1 :]
                plugins.setdefault(name, {})[sub] = value
                origin[f"plugins.{name}.{sub}"] = var
                break
    return core, plugins, origin


def load_settings(
    config: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    plugin_names: Iterable[str] = (),
) -> LoadedSettings:
    """Read the settings file and the environment into :class:`LoadedSettings`.

    ``config`` (or ``MEDIANEST_CONFIG``) names the file; it must then exist. Without it the file is
    ``<data dir>/medianest.toml``, and a missing one means defaults. ``plugin_names`` are the installed plugins,
    so that ``MEDIANEST_<PLUGIN>_<KEY>`` can be told apart from core keys.
    """
    env = dict(os.environ if env is None else env)
    explicit = config if config is not None else env.get(CONFIG_ENV) or None
    data_dir = default_data_dir(env)
    path = Path(explicit).expanduser() if explicit else data_dir / CONFIG_FILE_NAME
    found = path.is_file()
    if explicit and not found:
        raise SettingsError(f"{path}: settings file not found")
    raw: dict[str, Any] = _read_toml(path) if found else {}
    file_where = str(path)

    sources: dict[str, Source] = {}
    plugins_raw = raw.pop("plugins", {})
    if not isinstance(plugins_raw, dict) or not all(isinstance(v, dict) for v in plugins_raw.values()):
        raise SettingsError(f"plugins: expected [plugins.<name>] tables (in {file_where})")
    for key in raw:
        sources[key] = Source("file", file_where)
    for name, section in plugins_raw.items():
        for key in section:
            sources[f"plugins.{name}.{key}"] = Source("file", file_where)

    names = set(plugin_names) | set(plugins_raw)
    env_core, env_plugins, env_origin = env_overrides(env, names)
    raw.update(env_core)
    for name, section in env_plugins.items():
        plugins_raw.setdefault(name, {}).update(section)
    for key, var in env_origin.items():
        sources[key] = Source("env", var)
    if DATA_DIR_ENV in env and "data_dir" not in raw:
        raw["data_dir"] = env[DATA_DIR_ENV]
        sources["data_dir"] = Source("env", DATA_DIR_ENV)
    raw.setdefault("data_dir", str(data_dir))

    conv = make_converter()
    try:
        settings = structure(conv, raw, Settings)
    except SettingsError as exc:
        key = str(exc).split(":", 1)[0]
        where = sources.get(key)
        suffix = f" (from {where.where})" if where is not None and where.where else ""
        raise SettingsError(f"{exc}{suffix}") from None
    settings = attrs.evolve(settings, plugins=plugins_raw)
    return LoadedSettings(settings=settings, config_path=path, config_found=found, sources=sources)


def masked(value: Any) -> Any:
    """A value as it may be shown: secrets masked, passwords in URLs masked, paths as text."""
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, DatabaseUrl | RedisUrl | BrokerUrl | HttpUrl):
        return _redact_url(str(value))
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked(v) for v in value]
    return value


def settings_items(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Flatten an attrs settings object into ``(dotted key, shown value)`` pairs, secrets masked."""
    items: list[tuple[str, Any]] = []
    for field in attrs.fields(type(obj)):
        if field.name == "plugins" and isinstance(obj, Settings):
            continue
        value = getattr(obj, field.name)
        key = f"{prefix}{field.name}"
        if attrs.has(type(value)):
            items.extend(settings_items(value, key + "."))
        else:
            items.append((key, masked(value)))
    return items
