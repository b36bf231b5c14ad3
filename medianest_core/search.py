"""The unified search: every plugin's search provider asked at once, each cut at its own timeout, and one list in
which each title appears once.

``GET /api/v1/search?q=`` answers when every source has answered or overrun its timeout. ``GET
/api/v1/search/stream?q=`` answers the same list as it grows: one JSON document per line (``application/x-ndjson``),
the first at once, then one each time a source answers, the last with ``"done": true``; a slow source delays no
other. ``GET /api/v1/search/providers`` lists the sources.

A source that cannot search for this person at all (their account lacks what it needs, say a Plex sign-in) raises
:class:`NotAvailable` with what they can do: it is shown as ``unavailable`` with that line, not as a failure.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, Final

import attrs
import structlog
from aiohttp import web

from medianest_core import keys
from medianest_core.auth.principal import require
from medianest_core.schema import NOT_BLANK, field, read_query
from medianest_core.titles import Merger, SourceState, TitleDoc, active, add_facts, ordered, title_doc
from medianest_core.types import Route, SearchProvider, SearchQuery, Title, Viewer
from medianest_core.upstream import UpstreamError

log = structlog.get_logger("medianest.search")

MAX_QUERY: Final = 200
MAX_LIMIT: Final = 50
NDJSON: Final = "application/x-ndjson"


def providers(request: web.Request) -> list[tuple[str, SearchProvider]]:
    """Active plugins' providers, in their ``order``."""
    return active(request, request.config_dict[keys.CONTRIBUTIONS].search_providers)


def provider_id(plugin: str, provider: SearchProvider) -> str:
    return f"{plugin}.{provider.key}"


def viewer_of(request: web.Request) -> Viewer:
    who = require(request)
    return Viewer(who.user_id, who.is_admin)


@attrs.frozen
class SearchAsk:
    q: str = field(min_length=1, max_length=MAX_QUERY, pattern=NOT_BLANK, description="What to look for")
    limit: int = field(default=20, ge=1, le=MAX_LIMIT, description="At most this many results from each source")


@attrs.frozen
class SearchAnswer:
    """The merged list, ordered by relevance (exact and prefix title matches first, then popularity), and how
    each source fared. ``done`` is false while sources are still being waited for (in a stream)."""

    q: str
    results: list[TitleDoc]
    sources: list[SourceState]
    notes: list[str]
    done: bool


@attrs.frozen
class ProviderDoc:
    id: str
    title: str


@attrs.frozen
class ProviderList:
    providers: list[ProviderDoc]


class NotAvailable(Exception):
    """Raised by a search provider that cannot search for this person at all, whatever they look for (their
    account lacks what the source needs). Its message is for the person: what they can do about it."""


@attrs.define
class Outcome:
    """One source's answer: its titles, or why there are none (``unavailable``: not for this person, not a
    fault)."""

    titles: list[Title] = attrs.field(factory=list)
    message: str | None = None
    unavailable: bool = False


async def ask(plugin: str, provider: SearchProvider, query: SearchQuery) -> Outcome:
    """One provider's answer, cut at its timeout; a failure is one line, never an exception."""
    name = provider_id(plugin, provider)
    try:
        async with asyncio.timeout(provider.timeout):
            found = list(await provider.search(query))[: query.limit]
    except NotAvailable as exc:
        return Outcome(message=f"{provider.title}: {exc}", unavailable=True)
    except TimeoutError:
        return Outcome(message=f"{provider.title} did not answer.")
    except UpstreamError as exc:  # the source's service is down or refused: worth a line, not a traceback
        log.info("search_provider_failed", provider=name, error=str(exc))
        return Outcome(message=f"{provider.title} could not search just now.")
    except Exception:
        log.exception("search_provider_failed", provider=name)
        return Outcome(message=f"{provider.title} could not search just now.")
    return Outcome([title for title in found if isinstance(title, Title)])


def _state(outcome: Outcome | None) -> str:
    """A source's state in the answer: ``waiting``, ``ok``, ``failed``, or ``unavailable`` (to this person)."""
    if outcome is None:
        return "waiting"
    if outcome.unavailable:
        return "unavailable"
    return "failed" if outcome.message else "ok"


class Search:
    """One search for one person: the sources' answers merged as they come."""

    def __init__(self, request: web.Request, query: SearchQuery) -> None:
        self.request = request
        self.query = query
        self.sources = providers(request)
        self.merger = Merger()
        self.outcomes: dict[str, Outcome] = {}
        self.notes: list[str] = []

    def snapshot(self) -> dict[str, Any]:
        states = []
        for plugin, provider in self.sources:
            name = provider_id(plugin, provider)
            outcome = self.outcomes.get(name)
            state = _state(outcome)
            states.append(
                {
                    "id": name,
                    "title": provider.title,
                    "state": state,
                    "message": outcome.message if outcome else None,
                    "count": len(outcome.titles) if outcome else 0,
                }
            )
        return {
            "q": self.query.text,
            "results": [title_doc(group) for group in ordered(self.merger.groups, self.query.text)],
            "sources": states,
            "notes": list(self.notes),
            "done": len(self.outcomes) == len(self.sources),
        }

    async def _landed(self, name: str, order: int, outcome: Outcome) -> None:
        self.outcomes[name] = outcome
        self.merger.add(name, order, outcome.titles)
        self.notes = await add_facts(self.request, self.merger.groups, self.query.viewer)

    async def answers(self) -> AsyncIterator[dict[str, Any]]:
        """The list now, then again each time a source answers."""
        yield self.snapshot()
        pending = {asyncio.ensure_future(self._tagged(plugin, provider)) for plugin, provider in self.sources}
        try:
            for next_one in asyncio.as_completed(pending):
                name, order, outcome = await next_one
                await self._landed(name, order, outcome)
                yield self.snapshot()
        finally:
            for task in pending:
                task.cancel()

    async def _tagged(self, plugin: str, provider: SearchProvider) -> tuple[str, int, Outcome]:
        return provider_id(plugin, provider), provider.order, await ask(plugin, provider, self.query)

    async def complete(self) -> dict[str, Any]:
        last: dict[str, Any] = self.snapshot()
        async for answer in self.answers():
            last = answer
        return last


def _query(request: web.Request) -> SearchQuery:
    asked = read_query(request, SearchAsk)
    return SearchQuery(text=asked.q.strip(), viewer=viewer_of(request), limit=asked.limit)


async def list_providers(request: web.Request) -> web.Response:
    """The search sources of the enabled plugins."""
    return web.json_response(
        {"providers": [{"id": provider_id(p, sp), "title": sp.title} for p, sp in providers(request)]}
    )


async def search_all(request: web.Request) -> web.Response:
    """Every source at once, merged into one list of titles; answers when the last source has answered or
    overrun its timeout."""
    return web.json_response(await Search(request, _query(request)).complete())


async def search_stream(request: web.Request) -> web.StreamResponse:
    """The same list as it grows: one JSON document per line, the first at once, then one each time a source
    answers; the last says ``"done": true``."""
    search = Search(request, _query(request))
    response = web.StreamResponse(
        headers={"Content-Type": NDJSON, "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    try:
        async for answer in search.answers():
            await response.write(json.dumps(answer, separators=(",", ":")).encode() + b"\n")
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception:  # the answer has begun: end it, so that no browser waits on a list that cannot come
        log.exception("search_stream_failed", q=search.query.text)
    await response.write_eof()
    return response


ROUTES = (
    Route("GET", "/api/v1/search", search_all, name="search", query=SearchAsk, answer=SearchAnswer),
    Route("GET", "/api/v1/search/providers", list_providers, name="search-providers", answer=ProviderList),
    Route(
        "GET",
        "/api/v1/search/stream",
        search_stream,
        name="search-stream",
        query=SearchAsk,
        answer=SearchAnswer,
        media=NDJSON,
    ),
)
