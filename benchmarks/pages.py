"""Page speed: the server's time for the dashboard (five cards) and the admin users page (50 users), signed in.

``medianest serve`` starts on a fresh data directory with a small plugin whose four cards each read the database
(the core adds its services card: five in all), an admin, and 49 more accounts. The admin signs in; each page is
then asked for ``--requests`` times in turn after a warm-up. The figure is MediaNest's own time per answer, from
the ``Server-Timing`` header (the whole middleware chain: session, auth, handler, template); the time seen by the
client on loopback is printed beside it.

    .venv/bin/python benchmarks/pages.py [--requests 300]

This is a measurement, not a test: it exits 0 when a figure is over its target and says ``OVER TARGET`` on that
line; it exits 1 when MediaNest does not start or a page does not answer 200.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Final

import aiohttp
from common import (
    BUNDLED_PLUGINS,
    bench_env,
    create_admin,
    percentile,
    sign_in,
    start_server,
    stop_server,
    verdict,
    wait_ready,
    without_plugins,
)

P99_TARGET_MS: Final = 50.0
PASSWORD: Final = "pages-password-123"
USERS: Final = 50

PLUGIN: Final = """
from datetime import UTC, datetime

from sqlalchemy import func, select

from medianest_core import Card, CardData, CardState, hookimpl
from medianest_core.models import User


class Bench:
    name = "bench"
    version = "1"

    @hookimpl
    def dashboard_cards(self, ctx):
        async def load():
            async with ctx.sessions() as db:
                users = await db.scalar(select(func.count()).select_from(User))
            return CardData(CardState.OK, figures={"People": users, "Items": 1234}, updated_at=datetime.now(UTC))

        return [Card(f"card{n}", f"Card {n}", load) for n in range(4)]


plugin = Bench()
"""


def install_plugin() -> str:
    """The benchmark's plugin as an installed distribution in a folder of its own; returns the folder."""
    site = Path(tempfile.mkdtemp(prefix="medianest-pages-site-"))
    info = site / "medianest_bench-1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: medianest-bench\nVersion: 1\n")
    (info / "entry_points.txt").write_text("[medianest.plugins]\nbench = medianest_bench:plugin\n")
    (site / "medianest_bench.py").write_text(PLUGIN)
    return str(site)


async def timings(session: aiohttp.ClientSession, url: str, requests: int) -> tuple[list[float], list[float]]:
    server: list[float] = []
    client: list[float] = []
    for _ in range(requests):
        started = time.perf_counter()
        async with session.get(url, headers={"Accept": "text/html"}) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise SystemExit(f"{url} answered {resp.status}: {body[:300]!r}")
            timing = resp.headers.get("Server-Timing", "")
        elapsed = (time.perf_counter() - started) * 1000
        server.append(float(timing.split("dur=")[1]))
        client.append(elapsed)
    return server, client


async def run(proc: subprocess.Popen[bytes], url: str, requests: int) -> int:
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        await wait_ready(session, url, proc)
        csrf = await sign_in(session, url, "bench", PASSWORD)
        for n in range(1, USERS):
            body = {"username": f"person{n:02d}", "password": f"person{n:02d}-password-123"}
            async with session.post(url + "/api/v1/admin/users", json=body, headers={"X-CSRF-Token": csrf}) as r:
                if r.status != 201:
                    raise SystemExit(f"could not create a user: {r.status} {await r.text()}")
        pages = {"dashboard (5 cards)": url + "/", f"admin users ({USERS} users)": url + "/admin/users"}
        async with session.get(pages["dashboard (5 cards)"]) as r:
            cards = (await r.text()).count('class="card ')
        if cards != 5:
            raise SystemExit(f"the dashboard shows {cards} cards, not 5")
        for page_url in pages.values():
            await timings(session, page_url, 30)  # warm-up: templates compiled, connections pooled
        print(f"medianest serve, signed in as an admin, {requests} requests per page after a warm-up")
        for label, page_url in pages.items():
            server, client = await timings(session, page_url, requests)
            p50, p99 = percentile(server, 0.5), percentile(server, 0.99)
            print(
                f"{label:<26} server p50 {p50:5.1f} ms  p99 {p99:5.1f} ms  {verdict(p99, P99_TARGET_MS)}"
                f"   (client p50 {percentile(client, 0.5):.1f} ms)"
            )
        return 0
    finally:
        await session.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    path = os.pathsep.join(filter(None, [install_plugin(), os.environ.get("PYTHONPATH")]))
    # The benchmark's own cards only: the bundled plugins' cards would change what is measured as they change.
    env = bench_env("pages", PYTHONPATH=path, **without_plugins(*BUNDLED_PLUGINS))
    create_admin(env, "bench", PASSWORD)
    proc, url = start_server(env)
    try:
        return asyncio.run(run(proc, url, args.requests))
    finally:
        stop_server(proc)


if __name__ == "__main__":
    sys.exit(main())
