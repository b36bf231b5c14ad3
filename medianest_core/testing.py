"""The pytest plugin of MediaNest, for the core's tests and for plugin authors.

Installed with ``medianest-core`` and loaded by pytest through the ``pytest11`` entry point. It gives:

- ``medianest_settings``: a factory of :class:`LoadedSettings` in a temporary data dir;
- ``medianest_database_url``: each test that uses it runs on SQLite and on a fresh PostgreSQL database (the
  latter when ``MEDIANEST_TEST_DATABASE_URL`` is set);
- ``medianest_redis_url``: the Redis of ``MEDIANEST_TEST_REDIS_URL``, or a skip;
- ``medianest_amqp_url``: the RabbitMQ of ``MEDIANEST_TEST_AMQP_URL``, or a skip;
- ``medianest_runtime``: a factory of :class:`Runtime` for given plugins, closed after the test;
- ``medianest_client``: a factory of an aiohttp test client for a runtime, with its database ready;
- :func:`entry_point`: an in-memory entry point for a plugin object;
- :func:`installed_plugin`: the record of an installed plugin, loaded through its real entry point;
- :func:`add_user` and :func:`sign_in`: an account, and a client signed in as it.

Tests marked ``production`` need PostgreSQL and Redis. With ``MEDIANEST_REQUIRE_PRODUCTION_TESTS=1`` (as in CI)
a production test that would be skipped fails instead, so the production path is never silently untested.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
import pytest_asyncio

from medianest_core.plugins import EntryPointLike, PluginHost, PluginRecord
from medianest_core.runtime import Runtime, build_runtime, prepare_database
from medianest_core.settings import LoadedSettings, load_settings

__all__ = [
    "MemoryEntryPoint",
    "add_user",
    "entry_point",
    "installed_plugin",
    "medianest_amqp_url",
    "medianest_client",
    "medianest_data_dir",
    "medianest_database_url",
    "medianest_redis_url",
    "medianest_runtime",
    "medianest_settings",
    "sign_in",
    "skip_or_fail",
    "toml_text",
]

DATABASE_ENV = "MEDIANEST_TEST_DATABASE_URL"
REDIS_ENV = "MEDIANEST_TEST_REDIS_URL"
AMQP_ENV = "MEDIANEST_TEST_AMQP_URL"
REQUIRE_ENV = "MEDIANEST_REQUIRE_PRODUCTION_TESTS"


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
    """Skip, or fail when production tests are required."""
    if production_required():
        pytest.fail(f"{reason}, and {REQUIRE_ENV} is set", pytrace=False)
    pytest.skip(reason)


def pytest_configure(config: pytest.Config) -> None:
    from medianest_core.logs import configure_logging

    # MediaNest's own logging, through the standard library, so that ``caplog`` sees every line.
    configure_logging("info", "console")
    config.addinivalue_line(
        "markers", "production: needs PostgreSQL and Redis (MEDIANEST_TEST_DATABASE_URL, MEDIANEST_TEST_REDIS_URL)"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and production_required() and item.get_closest_marker("production") is not None:
        report.outcome = "failed"
        report.longrepr = f"production-path test skipped while {REQUIRE_ENV} is set: {report.longrepr}"


SettingsFactory = Callable[..., LoadedSettings]


@pytest.fixture
def medianest_data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def medianest_settings(medianest_data_dir: Path) -> SettingsFactory:
    """``medianest_settings(port=9000, plugins={"plex": {...}}, env={...})``: settings as ``serve`` would
    read them from a settings file in a temporary data dir."""

    def make(env: Mapping[str, str] | None = None, **values: Any) -> LoadedSettings:
        path = medianest_data_dir / "medianest.toml"
        path.write_text(toml_text(values), encoding="utf-8")
        environment = {"MEDIANEST_DATA_DIR": str(medianest_data_dir), **(env or {})}
        names = list(values.get("plugins", {}))
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
    """The Redis of ``MEDIANEST_TEST_REDIS_URL``."""
    return service_url(REDIS_ENV)


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
    given plugins (none by default), closed after the test."""
    made: list[Runtime] = []

    def make(
        entry_points: Sequence[EntryPointLike] = (), settings: LoadedSettings | None = None, **values: Any
    ) -> Runtime:
        runtime = build_runtime(settings or medianest_settings(**values), entry_points)
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


# -- a real ``medianest serve`` and a browser, for end-to-end tests ---------------------------------------------

MEDIANEST = str(Path(sys.executable).with_name("medianest"))
CHROMIUM = os.environ.get("MEDIANEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage")
"""Debian's chromium and the flags it runs with headless in a container; browsers are never downloaded."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cli(
    *args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``medianest <args>`` with ``env``, its output captured."""
    return subprocess.run(
        [MEDIANEST, *args], env=env, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )


class Server:
    """A ``medianest serve`` process on a free port, its output in ``log``; stopped with SIGTERM."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.env = env
        self.port = free_port()
        self.log = log
        self._fh = log.open("w")
        self.proc = subprocess.Popen(
            [MEDIANEST, *args, "serve", "--port", str(self.port)], env=env, stdout=self._fh, stderr=subprocess.STDOUT
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

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
        self._fh.close()
        return self.proc.returncode


@contextlib.contextmanager
def chromium_browser() -> Iterator[Any]:
    """Debian's chromium, headless, as a Playwright (sync API) ``Browser``: ``with chromium_browser() as browser``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()
