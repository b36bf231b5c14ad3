"""Small plugins for the tests of the merged search, title pages and Discover (``test_titles.py``).

- :class:`Library` plays a media server (as Plex does): it holds titles with their ids, finds them by name, says
  which titles it holds whatever source found them (its ``title_facts``), with what it has of each season on a
  title page, and knows a little of each title for title pages.
- :class:`Catalogue` plays a catalogue of films and series (as TMDB does): every title it holds answers any
  search (its search is fuzzy), with ids, popularity and posters at MediaNest's own image paths; title pages'
  details (seasons, cast, trailer); rows of posters for Discover.
- :class:`Requests` plays a request service (as Overseerr does): a status and buttons on the titles it is told of.
- :class:`SeasonRequests` plays a request service that asks which seasons of a series to request: its button has
  choices; its routes keep what they were sent and, when a title's status changes, say so to the person
  (``TitleChanged``); an admin route reports its own service out (``ctx.outages``), which greys its button.

Each source's :class:`Behaviour` makes it fail, hang until its timeout cuts it, or wait for a gate the test opens,
and counts how often it was asked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

import attrs
from aiohttp import web

from medianest_core import (
    Access,
    ActionChoice,
    DiscoveryQuery,
    DiscoveryRow,
    ExternalIds,
    FactsQuery,
    PluginContext,
    Presence,
    Route,
    SearchProvider,
    SearchQuery,
    Title,
    TitleAction,
    TitleChanged,
    TitleFacts,
    TitleFactSource,
    TitleQuery,
    TitleSource,
    TitleStatus,
    hookimpl,
)
from medianest_core.auth.principal import require
from medianest_core.errors import field_error
from medianest_core.schema import field, read_body

HUNG_TIMEOUT: Final = 1.0
"""The timeout of a source that hangs: long enough for the other sources' answers to come first, short enough
for a quick test."""
POSTERS: Final = "/api/v1/catalogue/images"


@attrs.define
class Behaviour:
    """How a source answers: after waiting for ``gate`` (when given), it raises ``error``, or hangs until its
    timeout cuts it, or answers. ``calls`` counts the questions; ``asked`` keeps them."""

    error: BaseException | None = None
    hang: bool = False
    gate: asyncio.Event | None = None
    calls: int = 0
    asked: list[Any] = attrs.field(factory=list)

    @property
    def timeout(self) -> float:
        return HUNG_TIMEOUT if self.hang else 5.0

    async def turn(self, question: Any) -> None:
        self.calls += 1
        self.asked.append(question)
        if self.gate is not None:
            await self.gate.wait()
        if self.hang:
            await asyncio.Event().wait()  # nobody sets it: only the timeout ends this
        if self.error is not None:
            raise self.error


def film(name: str, tmdb: int | None = None, imdb: str | None = None, **values: Any) -> Title:
    return Title("movie", name, ids=ExternalIds(tmdb=tmdb, imdb=imdb), **values)


def series(name: str, tmdb: int | None = None, imdb: str | None = None, **values: Any) -> Title:
    return Title("tv", name, ids=ExternalIds(tmdb=tmdb, imdb=imdb), **values)


def poster(name: str) -> str:
    return f"{POSTERS}/w342/{name}.jpg"


# ---- the library (a media server) ---------------------------------------------------------------------------------


@attrs.frozen
class Held:
    """A title the library has: ``seasons`` is what it has of each season of a series (season number → episodes);
    ``watch_url`` opens it in the server's own app."""

    title: Title
    seasons: Mapping[int, int] = attrs.field(factory=dict)
    watch_url: str | None = None
    item_url: str | None = None
    library: str | None = None


def _same(asked: Title, held: Title) -> bool:
    """The library's own matching: the same kind and TMDB id, or the same IMDb id."""
    if asked.ids.tmdb is not None and asked.kind == held.kind and asked.ids.tmdb == held.ids.tmdb:
        return True
    return asked.ids.imdb is not None and held.ids.imdb is not None and asked.ids.imdb == held.ids.imdb


class Library:
    """A media server: its search finds what it holds by name; its facts mark every title it holds."""

    name = "library"
    version = "0.1"
    SERVICE: Final = "Library"

    def __init__(
        self,
        *held: Held | Title,
        search: Behaviour | None = None,
        facts: Behaviour | None = None,
        details: Behaviour | None = None,
        details_order: int = 2,
    ) -> None:
        self.held = [item if isinstance(item, Held) else Held(item) for item in held]
        self.search = search or Behaviour()
        self.facts = facts or Behaviour()
        self.details = details or Behaviour()
        self.details_order = details_order

    def presence(self, number: int, item: Held, detail: bool) -> Presence:
        return Presence(
            self.SERVICE,
            item_url=item.item_url or f"/library/items/{number}",
            watch_url=item.watch_url if item.watch_url is not None else f"https://app.library.example/watch/{number}",
            library=item.library or ("Films" if item.title.kind == "movie" else "Series"),
            seasons=dict(item.seasons) if detail else {},
        )

    def find(self, title: Title) -> tuple[int, Held] | None:
        return next(((n, item) for n, item in enumerate(self.held, 1) if _same(title, item.title)), None)

    @hookimpl
    def search_providers(self) -> list[SearchProvider]:
        async def search(query: SearchQuery) -> list[Title]:
            await self.search.turn(query)
            asked = query.text.casefold()
            return [
                attrs.evolve(item.title, presence=self.presence(n, item, False), facts={"rating_key": str(n)})
                for n, item in enumerate(self.held, 1)
                if asked in item.title.title.casefold()
            ]

        return [SearchProvider("search", "Library", search, timeout=self.search.timeout, order=1)]

    @hookimpl
    def title_facts(self) -> list[TitleFactSource]:
        async def lookup(query: FactsQuery) -> list[TitleFacts | None]:
            await self.facts.turn(query)
            answers: list[TitleFacts | None] = []
            for title in query.titles:
                found = self.find(title)
                answers.append(None if found is None else TitleFacts(presence=self.presence(*found, query.detail)))
            return answers

        return [TitleFactSource("holdings", "Library", lookup, timeout=self.facts.timeout, order=1)]

    @hookimpl
    def title_sources(self) -> list[TitleSource]:
        async def details(query: TitleQuery) -> Title | None:
            await self.details.turn(query)
            for item in self.held:
                if item.title.kind == query.kind.value and item.title.ids.tmdb == query.tmdb_id:
                    return item.title
            return None

        return [TitleSource("details", "Library", details, timeout=self.details.timeout, order=self.details_order)]


# ---- the catalogue (films and series of the world) -------------------------------------------------------------


@attrs.define
class Row:
    """A row of posters for Discover."""

    key: str
    title: str
    titles: Sequence[Title]
    order: int = 100
    behaviour: Behaviour = attrs.field(factory=Behaviour)


class Catalogue:
    """A catalogue: its search answers every title it holds, whatever the words (as a fuzzy search does); its
    title pages' details come from ``details`` (by kind and TMDB id), else from the titles it holds."""

    name = "catalogue"
    version = "0.1"

    def __init__(
        self,
        *titles: Title,
        details: Sequence[Title] = (),
        rows: Sequence[Row] = (),
        search: Behaviour | None = None,
        detail: Behaviour | None = None,
        details_order: int = 1,
    ) -> None:
        self.titles = list(titles)
        self.pages = list(details)
        self.rows = list(rows)
        self.search = search or Behaviour()
        self.detail = detail or Behaviour()
        self.details_order = details_order

    @hookimpl
    def search_providers(self) -> list[SearchProvider]:
        async def search(query: SearchQuery) -> list[Title]:
            await self.search.turn(query)
            return list(self.titles)

        return [SearchProvider("search", "Catalogue", search, timeout=self.search.timeout, order=2)]

    @hookimpl
    def title_sources(self) -> list[TitleSource]:
        async def details(query: TitleQuery) -> Title | None:
            await self.detail.turn(query)
            for title in [*self.pages, *self.titles]:
                if title.kind == query.kind.value and title.ids.tmdb == query.tmdb_id:
                    return title
            return None

        return [TitleSource("details", "Catalogue", details, timeout=self.detail.timeout, order=self.details_order)]

    @hookimpl
    def discovery_rows(self) -> list[DiscoveryRow]:
        def loader(row: Row) -> Any:
            async def load(query: DiscoveryQuery) -> list[Title]:
                await row.behaviour.turn(query)
                return list(row.titles)

            return load

        return [
            DiscoveryRow(row.key, row.title, loader(row), timeout=row.behaviour.timeout, order=row.order)
            for row in self.rows
        ]


# ---- requests (a status and buttons) ------------------------------------------------------------------------------


class Requests:
    """A request service: films and series it knows get a "Request" button (greyed out with a status once
    requested) and the ``extra`` buttons given."""

    name = "requests"
    version = "0.1"

    def __init__(
        self, requested: Sequence[int] = (), extra: Sequence[TitleAction] = (), facts: Behaviour | None = None
    ) -> None:
        self.requested = set(requested)
        self.extra = list(extra)
        self.facts = facts or Behaviour()

    @hookimpl
    def title_facts(self) -> list[TitleFactSource]:
        async def lookup(query: FactsQuery) -> list[TitleFacts | None]:
            await self.facts.turn(query)
            answers: list[TitleFacts | None] = []
            for title in query.titles:
                tmdb = title.ids.tmdb
                if tmdb is None or title.kind not in ("movie", "tv"):
                    answers.append(None)
                    continue
                done = tmdb in self.requested
                request = TitleAction(
                    "request",
                    "Request",
                    "/api/v1/requests",
                    method="post",
                    body={"kind": title.kind, "tmdb_id": tmdb},
                    enabled=not done,
                    reason="Already requested." if done else None,
                )
                answers.append(
                    TitleFacts(
                        status=TitleStatus("Requested", tone="info") if done else None,
                        actions=[request, *self.extra],
                    )
                )
            return answers

        return [TitleFactSource("requests", "Requests", lookup, timeout=self.facts.timeout, order=2)]


@attrs.frozen
class SeasonsAsked:
    kind: Literal["movie", "tv"]
    tmdb_id: int = field(ge=1, le=2**31 - 1)
    seasons: list[int] = field(min_length=1, max_length=100)


@attrs.frozen
class StatusSet:
    kind: Literal["movie", "tv"]
    tmdb_id: int = field(ge=1, le=2**31 - 1)
    label: str = field(min_length=1, max_length=100)
    tone: Literal["ok", "info", "warn", "bad"] = "info"
    user_id: int | None = field(default=None, ge=1, le=2**31 - 1)


@attrs.frozen
class OutageSet:
    reason: str | None = field(default=None, max_length=200)


class SeasonRequests:
    """A request service that asks which seasons: each series of ``shows`` (TMDB id → its seasons as choices) has a
    "Request" button whose chooser offers the seasons, those greyed out that the service gave a reason for or that
    were requested already.

    ``POST /api/v1/seasons/requests`` keeps the JSON it was sent (``received``, also listed by ``GET``) and marks
    those seasons requested ("Requested — pending approval"); the page that asked shows that by itself.
    ``POST /api/v1/seasons/status`` (admins) sets a title's status and, as a plugin does when what it says about a
    title changed for someone, publishes :class:`TitleChanged` for them (by default the admin who asked).
    ``POST /api/v1/seasons/outage`` (admins) reports the plugin's own service out for ``reason`` (``null``: back), as
    a plugin that watches services does; while it is out, the Request button is greyed with that reason."""

    name = "seasons"
    version = "0.1"

    def __init__(
        self, shows: Mapping[int, Sequence[ActionChoice]] | None = None, facts: Behaviour | None = None
    ) -> None:
        self.shows = {tmdb: list(choices) for tmdb, choices in (shows or {}).items()}
        self.requested: dict[int, set[int]] = {}
        self.statuses: dict[tuple[str, int], TitleStatus] = {}
        self.received: list[dict[str, Any]] = []
        self.facts = facts or Behaviour()

    def choices(self, tmdb: int) -> list[ActionChoice]:
        asked = self.requested.get(tmdb, set())
        return [
            attrs.evolve(choice, enabled=False, reason="Requested already.")
            if choice.enabled and choice.value in asked
            else choice
            for choice in self.shows[tmdb]
        ]

    def answer(self, title: Title, outage: str | None = None) -> TitleFacts | None:
        tmdb = title.ids.tmdb
        if title.kind != "tv" or tmdb not in self.shows:
            return None
        choices = self.choices(tmdb)
        left = any(choice.enabled for choice in choices)
        why: str | None
        if outage:
            enabled, why = False, f"Requests are paused: {outage}"
        else:
            enabled, why = left, None if left else "Every season is requested."
        request = TitleAction(
            "request",
            "Request",
            "/api/v1/seasons/requests",
            body={"kind": "tv", "tmdb_id": tmdb},
            enabled=enabled,
            reason=why,
            choices=choices,
            field="seasons",
            choose="Which seasons?",
        )
        status = self.statuses.get(("tv", tmdb))
        if status is None and self.requested.get(tmdb):
            status = TitleStatus("Requested — pending approval", tone="info")
        return TitleFacts(status=status, actions=[request])

    @hookimpl
    def title_facts(self, ctx: PluginContext) -> list[TitleFactSource]:
        async def lookup(query: FactsQuery) -> list[TitleFacts | None]:
            await self.facts.turn(query)
            outage = ctx.outages.reason(ctx.name) if ctx.outages is not None else None
            return [self.answer(title, outage) for title in query.titles]

        return [TitleFactSource("requests", "Season requests", lookup, timeout=self.facts.timeout, order=3)]

    @hookimpl
    def api_routes(self, ctx: PluginContext) -> list[Route]:
        async def ask(request: web.Request) -> web.Response:
            who = require(request)
            asked = await read_body(request, SeasonsAsked)
            offered = {c.value for c in self.choices(asked.tmdb_id)} if asked.tmdb_id in self.shows else set()
            if asked.kind != "tv" or not set(asked.seasons) <= offered:
                raise field_error("seasons", "not offered", "Those seasons cannot be requested.")
            self.received.append({"user_id": who.user_id, "body": await request.json()})
            self.requested.setdefault(asked.tmdb_id, set()).update(asked.seasons)
            count = len(asked.seasons)
            return web.json_response({"message": f"Requested {count} season{'' if count == 1 else 's'}."}, status=201)

        async def received(request: web.Request) -> web.Response:
            return web.json_response({"received": self.received})

        async def status(request: web.Request) -> web.Response:
            who = require(request)
            asked = await read_body(request, StatusSet)
            self.statuses[(asked.kind, asked.tmdb_id)] = TitleStatus(asked.label, tone=asked.tone)
            assert ctx.events is not None
            user_id = asked.user_id if asked.user_id is not None else who.user_id
            await ctx.events.publish(TitleChanged(user_id=user_id, kind=asked.kind, tmdb_id=asked.tmdb_id))
            return web.json_response({"message": "Changed."})

        async def outage(request: web.Request) -> web.Response:
            asked = await read_body(request, OutageSet)
            assert ctx.outages is not None
            await ctx.outages.report(ctx.name, asked.reason)
            return web.json_response({"message": "Reported."})

        return [
            Route("POST", "/requests", ask, body=SeasonsAsked, status=201, errors=(422,)),
            Route("GET", "/requests", received),
            Route("POST", "/status", status, access=Access.ADMIN, body=StatusSet),
            Route("POST", "/outage", outage, access=Access.ADMIN, body=OutageSet),
        ]


# ---- plugins with bugs or bad luck --------------------------------------------------------------------------------


class Careless:
    """A plugin with a bug: its facts source answers ``facts`` for every title, in whatever shape it was given."""

    name = "careless"
    version = "0.1"

    def __init__(self, facts: Any) -> None:
        self.facts = facts

    @hookimpl
    def title_facts(self) -> list[TitleFactSource]:
        async def lookup(query: FactsQuery) -> list[Any]:
            return [self.facts for _ in query.titles]

        return [TitleFactSource("facts", "Careless", lookup)]


class Unreachable(Catalogue):
    """A catalogue whose service cannot be reached when MediaNest starts: the plugin fails at start-up."""

    name = "unreachable"

    @hookimpl
    async def startup(self) -> None:
        raise ConnectionError("the catalogue at 10.0.0.8 refused the connection")
