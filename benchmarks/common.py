"""What the benchmarks share: a ``medianest serve`` on a fresh data directory, and the arithmetic of figures."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

MEDIANEST = str(Path(sys.executable).with_name("medianest"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def bench_env(prefix: str, **extra: str) -> dict[str, str]:
    """An environment with a fresh data dir, quiet logs, and limits out of the way of the measurement."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIANEST_")}
    env.update(
        MEDIANEST_DATA_DIR=tempfile.mkdtemp(prefix=f"medianest-{prefix}-"),
        MEDIANEST_LOG_LEVEL="warning",
        MEDIANEST_API_RATE_LIMIT="1000000/minute",
        MEDIANEST_LOGIN_RATE_LIMIT="1000/minute",
    )
    env.update(extra)
    return env


BUNDLED_PLUGINS = ("plex", "overseerr", "tmdb", "uptime_kuma", "youtube")


def without_plugins(*names: str) -> dict[str, str]:
    """The environment that switches the named bundled plugins off."""
    return {f"MEDIANEST_{name.upper()}_ENABLED": "false" for name in names}


def create_admin(env: dict[str, str], username: str, password: str) -> None:
    subprocess.run(
        [MEDIANEST, "user", "create-admin", username],
        env={**env, "MEDIANEST_PASSWORD": password},
        check=True,
        capture_output=True,
    )


def start_server(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """``medianest serve`` on a free port, its output in ``serve.log`` of the data dir."""
    port = free_port()
    with (Path(env["MEDIANEST_DATA_DIR"]) / "serve.log").open("wb") as out:
        proc = subprocess.Popen([MEDIANEST, "serve", "--port", str(port)], env=env, stdout=out, stderr=out)
    return proc, f"http://127.0.0.1:{port}"


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


async def wait_ready(session: aiohttp.ClientSession, url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"medianest serve exited with {proc.returncode}")
        try:
            async with session.get(url + "/health") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise SystemExit("medianest serve did not answer /health within 60 s")


def verdict(value: float, target: float) -> str:
    """``(target 50 ms, ratio 0.42)`` and ``OVER TARGET`` when it is."""
    flag = "" if value <= target else "  OVER TARGET"
    return f"(target {target:g} ms, ratio {value / target:.2f}){flag}"


async def sign_in(session: aiohttp.ClientSession, url: str, username: str, password: str) -> str:
    """Sign ``session`` in as ``username``; returns the CSRF token its writes send."""
    async with session.post(url + "/api/v1/auth/login", json={"username": username, "password": password}) as r:
        if r.status != 200:
            raise SystemExit(f"could not sign in as {username}: {r.status}")
        return str((await r.json())["csrf_token"])


def asyncpg_dsn(url: str) -> str:
    """A ``postgresql+asyncpg://`` (or plain ``postgresql://``) URL as asyncpg itself takes it."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def create_postgres_database(admin_url: str, prefix: str) -> tuple[str, str]:
    """A fresh PostgreSQL database beside the one ``admin_url`` names; returns its name and its
    ``postgresql+asyncpg://`` URL for ``MEDIANEST_DATABASE_URL``."""
    import asyncpg  # type: ignore[import-untyped]

    name = f"medianest_bench_{prefix}_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = asyncpg_dsn(admin_url).rpartition("/")[0]
    return name, f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1)


async def drop_postgres_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def empty_redis(url: str) -> None:
    """Empty the Redis database ``url`` names (a benchmark's own), so that no keys of an earlier run are read."""
    from redis import Redis

    client = Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
