"""The unified search over Plex and TMDB: how long the merged answer takes, and how soon results come while TMDB hangs.

A fake Plex (``medianest_plex.fake``) with 300 films and a fake TMDB (``medianest_tmdb.fake``) with 300 films run
in this process, a third of the films in both (Plex knows their TMDB ids); ``medianest serve`` starts on a fresh
data directory with both plugins pointed at them, and an admin signs in.

1. **Both answering, each query new**: 60 searches, each for a word no earlier search used, so TMDB is asked
   every time. p50/p99 of MediaNest's own time (its ``Server-Timing``) and of the whole answer as the client on
   loopback sees it. Target: p99 ≤ 150 ms of server time.
2. **Both answering, repeated queries**: 300 searches over 20 words, as twenty people searching the same things
   do (TMDB answers come from MediaNest's cache).
3. **TMDB hangs** (accepts connections, never answers): 20 new searches through ``/api/v1/search/stream``; the time
   until the first line that holds Plex's results. Target: ≤ 100 ms.

    .venv/bin/python benchmarks/search.py

This is a measurement, not a test: it exits 0 when a figure is over its target and says ``OVER TARGET`` on that
line; it exits 1 when MediaNest does not start or a search answers something other than 200.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Final

import aiohttp
from common import bench_env, create_admin, percentile, sign_in, start_server, stop_server, verdict, wait_ready
from medianest_plex.fake import FakePlex
from medianest_tmdb.fake import FakeTmdb

PASSWORD: Final = "search-password-123"
FILMS: Final = 300
WORDS: Final = [
    "amber", "birch", "cedar", "delta", "ember", "fjord", "grove", "harbor", "island", "jasper", "kestrel", "lagoon",
    "meadow", "nebula", "orchid", "prairie", "quartz", "raven", "summit", "tundra", "umber", "valley", "willow",
    "xenon", "yarrow", "zephyr", "aurora", "canyon", "dune", "falcon",
]  # fmt: skip
NEW_SEARCHES: Final = 60
REPEATED: Final = 300
HUNG: Final = 20


def seed(plex: FakePlex, tmdb: FakeTmdb) -> None:
    """Films named "<word> <n>": Plex holds those with n < 200, TMDB those with n ≥ 100 (both: 100 to 199)."""
    plex.add_section("1", "Films", "movie")
    for n in range(FILMS):
        word = WORDS[n % len(WORDS)]
        title = f"{word.title()} {n}"
        tmdb_id = 10_000 + n
        if n < 200:
            plex.add_item("1", title, year=1950 + n % 70, guids=[f"tmdb://{tmdb_id}"], summary=f"About {title}.")
        if n >= 100:
            tmdb.add_movie(title, id=tmdb_id, year=1950 + n % 70, popularity=float(n % 50), overview=f"{title}.")


async def timed_search(session: aiohttp.ClientSession, base: str, q: str) -> tuple[float, float, int]:
    """Server milliseconds, client milliseconds and the number of results of one search."""
    started = time.perf_counter()
    async with session.get(f"{base}/api/v1/search", params={"q": q}) as resp:
        body = await resp.json()
        if resp.status != 200:
            raise SystemExit(f"search {q!r} answered {resp.status}: {body}")
        timing = resp.headers.get("Server-Timing", "app;dur=0").split("dur=")[-1]
    return float(timing), (time.perf_counter() - started) * 1000, len(body["results"])


async def first_plex_line(session: aiohttp.ClientSession, base: str, q: str) -> float:
    """Milliseconds until the stream's first line in which Plex has answered."""
    started = time.perf_counter()
    async with session.get(f"{base}/api/v1/search/stream", params={"q": q}) as resp:
        if resp.status != 200:
            raise SystemExit(f"stream {q!r} answered {resp.status}")
        async for raw in resp.content:
            answer = json.loads(raw)
            if any(s["id"] == "plex.library" and s["state"] != "waiting" for s in answer["sources"]):
                if not answer["results"]:
                    raise SystemExit(f"stream {q!r}: Plex answered with no results")
                return (time.perf_counter() - started) * 1000
    raise SystemExit(f"stream {q!r} ended before Plex answered")


def line(name: str, values: list[float], target: float | None = None) -> None:
    p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
    end = f"  {verdict(p99, target)}" if target is not None else ""
    print(f"  {name}: p50 {p50:.1f} ms  p99 {p99:.1f} ms  max {max(values):.1f} ms{end}")


async def run() -> int:
    plex, tmdb = FakePlex(friendly_name="Benchmark Plex"), FakeTmdb()
    seed(plex, tmdb)
    plex_url = await plex.start()
    await tmdb.start()
    env = bench_env(
        "search",
        MEDIANEST_PLEX_URL=plex_url,
        MEDIANEST_PLEX_PLEXTV_URL=plex_url,
        MEDIANEST_PLEX_TOKEN=plex.owner.token,
        MEDIANEST_TMDB_API_KEY=tmdb.api_key,
        MEDIANEST_TMDB_API_URL=tmdb.api_url,
        MEDIANEST_TMDB_IMAGE_URL=tmdb.image_url,
    )
    create_admin(env, "bench", PASSWORD)
    proc, base = start_server(env)
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        await wait_ready(session, base, proc)
        await sign_in(session, base, "bench", PASSWORD)
        for _ in range(100):  # Plex's index of titles is built in the background at start-up
            async with session.get(f"{base}/api/v1/search", params={"q": "Amber 150"}) as resp:
                found = (await resp.json())["results"]
            if found and found[0]["in_library"] and found[0]["popularity"] is not None:
                break
            await asyncio.sleep(0.2)
        else:
            raise SystemExit("a film in Plex and at TMDB never showed as one title in Plex")

        print(f"medianest serve, search over a fake Plex and a fake TMDB ({FILMS} films, 100 in both)")
        fresh = [f"{WORDS[n % len(WORDS)]} {n}" for n in range(NEW_SEARCHES)]
        answers = [await timed_search(session, base, q) for q in fresh]
        print(f"{NEW_SEARCHES} new searches, both answering (TMDB asked each time):")
        line("server time", [a[0] for a in answers], 150)
        line("client time", [a[1] for a in answers])

        answers = [await timed_search(session, base, WORDS[n % 20]) for n in range(REPEATED)]
        print(f"{REPEATED} searches over 20 words, both answering (TMDB from MediaNest's cache):")
        line("server time", [a[0] for a in answers], 150)
        line("client time", [a[1] for a in answers])
        print(f"  results per search: {min(a[2] for a in answers)} to {max(a[2] for a in answers)}")

        tmdb.hang = True
        hung = [f"{WORDS[n % len(WORDS)]} {n}" for n in range(100, 100 + HUNG)]  # in both, never searched before
        firsts = [await first_plex_line(session, base, q) for q in hung]
        print(f"{HUNG} new searches while TMDB hangs, time to the first line with Plex's results:")
        line("client time", firsts, 100)
        return 0
    finally:
        await session.close()
        stop_server(proc)
        await tmdb.stop()
        await plex.stop()


def main() -> int:
    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
