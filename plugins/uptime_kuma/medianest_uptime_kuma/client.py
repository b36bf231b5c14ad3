"""The client of Uptime Kuma's HTTP API (1.23 and 2.x), on the core's resilient upstream client.

Two sources without Socket.IO (and a third, signed in over Socket.IO, in :mod:`medianest_uptime_kuma.live`):

- **Public status pages**, no login: ``GET /api/status-page/{slug}`` (the page's settings, its incidents and its
  groups of monitors) and ``GET /api/status-page/heartbeat/{slug}`` (the last beats of each monitor on the page,
  100 in 2.x and 50 in 1.23, oldest first, and a 24-hour uptime ratio). A beat's message is never public: it is
  always ``""`` there.
- **``/metrics``** with an API key: the Prometheus text of every active monitor that has beaten since Uptime Kuma
  started, the key as the password of HTTP basic auth (the user name is not read). 2.x labels each monitor with
  its id and its tags and adds uptime ratios over 1, 30 and 365 days; 1.23 has neither, so its monitors are known
  by name there. It is parsed by ``prometheus_client``'s parser.

Both are structured into the attrs classes below, which keep Uptime Kuma's own names, and then normalised into one
:class:`Monitor` whichever the source and the version; :func:`merge` puts the monitors of several sources together
so that none appears twice (by id, or for 1.23's ``/metrics`` by name and type). With a user
(:class:`~medianest_uptime_kuma.live.Login`), :meth:`UptimeKumaClient.monitors` also reads Uptime Kuma's Socket.IO:
the one source of a monitor's last message, and of the 30-day uptime on 1.23.

Errors are the upstream's: :class:`~medianest_core.upstream.NotFound` for a status page Uptime Kuma does not have,
:class:`~medianest_core.upstream.AuthFailed` for a key ``/metrics`` refuses,
:class:`~medianest_core.upstream.Unavailable` when Uptime Kuma does not answer or fails,
:class:`~medianest_core.upstream.BadResponse` for an answer of another shape. Uptime Kuma 1.23 never answers a
status page it does not know; :meth:`UptimeKumaClient.status_page` waits for it at most ``status_page_timeout``
seconds, then asks for the page's heartbeats (which answer for any slug): an empty answer there means the page does
not exist, and that is a ``NotFound`` too.

Uptime Kuma keeps the status page's answer for 5 minutes and the heartbeats for 1 minute; a change between up and
down (or to and from maintenance) clears that cache at once, while up ↔ pending may be seen up to a minute late.
``/metrics`` is live. Nothing is cached here: the plugin's periodic task decides how often to ask.
"""

from __future__ import annotations

import base64
import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

import attrs
from prometheus_client.parser import text_string_to_metric_families

from medianest_core.upstream import (
    AuthFailed,
    BadResponse,
    NotFound,
    Unavailable,
    Upstream,
    UpstreamError,
    deadline,
)

if TYPE_CHECKING:
    from medianest_uptime_kuma.live import Login

SERVICE: Final = "uptime_kuma"
"""The service name of the upstream client (and of its errors)."""
KEPT_BEATS: Final = 50
"""How many of a monitor's most recent beats a :class:`Monitor` keeps."""
STATUS_PAGE_TIMEOUT: Final = 8.0
"""How long :meth:`UptimeKumaClient.status_page` waits before it asks whether the page exists at all."""
NO_URL: Final = frozenset({"", "null", "undefined", "https://", "http://"})
"""``monitor_url`` values that mean no address (``https://`` is the stored default of monitors that have none)."""
MONITOR_LABELS: Final = frozenset(
    {"monitor_id", "monitor_name", "monitor_type", "monitor_url", "monitor_hostname", "monitor_port", "window"}
)
"""The labels of ``/metrics`` that are not tags (2.x adds one label per tag)."""


class MonitorStatus(enum.IntEnum):
    """A beat's status, and a monitor's (``src/util.ts``)."""

    DOWN = 0
    UP = 1
    PENDING = 2
    MAINTENANCE = 3

    @property
    def label(self) -> str:
        """``"down"``, ``"up"``, ``"pending"`` or ``"maintenance"``."""
        return self.name.lower()


class Source(enum.StrEnum):
    """Where a :class:`Monitor` was read."""

    STATUS_PAGE = "status_page"
    METRICS = "metrics"
    SOCKET = "socket"
    """Uptime Kuma's Socket.IO, signed in as a user (:mod:`medianest_uptime_kuma.live`)."""


LIVE_SOURCES: Final = frozenset({Source.METRICS, Source.SOCKET})
"""The sources read from Uptime Kuma's own state at once (a status page's answer may be a minute old)."""


def status_of(value: Any) -> MonitorStatus | None:
    """``value`` as a :class:`MonitorStatus`, or ``None`` for a value Uptime Kuma does not define."""
    try:
        return MonitorStatus(int(value))
    except (TypeError, ValueError):
        return None


_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:?\d{2})?$")


def parse_time(text: str) -> datetime:
    """A beat's ``time``: UTC ``YYYY-MM-DD HH:mm:ss.SSS``, or without the milliseconds (2.x on MariaDB)."""
    found = _TIME.match(text.strip())
    if found is None:
        raise ValueError(f"not a beat time: {text[:40]!r}")
    if found.group(8):
        return datetime.fromisoformat(text.strip().replace(" ", "T").replace("Z", "+00:00")).astimezone(UTC)
    year, month, day, hour, minute, second = (int(part) for part in found.groups()[:6])
    micro = int((found.group(7) or "0").ljust(6, "0"))
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def format_time(moment: datetime, *, millis: bool = True) -> str:
    """``moment`` as Uptime Kuma writes a beat's ``time`` (UTC)."""
    text = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return text[:-3] if millis else text[:-7]


def metrics_headers(api_key: str) -> dict[str, str]:
    """HTTP basic auth for ``/metrics``: an empty user name, the API key as the password."""
    token = base64.b64encode(f":{api_key}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


# ---- answers, in Uptime Kuma's names ------------------------------------------------------------------------------


@attrs.frozen
class Tag:
    """A tag of a monitor on a status page that shows tags (a row of ``monitor_tag`` with the tag's name)."""

    name: str
    value: str | None = None
    color: str | None = None
    tag_id: int | None = None


@attrs.frozen
class PublicMonitor:
    """A monitor in a status page's group. ``url`` only when the page shows it (``sendUrl`` 1); ``tags`` only when
    the page shows tags; ``certExpiryDaysRemaining`` (days, or ``""``) and ``validCert`` only when it shows
    certificate expiry (1.23: for https monitors of the http kinds only)."""

    id: int
    name: str
    type: str | None = None
    sendUrl: int | None = None
    url: str | None = None
    tags: list[Tag] | None = None
    certExpiryDaysRemaining: Any = None
    validCert: bool | None = None

    @property
    def cert_days(self) -> int | None:
        value = self.certExpiryDaysRemaining
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return int(value)


@attrs.frozen
class PublicGroup:
    id: int
    name: str
    weight: int | None = None
    monitorList: list[PublicMonitor] = attrs.field(factory=list)


@attrs.frozen
class StatusPageConfig:
    """``config``: 2.x's fields; 1.23 has ``googleAnalyticsId`` instead of the ``analytics*`` ones and no
    ``autoRefreshInterval``, ``showOnlyLastHeartbeat`` or ``rssTitle``."""

    slug: str
    title: str
    description: str | None = None
    icon: str | None = None
    theme: str | None = None
    published: bool = True
    showTags: bool = False
    showCertificateExpiry: bool = False
    autoRefreshInterval: int | None = None
    footerText: str | None = None
    showPoweredBy: bool | None = None


@attrs.frozen
class Incident:
    id: int
    title: str | None = None
    content: str | None = None
    style: str | None = None
    createdDate: str | None = None
    lastUpdatedDate: str | None = None


@attrs.frozen
class StatusPage:
    """``GET /api/status-page/{slug}``: 2.x answers ``incidents`` (a list), 1.23 ``incident`` (one, or null)."""

    config: StatusPageConfig
    publicGroupList: list[PublicGroup] = attrs.field(factory=list)
    incidents: list[Incident] | None = None
    incident: Incident | None = None
    maintenanceList: list[Any] = attrs.field(factory=list)

    @property
    def all_incidents(self) -> list[Incident]:
        """The pinned incidents, whichever the version."""
        if self.incidents is not None:
            return list(self.incidents)
        return [self.incident] if self.incident is not None else []

    @property
    def monitors(self) -> list[tuple[PublicGroup, PublicMonitor]]:
        """Each monitor once, with the first group that holds it, in the page's order."""
        seen: set[int] = set()
        found: list[tuple[PublicGroup, PublicMonitor]] = []
        for group in self.publicGroupList:
            for monitor in group.monitorList:
                if monitor.id not in seen:
                    seen.add(monitor.id)
                    found.append((group, monitor))
        return found


@attrs.frozen
class PublicBeat:
    """A beat as a status page shows it: ``msg`` is always ``""`` there."""

    status: int
    time: str
    msg: str | None = ""
    ping: float | None = None


@attrs.frozen
class Heartbeats:
    """``GET /api/status-page/heartbeat/{slug}``: beats keyed by monitor id (as text), oldest first, and the
    24-hour uptime keyed ``"<id>_24"``. Empty for a slug Uptime Kuma does not know."""

    heartbeatList: dict[str, list[PublicBeat]] = attrs.field(factory=dict)
    uptimeList: dict[str, float] = attrs.field(factory=dict)

    def beats(self, monitor_id: int) -> list[PublicBeat]:
        return list(self.heartbeatList.get(str(monitor_id), []))

    def uptime_24h(self, monitor_id: int) -> float | None:
        return self.uptimeList.get(f"{monitor_id}_24")


@attrs.frozen
class MetricMonitor:
    """One monitor of ``/metrics``: its labels, and the value of each ``monitor_*`` series it has. ``id`` and
    ``tags`` only from 2.x; ``uptime`` (by window: ``1d``, ``30d``, ``365d``) and ``avg_response_s`` only from
    2.x."""

    name: str
    type: str | None
    url: str | None
    hostname: str | None
    port: str | None
    id: int | None = None
    tags: dict[str, str] = attrs.field(factory=dict)
    status: MonitorStatus | None = None
    response_ms: float | None = None
    cert_days: int | None = None
    cert_valid: bool | None = None
    uptime: dict[str, float] = attrs.field(factory=dict)
    avg_response_s: dict[str, float] = attrs.field(factory=dict)


@attrs.frozen
class Metrics:
    """``GET /metrics``: the monitors, and Uptime Kuma's version when it says (``app_version``)."""

    monitors: list[MetricMonitor]
    version: str | None = None


# ---- the one shape of a monitor -----------------------------------------------------------------------------------


@attrs.frozen
class Beat:
    status: MonitorStatus
    time: datetime
    ping_ms: float | None = None
    msg: str = ""


@attrs.frozen
class Monitor:
    """A monitor, whichever the source and the version.

    ``id`` is ``None`` only for a monitor known from 1.23's ``/metrics`` alone (see :attr:`key`). ``group`` is the
    status page's group that shows it. ``status`` and ``latency_ms`` are those of the last beat (``None`` before the
    first). ``uptime_24h`` and ``uptime_30d`` are ratios (0 to 1); the 30-day one comes only from 2.x's
    ``/metrics`` and from Socket.IO. ``message`` is the last beat's message when a source tells it: only Socket.IO
    does (neither public status pages nor ``/metrics``), so it is ``None`` from the others. ``beats`` are the last
    :data:`KEPT_BEATS`, oldest first (status pages and Socket.IO)."""

    id: int | None
    name: str
    type: str | None = None
    group: str | None = None
    status: MonitorStatus | None = None
    latency_ms: float | None = None
    uptime_24h: float | None = None
    uptime_30d: float | None = None
    cert_days: int | None = None
    message: str | None = None
    beats: tuple[Beat, ...] = ()
    url: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    """``(name, value)`` pairs (value ``""`` when the tag has none)."""
    sources: frozenset[Source] = frozenset()
    status_pages: tuple[str, ...] = ()
    """The slugs of the status pages that show it."""

    @property
    def key(self) -> str:
        """What identifies it across reads: ``id:<id>``, or ``name:<type>:<name>`` without an id."""
        return f"id:{self.id}" if self.id is not None else f"name:{self.type or ''}:{self.name}"


def _beat(beat: PublicBeat) -> Beat | None:
    status = status_of(beat.status)
    if status is None:
        return None
    try:
        moment = parse_time(beat.time)
    except ValueError:
        raise BadResponse(SERVICE, f"unexpected answer (a beat's time is {beat.time[:40]!r})") from None
    return Beat(status, moment, beat.ping, beat.msg or "")


def monitors_from_status_page(slug: str, page: StatusPage, heartbeats: Heartbeats) -> list[Monitor]:
    """The monitors of a status page, each once (in its first group), with their beats and 24-hour uptime."""
    found: list[Monitor] = []
    for group, public in page.monitors:
        beats = [beat for beat in map(_beat, heartbeats.beats(public.id)) if beat is not None]
        last = beats[-1] if beats else None
        found.append(
            Monitor(
                id=public.id,
                name=public.name,
                type=public.type,
                group=group.name,
                status=last.status if last else None,
                latency_ms=last.ping_ms if last else None,
                uptime_24h=heartbeats.uptime_24h(public.id),
                cert_days=public.cert_days,
                beats=tuple(beats[-KEPT_BEATS:]),
                url=public.url or None,
                tags=tuple((tag.name, tag.value or "") for tag in public.tags or ()),
                sources=frozenset({Source.STATUS_PAGE}),
                status_pages=(slug,),
            )
        )
    return found


def monitors_from_metrics(metrics: Metrics) -> list[Monitor]:
    """The monitors of ``/metrics``."""
    return [
        Monitor(
            id=item.id,
            name=item.name,
            type=item.type,
            status=item.status,
            latency_ms=item.response_ms,
            uptime_24h=item.uptime.get("1d"),
            uptime_30d=item.uptime.get("30d"),
            cert_days=item.cert_days,
            url=item.url,
            tags=tuple(sorted(item.tags.items())),
            sources=frozenset({Source.METRICS}),
        )
        for item in metrics.monitors
    ]


def _first(*values: Any) -> Any:
    return next((value for value in values if value is not None and value != () and value != ""), None)


def _combine(known: Monitor, other: Monitor) -> Monitor:
    """One monitor from two reads of it. A status page tells its group, address, tags and beats; ``/metrics`` and
    Socket.IO are live, so they tell the status, latency, uptime, certificate and message first. Between two reads
    of the same kind, the first wins and the other fills its gaps."""
    page: tuple[Monitor, Monitor] = (known, other)
    live: tuple[Monitor, Monitor] = (known, other)
    known_live, other_live = bool(known.sources & LIVE_SOURCES), bool(other.sources & LIVE_SOURCES)
    if other_live and not known_live:
        live = (other, known)
    elif known_live and not other_live:
        page = (other, known)

    def pick(order: tuple[Monitor, Monitor], field: str) -> Any:
        return _first(*(getattr(monitor, field) for monitor in order))

    return Monitor(
        id=pick(page, "id"),
        name=pick(page, "name"),
        type=pick(page, "type"),
        group=pick(page, "group"),
        status=pick(live, "status"),
        latency_ms=pick(live, "latency_ms"),
        uptime_24h=pick(live, "uptime_24h"),
        uptime_30d=pick(live, "uptime_30d"),
        cert_days=pick(live, "cert_days"),
        message=pick(live, "message"),
        beats=pick(page, "beats") or (),
        url=pick(page, "url"),
        tags=pick(page, "tags") or (),
        sources=known.sources | other.sources,
        status_pages=tuple(dict.fromkeys((*known.status_pages, *other.status_pages))),
    )


def merge(*sources: Iterable[Monitor]) -> list[Monitor]:
    """The monitors of every source, each once, in the order first seen. Two are the same monitor when they have
    the same id; a monitor without an id (1.23's ``/metrics``) is the one monitor of the same name and type that
    another source has, when there is exactly one such."""
    merged: list[Monitor] = []
    by_id: dict[int, int] = {}
    nameless: list[Monitor] = []
    for source in sources:
        for monitor in source:
            if monitor.id is None:
                nameless.append(monitor)
            elif monitor.id in by_id:
                at = by_id[monitor.id]
                merged[at] = _combine(merged[at], monitor)
            else:
                by_id[monitor.id] = len(merged)
                merged.append(monitor)
    for monitor in nameless:
        same = [i for i, known in enumerate(merged) if _same_by_name(known, monitor)]
        if len(same) == 1 and sum(_same_by_name(other, monitor) for other in nameless) == 1:
            merged[same[0]] = _combine(merged[same[0]], monitor)
        else:
            merged.append(monitor)
    return merged


def _same_by_name(known: Monitor, nameless: Monitor) -> bool:
    return known.name == nameless.name and (known.type is None or nameless.type is None or known.type == nameless.type)


# ---- /metrics -----------------------------------------------------------------------------------------------------


def _label(labels: Mapping[str, str], name: str) -> str | None:
    value = labels.get(name)
    return None if value is None or value in ("null", "undefined") else value


def parse_metrics(text: str) -> Metrics:
    """The Prometheus text of ``/metrics``: one :class:`MetricMonitor` per monitor (by id in 2.x, by its labels
    in 1.23), with the value of each ``monitor_*`` series it has. Other series are left alone, but for
    ``app_version``."""
    monitors: dict[tuple[str, ...], dict[str, Any]] = {}
    version: str | None = None
    try:
        families = list(text_string_to_metric_families(text))
    except (ValueError, IndexError, KeyError) as exc:
        raise BadResponse(SERVICE, f"/metrics is not Prometheus text ({str(exc)[:80]})") from None
    for family in families:
        if family.name == "app_version":
            version = next((sample.labels.get("version") for sample in family.samples), None)
            continue
        if not family.name.startswith("monitor_"):
            continue
        for sample in family.samples:
            labels = sample.labels
            if "monitor_name" not in labels:
                continue
            ident = labels.get("monitor_id")
            key = (
                ("id", ident)
                if ident not in (None, "", "null")
                else tuple(
                    labels.get(name, "")
                    for name in ("monitor_name", "monitor_type", "monitor_url", "monitor_hostname", "monitor_port")
                )
            )
            entry = monitors.setdefault(key, {"labels": labels, "series": {}, "windows": {}})
            if "window" in labels:
                entry["windows"].setdefault(sample.name, {})[labels["window"]] = sample.value
            else:
                entry["series"][sample.name] = sample.value
    return Metrics([_metric_monitor(entry) for entry in monitors.values()], version)


def _metric_monitor(entry: Mapping[str, Any]) -> MetricMonitor:
    labels: Mapping[str, str] = entry["labels"]
    series: Mapping[str, float] = entry["series"]
    windows: Mapping[str, Mapping[str, float]] = entry["windows"]
    ident = labels.get("monitor_id")
    response = series.get("monitor_response_time")
    cert_days = series.get("monitor_cert_days_remaining")
    cert_valid = series.get("monitor_cert_is_valid")
    url = labels.get("monitor_url", "")
    try:
        monitor_id = int(ident) if ident not in (None, "", "null") else None
    except ValueError:
        raise BadResponse(SERVICE, f"/metrics names a monitor id {ident!r}") from None
    return MetricMonitor(
        name=labels["monitor_name"],
        type=_label(labels, "monitor_type"),
        url=None if url in NO_URL else url,
        hostname=_label(labels, "monitor_hostname"),
        port=_label(labels, "monitor_port"),
        id=monitor_id,
        tags={name: value for name, value in labels.items() if name not in MONITOR_LABELS},
        status=status_of(series.get("monitor_status")),
        response_ms=None if response is None or response < 0 else float(response),
        cert_days=None if cert_days is None else int(cert_days),
        cert_valid=None if cert_valid is None else cert_valid == 1,
        uptime={window: float(value) for window, value in windows.get("monitor_uptime_ratio", {}).items()},
        avg_response_s={
            window: float(value) for window, value in windows.get("monitor_response_time_seconds", {}).items()
        },
    )


# ---- the client ---------------------------------------------------------------------------------------------------


class UptimeKumaClient:
    """Uptime Kuma's status pages and ``/metrics``, through ``upstream`` (made for ``url``, without credentials:
    the API key travels with the ``/metrics`` call only)."""

    def __init__(
        self, upstream: Upstream, *, status_page_timeout: float = STATUS_PAGE_TIMEOUT, login: Login | None = None
    ) -> None:
        self.upstream = upstream
        self.status_page_timeout = status_page_timeout
        self.login = login
        """The Uptime Kuma user :meth:`monitors` signs in as over Socket.IO, if any."""

    @staticmethod
    def _path(route: str, slug: str) -> str:
        if not slug:
            raise ValueError("a status page's slug cannot be empty")
        return f"{route}/{quote(slug, safe='')}"

    async def status_page(self, slug: str) -> StatusPage:
        """The status page ``slug``: :class:`NotFound` when Uptime Kuma has none (2.x answers 404; 1.23 never
        answers, see the module's documentation)."""
        path = self._path("/api/status-page", slug)
        try:
            with deadline(self.status_page_timeout):
                page: StatusPage = await self.upstream.request("GET", path, expect=StatusPage)
                return page
        except NotFound:
            raise NotFound(SERVICE, f"there is no status page {slug!r}", status=404) from None
        except AuthFailed as exc:
            raise _failed(path, exc) from None
        except Unavailable as exc:
            if exc.status is not None or not await self._unknown(slug):
                raise
            raise NotFound(SERVICE, f"there is no status page {slug!r} (Uptime Kuma 1.23 does not answer)") from None

    async def _unknown(self, slug: str) -> bool:
        """Whether the heartbeats of ``slug`` answer, and empty: what Uptime Kuma answers for a slug it does not
        know (and for a page without monitors, which :meth:`status_page` would have answered)."""
        try:
            with deadline(self.status_page_timeout):
                beats = await self.heartbeats(slug)
        except UpstreamError:
            return False
        return not beats.heartbeatList and not beats.uptimeList

    async def heartbeats(self, slug: str) -> Heartbeats:
        """The last beats and the 24-hour uptime of each monitor of the status page ``slug`` (empty for a slug
        Uptime Kuma does not know)."""
        path = self._path("/api/status-page/heartbeat", slug)
        try:
            beats: Heartbeats = await self.upstream.request("GET", path, expect=Heartbeats)
        except AuthFailed as exc:
            raise _failed(path, exc) from None
        return beats

    async def metrics(self, api_key: str) -> Metrics:
        """``/metrics`` with ``api_key``: :class:`AuthFailed` when Uptime Kuma refuses the key (wrong, inactive or
        expired; or more than 60 calls with keys in a minute)."""
        body, _ = await self.upstream.fetch_bytes("/metrics", headers=metrics_headers(api_key))
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadResponse(SERVICE, "/metrics is not text") from None
        if text.lstrip().startswith("<"):
            raise BadResponse(SERVICE, "/metrics answered a web page, not Prometheus text")
        return parse_metrics(text)

    async def status_page_monitors(self, slug: str) -> list[Monitor]:
        """The monitors of the status page ``slug``, with their beats."""
        page = await self.status_page(slug)
        return monitors_from_status_page(slug, page, await self.heartbeats(slug))

    async def live_monitors(self, login: Login) -> list[Monitor]:
        """Every active monitor, read over Socket.IO signed in as ``login``, with its last message."""
        from medianest_uptime_kuma import live

        return await live.read(self.upstream.base_url, login)

    async def monitors(self, slugs: Sequence[str] = (), api_key: str | None = None) -> list[Monitor]:
        """The monitors of the status pages ``slugs``, with ``api_key`` of ``/metrics``, and with :attr:`login`
        of Socket.IO, each once."""
        sources: list[list[Monitor]] = [await self.status_page_monitors(slug) for slug in slugs]
        if api_key:
            sources.append(monitors_from_metrics(await self.metrics(api_key)))
        if self.login is not None:
            sources.append(await self.live_monitors(self.login))
        return merge(*sources)


def _failed(path: str, exc: AuthFailed) -> Unavailable:
    """A public route answered 403: Uptime Kuma's answer to an error of its own there (its database, say), not a
    refusal of credentials, which public routes do not ask for."""
    return Unavailable(SERVICE, f"GET {path} failed inside Uptime Kuma ({exc.status})", status=exc.status)
