"""Websocket fan-out: N clients signed in to one ``medianest serve``, one broadcast event.

One account signs in once; N websockets open with its session and subscribe to every topic. An admin
announcement (``POST /api/v1/admin/announcements``) then reaches all of them. Delivery latency is measured from
just before the announcement is sent until each client has the event; memory per client is the growth of the
server's resident set from before the clients connect to after, divided by N.

    .venv/bin/python benchmarks/ws_fanout.py [--clients 1000] [--rounds 5]

This is a measurement, not a test: it exits 0 when a figure is over its target and says ``OVER TARGET`` on that
line; it exits 1 when MediaNest does not start or an event does not arrive.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from typing import Any, Final

import aiohttp
from common import bench_env, create_admin, percentile, rss_mb, sign_in, start_server, stop_server, verdict, wait_ready

P99_TARGET_MS: Final = 250.0
PASSWORD: Final = "fan-out-password-123"


async def run(proc: subprocess.Popen[bytes], url: str, clients: int, rounds: int) -> int:
    connector = aiohttp.TCPConnector(limit=0)
    # The session cookie comes from 127.0.0.1: a cookie jar accepts it only when told to.
    session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True))
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    try:
        await wait_ready(session, url, proc)
        csrf = await sign_in(session, url, "bench", PASSWORD)
        await asyncio.sleep(1)
        before = rss_mb(proc.pid)
        for start in range(0, clients, 100):
            batch = await asyncio.gather(
                *(session.ws_connect(url + "/ws") for _ in range(start, min(clients, start + 100)))
            )
            sockets.extend(batch)
        await asyncio.gather(*(ws.send_json({"id": 1, "type": "subscribe", "topics": ["*"]}) for ws in sockets))
        await asyncio.gather(*(ws.receive_json(timeout=30) for ws in sockets))
        await asyncio.sleep(1)
        after = rss_mb(proc.pid)
        latencies: list[float] = []
        for n in range(rounds):

            async def arrival(ws: aiohttp.ClientWebSocketResponse) -> float:
                while True:
                    msg: dict[str, Any] = await ws.receive_json(timeout=30)
                    if msg.get("type") == "event" and msg.get("topic") == "notification.created":
                        return time.perf_counter()

            waiting = [asyncio.create_task(arrival(ws)) for ws in sockets]
            await asyncio.sleep(0.2)
            sent = time.perf_counter()
            async with session.post(
                url + "/api/v1/admin/announcements",
                json={"title": f"Broadcast {n}"},
                headers={"X-CSRF-Token": csrf},
            ) as r:
                if r.status != 201:
                    raise SystemExit(f"the announcement failed: {r.status} {await r.text()}")
            arrived = await asyncio.gather(*waiting)
            latencies.extend((t - sent) * 1000 for t in arrived)
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        per_client_kb = (after - before) * 1024 / clients
        print(f"medianest serve, {clients} websocket clients, {rounds} broadcast(s), {len(latencies)} deliveries")
        print(f"delivery latency  p50 {p50:.1f} ms  p99 {p99:.1f} ms  {verdict(p99, P99_TARGET_MS)}")
        print(f"server memory     {before:.1f} MB idle, {after:.1f} MB with clients: {per_client_kb:.1f} KB per client")
        return 0
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        await session.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    env = bench_env("fanout")
    create_admin(env, "bench", PASSWORD)
    proc, url = start_server(env)
    try:
        return asyncio.run(run(proc, url, args.clients, args.rounds))
    finally:
        stop_server(proc)


if __name__ == "__main__":
    sys.exit(main())
