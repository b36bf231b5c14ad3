"""schemathesis walks the whole OpenAPI document of a real ``medianest serve``, with every bundled plugin on, as
an admin, as a user and anonymously, on SQLite and on PostgreSQL: no answer is a 5xx, and every answer matches
the document (its status, content type, body and headers).

It sends what the document allows and what it does not. Valid requests must be accepted, unless the operation
says it checks a field beyond the schema (``x-medianest-refusals``) and the refusal names only such fields;
invalid ones must be refused. Plex is the fake Plex; the YouTube plugin may only read links of a port where
nothing listens, so nothing leaves this machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pytest
from medianest_overseerr.fake import FakeOverseerr
from medianest_plex.fake import FakePlex
from medianest_tmdb.fake import FakeTmdb

from medianest_core.testing import (
    DATABASE_ENV,
    Server,
    _create_database,
    _drop_database,
    free_port,
    run_cli,
    skip_or_fail,
)

T = TypeVar("T")

# Examples per operation and role; the coverage phase adds the boundary values of every parameter.
EXAMPLES = int(os.environ.get("MEDIANEST_WALK_EXAMPLES", "20"))
SEED = os.environ.get("MEDIANEST_WALK_SEED", "20261128")
# The admin walks last: it may remove the people the other walks sign in as.
ROLES = ("anonymous", "user", "admin")
PASSWORDS = {"admin": "admin-password-123", "alice": "alice-password-123"}


class FakePlexThread:
    """The fake Plex, TMDB and Overseerr on their own event loop in a background thread, while the walk's requests
    block this one."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fake-plex", daemon=True)
        self.thread.start()
        self.plex = FakePlex(friendly_name="Walk Plex")
        self.plex.add_section("1", "Films", "movie")
        self.plex.add_section("2", "YouTube", "movie")
        self.plex.add_item(
            "1", "Alien", year=1979, summary="In space no one can hear you scream.", guids=["tmdb://348"]
        )
        self.plex.add_item("1", "Aliens", year=1986, guids=["tmdb://679", "imdb://tt0090605"])
        self.run(self.plex.start())
        self.tmdb = FakeTmdb().add_sample()
        self.tmdb.add_movie("Alien", id=348, year=1979, imdb_id="tt0078748", trailer="LjLamj-b0I8")
        self.run(self.tmdb.start())
        self.overseerr = FakeOverseerr()
        self.overseerr.add_movie(348, "Alien", 1979, poster_path="/alien.jpg")
        self.overseerr.add_tv(1399, "Example Show", 2011, {1: 10, 2: 8}, tvdb_id=121361)
        self.run(self.overseerr.start())

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=30)

    def settings(self) -> dict[str, str]:
        """The environment that points MediaNest's Plex, TMDB and Overseerr plugins at these fakes."""
        return {
            "MEDIANEST_PLEX_URL": self.plex.url,
            "MEDIANEST_PLEX_PLEXTV_URL": self.plex.url,
            "MEDIANEST_PLEX_TOKEN": self.plex.owner.token,
            "MEDIANEST_TMDB_API_KEY": self.tmdb.api_key,
            "MEDIANEST_TMDB_API_URL": self.tmdb.api_url,
            "MEDIANEST_TMDB_IMAGE_URL": self.tmdb.image_url,
            "MEDIANEST_OVERSEERR_URL": self.overseerr.url,
            "MEDIANEST_OVERSEERR_API_KEY": self.overseerr.api_key,
            "MEDIANEST_OVERSEERR_WEBHOOK_SECRET": "walk-webhook-secret",
            "MEDIANEST_OVERSEERR_IMAGE_URL": f"{self.tmdb.image_url}/t/p",
        }

    def close(self) -> None:
        self.run(self.plex.stop())
        self.run(self.tmdb.stop())
        self.run(self.overseerr.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def _call(
    url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any, dict[str, str]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null"), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null"), dict(exc.headers)


def _token(base: str, username: str) -> tuple[str, int]:
    """An API token of ``username`` (signed in with their password), and its id."""
    status, signed, headers = _call(
        f"{base}/api/v1/auth/login", "POST", {"username": username, "password": PASSWORDS[username]}
    )
    assert status == 200, signed
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    status, made, _ = _call(
        f"{base}/api/v1/me/tokens",
        "POST",
        {"name": "walk"},
        {"Cookie": cookie, "X-CSRF-Token": signed["csrf_token"]},
    )
    assert status == 201, made
    return made["token"], made["id"]


@attrs.frozen
class Walk:
    """One role's walk of one server: the headers it sends, and what it must not undo."""

    base_url: str
    role: str
    headers: dict[str, str]
    token_id: int | None
    user_id: int | None
    document: dict[str, Any]


@attrs.frozen
class Served:
    base_url: str
    document: dict[str, Any]
    tokens: dict[str, tuple[str, int]]
    user_ids: dict[str, int]
    log: Path


@pytest.fixture(scope="module")
def fakes() -> Iterator[FakePlexThread]:
    fake = FakePlexThread()
    try:
        yield fake
    finally:
        fake.close()


def _serve(root: Path, database: str, fakes: FakePlexThread) -> Iterator[Served]:
    """A ``medianest serve`` with every bundled plugin, an admin and a user, and their API tokens."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIANEST_")}
    env |= {
        "MEDIANEST_DATA_DIR": str(root / "data"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "MEDIANEST_API_RATE_LIMIT": "1000000/minute",
        "MEDIANEST_LOGIN_RATE_LIMIT": "1000000/minute",
        **fakes.settings(),
        "MEDIANEST_YOUTUBE_LIBRARY_ROOT": str(root / "library"),
        "MEDIANEST_YOUTUBE_ALLOWED_HOSTS": f"127.0.0.1:{free_port()}",
        "MEDIANEST_YOUTUBE_MEDIA_HOSTS": "127.0.0.1",
        "MEDIANEST_YOUTUBE_FREE_SPACE_FLOOR_MB": "0",
    }
    admin_url = os.environ.get(DATABASE_ENV, "")
    name = ""
    if database == "postgresql":
        if not admin_url:
            skip_or_fail(f"{DATABASE_ENV} is not set")
        name, url = asyncio.run(_create_database(admin_url))
        env["MEDIANEST_DATABASE_URL"] = url
    done = run_cli("db", "upgrade", env=env)
    assert done.returncode == 0, done.stderr
    for username, role in (("admin", "create-admin"), ("alice", "create")):
        done = run_cli("user", role, username, env=env, stdin=PASSWORDS[username] + "\n")
        assert done.returncode == 0, done.stderr
    server = Server(env, root / "serve.log")
    try:
        server.wait_ready()
        tokens = {username: _token(server.url, username) for username in PASSWORDS}
        admin = {"Authorization": f"Bearer {tokens['admin'][0]}"}
        status, document, _ = _call(f"{server.url}/api/v1/openapi.json", headers=admin)
        assert status == 200, document
        _, users, _ = _call(f"{server.url}/api/v1/admin/users", headers=admin)
        ids = {user["username"]: user["id"] for user in users["users"]}
        yield Served(server.url, document, tokens, ids, root / "serve.log")
    finally:
        server.stop()
        if name:
            asyncio.run(_drop_database(admin_url, name))


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, fakes: FakePlexThread) -> Iterator[dict[str, Served]]:
    """One server per database, started when a walk first needs it."""
    started: dict[str, Served] = {}
    stack = contextlib.ExitStack()
    with stack:

        class Lazy(dict[str, Served]):
            def __missing__(self, database: str) -> Served:
                root = tmp_path_factory.mktemp(f"walk-{database}")
                served = stack.enter_context(contextlib.contextmanager(_serve)(root, database, fakes))
                self[database] = served
                return served

        yield Lazy(started)


WALKS = [
    pytest.param((database, role), id=f"{database}-{role}", marks=marks)
    for database, marks in (("sqlite", ()), ("postgresql", (pytest.mark.production,)))
    for role in ROLES
]


@pytest.fixture(scope="module", params=WALKS)
def walk(request: pytest.FixtureRequest, servers: dict[str, Served]) -> Walk:
    database, role = request.param
    served = servers[database]
    if role == "anonymous":
        return Walk(served.base_url, role, {}, None, None, served.document)
    username = "admin" if role == "admin" else "alice"
    token, token_id = served.tokens[username]
    headers = {"Authorization": f"Bearer {token}"}
    return Walk(served.base_url, role, headers, token_id, served.user_ids[username], served.document)


ST = Path(sys.executable).with_name("st")
HOOKS = Path(__file__).with_name("walk_hooks.py")


def test_every_operation_answers_as_documented(walk: Walk, tmp_path: Path) -> None:
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(walk.document), encoding="utf-8")
    headers = [arg for name, value in walk.headers.items() for arg in ("-H", f"{name}: {value}")]
    env = {
        **os.environ,
        "PYTHONPATH": str(HOOKS.parent),
        "SCHEMATHESIS_HOOKS": HOOKS.stem,
        "MEDIANEST_WALK_TOKEN_ID": str(walk.token_id or ""),
        "MEDIANEST_WALK_USER_ID": str(walk.user_id or ""),
    }
    done = subprocess.run(
        [
            str(ST),
            "run",
            str(document),
            "--url",
            walk.base_url,
            *headers,
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            SEED,
            "--exclude-checks",
            "positive_data_acceptance",
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--no-color",
            "--warnings",
            "off",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    report = done.stdout + done.stderr
    summary = report[report.rfind("SUMMARY") :] if "SUMMARY" in report else report[-3000:]
    assert done.returncode == 0, f"{walk.role} on {walk.base_url}:\n{report[-20000:]}"
    assert "No failures" in summary or "passed" in summary, summary
