"""One title, whoever found it: merging the results of several sources, ordering them, and the facts plugins add.

Sources (search providers, title sources, discovery rows) answer :class:`~medianest_core.types.Title` objects.
Two titles of the same kind (film or series) that share an external id (TMDB, TheTVDB or IMDb) are one title:
:class:`Merger` keeps one :class:`Group` per title, takes each field from the first source (in the sources'
``order``) that knows it, the highest popularity, and every source's own facts. Then every ``title_facts`` source
(:func:`add_facts`) says where each title is already, its status and the buttons it offers. :func:`title_doc`
makes the JSON that the API answers and the pages read.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any, Final, Protocol, TypeVar
from urllib.parse import unquote

import attrs
import structlog
from aiohttp import web

from medianest_core import keys
from medianest_core.schema import field as bounded
from medianest_core.types import (
    ActionChoice,
    FactsQuery,
    Presence,
    Title,
    TitleAction,
    TitleFacts,
    TitleFactSource,
    TitleKind,
    TitleStatus,
    Viewer,
)
from medianest_core.upstream import UpstreamError

log = structlog.get_logger("medianest.titles")

MERGED_KINDS: Final = frozenset(TitleKind)
TMDB_ID_MAX: Final = 2**31 - 1
_MARKS: Final = re.compile(r"[\W_]+", re.UNICODE)
_OWN_PATH: Final = re.compile(r"/(?![/\\])[^\x00-\x20\x7f\\]*\Z")
_WEB_LINK: Final = re.compile(r"https?://[^\x00-\x20\x7f\\]+\Z", re.IGNORECASE)
ACTION_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_CHOICES: Final = 100
CHOICE_INT_MAX: Final = 2**53 - 1
"""The largest whole number a choice's value may be: a browser sends it back exactly only up to here."""

IdKey = tuple[str, str, str]


def id_keys(title: Title) -> list[IdKey]:
    """The keys under which a title meets its twins from other sources: none for kinds that are not merged."""
    if title.kind not in MERGED_KINDS:
        return []
    ids = title.ids
    found: list[IdKey] = []
    if ids.tmdb is not None:
        found.append((title.kind, "tmdb", str(ids.tmdb)))
    if ids.tvdb is not None:
        found.append((title.kind, "tvdb", str(ids.tvdb)))
    if ids.imdb:
        found.append(("any", "imdb", ids.imdb.strip().lower()))
    return found


def title_page(kind: str, tmdb_id: int | None) -> str | None:
    """The address of a title's page, for films and series with a TMDB id."""
    return f"/titles/{kind}/{tmdb_id}" if kind in MERGED_KINDS and tmdb_id is not None else None


@attrs.define
class Found:
    """One source's title, with the source's id and its place among the sources."""

    source: str
    order: int
    title: Title


@attrs.define
class Group:
    """Every source's version of one title, and the facts plugins gave about it."""

    members: list[Found] = attrs.field(factory=list)
    facts: list[tuple[str, TitleFacts]] = attrs.field(factory=list)

    @property
    def ordered(self) -> list[Found]:
        return sorted(self.members, key=lambda found: found.order)

    def first(self, name: str) -> Any:
        for found in self.ordered:
            value = getattr(found.title, name)
            if value not in (None, "", (), [], {}):
                return value
        return None

    @property
    def kind(self) -> str:
        return self.ordered[0].title.kind

    @property
    def name(self) -> str:
        return str(self.first("title") or "")

    @property
    def tmdb(self) -> int | None:
        found = [f.title.ids.tmdb for f in self.ordered if f.title.ids.tmdb is not None]
        return found[0] if found else None

    @property
    def popularity(self) -> float | None:
        figures = [f.title.popularity for f in self.members if f.title.popularity is not None]
        return max(figures) if figures else None

    def merged(self) -> Title:
        """One title made of the sources' versions: each field from the first source that knows it."""
        ordered = self.ordered
        ids = {
            scheme: next((getattr(f.title.ids, scheme) for f in ordered if getattr(f.title.ids, scheme)), None)
            for scheme in ("tmdb", "tvdb", "imdb")
        }
        base = ordered[0].title
        values = {
            name: self.first(name)
            for name in (
                "title",
                "year",
                "overview",
                "poster_url",
                "backdrop_url",
                "url",
                "tagline",
                "runtime_minutes",
                "genres",
                "cast",
                "trailer_url",
                "seasons",
            )
        }
        values["title"] = values["title"] or base.title
        values = {k: v for k, v in values.items() if v is not None}
        return attrs.evolve(
            base, ids=attrs.evolve(base.ids, **ids), popularity=self.popularity, facts={}, presence=None, **values
        )

    def presences(self) -> list[Presence]:
        """Where the title is already, one entry per service: a facts source's word over a search hit's."""
        by_service: dict[str, Presence] = {}
        for found in self.ordered:
            if found.title.presence is not None:
                by_service.setdefault(found.title.presence.service, found.title.presence)
        for _, facts in self.facts:
            if facts.presence is not None:
                known = by_service.get(facts.presence.service)
                if known is not None and not facts.presence.seasons and known.seasons:
                    continue
                by_service[facts.presence.service] = facts.presence
        return list(by_service.values())


class Merger:
    """Groups titles from several sources into one per title, as their results come in."""

    def __init__(self) -> None:
        self.groups: list[Group] = []
        self._by_key: dict[IdKey, Group] = {}

    def add(self, source: str, order: int, titles: Iterable[Title]) -> None:
        for title in titles:
            found = Found(source, order, title)
            keys_ = id_keys(title)
            matches: list[Group] = []
            for key in keys_:
                group = self._by_key.get(key)
                if group is not None and group.kind == title.kind and group not in matches:
                    matches.append(group)
            if not matches:
                group = Group([found])
                self.groups.append(group)
            else:
                group = matches[0]
                group.members.append(found)
                for other in matches[1:]:  # this title joins two groups that were one title all along
                    group.members += other.members
                    self.groups.remove(other)
                    for key, known in list(self._by_key.items()):
                        if known is other:
                            self._by_key[key] = group
            for member in group.members:
                for key in id_keys(member.title):
                    self._by_key.setdefault(key, group)


# ---- order ------------------------------------------------------------------------------------------------------


def folded(text: str) -> str:
    """Text as a person compares it: no case, no accents, punctuation as spaces."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(_MARKS.sub(" ", plain.casefold()).split())


def relevance(query: str, title: str) -> int:
    """0 for the exact title, 1 for a title that starts with the query, 2 for one with a word that does, else 3."""
    asked, name = folded(query), folded(title)
    if not asked:
        return 3
    if name == asked:
        return 0
    if name.startswith(asked):
        return 1
    if any(word.startswith(asked) for word in name.split()) or f" {asked}" in f" {name}":
        return 2
    return 3


def ordered(groups: Sequence[Group], query: str) -> list[Group]:
    """Exact and prefix title matches first, then the more popular; a title's original names count too."""

    def rank(group: Group) -> tuple[int, float, str]:
        names = {f.title.title for f in group.members}
        best = min(relevance(query, name) for name in names) if names else 3
        return (best, -(group.popularity or 0.0), folded(group.name))

    return sorted(groups, key=rank)


# ---- facts ------------------------------------------------------------------------------------------------------


class _Offered(Protocol):
    @property
    def order(self) -> int: ...
    @property
    def title(self) -> str: ...


Offer = TypeVar("Offer", bound=_Offered)


def active(request: web.Request, found: Sequence[tuple[str, Offer]]) -> list[tuple[str, Offer]]:
    """What running plugins contributed (search providers, title sources, facts, rows), in ``order``."""
    runtime = request.config_dict[keys.RUNTIME]
    kept = [(plugin, item) for plugin, item in found if (record := runtime.plugins.get(plugin)) and record.active]
    return sorted(kept, key=lambda pair: (pair[1].order, pair[1].title))


def fact_sources(request: web.Request) -> list[tuple[str, TitleFactSource]]:
    return active(request, request.config_dict[keys.CONTRIBUTIONS].title_facts)


def well_formed(facts: object) -> bool:
    """Facts in the shape the hook promises: a plugin's mistake costs its own line, never the list."""
    return (
        isinstance(facts, TitleFacts)
        and (facts.presence is None or isinstance(facts.presence, Presence))
        and (facts.status is None or isinstance(facts.status, TitleStatus))
        and all(isinstance(a, TitleAction) and isinstance(a.url, str) for a in facts.actions)
    )


async def add_facts(
    request: web.Request, groups: Sequence[Group], viewer: Viewer, *, detail: bool = False
) -> list[str]:
    """Ask every facts source about the groups' titles at once; answers replace the facts of earlier asks. Returns
    one line for each source that failed or overran its timeout."""
    if not groups:
        return []
    titles = [group.merged() for group in groups]
    query = FactsQuery(titles, viewer, detail)
    sources = fact_sources(request)

    async def ask(plugin: str, source: TitleFactSource) -> list[TitleFacts | None] | str:
        try:
            async with asyncio.timeout(source.timeout):
                answers = list(await source.lookup(query))
        except TimeoutError:
            return f"{source.title} did not answer in time."
        except UpstreamError as exc:
            log.info("title_facts_failed", source=f"{plugin}.{source.key}", error=str(exc))
            return f"{source.title} could not say what it has just now."
        except Exception:
            log.exception("title_facts_failed", source=f"{plugin}.{source.key}")
            return f"{source.title} could not say what it has just now."
        if len(answers) != len(titles) or not all(facts is None or well_formed(facts) for facts in answers):
            log.warning("title_facts_malformed", source=f"{plugin}.{source.key}", asked=len(titles))
            return f"{source.title} could not say what it has just now."
        return answers

    results = await asyncio.gather(*(ask(plugin, source) for plugin, source in sources))
    problems: list[str] = []
    for (plugin, source), answer in zip(sources, results, strict=True):
        source_id = f"{plugin}.{source.key}"
        if isinstance(answer, str):
            problems.append(answer)
            continue
        for group, facts in zip(groups, answer, strict=True):
            group.facts = [(sid, f) for sid, f in group.facts if sid != source_id]
            if isinstance(facts, TitleFacts):
                group.facts.append((source_id, facts))
    return problems


# ---- JSON -------------------------------------------------------------------------------------------------------


def _safe_link(url: str | None) -> str | None:
    """A link that is ours (a path) or an ordinary web address; anything else is dropped."""
    if not url:
        return None
    if own_path(url) is not None or _WEB_LINK.match(url):
        return url
    return None


def own_path(url: str | None) -> str | None:
    """A path of MediaNest itself. Images are only ever these: the browser never talks to a service. Browsers drop
    tabs and newlines from addresses ("/\t/evil.example" is "//evil.example" to them), so no space or control
    character passes, nor a backslash, nor a second slash at the start."""
    return url if url and _OWN_PATH.match(url) else None


def action_url(source: str, url: str) -> str | None:
    """A button's address: a route of the offering plugin's own API, without dot segments that a browser would
    resolve into another route."""
    path, plugin = own_path(url), source.split(".", 1)[0]
    if path is None:
        return None
    segments = path.split("?", 1)[0].split("/")
    if any(unquote(segment).strip() in (".", "..") for segment in segments):
        return None
    base = f"/api/v1/{plugin}"
    return path if path == base or path.startswith((base + "/", base + "?")) else None


def presence_doc(presence: Presence) -> dict[str, Any]:
    return {
        "service": presence.service,
        "library": presence.library,
        "item_url": own_path(presence.item_url),
        "watch_url": _safe_link(presence.watch_url),
    }


def status_doc(source: str, status: TitleStatus) -> dict[str, Any]:
    return {"source": source, "label": status.label, "tone": status.tone, "detail": status.detail}


def choices_problem(action: TitleAction) -> str | None:
    """Why an action's choices cannot be offered, or ``None``: with choices, ``field`` names the body's key for
    the values ticked; each choice is an :class:`ActionChoice` whose value is a whole number or text, all values
    differ, and there are at most :data:`MAX_CHOICES` of them."""
    choices = action.choices
    if not isinstance(choices, list | tuple):
        return "choices is not a list"
    if not choices:
        return None
    if len(choices) > MAX_CHOICES:
        return f"more than {MAX_CHOICES} choices"
    if not isinstance(action.field, str) or not action.field:
        return "choices without a field"
    if action.choose is not None and not isinstance(action.choose, str):
        return "choose is not text"
    seen: set[tuple[bool, int | str]] = set()
    for choice in choices:
        if not isinstance(choice, ActionChoice) or not isinstance(choice.label, str):
            return "a choice is not an ActionChoice"
        if not isinstance(choice.enabled, bool) or not isinstance(choice.reason, str | None):
            return "a choice's enabled or reason is of the wrong type"
        value = choice.value
        if isinstance(value, bool) or not isinstance(value, int | str):
            return "a choice's value is neither a whole number nor text"
        if isinstance(value, int) and abs(value) > CHOICE_INT_MAX:
            return "a choice's value is too large"
        key = (isinstance(value, str), value)
        if key in seen:
            return "two choices have the same value"
        seen.add(key)
    return None


def offered(source: str, action: TitleAction) -> bool:
    """A button the page may show: a route of the offering plugin's own API, a method that changes something, and
    choices that can be offered. Any other is dropped, alone."""
    if action_url(source, action.url) is None or action.method.upper() not in ACTION_METHODS:
        return False
    problem = choices_problem(action)
    if problem is not None:
        log.warning("title_action_dropped", source=source, action=action.key, reason=problem)
        return False
    return True


def choice_doc(choice: ActionChoice) -> dict[str, Any]:
    return {"value": choice.value, "label": choice.label, "enabled": choice.enabled, "reason": choice.reason}


def action_doc(source: str, action: TitleAction) -> dict[str, Any]:
    choices = list(action.choices)
    return {
        "source": source,
        "key": action.key,
        "label": action.label,
        "method": action.method.upper(),
        "url": action.url,
        "body": dict(action.body),
        "enabled": action.enabled,
        "reason": action.reason,
        "choices": [choice_doc(choice) for choice in choices],
        "field": action.field if choices else None,
        "choose": action.choose if choices else None,
    }


def facts_doc(group: Group) -> dict[str, Any]:
    """Where a title stands for the viewer: where it can be watched, its statuses and its buttons."""
    presences = group.presences()
    return {
        "in_library": [presence_doc(p) for p in presences],
        "statuses": [status_doc(sid, f.status) for sid, f in group.facts if f.status is not None],
        "actions": [
            action_doc(sid, a)
            for sid, f in group.facts
            for a in f.actions
            if offered(sid, a) and not (a.when_missing and presences)
        ],
    }


def title_doc(group: Group) -> dict[str, Any]:
    """The JSON of one merged title, as search results and discovery rows give it."""
    title = group.merged()
    return {
        "kind": title.kind,
        "title": title.title,
        "year": title.year,
        "overview": title.overview,
        "poster": own_path(title.poster_url),
        "backdrop": own_path(title.backdrop_url),
        "url": title_page(title.kind, title.ids.tmdb) or own_path(title.url),
        "ids": {"tmdb": title.ids.tmdb, "tvdb": title.ids.tvdb, "imdb": title.ids.imdb},
        "popularity": title.popularity,
        **facts_doc(group),
        "sources": {found.source: dict(found.title.facts) for found in group.ordered},
    }


# Documentation of the answers (the OpenAPI document; the API walk checks answers against them).


@attrs.frozen
class IdsDoc:
    tmdb: int | None
    tvdb: int | None
    imdb: str | None


@attrs.frozen
class PresenceDoc:
    """A media server that has the title: ``item_url`` is its page in MediaNest, ``watch_url`` opens it in the
    service's own app."""

    service: str
    library: str | None
    item_url: str | None
    watch_url: str | None


@attrs.frozen
class StatusDoc:
    source: str
    label: str
    tone: str
    detail: str | None


@attrs.frozen
class ChoiceDoc:
    """One thing a person may tick before a button's request is sent (a season): ``value`` is what is sent; one
    that cannot be ticked has ``enabled`` false and says why in ``reason``."""

    value: int | str
    label: str
    enabled: bool
    reason: str | None


@attrs.frozen
class ActionDoc:
    """A button: send ``body`` as JSON with ``method`` to ``url``; a greyed-out one says why in ``reason``. With
    ``choices``, the person first ticks some of them (``choose`` is the question) and the values ticked are sent
    as a list under ``body[field]``; without, ``field`` and ``choose`` are null."""

    source: str
    key: str
    label: str
    method: str
    url: str
    body: dict[str, Any]
    enabled: bool
    reason: str | None
    field: str | None
    choose: str | None
    choices: list[ChoiceDoc] = bounded(max_length=MAX_CHOICES)


@attrs.frozen
class TitleDoc:
    """One title, merged from every source that found it. ``url`` is its title page (films and series known to
    TMDB) or the page of the source that found it; ``in_library`` says where it can be watched already;
    ``sources`` holds each source's own facts by the source's id."""

    kind: str
    title: str
    year: int | None
    overview: str | None
    poster: str | None
    backdrop: str | None
    url: str | None
    ids: IdsDoc
    popularity: float | None
    in_library: list[PresenceDoc]
    statuses: list[StatusDoc]
    actions: list[ActionDoc]
    sources: dict[str, dict[str, Any]]


@attrs.frozen
class SourceState:
    """How one source fared: ``waiting`` (not yet answered; in a stream only), ``ok`` or ``failed`` with a line
    saying so."""

    id: str
    title: str
    state: str
    message: str | None
    count: int
