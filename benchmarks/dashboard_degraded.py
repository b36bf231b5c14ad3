"""The dashboard while Plex hangs: its address accepts connections but never answers.

A fake plex.tv and Plex Media Server (``medianest_plex.fake``) run in this process; ``medianest serve`` starts on a
fresh data directory with the Plex plugin pointed at it, and its card is filled once while Plex answers. Then the
fake stops answering (every request hangs) and the dashboard is asked for ``--requests`` times, signed in, while
MediaNest's background checks and card refreshes wait on Plex. Prints the p50 and p99 of the whole page, as the
client on loopback sees it.

    .venv/bin/python benchmarks/dashboard_degraded.py [--requests 200]

This is a measurement, not a test: it exits 0 when a figure is over its target and says ``OVER TARGET`` on that
line; it exits 1 when MediaNest does not start or the page does not answer 200.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Final

import aiohttp
from common import bench_env, create_admin, percentile, sign_in, start_server, stop_server, verdict, wait_ready
from medianest_plex.fake import FakePlex

P99_TARGET_MS: Final = 100.0
PASSWORD: Final = "degraded-password-123"


async def run(requests: int) -> int:
    fake = FakePlex(friendly_name="Benchmark Plex")
    fake.add_section("1", "Films", "movie")
    for n in range(40):
        fake.add_item("1", f"Film {n}", year=1980 + n)
    url = await fake.start()
    env = bench_env(
        "degraded",
        MEDIANEST_PLEX_URL=url,
        MEDIANEST_PLEX_PLEXTV_URL=url,
        MEDIANEST_PLEX_TOKEN=fake.owner.token,
        MEDIANEST_PLEX_REFRESH_INTERVAL="2",
    )
    create_admin(env, "bench", PASSWORD)
    proc, base = start_server(env)
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        await wait_ready(session, base, proc)
        await sign_in(session, base, "bench", PASSWORD)
        deadline = time.monotonic() + 30
        while True:  # the card has figures while Plex answers
            async with session.get(base + "/", headers={"Accept": "text/html"}) as r:
                if "<dt>Films</dt><dd>40</dd>" in await r.text():
                    break
            if time.monotonic() > deadline:
                raise SystemExit("the Plex card never showed its figures")
            await asyncio.sleep(0.2)
        fake.hang = True
        await asyncio.sleep(3)  # checks and refreshes are now waiting on a Plex that never answers
        times: list[float] = []
        for _ in range(requests):
            started = time.perf_counter()
            async with session.get(base + "/", headers={"Accept": "text/html"}) as r:
                await r.read()
                if r.status != 200:
                    raise SystemExit(f"the dashboard answered {r.status}")
            times.append((time.perf_counter() - started) * 1000)
        p50, p99 = percentile(times, 0.5), percentile(times, 0.99)
        print(f"medianest serve, dashboard with Plex hanging, {requests} requests")
        print(f"dashboard  p50 {p50:.1f} ms  p99 {p99:.1f} ms  {verdict(p99, P99_TARGET_MS)}")
        return 0
    finally:
        await session.close()
        stop_server(proc)
        await fake.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    return asyncio.run(run(args.requests))


if __name__ == "__main__":
    sys.exit(main())
