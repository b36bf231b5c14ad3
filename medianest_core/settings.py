"""Settings: one TOML file plus ``MEDIANEST_…`` environment overrides, structured into attrs classes.

Precedence: environment, then the settings file, then defaults. Every value remembers where it came from, so
``medianest config check`` can show it. Anything wrong is reported as one :class:`SettingsError` line that
names the key. Every numeric setting, the core's and the plugins', is declared with :func:`bounded`, so that its
range is checked wherever settings are read and can be shown where they are edited.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import os
import re
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final, Literal, TypeVar, final

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
BOUNDS: Final = "medianest.bounds"

N = TypeVar("N", bound=float | None)


class SettingsError(Exception):
    """A settings problem, told in one line that names the key and where it came from."""


class InvalidValue(ValueError):
    """Raised by a settings class's validators, naming the key whose value is wrong."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@attrs.frozen
class SettingBounds:
    """The range of a numeric setting, both ends included, and the unit it is counted in.

    ``ge`` and ``le`` are named as in JSON Schema (``minimum``, ``maximum``), so forms and documents can show them.
    """

    ge: float
    le: float
    unit: str = ""

    def describe(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{number_text(self.ge)} to {number_text(self.le)}{unit}"

    def problem(self, value: float) -> str | None:
        """Why ``value`` is not allowed, or ``None``."""
        if not math.isfinite(value):
            return f"expected a finite number, got {value}"
        if not self.ge <= value <= self.le:
            return f"expected {self.describe()}, got {number_text(value)}"
        return None


def number_text(value: float) -> str:
    """A bound as people read it: ``10``, ``0.1``, ``1e+300``."""
    if isinstance(value, int) or (math.isfinite(value) and value.is_integer() and abs(value) < 1e15):
        return str(int(value))
    return f"{value:g}"


def _check_bounds(_: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
    bounds = bounds_of(attribute)
    if value is None or bounds is None:
        return
    problem = bounds.problem(value)
    if problem is not None:
        raise InvalidValue(attribute.name, problem)


def bounded(default: N, ge: float, le: float, unit: str = "", help: str | None = None, label: str | None = None) -> N:
    """A numeric settings field that only takes values from ``ge`` to ``le``; nan and infinities never pass.

    The bounds are checked whenever the settings class is made (from the file, the environment, or values saved
    in the admin pages) and are kept in the field's metadata, where :func:`bounds_of` finds them. Every numeric
    setting of the core and of a plugin is declared this way::

        interval: float = bounded(60.0, 1, 86400, "seconds", label="Check every", help="Seconds between checks.")

    ``label`` and ``help`` are what the admin pages show beside the field, as for any field declared with
    ``attrs.field(metadata={"label": …, "help": …})``.
    """
    metadata: dict[str, Any] = {BOUNDS: SettingBounds(ge, le, unit)}
    if help is not None:
        metadata["help"] = help
    if label is not None:
        metadata["label"] = label
    field: N = attrs.field(default=default, validator=_check_bounds, metadata=metadata)
    return field


def bounds_of(attribute: attrs.Attribute[Any]) -> SettingBounds | None:
    """The bounds a field was declared with by :func:`bounded`, or ``None``."""
    found = attribute.metadata.get(BOUNDS)
    return found if isinstance(found, SettingBounds) else None


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
    try:
        url: URL | None = URL(text)
    except ValueError:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"expected an http:// or https:// URL with a host, got {_redact_url(text)!r}")
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
        return redact_urls(text)
    return str(url.with_password(MASK)) if url.password else text


_URL_PASSWORD: Final = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s'\"]*):(?P<pw>[^/\s'\"]+)@", re.IGNORECASE)


def redact_urls(text: str) -> str:
    """``text`` with the password of every URL in it masked (``scheme://user:********@host``)."""
    return _URL_PASSWORD.sub(lambda m: f"{m['head']}:{MASK}@", text)


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
    number: float | None = None
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # a whole number too large for a float
            number = math.inf
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            number = float(value.strip())
    if number is None:
        raise ValueError(f"expected a number, got {value!r}")
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {value!r}")
    return number


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


YEAR: Final = 365 * 86400
_HOST_LABEL: Final = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def host_problem(text: str) -> str | None:
    """Why ``text`` cannot be an address to listen on (an IP address or a host name), or ``None``."""
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(text)
        return None
    name = text[:-1] if text.endswith(".") else text
    if name and len(name) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in name.split(".")):
        return None
    return f"expected an IP address or a host name, got {text!r}"


@attrs.frozen
class Settings:
    """The core's settings: top-level keys of the settings file; ``MEDIANEST_<KEY>`` in the environment."""

    data_dir: Path
    host: str = attrs.field(default="127.0.0.1")
    port: int = bounded(8080, 0, 65535)
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
    shutdown_timeout: float = bounded(10.0, 0, 3600, "seconds")
    session_idle_timeout: float = bounded(86400.0, 60, YEAR, "seconds")
    session_remember_lifetime: float = bounded(30 * 86400.0, 60, YEAR, "seconds")
    trusted_proxies: list[str] = attrs.field(factory=list)
    ws_queue_size: int = bounded(256, 8, 65536)
    job_heartbeat_timeout: float = bounded(60.0, 1, 86400, "seconds")
    api_rate_limit: str = attrs.field(default="100/minute")
    image_rate_limit: str = attrs.field(default="1000/minute")
    login_rate_limit: str = attrs.field(default="10/minute")
    login_user_rate_limit: str = attrs.field(default="100/hour")
    upstream_connect_timeout: float = bounded(3.0, 0.1, 120, "seconds")
    upstream_timeout: float = bounded(10.0, 0.1, 120, "seconds")
    upstream_breaker_failures: int = bounded(5, 1, 1000)
    upstream_breaker_reset: float = bounded(30.0, 1, 3600, "seconds")
    backup_every: float = bounded(86400.0, 0, YEAR, "seconds")
    backup_keep: int = bounded(7, 1, 10000)
    plugins: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)

    @host.validator
    def _check_host(self, _: attrs.Attribute[str], value: str) -> None:
        problem = host_problem(value)
        if problem is not None:
            raise InvalidValue("host", problem)

    @trusted_proxies.validator
    def _check_proxies(self, _: attrs.Attribute[list[str]], value: list[str]) -> None:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise InvalidValue("trusted_proxies", f"expected IP addresses or networks, got {item!r}") from None

    @api_rate_limit.validator
    @image_rate_limit.validator
    @login_rate_limit.validator
    @login_user_rate_limit.validator
    def _check_rate(self, attribute: attrs.Attribute[str], value: str) -> None:
        if value == attribute.default:
            return  # a default is a valid rate (a test says so): no need to import ``limits`` at start for it
        from limits import parse

        try:
            rate = parse(value)
        except ValueError:
            raise InvalidValue(attribute.name, f'expected a rate such as "100/minute", got {value!r}') from None
        if rate.amount < 1:
            raise InvalidValue(attribute.name, f"expected a rate of at least 1, got {value!r}")

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
    import difflib

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
        # A validator may quote the value it refuses: a password inside a URL is masked all the same.
        message = redact_urls(message)
        raise SettingsError(f"{key}: {message}{more}" if key else f"{message}{more}") from None


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise SettingsError(f"{path}: not valid TOML: not UTF-8 text (at line {line})") from None
    except OSError as exc:
        raise SettingsError(f"{path}: cannot be read: {exc.strerror}") from None


def _settings_file(explicit: str | Path | None, data_dir: Path) -> tuple[Path, bool]:
    """The settings file to read and whether there is one. A named file must exist; none may be a directory."""
    path = Path(explicit).expanduser() if explicit else data_dir / CONFIG_FILE_NAME
    if path.is_dir():
        raise SettingsError(f"{path}: is a directory, not a settings file")
    if explicit:
        if not path.exists():
            raise SettingsError(f"{path}: settings file not found")
        return path, True
    return path, path.is_file()


def data_dir_problem(path: Path) -> str | None:
    """Why ``path`` cannot be the data directory (it, or a folder above it, is a file), or ``None``."""
    for place in (path, *path.parents):
        try:
            if place.is_dir():
                return None
            if place.exists():
                where = "is" if place == path else f"is inside {place}, which is"
                return f"{path} {where} not a directory"
        except OSError as exc:
            return f"{path}: {exc.strerror}"
    return None


def _check_text(env: Mapping[str, str], variables: Iterable[str]) -> None:
    """Refuse a variable whose value is not UTF-8 text (Python keeps such bytes as surrogates)."""
    for var in variables:
        try:
            env.get(var, "").encode("utf-8")
        except UnicodeEncodeError:
            raise SettingsError(f"{var}: not valid UTF-8 text") from None


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


def _from(sources: Mapping[str, Source], key: str) -> str:
    """`` (from <file or variable>)`` for a message about ``key``, when it was set there."""
    where = sources.get(key)
    return f" (from {where.where})" if where is not None and where.where else ""


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
    _check_text(env, (CONFIG_ENV, DATA_DIR_ENV, "XDG_DATA_HOME"))
    explicit = config if config is not None else env.get(CONFIG_ENV) or None
    data_dir = default_data_dir(env)
    path, found = _settings_file(explicit, data_dir)
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
    _check_text(env, env_origin.values())
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
        raise SettingsError(f"{exc}{_from(sources, str(exc).split(':', 1)[0])}") from None
    problem = data_dir_problem(settings.data_dir)
    if problem is not None:
        raise SettingsError(f"data_dir: {problem}{_from(sources, 'data_dir')}")
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
