"""The websocket and notifications: live updates reach their audience and no one else."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from medianest_core import keys
from medianest_core.events import NotificationCreated, UserDeleted
from medianest_core.notifications import alert_admins, notify
from medianest_core.testing import sign_in


async def next_event(socket: Any, timeout: float = 5) -> dict[str, Any]:
    while True:
        msg = await asyncio.wait_for(socket.receive_json(), timeout)
        if msg["type"] == "event":
            return dict(msg)


async def subscribed(client: Any, *topics: str) -> Any:
    socket = await client.ws_connect("/ws")
    await socket.send_json({"id": 1, "type": "subscribe", "topics": list(topics)})
    reply = await socket.receive_json()
    assert reply == {"id": 1, "type": "result", "success": True, "result": {"topics": sorted(topics)}}
    return socket


async def test_anonymous_websockets_are_refused(medianest_client: Any) -> None:
    client = await medianest_client()
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await client.ws_connect("/ws")
    assert info.value.status == 401


async def test_websockets_from_another_site_are_refused(medianest_client: Any) -> None:
    client = await medianest_client()
    await sign_in(client)
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await client.ws_connect("/ws", origin="https://evil.example")
    assert info.value.status == 403
    own = await client.ws_connect("/ws", origin=f"http://{client.host}:{client.port}")
    await own.close()


async def test_commands_are_answered_by_id(medianest_client: Any) -> None:
    client = await medianest_client()
    await sign_in(client)
    socket = await client.ws_connect("/ws")
    await socket.send_json({"id": 7, "type": "ping"})
    assert await socket.receive_json() == {"id": 7, "type": "result", "success": True, "result": "pong"}
    await socket.send_json({"id": 8, "type": "nope"})
    reply = await socket.receive_json()
    assert (reply["id"], reply["success"], reply["error"]["code"]) == (8, False, "not_found")
    await socket.send_str("not json")
    assert (await socket.receive_json())["error"]["code"] == "bad_request"
    await socket.send_json({"id": 9, "type": "subscribe", "topics": "all"})
    assert (await socket.receive_json())["error"]["code"] == "validation_failed"
    await socket.close()


async def test_notifications_reach_their_owner_live_and_no_one_else(
    medianest_client: Any, medianest_database_url: str
) -> None:
    alice_client = await medianest_client(database_url=medianest_database_url)
    bob_client = await medianest_client(browser_of=alice_client)
    alice = await sign_in(alice_client, "alice")
    bob = await sign_in(bob_client, "bob")
    alice_ws = await subscribed(alice_client, "notification.created")
    bob_ws = await subscribed(bob_client, "*")
    runtime = alice_client.app[keys.RUNTIME]
    await notify(runtime, [alice.user_id], "Your request is available", "Dune is in Plex now.", link="/library/1")
    event = await next_event(alice_ws)
    assert event["topic"] == "notification.created"
    assert event["data"]["notification"]["title"] == "Your request is available"
    with pytest.raises(asyncio.TimeoutError):
        await next_event(bob_ws, timeout=0.5)
    # Listed, unread first; marked read by its owner only.
    listed = await (await alice_client.get("/api/v1/notifications")).json()
    assert listed["unread"] == 1
    note = listed["notifications"][0]
    assert (note["title"], note["read"], note["link"]) == ("Your request is available", False, "/library/1")
    other = await bob_client.post(f"/api/v1/notifications/{note['id']}/read", headers=bob.headers)
    assert other.status == 404
    read = await alice_client.post(f"/api/v1/notifications/{note['id']}/read", headers=alice.headers)
    assert (await read.json())["read"] is True
    assert (await (await alice_client.get("/api/v1/notifications")).json())["unread"] == 0
    await alice_ws.close()
    await bob_ws.close()


async def test_announcements_reach_everyone_and_alerts_the_admins(medianest_client: Any) -> None:
    admin_client = await medianest_client()
    user_client = await medianest_client(browser_of=admin_client)
    admin = await sign_in(admin_client, "root", role="admin")
    user = await sign_in(user_client, "carl")
    user_ws = await subscribed(user_client, "notification.created")
    sent = await admin_client.post(
        "/api/v1/admin/announcements",
        json={"title": "Plex restarts at 3 am", "body": "For an update."},
        headers=admin.headers,
    )
    assert (await sent.json()) == {"sent": 2}
    assert (await next_event(user_ws))["data"]["notification"]["title"] == "Plex restarts at 3 am"
    assert (
        await user_client.post("/api/v1/admin/announcements", json={"title": "x"}, headers=user.headers)
    ).status == 403
    # A system alert goes to admins only.
    await alert_admins(admin_client.app[keys.RUNTIME], "The youtube plugin failed", "failed to import")
    with pytest.raises(asyncio.TimeoutError):
        await next_event(user_ws, timeout=0.5)
    listed = await (await admin_client.get("/api/v1/notifications")).json()
    assert [n["title"] for n in listed["notifications"]] == ["The youtube plugin failed", "Plex restarts at 3 am"]
    marked = await admin_client.post("/api/v1/notifications/read-all", headers=admin.headers)
    assert (await marked.json()) == {"marked": 2}
    await user_ws.close()


async def raw_websocket(client: Any, topics: list[str]) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A websocket client that, after subscribing, never reads again: its network buffers fill up."""
    import json
    import os

    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))["medianest_session"].value
    reader, writer = await asyncio.open_connection(client.host, client.port, limit=1024)
    writer.write(
        (
            f"GET /ws HTTP/1.1\r\nHost: {client.host}:{client.port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"Cookie: medianest_session={cookie}\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    payload = json.dumps({"id": 1, "type": "subscribe", "topics": topics}).encode()
    mask = os.urandom(4)
    assert len(payload) < 126
    frame = bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    writer.write(frame)
    await writer.drain()
    return reader, writer


async def test_a_stalled_client_is_disconnected_while_others_keep_receiving(medianest_client: Any) -> None:
    client = await medianest_client(ws_queue_size=8)
    other_client = await medianest_client(browser_of=client)
    await sign_in(client, "dora", role="admin")
    await sign_in(other_client, "eve", role="admin")
    _, stalled = await raw_websocket(client, ["*"])
    reader = await subscribed(other_client, "*")
    runtime = client.app[keys.RUNTIME]
    hub = client.app[keys.WS_HUB]
    await asyncio.sleep(0.1)
    assert len(hub.connections) == 2
    received = 0
    count = 300
    padding = "x" * 64 * 1024

    async def read_all() -> None:
        nonlocal received
        while received < count:
            await next_event(reader)
            received += 1

    reading = asyncio.create_task(read_all())
    # The stalled client never reads: once the network buffers towards it are full, its events wait in its
    # queue, and when that is full the hub lets it go.
    for n in range(count):
        await runtime.events.publish(UserDeleted(user_id=n, username=padding))  # an event for the admins
        await asyncio.sleep(0.001)
    await asyncio.wait_for(reading, 30)
    assert received == count
    for _ in range(50):
        if len(hub.connections) == 1:
            break
        await asyncio.sleep(0.1)
    assert [c.principal.username for c in hub.connections] == ["eve"]
    stalled.close()
    await reader.close()


async def test_sockets_close_with_going_away_on_shutdown(medianest_client: Any) -> None:
    client = await medianest_client()
    await sign_in(client)
    socket = await client.ws_connect("/ws")
    await client.server.runner.shutdown()
    msg = await socket.receive(timeout=5)
    assert msg.type is aiohttp.WSMsgType.CLOSE
    assert msg.data == aiohttp.WSCloseCode.GOING_AWAY


@pytest.mark.production
async def test_events_reach_websockets_of_other_processes_through_redis(
    medianest_client: Any, medianest_redis_url: str, medianest_database_url: str
) -> None:
    first = await medianest_client(redis_url=medianest_redis_url, database_url=medianest_database_url)
    user = await sign_in(first, "fay")
    runtime = first.app[keys.RUNTIME]
    # A second MediaNest process on the same database and Redis.
    second = await medianest_client(settings=runtime.loaded)
    login = await second.post("/api/v1/auth/login", json={"username": "fay", "password": user.password})
    assert login.status == 200
    here = await subscribed(first, "notification.created")
    there = await subscribed(second, "notification.created")
    local: list[Any] = []

    async def seen(event: Any) -> None:
        local.append(event)

    runtime.events.subscribe(NotificationCreated, seen)
    await notify(runtime, [user.user_id], "From the first process")
    assert (await next_event(there))["data"]["notification"]["title"] == "From the first process"
    assert (await next_event(here))["data"]["notification"]["title"] == "From the first process"
    await asyncio.sleep(0.3)
    assert len(local) == 1  # delivered once in its own process, not again when Redis echoes it
    await here.close()
    await there.close()


async def test_sockets_close_when_access_ends(medianest_client: Any) -> None:
    admin_client = await medianest_client()
    laptop = await medianest_client(browser_of=admin_client)
    phone = await medianest_client(browser_of=admin_client)
    admin = await sign_in(admin_client, "root", role="admin")
    gus = await sign_in(laptop, "gus")
    await phone.post("/api/v1/auth/login", json={"username": "gus", "password": gus.password})
    laptop_ws = await laptop.ws_connect("/ws")
    phone_ws = await phone.ws_connect("/ws")
    # Revoking the phone's session closes the phone's socket only.
    sessions = (await (await laptop.get("/api/v1/me/sessions")).json())["sessions"]
    phone_session = next(s for s in sessions if not s["current"])
    await laptop.delete(f"/api/v1/me/sessions/{phone_session['id']}", headers=gus.headers)
    closed = await phone_ws.receive(timeout=5)
    assert (closed.type, closed.data) == (aiohttp.WSMsgType.CLOSE, 4001)
    await laptop_ws.send_json({"id": 1, "type": "ping"})
    assert (await laptop_ws.receive_json(timeout=5))["result"] == "pong"
    # Disabling the account closes the rest.
    await admin_client.patch(f"/api/v1/admin/users/{gus.user_id}", json={"status": "disabled"}, headers=admin.headers)
    closed = await laptop_ws.receive(timeout=5)
    assert (closed.type, closed.data) == (aiohttp.WSMsgType.CLOSE, 4001)


async def test_admins_are_told_once_when_a_plugin_fails(medianest_runtime: Any, medianest_settings: Any) -> None:
    from aiohttp.test_utils import TestClient, TestServer
    from example_plugins import FailsAtStartup

    from medianest_core.app import create_app
    from medianest_core.runtime import prepare_database
    from medianest_core.testing import add_user, entry_point

    loaded = medianest_settings()
    for attempt in range(2):  # two starts of the daemon with the same broken plugin
        runtime = medianest_runtime(entry_points=[entry_point("fragile", FailsAtStartup())], settings=loaded)
        await prepare_database(runtime)
        if attempt == 0:
            await add_user(runtime, "root", "root-password-123", role="admin")
            await add_user(runtime, "user", "user-password-123")
        client = TestClient(TestServer(create_app(runtime)))
        await client.start_server()
        await client.close()
    from sqlalchemy import select

    from medianest_core.models import Notification

    async with runtime.sessions() as db:
        notes = (await db.scalars(select(Notification))).all()
    assert [(n.user_id, n.title, n.level) for n in notes] == [(1, "The fragile plugin is not running", "error")]
    assert notes[0].body.startswith("failed start-up: ConnectionError: cannot reach the fragile service")
