"""A fake of Uptime Kuma's HTTP API (1.23 or 2.x), served by aiohttp on 127.0.0.1, for tests, benchmarks and plugin
authors.

It answers as Uptime Kuma's code does (2.5.3, and 1.23.16 for ``version="1.23…"``):

- **Monitors** (:meth:`FakeUptimeKuma.add_monitor`): name, type, address (``url``; ``https://`` when it has none,
  as Uptime Kuma stores it), host and port, parent group, active or paused, tags with values, and for an https
  monitor of the http kinds a certificate's days left. Each beats every ``interval`` seconds of the fake's clock
  (:meth:`~FakeUptimeKuma.advance`) with its current status; :meth:`~FakeUptimeKuma.set_status` changes the status
  and beats at once (with a message and a latency, as a check would). A beat is "important" as Uptime Kuma decides
  (a change among up, down and maintenance, pending → down, or a monitor's first beat).
- **Status pages** (:meth:`~FakeUptimeKuma.add_status_page`): ``GET /api/status-page/{slug}`` →
  ``{config, incidents, publicGroupList, maintenanceList}`` (1.23: ``incident``, one or null, and its own
  ``config`` fields); a group's monitors are ``{id, name, sendUrl, type}`` with ``url`` when the page shows it,
  ``tags`` when it shows tags and ``certExpiryDaysRemaining``/``validCert`` when it shows certificate expiry (2.x
  for every monitor, ``""``/``false`` without a certificate; 1.23 for https monitors of the http kinds only). The
  slug is lower-cased by 2.x, not by 1.23. A slug it does not know: 2.x answers 404 ``{"status": "fail", "msg":
  "Status Page Not Found"}``; 1.23 never answers. Neither checks ``published``: an unpublished page is answered
  like any other, with ``"published": false``.
- **Heartbeats**: ``GET /api/status-page/heartbeat/{slug}`` → ``{heartbeatList: {"<id>": [{status, time, msg,
  ping}, …]}, uptimeList: {"<id>_24": ratio}}``: the last 100 beats (1.23: 50), oldest first, ``msg`` always
  ``""``, ``time`` as UTC ``YYYY-MM-DD HH:mm:ss.SSS`` (without milliseconds with ``mariadb=True``, as 2.x on
  MariaDB). The 24-hour uptime is 2.x's (up beats over up and down beats, pending counted as down, maintenance
  left out) or 1.23's (each beat weighted by the time since the one before, maintenance counted as up). A slug it
  does not know answers 200 with both lists empty.
- **Its cache**: the status page's answer is kept 5 minutes and the heartbeats' 1 minute (of the fake's clock), per
  URL, 404s included; an important beat clears every kept answer. So a switch to down is seen at once, up → pending
  only when the minute is over. Set-up calls (adding monitors and pages, incidents) clear it too.
  :attr:`~FakeUptimeKuma.caching` turns it off.
- **``/metrics``**: HTTP basic auth whose password is the API key (``uk<id>_<secret>``; the user name is not
  read); without it, or with another, 401 with ``WWW-Authenticate: Basic`` and an empty body, as for a key made
  inactive (:attr:`~FakeUptimeKuma.key_active`) or past its expiry (:attr:`~FakeUptimeKuma.key_expires`).
  :attr:`~FakeUptimeKuma.disable_auth` lets anyone in. The answer is Prometheus text (``text/plain;
  version=0.0.4``) with the ``monitor_*`` gauges of each active monitor that has beaten: ``monitor_status``,
  ``monitor_response_time`` (ms; -1 without one), for a checked certificate ``monitor_cert_is_valid`` and
  ``monitor_cert_days_remaining``; 2.x also ``monitor_uptime_ratio`` and ``monitor_response_time_seconds`` by
  ``window`` (``1d``, ``30d``, ``365d``), ``monitor_id`` among the labels and one label per tag (its values
  sorted, joined by commas), tags first. Labels hold ``"null"`` for a missing host or port. A few process and HTTP
  series (illustrative, as Node's client adds them) come first.
- **Its errors**: :attr:`~FakeUptimeKuma.error` makes the status-page routes fail as Uptime Kuma does when its
  database fails (``{"status": "fail", "msg": …}``: 503 for a busy or locked SQLite, 403 for anything else).
- **Socket.IO** (python-socketio, path ``/socket.io/``), as 2.5.3's and 1.23.16's ``server.js``: on connect
  ``info`` (``primaryBaseURL``, ``serverTimezone``, ``serverTimezoneOffset``) then ``loginRequired``. A websocket
  whose ``Origin`` names another host than ``Host`` is refused (403); no ``Origin``, or polling, passes.
  ``login`` ``{username, password, token}`` with an acknowledgement: ``{ok: true, token}`` for a user of
  :meth:`~FakeUptimeKuma.add_user` (:attr:`~FakeUptimeKuma.username` and :attr:`~FakeUptimeKuma.password` from the
  start); ``{ok: false, msg: "authIncorrectCreds", msgi18n: true}`` for a wrong name or password;
  ``{tokenRequired: true}`` for a user with two-factor sign-in and no token (a wrong token:
  ``authInvalidToken``); past :attr:`~FakeUptimeKuma.login_limit` attempts in a minute ``{ok: false, msg: "Too
  frequently, try again later."}``. After a login: ``info`` with the version, ``monitorList`` (every monitor by id,
  paused ones included), the other lists (empty), then per monitor ``heartbeatList(id, rows, true)`` (the last 100
  beats as database rows, oldest first, snake_case, with their ``msg``), 1.23 also ``importantHeartbeatList(id,
  rows, true)`` (the important beats, newest first, at most 500), ``avgPing(id, ms)``, ``uptime(id, 24, ratio)``,
  ``uptime(id, 720, ratio)``, 2.x also ``uptime(id, "1y", ratio)``, and ``certInfo(id, json)`` for a checked
  certificate. A monitor's message is what :meth:`~FakeUptimeKuma.set_status` (or ``add_monitor``) gave it.
  :attr:`~FakeUptimeKuma.hang_socket` holds only Socket.IO's requests; :attr:`~FakeUptimeKuma.login_silent`
  leaves ``login`` unanswered; :attr:`~FakeUptimeKuma.logins` records the user names that tried (never a
  password).
- Any other ``GET`` answers 200 with the web app's HTML page, as Uptime Kuma does.
- **Switches**: :attr:`~FakeUptimeKuma.hang` (accept every request, never answer), :attr:`~FakeUptimeKuma.down`
  (answer 503 to everything, as a reverse proxy does when Uptime Kuma is not running), Socket.IO included; every
  request is recorded in :attr:`~FakeUptimeKuma.calls` and counted by path (:meth:`~FakeUptimeKuma.count`).

Not modelled: live pushes over Socket.IO after the login (``heartbeat``, ``updateMonitorIntoList``), every call but
``login``, badges, push monitors, maintenance windows (a monitor in maintenance is one whose status is set to
maintenance), the rate limit of API keys.

Usage::

    kuma = FakeUptimeKuma(version="2.5.3")
    plex = kuma.add_monitor("Plex", url="https://plex.example.org", cert_days=40, tags=[("service", "plex")])
    nas = kuma.add_monitor("NAS", type="ping", hostname="nas.lan")
    kuma.add_status_page("home", "Home", {"Media": [plex], "Storage": [nas]})
    await kuma.start()
    settings = {"url": kuma.url, "status_pages": ["home"], "api_key": kuma.api_key}
    # or, signed in over Socket.IO: {"url": kuma.url, "username": kuma.username, "password": kuma.password}
    ...
    kuma.set_status(nas.id, MonitorStatus.DOWN, msg="Request timed out")
    kuma.advance(minutes=5)
    await kuma.stop()
"""

from __future__ import annotations

import base64
import binascii
import collections
import itertools
import json
import math
import re
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

import attrs
import socketio  # type: ignore[import-untyped]  # python-socketio ships no types
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from multidict import CIMultiDict

from medianest_core.fakes import FakeServer
from medianest_uptime_kuma.client import MonitorStatus, format_time

__all__ = [
    "V1",
    "V2",
    "FakeBeat",
    "FakeCall",
    "FakeGroup",
    "FakeIncident",
    "FakeMonitor",
    "FakeStatusPage",
    "FakeTag",
    "FakeUptimeKuma",
]

V2: Final = "2.5.3"
V1: Final = "1.23.16"
TLS_TYPES: Final = frozenset({"http", "keyword", "json-query"})
"""The monitor types whose https address has its certificate checked."""
PAGE_TTL: Final = 300.0
HEARTBEAT_TTL: Final = 60.0
METRICS_CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
_NOT_FOUND: Final = {"status": "fail", "msg": "Status Page Not Found"}
_API_KEY: Final = re.compile(r"^uk(\d+)_(.+)$")
_INDEX_HTML: Final = (
    '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="UTF-8"><title>Uptime Kuma</title></head>\n'
    '<body><div id="app"></div></body>\n</html>\n'
)
_CUSTOM_CSS: Final = "body {\n  \n}\n"
_HELP: Final = {
    "monitor_cert_days_remaining": "The number of days remaining until the certificate expires",
    "monitor_cert_is_valid": "Is the certificate still valid? (1 = Yes, 0= No)",
    "monitor_uptime_ratio": "Uptime ratio calculated over sliding window specified by the 'window' label. (0.0 - 1.0)",
    "monitor_response_time_seconds": (
        "Average response time in seconds calculated over sliding window specified by the 'window' label"
    ),
    "monitor_response_time": "Monitor Response Time (ms)",
    "monitor_status": "Monitor Status (1 = UP, 0= DOWN, 2= PENDING, 3= MAINTENANCE)",
}
_WINDOWS: Final = (("1d", 1), ("30d", 30), ("365d", 365))
SOCKET_PATH: Final = "/socket.io/"
TOO_FREQUENT: Final = "Too frequently, try again later."


# ---- what the fake knows ------------------------------------------------------------------------------------------


@attrs.frozen
class FakeCall:
    """A request the fake received: ``at`` is when it arrived (``time.monotonic()``)."""

    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDict[str]
    at: float


@attrs.define
class FakeBeat:
    """A beat as Uptime Kuma stores it; ``duration`` is the seconds since the monitor's beat before."""

    status: MonitorStatus
    time: datetime
    msg: str
    ping: int | None
    important: bool
    duration: int
    id: int = 0
    """Its row's id in the ``heartbeat`` table."""


@attrs.define
class FakeUser:
    """An Uptime Kuma user; ``two_factor`` is the code its authenticator shows (``None``: no two-factor sign-in)."""

    username: str
    password: str = attrs.field(repr=False)
    two_factor: str | None = None
    active: bool = True


@attrs.define
class FakeTag:
    id: int
    name: str
    color: str


@attrs.define
class FakeMonitor:
    """A monitor; ``status`` is ``None`` until its first beat, and it beats on its own only after that."""

    id: int
    name: str
    type: str
    url: str
    hostname: str | None
    port: int | None
    parent: int | None
    active: bool
    interval: int
    ping: int | None
    tags: list[tuple[int, FakeTag, str]] = attrs.field(factory=list)
    """``(monitor_tag id, tag, value)``, in the order given."""
    status: MonitorStatus | None = None
    msg: str = ""
    cert_expires: datetime | None = None
    cert_valid: bool = True
    beats: list[FakeBeat] = attrs.field(factory=list)
    next_beat: datetime | None = None

    @property
    def checks_tls(self) -> bool:
        """Whether Uptime Kuma checks its certificate: an https address of one of the http kinds."""
        return self.type in TLS_TYPES and self.url.lower().startswith("https://")

    @property
    def last(self) -> FakeBeat | None:
        return self.beats[-1] if self.beats else None


@attrs.define
class FakeGroup:
    id: int
    name: str
    weight: int
    monitors: list[int]


@attrs.define
class FakeIncident:
    id: int
    title: str
    content: str
    style: str
    created: datetime
    updated: datetime | None = None
    pin: bool = True
    active: bool = True


@attrs.define
class FakeStatusPage:
    id: int
    slug: str
    title: str
    description: str | None
    published: bool
    show_tags: bool
    show_cert_expiry: bool
    footer_text: str | None
    groups: list[FakeGroup]
    shown_urls: set[int]
    """The monitors whose address the page shows (``sendUrl``)."""
    incidents: list[FakeIncident] = attrs.field(factory=list)
    theme: str = "auto"
    auto_refresh_interval: int = 300


@attrs.frozen
class _Kept:
    """An answer in Uptime Kuma's cache, until ``until`` (the fake's clock, as a POSIX timestamp)."""

    until: float
    status: int
    body: str


def _major(version: str) -> int:
    head = version.split(".", 1)[0]
    if not head.isdigit():
        raise ValueError(f"not a version of Uptime Kuma: {version!r}")
    return int(head)


def _js_number(value: float) -> str:
    """A number as JavaScript prints it (prom-client writes values so)."""
    if math.isnan(value):
        return "Nan"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    if 1e-6 <= abs(value) < 1e21:
        return format(Decimal(repr(float(value))), "f")
    mantissa, _, exponent = repr(float(value)).partition("e")
    return f"{mantissa}e{'+' if int(exponent) > 0 else '-'}{abs(int(exponent))}"


def _js_json(value: float) -> float | int:
    """A number as JavaScript's JSON writes it (``1``, not ``1.0``)."""
    return int(value) if value == int(value) else value


def _label_value(value: Any) -> str:
    """A label's value as prom-client writes it: JavaScript's ``String(value)``, escaped."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, list):
        text = ",".join(str(item) for item in value)
    else:
        text = str(value)
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sanitize(text: str) -> str:
    """A tag's name or value as a Prometheus label (2.x's ``sanitizeForPrometheus``)."""
    text = re.sub(r"[^a-zA-Z0-9_]", "", text)
    return re.sub(r"^[^a-zA-Z_]+", "", text)


def _important(previous: MonitorStatus | None, current: MonitorStatus) -> bool:
    """Uptime Kuma's ``isImportantBeat``."""
    down, up, maintenance, pending = (
        MonitorStatus.DOWN,
        MonitorStatus.UP,
        MonitorStatus.MAINTENANCE,
        MonitorStatus.PENDING,
    )
    return previous is None or (previous, current) in {
        (down, maintenance),
        (up, maintenance),
        (maintenance, down),
        (maintenance, up),
        (up, down),
        (down, up),
        (pending, down),
    }


# ---- the fake -----------------------------------------------------------------------------------------------------


class FakeUptimeKuma(FakeServer):
    """Uptime Kuma's status pages, heartbeats and ``/metrics`` on 127.0.0.1 (see the module's documentation)."""

    def __init__(self, version: str = V2, *, api_key: str | None = None, mariadb: bool = False) -> None:
        super().__init__()
        self.version = version
        self.major = _major(version)
        """1 for 1.23's answers, 2 (or more) for 2.x's."""
        if api_key is not None and _API_KEY.match(api_key) is None:
            raise ValueError("an Uptime Kuma API key reads uk<id>_<secret>")
        self.api_key = api_key or f"uk1_{secrets.token_urlsafe(24)}"
        """The password ``/metrics`` takes."""
        self.key_active = True
        self.key_expires: datetime | None = None
        self.disable_auth = False
        """When true ``/metrics`` asks for no credentials (Uptime Kuma's "disable auth")."""
        self.mariadb = mariadb
        """When true beats' times have no milliseconds (2.x on MariaDB)."""
        self.caching = True
        self.error: str | None = None
        """When set, the status-page routes fail with this message as Uptime Kuma's ``sendHttpError`` answers it:
        503 for ``SQLITE_BUSY`` or ``SQLITE_LOCKED``, 404 when it says "not found", 403 otherwise; the failure is
        kept like any answer (:meth:`clear_cache` after changing it back)."""
        self.hang = False
        """When true every request is accepted and never answered (until :meth:`stop`)."""
        self.down = False
        """When true every request is answered 503."""
        self.calls: list[FakeCall] = []
        self.counts: collections.Counter[str] = collections.Counter()
        self.username = "admin"
        """The user made at set-up (Socket.IO's ``login``)."""
        self.password = secrets.token_urlsafe(16)
        self.users: dict[str, FakeUser] = {self.username: FakeUser(self.username, self.password)}
        self.login_limit = 20
        """Login attempts allowed per minute (Uptime Kuma's login rate limit)."""
        self.hang_socket = False
        """When true Socket.IO's requests (only those) are accepted and never answered."""
        self.login_silent = False
        """When true ``login`` is never acknowledged."""
        self.logins: list[str] = []
        """The user names that tried to log in over Socket.IO, in order."""
        self.sio: socketio.AsyncServer | None = None
        self._login_times: list[float] = []
        self._signed_in: dict[str, str] = {}
        self._beat_ids = itertools.count(1)
        self._offset = timedelta()
        self._monitors: dict[int, FakeMonitor] = {}
        self._pages: dict[str, FakeStatusPage] = {}
        self._tags: dict[str, FakeTag] = {}
        self._kept: dict[str, _Kept] = {}
        self._monitor_ids = itertools.count(1)
        self._tag_ids = itertools.count(1)
        self._monitor_tag_ids = itertools.count(1)
        self._page_ids = itertools.count(1)
        self._group_ids = itertools.count(1)
        self._incident_ids = itertools.count(1)
        self.started_at = self.now()

    # -- lifecycle and clock -----------------------------------------------------------------------------------

    def middlewares(self) -> list[Middleware]:
        return [self._middleware]

    def count(self, path: str) -> int:
        """How many requests ``path`` received."""
        return self.counts[path]

    def now(self) -> datetime:
        """The fake's clock: the time, moved on by :meth:`advance`."""
        return datetime.now(UTC) + self._offset

    def advance(self, seconds: float = 0, *, minutes: float = 0, hours: float = 0, days: float = 0) -> None:
        """Move the fake's clock on; every active monitor that has beaten beats again at each of its intervals on
        the way, with its current status, message and latency."""
        target = self.now() + timedelta(seconds=seconds, minutes=minutes, hours=hours, days=days)
        for monitor in self._monitors.values():
            if not monitor.active or monitor.status is None or monitor.next_beat is None:
                continue
            step = timedelta(seconds=monitor.interval)
            while monitor.next_beat <= target:
                at = monitor.next_beat
                self._beat(monitor, monitor.status, monitor.msg, self._ping_for(monitor, monitor.status), at)
                monitor.next_beat = at + step
        self._offset = target - datetime.now(UTC)

    def clear_cache(self) -> None:
        """Forget every kept answer (as an important beat does)."""
        self._kept.clear()

    def add_user(self, username: str, password: str, *, two_factor: str | None = None) -> FakeUser:
        """A user who may log in over Socket.IO; with ``two_factor`` (the code to give) a user with two-factor
        sign-in."""
        user = FakeUser(username, password, two_factor)
        self.users[username] = user
        return user

    # -- set-up ------------------------------------------------------------------------------------------------

    def add_monitor(
        self,
        name: str,
        *,
        type: str = "http",
        url: str | None = None,
        hostname: str | None = None,
        port: int | None = None,
        parent: int | FakeMonitor | None = None,
        active: bool = True,
        tags: Iterable[str | tuple[str, str]] = (),
        interval: int = 60,
        status: MonitorStatus | int | None = MonitorStatus.UP,
        ping: int | None = 42,
        msg: str = "",
        cert_days: int | None = None,
        cert_valid: bool = True,
    ) -> FakeMonitor:
        """A monitor; with a ``status`` (up by default) it beats now for the first time. ``ping`` is its latency
        while up; ``cert_days`` the days its certificate has left (only for an https monitor of the http kinds,
        whose certificate Uptime Kuma checks)."""
        monitor = FakeMonitor(
            id=next(self._monitor_ids),
            name=name,
            type=type,
            url=url or "https://",
            hostname=hostname,
            port=port,
            parent=parent.id if isinstance(parent, FakeMonitor) else parent,
            active=active,
            interval=interval,
            ping=ping,
            msg=msg,
        )
        for tag in tags:
            tag_name, value = (tag, "") if isinstance(tag, str) else tag
            monitor.tags.append((next(self._monitor_tag_ids), self._tag(tag_name), value))
        if cert_days is not None and monitor.checks_tls:
            monitor.cert_expires = self.now() + timedelta(days=cert_days, hours=1)
            monitor.cert_valid = cert_valid
        self._monitors[monitor.id] = monitor
        if status is not None:
            self.set_status(monitor.id, status, msg=msg)
        self.clear_cache()
        return monitor

    def _tag(self, name: str) -> FakeTag:
        if name not in self._tags:
            self._tags[name] = FakeTag(next(self._tag_ids), name, "#2563EB")
        return self._tags[name]

    def monitor(self, monitor_id: int) -> FakeMonitor:
        return self._monitors[monitor_id]

    @property
    def monitors(self) -> list[FakeMonitor]:
        return list(self._monitors.values())

    def set_active(self, monitor_id: int, active: bool) -> None:
        """Pause or resume a monitor (a paused one beats no more and leaves ``/metrics``)."""
        monitor = self._monitors[monitor_id]
        monitor.active = active
        monitor.next_beat = self.now() if active and monitor.status is not None else None

    def add_status_page(
        self,
        slug: str,
        title: str,
        groups: Mapping[str, Sequence[int | FakeMonitor]],
        *,
        description: str | None = None,
        published: bool = True,
        show_tags: bool = False,
        show_cert_expiry: bool = False,
        show_urls: Iterable[int | FakeMonitor] = (),
        footer_text: str | None = None,
    ) -> FakeStatusPage:
        """A status page with its groups of monitors, in order (the slug lower-cased, as Uptime Kuma stores it)."""
        page = FakeStatusPage(
            id=next(self._page_ids),
            slug=slug.lower(),
            title=title,
            description=description,
            published=published,
            show_tags=show_tags,
            show_cert_expiry=show_cert_expiry,
            footer_text=footer_text,
            groups=[
                FakeGroup(next(self._group_ids), name, weight, [_id(item) for item in members])
                for weight, (name, members) in enumerate(groups.items(), start=1)
            ],
            shown_urls={_id(item) for item in show_urls},
        )
        self._pages[page.slug] = page
        self.clear_cache()
        return page

    def status_page(self, slug: str) -> FakeStatusPage:
        return self._pages[slug.lower()]

    def set_incident(self, slug: str, title: str, content: str, *, style: str = "warning") -> FakeIncident:
        """Pin an incident on a status page."""
        incident = FakeIncident(next(self._incident_ids), title, content, style, self.now())
        self.status_page(slug).incidents.insert(0, incident)
        self.clear_cache()
        return incident

    def clear_incidents(self, slug: str) -> None:
        for incident in self.status_page(slug).incidents:
            incident.pin = False
        self.clear_cache()

    # -- beats -------------------------------------------------------------------------------------------------

    def set_status(
        self, monitor_id: int, status: MonitorStatus | int, *, msg: str = "", ping: int | None = None
    ) -> FakeBeat:
        """The monitor's status changes and it beats now, with ``msg`` (never public) and ``ping`` (by default its
        latency when up, none otherwise); later beats repeat this status."""
        monitor = self._monitors[monitor_id]
        status = MonitorStatus(status)
        monitor.status, monitor.msg = status, msg
        if ping is not None and status is MonitorStatus.UP:
            monitor.ping = ping
        now = self.now()
        beat = self._beat(monitor, status, msg, ping if ping is not None else self._ping_for(monitor, status), now)
        monitor.next_beat = now + timedelta(seconds=monitor.interval) if monitor.active else None
        return beat

    @staticmethod
    def _ping_for(monitor: FakeMonitor, status: MonitorStatus) -> int | None:
        return monitor.ping if status is MonitorStatus.UP else None

    def _beat(self, monitor: FakeMonitor, status: MonitorStatus, msg: str, ping: int | None, at: datetime) -> FakeBeat:
        previous = monitor.last
        important = _important(previous.status if previous else None, status)
        seconds = (at - previous.time).total_seconds() if previous else 0.0
        duration = round(seconds) if self.major >= 2 else int(seconds)  # 2.x rounds milliseconds; dayjs truncates
        beat = FakeBeat(status, at, msg, ping, important, duration, next(self._beat_ids))
        monitor.beats.append(beat)
        if important:
            self.clear_cache()
        return beat

    def beats(self, monitor_id: int) -> list[FakeBeat]:
        return list(self._monitors[monitor_id].beats)

    # -- what Uptime Kuma computes -----------------------------------------------------------------------------

    def cert_days(self, monitor: FakeMonitor) -> int | None:
        """Days left on its certificate, as dayjs counts them (whole days, towards zero)."""
        if monitor.cert_expires is None:
            return None
        return int((monitor.cert_expires - self.now()).total_seconds() / 86400)

    def uptime(self, monitor: FakeMonitor, window: str = "1d") -> float:
        """The uptime ratio this version reports over ``1d`` (24 hours), ``30d`` or ``365d``."""
        days = dict(_WINDOWS)[window]
        return self._uptime_v1(monitor, 24 * days) if self.major < 2 else self._counts_v2(monitor, days)[0]

    def _uptime_v1(self, monitor: FakeMonitor, hours: int) -> float:
        """1.23's ``calcUptime``: each beat weighs the seconds since the one before (trimmed to the window);
        maintenance counts as up."""
        start = self.now() - timedelta(hours=hours)
        total = up = 0.0
        for beat in reversed(monitor.beats):
            if beat.time <= start:
                break
            part = min(float(beat.duration), (beat.time - start).total_seconds())
            total += part
            if beat.status in (MonitorStatus.UP, MonitorStatus.MAINTENANCE):
                up += part
        if total > 0:
            return max(up / total, 0.0)
        first = monitor.beats[0] if monitor.beats else None
        return 1.0 if first is not None and first.status is MonitorStatus.UP else 0.0

    def _counts_v2(self, monitor: FakeMonitor, days: int) -> tuple[float, float | None]:
        """2.x's uptime calculator over ``days`` (1: the last 1440 minutes; else the last ``days`` days by UTC
        day): up beats over up and down beats, pending counting as down and maintenance left out; with no beat in
        the window, those of the last minute (or day) that had one. Also the mean latency of the up beats."""
        now = self.now()
        if days == 1:
            start = now.replace(second=0, microsecond=0) - timedelta(minutes=1439)
        else:
            start = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days - 1)
        up, down = _up_down(beat for beat in _since(monitor.beats, start) if beat.time <= now)
        if not up and not down and monitor.beats:
            last = monitor.beats[-1].time
            bucket = (
                last.replace(second=0, microsecond=0)
                if days == 1
                else last.replace(hour=0, minute=0, second=0, microsecond=0)
            )
            up, down = _up_down(_since(monitor.beats, bucket))
        ratio = len(up) / (len(up) + len(down)) if up or down else 0.0
        mean = sum(beat.ping or 0 for beat in up) / len(up) if up else None
        return ratio, mean

    # -- the server --------------------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.calls.append(
            FakeCall(request.method, request.path, dict(request.query), CIMultiDict(request.headers), time.monotonic())
        )
        self.counts[request.path] += 1
        socket = request.path.startswith(SOCKET_PATH)
        if self.hang or (socket and self.hang_socket):
            await self.hold(request)
        if socket and not self._same_origin(request):
            return web.Response(status=403, text="Forbidden")
        if self.down:
            return web.Response(status=503, text="Service Unavailable")
        return await handler(request)

    def routes(self, app: web.Application) -> None:
        self.sio = self._socket_server()
        self._signed_in.clear()
        self.sio.attach(app, socketio_path=SOCKET_PATH.strip("/"))
        app.router.add_get("/api/status-page/heartbeat/{slug}", self._heartbeats)
        app.router.add_get("/api/status-page/{slug}", self._status_page)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_route("*", "/{tail:.*}", self._anything_else)

    async def _anything_else(self, request: web.Request) -> web.Response:
        if request.method in ("GET", "HEAD"):
            return web.Response(text=_INDEX_HTML, content_type="text/html")
        return web.Response(
            status=404,
            text=f"<!DOCTYPE html>\n<pre>Cannot {request.method} {request.path}</pre>\n",
            content_type="text/html",
        )

    def _kept_answer(self, request: web.Request, ttl: float) -> web.Response | None:
        """The answer Uptime Kuma kept for this URL, or the failure :attr:`error` asks for, or ``None``."""
        kept = self._kept.get(request.path_qs) if self.caching else None
        if kept is not None and kept.until > self.now().timestamp():
            return web.Response(status=kept.status, text=kept.body, content_type="application/json")
        return self._failure(request, ttl)

    def _keep(self, request: web.Request, ttl: float, status: int, document: Any) -> web.Response:
        body = json.dumps(document, separators=(",", ":"))
        if self.caching:
            self._kept[request.path_qs] = _Kept(self.now().timestamp() + ttl, status, body)
        return web.Response(status=status, text=body, content_type="application/json")

    def _failure(self, request: web.Request, ttl: float) -> web.Response | None:
        """``sendHttpError`` of :attr:`error`, if set."""
        if self.error is None:
            return None
        message = self.error
        if "SQLITE_BUSY" in message or "SQLITE_LOCKED" in message:
            status = 503
        elif "not found" in message.lower():
            status = 404
        else:
            status = 403
        return self._keep(request, ttl, status, {"status": "fail", "msg": message})

    async def _status_page(self, request: web.Request) -> web.StreamResponse:
        kept = self._kept_answer(request, PAGE_TTL)
        if kept is not None:
            return kept
        slug = request.match_info["slug"]
        page = self._pages.get(slug.lower() if self.major >= 2 else slug)
        if page is None:
            if self.major < 2:
                await self.hold(request)  # 1.23 returns without answering
            return self._keep(request, PAGE_TTL, 404, _NOT_FOUND)
        return self._keep(request, PAGE_TTL, 200, self._page_doc(page))

    async def _heartbeats(self, request: web.Request) -> web.Response:
        kept = self._kept_answer(request, HEARTBEAT_TTL)
        if kept is not None:
            return kept
        slug = request.match_info["slug"]
        page = self._pages.get(slug.lower() if self.major >= 2 else slug)
        limit = 100 if self.major >= 2 else 50
        beats: dict[str, list[dict[str, Any]]] = {}
        uptime: dict[str, float] = {}
        for group in page.groups if page else ():
            for monitor_id in group.monitors:
                monitor = self._monitors[monitor_id]
                beats[str(monitor_id)] = [self._public_beat(beat) for beat in monitor.beats[-limit:]]
                uptime[f"{monitor_id}_24"] = _js_json(self.uptime(monitor, "1d"))
        return self._keep(request, HEARTBEAT_TTL, 200, {"heartbeatList": beats, "uptimeList": uptime})

    def _public_beat(self, beat: FakeBeat) -> dict[str, Any]:
        return {
            "status": int(beat.status),
            "time": format_time(beat.time, millis=not self.mariadb),
            "msg": "",
            "ping": beat.ping,
        }

    def _page_doc(self, page: FakeStatusPage) -> dict[str, Any]:
        pinned = [incident for incident in page.incidents if incident.pin and incident.active]
        document: dict[str, Any] = {"config": self._config_doc(page)}
        if self.major >= 2:
            document["incidents"] = [self._incident_doc(incident) for incident in pinned]
        else:
            document["incident"] = self._incident_doc(pinned[0]) if pinned else None
        document["publicGroupList"] = [
            {
                "id": group.id,
                "name": group.name,
                "weight": group.weight,
                "monitorList": [self._public_monitor(page, self._monitors[i]) for i in group.monitors],
            }
            for group in page.groups
        ]
        document["maintenanceList"] = []
        return document

    def _config_doc(self, page: FakeStatusPage) -> dict[str, Any]:
        if self.major < 2:
            return {
                "slug": page.slug,
                "title": page.title,
                "description": page.description,
                "icon": "/icon.svg",
                "theme": page.theme,
                "published": page.published,
                "showTags": page.show_tags,
                "customCSS": _CUSTOM_CSS,
                "footerText": page.footer_text,
                "showPoweredBy": True,
                "googleAnalyticsId": None,
                "showCertificateExpiry": page.show_cert_expiry,
            }
        return {
            "slug": page.slug,
            "title": page.title,
            "description": page.description,
            "icon": "/icon.svg",
            "autoRefreshInterval": page.auto_refresh_interval,
            "theme": page.theme,
            "published": page.published,
            "showTags": page.show_tags,
            "customCSS": _CUSTOM_CSS,
            "footerText": page.footer_text,
            "showPoweredBy": True,
            "analyticsId": None,
            "analyticsScriptUrl": None,
            "analyticsType": None,
            "showCertificateExpiry": page.show_cert_expiry,
            "showOnlyLastHeartbeat": False,
            "rssTitle": None,
        }

    def _incident_doc(self, incident: FakeIncident) -> dict[str, Any]:
        created = format_time(incident.created, millis=False)
        updated = format_time(incident.updated, millis=False) if incident.updated else None
        if self.major < 2:
            return {
                "id": incident.id,
                "style": incident.style,
                "title": incident.title,
                "content": incident.content,
                "pin": int(incident.pin),
                "createdDate": created,
                "lastUpdatedDate": updated,
            }
        return {
            "id": incident.id,
            "style": incident.style,
            "title": incident.title,
            "content": incident.content,
            "pin": incident.pin,
            "active": incident.active,
            "createdDate": created,
            "lastUpdatedDate": updated,
            "status_page_id": next(page.id for page in self._pages.values() if incident in page.incidents),
        }

    def _public_monitor(self, page: FakeStatusPage, monitor: FakeMonitor) -> dict[str, Any]:
        shown = monitor.id in page.shown_urls
        document: dict[str, Any] = {"id": monitor.id, "name": monitor.name, "sendUrl": int(shown), "type": monitor.type}
        if shown:
            document["url"] = monitor.url
        if page.show_tags:
            document["tags"] = [
                {
                    "id": row_id,
                    "monitor_id": monitor.id,
                    "tag_id": tag.id,
                    "value": value,
                    "name": tag.name,
                    "color": tag.color,
                }
                for row_id, tag, value in sorted(monitor.tags, key=lambda row: row[1].name)
            ]
        if page.show_cert_expiry and (self.major >= 2 or monitor.checks_tls):
            days = self.cert_days(monitor)
            known = monitor.cert_valid and bool(days)  # Uptime Kuma tests ``daysRemaining`` for truth: 0 is none
            document["certExpiryDaysRemaining"] = days if known else ""
            document["validCert"] = known
        return document

    # -- Socket.IO --------------------------------------------------------------------------------------------

    @staticmethod
    def _same_origin(request: web.Request) -> bool:
        """Uptime Kuma's check of a websocket's ``Origin``: none, or one naming the ``Host`` it was sent to."""
        origin = request.headers.get("Origin")
        if origin is None or request.headers.get("Upgrade", "").lower() != "websocket":
            return True
        host = origin.split("://", 1)[-1].rstrip("/")
        return host.lower() == request.headers.get("Host", "").lower()

    def _socket_server(self) -> socketio.AsyncServer:
        sio = socketio.AsyncServer(
            async_mode="aiohttp", cors_allowed_origins="*", always_connect=True, logger=False, engineio_logger=False
        )

        async def connect(sid: str, environ: Mapping[str, Any], auth: Any = None) -> None:
            await sio.emit("info", self._info(logged_in=False), to=sid)
            await sio.emit("loginRequired", to=sid)

        async def disconnect(sid: str, *_: Any) -> None:
            self._signed_in.pop(sid, None)

        async def login(sid: str, data: Any = None) -> dict[str, Any] | None:
            answer = self._login(data)
            if answer is None:  # never acknowledged: wait for the fake to stop
                await self._release.wait()
                return None
            if answer.get("ok") is True:
                self._signed_in[sid] = str(data["username"])
                sio.start_background_task(self._after_login, sio, sid)
            return answer

        sio.on("connect", connect)
        sio.on("disconnect", disconnect)
        sio.on("login", login)
        return sio

    def _login(self, data: Any) -> dict[str, Any] | None:
        """The acknowledgement of ``login`` (``None``: none is sent)."""
        if self.login_silent:
            return None
        now = time.monotonic()
        self._login_times = [at for at in self._login_times if at > now - 60]
        if len(self._login_times) >= self.login_limit:
            return {"ok": False, "msg": TOO_FREQUENT}
        self._login_times.append(now)
        if not isinstance(data, dict):
            return {"ok": False, "msg": "authIncorrectCreds", "msgi18n": True}
        username, password, token = data.get("username"), data.get("password"), data.get("token")
        self.logins.append(str(username))
        user = self.users.get(username) if isinstance(username, str) else None
        if (
            user is None
            or not user.active
            or not isinstance(password, str)
            or not secrets.compare_digest(password.encode(), user.password.encode())
        ):
            return {"ok": False, "msg": "authIncorrectCreds", "msgi18n": True}
        if user.two_factor is not None:
            if not token:
                return {"tokenRequired": True}
            if token != user.two_factor:
                return {"ok": False, "msg": "authInvalidToken", "msgi18n": True}
        return {"ok": True, "token": f"fake.{secrets.token_urlsafe(24)}.jwt"}

    def _info(self, *, logged_in: bool) -> dict[str, Any]:
        info: dict[str, Any] = {"primaryBaseURL": None, "serverTimezone": "UTC", "serverTimezoneOffset": "+00:00"}
        if logged_in:
            info |= {"version": self.version, "latestVersion": self.version, "isContainer": True}
        return info

    async def _after_login(self, sio: socketio.AsyncServer, sid: str) -> None:
        """What Uptime Kuma pushes to a socket that just logged in."""
        await sio.emit("info", self._info(logged_in=True), to=sid)
        await sio.emit("monitorList", {str(m.id): self.monitor_doc(m) for m in self._monitors.values()}, to=sid)
        lists = ["maintenanceList", "notificationList", "proxyList", "dockerHostList", "apiKeyList"]
        if self.major >= 2:
            lists += ["remoteBrowserList", "monitorTypeList", "statusPageList"]
        for name in lists:
            await sio.emit(name, {} if name in ("maintenanceList", "monitorTypeList", "statusPageList") else [], to=sid)
        for monitor in list(self._monitors.values()):
            rows = [self.beat_row(monitor, beat) for beat in monitor.beats[-100:]]
            await sio.emit("heartbeatList", (monitor.id, rows, True), to=sid)
            if self.major < 2:
                important = [self.beat_row(monitor, beat) for beat in reversed(monitor.beats) if beat.important]
                await sio.emit("importantHeartbeatList", (monitor.id, important[:500], True), to=sid)
            await sio.emit("avgPing", (monitor.id, self.avg_ping(monitor)), to=sid)
            await sio.emit("uptime", (monitor.id, 24, _js_json(self.uptime(monitor, "1d"))), to=sid)
            await sio.emit("uptime", (monitor.id, 720, _js_json(self.uptime(monitor, "30d"))), to=sid)
            if self.major >= 2:
                await sio.emit("uptime", (monitor.id, "1y", _js_json(self.uptime(monitor, "365d"))), to=sid)
            if monitor.checks_tls and monitor.cert_expires is not None:
                await sio.emit("certInfo", (monitor.id, json.dumps(self.cert_info(monitor))), to=sid)

    def monitor_doc(self, monitor: FakeMonitor) -> dict[str, Any]:
        """A monitor as ``monitorList`` holds it (a part of Uptime Kuma's ``toJSON``; ``active`` is 0/1 in 1.23)."""
        children = [other.id for other in self._monitors.values() if other.parent == monitor.id]
        return {
            "id": monitor.id,
            "name": monitor.name,
            "description": None,
            "pathName": monitor.name,
            "parent": monitor.parent,
            "childrenIDs": children,
            "url": monitor.url,
            "method": "GET",
            "hostname": monitor.hostname,
            "port": monitor.port,
            "maxretries": 0,
            "weight": 2000,
            "active": monitor.active if self.major >= 2 else int(monitor.active),
            "type": monitor.type,
            "interval": monitor.interval,
            "retryInterval": monitor.interval,
            "resendInterval": 0,
            "upsideDown": False,
            "accepted_statuscodes": ["200-299"],
            "notificationIDList": {},
            "maintenance": monitor.status is MonitorStatus.MAINTENANCE,
            "tags": [
                {
                    "id": row_id,
                    "monitor_id": monitor.id,
                    "tag_id": tag.id,
                    "value": value,
                    "name": tag.name,
                    "color": tag.color,
                }
                for row_id, tag, value in monitor.tags
            ],
        }

    def beat_row(self, monitor: FakeMonitor, beat: FakeBeat) -> dict[str, Any]:
        """A beat as a row of the ``heartbeat`` table (what ``heartbeatList`` carries)."""
        return {
            "id": beat.id,
            "important": int(beat.important),
            "monitor_id": monitor.id,
            "status": int(beat.status),
            "msg": beat.msg,
            "time": format_time(beat.time, millis=not self.mariadb),
            "ping": beat.ping,
            "duration": beat.duration,
            "down_count": 0,
        }

    def avg_ping(self, monitor: FakeMonitor) -> float | int | None:
        """The mean latency of the last 24 hours (``avgPing``), or ``None``."""
        if self.major >= 2:
            mean = self._counts_v2(monitor, 1)[1]
        else:
            pings = [b.ping for b in _since(monitor.beats, self.now() - timedelta(hours=24)) if b.ping is not None]
            mean = sum(pings) / len(pings) if pings else None
        return None if mean is None else _js_json(round(mean, 2))

    def cert_info(self, monitor: FakeMonitor) -> dict[str, Any]:
        """What ``certInfo`` carries (as JSON text) for a monitor whose certificate is checked."""
        host = monitor.url.split("://", 1)[-1].split("/", 1)[0]
        return {
            "valid": monitor.cert_valid,
            "certInfo": {"subject": {"CN": host}, "daysRemaining": self.cert_days(monitor) or 0},
        }

    # -- /metrics ----------------------------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        if self.disable_auth:
            return True
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        _, colon, password = decoded.partition(":")
        if not colon or not secrets.compare_digest(password.encode(), self.api_key.encode()):
            return False
        return self.key_active and (self.key_expires is None or self.key_expires > self.now())

    async def _metrics(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.Response(status=401, headers={"WWW-Authenticate": "Basic"}, text="", content_type="text/html")
        return web.Response(body=self.metrics_text().encode(), headers={"Content-Type": METRICS_CONTENT_TYPE})

    def metrics_text(self) -> str:
        """What ``/metrics`` answers now."""
        series: dict[str, list[str]] = {name: [] for name in _HELP}
        if self.major < 2:
            del series["monitor_uptime_ratio"], series["monitor_response_time_seconds"]
        for monitor in self._monitors.values():
            last = monitor.last
            if not monitor.active or last is None:
                continue  # a paused monitor is removed; one that never beat was never set
            labels = self._labels(monitor)
            if monitor.checks_tls and monitor.cert_expires is not None:
                valid, days = int(monitor.cert_valid), self.cert_days(monitor) or 0
                series["monitor_cert_is_valid"].append(_sample("monitor_cert_is_valid", labels, valid))
                series["monitor_cert_days_remaining"].append(_sample("monitor_cert_days_remaining", labels, days))
            if self.major >= 2:
                for window, days in _WINDOWS:
                    ratio, mean = self._counts_v2(monitor, days)
                    windowed = [*labels, ("window", window)]
                    series["monitor_response_time_seconds"].append(
                        _sample("monitor_response_time_seconds", windowed, (mean or 0) / 1000)
                    )
                    series["monitor_uptime_ratio"].append(_sample("monitor_uptime_ratio", windowed, ratio))
            series["monitor_response_time"].append(
                _sample("monitor_response_time", labels, last.ping if last.ping is not None else -1)
            )
            series["monitor_status"].append(_sample("monitor_status", labels, int(last.status)))
        blocks = [*self._process_blocks()]
        blocks += [
            "\n".join([f"# HELP {name} {_HELP[name]}", f"# TYPE {name} gauge", *samples])
            for name, samples in series.items()
        ]
        return "\n\n".join(blocks) + "\n"

    def _labels(self, monitor: FakeMonitor) -> list[tuple[str, Any]]:
        base: list[tuple[str, Any]] = [
            ("monitor_name", monitor.name),
            ("monitor_type", monitor.type),
            ("monitor_url", monitor.url),
            ("monitor_hostname", monitor.hostname),
            ("monitor_port", monitor.port),
        ]
        if self.major < 2:
            return base
        tags: dict[str, list[str]] = {}
        for _, tag, value in monitor.tags:
            name = _sanitize(tag.name)
            if not name:
                continue
            values = tags.setdefault(name, [])
            if _sanitize(value):
                values.append(_sanitize(value))
        ordered = [(name, sorted(tags[name])) for name in sorted(tags, key=str.lower)]
        return [*ordered, ("monitor_id", monitor.id), *base]

    def _process_blocks(self) -> list[str]:
        parts = [*self.version.split("."), "0", "0"][:3]
        return [
            "# HELP process_cpu_user_seconds_total Total user CPU time spent in seconds.\n"
            "# TYPE process_cpu_user_seconds_total counter\n"
            "process_cpu_user_seconds_total 12.5",
            "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
            "# TYPE process_start_time_seconds gauge\n"
            f"process_start_time_seconds {int(self.started_at.timestamp())}",
            "# HELP app_version The service version by package.json\n"
            "# TYPE app_version gauge\n"
            f'app_version{{version="{_label_value(self.version)}",major="{parts[0]}",'
            f'minor="{_label_value(parts[1])}",patch="{_label_value(parts[2])}"}} 1',
            "# HELP http_request_duration_seconds Duration of HTTP requests in seconds\n"
            "# TYPE http_request_duration_seconds histogram\n"
            'http_request_duration_seconds_bucket{le="0.05",method="GET",route="/metrics",code="200"} 3\n'
            'http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/metrics",code="200"} 3\n'
            'http_request_duration_seconds_sum{method="GET",route="/metrics",code="200"} 0.012\n'
            'http_request_duration_seconds_count{method="GET",route="/metrics",code="200"} 3',
        ]


def _id(item: int | FakeMonitor) -> int:
    return item.id if isinstance(item, FakeMonitor) else item


def _since(beats: Sequence[FakeBeat], start: datetime) -> list[FakeBeat]:
    """The beats at or after ``start`` (beats are in time order)."""
    found: list[FakeBeat] = []
    for beat in reversed(beats):
        if beat.time < start:
            break
        found.append(beat)
    found.reverse()
    return found


def _up_down(beats: Iterable[FakeBeat]) -> tuple[list[FakeBeat], list[FakeBeat]]:
    """The up beats, and the down ones (pending counts as down; maintenance is neither)."""
    up: list[FakeBeat] = []
    down: list[FakeBeat] = []
    for beat in beats:
        if beat.status is MonitorStatus.UP:
            up.append(beat)
        elif beat.status in (MonitorStatus.DOWN, MonitorStatus.PENDING):
            down.append(beat)
    return up, down


def _sample(name: str, labels: Sequence[tuple[str, Any]], value: float) -> str:
    text = ",".join(f'{label}="{_label_value(item)}"' for label, item in labels)
    return f"{name}{{{text}}} {_js_number(value)}"
