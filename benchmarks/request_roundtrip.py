"""A request's round trip: from Overseerr's webhook to the asker's open page.

A fake Overseerr (``medianest_overseerr.fake``) with ``--changes`` films runs in this process; ``medianest serve``
starts on a fresh data directory with only the Overseerr plugin, pointed at it, and the fake's webhook agent posts
to MediaNest's ``/api/v1/overseerr/webhook`` with the right ``Authorization``. An admin signs in, is linked to an
Overseerr user (``PUT /api/v1/overseerr/links/{id}``) and opens a websocket subscribed to ``overseerr.request``.

That Overseerr user requests every film in Overseerr itself (each new request reaches the page too, as a warm-up
that also fills MediaNest's cache of titles). Then, one at a time, Overseerr's admin approves or declines them in
turn: each decision makes the fake send its webhook, MediaNest reads the request back from Overseerr, stores its
new state and pushes it to the asker. The figure is, for each change, the time from the moment the fake starts the
webhook's POST (``WebhookDelivery.sent_at``) until the ``overseerr.request`` frame with the new state arrives on
the websocket; both clocks are this process's. Target: p99 ≤ 100 ms.

    .venv/bin/python benchmarks/request_roundtrip.py [--changes 200]

This is a measurement, not a test: it exits 0 when a figure is over its target and says ``OVER TARGET`` on that
line; it exits 1 when MediaNest does not start, a webhook is refused, or a change does not arrive.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any, Final

import aiohttp
from common import (
    BUNDLED_PLUGINS,
    bench_env,
    create_admin,
    percentile,
    start_server,
    stop_server,
    verdict,
    wait_ready,
    without_plugins,
)
from medianest_overseerr.client import Notification, Permission
from medianest_overseerr.fake import FakeOverseerr, WebhookDelivery

P99_TARGET_MS: Final = 100.0
PASSWORD: Final = "roundtrip-password-123"
SECRET: Final = "Bearer roundtrip-webhook-secret-0123456789"
FIRST_FILM: Final = 20_000
ARRIVAL_SECONDS: Final = 10.0


class Page:
    """The asker's open page: the ``overseerr.request`` frames, by (Overseerr request id, state), as they arrive."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self.arrived: dict[tuple[int, str], float] = {}
        self.waiting: dict[tuple[int, str], asyncio.Future[float]] = {}
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.socket:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            at = time.monotonic()
            frame: dict[str, Any] = msg.json()
            if frame.get("type") != "event" or frame.get("topic") != "overseerr.request":
                continue
            request = frame["data"]["request"]
            key = (int(request["overseerr_id"]), str(request["state"]))
            self.arrived.setdefault(key, at)
            waiter = self.waiting.pop(key, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(at)

    async def arrival(self, overseerr_id: int, state: str) -> float:
        """The moment the frame saying the request is in ``state`` arrived (waiting for it if need be)."""
        key = (overseerr_id, state)
        if key in self.arrived:
            return self.arrived[key]
        waiter = self.waiting.setdefault(key, asyncio.get_running_loop().create_future())
        try:
            return await asyncio.wait_for(waiter, ARRIVAL_SECONDS)
        except TimeoutError:
            raise SystemExit(f"request {overseerr_id} never arrived as {state!r} on the websocket") from None

    async def close(self) -> None:
        await self.socket.close()
        self.reader.cancel()
        await asyncio.gather(self.reader, return_exceptions=True)


async def overseerr_call(
    http: aiohttp.ClientSession, fake: FakeOverseerr, method: str, path: str, as_user: int | None = None, **kw: Any
) -> Any:
    """A call to the fake's API, as its admin or (``as_user``) as one of its users."""
    headers = {"X-Api-Key": fake.api_key} | ({"X-API-User": str(as_user)} if as_user is not None else {})
    async with http.request(method, fake.api_url + path, headers=headers, **kw) as resp:
        if resp.status >= 300:
            raise SystemExit(f"Overseerr answered {method} {path} with {resp.status}: {await resp.text()}")
        return await resp.json()


def delivery_of(fake: FakeOverseerr, overseerr_id: int, kind: Notification) -> WebhookDelivery:
    for made in reversed(fake.webhook_deliveries):
        if made.notification is kind and made.payload["request"]["request_id"] == str(overseerr_id):
            if made.status != 200 or made.sent_at is None:
                raise SystemExit(f"the webhook of request {overseerr_id} was answered {made.status} ({made.error})")
            return made
    raise SystemExit(f"no webhook was sent for request {overseerr_id}")


def line(name: str, values: list[float], target: float | None = None) -> None:
    p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
    end = f"  {verdict(p99, target)}" if target is not None else ""
    print(f"  {name}: p50 {p50:.1f} ms  p99 {p99:.1f} ms  max {max(values):.1f} ms{end}")


async def run(changes: int) -> int:
    fake = FakeOverseerr()
    asker = fake.add_user("bench", plex_id=2000, permissions=Permission.REQUEST)
    films = [FIRST_FILM + n for n in range(changes)]
    for n, tmdb_id in enumerate(films):
        fake.add_movie(tmdb_id, f"Film {n}", 1950 + n % 70)
    await fake.start()
    env = bench_env(
        "roundtrip",
        MEDIANEST_OVERSEERR_URL=fake.url,
        MEDIANEST_OVERSEERR_API_KEY=fake.api_key,
        MEDIANEST_OVERSEERR_WEBHOOK_SECRET=SECRET,
        **without_plugins(*(name for name in BUNDLED_PLUGINS if name != "overseerr")),
    )
    create_admin(env, "bench", PASSWORD)
    proc, base = start_server(env)
    fake.configure_webhook(f"{base}/api/v1/overseerr/webhook", SECRET)
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    http = aiohttp.ClientSession()
    page: Page | None = None
    try:
        await wait_ready(session, base, proc)
        async with session.post(base + "/api/v1/auth/login", json={"username": "bench", "password": PASSWORD}) as r:
            if r.status != 200:
                raise SystemExit(f"could not sign in: {r.status}")
            signed = await r.json()
        user_id, csrf = int(signed["user"]["id"]), str(signed["csrf_token"])
        async with session.put(
            f"{base}/api/v1/overseerr/links/{user_id}",
            json={"overseerr_user_id": asker.id},
            headers={"X-CSRF-Token": csrf},
        ) as resp:
            if resp.status != 200:
                raise SystemExit(f"linking the admin to Overseerr answered {resp.status}: {await resp.text()}")
        socket = await session.ws_connect(base + "/ws")
        await socket.send_json({"id": 1, "type": "subscribe", "topics": ["overseerr.request"]})
        if not (await socket.receive_json(timeout=10)).get("success"):
            raise SystemExit("could not subscribe to overseerr.request")
        page = Page(socket)

        made: list[int] = []
        for tmdb_id in films:  # requested in Overseerr itself: each reaches the page as "pending"
            answer = await overseerr_call(
                http, fake, "POST", "/request", as_user=asker.id, json={"mediaType": "movie", "mediaId": tmdb_id}
            )
            made.append(int(answer["id"]))
        await fake.settle()
        for overseerr_id in made:
            await page.arrival(overseerr_id, "pending")

        latencies: list[float] = []
        for n, overseerr_id in enumerate(made):
            approve = n % 2 == 0
            await overseerr_call(http, fake, "POST", f"/request/{overseerr_id}/{'approve' if approve else 'decline'}")
            arrived = await page.arrival(overseerr_id, "approved" if approve else "declined")
            await fake.settle()
            kind = Notification.MEDIA_APPROVED if approve else Notification.MEDIA_DECLINED
            sent = delivery_of(fake, overseerr_id, kind).sent_at
            assert sent is not None
            latencies.append((arrived - sent) * 1000)

        print(f"medianest serve with the Overseerr plugin and a fake Overseerr ({changes} films)")
        print(f"{changes} state changes (approve and decline in turn), one at a time, webhook to websocket:")
        line("round trip", latencies, P99_TARGET_MS)
        return 0
    finally:
        if page is not None:
            await page.close()
        await http.close()
        await session.close()
        stop_server(proc)
        await fake.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=200, help="state changes measured (default 200)")
    args = parser.parse_args()
    return asyncio.run(run(args.changes))


if __name__ == "__main__":
    sys.exit(main())
