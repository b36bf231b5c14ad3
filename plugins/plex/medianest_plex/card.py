"""The Plex card on the dashboard. A background task gathers its figures (owner's view) every
``refresh_interval`` seconds into the database; the card only reads them, with the server's last known state, so
the dashboard never waits on Plex: when Plex stops answering, the card says so and shows the figures' age."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

import structlog

from medianest_core.events import CardUpdated
from medianest_core.models import ServiceStatus
from medianest_core.types import CardData, CardState, PluginContext
from medianest_core.upstream import AuthFailed, UpstreamError
from medianest_plex.models import PlexState
from medianest_plex.service import Plex

log = structlog.get_logger("medianest.plugins.plex")

SNAPSHOT_KEY: Final = "card"
STATUS_KEY: Final = "plex/server"
KINDS: Final = {"movie": "Films", "show": "Shows", "artist": "Artists", "photo": "Photos"}


async def refresh(ctx: PluginContext, plex: Plex) -> None:
    """Gather the card's figures; on failure keep the last ones and note the error."""
    assert ctx.sessions is not None
    assert ctx.events is not None
    async with ctx.sessions() as db:
        row = await db.get(PlexState, SNAPSHOT_KEY)
    snapshot: dict[str, Any] = json.loads(row.value) if row is not None else {}
    try:
        server, token = plex.require()
        info = await server.info(token)
        counts: dict[str, int] = {}
        for section in await server.sections(token):
            label = KINDS.get(section.type, section.type.title())
            page = await server.items(token, section.key, start=0, size=0)
            counts[label] = counts.get(label, 0) + page.total
        playing = await server.playing(token)
        snapshot = {
            "name": info.friendlyName,
            "version": info.version,
            "counts": counts,
            "playing": playing,
            "at": datetime.now(UTC).isoformat(),
        }
    except UpstreamError as exc:
        log.info("plex_card_refresh_failed", error=str(exc))
        snapshot["error"] = "auth" if isinstance(exc, AuthFailed) else "down"
        snapshot["failed_at"] = datetime.now(UTC).isoformat()
    async with ctx.sessions.begin() as db:
        stored = await db.get(PlexState, SNAPSHOT_KEY)
        if stored is None:
            db.add(PlexState(key=SNAPSHOT_KEY, value=json.dumps(snapshot)))
        else:
            stored.value = json.dumps(snapshot)
    await ctx.events.publish(CardUpdated("plex", "server"))


async def load(ctx: PluginContext, plex: Plex | None) -> CardData:
    if plex is None or not plex.configured:
        return CardData(CardState.UNKNOWN, message="Not set up: the admin sets the Plex server's address and token.")
    assert ctx.sessions is not None
    async with ctx.sessions() as db:
        row = await db.get(PlexState, SNAPSHOT_KEY)
        status = await db.get(ServiceStatus, STATUS_KEY)
    snapshot: dict[str, Any] = json.loads(row.value) if row is not None else {}
    down = status is not None and status.state == "down"
    figures: dict[str, str | int | float] = dict(snapshot.get("counts", {}))
    if "playing" in snapshot:
        figures["Playing now"] = snapshot["playing"]
    at = datetime.fromisoformat(snapshot["at"]) if "at" in snapshot else None
    if down or ("error" in snapshot and snapshot.get("failed_at", "") > snapshot.get("at", "")):
        refused = snapshot.get("error") == "auth" and snapshot.get("failed_at", "") > snapshot.get("at", "")
        message = (
            "Plex refuses MediaNest's token: the admin checks the Plex settings."
            if refused
            else ("Plex is not answering.")
        )
        if at is not None:
            message += " These figures are from before."
        return CardData(CardState.UNAVAILABLE, figures=figures, message=message, updated_at=at)
    if not snapshot:
        return CardData(CardState.UNKNOWN, message="Not checked yet.")
    version = snapshot.get("version")
    line = f"{snapshot.get('name') or 'Plex'} · version {version}" if version else None
    return CardData(CardState.OK, figures=figures, message=line, updated_at=at)
