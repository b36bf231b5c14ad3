"""The Plex plugin's queries on its index of the server's films and series (``plex_titles``), on SQLite and
PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import attrs
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medianest_core.types import ExternalIds
from medianest_plex.models import PlexTitle

T = TypeVar("T")
Sessions = async_sessionmaker[AsyncSession]

CHUNK: Final = 500
"""Rows (or keys) per statement: well within the bound parameters SQLite and asyncpg take."""
MAX_ID: Final = 2**31 - 1
"""The largest TMDB or TheTVDB id the index holds (its columns' bound): no larger one is looked up."""
MAX_IMDB: Final = 16
COLUMNS: Final = ("section_key", "kind", "title", "year", "tmdb_id", "tvdb_id", "imdb_id", "indexed_at")


@attrs.frozen
class Indexed:
    """A film or a series of the index."""

    rating_key: str
    section_key: str
    kind: str
    title: str
    year: int | None
    ids: ExternalIds

    @classmethod
    def of(cls, row: PlexTitle) -> Indexed:
        ids = ExternalIds(tmdb=row.tmdb_id, tvdb=row.tvdb_id, imdb=row.imdb_id)
        return cls(row.rating_key, row.section_key, row.kind, row.title, row.year, ids)


def _chunks(values: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _upsert(db: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> Any:
    """``INSERT … ON CONFLICT (rating_key) DO UPDATE`` in the database's own dialect."""
    if db.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        made: Any = pg_insert(PlexTitle).values(list(rows))
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        made = sqlite_insert(PlexTitle).values(list(rows))
    return made.on_conflict_do_update(
        index_elements=[PlexTitle.rating_key], set_={name: made.excluded[name] for name in COLUMNS}
    )


async def replace_sections(
    sessions: Sessions, found: Mapping[str, Sequence[Indexed]], kept: Collection[str] = ()
) -> int:
    """Make the index what a walk of the libraries found, in one transaction (readers see the old index or the
    new one, never half of it): each library of ``found`` holds exactly its rows; the rows of the libraries in
    ``kept`` (those the walk could not read this time) stay as they were; every other row goes (its library is
    gone, or is no longer a library of films or series). Returns how many rows the walked libraries hold."""
    now = datetime.now(UTC)
    rows = {entry.rating_key: entry for entries in found.values() for entry in entries}  # an item is in one place
    values = [
        {
            "rating_key": entry.rating_key,
            "section_key": entry.section_key,
            "kind": entry.kind,
            "title": entry.title,
            "year": entry.year,
            "tmdb_id": entry.ids.tmdb,
            "tvdb_id": entry.ids.tvdb,
            "imdb_id": entry.ids.imdb,
            "indexed_at": now,
        }
        for entry in rows.values()
    ]
    async with sessions.begin() as db:
        existing = (await db.execute(select(PlexTitle.rating_key, PlexTitle.section_key))).all()
        stale = [
            rating_key
            for rating_key, section_key in existing
            if rating_key not in rows and (section_key in found or section_key not in kept)
        ]
        for keys in _chunks(stale):
            await db.execute(delete(PlexTitle).where(PlexTitle.rating_key.in_(keys)))
        for chunk in _chunks(values):
            await db.execute(_upsert(db, chunk))
    return len(values)


async def by_rating_keys(sessions: Sessions, keys: Collection[str]) -> dict[str, Indexed]:
    """The indexed films and series of these ratingKeys."""
    found: dict[str, Indexed] = {}
    wanted = sorted(set(keys))
    async with sessions() as db:
        for chunk in _chunks(wanted):
            for row in await db.scalars(select(PlexTitle).where(PlexTitle.rating_key.in_(chunk))):
                found[row.rating_key] = Indexed.of(row)
    return found


async def find(
    sessions: Sessions,
    sections: Sequence[str],
    wanted: Sequence[tuple[str, ExternalIds]],
) -> list[Indexed | None]:
    """For each ``(kind, ids)`` asked, the indexed film or series of that kind in one of ``sections`` that shares
    an id with it, or ``None``. A TMDB id match comes first, then TheTVDB's, then IMDb's; among equals, the
    library first in ``sections``, then the oldest ratingKey."""
    if not sections or not wanted:
        return [None] * len(wanted)
    wanted = [(str(kind), ids) for kind, ids in wanted]  # plain text, whatever str subclass was given
    conditions = []
    for kind in sorted({kind for kind, _ in wanted}):
        asked = [ids for k, ids in wanted if k == kind]
        for column, values in (
            (PlexTitle.tmdb_id, {ids.tmdb for ids in asked if ids.tmdb is not None and 0 < ids.tmdb <= MAX_ID}),
            (PlexTitle.tvdb_id, {ids.tvdb for ids in asked if ids.tvdb is not None and 0 < ids.tvdb <= MAX_ID}),
            (PlexTitle.imdb_id, {ids.imdb for ids in asked if ids.imdb is not None and len(ids.imdb) <= MAX_IMDB}),
        ):
            if values:
                conditions.append(and_(PlexTitle.kind == kind, column.in_(sorted(values, key=str))))
    if not conditions:
        return [None] * len(wanted)
    async with sessions() as db:
        rows = [
            Indexed.of(row)
            for row in await db.scalars(
                select(PlexTitle).where(PlexTitle.section_key.in_(list(sections)), or_(*conditions))
            )
        ]
    place = {key: n for n, key in enumerate(sections)}
    rows.sort(key=lambda row: (place.get(row.section_key, len(place)), _number(row.rating_key), row.rating_key))
    answer: list[Indexed | None] = []
    for kind, ids in wanted:
        same = [row for row in rows if row.kind == kind]
        answer.append(
            next((row for row in same if ids.tmdb is not None and row.ids.tmdb == ids.tmdb), None)
            or next((row for row in same if ids.tvdb is not None and row.ids.tvdb == ids.tvdb), None)
            or next((row for row in same if ids.imdb is not None and row.ids.imdb == ids.imdb), None)
        )
    return answer


def _number(rating_key: str) -> int:
    return int(rating_key) if rating_key.isascii() and rating_key.isdigit() else 0
