"""Outages one plugin reports about another (``ctx.outages``): every plugin reads them, in every process, and open
pages hear of them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from medianest_core import keys
from medianest_core.events import ServiceOutage
from medianest_core.testing import entry_point, sign_in

REASON = "Overseerr's monitor is down (since 10:42)"


class Bare:
    """A plugin with no hooks: only its name matters here."""

    version = "0"

    def __init__(self, name: str) -> None:
        self.name = name


def plugins(*names: str) -> list[Any]:
    return [entry_point(name, Bare(name)) for name in names]


async def next_event(socket: Any, timeout: float = 5) -> dict[str, Any]:
    while True:
        msg = await asyncio.wait_for(socket.receive_json(), timeout)
        if msg["type"] == "event":
            return dict(msg)


async def subscribed(client: Any, *topics: str) -> Any:
    socket = await client.ws_connect("/ws")
    await socket.send_json({"id": 1, "type": "subscribe", "topics": list(topics)})
    assert (await socket.receive_json())["success"] is True
    return socket


async def test_an_outage_reported_by_one_plugin_is_read_by_another_until_cleared(medianest_runtime: Any) -> None:
    runtime = medianest_runtime(entry_points=plugins("overseerr", "uptime_kuma"))
    kuma = runtime.context(runtime.plugins.get("uptime_kuma"))
    overseerr = runtime.context(runtime.plugins.get("overseerr"))
    heard: list[ServiceOutage] = []

    async def hear(event: ServiceOutage) -> None:
        heard.append(event)

    runtime.events.subscribe(ServiceOutage, hear)
    assert overseerr.outages.reason("overseerr") is None

    await kuma.outages.report("overseerr", REASON)
    assert overseerr.outages.reason("overseerr") == REASON
    assert overseerr.outages.reason("uptime_kuma") is None
    await kuma.outages.report("overseerr", REASON)  # the same again, at once: no new event
    assert heard == [ServiceOutage("overseerr", REASON)]

    await kuma.outages.report("overseerr", None)
    assert overseerr.outages.reason("overseerr") is None
    assert heard[-1] == ServiceOutage("overseerr", None)


async def test_an_outage_heard_from_another_process_is_kept(medianest_runtime: Any) -> None:
    runtime = medianest_runtime(entry_points=plugins("plex"))
    plex = runtime.context(runtime.plugins.get("plex"))
    # What the Redis bridge does with an event another process published.
    await runtime.events.deliver(ServiceOutage("plex", "Plex's monitor is down"))
    assert plex.outages.reason("plex") == "Plex's monitor is down"
    await runtime.events.deliver(ServiceOutage("plex", None))
    assert plex.outages.reason("plex") is None


async def test_an_outage_of_a_service_no_plugin_has_is_ignored(medianest_runtime: Any) -> None:
    runtime = medianest_runtime(entry_points=plugins("uptime_kuma"))
    kuma = runtime.context(runtime.plugins.get("uptime_kuma"))
    heard: list[ServiceOutage] = []

    async def hear(event: ServiceOutage) -> None:
        heard.append(event)

    runtime.events.subscribe(ServiceOutage, hear)
    await kuma.outages.report("sonarr", "Sonarr's monitor is down")
    await kuma.outages.report("", "nothing")
    await runtime.events.deliver(ServiceOutage("radarr", "from elsewhere"))
    assert kuma.outages.reason("sonarr") is None
    assert kuma.outages.reason("radarr") is None
    assert kuma.outages.current() == {}
    assert heard == [ServiceOutage("radarr", "from elsewhere")]  # only the delivered one; none published


async def test_open_pages_hear_of_an_outage_and_its_end(medianest_client: Any) -> None:
    client = await medianest_client(entry_points=plugins("overseerr", "uptime_kuma"))
    await sign_in(client, "alice")
    socket = await subscribed(client, "service.outage")
    runtime = client.app[keys.RUNTIME]
    kuma = runtime.context(runtime.plugins.get("uptime_kuma"))

    await kuma.outages.report("overseerr", "  Overseerr's monitor\nis down  ")
    event = await next_event(socket)
    assert (event["topic"], event["data"]) == (
        "service.outage",
        {"service": "overseerr", "reason": "Overseerr's monitor is down"},
    )
    await kuma.outages.report("overseerr", None)
    event = await next_event(socket)
    assert event["data"] == {"service": "overseerr", "reason": None}
    await socket.close()


@pytest.mark.production
async def test_an_outage_reaches_the_other_processes_through_redis(
    medianest_client: Any, medianest_redis_url: str
) -> None:
    first = await medianest_client(entry_points=plugins("overseerr", "uptime_kuma"), redis_url=medianest_redis_url)
    runtime = first.app[keys.RUNTIME]
    second = await medianest_client(settings=runtime.loaded, entry_points=plugins("overseerr", "uptime_kuma"))
    other = second.app[keys.RUNTIME]
    kuma = runtime.context(runtime.plugins.get("uptime_kuma"))
    overseerr_there = other.context(other.plugins.get("overseerr"))
    assert runtime.events.bridge is not None
    assert other.events.bridge is not None

    await kuma.outages.report("overseerr", REASON)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while overseerr_there.outages.reason("overseerr") != REASON:
        assert loop.time() < deadline, "the other process never heard of the outage"
        await asyncio.sleep(0.05)
    await kuma.outages.report("overseerr", None)
    while overseerr_there.outages.reason("overseerr") is not None:
        assert loop.time() < deadline + 5, "the other process never heard the outage end"
        await asyncio.sleep(0.05)
