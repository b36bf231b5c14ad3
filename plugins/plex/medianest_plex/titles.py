"""Plex's part of "one search, one list per title": its search results as titles with their external ids, its
word on any title shown (Plex has it, in this library, with so many episodes of each season), title pages' details
when Plex has the title, and the row of what was recently added.

Each person sees what Plex shows them: the libraries shared with them, read with their own server token (an
admin who does not sign in with Plex uses the owner's) and kept for five minutes per person. Someone with neither
sees nothing of Plex. Which titles Plex has is read from the index (:mod:`medianest_plex.index`); only the details
of one title, its seasons and the recently added are asked of Plex while someone waits.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final
from urllib.parse import quote

import attrs
import structlog

from medianest_core.types import (
    CastMember,
    DiscoveryQuery,
    ExternalIds,
    FactsQuery,
    PluginContext,
    Presence,
    SearchQuery,
    SeasonInfo,
    Title,
    TitleFacts,
    TitleKind,
    TitleQuery,
    Viewer,
)
from medianest_core.upstream import NotFound, Unavailable, UpstreamError, deadline
from medianest_plex import login, store
from medianest_plex.api import image_url
from medianest_plex.client import Item, PlexServer, Section
from medianest_plex.service import Plex

log = structlog.get_logger("medianest.plugins.plex")

SERVICE: Final = "Plex"
SECTIONS_TTL: Final = 300.0
"""Seconds the libraries a person may see are kept before Plex is asked again."""
LIVE_BUDGET: Final = 1.0
"""Seconds a facts lookup gives each live call (the server's identity, a series' seasons): facts are cut at two."""
KINDS: Final = {"movie": TitleKind.MOVIE, "show": TitleKind.TV}
"""Plex's types of the items that are titles with pages, and their kind."""
LEFT_OUT: Final = frozenset({"collection", "person"})
"""Search results that are no title at all."""
SEASONS_PAGE: Final = 200
NOT_AVAILABLE: Final = "not available to you: sign in with Plex, on the Library page, to search the library."
"""What search says to someone whose account does not sign in with Plex."""
OPENS_TTL: Final = 300.0
"""Seconds Plex's word on whether a person may open an item is kept."""


@attrs.frozen
class Seen:
    """What one person may see of the server: the token to ask with, whether it is the owner's (which opens
    everything), and the libraries shared with them, in Plex's order, by key."""

    server: PlexServer
    token: str
    sections: Mapping[str, Section]
    owner: bool = False


async def shared_sections(server: PlexServer, token: str) -> list[Section]:
    """The libraries the token may see, in Plex's order, kept :data:`SECTIONS_TTL` per token (the last list while
    Plex fails)."""
    person = hashlib.sha256(token.encode()).hexdigest()  # the cache's key names no token
    return (await server.upstream.cached(("sections", person), SECTIONS_TTL, lambda: server.sections(token))).value


class Opener:
    """Which items one person's token may open. A library shared with someone may still hide some of its items
    from them (the owner's label or content-rating restrictions, a managed user's): the index cannot tell, Plex
    can.

    Each answer is kept for :data:`OPENS_TTL` in the server upstream's cache, under a digest of the token and the
    item's ratingKey. The items not kept are asked of Plex together: the misses of one lookup start their fetches
    in the same turn of the event loop, and each joins the call that the first one scheduled for the next turn,
    ``/library/metadata/<rk1>,<rk2>,…`` (the items Plex answers are the ones the token opens). When Plex answers
    404 for a list, each item is asked alone, at once. Every call has :data:`LIVE_BUDGET`; an item Plex could
    not answer for in time, or at all, counts as not opened, and its answer is not kept."""

    def __init__(self, seen: Seen) -> None:
        self.seen = seen
        self._waiting: dict[str, asyncio.Future[bool]] = {}
        self._calls: set[asyncio.Task[None]] = set()

    async def opened(self, rating_keys: Iterable[str]) -> set[str]:
        """Those of the items the person may open, as far as Plex says."""
        keys = list(dict.fromkeys(rating_keys))
        answers = await asyncio.gather(*(self._opens(key) for key in keys))
        return {key for key, opens in zip(keys, answers, strict=True) if opens}

    async def _opens(self, rating_key: str) -> bool:
        digest = hashlib.sha256(f"{self.seen.token}\n{rating_key}".encode()).hexdigest()  # names no token
        try:
            kept = await self.seen.server.upstream.cached(("opens", digest), OPENS_TTL, lambda: self._join(rating_key))
        except UpstreamError as exc:
            log.debug("plex_opens_failed", rating_key=rating_key, error=str(exc))
            return False
        return kept.value and not kept.stale  # an old answer while Plex fails is no answer

    def _join(self, rating_key: str) -> asyncio.Future[bool]:
        """The answer for one item not kept: from the call scheduled for the next turn of the event loop."""
        loop = asyncio.get_running_loop()
        if not self._waiting:
            call = loop.create_task(self._call())
            self._calls.add(call)
            call.add_done_callback(self._calls.discard)
        future = self._waiting.get(rating_key)
        if future is None:
            future = self._waiting[rating_key] = loop.create_future()
        return future

    async def _call(self) -> None:
        """Ask Plex about the items waiting, and give each its answer (a waiter gone meanwhile needs none)."""
        waiting, self._waiting = self._waiting, {}
        try:
            answers: Mapping[str, bool | BaseException] = await self._ask(list(waiting))
        except asyncio.CancelledError:
            for future in waiting.values():
                future.cancel()
            raise
        except Exception as exc:  # a mistake of ours: each waiter gets it
            answers = dict.fromkeys(waiting, exc)
        for key, future in waiting.items():
            if future.done():
                continue
            answer = answers[key]
            if isinstance(answer, BaseException):
                future.set_exception(answer)
            else:
                future.set_result(answer)

    async def _ask(self, keys: list[str]) -> dict[str, bool | UpstreamError]:
        """Plex's word on each item: one call for all of them, or one each after a 404 for several."""
        server, token = self.seen.server, self.seen.token
        try:
            with deadline(LIVE_BUDGET):
                opened = await server.opened(token, keys)
        except NotFound:
            if len(keys) == 1:
                return {keys[0]: False}
            answers = await asyncio.gather(*(self._ask_one(key) for key in keys))
            return dict(zip(keys, answers, strict=True))
        except UpstreamError as exc:
            log.info("plex_opens_failed", items=len(keys), error=str(exc))
            return {key: UpstreamError(exc.service, exc.message, status=exc.status) for key in keys}
        return {key: key in opened for key in keys}

    async def _ask_one(self, rating_key: str) -> bool | UpstreamError:
        try:
            with deadline(LIVE_BUDGET):
                return rating_key in await self.seen.server.opened(self.seen.token, [rating_key])
        except NotFound:
            return False
        except UpstreamError as exc:
            return UpstreamError(exc.service, exc.message, status=exc.status)


def watch_url(app_url: str, machine: str, rating_key: str) -> str:
    """The item in Plex's web app (``app_url``): the server by its machine identifier, the item by its key.
    Nothing secret: no token, no address of the server."""
    key = quote(f"/library/metadata/{rating_key}", safe="")
    return f"{app_url.rstrip('/')}/#!/server/{quote(machine, safe='')}/details?key={key}"


def item_url(rating_key: str) -> str:
    return f"/plex/items/{rating_key}"


def _kind(item: Item) -> str:
    """``movie`` or ``tv`` for a film or a series; Plex's own type for anything else (``episode``, ``album``…)."""
    kind = KINDS.get(item.type)
    return kind.value if kind is not None else item.type


def _facts(library: str | None, rating_key: str) -> dict[str, str | int | float | bool | None]:
    return {"library": library, "rating_key": rating_key}


def _year(item: Item) -> int | None:
    if item.year is not None:
        return item.year
    date = item.originallyAvailableAt or ""
    return int(date[:4]) if len(date) >= 4 and date[:4].isascii() and date[:4].isdigit() else None


def as_title(item: Item, indexed: store.Indexed | None = None, presence: Presence | None = None) -> Title:
    """An item as a title: its ids from Plex's answer, or from the index when the answer had none."""
    ids = item.ids
    if not ids.any() and indexed is not None:
        ids = indexed.ids
    return Title(
        kind=_kind(item),
        title=item.title,
        ids=ids,
        year=_year(item),
        overview=item.summary or None,
        poster_url=image_url(item.thumb),
        backdrop_url=image_url(item.art),
        url=item_url(item.ratingKey),
        presence=presence,
        facts=_facts(item.librarySectionTitle, item.ratingKey),
    )


class Titles:
    """The search provider, the facts, the title source and the discovery row of the Plex plugin."""

    def __init__(self, ctx: PluginContext, get_plex: Callable[[], Plex | None]) -> None:
        self.ctx = ctx
        self.get_plex = get_plex

    @property
    def sessions(self) -> store.Sessions:
        assert self.ctx.sessions is not None
        return self.ctx.sessions

    def _plex(self) -> Plex:
        plex = self.get_plex()
        if plex is None:
            raise Unavailable("plex", "the Plex plugin is starting")
        return plex

    def _ready(self) -> Plex | None:
        """The plugin's Plex when it is set up; else ``None``: it then knows nothing of any title."""
        plex = self.get_plex()
        return plex if plex is not None and plex.configured else None

    async def token(self, viewer: Viewer) -> tuple[PlexServer, str] | None:
        """The server and the token to ask it with for this person (see :func:`login.browse_token`), or ``None``
        for someone who sees nothing of Plex. Raises ``NotConfigured`` when Plex is not set up."""
        server, owner_token = self._plex().require()
        token = await login.browse_token(self.ctx, owner_token, viewer.user_id, viewer.is_admin)
        return None if token is None else (server, token)

    async def seen(self, viewer: Viewer) -> Seen | None:
        """What this person may see of the server, or ``None`` when they see nothing of Plex."""
        found = await self.token(viewer)
        if found is None:
            return None
        server, token = found
        _, owner_token = self._plex().require()
        sections = await shared_sections(server, token)
        return Seen(server, token, {section.key: section for section in sections}, owner=token == owner_token)

    # ---- search ---------------------------------------------------------------------------------------------

    async def search(self, query: SearchQuery) -> list[Title]:
        """What Plex finds for the person: films, series, episodes, music…, each with the ids Plex knows."""
        found = await self.token(query.viewer)
        if found is None:
            from medianest_core.search import NotAvailable

            raise NotAvailable(NOT_AVAILABLE)
        server, token = found
        found_items = await server.search(token, query.text, limit=query.limit)
        items = [item for item in found_items if item.type not in LEFT_OUT][: query.limit]
        missing = [item.ratingKey for item in items if item.type in KINDS and not item.ids.any()]
        indexed = await store.by_rating_keys(self.sessions, missing) if missing else {}
        machine = await self._machine(self._plex()) if items else None
        return [
            as_title(
                item,
                indexed.get(item.ratingKey),
                self.presence(machine, item.ratingKey, item.librarySectionTitle),
            )
            for item in items
        ]

    def presence(
        self, machine: str | None, rating_key: str, library: str | None, seasons: Mapping[int, int] | None = None
    ) -> Presence:
        """Plex has it: its page in MediaNest, and (when the server's identifier is known) in Plex's own app."""
        app_url = str(self.ctx.settings.app_url)
        return Presence(
            service=SERVICE,
            item_url=item_url(rating_key),
            watch_url=watch_url(app_url, machine, rating_key) if machine else None,
            library=library,
            seasons=dict(seasons or {}),
        )

    # ---- facts ----------------------------------------------------------------------------------------------

    async def facts(self, query: FactsQuery) -> list[TitleFacts | None]:
        """For each title, Plex's presence when a library the person sees has it (from the index) and, unless
        they browse with the owner's token, Plex confirms they may open it (:class:`Opener`); with ``detail``, a
        series' episodes per season, asked of Plex (left out when Plex is slow or fails)."""
        answer: list[TitleFacts | None] = [None] * len(query.titles)
        plex = self._ready()
        if plex is None:
            return answer
        asked = [
            (n, str(title.kind), title.ids)
            for n, title in enumerate(query.titles)
            if title.kind in (TitleKind.MOVIE, TitleKind.TV) and title.ids.any()
        ]
        if not asked:
            return answer
        seen = await self.seen(query.viewer)
        if seen is None:
            return answer
        matches = await store.find(self.sessions, list(seen.sections), [(kind, ids) for _, kind, ids in asked])
        found = {n: row for (n, _, _), row in zip(asked, matches, strict=True) if row is not None}
        if not found:
            return answer
        if seen.owner:
            machine = await self._machine(plex)
        else:
            machine, opened = await asyncio.gather(
                self._machine(plex), Opener(seen).opened(row.rating_key for row in found.values())
            )
            found = {n: row for n, row in found.items() if row.rating_key in opened}
        seasons: dict[int, Mapping[int, int]] = {}
        if query.detail:
            shows = [(n, row) for n, row in found.items() if row.kind == TitleKind.TV]
            counts = await asyncio.gather(*(self._season_counts(seen, row.rating_key) for _, row in shows))
            seasons = {n: count for (n, _), count in zip(shows, counts, strict=True)}
        for n, row in found.items():
            section = seen.sections.get(row.section_key)
            library = section.title if section is not None else None
            answer[n] = TitleFacts(presence=self.presence(machine, row.rating_key, library, seasons.get(n)))
        return answer

    async def _machine(self, plex: Plex) -> str | None:
        """The server's machine identifier (kept for minutes), or ``None`` when Plex cannot say in time."""
        try:
            with deadline(LIVE_BUDGET):
                return (await plex.identity()).value.machineIdentifier
        except UpstreamError as exc:
            log.info("plex_identity_failed", error=str(exc))
            return None

    async def _seasons(self, seen: Seen, rating_key: str) -> list[Item]:
        page = await seen.server.children(seen.token, rating_key, size=SEASONS_PAGE)
        return sorted(
            (item for item in page.items if item.type == "season" and item.index is not None),
            key=lambda item: item.index or 0,
        )

    async def _season_counts(self, seen: Seen, rating_key: str) -> Mapping[int, int]:
        """A series' episodes per season, as the person sees it; empty when Plex is slow or fails."""
        try:
            with deadline(LIVE_BUDGET):
                seasons = await self._seasons(seen, rating_key)
        except UpstreamError as exc:
            log.info("plex_seasons_failed", rating_key=rating_key, error=str(exc))
            return {}
        return {item.index: item.leafCount for item in seasons if item.index is not None and item.leafCount is not None}

    # ---- title pages ----------------------------------------------------------------------------------------

    async def details(self, query: TitleQuery) -> Title | None:
        """What Plex says of the title when a library the person sees has it: overview, tagline, genres, cast,
        runtime, seasons; ``None`` when Plex does not have it for them."""
        if self._ready() is None:
            return None
        seen = await self.seen(query.viewer)
        if seen is None:
            return None
        kind = TitleKind(query.kind)
        [row] = await store.find(self.sessions, list(seen.sections), [(kind.value, ExternalIds(tmdb=query.tmdb_id))])
        if row is None:
            return None
        try:
            item = await seen.server.item(seen.token, row.rating_key)
        except NotFound:  # gone since the index was built
            return None
        seasons: Sequence[SeasonInfo] = ()
        if kind is TitleKind.TV:
            try:
                seasons = [
                    SeasonInfo(
                        number=season.index or 0,
                        name=season.title,
                        episodes=season.leafCount,
                        air_date=season.originallyAvailableAt,
                        poster_url=image_url(season.thumb),
                    )
                    for season in await self._seasons(seen, row.rating_key)
                ]
            except UpstreamError as exc:
                log.info("plex_seasons_failed", rating_key=row.rating_key, error=str(exc))
        section = seen.sections.get(row.section_key)
        library = section.title if section is not None else item.librarySectionTitle
        machine = await self._machine(self._plex())
        title = as_title(item, row, self.presence(machine, row.rating_key, library))
        return attrs.evolve(
            title,
            kind=kind.value,
            tagline=item.tagline or None,
            runtime_minutes=round(item.duration / 60000) if item.duration else None,
            genres=[genre.tag for genre in item.Genre],
            cast=[
                CastMember(name=role.tag, character=role.role or None, image_url=image_url(role.thumb))
                for role in item.Role
            ],
            seasons=seasons,
            facts=_facts(library, row.rating_key),
        )

    # ---- discovery ------------------------------------------------------------------------------------------

    async def recently_added(self, query: DiscoveryQuery) -> list[Title]:
        """The films and series most recently added to what the person sees; a new season or episode brings its
        series (when the index knows it)."""
        found = await self.token(query.viewer)
        if found is None:
            return []
        server, token = found
        items = await server.recently_added(token, min(query.limit * 3, 200))
        wanted = {_series_key(item) or item.ratingKey for item in items}
        indexed = await store.by_rating_keys(self.sessions, wanted) if wanted else {}
        machine = await self._machine(self._plex()) if items else None
        titles: list[Title] = []
        shown: set[str] = set()
        for item in items:
            if item.type in KINDS:
                key = item.ratingKey
                title = as_title(item, indexed.get(key), self.presence(machine, key, item.librarySectionTitle))
            elif (series := _series_key(item)) is not None and (row := indexed.get(series)) is not None:
                key = series
                title = _series_title(item, row, self.presence(machine, key, item.librarySectionTitle))
            else:
                continue
            if key not in shown:
                shown.add(key)
                titles.append(title)
        return titles[: query.limit]


def _series_key(item: Item) -> str | None:
    """The ratingKey of the series of a season or an episode."""
    if item.type == "season":
        return item.parentRatingKey
    if item.type == "episode":
        return item.grandparentRatingKey
    return None


def _series_title(item: Item, row: store.Indexed, presence: Presence) -> Title:
    """The series of a season or an episode, from the index and what the item says of its series."""
    poster = item.parentThumb if item.type == "season" else item.grandparentThumb
    return Title(
        kind=TitleKind.TV.value,
        title=row.title,
        ids=row.ids,
        year=row.year,
        poster_url=image_url(poster),
        backdrop_url=image_url(item.grandparentArt or item.art),
        url=item_url(row.rating_key),
        presence=presence,
        facts=_facts(item.librarySectionTitle, row.rating_key),
    )
