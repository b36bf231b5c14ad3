"""The pytest plugin of MediaNest, for the core's tests and for plugin authors.

Installed with ``medianest-core`` and loaded by pytest through the ``pytest11`` entry point. It gives:

- ``medianest_settings``: a factory of :class:`LoadedSettings` in a temporary data dir;
- ``medianest_database_url``: each test that uses it runs on SQLite and on a fresh PostgreSQL database (the
  latter when ``MEDIANEST_TEST_DATABASE_URL`` is set);
- ``medianest_redis_url``: the Redis of ``MEDIANEST_TEST_REDIS_URL``, or a skip;
- ``medianest_amqp_url``: the RabbitMQ of ``MEDIANEST_TEST_AMQP_URL``, or a skip;
- ``medianest_runtime``: a factory of :class:`Runtime` for given plugins, closed after the test;
- ``medianest_client``: a factory of an aiohttp test client for a runtime, with its database ready;
- ``medianest_signed_in``: a factory of a :class:`SignedInClient`, a test client signed in as a new person of a
  given role, whose requests carry the session and the CSRF token;
- :func:`entry_point`: an in-memory entry point for a plugin object;
- :func:`installed_plugin`: the record of an installed plugin, loaded through its real entry point;
- :func:`add_user` and :func:`sign_in`: an account, and a client signed in as it.

For end-to-end tests in a real browser (Playwright's sync API, which ``medianest-core[testing]`` does not install):

- ``medianest_browser``: Debian's headless chromium for the test module, or a skip without it;
- ``medianest_browsing``: a :class:`Browsing` for one test (browser contexts, screenshots); when the test fails,
  a screenshot and the HTML of every page it had open are kept in ``test-artifacts/browser/<test>/``;
- :class:`Server` (with :meth:`Server.new_user`), :func:`serve_env`, :func:`run_cli`, :func:`browser_sign_in`,
  :func:`require_chromium`, :class:`LoopThread` and the window sizes :data:`DESKTOP` and :data:`PHONE`.

Tests marked ``production`` need PostgreSQL and Redis. With ``MEDIANEST_REQUIRE_PRODUCTION_TESTS=1`` (as in CI)
a production test that would be skipped fails instead, so the production path is never silently untested.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, ParamSpec, TypeVar

import attrs
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient

from medianest_core.plugins import EntryPointLike, PluginHost, PluginRecord
from medianest_core.runtime import Runtime, build_runtime, prepare_database
from medianest_core.settings import LoadedSettings, load_settings

if TYPE_CHECKING:  # Playwright is a test dependency of the browser tests only
    from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize

__all__ = [
    "DESKTOP",
    "PHONE",
    "Browsing",
    "LoopThread",
    "MemoryEntryPoint",
    "Server",
    "SignedIn",
    "SignedInClient",
    "add_user",
    "browser_sign_in",
    "chromium_browser",
    "entry_point",
    "forget_rate_limits",
    "installed_plugin",
    "medianest_amqp_url",
    "medianest_browser",
    "medianest_browsing",
    "medianest_client",
    "medianest_data_dir",
    "medianest_database_url",
    "medianest_redis_url",
    "medianest_runtime",
    "medianest_settings",
    "medianest_signed_in",
    "require_chromium",
    "run_cli",
    "serve_env",
    "sign_in",
    "skip_or_fail",
    "start_worker",
    "stop_worker",
    "toml_text",
]

DATABASE_ENV = "MEDIANEST_TEST_DATABASE_URL"
REDIS_ENV = "MEDIANEST_TEST_REDIS_URL"
AMQP_ENV = "MEDIANEST_TEST_AMQP_URL"
REQUIRE_ENV = "MEDIANEST_REQUIRE_PRODUCTION_TESTS"
REQUIRE_BROWSER_ENV = "MEDIANEST_REQUIRE_BROWSER_TESTS"
T = TypeVar("T")
P = ParamSpec("P")


@attrs.frozen
class MemoryEntryPoint:
    """An entry point for a plugin object held in memory; ``error`` makes loading raise it."""

    name: str
    obj: Any = None
    error: BaseException | None = None
    value: str = "tests:plugin"

    def load(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.obj


def entry_point(name: str, obj: Any = None, error: BaseException | None = None) -> EntryPointLike:
    """An entry point named ``name`` that loads ``obj`` (or raises ``error``)."""
    return MemoryEntryPoint(name=name, obj=obj, error=error)


def installed_plugin(name: str, loaded: LoadedSettings) -> PluginRecord:
    """Load the installed plugin ``name`` (through its real entry point) with ``loaded`` settings."""
    from medianest_core.plugins import installed_entry_points

    eps = [ep for ep in installed_entry_points() if ep.name == name]
    assert len(eps) == 1, f"expected one installed entry point named {name!r}, found {len(eps)}"
    return PluginHost.load(loaded, eps).records[name]


def toml_text(data: Mapping[str, Any], _prefix: str = "") -> str:
    """Write plain settings (strings, numbers, booleans, lists, nested tables) as TOML."""
    lines: list[str] = []
    tables: list[tuple[str, Mapping[str, Any]]] = []
    for key, value in data.items():
        if isinstance(value, Mapping):
            tables.append((f"{_prefix}{key}", value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for name, table in tables:
        out += f"\n[{name}]\n" + toml_text(table, f"{name}.")
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def production_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").lower() in ("1", "true", "yes")


def skip_or_fail(reason: str) -> None:
    """Skip, or fail when production tests are required. The skip is reported at the test (``pytest -rs`` names
    the test's file and line), also when a fixture skips it."""
    if production_required():
        pytest.fail(f"{reason}, and {REQUIRE_ENV} is set", pytrace=False)
    # Reported at the test's own location, as a ``skipif`` mark is, not at this line.
    raise pytest.skip.Exception(reason, _use_item_location=True)


def pytest_configure(config: pytest.Config) -> None:
    from medianest_core.logs import configure_logging

    # MediaNest's own logging, through the standard library, so that ``caplog`` sees every line.
    configure_logging("info", "console")
    config.addinivalue_line(
        "markers", "production: needs PostgreSQL and Redis (MEDIANEST_TEST_DATABASE_URL, MEDIANEST_TEST_REDIS_URL)"
    )


_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
"""Each test's reports so far, by phase (``setup``, ``call``), for fixtures that act when their test failed."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and production_required() and item.get_closest_marker("production") is not None:
        report.outcome = "failed"
        report.longrepr = f"production-path test skipped while {REQUIRE_ENV} is set: {report.longrepr}"
    item.stash.setdefault(_REPORTS, {})[report.when] = report


def failed_so_far(item: pytest.Item) -> bool:
    """Whether the test ``item`` has failed (in its set-up or its call); for a fixture's teardown."""
    return any(report.failed for report in item.stash.get(_REPORTS, {}).values())


SettingsFactory = Callable[..., LoadedSettings]


@pytest.fixture
def medianest_data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


NOT_SETTINGS: Final = frozenset({"MEDIANEST_CONFIG", "MEDIANEST_DATA_DIR", "MEDIANEST_PASSWORD"})
"""``MEDIANEST_`` variables that are not settings: where the settings file and the data dir are, and the password
of ``medianest user create``."""


def _check_env(env: Mapping[str, str], plugin_names: Sequence[str]) -> None:
    """Refuse a ``MEDIANEST_`` variable that names no setting: neither a core key nor a key of a known plugin."""
    from medianest_core.settings import SettingsError, env_overrides

    _, _, origin = env_overrides(env, plugin_names)
    used = set(origin.values()) | NOT_SETTINGS
    unknown = sorted(var for var in env if var.startswith("MEDIANEST_") and var not in used)
    if unknown:
        known = ", ".join(sorted(plugin_names)) or "none"
        raise SettingsError(
            f"{', '.join(unknown)}: no such setting: not a core key, and not MEDIANEST_<PLUGIN>_<KEY> of a plugin "
            f"among the entry points given, the installed ones or plugins={{...}} (plugins known: {known})"
        )


@pytest.fixture
def medianest_settings(medianest_data_dir: Path) -> SettingsFactory:
    """``medianest_settings(port=9000, plugins={"plex": {...}}, env={...}, entry_points=[...])``: settings as
    ``serve`` would read them from a settings file in a temporary data dir.

    ``env`` is the whole environment that is read (this process's is not), with ``MEDIANEST_DATA_DIR`` set to the
    temporary data dir unless it names another. A plugin's ``MEDIANEST_<PLUGIN>_<KEY>`` applies when the plugin is
    among ``entry_points``, installed, or has a section in ``plugins``; a ``MEDIANEST_`` variable that names no
    setting raises :class:`~medianest_core.settings.SettingsError`."""

    def make(
        env: Mapping[str, str] | None = None, entry_points: Sequence[EntryPointLike] = (), **values: Any
    ) -> LoadedSettings:
        from medianest_core.plugins import known_plugin_names

        path = medianest_data_dir / "medianest.toml"
        path.write_text(toml_text(values), encoding="utf-8")
        environment = {"MEDIANEST_DATA_DIR": str(medianest_data_dir), **(env or {})}
        names = sorted(set(values.get("plugins", {})) | {ep.name for ep in entry_points} | set(known_plugin_names()))
        _check_env(environment, names)
        return load_settings(path, env=environment, plugin_names=names)

    return make


async def _create_database(admin_url: str) -> tuple[str, str]:
    import asyncpg  # type: ignore[import-untyped]

    name = f"medianest_test_{secrets.token_hex(6)}"
    dsn = admin_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base, _, _ = dsn.rpartition("/")
    return name, f"{base}/{name}"


async def _drop_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest_asyncio.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.production)])
async def medianest_database_url(request: pytest.FixtureRequest, medianest_data_dir: Path) -> AsyncIterator[str]:
    """A database URL: SQLite in the data dir, then a fresh PostgreSQL database dropped after the test."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{medianest_data_dir / 'medianest.db'}"
        return
    admin = os.environ.get(DATABASE_ENV)
    if not admin:
        skip_or_fail(f"{DATABASE_ENV} is not set")
        return
    name, url = await _create_database(admin)
    try:
        yield url.replace("postgresql://", "postgresql+asyncpg://", 1)
    finally:
        await _drop_database(admin, name)


def service_url(variable: str) -> str:
    """The URL of a test service from the environment, or a skip (a failure when production tests are required)."""
    url = os.environ.get(variable)
    if not url:
        skip_or_fail(f"{variable} is not set")
    assert url is not None
    return url


@pytest.fixture
def medianest_redis_url() -> str:
    """The Redis of ``MEDIANEST_TEST_REDIS_URL``, with no rate-limit counts left in it by an earlier test: every
    test signs in from 127.0.0.1, and ten sign-ins a minute from one address is the default limit."""
    url = service_url(REDIS_ENV)
    forget_rate_limits(url)
    return url


def forget_rate_limits(url: str) -> None:
    """Delete MediaNest's rate-limit counts from the Redis at ``url``: the moving windows (sign-ins) and the
    shared sliding windows (the API, images)."""
    from redis import Redis

    from medianest_core.ratelimit import LIMITS_PREFIX, SharedWindows

    with Redis.from_url(url) as redis:
        for prefix in (LIMITS_PREFIX, SharedWindows.PREFIX):
            found = list(redis.scan_iter(match=f"{prefix}*", count=1000))
            if found:
                redis.delete(*found)


@pytest.fixture
def medianest_amqp_url() -> str:
    """The RabbitMQ of ``MEDIANEST_TEST_AMQP_URL``."""
    return service_url(AMQP_ENV)


@attrs.frozen
class SignedIn:
    """A user signed in on a test client: their id, and the headers a write needs (the CSRF token)."""

    user_id: int
    username: str
    password: str
    csrf_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf_token}


async def add_user(runtime: Runtime, username: str, password: str, role: str = "user") -> int:
    """Create a local account directly in the database; returns its id."""
    from medianest_core.auth.accounts import create_local_user
    from medianest_core.models import Role

    async with runtime.sessions.begin() as db:
        user = await create_local_user(db, username, password, Role(role), actor_id=None, via="test")
        return user.id


async def sign_in(client: Any, username: str = "alice", role: str = "user", remember: bool = False) -> SignedIn:
    """Create an account and sign it in on ``client`` (its cookie jar keeps the session)."""
    from medianest_core import keys

    password = f"{username}-password-123"
    user_id = await add_user(client.app[keys.RUNTIME], username, password, role)
    resp = await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password, "remember": remember}
    )
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    return SignedIn(user_id=user_id, username=username, password=password, csrf_token=body["csrf_token"])


RuntimeFactory = Callable[..., Runtime]


@pytest_asyncio.fixture
async def medianest_runtime(medianest_settings: SettingsFactory) -> AsyncIterator[RuntimeFactory]:
    """``medianest_runtime(entry_points=[...], settings=None, **settings_values)``: a runtime with exactly the
    given plugins (none by default), closed after the test. ``settings_values`` (``env=`` included) go to
    ``medianest_settings``, with the plugins of ``entry_points`` known, so ``MEDIANEST_<PLUGIN>_<KEY>`` applies."""
    made: list[Runtime] = []

    def make(
        entry_points: Sequence[EntryPointLike] = (), settings: LoadedSettings | None = None, **values: Any
    ) -> Runtime:
        runtime = build_runtime(settings or medianest_settings(entry_points=entry_points, **values), entry_points)
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        await runtime.close()


@pytest_asyncio.fixture
async def medianest_client(
    medianest_runtime: RuntimeFactory,
) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """``await medianest_client(runtime=None, **runtime_args)``: an aiohttp ``TestClient`` for the app of a
    runtime whose database has been migrated; started and closed around the test.
    ``await medianest_client(browser_of=client)``: a second client (another browser, with its own cookies) on
    the same server."""
    from aiohttp.test_utils import TestClient, TestServer

    from medianest_core.app import create_app
    from medianest_core.serving import Runner

    class Served(TestServer):
        """A test server that serves as ``medianest serve`` does (requests that cannot be read included)."""

        async def _make_runner(self, **kwargs: Any) -> Runner:
            return Runner(self.app, **kwargs)

    clients: list[TestClient[Any, Any]] = []
    browsers: list[TestClient[Any, Any]] = []

    async def make(
        runtime: Runtime | None = None, browser_of: TestClient[Any, Any] | None = None, **kwargs: Any
    ) -> TestClient[Any, Any]:
        if browser_of is not None:
            # Another browser on the same server: its own cookie jar, the same app.
            other: TestClient[Any, Any] = TestClient(browser_of.server)
            browsers.append(other)
            return other
        runtime = runtime or medianest_runtime(**kwargs)
        await prepare_database(runtime, migrate=True)
        client: TestClient[Any, Any] = TestClient(Served(create_app(runtime)))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for browser in browsers:
        await browser.session.close()
    for client in clients:
        await client.close()


CSRF_HEADER: Final = "X-CSRF-Token"


class SignedInClient(TestClient[web.Request, web.Application]):
    """An aiohttp ``TestClient`` signed in as one person: its cookie jar holds their session, and every request
    carries their CSRF token (``X-CSRF-Token``), so writes pass. ``user`` (a :class:`SignedIn`) says who it is;
    ``user_id``, ``username``, ``password`` and ``role`` too; ``runtime`` is the server's runtime."""

    user: SignedIn
    role: str

    @property
    def user_id(self) -> int:
        return self.user.user_id

    @property
    def username(self) -> str:
        return self.user.username

    @property
    def password(self) -> str:
        return self.user.password

    @property
    def csrf_token(self) -> str:
        return self.user.csrf_token

    @property
    def runtime(self) -> Runtime:
        from medianest_core import keys

        app = self.app
        assert app is not None
        return app[keys.RUNTIME]


ROLES: Final = ("admin", "user")


@pytest_asyncio.fixture
async def medianest_signed_in(
    medianest_client: Callable[..., Awaitable[Any]],
) -> AsyncIterator[Callable[..., Awaitable[SignedInClient]]]:
    """``await medianest_signed_in("admin", entry_points=[...], **settings)``: a :class:`SignedInClient` on a new
    server (made as ``medianest_client`` makes it), signed in as a new local account of that role (``"admin"`` or
    ``"user"``, the default) named after it and a number (``admin1``, ``user2``, …).
    ``await medianest_signed_in("user", client=other)``: another person, in their own browser, on the server of
    ``other`` (any test client). ``username=`` chooses the name. Closed after the test."""

    made: list[SignedInClient] = []

    async def make(
        role: str = "user", *, client: TestClient[Any, Any] | None = None, username: str | None = None, **kwargs: Any
    ) -> SignedInClient:
        if role not in ROLES:
            raise ValueError(f"role: expected one of {', '.join(ROLES)}, got {role!r}")
        if client is not None and kwargs:
            raise TypeError(f"client= shares that client's server: {', '.join(sorted(kwargs))} cannot apply too")
        server = (client if client is not None else await medianest_client(**kwargs)).server
        signed = SignedInClient(server)
        made.append(signed)
        name = username or f"{role}{next(_user_numbers)}"
        password = f"{name}-password-123"
        user_id = await add_user(signed.runtime, name, password, role)
        resp = await signed.post("/api/v1/auth/login", json={"username": name, "password": password})
        assert resp.status == 200, f"signing in as {name!r} answered {resp.status}: {await resp.text()}"
        token = (await resp.json())["csrf_token"]
        signed.user = SignedIn(user_id=user_id, username=name, password=password, csrf_token=token)
        signed.role = role
        signed.session.headers[CSRF_HEADER] = token
        return signed

    yield make
    for signed in made:  # the server is medianest_client's to close
        await signed.session.close()


# -- a real ``medianest serve`` and a browser, for end-to-end tests ---------------------------------------------

MEDIANEST = str(Path(sys.executable).with_name("medianest"))
CHROMIUM = os.environ.get("MEDIANEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage")
"""Debian's chromium and the flags it runs with headless in a container; browsers are never downloaded."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env() -> dict[str, str]:
    """This process's environment without any ``MEDIANEST_`` variable (``PATH``, ``HOME``, ``LANG``, … kept), and
    ``PYTHONDONTWRITEBYTECODE=1``: the base of a ``medianest`` process's environment."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MEDIANEST_")}
    return env | {"PYTHONDONTWRITEBYTECODE": "1"}


def run_cli(
    *args: str,
    env: Mapping[str, str],
    stdin: str | None = None,
    timeout: float = 60,
    replace_env: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``medianest <args>``, its output captured (``returncode``, ``stdout``, ``stderr``), ``stdin`` as its input.

    Its environment is :func:`clean_env` (this process's without any ``MEDIANEST_`` variable, so ``PATH``, ``HOME``
    and the rest are kept, and ``PYTHONDONTWRITEBYTECODE=1``) with ``env`` on top: give it the data dir
    (``MEDIANEST_DATA_DIR``) and settings, or what :func:`serve_env` made. With ``replace_env=True`` the process
    gets exactly ``env`` and nothing else."""
    environment = dict(env) if replace_env else clean_env() | dict(env)
    return subprocess.run(
        [MEDIANEST, *args], env=environment, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )


def serve_env(
    data_dir: Path, extra: Mapping[str, str] | None = None, *, plugins: Sequence[str] | None = None
) -> dict[str, str]:
    """The environment of a ``medianest`` process with its own data dir: this one's, without any ``MEDIANEST_``
    variable, with ``extra`` on top (such as ``MEDIANEST_<PLUGIN>_<KEY>`` settings). With ``plugins``, every other
    plugin installed here is switched off (``MEDIANEST_<PLUGIN>_ENABLED=false``), so that it does not reach for a
    service that is not there."""
    from medianest_core.plugins import installed_entry_points

    env = clean_env() | {"MEDIANEST_DATA_DIR": str(data_dir)}
    if plugins is not None:
        others = sorted({ep.name for ep in installed_entry_points()} - set(plugins))
        env |= {f"MEDIANEST_{name.upper()}_ENABLED": "false" for name in others}
    return env | dict(extra or {})


_user_numbers = itertools.count(1)


class Server:
    """A ``medianest serve`` process on a free port, its output in ``log``; stopped with SIGTERM.
    ``with Server(env, log) as server:`` waits until it answers, and stops it at the end."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.env = env
        self.port = free_port()
        self.log = log
        with log.open("w") as out:  # the process writes through its own copy: this one is not kept open
            self.proc = subprocess.Popen(
                [MEDIANEST, *args, "serve", "--port", str(self.port)], env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def __enter__(self) -> Server:
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def new_user(self, stem: str = "person", role: str = "user") -> tuple[str, str]:
        """A new local account (``medianest user create``), named ``stem`` and a number never used before in this
        process: its username and password."""
        name = f"{stem}{next(_user_numbers)}"
        password = f"{name}-password-123"
        done = run_cli("user", "create", name, "--role", role, env=self.env, stdin=password + "\n")
        assert done.returncode == 0, done.stderr
        return name, password

    def wait_ready(self, timeout: float = 30) -> None:
        """Wait until ``GET /health`` answers 200; fails with the log when the process ends or is too slow."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as resp:  # noqa: S310 - http://127.0.0.1
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"serve did not answer /health within {timeout} s:\n{self.log.read_text()}")

    def get(self, path: str) -> tuple[int, Any]:
        """``GET path`` without a session: the status and the JSON answer."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as resp:  # noqa: S310 - http://127.0.0.1
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


async def start_worker(env: Mapping[str, str], log: Path, *args: str) -> asyncio.subprocess.Process:
    """A ``medianest worker`` process (``args`` are its options, such as ``"--threads", "2"``) with exactly ``env``
    (see :func:`serve_env`), its output (stdout and stderr) written to ``log``. Stop it with :func:`stop_worker`.
    The process writes through its own copy of ``log``: no file stays open in the test."""
    with log.open("w") as out:
        return await asyncio.create_subprocess_exec(
            MEDIANEST, "worker", *args, env=dict(env), stdout=out, stderr=subprocess.STDOUT
        )


async def stop_worker(proc: asyncio.subprocess.Process, timeout: float = 30) -> int:
    """Stop a process started by :func:`start_worker` (SIGTERM, then SIGKILL after ``timeout`` seconds) and return
    its exit code; a process that has already ended is left as it is."""
    if proc.returncode is None:
        proc.terminate()
        try:
            async with asyncio.timeout(timeout):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode


class LoopThread:
    """An event loop of its own in a background thread, for the fakes of a test that blocks its own thread (as
    Playwright's sync API does) while they must keep answering."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the loop and wait for its result (30 s at most)."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=30)

    def call(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``function(*args, **kwargs)`` on the loop: for what must not race with the requests it answers."""

        async def call() -> T:
            return function(*args, **kwargs)

        return self.run(call())

    def close(self) -> None:
        """Stop the loop and its thread; a subclass stops its servers first."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


# -- a browser: Debian's chromium driven by Playwright (sync API) -----------------------------------------------

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
"""The window of a desktop browser and of a phone (with ``is_mobile=True, has_touch=True``)."""
ARTIFACTS = Path("test-artifacts", "browser")
"""Where, below pytest's root directory, each test keeps its screenshots (a folder per test)."""


def require_chromium() -> None:
    """Skip the test module (call it at the top) when there is no chromium; with
    ``MEDIANEST_REQUIRE_BROWSER_TESTS`` set (as in CI), fail instead. Chromium is never downloaded."""
    if shutil.which(CHROMIUM):
        return
    if os.environ.get(REQUIRE_BROWSER_ENV):
        raise RuntimeError(f"browser tests need chromium at {CHROMIUM} (apt-get install chromium)")
    pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)


@contextlib.contextmanager
def chromium_browser() -> Iterator[Browser]:
    """Debian's chromium, headless, as a Playwright (sync API) ``Browser``: ``with chromium_browser() as browser``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


class Browsing:
    """One test's browsers: each context is one person's browser, each page a tab; ``folder`` keeps the test's
    screenshots."""

    def __init__(self, browser: Browser, folder: Path) -> None:
        self.browser = browser
        self.folder = folder
        self.contexts: list[BrowserContext] = []

    def context(self, viewport: ViewportSize = DESKTOP, **options: Any) -> BrowserContext:
        """A new browser with a window of ``viewport`` and Playwright's ``options`` (``color_scheme="dark"``,
        ``is_mobile=True``, …); what it waits for times out after 10 s."""
        context = self.browser.new_context(viewport=viewport, **options)
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        return context

    def page(self, viewport: ViewportSize = DESKTOP, **options: Any) -> Page:
        """A tab in a new browser (see :meth:`context`)."""
        return self.context(viewport, **options).new_page()

    def snap(self, page: Page, name: str, full_page: bool = True) -> None:
        """A screenshot ``<name>.png`` of the page (or of what the window shows), kept whether the test passes or
        not."""
        self.folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=self.folder / f"{name}.png", full_page=full_page)

    def keep_pages(self) -> None:
        """A screenshot and the HTML of every page still open, as ``failed-context<i>-page<j>``."""
        pages = [(i, j, page) for i, context in enumerate(self.contexts) for j, page in enumerate(context.pages)]
        if not pages:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        for i, j, page in pages:
            stem = self.folder / f"failed-context{i}-page{j}"
            try:
                page.screenshot(path=stem.with_suffix(".png"), full_page=True)
                stem.with_suffix(".html").write_text(page.content(), encoding="utf-8")
            except Exception as exc:  # a page that crashed or closed: say so, and keep the others
                stem.with_suffix(".txt").write_text(f"could not save: {exc}", encoding="utf-8")
        print(f"browser artifacts in {self.folder}")

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def browser_sign_in(page: Page, server: Server, who: tuple[str, str], then: str | None = None) -> None:
    """Sign in as ``who`` (username, password) on the sign-in page, which leads to ``then`` (the home page by
    default), and wait for its live connection."""
    from playwright.sync_api import expect

    page.goto(server.url + "/login" + ("" if then is None else "?next=" + then))
    page.get_by_label("Username").fill(who[0])
    page.get_by_label("Password").fill(who[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(server.url + (then or "/"))
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")


@pytest.fixture(scope="module")
def medianest_browser() -> Iterator[Browser]:
    """Debian's chromium for the tests of a module (see :func:`require_chromium`)."""
    require_chromium()
    with chromium_browser() as browser:
        yield browser


@pytest.fixture
def medianest_browsing(medianest_browser: Browser, request: pytest.FixtureRequest) -> Iterator[Browsing]:
    """Browsers for one test, closed after it, and its folder ``test-artifacts/browser/<test>/`` (emptied first);
    when the test fails, a screenshot and the HTML of every page they had open are kept there."""
    name = re.sub(r"[^\w.=\[\]-]+", "_", request.node.name)
    folder = request.config.rootpath / ARTIFACTS / name
    shutil.rmtree(folder, ignore_errors=True)
    browsing = Browsing(medianest_browser, folder)
    yield browsing
    try:
        if failed_so_far(request.node):
            browsing.keep_pages()
    finally:
        browsing.close()
