"""Plex as a media library for other plugins: scan one folder of a library, wait for its items, and gather them
into a collection of the given title (created the first time, completed afterwards); remove such a collection."""

from __future__ import annotations

import asyncio
import time
from typing import Final

import structlog

from medianest_core.types import ImportResult, LibraryImport
from medianest_core.upstream import NotFound
from medianest_plex.client import Item, PlexServer
from medianest_plex.service import Plex

log = structlog.get_logger("medianest.plugins.plex")

POLL_EVERY: Final = 0.5
PAGE: Final = 200
COLLECTION_KINDS: Final = {"movie": "movie", "show": "show", "artist": "artist"}


async def _items_under(server: PlexServer, token: str, section: str, folder: str) -> list[Item]:
    """The section's items with a file in ``folder`` (or below it)."""
    prefix = folder.rstrip("/") + "/"
    found: list[Item] = []
    start = 0
    while True:
        page = await server.items(token, section, start=start, size=PAGE, sort="addedAt:asc")
        found += [item for item in page.items if any(f.startswith(prefix) for f in item.files)]
        start += len(page.items)
        if not page.items or start >= page.total:
            return found


async def import_folder(plex: Plex, request: LibraryImport) -> ImportResult:
    server, token = plex.require()
    machine = (await plex.identity()).value.machineIdentifier
    section = next((s for s in await server.sections(token) if s.title == request.library), None)
    if section is None:
        raise NotFound("plex", f"there is no library named {request.library!r}")
    await server.refresh(token, section.key, request.path)
    deadline = time.monotonic() + request.wait
    while True:
        items = await _items_under(server, token, section.key, request.path)
        enough = len(items) >= request.expected if request.expected is not None else bool(items)
        if enough or time.monotonic() >= deadline:
            break
        await asyncio.sleep(POLL_EVERY)
    if not items:
        raise NotFound("plex", f"nothing from the folder appeared in {request.library!r} within {request.wait:g} s")
    keys = [item.ratingKey for item in items]
    existing = next((c for c in await server.collections(token, section.key) if c.title == request.collection), None)
    kind = COLLECTION_KINDS.get(section.type, "movie")
    if existing is None:
        created = await server.create_collection(token, machine, section.key, request.collection, kind, keys)
        collection_id = created.ratingKey
    else:
        collection_id = existing.ratingKey
        present = {item.ratingKey for item in (await server.collection_items(token, collection_id, size=PAGE)).items}
        missing = [key for key in keys if key not in present]
        if missing:
            await server.add_to_collection(token, machine, collection_id, missing)
    short = max(0, request.expected - len(items)) if request.expected is not None else 0
    log.info("plex_collection_updated", collection=request.collection, items=len(items), missing=short)
    return ImportResult(collection_id=collection_id, items=len(items), missing=short)


async def remove_collection(plex: Plex, collection_id: str) -> None:
    """Remove the collection ``import_folder`` returned; the items and their files stay. :class:`NotFound` when Plex
    has no such collection."""
    server, token = plex.require()
    await server.delete_collection(token, collection_id)
    log.info("plex_collection_removed", collection_id=collection_id)
