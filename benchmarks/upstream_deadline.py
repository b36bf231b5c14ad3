"""Browsing the Plex library while Plex hangs: its address accepts connections but never answers.

A fake plex.tv and Plex Media Server (``medianest_plex.fake``) run in this process; ``medianest serve`` starts on a
fresh data directory with the Plex plugin pointed at it and ``upstream_timeout`` set to ``--timeout``. An admin
signs in and browses once while Plex answers; then the fake stops answering and the admin's browse calls (the API's
server, libraries, a library's items, recently added, collections, an item, and the library page) are made 20
times one after the other, then 60 at once. Prints the p50, p99 and maximum time to answer of each series, as the
client on loopback sees it, against the target of ``upstream_timeout`` + 1 s, with the answers' statuses and the
number of calls Plex received.

By default the circuit breaker is kept out of the way (``upstream_breaker_failures`` = 1000), so that every call
really waits on Plex: the worst case. ``--breaker`` keeps MediaNest's default breaker, which after 5 failures
answers at once for ``upstream_breaker_reset`` seconds.

    .venv/bin/python benchmarks/upstream_deadline.py [--timeout 10] [--breaker]

This is a measurement, not a test: it exits 0 when a figure is over its target and says ``OVER TARGET`` on that
line; it exits 1 when MediaNest does not start or a call answers something other than 200 or 503.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys
import time
from typing import Final

import aiohttp
from common import bench_env, create_admin, percentile, sign_in, start_server, stop_server, verdict, wait_ready
from medianest_plex.fake import FakePlex

PASSWORD: Final = "deadline-password-123"
SEQUENTIAL: Final = 20
CONCURRENT: Final = 60


def browse_paths(item_id: str) -> list[str]:
    return [
        "/api/v1/plex/libraries",
        "/api/v1/plex/libraries/1/items",
        "/api/v1/plex/recently-added",
        "/api/v1/plex/collections",
        f"/api/v1/plex/items/{item_id}",
        "/api/v1/plex/server",
        "/plex/",
    ]


async def timed(session: aiohttp.ClientSession, url: str) -> tuple[float, int]:
    """Seconds to the whole answer, and its status."""
    started = time.perf_counter()
    async with session.get(url, headers={"Accept": "text/html"} if "/api/" not in url else None) as r:
        await r.read()
        status = r.status
    if status not in (200, 503):
        raise SystemExit(f"{url} answered {status}")
    return time.perf_counter() - started, status


def report(name: str, answers: list[tuple[float, int]], plex_calls: int, timeout: float) -> None:
    times = [seconds * 1000 for seconds, _ in answers]
    statuses = collections.Counter(status for _, status in answers)
    p50, p99, worst = percentile(times, 0.5), percentile(times, 0.99), max(times)
    target = (timeout + 1) * 1000
    shown = ", ".join(f"{count}x {status}" for status, count in sorted(statuses.items()))
    print(f"{name}: {len(answers)} calls ({shown}); Plex received {plex_calls} calls")
    print(f"  p50 {p50:.0f} ms  p99 {p99:.0f} ms  max {worst:.0f} ms  {verdict(worst, target)}")


async def run(timeout: float, breaker: bool) -> int:
    fake = FakePlex(friendly_name="Benchmark Plex")
    fake.add_section("1", "Films", "movie")
    keys = [str(fake.add_item("1", f"Film {n}", year=1980 + n)["ratingKey"]) for n in range(40)]
    fake.add_collection("1", "Eighties", keys[:10])
    url = await fake.start()
    extra = {} if breaker else {"MEDIANEST_UPSTREAM_BREAKER_FAILURES": "1000"}
    env = bench_env(
        "deadline",
        MEDIANEST_PLEX_URL=url,
        MEDIANEST_PLEX_PLEXTV_URL=url,
        MEDIANEST_PLEX_TOKEN=fake.owner.token,
        MEDIANEST_UPSTREAM_TIMEOUT=f"{timeout:g}",
        **extra,
    )
    create_admin(env, "bench", PASSWORD)
    proc, base = start_server(env)
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), connector=aiohttp.TCPConnector(limit=0))
    try:
        await wait_ready(session, base, proc)
        await sign_in(session, base, "bench", PASSWORD)
        paths = browse_paths(keys[0])
        for path in paths:  # every call answers while Plex does
            if (await timed(session, base + path))[1] != 200:
                raise SystemExit(f"{path} did not answer 200 while Plex answers")
        fake.hang = True
        print(f"medianest serve, Plex browse calls while Plex hangs, upstream_timeout {timeout:g} s", end="")
        print(", default breaker" if breaker else ", breaker out of the way")

        before = len(fake.calls)
        answers = [await timed(session, base + paths[n % len(paths)]) for n in range(SEQUENTIAL)]
        report(f"{SEQUENTIAL} one after the other", answers, len(fake.calls) - before, timeout)

        before = len(fake.calls)
        calls = (timed(session, base + paths[n % len(paths)]) for n in range(CONCURRENT))
        answers = list(await asyncio.gather(*calls))
        report(f"{CONCURRENT} at once", answers, len(fake.calls) - before, timeout)
        return 0
    finally:
        await session.close()
        stop_server(proc)
        await fake.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=10.0, help="upstream_timeout, in seconds (default 10)")
    parser.add_argument("--breaker", action="store_true", help="keep MediaNest's default circuit breaker")
    args = parser.parse_args()
    return asyncio.run(run(args.timeout, args.breaker))


if __name__ == "__main__":
    sys.exit(main())
