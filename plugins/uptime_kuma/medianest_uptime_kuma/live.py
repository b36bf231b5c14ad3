"""Uptime Kuma's Socket.IO, signed in as a user: the one source of a monitor's last message, and of the 30-day
uptime on Uptime Kuma 1.23.

One read is one short visit: connect (``/socket.io/`` under the server's address, no ``Origin`` header, so Uptime
Kuma's origin check lets the websocket in), ``login`` with ``{username, password, token: ""}`` and its
acknowledgement, then collect what Uptime Kuma pushes after a login: ``monitorList`` (every monitor, by id), and per
monitor ``heartbeatList(id, rows, overwrite)`` (its last beats, oldest first, with their ``msg``),
``uptime(id, 24, ratio)``, ``uptime(id, 720, ratio)`` (30 days), ``avgPing(id, ms)`` and ``certInfo(id, json)``.
The read ends when every active monitor of the list has its beats and its 30-day uptime, or when
:data:`SETTLE_SECONDS` have passed since the login (what has come by then is used), and disconnects.

Nothing is changed in Uptime Kuma: only ``login`` is sent. The password never leaves this module but in the
``login`` message, and is never logged.

Errors: :class:`LoginFailed` (an :class:`~medianest_core.upstream.AuthFailed`) when Uptime Kuma refuses the user
(wrong name or password, a user with two-factor sign-in, too many attempts), with a reason a person can act on;
:class:`~medianest_core.upstream.Unavailable` when it cannot be reached, does not answer the login, or drops the
connection before the monitor list came.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import attrs

from medianest_core.upstream import AuthFailed, BadResponse, Unavailable, current_deadline
from medianest_uptime_kuma.client import (
    KEPT_BEATS,
    SERVICE,
    Beat,
    Monitor,
    Source,
    parse_time,
    status_of,
)

READ_SECONDS: Final = 20.0
"""The longest one read takes when no deadline is in force (a poll's deadline, when shorter, wins)."""
SETTLE_SECONDS: Final = 5.0
"""How long after the login the read waits for every monitor's beats and 30-day uptime."""
BAD_CREDENTIALS: Final = "Uptime Kuma refused the user name or password."
TWO_FACTOR: Final = "This Uptime Kuma user has two-factor sign-in; use a user without it."
THIRTY_DAYS: Final = 720
"""The period (hours) of the 30-day uptime Uptime Kuma pushes."""


Handler = Callable[..., None]


class LoginFailed(AuthFailed):
    """Uptime Kuma refused the sign-in; ``message`` says why, in words a person can act on."""


@attrs.frozen
class Login:
    """An Uptime Kuma user (the password is never shown)."""

    username: str
    password: str = attrs.field(repr=False)


@attrs.define
class LiveRead:
    """What one visit collected, in Uptime Kuma's names."""

    monitor_list: dict[str, Any] | None = None
    beats: dict[int, list[Mapping[str, Any]]] = attrs.field(factory=dict)
    uptime: dict[tuple[int, str], float] = attrs.field(factory=dict)
    avg_ping: dict[int, float] = attrs.field(factory=dict)
    cert: dict[int, Any] = attrs.field(factory=dict)
    auto_login: bool = False

    def waiting_for(self) -> set[int]:
        """The active monitors whose beats or 30-day uptime have not come yet (all of them before the list)."""
        if self.monitor_list is None:
            return {-1}
        missing: set[int] = set()
        for monitor in _listed(self.monitor_list):
            ident = monitor["id"]
            if ident not in self.beats or (ident, str(THIRTY_DAYS)) not in self.uptime:
                missing.add(ident)
        return missing


def _listed(monitor_list: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The active monitors of ``monitorList``, in id order."""
    found: list[dict[str, Any]] = []
    for value in monitor_list.values():
        if not isinstance(value, dict) or not isinstance(value.get("id"), int) or not value.get("name"):
            continue
        if not value.get("active", True):
            continue  # a paused monitor's last beat is old news
        found.append(value)
    return sorted(found, key=lambda item: int(item["id"]))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _cert_days(value: Any) -> int | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, dict) or not value.get("valid", True):
        return None
    info = value.get("certInfo")
    days = info.get("daysRemaining") if isinstance(info, dict) else None
    number = _number(days)
    return None if number is None else int(number)


def _beat(row: Mapping[str, Any]) -> Beat | None:
    status = status_of(row.get("status"))
    moment = row.get("time")
    if status is None or not isinstance(moment, str):
        return None
    try:
        at = parse_time(moment)
    except ValueError:
        raise BadResponse(SERVICE, f"unexpected answer (a beat's time is {moment[:40]!r})") from None
    msg = row.get("msg")
    return Beat(status, at, _number(row.get("ping")), msg if isinstance(msg, str) else "")


def _tags(value: Any) -> tuple[tuple[str, str], ...]:
    found: list[tuple[str, str]] = []
    for tag in value if isinstance(value, list) else ():
        if isinstance(tag, dict) and isinstance(tag.get("name"), str):
            found.append((tag["name"], str(tag.get("value") or "")))
    return tuple(found)


def monitors_from_live(read: LiveRead) -> list[Monitor]:
    """The active monitors of one visit, each with its beats, the message of its last beat and its uptimes."""
    found: list[Monitor] = []
    for item in _listed(read.monitor_list or {}):
        ident = int(item["id"])
        beats = sorted(
            (beat for beat in map(_beat, read.beats.get(ident, ())) if beat is not None), key=lambda b: b.time
        )
        last = beats[-1] if beats else None
        url = item.get("url")
        found.append(
            Monitor(
                id=ident,
                name=str(item["name"]),
                type=item.get("type") if isinstance(item.get("type"), str) else None,
                status=last.status if last else None,
                latency_ms=last.ping_ms if last else None,
                uptime_24h=read.uptime.get((ident, "24")),
                uptime_30d=read.uptime.get((ident, str(THIRTY_DAYS))),
                cert_days=_cert_days(read.cert.get(ident)),
                message=(last.msg or None) if last else None,
                beats=tuple(beats[-KEPT_BEATS:]),
                url=url if isinstance(url, str) and url not in ("", "https://", "http://") else None,
                tags=_tags(item.get("tags")),
                sources=frozenset({Source.SOCKET}),
            )
        )
    return found


def socket_address(url: str) -> tuple[str, str]:
    """The address to connect to and the Socket.IO path, for an Uptime Kuma served at ``url`` (perhaps under a
    path, behind a proxy)."""
    parts = urlsplit(url)
    base = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, "", "", "")), f"{base}/socket.io".lstrip("/")


def _refusal(answer: Any) -> LoginFailed | None:
    """The reason of a refused login, or ``None`` when Uptime Kuma let the user in."""
    if not isinstance(answer, dict):
        return LoginFailed(SERVICE, "Uptime Kuma answered the sign-in with something unexpected.")
    if answer.get("tokenRequired"):
        return LoginFailed(SERVICE, TWO_FACTOR)
    if answer.get("ok") is True:
        return None
    msg = answer.get("msg")
    if msg in ("authIncorrectCreds", "authUserInactiveOrDeleted") or not isinstance(msg, str) or not msg:
        return LoginFailed(SERVICE, BAD_CREDENTIALS)
    if msg == "authInvalidToken":
        return LoginFailed(SERVICE, TWO_FACTOR)
    return LoginFailed(SERVICE, f"Uptime Kuma refused the sign-in: {msg[:200]}")


def _seconds(limit: float) -> float:
    """``limit`` seconds, or what is left of the deadline in force when that is sooner."""
    found = current_deadline()
    if found is None:
        return limit
    return max(0.0, min(limit, found.remaining()))


async def read(
    url: str, login: Login, *, seconds: float = READ_SECONDS, settle: float = SETTLE_SECONDS
) -> list[Monitor]:
    """One visit to Uptime Kuma at ``url`` as ``login``: its active monitors (see the module's documentation)."""
    budget = _seconds(seconds)
    if budget <= 0:
        raise Unavailable(SERVICE, "no time left to read Uptime Kuma's socket.io")
    try:
        async with asyncio.timeout(budget):
            collected = await _visit(url, login, settle)
    except TimeoutError:
        raise Unavailable(SERVICE, f"socket.io did not answer within {budget:g} s") from None
    return monitors_from_live(collected)


async def _visit(url: str, login: Login, settle: float) -> LiveRead:
    # Imported on the first read, not at start-up: python-socketio and what it brings weigh some 13 MB.
    import socketio  # type: ignore[import-untyped]  # python-socketio ships no types

    collected = LiveRead()
    changed = asyncio.Event()
    gone = asyncio.Event()
    http = aiohttp.ClientSession()
    sio = socketio.AsyncClient(
        reconnection=False, logger=False, engineio_logger=False, handle_sigint=False, http_session=http
    )

    def on(event: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            async def run(*args: Any) -> None:
                handler(*args)
                changed.set()

            sio.on(event, run)
            return handler

        return register

    @on("monitorList")
    def _monitors(data: Any, *_: Any) -> None:
        if isinstance(data, dict):
            collected.monitor_list = data

    @on("heartbeatList")
    def _beats(monitor_id: Any, rows: Any = None, overwrite: Any = False, *_: Any) -> None:
        ident = _ident(monitor_id)
        if ident is None or not isinstance(rows, list):
            return
        rows = [row for row in rows if isinstance(row, dict)]
        collected.beats[ident] = rows if overwrite or ident not in collected.beats else collected.beats[ident] + rows

    @on("heartbeat")
    def _live_beat(row: Any, *_: Any) -> None:
        ident = _ident(row.get("monitorID") if isinstance(row, dict) else None)
        if ident is not None and ident in collected.beats:
            collected.beats[ident] = [*collected.beats[ident], row]

    @on("uptime")
    def _uptime(monitor_id: Any, period: Any = None, ratio: Any = None, *_: Any) -> None:
        ident, value = _ident(monitor_id), _number(ratio)
        if ident is not None and value is not None:
            collected.uptime[(ident, str(period))] = value

    @on("avgPing")
    def _avg(monitor_id: Any, ms: Any = None, *_: Any) -> None:
        ident, value = _ident(monitor_id), _number(ms)
        if ident is not None and value is not None:
            collected.avg_ping[ident] = value

    @on("certInfo")
    def _cert(monitor_id: Any, info: Any = None, *_: Any) -> None:
        ident = _ident(monitor_id)
        if ident is not None:
            collected.cert[ident] = info

    @on("autoLogin")
    def _auto(*_: Any) -> None:
        collected.auto_login = True

    async def disconnected(*_: Any) -> None:
        gone.set()
        changed.set()

    sio.on("disconnect", disconnected)
    address, path = socket_address(url)
    try:
        try:
            await sio.connect(address, socketio_path=path, transports=["websocket"], wait_timeout=10)
        except socketio.exceptions.ConnectionError as exc:
            raise Unavailable(SERVICE, f"socket.io could not connect ({str(exc)[:120] or 'refused'})") from None
        try:
            answer = await sio.call(
                "login", {"username": login.username, "password": login.password, "token": ""}, timeout=60
            )
        except socketio.exceptions.TimeoutError:
            raise Unavailable(SERVICE, "Uptime Kuma did not answer the sign-in") from None
        except socketio.exceptions.SocketIOError:
            raise Unavailable(SERVICE, "Uptime Kuma closed the connection at the sign-in") from None
        refused = _refusal(answer)
        if refused is not None and not collected.auto_login:
            raise refused
        settled_at = time.monotonic() + settle
        while collected.waiting_for():
            if gone.is_set():
                if collected.monitor_list is None:
                    raise Unavailable(SERVICE, "Uptime Kuma closed the connection before listing the monitors")
                break
            left = settled_at - time.monotonic()
            if left <= 0:
                if collected.monitor_list is None:
                    raise Unavailable(SERVICE, "Uptime Kuma signed the user in but sent no monitor list")
                break
            changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), left)
        return collected
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(_close(sio, http))


async def _close(sio: Any, http: aiohttp.ClientSession) -> None:
    try:
        async with asyncio.timeout(2):
            await sio.disconnect()
    finally:
        await http.close()


def _ident(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
