"""The dashboard card "Services" and the ``/uptime_kuma/status/`` page: the monitors a person may see, as the
background polling stored them.

Both read the store only and never wait on Uptime Kuma; when the last good poll is old, or the last poll failed,
they say how old the figures are ("as of 4 min ago"). The page's script (``static/uptime_kuma.js``) redraws a
monitor's row in place from the documents of the ``uptime_kuma.monitor`` events, with the same words and figures
as :func:`monitor_view`.

Each row of the page has "Tell me when it changes" / "Stop telling me" (the person's watch, from the watches table);
an admin's rows also have "Move up", "Move down" and, under "Edit", the name people read, whether people see it and
the MediaNest service that depends on it (the running plugins by title, or "None"), saved through
``PATCH /api/v1/uptime_kuma/monitors/{id}``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import attrs
from aiohttp import web
from sqlalchemy import select

from medianest_core import keys
from medianest_core.auth.principal import require
from medianest_core.types import Card, CardData, CardState, Page, PluginContext, Viewer
from medianest_core.web import render
from medianest_core.web.shell import ago
from medianest_uptime_kuma import store
from medianest_uptime_kuma.models import MonitorWatch

STATUS_WORDS: Final = {
    "up": "Up",
    "down": "Down",
    "pending": "Pending",
    "maintenance": "Maintenance",
    "unknown": "Unknown",
}
"""How a monitor's status is named, on the card, the page and in the script."""
BEAT_STATUS: Final = {0: "down", 1: "up", 2: "pending", 3: "maintenance"}
"""Uptime Kuma's numbers for a beat's status, should a stored beat carry one."""
ORDER: Final = {"down": 0, "pending": 1, "unknown": 2, "maintenance": 3, "up": 4}
"""The card lists down monitors first, then those not known to be up, then the rest (each in the admin's order)."""
CARD_MONITORS: Final = 8
"""How many monitors the card lists; the status page lists them all."""
CARD_BEATS: Final = 24
PAGE_BEATS: Final = 50
DEFAULT_INTERVAL: Final = 60.0
NOT_SET_UP: Final = "Service monitors are not set up: the admin connects Uptime Kuma in Settings."
NO_GROUP: Final = "Other"


# ---- what a monitor shows --------------------------------------------------------------------------------------


def status_of(value: object) -> str:
    """A status as one of :data:`STATUS_WORDS`' keys, from a stored word or from Uptime Kuma's number."""
    if isinstance(value, bool):
        return "unknown"
    if isinstance(value, int):
        return BEAT_STATUS.get(value, "unknown")
    text = str(value).lower() if value is not None else "unknown"
    return text if text in STATUS_WORDS else "unknown"


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def percent(ratio: object) -> str:
    """An uptime ratio as a percentage that never rounds up to a perfect score: 0.99996 → "99.99%", 1 → "100%",
    nothing → "—"."""
    value = _number(ratio)
    if value is None:
        return "—"
    hundredths = math.floor(min(max(value, 0.0), 1.0) * 10000 + 1e-6)
    whole, rest = divmod(hundredths, 100)
    if rest == 0:
        return f"{whole}%"
    return f"{whole}.{rest:02d}".rstrip("0") + "%"


def uptime_30d(ratio: object, days: object) -> str:
    """The 30-day uptime, with over how many days it was measured when MediaNest worked it out over fewer than 30
    ("99.2% over 6 days"); Uptime Kuma's own figure is shown as it is."""
    text = percent(ratio)
    count = _number(days)
    if text == "—" or count is None or not 1 <= count < 30:
        return text
    whole = math.floor(count)
    return f"{text} over {whole} day{'' if whole == 1 else 's'}"


def latency(ms: object) -> str:
    value = _number(ms)
    return "—" if value is None else f"{round(value)} ms"


def cert_text(days: object) -> str | None:
    """What the certificate's days left say, or ``None`` when the monitor has no certificate that is known."""
    value = _number(days)
    if value is None:
        return None
    count = math.floor(value)
    if count < 0:
        return "Certificate expired"
    return f"Certificate: {count} day{'' if count == 1 else 's'} left"


def _beat_title(beat: Mapping[str, Any]) -> str:
    parts = [STATUS_WORDS[status_of(beat.get("status"))]]
    time = beat.get("time")
    if isinstance(time, str) and time:
        parts.append(time[:16].replace("T", " ") + " UTC")
    ping = _number(beat.get("ping"))
    if ping is not None:
        parts.append(f"{round(ping)} ms")
    return " · ".join(parts)


def beats_view(beats: object, count: int) -> dict[str, Any]:
    """The last ``count`` beats as the bar draws them (oldest first), and the bar's accessible label."""
    found = [b for b in beats if isinstance(b, Mapping)] if isinstance(beats, list) else []
    drawn = [{"status": status_of(b.get("status")), "title": _beat_title(b)} for b in found[-count:]]
    up = sum(b["status"] == "up" for b in drawn)
    if not drawn:
        label = "No checks yet"
    elif len(drawn) == 1:
        label = "up at the last check" if up else f"{drawn[0]['status']} at the last check"
    else:
        label = f"up {up} of the last {len(drawn)} checks"
    return {"beats": drawn, "label": label}


def monitor_view(doc: Mapping[str, Any], *, beats: int) -> dict[str, Any]:
    """What one monitor's line shows, from its document (the script computes the same)."""
    status = status_of(doc.get("status"))
    bar = beats_view(doc.get("beats"), beats)
    message = doc.get("message")
    return {
        "id": doc.get("id"),
        "name": str(doc.get("name") or ""),
        "group": doc.get("group") or None,
        "status": status,
        "status_words": STATUS_WORDS[status],
        "uptime_24h": percent(doc.get("uptime_24h")),
        "uptime_30d": uptime_30d(doc.get("uptime_30d"), doc.get("uptime_30d_days")),
        "latency": latency(doc.get("latency_ms")),
        "cert": cert_text(doc.get("cert_days")),
        "beats": bar["beats"],
        "beats_label": bar["label"],
        "message": message if isinstance(message, str) and message and status == "down" else None,
        "hidden": doc.get("visible") is False,
        "title": str(doc.get("title") or ""),
        "service": doc.get("service") or None,
        "position": doc.get("position"),
        "watching": bool(doc.get("watching")),
    }


def stale_text(polled: datetime | None, settings: object, now: datetime, error: str | None = None) -> str | None:
    """ "Uptime Kuma is not answering: as of 4 min ago." when the last good poll is older than two intervals or
    a later poll failed; "Not checked yet." before the first good poll; ``None`` while the figures are fresh."""
    if polled is None:
        return "Not checked yet."
    interval = _number(getattr(settings, "refresh_interval", None))
    seconds = interval if interval is not None and interval > 0 else DEFAULT_INTERVAL
    if polled.tzinfo is None:
        polled = polled.replace(tzinfo=UTC)
    if error or (now - polled).total_seconds() > 2 * seconds:
        return f"Uptime Kuma is not answering: as of {ago(polled, now)}."
    return None


def summary_text(count: int, down: int) -> str:
    if count == 0:
        return "No monitor is shown yet."
    if down == 0:
        return "Everything is up." if count > 1 else "It is up."
    if down == count:
        return "Everything is down." if count > 1 else "It is down."
    return f"{down} of {count} are down."


async def _read(
    ctx: PluginContext, admin: bool, watcher: int | None = None
) -> tuple[list[dict[str, Any]], datetime | None, str | None]:
    """The documents of the monitors the person may see (in the admin's order), the last good poll, and why the
    last poll failed, if it did. With ``watcher``, each document says whether that person watches it
    (``watching``); an admin's documents also carry the admin's own name for it (``title``)."""
    assert ctx.sessions is not None
    async with ctx.sessions() as db:
        rows = await store.visible_rows(db, admin)
        docs = [store.monitor_doc(row, admin=admin) for row in rows]
        if admin:
            for doc, row in zip(docs, rows, strict=True):
                doc["title"] = row.title
        if watcher is not None:
            watched = set(await db.scalars(select(MonitorWatch.monitor_id).where(MonitorWatch.user_id == watcher)))
            for doc in docs:
                doc["watching"] = doc["id"] in watched
        polled = await store.polled_at(db)
        error = await store.poll_error(db)
    return docs, polled, error or None


def service_choices(request: web.Request, own: str) -> list[tuple[str, str]]:
    """The MediaNest services a monitor can be tied to: the running plugins but this one, as (name, title), by
    title."""
    runtime = request.config_dict.get(keys.RUNTIME)
    records = runtime.plugins.active if runtime is not None else []
    return sorted(
        ((record.name, record.title) for record in records if record.name != own),
        key=lambda pair: pair[1].casefold(),
    )


def groups_of(views: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """The monitors by group, groups in the order of their first monitor; monitors without a group last, under
    "Other" when there are groups (with no heading when there are none)."""
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for view in views:
        grouped.setdefault(str(view["group"] or ""), []).append(view)
    named = [(name, items) for name, items in grouped.items() if name]
    loose = grouped.get("", [])
    return [*named, *([(NO_GROUP if named else "", loose)] if loose else [])]


# ---- the page --------------------------------------------------------------------------------------------------


def pages(ctx: PluginContext) -> list[Page]:
    async def home(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/uptime_kuma/status/")

    async def status_page(request: web.Request) -> web.StreamResponse:
        who = require(request)
        if not getattr(ctx.settings, "configured", False):
            return await render(
                request,
                "uptime_kuma/not_set_up.html",
                {"title": "Service status", "message": NOT_SET_UP, "is_admin": who.is_admin},
            )
        docs, polled, error = await _read(ctx, who.is_admin, who.user_id)
        now = datetime.now(UTC)
        views = [monitor_view(doc, beats=PAGE_BEATS) for doc in docs]
        services = service_choices(request, ctx.name) if who.is_admin else []
        down = sum(view["status"] == "down" for view in views)
        return await render(
            request,
            "uptime_kuma/status.html",
            {
                "groups": groups_of(views),
                "count": len(views),
                "summary": summary_text(len(views), down),
                "polled_at": polled,
                "stale": stale_text(polled, ctx.settings, now, error),
                "is_admin": who.is_admin,
                "now": now,
                "beats": PAGE_BEATS,
                "services": services,
                "service_titles": dict(services),
            },
        )

    return [
        Page("/", home, "Service status", name="uptime_kuma-home"),
        Page(
            "/status/",
            status_page,
            "Service status",
            name="uptime_kuma-status",
            short_path="/status/",
            styles=["uptime_kuma.css"],
            scripts=["uptime_kuma.js"],
        ),
    ]


# ---- the dashboard card ----------------------------------------------------------------------------------------


@attrs.frozen
class MonitorsCard(CardData):
    """The card's data: besides its state, summary and age, the lines it lists, how many more there are, and
    whether its figures are old."""

    monitors: tuple[Mapping[str, Any], ...] = ()
    more: int = 0
    stale: str | None = None


def card(ctx: PluginContext) -> Card:
    """The card "Services": the monitors the person may see, down ones first, each with its status, its uptime
    over 24 hours and a bar of its recent beats. It is "degraded" while one of them is down, says how old its
    figures are when Uptime Kuma has not answered for a while, and "Not set up" when it is not."""

    async def load_for(viewer: Viewer) -> CardData:
        if not getattr(ctx.settings, "configured", False):
            return CardData(CardState.UNKNOWN, message="Not set up")
        docs, polled, error = await _read(ctx, viewer.is_admin)
        views = sorted((monitor_view(doc, beats=CARD_BEATS) for doc in docs), key=lambda view: ORDER[view["status"]])
        down = sum(view["status"] == "down" for view in views)
        state = CardState.UNKNOWN if polled is None else CardState.DEGRADED if down else CardState.OK
        if views:
            message: str | None = summary_text(len(views), down)
        else:
            message = "No monitor is shown yet." if polled is not None else None
        return MonitorsCard(
            state,
            message=message,
            updated_at=polled,
            monitors=tuple(views[:CARD_MONITORS]),
            more=max(0, len(views) - CARD_MONITORS),
            stale=stale_text(polled, ctx.settings, datetime.now(UTC), error),
        )

    return Card(
        "monitors",
        "Services",
        load_for=load_for,
        template="uptime_kuma/card.html",
        order=20,
        styles=["uptime_kuma.css"],
    )
