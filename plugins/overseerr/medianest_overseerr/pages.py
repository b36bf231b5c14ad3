"""The requests page (one's own; everyone's for admins, who approve or decline there), the admin's page that links
people to Overseerr users, and the dashboard card with the figures of the person looking.

Pages read the store only: they never wait on Overseerr. The page's script (``static/overseerr.js``) changes rows in
place as the live updates come, from the same documents the API answers with."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import attrs
from aiohttp import web
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from medianest_core.auth.principal import require
from medianest_core.errors import ID_MAX, ApiError, ErrorCode
from medianest_core.models import User
from medianest_core.schema import MAX_PAGE, structure_query
from medianest_core.schema import field as bounded
from medianest_core.types import Access, Card, CardData, CardState, Page, PluginContext, Viewer
from medianest_core.upstream import Unavailable
from medianest_core.web import render
from medianest_core.web.pages import page_number
from medianest_core.web.shell import duration
from medianest_overseerr import store
from medianest_overseerr.models import Link, LinkKind, RequestState

if TYPE_CHECKING:
    from medianest_overseerr.service import Overseerr

STYLES: Final = ("overseerr.css",)
SCRIPTS: Final = ("overseerr.js",)
"""The files of the requests and links pages (of the static folder); the card uses the styles."""
NOT_SET_UP: Final = "Requests are not set up: the admin connects Overseerr in Settings."
KIND_WORDS: Final = {"movie": "Film", "tv": "Series"}
HOW_WORDS: Final = {LinkKind.PLEX: "Plex account", LinkKind.IMPORTED: "Imported", LinkKind.ADMIN: "Set by an admin"}
CARD_WORDS: Final = {
    RequestState.PENDING: "waiting for approval",
    RequestState.APPROVED: "approved",
    RequestState.PROCESSING: "downloading",
    RequestState.PARTIALLY_AVAILABLE: "partly available",
}
"""How the card names each open state, in the order it lists them."""
LINKS_PER_PAGE: Final = 50
_TIME_LEFT: Final = re.compile(r"(?:(\d+)\.)?(\d{1,3}):([0-5]\d):([0-5]\d)(?:\.\d+)?")
_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# ---- what a row shows ------------------------------------------------------------------------------------------


def time_left(text: object) -> str | None:
    """Overseerr's ``timeLeft`` ("00:20:00", "1.02:00:00") in words ("20 min"), or ``None`` when it says nothing."""
    found = _TIME_LEFT.fullmatch(text.strip()) if isinstance(text, str) else None
    if found is None:
        return None
    days, hours, minutes, seconds = (int(part or 0) for part in found.groups())
    return duration(((days * 24 + hours) * 60 + minutes) * 60 + seconds)


def day(text: str) -> str:
    """The day of an ISO moment, as "3 Jan 2026" (its date as written: the page's script shows the same)."""
    try:
        year, month, number = int(text[0:4]), int(text[5:7]), int(text[8:10])
        return f"{number} {_MONTHS[month - 1]} {year}"
    except (ValueError, IndexError):
        return text[:10]


def seasons_text(numbers: list[int]) -> str | None:
    if not numbers:
        return None
    return ("Season " if len(numbers) == 1 else "Seasons ") + ", ".join(str(n) for n in sorted(numbers))


def row_view(doc: Mapping[str, Any], *, viewer: int, everyone: bool, admin: bool) -> dict[str, Any]:
    """What one row of the list shows, from a request document (the same as the page's script computes)."""
    state = str(doc["state"])
    download = doc.get("download") or {}
    left = time_left(download.get("time_left")) if state == RequestState.PROCESSING else None
    asker = doc.get("requested_by") or {}
    mine = not everyone or asker.get("user_id") == viewer
    when = f"Requested {day(str(doc['created_at']))}"
    if everyone:
        when += f" by {asker.get('name') or 'someone in Overseerr'}"
    meta = [KIND_WORDS.get(str(doc["kind"]), str(doc["kind"]))]
    meta += [text for text in (seasons_text(list(doc.get("seasons") or [])),) if text]
    meta += ["4K"] if doc.get("is4k") else []
    there = list(doc.get("seasons_available") or [])
    watch = doc.get("watch_url")
    return {
        "doc": doc,
        "tone": store.STATE_TONES.get(RequestState(state), "info") if state in set(RequestState) else "info",
        "meta": [*meta, when],
        "download": (f"Downloading — {left} left" if left else "Downloading")
        if state == RequestState.PROCESSING
        else None,
        "partly": f"{seasons_text(there)} in Plex"
        if state == RequestState.PARTIALLY_AVAILABLE and there and doc["kind"] == "tv"
        else None,
        "watch_url": watch if isinstance(watch, str) and watch.startswith("https://") else None,
        "cancel": bool(doc.get("cancellable")) and mine,
        "decide": admin and everyone and state == RequestState.PENDING,
    }


def pending_text(count: int) -> str:
    if count == 0:
        return "Nothing waits for approval."
    return "1 request waits for approval." if count == 1 else f"{count} requests wait for approval."


# ---- the pages -------------------------------------------------------------------------------------------------


def pages(ctx: PluginContext, service: Callable[[], Overseerr]) -> list[Page]:
    def poster_base() -> str | None:
        try:
            return service().poster_base()
        except Unavailable:
            return None

    async def not_set_up(request: web.Request, title: str) -> web.StreamResponse:
        who = require(request)
        return await render(
            request, "overseerr/not_set_up.html", {"title": title, "message": NOT_SET_UP, "is_admin": who.is_admin}
        )

    async def home(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/overseerr/requests/")

    async def requests_page(request: web.Request) -> web.StreamResponse:
        who = require(request)
        if not ctx.settings.configured:
            return await not_set_up(request, "Requests")
        everyone = who.is_admin and request.query.get("scope") == "all"
        state = _state_of(request)
        page = page_number(request)
        assert ctx.sessions is not None
        async with ctx.sessions() as db:
            rows, total = await store.page_of(db, None if everyone else who.user_id, state, page)
            pending = await store.pending_count(db) if who.is_admin else 0
        base = poster_base()
        docs = [store.request_doc(row, asker=True, poster_base=base) for row in rows]
        scope = "scope=all&" if everyone else ""
        return await render(
            request,
            "overseerr/requests.html",
            {
                "rows": [row_view(doc, viewer=who.user_id, everyone=everyone, admin=who.is_admin) for doc in docs],
                "everyone": everyone,
                "is_admin": who.is_admin,
                "viewer": who.user_id,
                "state": state.value if state is not None else "",
                "filters": [
                    (
                        f"/overseerr/requests/?{scope}state={value}"
                        if value
                        else f"/overseerr/requests/?{scope}".rstrip("?&"),
                        label,
                        value == (state or ""),
                    )
                    for value, label in [("", "All"), *((s.value, store.STATE_LABELS[s]) for s in RequestState)]
                ],
                "scope_query": scope,
                "page": page,
                "pages": max(1, math.ceil(total / store.PAGE_SIZE)),
                "total": total,
                "pending": pending,
                "pending_text": pending_text(pending),
                "tones": json.dumps({s.value: tone for s, tone in store.STATE_TONES.items()}),
            },
        )

    async def links_page(request: web.Request) -> web.StreamResponse:
        require(request)
        if not ctx.settings.configured:
            return await not_set_up(request, "Overseerr users")
        query = structure_query(request.query, LinksQuery)
        assert ctx.sessions is not None
        async with ctx.sessions() as db:
            total = await db.scalar(select(func.count()).select_from(User)) or 0
            page = query.page or (await _page_of(db, query.user) if query.user is not None else 1)
            found = await db.execute(
                select(User, Link)
                .outerjoin(Link, Link.user_id == User.id)
                .order_by(func.lower(User.username), User.id)
                .offset((page - 1) * LINKS_PER_PAGE)
                .limit(LINKS_PER_PAGE)
            )
            people = [
                {
                    "id": user.id,
                    "username": user.username,
                    "display_name": user.display_name,
                    "overseerr_user_id": link.overseerr_user_id if link is not None else None,
                    "overseerr_name": (link.overseerr_name or f"User {link.overseerr_user_id}") if link else None,
                    "how": _how(link.how) if link is not None else None,
                    "current": user.id == query.user,
                }
                for user, link in found.all()
            ]
        return await render(
            request,
            "overseerr/links.html",
            {"people": people, "page": page, "pages": max(1, math.ceil(total / LINKS_PER_PAGE)), "total": total},
        )

    return [
        Page("/", home, "Requests", name="overseerr-home"),
        Page(
            "/requests/",
            requests_page,
            "Requests",
            name="overseerr-requests",
            short_path="/requests/",
            styles=STYLES,
            scripts=SCRIPTS,
        ),
        Page(
            "/links/",
            links_page,
            "Overseerr users",
            name="overseerr-links",
            access=Access.ADMIN,
            styles=STYLES,
            scripts=SCRIPTS,
        ),
    ]


@attrs.frozen
class LinksQuery:
    """The query of the links page: its ``page``, and ``user``, a person whose row is marked (and, without a
    ``page``, the page that has their row)."""

    page: int | None = bounded(default=None, ge=1, le=MAX_PAGE)
    user: int | None = bounded(default=None, ge=1, le=ID_MAX)


async def _page_of(db: AsyncSession, user_id: int) -> int:
    """The page of the links page that lists the user ``user_id`` (people are listed by name, then id); 1 when
    there is no such user."""
    user = await db.get(User, user_id)
    if user is None:
        return 1
    name, theirs = func.lower(User.username), func.lower(user.username)  # the database's lower(), as in the list
    before = await db.scalar(
        select(func.count()).select_from(User).where(or_(name < theirs, and_(name == theirs, User.id < user.id)))
    )
    return int(before or 0) // LINKS_PER_PAGE + 1


def _state_of(request: web.Request) -> RequestState | None:
    text = request.query.get("state", "")
    if not text:
        return None
    try:
        return RequestState(text)
    except ValueError:
        raise ApiError(
            400,
            ErrorCode.BAD_REQUEST,
            f"There is no state {text[:40]!r}: choose one of {', '.join(s.value for s in RequestState)}.",
            details={"fields": {"state": "Not a state of a request."}},
        ) from None


def _how(how: str) -> str:
    try:
        return HOW_WORDS[LinkKind(how)]
    except ValueError:
        return how


# ---- the dashboard card ----------------------------------------------------------------------------------------


def card(ctx: PluginContext) -> Card:
    """The card "Requests", for the person looking, from the store only (never Overseerr): their open requests by
    state, as figures named by :data:`CARD_WORDS` (only states they have requests in, in that order), and for
    admins, as its message, how many requests of anyone wait for approval. Not set up: "unknown", "Not set up"."""

    async def load_for(viewer: Viewer) -> CardData:
        if not ctx.settings.configured:
            return CardData(CardState.UNKNOWN, message="Not set up")
        assert ctx.sessions is not None
        async with ctx.sessions() as db:
            mine = await store.open_count(db, viewer.user_id)
            pending = await store.pending_count(db) if viewer.is_admin else None
        figures = {words: mine[state.value] for state, words in CARD_WORDS.items() if mine.get(state.value)}
        message = pending_text(pending) if pending is not None else None
        return CardData(CardState.OK, figures=figures, message=message, updated_at=datetime.now(UTC))

    return Card("requests", "Requests", load_for=load_for, template="overseerr/card.html", order=30, styles=STYLES)
