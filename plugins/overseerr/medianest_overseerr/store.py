"""Requests, links and watches in the database, the documents the API answers with, and the live updates."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any, ClassVar, Final

import attrs
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from medianest_core.models import User
from medianest_core.types import Audience, Event
from medianest_overseerr.models import OPEN, Link, Request, RequestState, Watch

POSTER_SIZE: Final = "w342"
PAGE_SIZE: Final = 20

STATE_LABELS: Final[dict[RequestState, str]] = {
    RequestState.PENDING: "Pending approval",
    RequestState.APPROVED: "Approved",
    RequestState.DECLINED: "Declined",
    RequestState.PROCESSING: "Downloading",
    RequestState.PARTIALLY_AVAILABLE: "Partly available",
    RequestState.AVAILABLE: "Available",
    RequestState.FAILED: "Failed",
}
"""The words a person reads for each state."""

STATE_TONES: Final[dict[RequestState, str]] = {
    RequestState.PENDING: "info",
    RequestState.APPROVED: "info",
    RequestState.DECLINED: "bad",
    RequestState.PROCESSING: "info",
    RequestState.PARTIALLY_AVAILABLE: "ok",
    RequestState.AVAILABLE: "ok",
    RequestState.FAILED: "bad",
}


class Scope(enum.StrEnum):
    MINE = "mine"
    ALL = "all"


@attrs.frozen
class RequestChanged(Event):
    """A request changed state (or became known): its asker's open pages update; ``request`` is the document the
    API answers with."""

    name: ClassVar[str] = "overseerr.request"
    owner_id: int
    request: dict[str, Any]

    def audience(self) -> Audience:
        return Audience.user(self.owner_id)


@attrs.frozen
class RequestsChanged(Event):
    """Someone's request changed: the admins' list of everyone's requests and their count waiting for approval
    update. ``request`` is the document the API answers with (the asker's name included)."""

    name: ClassVar[str] = "overseerr.requests"
    request: dict[str, Any]
    pending: int

    def audience(self) -> Audience:
        return Audience.admins()


def label(state: str) -> str:
    try:
        return STATE_LABELS[RequestState(state)]
    except ValueError:
        return state


def title_url(kind: str, tmdb_id: int) -> str:
    return f"/titles/{kind}/{tmdb_id}"


def request_doc(row: Request, *, asker: bool, poster_base: str | None = None) -> dict[str, Any]:
    """A request as the API answers it; ``asker`` says whether the reader may see who asked (the asker, or an
    admin). ``poster_base`` is the image route posters are served from (none: no poster)."""
    poster = f"{poster_base}{row.poster_path}" if poster_base and row.poster_path else None
    doc: dict[str, Any] = {
        "id": row.id,
        "overseerr_id": row.overseerr_id,
        "kind": row.kind,
        "tmdb_id": row.tmdb_id,
        "title": row.title or f"{'Film' if row.kind == 'movie' else 'Series'} {row.tmdb_id}",
        "year": row.year,
        "poster": poster,
        "url": title_url(row.kind, row.tmdb_id),
        "seasons": list(row.seasons or []),
        "seasons_available": list(row.seasons_available or []),
        "is4k": row.is4k,
        "state": row.state,
        "state_label": label(row.state),
        "cancellable": row.state == RequestState.PENDING.value,
        "watch_url": row.watch_url if row.state in (RequestState.AVAILABLE, RequestState.PARTIALLY_AVAILABLE) else None,
        "download": row.detail.get("download") if row.state == RequestState.PROCESSING else None,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.version.isoformat(),
    }
    if asker:
        doc["requested_by"] = {"user_id": row.user_id, "name": row.requested_by}
    return doc


# ---- queries ---------------------------------------------------------------------------------------------------


async def link_of(db: AsyncSession, user_id: int) -> Link | None:
    return await db.get(Link, user_id)


async def users_of(db: AsyncSession, overseerr_user_id: int) -> list[int]:
    """The MediaNest users linked to this Overseerr user (usually one)."""
    return list((await db.scalars(select(Link.user_id).where(Link.overseerr_user_id == overseerr_user_id))).all())


async def by_overseerr_id(db: AsyncSession, overseerr_id: int) -> Request | None:
    found: Request | None = await db.scalar(select(Request).where(Request.overseerr_id == overseerr_id))
    return found


async def by_overseerr_ids(db: AsyncSession, overseerr_ids: Sequence[int]) -> dict[int, Request]:
    """The stored requests among these Overseerr ids, by Overseerr id (one query for a page of them)."""
    if not overseerr_ids:
        return {}
    rows = await db.scalars(select(Request).where(Request.overseerr_id.in_(set(overseerr_ids))))
    return {row.overseerr_id: row for row in rows.all()}


def _listing(user_id: int | None, state: RequestState | None) -> Select[Any]:
    query = select(Request)
    if user_id is not None:
        query = query.where(Request.user_id == user_id)
    if state is not None:
        query = query.where(Request.state == state.value)
    return query


async def page_of(
    db: AsyncSession, user_id: int | None, state: RequestState | None, page: int, size: int = PAGE_SIZE
) -> tuple[list[Request], int]:
    """A page (from 1) of requests, newest first: one person's (``user_id``) or everyone's; and how many in all."""
    query = _listing(user_id, state)
    total = await db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await db.scalars(
        query.order_by(Request.created_at.desc(), Request.id.desc()).offset((page - 1) * size).limit(size)
    )
    return list(rows.all()), total


async def of_titles(db: AsyncSession, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], list[Request]]:
    """The requests of these titles (kind, TMDB id), newest first."""
    if not keys:
        return {}
    ids = {tmdb for _, tmdb in keys}
    rows = await db.scalars(
        select(Request).where(Request.tmdb_id.in_(ids)).order_by(Request.created_at.desc(), Request.id.desc())
    )
    wanted = set(keys)
    found: dict[tuple[str, int], list[Request]] = {}
    for row in rows.all():
        key = (row.kind, row.tmdb_id)
        if key in wanted:
            found.setdefault(key, []).append(row)
    return found


async def watching(db: AsyncSession, user_id: int, keys: Sequence[tuple[str, int]]) -> set[tuple[str, int]]:
    if not keys:
        return set()
    ids = {tmdb for _, tmdb in keys}
    rows = await db.execute(select(Watch.kind, Watch.tmdb_id).where(Watch.user_id == user_id, Watch.tmdb_id.in_(ids)))
    return {(kind, tmdb) for kind, tmdb in rows.all()}


async def watchers(db: AsyncSession, kind: str, tmdb_id: int) -> list[Watch]:
    rows = await db.scalars(select(Watch).where(Watch.kind == kind, Watch.tmdb_id == tmdb_id))
    return list(rows.all())


async def open_count(db: AsyncSession, user_id: int | None) -> dict[str, int]:
    """How many requests are in each open state: one person's, or everyone's."""
    query = select(Request.state, func.count()).where(Request.state.in_([s.value for s in OPEN]))
    if user_id is not None:
        query = query.where(Request.user_id == user_id)
    rows = await db.execute(query.group_by(Request.state))
    return {state: count for state, count in rows.all()}


async def pending_count(db: AsyncSession) -> int:
    return await db.scalar(select(func.count()).where(Request.state == RequestState.PENDING.value)) or 0


async def names(db: AsyncSession, user_ids: Sequence[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    rows = await db.execute(select(User.id, User.display_name, User.username).where(User.id.in_(set(user_ids))))
    return {uid: display or username for uid, display, username in rows.all()}
