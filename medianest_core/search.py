"""The unified search: every plugin's search provider asked at once, each cut at its own timeout.

``GET /api/v1/search/providers`` lists the sources; ``GET /api/v1/search/{provider}?q=`` asks one of them, so a
page shows each source's results as soon as they arrive and a slow source delays no other;
``GET /api/v1/search?q=`` asks all of them and answers with every source's results or its failure.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import attrs
import structlog
from aiohttp import web

from medianest_core import keys
from medianest_core.auth.principal import require
from medianest_core.errors import ApiError, ErrorCode
from medianest_core.schema import NOT_BLANK, field, read_query
from medianest_core.types import Route, SearchProvider, SearchQuery
from medianest_core.upstream import UpstreamError

log = structlog.get_logger("medianest.search")

MAX_QUERY: Final = 200
MAX_LIMIT: Final = 50


def providers(request: web.Request) -> list[tuple[str, SearchProvider]]:
    """Active plugins' providers, in their ``order``."""
    runtime = request.config_dict[keys.RUNTIME]
    found = [
        (plugin, provider)
        for plugin, provider in request.config_dict[keys.CONTRIBUTIONS].search_providers
        if (record := runtime.plugins.get(plugin)) is not None and record.active
    ]
    return sorted(found, key=lambda item: (item[1].order, item[1].title))


def provider_id(plugin: str, provider: SearchProvider) -> str:
    return f"{plugin}.{provider.key}"


@attrs.frozen
class SearchAsk:
    q: str = field(min_length=1, max_length=MAX_QUERY, pattern=NOT_BLANK, description="What to look for")
    limit: int = field(default=20, ge=1, le=MAX_LIMIT, description="At most this many results per source")


@attrs.frozen
class ProviderPath:
    provider: str = field(min_length=1, max_length=200, description="A source's id, as listed by /search/providers")


@attrs.frozen
class ResultDoc:
    """One hit; ``available`` says whether it is already in the library."""

    source: str
    title: str
    kind: str
    year: int | None
    url: str | None
    image_url: str | None
    available: bool
    extra: dict[str, Any]


@attrs.frozen
class SourceAnswer:
    """One source's results, or (``ok`` false) why there are none."""

    provider: str
    title: str
    ok: bool
    results: list[ResultDoc]
    message: str | None = None


@attrs.frozen
class SearchAnswer:
    q: str
    sources: list[SourceAnswer]


@attrs.frozen
class ProviderDoc:
    id: str
    title: str


@attrs.frozen
class ProviderList:
    providers: list[ProviderDoc]


def _query(request: web.Request) -> SearchQuery:
    asked = read_query(request, SearchAsk)
    return SearchQuery(text=asked.q.strip(), user_id=require(request).user_id, limit=asked.limit)


async def ask(plugin: str, provider: SearchProvider, query: SearchQuery) -> dict[str, Any]:
    """One provider's answer: its results, or why there are none (never an exception)."""
    doc: dict[str, Any] = {"provider": provider_id(plugin, provider), "title": provider.title}
    try:
        async with asyncio.timeout(provider.timeout):
            results = list(await provider.search(query))[: query.limit]
    except TimeoutError:
        return {**doc, "ok": False, "message": f"{provider.title} did not answer in time.", "results": []}
    except UpstreamError as exc:  # the source's service is down or refused: worth a line, not a traceback
        log.info("search_provider_failed", provider=doc["provider"], error=str(exc))
        return {**doc, "ok": False, "message": f"{provider.title} could not search just now.", "results": []}
    except Exception:
        log.exception("search_provider_failed", provider=doc["provider"])
        return {**doc, "ok": False, "message": f"{provider.title} could not search just now.", "results": []}
    return {**doc, "ok": True, "results": [attrs.asdict(result) for result in results]}


async def list_providers(request: web.Request) -> web.Response:
    return web.json_response(
        {"providers": [{"id": provider_id(p, sp), "title": sp.title} for p, sp in providers(request)]}
    )


async def search_one(request: web.Request) -> web.Response:
    wanted = request.match_info["provider"]
    query = _query(request)
    for plugin, provider in providers(request):
        if provider_id(plugin, provider) == wanted:
            return web.json_response(await ask(plugin, provider, query))
    raise ApiError(404, ErrorCode.NOT_FOUND, f"No search source {wanted!r}.")


async def search_all(request: web.Request) -> web.Response:
    query = _query(request)
    answers = await asyncio.gather(*(ask(plugin, provider, query) for plugin, provider in providers(request)))
    return web.json_response({"q": query.text, "sources": answers})


ROUTES = (
    Route("GET", "/api/v1/search", search_all, name="search", query=SearchAsk, answer=SearchAnswer),
    Route("GET", "/api/v1/search/providers", list_providers, name="search-providers", answer=ProviderList),
    Route(
        "GET",
        "/api/v1/search/{provider}",
        search_one,
        name="search-provider",
        params=ProviderPath,
        query=SearchAsk,
        answer=SourceAnswer,
    ),
)
