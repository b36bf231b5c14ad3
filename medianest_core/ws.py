"""The websocket at ``GET /ws``: live events for the signed-in person, and commands.

Every message is a JSON object ``{"id": <int>, "type": <str>, …}``. Built-in commands: ``subscribe`` and
``unsubscribe`` (``{"topics": ["notification.created", …]}``; ``"*"`` is every topic) and ``ping``. Plugins add
commands through the ``ws_commands`` hook, as ``"<plugin>/<name>"`` with a payload structured into an attrs class.
Each command is answered with ``{"id", "type": "result", "success": true, "result": …}`` or, on failure, with
``"success": false`` and ``"error"`` in the JSON error shape. Events arrive as
``{"type": "event", "topic": <event name>, "data": {…}}``, only to their audience.

Each connection has a bounded queue: a client that stops reading is disconnected rather than slowing the
server. On shutdown every socket is closed with 1001 (going away). Events are not replayed after a reconnect:
clients read the state again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any, Final

import attrs
import structlog
from aiohttp import WSCloseCode, WSMsgType, web

from medianest_core import keys
from medianest_core.auth.net import own_origin
from medianest_core.auth.principal import Principal, require
from medianest_core.errors import ApiError, ErrorCode, error_body
from medianest_core.schema import CONVERTER, bad_text, parse_json
from medianest_core.types import Access, Event, Route, WsCommand

log = structlog.get_logger("medianest.ws")

QUEUE_SIZE: Final = 256
HEARTBEAT: Final = 30.0
MAX_TOPICS: Final = 100
TOO_SLOW: Final = 4008
SIGNED_OUT: Final = 4001


@attrs.define(eq=False)
class Connection:
    """One open websocket of one signed-in person."""

    principal: Principal
    socket: web.WebSocketResponse
    queue: asyncio.Queue[str]
    transport: asyncio.Transport | None = None
    sender: asyncio.Task[None] | None = None
    topics: set[str] = attrs.field(factory=set)
    closing: bool = False

    def wants(self, event: Event) -> bool:
        if "*" not in self.topics and event.name not in self.topics:
            return False
        return event.audience().includes(self.principal.user_id, self.principal.is_admin)


class Hub:
    """Every open connection of this process; it fans events out to their audience."""

    def __init__(self, commands: dict[str, tuple[str, WsCommand]], queue_size: int = QUEUE_SIZE) -> None:
        self.connections: set[Connection] = set()
        self.commands = commands
        self.queue_size = queue_size
        self.converter = CONVERTER  # payloads are read as strictly as request bodies

    async def deliver(self, event: Event) -> None:
        # Encoded once for every connection that receives it.
        message = json.dumps({"type": "event", "topic": event.name, "data": attrs.asdict(event)}, default=str)
        for conn in list(self.connections):
            if conn.closing or not conn.wants(event):
                continue
            try:
                conn.queue.put_nowait(message)
            except asyncio.QueueFull:
                # It stopped reading: let it go rather than hold events for it.
                log.info("ws_too_slow", user_id=conn.principal.user_id)
                self.drop(conn)

    def drop(self, conn: Connection) -> None:
        conn.closing = True
        self.connections.discard(conn)
        asyncio.get_running_loop().create_task(self._close_slow(conn))

    @staticmethod
    async def _close_slow(conn: Connection) -> None:
        if conn.sender is not None:
            conn.sender.cancel()
        try:
            async with asyncio.timeout(2):
                await conn.socket.close(code=TOO_SLOW, message=b"too slow: reconnect and read the state again")
        except Exception:
            # A client that reads nothing never takes the closing frame either: cut the connection.
            if conn.transport is not None:
                conn.transport.abort()

    async def sign_out(self, user_id: int, session_id: str | None = None) -> int:
        """Close the sockets of a person (all of them, or one session's) whose access just ended."""
        ended = [
            c
            for c in self.connections
            if c.principal.user_id == user_id and (session_id is None or c.principal.session_id == session_id)
        ]
        for conn in ended:
            conn.closing = True
            self.connections.discard(conn)
            with contextlib.suppress(Exception):
                await conn.socket.close(code=SIGNED_OUT, message=b"signed out")
        return len(ended)

    async def close_all(self) -> None:
        for conn in list(self.connections):
            conn.closing = True
            with contextlib.suppress(Exception):
                await conn.socket.close(code=WSCloseCode.GOING_AWAY, message=b"MediaNest is stopping")

    async def run_command(self, conn: Connection, message: dict[str, Any]) -> Any:
        kind = message.get("type")
        args = {k: v for k, v in message.items() if k not in ("id", "type")}
        if kind == "ping":
            return "pong"
        if kind in ("subscribe", "unsubscribe"):
            topics = args.get("topics")
            if not isinstance(topics, list) or not all(isinstance(t, str) and 0 < len(t) <= 100 for t in topics):
                raise ApiError(422, ErrorCode.VALIDATION_FAILED, "topics must be a list of event names.")
            if kind == "subscribe":
                if len(conn.topics | set(topics)) > MAX_TOPICS:
                    raise ApiError(
                        422, ErrorCode.VALIDATION_FAILED, f"A connection follows at most {MAX_TOPICS} topics."
                    )
                conn.topics.update(topics)
            else:
                conn.topics.difference_update(topics)
            return {"topics": sorted(conn.topics)}
        found = self.commands.get(str(kind))
        if found is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, f"Unknown command {kind!r}.")
        _, command = found
        if command.access is Access.ADMIN and not conn.principal.is_admin:
            raise ApiError(403, ErrorCode.FORBIDDEN, "This command is for admins.")
        payload: Any = args
        if command.payload is not None:
            try:
                payload = self.converter.structure(args, command.payload)
            except Exception as exc:
                from medianest_core.settings import describe_error

                fields = {key or "payload": msg for key, msg in describe_error(exc, command.payload)}
                raise ApiError(
                    422, ErrorCode.VALIDATION_FAILED, "The command's fields are wrong.", details={"fields": fields}
                ) from None
        return await command.handler(conn, payload)


async def _sender(conn: Connection) -> None:
    while True:
        message = await conn.queue.get()
        await conn.socket.send_str(message)


async def websocket(request: web.Request) -> web.StreamResponse:
    who = require(request)
    origin = request.headers.get("Origin")
    if origin is not None and origin != own_origin(request):
        raise ApiError(403, ErrorCode.FORBIDDEN, "This websocket comes from another site.", details={"origin": origin})
    hub = request.config_dict[keys.WS_HUB]
    socket = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=64 * 1024)
    await socket.prepare(request)
    conn = Connection(
        principal=who, socket=socket, queue=asyncio.Queue(maxsize=hub.queue_size), transport=request.transport
    )
    hub.connections.add(conn)
    sender = conn.sender = asyncio.create_task(_sender(conn))
    try:
        async for msg in socket:
            if msg.type is not WSMsgType.TEXT:
                continue
            reply = await _answer(hub, conn, msg.data)
            if reply is not None:
                try:
                    conn.queue.put_nowait(json.dumps(reply, default=str))
                except asyncio.QueueFull:
                    hub.drop(conn)
                    break
    finally:
        hub.connections.discard(conn)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
    return socket


def _is_id(value: Any) -> bool:
    """A message's ``id``: a whole number that JSON and JavaScript carry exactly."""
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= 2**53


async def _answer(hub: Hub, conn: Connection, text: str) -> dict[str, Any] | None:
    try:
        message = parse_json(text)
    except ValueError as exc:
        body = error_body(ErrorCode.BAD_REQUEST, f"Not JSON ({exc}).")
        return {"id": None, "type": "result", "success": False, **body}
    if not isinstance(message, dict) or not _is_id(message.get("id")) or not message.get("type"):
        return {
            "id": message.get("id") if isinstance(message, dict) and _is_id(message.get("id")) else None,
            "type": "result",
            "success": False,
            **error_body(ErrorCode.BAD_REQUEST, 'Messages are {"id": <int>, "type": <str>, …}.'),
        }
    bad = bad_text(message, "")
    if bad is not None:
        body = error_body(ErrorCode.VALIDATION_FAILED, f"{bad[0]}: {bad[1]}.", {"fields": {bad[0]: bad[1]}})
        return {"id": message["id"], "type": "result", "success": False, **body}
    try:
        result = await hub.run_command(conn, message)
    except ApiError as exc:
        return {
            "id": message["id"],
            "type": "result",
            "success": False,
            **error_body(exc.code, exc.message, exc.details),
        }
    except Exception:
        log.exception("ws_command_failed", command=message.get("type"))
        body = error_body(ErrorCode.INTERNAL_ERROR, "The command failed; it has been logged.")
        return {"id": message["id"], "type": "result", "success": False, **body}
    return {"id": message["id"], "type": "result", "success": True, "result": result}


async def hub_ctx(app: web.Application) -> AsyncIterator[None]:
    """Connect the hub to the event bus; on shutdown, close every socket with 1001."""
    runtime = app[keys.RUNTIME]
    hub = app[keys.WS_HUB]
    unsubscribe = runtime.events.subscribe(Event, hub.deliver)
    yield
    unsubscribe()


async def close_sockets(app: web.Application) -> None:
    await app[keys.WS_HUB].close_all()


ROUTES = (Route("GET", "/ws", websocket, name="ws"),)
