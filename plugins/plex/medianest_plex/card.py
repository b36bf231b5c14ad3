"""The Plex card on the dashboard. A background task gathers its figures (owner's view: each library's size, what
is playing) every ``refresh_interval`` seconds into the database; the card only reads them, with the server's last
known state, so the dashboard never waits on Plex: when Plex stops answering, the card says so and shows the
figures' age.

Each person's card counts the libraries they may browse: all of them for the owner's token (an admin who does not
sign in with Plex), those shared with them for someone who signs in with Plex (Plex's list, kept minutes per person,
shared with search), none for an account that does not sign in with Plex, whose card says how to browse. Film and
series libraries add up under "Films" and "Shows"; any other library (music, photos, the YouTube library or any
library of other videos) is counted under its own name. What is playing now is shown to admins only."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import structlog

from medianest_core.events import CardUpdated
from medianest_core.models import ServiceStatus
from medianest_core.types import CardData, CardState, PluginContext, Viewer
from medianest_core.upstream import AuthFailed, UpstreamError, deadline
from medianest_plex import login
from medianest_plex.client import Section
from medianest_plex.models import PlexState
from medianest_plex.service import Plex

log = structlog.get_logger("medianest.plugins.plex")

SNAPSHOT_KEY: Final = "card"
STATUS_KEY: Final = "plex/server"
KINDS: Final = {"movie": "Films", "show": "Shows"}
"""The kinds of library whose sizes add up under one name; any other library is counted under its own."""
OTHER_VIDEOS: Final = frozenset({"tv.plex.agents.none", "com.plexapp.agents.none"})
"""Plex's agents of libraries of "Other videos" (home videos, downloads): neither films nor series."""
OWN_NAMES: Final = frozenset({"youtube"})
"""Libraries counted under their own name whatever their kind (the YouTube library, made as a film library)."""
PLAYING: Final = "Playing now"
LOOKUP_BUDGET: Final = 1.0
"""Seconds the card gives Plex to say which libraries a person may see, when that is not kept already."""
ALL: Final = frozenset({"*"})
"""Every library: what the owner's token opens."""
NO_PLEX: Final = "The library opens with a Plex account: Library, in the menu, says how."
NOTHING_SHARED: Final = "No library is shared with you yet."


def label(section: Section) -> str:
    """The name a library's size is shown under: "Films" or "Shows", or the library's own name."""
    kind = KINDS.get(section.type)
    if kind is None or section.agent in OTHER_VIDEOS or section.title.strip().casefold() in OWN_NAMES:
        return section.title
    return kind


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
        libraries = []
        for section in await server.sections(token):
            page = await server.items(token, section.key, start=0, size=0)
            libraries.append({"key": section.key, "label": label(section), "count": page.total})
        playing = await server.playing(token)
        snapshot = {
            "name": info.friendlyName,
            "version": info.version,
            "libraries": libraries,
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


async def visible(ctx: PluginContext, plex: Plex, viewer: Viewer) -> frozenset[str] | None:
    """The keys of the libraries ``viewer`` may browse (``ALL`` for the owner's token), or ``None`` for an
    account that does not sign in with Plex. Raises :class:`UpstreamError` when Plex cannot say in time."""
    from medianest_plex.titles import shared_sections

    server, owner_token = plex.require()
    token = await login.browse_token(ctx, owner_token, viewer.user_id, viewer.is_admin)
    if token is None:
        return None
    if token == owner_token:
        return ALL
    with deadline(LOOKUP_BUDGET):
        sections = await shared_sections(server, token)
    return frozenset(section.key for section in sections)


def counts(libraries: Sequence[Mapping[str, Any]], keys: frozenset[str]) -> dict[str, int]:
    """The sizes of the libraries of ``keys`` (all for :data:`ALL`), added up by the name each is shown under."""
    found: dict[str, int] = {}
    for library in libraries:
        if keys is ALL or str(library.get("key")) in keys:
            name = str(library.get("label"))
            found[name] = found.get(name, 0) + int(library.get("count", 0))
    return found


async def load(ctx: PluginContext, plex: Plex | None, viewer: Viewer) -> CardData:
    """The card as ``viewer`` sees it: the sizes of the libraries they may browse, what plays now for an admin."""
    if plex is None or not plex.configured:
        return CardData(CardState.UNKNOWN, message="Not set up: the admin sets the Plex server's address and token.")
    assert ctx.sessions is not None
    async with ctx.sessions() as db:
        row = await db.get(PlexState, SNAPSHOT_KEY)
        status = await db.get(ServiceStatus, STATUS_KEY)
    snapshot: dict[str, Any] = json.loads(row.value) if row is not None else {}
    down = status is not None and status.state == "down"
    try:
        keys = await visible(ctx, plex, viewer)
        unknown = False
    except UpstreamError as exc:
        log.info("plex_card_libraries_failed", user_id=viewer.user_id, error=str(exc))
        keys, unknown = frozenset(), True
    figures: dict[str, str | int | float] = dict(counts(snapshot.get("libraries", []), keys or frozenset()))
    if viewer.is_admin and "playing" in snapshot:
        figures[PLAYING] = snapshot["playing"]
    at = datetime.fromisoformat(snapshot["at"]) if "at" in snapshot else None
    if down or ("error" in snapshot and snapshot.get("failed_at", "") > snapshot.get("at", "")):
        refused = snapshot.get("error") == "auth" and snapshot.get("failed_at", "") > snapshot.get("at", "")
        message = (
            "Plex refuses MediaNest's token: the admin checks the Plex settings."
            if refused
            else ("Plex is not answering.")
        )
        if at is not None and figures:
            message += " These figures are from before."
        return CardData(CardState.UNAVAILABLE, figures=figures, message=message, updated_at=at)
    if not snapshot:
        return CardData(CardState.UNKNOWN, message="Not checked yet.")
    if keys is None:
        return CardData(CardState.OK, figures=figures, message=NO_PLEX, updated_at=at)
    if unknown:
        message = "Plex did not say in time which libraries are shared with you."
        return CardData(CardState.DEGRADED, figures=figures, message=message, updated_at=at)
    if not figures:
        return CardData(CardState.OK, message=NOTHING_SHARED, updated_at=at)
    version = snapshot.get("version")
    line = f"{snapshot.get('name') or 'Plex'} · version {version}" if version else None
    return CardData(CardState.OK, figures=figures, message=line, updated_at=at)
