"""The index of the server's films and series: every ``index_interval`` seconds a background task walks each film
and series library with the owner's token, 200 items a call, with their external ids (``includeGuids=1``), and
replaces what the index holds of each library. Search results, title pages and discovery rows read the index;
none of them walks the library while someone waits."""

from __future__ import annotations

import time
from typing import Final

import attrs
import structlog

from medianest_core.types import PluginContext, TitleKind
from medianest_core.upstream import UpstreamError
from medianest_plex import store
from medianest_plex.client import Item, PlexServer, Section
from medianest_plex.service import Plex

log = structlog.get_logger("medianest.plugins.plex")

PAGE: Final = 200
SECTION_KINDS: Final = {"movie": TitleKind.MOVIE, "show": TitleKind.TV}
"""The libraries walked (by Plex's section type) and the kind of title their items are."""
MAX_TITLE: Final = 500
MAX_KEY: Final = 32
"""The longest ratingKey or library key the index keeps (Plex's are short whole numbers)."""


@attrs.frozen
class IndexRun:
    """What one walk did: the libraries it read, the titles they hold, and the libraries it could not read
    (their rows were kept as they were)."""

    sections: int
    titles: int
    failed: tuple[str, ...] = ()


async def rebuild(ctx: PluginContext, plex: Plex) -> IndexRun:
    """Walk every film and series library of the server and make the index what it found. A library that
    cannot be read keeps its rows until the next walk; a failure to list the libraries raises
    :class:`UpstreamError` and changes nothing."""
    assert ctx.sessions is not None
    server, token = plex.require()
    async with plex.index_lock:  # one walk at a time in this process (the scheduler runs one across processes)
        started = time.monotonic()
        found: dict[str, list[store.Indexed]] = {}
        failed: list[Section] = []
        for section in await server.sections(token):
            if section.type not in SECTION_KINDS or len(section.key) > MAX_KEY:
                continue
            try:
                found[section.key] = await _walk(server, token, section)
            except UpstreamError as exc:
                log.warning("plex_index_library_failed", library=section.title, error=str(exc))
                failed.append(section)
        titles = await store.replace_sections(ctx.sessions, found, [section.key for section in failed])
    log.info(
        "plex_index_built",
        libraries=len(found),
        titles=titles,
        failed=len(failed),
        seconds=round(time.monotonic() - started, 2),
    )
    return IndexRun(len(found), titles, tuple(section.title for section in failed))


async def _walk(server: PlexServer, token: str, section: Section) -> list[store.Indexed]:
    """The library's films or series, a page at a time, oldest first (what is added meanwhile comes last)."""
    kind = SECTION_KINDS[section.type]
    rows: list[store.Indexed] = []
    start = 0
    while True:
        page = await server.items(token, section.key, start=start, size=PAGE, sort="addedAt:asc", kind=section.type)
        rows += [
            _row(section, kind, item)
            for item in page.items
            if item.type == section.type and len(item.ratingKey) <= MAX_KEY
        ]
        start += len(page.items)
        if not page.items or start >= page.total:
            return rows


def _row(section: Section, kind: TitleKind, item: Item) -> store.Indexed:
    return store.Indexed(
        rating_key=item.ratingKey,
        section_key=section.key,
        kind=kind.value,
        title=item.title[:MAX_TITLE],
        year=item.year,
        ids=item.ids,
    )
