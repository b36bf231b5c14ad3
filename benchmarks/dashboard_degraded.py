"""The dashboard while a service hangs: its address accepts connections but never answers.

A fake plex.tv and Plex Media Server (``medianest_plex.fake``) and a fake Uptime Kuma (``medianest_uptime_kuma.fake``:
a status page of five monitors) run in this process; for each scenario ``medianest serve`` starts on a fresh data
directory with the Plex and Uptime Kuma plugins pointed at them, and the dashboard is filled once while both answer
(the Plex card shows its figures, the card "Services" lists the monitors). Then the scenario's fakes stop answering
(every request hangs): Plex, Uptime Kuma, or both. Once MediaNest's background work is waiting on them, the
dashboard is asked for ``--requests`` times, signed in, and the p50 and p99 of the whole page, as the client on
loopback sees it, are printed for each scenario.

    .venv/bin/python benchmarks/dashboard_degraded.py [--requests 200] [--scenario plex|uptime_kuma|both]

This is a measurement, not a test: it exits 0 when a figure is over its target and says ``OVER TARGET`` on that
line; it exits 1 when MediaNest does not start or the page does not answer 200.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Final

import aiohttp
from common import bench_env, create_admin, percentile, sign_in, start_server, stop_server, verdict, wait_ready
from medianest_plex.fake import FakePlex
from medianest_uptime_kuma.fake import FakeUptimeKuma

P99_TARGET_MS: Final = 100.0
PASSWORD: Final = "degraded-password-123"
SCENARIOS: Final = {"plex": "Plex", "uptime_kuma": "Uptime Kuma", "both": "Plex and Uptime Kuma"}
MONITORS: Final = {"Media": ["Plex", "Overseerr"], "Storage": ["NAS", "Backups"], "Network": ["Router"]}
KUMA_INTERVAL: Final = 10
"""Uptime Kuma's ``refresh_interval`` (its least): a read cut at 10 s, then the next one."""
FILLED_WITHIN: Final = 30.0


async def until(what: str, check: Callable[[], Awaitable[bool]], within: float = FILLED_WITHIN) -> None:
    """Ask ``check`` every 0.2 s until it says yes; ``SystemExit`` naming ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} within {within:g} s")
        await asyncio.sleep(0.2)


async def scenario(name: str, requests: int) -> list[float]:
    """One ``medianest serve`` with both services answering, then ``name``'s hanging: the page's times in ms."""
    plex = FakePlex(friendly_name="Benchmark Plex")
    plex.add_section("1", "Films", "movie")
    for n in range(40):
        plex.add_item("1", f"Film {n}", year=1980 + n)
    kuma = FakeUptimeKuma()
    groups = {
        group: [kuma.add_monitor(m, url=f"https://{m.lower()}.example.org") for m in ms]
        for group, ms in MONITORS.items()
    }
    kuma.add_status_page("home", "Home", groups)
    plex_url = await plex.start()
    kuma_url = await kuma.start()
    env = bench_env(
        "degraded",
        MEDIANEST_PLEX_URL=plex_url,
        MEDIANEST_PLEX_PLEXTV_URL=plex_url,
        MEDIANEST_PLEX_TOKEN=plex.owner.token,
        MEDIANEST_PLEX_REFRESH_INTERVAL="2",
        MEDIANEST_UPTIME_KUMA_URL=kuma_url,
        MEDIANEST_UPTIME_KUMA_STATUS_PAGES="home",
        MEDIANEST_UPTIME_KUMA_REFRESH_INTERVAL=str(KUMA_INTERVAL),
    )
    create_admin(env, "bench", PASSWORD)
    proc, base = start_server(env)
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def dashboard() -> str:
        async with session.get(base + "/", headers={"Accept": "text/html"}) as r:
            return await r.text()

    async def filled() -> bool:
        page = await dashboard()
        names = [m for ms in MONITORS.values() for m in ms]
        return "<dt>Films</dt><dd>40</dd>" in page and all(f'class="uk-card-name">{m}<' in page for m in names)

    try:
        await wait_ready(session, base, proc)
        await sign_in(session, base, "bench", PASSWORD)
        await until("the Plex card and the card Services were not filled", filled)
        kuma_calls = len(kuma.calls)
        if name in ("plex", "both"):
            plex.hang = True
        if name in ("uptime_kuma", "both"):
            kuma.hang = True

            async def kuma_waited_on() -> bool:
                return len(kuma.calls) > kuma_calls

            # the next read of Uptime Kuma (at most an interval away) is now waiting on a server that never answers
            await until("MediaNest did not read Uptime Kuma again", kuma_waited_on, KUMA_INTERVAL + 5)
        await asyncio.sleep(3)  # Plex's checks and refreshes (every 2 s) are waiting too, when it hangs
        times: list[float] = []
        for _ in range(requests):
            started = time.perf_counter()
            async with session.get(base + "/", headers={"Accept": "text/html"}) as r:
                await r.read()
                if r.status != 200:
                    raise SystemExit(f"the dashboard answered {r.status}")
            times.append((time.perf_counter() - started) * 1000)
        return times
    finally:
        await session.close()
        stop_server(proc)
        await plex.stop()
        await kuma.stop()


async def run(requests: int, names: list[str]) -> int:
    print(f"medianest serve, dashboard while a service hangs, {requests} requests each")
    for name in names:
        times = await scenario(name, requests)
        p50, p99 = percentile(times, 0.5), percentile(times, 0.99)
        label = f"{SCENARIOS[name]} hanging"
        print(f"{label:<34} p50 {p50:5.1f} ms  p99 {p99:5.1f} ms  {verdict(p99, P99_TARGET_MS)}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument(
        "--scenario", choices=sorted(SCENARIOS), action="append", help="only these (repeatable); all by default"
    )
    args = parser.parse_args()
    return asyncio.run(run(args.requests, args.scenario or list(SCENARIOS)))


if __name__ == "__main__":
    sys.exit(main())
