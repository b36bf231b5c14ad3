"""Request throughput: ``medianest serve`` beside a bare aiohttp JSON handler, side by side on this machine.

Two servers start, one process each: a bare aiohttp application whose one handler answers ``{"ok": true}`` as JSON
on every path, and ``medianest serve`` on a fresh data directory with the bundled plugins as it has them by default
(SQLite embedded; with ``--postgres``, a fresh PostgreSQL database, dropped afterwards, and a Redis database of
the benchmark's own, emptied before and after). An admin is created with the CLI, signs in (a session cookie) and
creates an API token. Four requests are then measured, each against both servers with the same headers:
``GET /api/v1/auth/session`` with the token, the same with the cookie, the dashboard ``/`` (five cards) with the
cookie, and the public ``GET /health``. Every measurement is ``--connections`` concurrent
connections for ``--seconds``; the two sides alternate (bare, MediaNest, bare, MediaNest, ...) for ``--rounds``
rounds and the medians are quoted. The load comes from ``wrk`` (one thread) when it is on PATH, otherwise from a
Python load generator (aiohttp's client in two processes); the output says which. After each dashboard
measurement the dashboard is asked for 200 more times on one connection and its p99 server time is read from the
``Server-Timing`` header.

    .venv/bin/python benchmarks/api_throughput.py [--rounds 3] [--seconds 5] [--connections 32] [--postgres]

This is a measurement, not a test: it exits 0 when a figure misses its goal and says ``OVER TARGET`` on that line;
it exits 1 when MediaNest does not start, or answers a measured request with anything but 200.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Final

import aiohttp
from common import (
    MEDIANEST,
    bench_env,
    create_admin,
    create_postgres_database,
    drop_postgres_database,
    empty_redis,
    free_port,
    percentile,
    sign_in,
    start_server,
    stop_server,
    wait_ready,
)

PASSWORD: Final = "throughput-password-123"
SESSION_COOKIE: Final = "medianest_session"
SERVER_TIME_REQUESTS: Final = 200
SERVER_TIME_TARGET_MS: Final = 10.0
PYTHON_CLIENT_PROCESSES: Final = 2
DEFAULT_POSTGRES: Final = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS: Final = "redis://127.0.0.1:6379/13"

BARE_APP: Final = """
import sys

from aiohttp import web


async def answer(request):
    return web.json_response({"ok": True})


app = web.Application()
app.router.add_route("GET", "/{tail:.*}", answer)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


@dataclass(frozen=True)
class Row:
    label: str
    path: str
    credential: str  # "token", "cookie" or "" (public)
    min_ratio: float
    server_time: bool = False


ROWS: Final = (
    Row("GET /api/v1/auth/session, API token", "/api/v1/auth/session", "token", 0.5),
    Row("GET /api/v1/auth/session, cookie", "/api/v1/auth/session", "cookie", 0.5),
    Row("dashboard / (5 cards), cookie", "/", "cookie", 0.1, server_time=True),
    Row("GET /health (public)", "/health", "", 0.8),
)


@dataclass
class Load:
    """One measurement: answers with status 200, other answers, and connection errors, over ``seconds``."""

    ok: int
    other: int
    errors: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.ok / self.seconds


@dataclass
class Figures:
    bare: list[float] = field(default_factory=list)
    medianest: list[float] = field(default_factory=list)
    server_p99: list[float] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        return [m / b for m, b in zip(self.medianest, self.bare, strict=True)]


# The load generators: each takes a URL, headers, connections and seconds, and returns one Load.
Generator = Callable[[str, Mapping[str, str], int, int], Load]


def wrk_load(url: str, headers: Mapping[str, str], connections: int, seconds: int) -> Load:
    """``wrk`` with one thread; its summary gives the rate, the non-2xx answers and the socket errors."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=False).stdout
    total = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    if total is None:
        raise SystemExit(f"could not read wrk's output:\n{out}")
    elapsed = float(total.group(2)) / (1000 if total.group(3) == "ms" else 1)
    other = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    bad = int(other.group(1)) if other else 0
    failed = sum(int(n) for n in errors.groups()) if errors else 0
    return Load(int(total.group(1)) - bad, bad, failed, elapsed)


async def _client_loop(
    url: str, headers: Mapping[str, str], connections: int, start_at: float, stop_at: float
) -> tuple[int, int, int]:
    ok = other = errors = 0
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(
        connector=connector, headers=dict(headers), cookie_jar=aiohttp.DummyCookieJar()
    ) as session:

        async def connection() -> None:
            nonlocal ok, other, errors
            while time.time() < stop_at:
                try:
                    async with session.get(url, allow_redirects=False) as resp:
                        await resp.read()
                        status = resp.status
                except aiohttp.ClientError:
                    errors += 1
                    continue
                if start_at <= time.time() < stop_at:
                    if status == 200:
                        ok += 1
                    else:
                        other += 1

        await asyncio.gather(*(connection() for _ in range(connections)))
    return ok, other, errors


def _client_process(
    url: str, headers: Mapping[str, str], connections: int, start_at: float, stop_at: float
) -> tuple[int, int, int]:
    """One load process: it loads from as soon as it is ready and counts the answers between start and stop."""
    return asyncio.run(_client_loop(url, headers, connections, start_at, stop_at))


def _ready() -> bool:
    return True


class PythonLoad:
    """aiohttp's client in ``PYTHON_CLIENT_PROCESSES`` processes, the connections shared among them, so that the
    client is not the bottleneck on a machine with a few cores."""

    def __init__(self) -> None:
        self.pool = ProcessPoolExecutor(PYTHON_CLIENT_PROCESSES, mp_context=get_context("spawn"))
        for ready in [self.pool.submit(_ready) for _ in range(PYTHON_CLIENT_PROCESSES)]:
            ready.result()

    def __call__(self, url: str, headers: Mapping[str, str], connections: int, seconds: int) -> Load:
        start_at = time.time() + 0.5  # the processes connect and warm up before the count starts
        stop_at = start_at + seconds
        shares = [
            connections // PYTHON_CLIENT_PROCESSES + (n < connections % PYTHON_CLIENT_PROCESSES)
            for n in range(PYTHON_CLIENT_PROCESSES)
        ]
        futures = [self.pool.submit(_client_process, url, headers, n, start_at, stop_at) for n in shares if n]
        results = [f.result() for f in futures]
        ok, other, errors = (sum(r[i] for r in results) for i in range(3))
        return Load(ok, other, errors, float(seconds))

    def close(self) -> None:
        self.pool.shutdown()


def headers_for(row: Row, token: str, cookie: str) -> dict[str, str]:
    headers = {"Accept": "text/html" if row.path == "/" else "application/json"}
    if row.credential == "token":
        headers["Authorization"] = f"Bearer {token}"
    elif row.credential == "cookie":
        headers["Cookie"] = f"{SESSION_COOKIE}={cookie}"
    return headers


async def check_answers(url: str, rows: tuple[Row, ...], token: str, cookie: str) -> None:
    """Each measured request answers 200 as it should (signed in by the token or the cookie, five cards)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        for row in rows:
            async with session.get(
                url + row.path, headers=headers_for(row, token, cookie), allow_redirects=False
            ) as resp:
                body = await resp.text()
                if resp.status != 200:
                    raise SystemExit(f"{row.label}: MediaNest answered {resp.status}: {body[:300]}")
            if row.path == "/api/v1/auth/session":
                via = {"token": "token", "cookie": "session"}[row.credential]
                if json.loads(body).get("via") != via:
                    raise SystemExit(f"{row.label}: not signed in by the {row.credential}: {body[:300]}")
            cards = body.count('class="card ')
            if row.path == "/" and cards != 5:
                raise SystemExit(f"the dashboard shows {cards} cards, not 5")


async def server_times(url: str, headers: Mapping[str, str], requests: int) -> list[float]:
    """MediaNest's own time per answer (``Server-Timing``), one request after the other on one connection."""
    found: list[float] = []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        for _ in range(requests):
            async with session.get(url, headers=dict(headers), allow_redirects=False) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise SystemExit(f"{url} answered {resp.status}: {body[:300]!r}")
                found.append(float(resp.headers.get("Server-Timing", "").split("dur=")[1]))
    return found


async def sign_in_admin(url: str, proc: subprocess.Popen[bytes]) -> tuple[str, str]:
    """The admin's session cookie and a new API token."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        await wait_ready(session, url, proc)
        csrf = await sign_in(session, url, "bench", PASSWORD)
        cookie = next((c.value for c in session.cookie_jar if c.key == SESSION_COOKIE), None)
        if cookie is None:
            raise SystemExit(f"signing in set no {SESSION_COOKIE} cookie")
        async with session.post(
            url + "/api/v1/me/tokens", json={"name": "throughput"}, headers={"X-CSRF-Token": csrf}
        ) as resp:
            if resp.status != 201:
                raise SystemExit(f"could not create an API token: {resp.status} {await resp.text()}")
            token = str((await resp.json())["token"])
    return cookie, token


async def wait_bare(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as session:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"the bare aiohttp handler exited with {proc.returncode}")
            try:
                async with session.get(url + "/health") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise SystemExit("the bare aiohttp handler did not answer within 30 s")


def measure(
    generate: Generator, bare: str, medianest: str, token: str, cookie: str, args: argparse.Namespace
) -> dict[Row, Figures]:
    figures = {row: Figures() for row in ROWS}
    for row in ROWS:  # warm-up: templates compiled, caches and connection pools filled
        for base in (bare, medianest):
            generate(base + row.path, headers_for(row, token, cookie), args.connections, 1)
    for round_ in range(1, args.rounds + 1):
        for row in ROWS:
            headers = headers_for(row, token, cookie)
            plain = generate(bare + row.path, headers, args.connections, args.seconds)
            ours = generate(medianest + row.path, headers, args.connections, args.seconds)
            if ours.other or not ours.ok:
                raise SystemExit(f"{row.label}: MediaNest answered {ours.other} of {ours.ok + ours.other} not with 200")
            if plain.errors or ours.errors:
                print(f"  note: connection errors, bare {plain.errors}, MediaNest {ours.errors}", file=sys.stderr)
            figures[row].bare.append(plain.rate)
            figures[row].medianest.append(ours.rate)
            note = ""
            if row.server_time:
                times = asyncio.run(server_times(medianest + row.path, headers, SERVER_TIME_REQUESTS))
                figures[row].server_p99.append(percentile(times, 0.99))
                note = f", server time p99 {figures[row].server_p99[-1]:.1f} ms"
            print(
                f"round {round_}/{args.rounds} {row.label}: bare {plain.rate:,.0f} req/s, "
                f"MediaNest {ours.rate:,.0f} req/s{note}",
                file=sys.stderr,
            )
    return figures


def report(figures: Mapping[Row, Figures]) -> None:
    width = max(len(row.label) for row in ROWS)
    print(f"{'request'.ljust(width)}  {'MediaNest':>12}  {'bare aiohttp':>12}  ratio (goal)")
    for row, fig in figures.items():
        ratio = statistics.median(fig.ratios)
        flag = "" if ratio >= row.min_ratio else "  OVER TARGET"
        print(
            f"{row.label.ljust(width)}  {statistics.median(fig.medianest):>8,.0f} r/s  "
            f"{statistics.median(fig.bare):>8,.0f} r/s  {ratio:5.3f} (goal >= {row.min_ratio:g}, "
            f"rounds {min(fig.ratios):.3f}-{max(fig.ratios):.3f}){flag}"
        )
        if fig.server_p99:
            p99 = statistics.median(fig.server_p99)
            flag = "" if p99 < SERVER_TIME_TARGET_MS else "  OVER TARGET"
            print(
                f"{'  its server time p99'.ljust(width)}  {p99:>8.1f} ms  (one connection, {SERVER_TIME_REQUESTS} "
                f"requests a round; goal < {SERVER_TIME_TARGET_MS:g} ms, ratio {p99 / SERVER_TIME_TARGET_MS:.2f}){flag}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of bare, MediaNest pairs (default 3)")
    parser.add_argument("--seconds", type=int, default=5, help="seconds per measurement (default 5)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL and Redis instead of SQLite")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("MEDIANEST_TEST_DATABASE_URL", DEFAULT_POSTGRES),
        help="with --postgres: the server in which a fresh database is made for the run "
        "(default MEDIANEST_TEST_DATABASE_URL, else %(default)s)",
    )
    parser.add_argument(
        "--redis-url",
        default=DEFAULT_REDIS,
        help="with --postgres: a Redis database of the benchmark's own, emptied before and after (default %(default)s)",
    )
    parser.add_argument(
        "--client", choices=("auto", "wrk", "python"), default="auto", help="load generator (default: wrk if found)"
    )
    args = parser.parse_args()
    if args.rounds < 1 or args.seconds < 1 or args.connections < 1:
        parser.error("--rounds, --seconds and --connections must be at least 1")
    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk") is not None)
    if use_wrk and shutil.which("wrk") is None:
        parser.error("wrk is not on PATH")

    extra = {"MEDIANEST_API_RATE_LIMIT": "1000000000/minute"}
    database = None
    if args.postgres:
        empty_redis(args.redis_url)
        database, url = asyncio.run(create_postgres_database(args.database_url, "throughput"))
        extra |= {"MEDIANEST_DATABASE_URL": url, "MEDIANEST_REDIS_URL": args.redis_url}
    bare_proc = proc = None
    python_load = None
    try:
        env = bench_env("throughput", **extra)
        if args.postgres:  # only the embedded SQLite database migrates itself
            upgrade = subprocess.run([MEDIANEST, "db", "upgrade"], env=env, capture_output=True, text=True, check=False)
            if upgrade.returncode != 0:
                raise SystemExit(f"medianest db upgrade failed: {upgrade.stderr.strip()}")
        create_admin(env, "bench", PASSWORD)
        proc, medianest = start_server(env)
        port = free_port()
        bare_proc = subprocess.Popen([sys.executable, "-c", BARE_APP, str(port)])
        bare = f"http://127.0.0.1:{port}"
        asyncio.run(wait_bare(bare, bare_proc))
        cookie, token = asyncio.run(sign_in_admin(medianest, proc))
        asyncio.run(check_answers(medianest, ROWS, token, cookie))
        if use_wrk:
            generate: Generator = wrk_load
            client = f"wrk ({shutil.which('wrk')}), 1 thread"
        else:
            python_load = PythonLoad()
            generate = python_load
            client = f"Python load generator (aiohttp client), {PYTHON_CLIENT_PROCESSES} processes"
        storage = f"PostgreSQL and Redis ({args.redis_url})" if args.postgres else "SQLite, in-process"
        figures = measure(generate, bare, medianest, token, cookie, args)
        # wrk counts a redirect as an answer: every request must still answer as it did before the load.
        asyncio.run(check_answers(medianest, ROWS, token, cookie))
        print(
            f"medianest serve ({storage}, bundled plugins) beside a bare aiohttp JSON handler; load: {client}, "
            f"{args.connections} connections, {args.seconds} s a measurement, sides alternating, "
            f"medians of {args.rounds} round(s)"
        )
        report(figures)
        if not use_wrk:
            print(
                "note: without wrk the Python client may be what limits the bare handler's rate; ratios then read high"
            )
        return 0
    finally:
        if python_load is not None:
            python_load.close()
        for running in (bare_proc, proc):
            if running is not None:
                stop_server(running)
        if database is not None:
            asyncio.run(drop_postgres_database(args.database_url, database))
            empty_redis(args.redis_url)


if __name__ == "__main__":
    sys.exit(main())
