"""Title pages and Discover: a film's or a series' page made from every title source, and rows of posters.

``GET /api/v1/titles/{movie|tv}/{tmdb_id}`` (and the page ``/titles/{movie|tv}/{tmdb_id}``) asks every title
source at once, each cut at its timeout, merges what they know, and adds the facts of every plugin with
``detail``: where it can be watched already, what a media server has of each season, statuses and buttons.
``GET /api/v1/titles/{movie|tv}/{tmdb_id}/facts`` answers only those facts, asking only the facts sources: open
pages ask it again when a plugin says a title changed for the person (``title.changed``).
``GET /api/v1/discover`` lists the rows of the Discover page (``/discover/``); ``GET /api/v1/discover/{row}``
answers one row, so that each row loads on its own and a service that is down hides only its own rows.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Final, Literal

import attrs
import structlog
from aiohttp import web

from medianest_core import keys
from medianest_core.errors import ApiError, ErrorCode
from medianest_core.schema import END, field, read_query
from medianest_core.search import viewer_of
from medianest_core.titles import (
    TMDB_ID_MAX,
    ActionDoc,
    Found,
    Group,
    PresenceDoc,
    StatusDoc,
    TitleDoc,
    active,
    add_facts,
    facts_doc,
    id_keys,
    own_path,
    title_doc,
)
from medianest_core.types import (
    DiscoveryQuery,
    DiscoveryRow,
    ExternalIds,
    Presence,
    Route,
    SeasonInfo,
    Title,
    TitleKind,
    TitleQuery,
    TitleSource,
    Viewer,
)
from medianest_core.upstream import UpstreamError

log = structlog.get_logger("medianest.titles")

_ROW_ID: Final = re.compile(r"^[a-z0-9_]{1,64}\.[a-z0-9_-]{1,64}$")
IMDB_ID: Final = r"^tt[0-9]{1,12}" + END
ROW_LIMIT: Final = 20
CAST_SHOWN: Final = 12


# ---- title pages --------------------------------------------------------------------------------------------------


@attrs.frozen
class TitlePath:
    kind: Literal["movie", "tv"] = attrs.field(metadata={"help": "movie (a film) or tv (a series)"})
    tmdb_id: int = field(ge=1, le=TMDB_ID_MAX, description="The title's id at TMDB")


@attrs.frozen
class CastDoc:
    name: str
    character: str | None
    image: str | None


@attrs.frozen
class SeasonDoc:
    """A season: ``episodes`` it has, ``have`` of them in a media server the person may see, and ``in_library``
    (``all``, ``some`` or ``none``; ``null`` when it could not be told)."""

    number: int
    name: str
    episodes: int | None
    air_date: str | None
    poster: str | None
    have: int | None
    in_library: Literal["all", "some", "none"] | None


@attrs.frozen
class TitleDetail(TitleDoc):
    """A title page: the title as every source knows it, with the lines of sources that did not answer."""

    tagline: str | None
    runtime_minutes: int | None
    genres: list[str]
    cast: list[CastDoc]
    trailer_url: str | None
    seasons: list[SeasonDoc]
    notes: list[str]


def title_path(request: web.Request) -> tuple[TitleKind, int]:
    """The kind and TMDB id of the path; anything else names no title: 404."""
    kind, text = request.match_info["kind"], request.match_info["tmdb_id"]
    if kind in ("movie", "tv") and text.isascii() and text.isdigit() and len(text) <= 10:
        number = int(text)
        if 1 <= number <= TMDB_ID_MAX:
            return TitleKind(kind), number
    raise ApiError(404, ErrorCode.NOT_FOUND, "No such title.")


async def _details(plugin: str, source: TitleSource, query: TitleQuery) -> Title | str | None:
    name = f"{plugin}.{source.key}"
    try:
        async with asyncio.timeout(source.timeout):
            found = await source.details(query)
    except TimeoutError:
        return f"{source.title} did not answer."
    except UpstreamError as exc:
        log.info("title_source_failed", source=name, error=str(exc))
        return f"{source.title} could not be asked just now."
    except Exception:
        log.exception("title_source_failed", source=name)
        return f"{source.title} could not be asked just now."
    return found if isinstance(found, Title) and found.kind == query.kind.value else None


def _season_doc(season: SeasonInfo, presences: list[Presence], known: bool) -> dict[str, Any]:
    """A season with what the media servers the person may see have of it: ``all``, ``some`` or ``none``; unknown
    (``None``) when a server has the series but could not say which episodes, or nobody knows the season's
    length."""
    have: int | None
    state: str | None
    if not presences:
        have, state = 0, "none"
    elif not known:
        have, state = None, None
    else:
        have = max(p.seasons.get(season.number, 0) for p in presences)
        if have <= 0:
            state = "none"
        elif season.episodes is None:
            state = None
        else:
            state = "all" if have >= season.episodes else "some"
    return {
        "number": season.number,
        "name": season.name,
        "episodes": season.episodes,
        "air_date": season.air_date,
        "poster": own_path(season.poster_url),
        "have": have,
        "in_library": state,
    }


async def title_detail(request: web.Request, kind: TitleKind, tmdb_id: int, viewer: Viewer) -> dict[str, Any]:
    """Every title source asked at once, merged, with the facts of every plugin; 404 when no source knows the
    title, 503 when none could be asked."""
    sources = active(request, request.config_dict[keys.CONTRIBUTIONS].title_sources)
    query = TitleQuery(kind, tmdb_id, viewer)
    answers = await asyncio.gather(*(_details(plugin, source, query) for plugin, source in sources))
    group = Group()
    notes: list[str] = []
    for (plugin, source), answer in zip(sources, answers, strict=True):
        if isinstance(answer, str):
            notes.append(answer)
        elif answer is not None:
            group.members.append(
                Found(
                    f"{plugin}.{source.key}",
                    source.order,
                    attrs.evolve(answer, ids=attrs.evolve(answer.ids, tmdb=tmdb_id)),
                )
            )
    if not group.members:
        if notes:
            raise ApiError(503, ErrorCode.SERVICE_UNAVAILABLE, " ".join(notes) + " Try again in a moment.")
        raise ApiError(404, ErrorCode.NOT_FOUND, "No such title.")
    notes += await add_facts(request, [group], viewer, detail=True)
    merged = group.merged()
    presences = group.presences()
    known = all(p.seasons for p in presences) if presences else True
    doc = title_doc(group)
    doc["url"] = f"/titles/{kind.value}/{tmdb_id}"
    doc.update(
        tagline=merged.tagline,
        runtime_minutes=merged.runtime_minutes,
        genres=list(merged.genres),
        cast=[
            {
                "name": member.name,
                "character": member.character,
                "image": own_path(member.image_url),
            }
            for member in list(merged.cast)[:CAST_SHOWN]
        ],
        trailer_url=merged.trailer_url if merged.trailer_url and merged.trailer_url.startswith("https://") else None,
        seasons=[_season_doc(season, presences, known) for season in merged.seasons] if kind is TitleKind.TV else [],
        notes=notes,
    )
    return doc


async def title_api(request: web.Request) -> web.Response:
    """A film or a series, as every source knows it, with where it can be watched already."""
    kind, tmdb_id = title_path(request)
    return web.json_response(await title_detail(request, kind, tmdb_id, viewer_of(request)))


@attrs.frozen
class FactsAsk:
    tvdb: int | None = field(default=None, ge=1, le=TMDB_ID_MAX, description="The title's id at TheTVDB, if known")
    imdb: str | None = field(default=None, pattern=IMDB_ID, description="The title's IMDb id (tt…), if known")
    detail: bool = attrs.field(
        default=False, metadata={"help": "true for a title page: sources may then say more (each season)"}
    )


@attrs.frozen
class FactsAnswer:
    """Where a title stands for the person asking, as in a title's JSON: where it can be watched, statuses and
    buttons; ``notes`` name the sources that could not say."""

    in_library: list[PresenceDoc]
    statuses: list[StatusDoc]
    actions: list[ActionDoc]
    notes: list[str]


async def facts_api(request: web.Request) -> web.Response:
    """Where a film or a series stands for you, from the plugins' facts alone (no title source is asked): what a
    page shows again when a plugin says the title changed for you."""
    kind, tmdb_id = title_path(request)
    asked = read_query(request, FactsAsk)
    viewer = viewer_of(request)
    ids = ExternalIds(tmdb=tmdb_id, tvdb=asked.tvdb, imdb=asked.imdb)
    group = Group([Found("facts", 0, Title(kind.value, "", ids=ids))])
    notes = await add_facts(request, [group], viewer, detail=asked.detail)
    return web.json_response({**facts_doc(group), "notes": notes})


async def title_page(request: web.Request) -> web.StreamResponse:
    from medianest_core.web import render

    kind, tmdb_id = title_path(request)
    doc = await title_detail(request, kind, tmdb_id, viewer_of(request))
    return await render(request, "title.html", {"t": doc})


# ---- discover -----------------------------------------------------------------------------------------------------


@attrs.frozen
class RowPath:
    row: str = field(min_length=3, max_length=129, pattern=_ROW_ID.pattern, description="A row's id, as listed")


@attrs.frozen
class RowDoc:
    id: str
    title: str


@attrs.frozen
class RowList:
    rows: list[RowDoc]


@attrs.frozen
class RowAnswer:
    """One row of posters; ``ok`` false with a line saying why when its service did not answer. ``notes`` name the
    plugins that could not say which of them they have."""

    id: str
    title: str
    ok: bool
    message: str | None
    titles: list[TitleDoc]
    notes: list[str]


def rows(request: web.Request) -> list[tuple[str, DiscoveryRow]]:
    return active(request, request.config_dict[keys.CONTRIBUTIONS].discovery_rows)


def row_id(plugin: str, row: DiscoveryRow) -> str:
    return f"{plugin}.{row.key}"


async def list_rows(request: web.Request) -> web.Response:
    """The rows of the Discover page, in order."""
    return web.json_response({"rows": [{"id": row_id(p, r), "title": r.title} for p, r in rows(request)]})


async def load_row(request: web.Request) -> web.Response:
    """One row's titles, each marked with where it can be watched already."""
    wanted = request.match_info["row"]
    for plugin, row in rows(request):
        if row_id(plugin, row) == wanted:
            return web.json_response(await _row(request, plugin, row))
    raise ApiError(404, ErrorCode.NOT_FOUND, "No such row.")


async def _row(request: web.Request, plugin: str, row: DiscoveryRow) -> dict[str, Any]:
    name = row_id(plugin, row)
    doc: dict[str, Any] = {"id": name, "title": row.title, "ok": True, "message": None, "titles": [], "notes": []}
    viewer = viewer_of(request)
    try:
        async with asyncio.timeout(row.timeout):
            found = [t for t in await row.load(DiscoveryQuery(viewer, ROW_LIMIT)) if isinstance(t, Title)]
    except TimeoutError:
        return {**doc, "ok": False, "message": f"{row.title}: the service did not answer."}
    except UpstreamError as exc:
        log.info("discovery_row_failed", row=name, error=str(exc))
        return {**doc, "ok": False, "message": f"{row.title}: the service could not be asked just now."}
    except Exception:
        log.exception("discovery_row_failed", row=name)
        return {**doc, "ok": False, "message": f"{row.title}: the service could not be asked just now."}
    groups: list[Group] = []
    seen: dict[tuple[str, str, str], Group] = {}
    for title in found[:ROW_LIMIT]:
        keys_ = id_keys(title)
        twin = next((seen[k] for k in keys_ if k in seen), None)
        if twin is not None:
            continue
        group = Group([Found(name, row.order, title)])
        groups.append(group)
        for key in keys_:
            seen[key] = group
    notes = await add_facts(request, groups, viewer)
    return {**doc, "titles": [title_doc(group) for group in groups], "notes": notes}


async def discover_page(request: web.Request) -> web.StreamResponse:
    from medianest_core.web import render

    listed = [{"id": row_id(p, r), "title": r.title} for p, r in rows(request)]
    return await render(request, "discover.html", {"rows": listed})


async def discover_redirect(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/discover/")


API_ROUTES = (
    Route(
        "GET",
        "/api/v1/titles/{kind}/{tmdb_id}",
        title_api,
        name="title",
        params=TitlePath,
        answer=TitleDetail,
        errors=(503,),
    ),
    Route(
        "GET",
        "/api/v1/titles/{kind}/{tmdb_id}/facts",
        facts_api,
        name="title-facts",
        params=TitlePath,
        query=FactsAsk,
        answer=FactsAnswer,
    ),
    Route("GET", "/api/v1/discover", list_rows, name="discover-rows", answer=RowList),
    Route("GET", "/api/v1/discover/{row}", load_row, name="discover-row", params=RowPath, answer=RowAnswer),
)

PAGE_ROUTES = (
    Route("GET", "/titles/{kind}/{tmdb_id}", title_page, name="page-title"),
    Route("GET", "/discover/", discover_page, name="page-discover"),
    Route("GET", "/discover", discover_redirect, name="page-discover-bare"),
)
