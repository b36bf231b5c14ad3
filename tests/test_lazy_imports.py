"""What an idle ``medianest serve`` has imported: nothing heavy before it is needed.

Every module a long-running server imports stays in its memory for good, so libraries that only some paths need
(migrations, yt-dlp, encryption of stored secrets, Markdown, retries of upstream calls, rate limits, password
hashing) are imported by those paths. Each case starts the real ``serve`` coroutine with the bundled plugins in a
fresh interpreter, waits for ``/health``, and reads ``sys.modules`` before any API request.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Final

import attrs
import pytest

from medianest_core.testing import free_port

# Run in a fresh interpreter: this one has imported whatever the tests before needed.
SERVE_AND_LIST: Final = """
import asyncio, json, sys

import aiohttp

from medianest_core.app import serve
from medianest_core.plugins import known_plugin_names
from medianest_core.runtime import build_runtime
from medianest_core.settings import load_settings

port = int(sys.argv[1])

async def main() -> None:
    runtime = build_runtime(load_settings(None, plugin_names=known_plugin_names()))
    stop = asyncio.Event()
    serving = asyncio.create_task(serve(runtime, "127.0.0.1", port, stop))
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            if serving.done():
                serving.result()
            try:
                async with http.get(f"http://127.0.0.1:{port}/health") as resp:
                    if resp.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        else:
            raise SystemExit("/health never answered")
        await asyncio.sleep(0.3)  # what start-up left running (pollers, the embedded worker) has had its first turn
        # Idle: no API request yet (the first one counts against the API's rate limit, and imports ``limits``).
        loaded = sorted(sys.modules)
        async with http.get(f"http://127.0.0.1:{port}/api/v1/health") as resp:
            doc = await resp.json()
    stop.set()
    await serving
    plugins = {c["name"]: c["state"] for c in doc["components"] if c["kind"] == "plugin"}
    print(json.dumps({"modules": loaded, "plugins": plugins}))

asyncio.run(main())
"""

BUNDLED: Final = ("overseerr", "plex", "tmdb", "uptime_kuma", "youtube")

# Needed only on some paths: none of them is imported by a start with default settings.
NEVER_AT_START: Final = {
    "yt_dlp": "only a YouTube download runs yt-dlp",
    # Its OpenSSL bindings: the top-level package alone is small, and some libraries read its version.
    "cryptography.hazmat": "only a stored secret is sealed or opened",
    "markdown_it": "only the guide, the FAQ or their editor renders Markdown",
    "stamina": "only a call to a service that is set up retries",
    "socketio": "only Uptime Kuma's signed-in source reads over Socket.IO",
    "limits": "only a request that counts against a rate limit or a quota needs its rates",
    "argon2": "only setting or checking a password hashes",
    "difflib": "only a misspelt setting gets a suggestion",
    # A plugin's client of its service is imported by what calls the service: none is set up by default.
    "medianest_overseerr.client": "only a set-up Overseerr is called",
    "medianest_uptime_kuma.client": "only a set-up Uptime Kuma is read",
}
# Alembic migrates the database, in a child process on a first start; a start on a database already at head only
# compares revision ids.
MIGRATIONS: Final = {"alembic": "a database at head needs no migration", "mako": "only Alembic uses Mako"}


def started_modules(data_dir: Path) -> tuple[set[str], dict[str, str]]:
    """``sys.modules`` of a ``serve`` that answers ``/health``, with every parent package, and its plugins' states."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIANEST_")}
    env["MEDIANEST_DATA_DIR"] = str(data_dir)
    env["MEDIANEST_LOG_LEVEL"] = "warning"
    done = subprocess.run(
        [sys.executable, "-c", SERVE_AND_LIST, str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    names: set[str] = set()
    for name in report["modules"]:
        parts = name.split(".")
        names.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    return names, report["plugins"]


@pytest.fixture(scope="module")
def first_and_warm(tmp_path_factory: pytest.TempPathFactory) -> tuple[set[str], set[str]]:
    data_dir = tmp_path_factory.mktemp("lazy") / "data"
    first, plugins = started_modules(data_dir)
    assert set(plugins) >= set(BUNDLED), plugins
    assert all(plugins[name] in ("up", "not_set_up") for name in BUNDLED), plugins
    warm, _ = started_modules(data_dir)
    return first, warm


@pytest.mark.parametrize("module", sorted(NEVER_AT_START))
def test_a_start_does_not_import_what_only_some_paths_need(
    first_and_warm: tuple[set[str], set[str]], module: str
) -> None:
    first, warm = first_and_warm
    assert module not in first, f"a first start imported {module}, but {NEVER_AT_START[module]}"
    assert module not in warm, f"a warm start imported {module}, but {NEVER_AT_START[module]}"


@pytest.mark.parametrize("module", sorted(MIGRATIONS))
def test_no_start_keeps_the_migration_tools(first_and_warm: tuple[set[str], set[str]], module: str) -> None:
    """A first start migrates the new database in a process of its own; a warm one only compares revisions."""
    first, warm = first_and_warm
    assert module not in first, f"a first start imported {module}: the migration runs apart"
    assert module not in warm, f"a warm start imported {module}: {MIGRATIONS[module]}"


def test_the_default_rates_are_valid() -> None:
    """Settings take a default rate without parsing it (so that a start need not import ``limits``), and the
    limits parse it at the first request that counts: a default that ``limits`` refused would fail there."""
    from limits import parse

    from medianest_core.settings import Settings

    fields = {f.name: f for f in attrs.fields(Settings)}
    names = ("api_rate_limit", "image_rate_limit", "login_rate_limit", "login_user_rate_limit")
    for name in names:
        default = fields[name].default
        assert isinstance(default, str), name
        assert parse(default).amount >= 1, f"{name}: {default!r}"
