"""The attrs classes that plugins return from hooks and receive in them.

Everything a plugin hands to the core is one of these classes, so the core can check, list and document it.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

if TYPE_CHECKING:
    import structlog
    from aiohttp import web
    from prometheus_client import CollectorRegistry
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from medianest_core.accounts import Accounts
    from medianest_core.crypto import Keyring
    from medianest_core.events import EventBus
    from medianest_core.jobs import Jobs
    from medianest_core.libraries import Libraries
    from medianest_core.notifications import Notifier
    from medianest_core.outages import Outages
    from medianest_core.settings import Settings
    from medianest_core.upstream import UpstreamPool


class Access(enum.StrEnum):
    """Who may call a route or see a link. Routes are for signed-in users unless they say otherwise."""

    PUBLIC = "public"
    USER = "user"
    ADMIN = "admin"


Handler = Callable[["web.Request"], Awaitable["web.StreamResponse"]]


@attrs.frozen
class Route:
    """A JSON API route, mounted under ``/api/v1/<plugin>/``.

    ``path`` is relative to that prefix (``"/downloads/{id}"``); ``name`` makes it reversible with
    ``request.app.router[name].url_for()``.

    What the route reads and answers is declared here, and the OpenAPI document (``GET /api/v1/openapi.json``) is
    made from it: ``body``, ``query`` and ``params`` are the attrs classes the handler reads with
    :func:`~medianest_core.schema.read_body`, :func:`~medianest_core.schema.read_query` and
    :func:`~medianest_core.errors.path_id` (path parameters it does not declare are text); ``answer`` is the
    attrs class of its JSON answer (``None``: a JSON object), answered with ``status``; ``errors`` lists the other
    statuses the handler itself answers (the core adds those of sign-in, access, rate limits and bad input);
    ``refusals`` names the fields the handler checks beyond their schema, with the rule (``{"expires_at": "in
    the future"}``): a request that fits the schema may still be refused with a 400 or 422 naming one of them;
    ``media`` is the answer's content type when it is not JSON. The summary is the handler's docstring.
    """

    method: str
    path: str
    handler: Handler
    name: str | None = None
    access: Access = Access.USER
    body: type[Any] | None = None
    query: type[Any] | None = None
    params: type[Any] | None = None
    answer: type[Any] | None = None
    status: int = 200
    errors: Sequence[int] = ()
    refusals: Mapping[str, str] = attrs.field(factory=dict)
    media: str = "application/json"


@attrs.frozen
class Page:
    """A browser page, mounted under ``/<plugin>/``; ``title`` names it in the navigation and the tab.

    ``short_path`` is an address at the top level, one segment between slashes (``"/status/"``), that leads to
    this page (a redirect that keeps the query) so people can type it. The first plugin to ask for one gets it;
    the core's own names, the names of plugins and pages with ``{parameters}`` never get one, and a refused
    short path is logged at start-up.
    """

    path: str
    handler: Handler
    title: str
    name: str | None = None
    access: Access = Access.USER
    short_path: str | None = None
    styles: Sequence[str] = ()
    """Stylesheets of the plugin's static folder this page loads (``"plex.css"``)."""
    scripts: Sequence[str] = ()
    """Scripts of the plugin's static folder this page loads (deferred)."""


@attrs.frozen
class NavLink:
    """An entry of the navigation: in the sidebar on a desktop, the bottom bar on a phone."""

    title: str
    href: str
    icon: str = "circle"
    order: int = 100
    access: Access = Access.USER


class CardState(enum.StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    UNAVAILABLE = "unavailable"
    UNKNOWN = "unknown"


@attrs.frozen
class CardData:
    """What a dashboard card shows: a state, a few figures, and when its data was gathered."""

    state: CardState
    figures: Mapping[str, str | int | float] = attrs.field(factory=dict)
    message: str | None = None
    updated_at: datetime | None = None


def _one_loader(card: Card, attribute: attrs.Attribute[Any], value: Any) -> None:
    if (card.load is None) == (card.load_for is None):
        given = "both" if card.load is not None else "neither"
        raise ValueError(
            f"the card {card.key!r} needs exactly one of load (the same for everyone) and load_for (the viewer's "
            f"own figures); it was given {given}"
        )


@attrs.frozen
class Card:
    """A dashboard card. Its loader reads stored state (never a live upstream call) and returns its data: ``load``
    for a card that shows everyone the same, or ``load_for`` for a card whose figures are the viewer's own (it is
    given the :class:`Viewer` looking). Exactly one of the two is given."""

    key: str
    title: str
    load: Callable[[], Awaitable[CardData]] | None = None
    template: str | None = None
    order: int = 100
    access: Access = Access.USER
    load_for: Callable[[Viewer], Awaitable[CardData]] | None = attrs.field(default=None, validator=_one_loader)
    styles: Sequence[str] = ()
    """Stylesheets of the plugin's static folder the dashboard loads when it shows this card."""
    scripts: Sequence[str] = ()
    """Scripts of the plugin's static folder the dashboard loads when it shows this card (deferred)."""


class HealthState(enum.StrEnum):
    """The one set of names for the state of a component or an external service."""

    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    UNKNOWN = "unknown"
    NOT_SET_UP = "not_set_up"
    """The plugin's settings say its service is not configured (see ``configured`` in ``docs/plugins.md``): the
    core does not run its checks, and it is never up and never down."""


@attrs.frozen
class HealthResult:
    state: HealthState
    message: str | None = None
    latency_ms: float | None = None


@attrs.frozen
class HealthCheck:
    """A check the core runs in the background every ``interval`` seconds, each run cut at ``timeout``."""

    name: str
    check: Callable[[], Awaitable[HealthResult]]
    interval: float = 60.0
    timeout: float = 5.0


@attrs.frozen
class LoginProvider:
    """A way to sign in, listed on the login page. ``start`` (public, at ``/auth/<plugin>/<key>``) begins the flow
    for a browser; a provider without it signs in through the login form (as the password provider does)."""

    key: str
    title: str
    start: Handler | None = None
    order: int = 100


class TitleKind(enum.StrEnum):
    """The kinds of title that have title pages and are merged across sources: TMDB's own two."""

    MOVIE = "movie"
    TV = "tv"


@attrs.frozen
class Viewer:
    """The person a search, a title page or a discovery row is for: sources show only what they may see."""

    user_id: int
    is_admin: bool = False


@attrs.frozen
class ExternalIds:
    """The ids a title is known by at TMDB, TheTVDB and IMDb. Results of two sources that share one (for the same
    kind of title) are one title. TMDB ids are per kind: film 603 and series 603 are two titles."""

    tmdb: int | None = None
    tvdb: int | None = None
    imdb: str | None = None

    def any(self) -> bool:
        return self.tmdb is not None or self.tvdb is not None or self.imdb is not None


@attrs.frozen
class CastMember:
    name: str
    character: str | None = None
    image_url: str | None = None


@attrs.frozen
class SeasonInfo:
    """A season of a series: ``episodes`` is how many it has, as far as the source knows."""

    number: int
    name: str
    episodes: int | None = None
    air_date: str | None = None
    poster_url: str | None = None


@attrs.frozen
class Presence:
    """Where a title can be watched already: a media server that has it, as the person asking may see it.

    ``item_url`` is its page in MediaNest; ``watch_url`` opens it in the service's own app (nothing secret in
    it); ``seasons`` maps a series' season numbers to the episodes the server has of each (given when the facts
    were asked with ``detail``)."""

    service: str
    item_url: str | None = None
    watch_url: str | None = None
    library: str | None = None
    seasons: Mapping[int, int] = attrs.field(factory=dict)


@attrs.frozen
class Title:
    """What one source knows of a film, a series or another item (an album, a clip): a search hit, a title page's
    details or a poster of a discovery row.

    ``kind`` is a :class:`TitleKind` value for films and series, the only kinds that are merged and have title
    pages; other kinds ("episode", "album", "clip", …) stand alone. Image addresses (``poster_url``,
    ``backdrop_url``) are MediaNest's own image routes: the browser never talks to a service. ``url`` is the
    source's own page for the item in MediaNest (``/plex/items/101``), if it has one. ``popularity`` is the
    source's figure used to order results (TMDB's popularity); ``facts`` are what the source alone knows, shown
    to API clients under the source's id (``{"library": "Films", "rating_key": "101"}``): plain values only.
    A source that found the title where it can be watched (a media server's own search) says so in
    ``presence``.
    """

    kind: str
    title: str
    ids: ExternalIds = ExternalIds()
    year: int | None = None
    overview: str | None = None
    poster_url: str | None = None
    backdrop_url: str | None = None
    popularity: float | None = None
    url: str | None = None
    tagline: str | None = None
    runtime_minutes: int | None = None
    genres: Sequence[str] = ()
    cast: Sequence[CastMember] = ()
    trailer_url: str | None = None
    seasons: Sequence[SeasonInfo] = ()
    presence: Presence | None = None
    facts: Mapping[str, str | int | float | bool | None] = attrs.field(factory=dict)


@attrs.frozen
class SearchQuery:
    text: str
    viewer: Viewer
    limit: int = 20

    @property
    def user_id(self) -> int:
        return self.viewer.user_id


@attrs.frozen
class SearchProvider:
    """A source for the unified search. Each provider's results arrive on their own, cut at ``timeout``; results
    of all providers that share an external id are merged into one title."""

    key: str
    title: str
    search: Callable[[SearchQuery], Awaitable[Sequence[Title]]]
    timeout: float = 5.0
    order: int = 100


@attrs.frozen
class TitleQuery:
    """A title page asks for one film or series by its TMDB id."""

    kind: TitleKind
    tmdb_id: int
    viewer: Viewer


@attrs.frozen
class TitleSource:
    """A source of title pages' details: ``details`` answers what it knows of the title, or ``None``. The core
    asks every source at once, each cut at ``timeout``, and takes each field from the first source (in
    ``order``) that knows it."""

    key: str
    title: str
    details: Callable[[TitleQuery], Awaitable[Title | None]]
    timeout: float = 5.0
    order: int = 100


@attrs.frozen
class TitleStatus:
    """A word on a title from a plugin, such as "Requested"; ``tone`` is ``ok``, ``info``, ``warn`` or ``bad``."""

    label: str
    tone: str = "info"
    detail: str | None = None


@attrs.frozen
class ActionChoice:
    """One thing a person may tick before a :class:`TitleAction` is sent (a season of a series): ``value`` goes
    into the body's list; a choice that cannot be made (that season is already there) says why in ``reason``."""

    value: int | str
    label: str
    enabled: bool = True
    reason: str | None = None


@attrs.frozen
class TitleAction:
    """A button offered on a title: it sends ``body`` as JSON with ``method`` to ``url`` (a MediaNest API
    route). A greyed-out action says why in ``reason``.

    With ``choices``, pressing the button first lets the person tick some of them (``choose`` is the question,
    "Which seasons?"); the values ticked are sent as a list under ``body[field]``.

    ``when_missing`` offers the button only while no source has the title in a library: facts sources are asked
    at the same time, so a "Request" button cannot know by itself that Plex has the film."""

    key: str
    label: str
    url: str
    method: str = "POST"
    body: Mapping[str, Any] = attrs.field(factory=dict)
    enabled: bool = True
    reason: str | None = None
    choices: Sequence[ActionChoice] = ()
    field: str | None = None
    choose: str | None = None
    when_missing: bool = False


@attrs.frozen
class TitleFacts:
    """One plugin's word on one title: where it is already, a status, buttons."""

    presence: Presence | None = None
    status: TitleStatus | None = None
    actions: Sequence[TitleAction] = ()


@attrs.frozen
class FactsQuery:
    """The titles of a search, a title page or a discovery row, merged, for the person asking; ``detail`` is true
    for a title page (one title), where per-season facts are worth their cost."""

    titles: Sequence[Title]
    viewer: Viewer
    detail: bool = False


@attrs.frozen
class TitleFactSource:
    """Facts a plugin adds to titles it did not find itself (Plex marks what it has; requests say "Requested").
    ``lookup`` answers one :class:`TitleFacts` (or ``None``) per title, in the order asked. It reads what the
    plugin stored and is cut at ``timeout``: facts never hold a list back for long."""

    key: str
    title: str
    lookup: Callable[[FactsQuery], Awaitable[Sequence[TitleFacts | None]]]
    timeout: float = 2.0
    order: int = 100


@attrs.frozen
class DiscoveryQuery:
    viewer: Viewer
    limit: int = 20


@attrs.frozen
class DiscoveryRow:
    """A row of posters on the Discover page ("Trending this week"); ``load`` answers its titles. Each row loads
    on its own, cut at ``timeout``; a row whose service fails is left out with one line saying so."""

    key: str
    title: str
    load: Callable[[DiscoveryQuery], Awaitable[Sequence[Title]]]
    timeout: float = 5.0
    order: int = 100


@attrs.frozen
class LinkedAccount:
    """A MediaNest user's own account at an outside service (their Plex account): ``account_id`` is the
    service's id for it, as text."""

    service: str
    account_id: str
    username: str | None = None
    email: str | None = None


@attrs.frozen
class AccountSource:
    """A plugin's knowledge of which accounts of ``service`` ("plex") MediaNest users have (the
    ``linked_accounts`` hook): ``lookup`` answers a user's account, or ``None``, from what the plugin stored.
    Other plugins ask ``ctx.accounts``, never the plugin itself.

    ``manage`` is a page of MediaNest where an admin sets or changes this account of a person, with ``{user_id}``
    standing for the person's id ("/overseerr/links/?user={user_id}"); the admin's page of a user links to it. A
    value that is not a path of MediaNest itself is left out."""

    service: str
    title: str
    lookup: Callable[[int], Awaitable[LinkedAccount | None]]
    manage: str | None = None


@attrs.frozen
class ActorSpec:
    """A Dramatiq actor, created by the core once the broker exists.

    Messages carry ids only, and ``fn`` must be idempotent. ``time_limit`` (seconds) and ``max_retries`` are
    always stated: long work never inherits a silent default.
    """

    name: str
    fn: Callable[..., Any]
    time_limit: float
    max_retries: int
    queue: str = "default"
    min_backoff: float = 1.0
    max_backoff: float = 300.0


@attrs.frozen
class Quota:
    """A named allowance, such as "5 downloads per hour": counted per user over a moving window of ``period``
    seconds. ``user_limit`` and ``admin_limit`` are the defaults per role (``None``: unlimited); the admin may
    set another limit for one person."""

    name: str
    title: str
    period: float
    user_limit: int | None
    admin_limit: int | None = None


@attrs.frozen
class PeriodicTask:
    """Work run once every ``interval`` seconds across all processes."""

    name: str
    interval: float
    run: Callable[[], Awaitable[None]]


@attrs.frozen
class WsCommand:
    """A websocket command: messages ``{"id": …, "type": "<plugin>/<name>", …}`` reach ``handler``, their
    other fields structured into the attrs class ``payload``."""

    name: str
    handler: Callable[..., Awaitable[Any]]
    payload: type[Any] | None = None
    access: Access = Access.USER


@attrs.frozen
class Audience:
    """Who may receive an event: everyone signed in, the admins, one user, or nobody."""

    kind: str
    user_id: int | None = None

    @classmethod
    def everyone(cls) -> Audience:
        return cls("everyone")

    @classmethod
    def admins(cls) -> Audience:
        return cls("admins")

    @classmethod
    def user(cls, user_id: int) -> Audience:
        return cls("user", user_id)

    @classmethod
    def nobody(cls) -> Audience:
        """For events between MediaNest's processes that no browser receives."""
        return cls("nobody")

    def includes(self, user_id: int, is_admin: bool) -> bool:
        if self.kind == "nobody":
            return False
        if self.kind == "everyone":
            return True
        if self.kind == "admins":
            return is_admin
        return self.user_id == user_id


@attrs.frozen
class Event:
    """Base class of every event: subclasses are attrs classes that set the class variable ``name``
    (``"download.progress"``), the event's one name, and say who may receive them in :meth:`audience` (by
    default: the admins)."""

    name: ClassVar[str] = "event"
    confirmed: ClassVar[bool] = False
    """With several processes (Redis), whether publishing it waits until every other process has delivered it to
    its subscribers (for changes that must count from the very next request, wherever it lands)."""

    def audience(self) -> Audience:
        return Audience.admins()


@attrs.frozen
class EventSubscription:
    """Call ``handler`` with every published event of class ``event``."""

    event: type[Event]
    handler: Callable[[Any], Awaitable[None]]


@attrs.frozen
class LibraryImport:
    """A folder of new media to put into a media server's library, gathered as a collection: ``path`` is the
    folder as the media server sees it, ``library`` the library's title there ("YouTube"), ``collection`` the
    collection's title. The server scans after it is asked, so the import waits up to ``wait`` seconds for the
    items to appear (all ``expected`` of them, when given)."""

    library: str
    path: str
    collection: str
    expected: int | None = None
    wait: float = 120.0


@attrs.frozen
class ImportResult:
    """The collection's id in the media server, how many items of the folder it holds, and how many of the
    ``expected`` did not appear in time."""

    collection_id: str
    items: int
    missing: int = 0


@attrs.frozen
class MediaLibrary:
    """A media server that takes folders of new media (the ``media_libraries`` hook); other plugins reach it
    through ``ctx.libraries``, never by importing its plugin.

    ``remove_collection``, when offered, removes a collection by the id ``import_folder`` returned (its items and
    their files stay); it raises :class:`~medianest_core.upstream.NotFound` when the library has no such
    collection."""

    key: str
    title: str
    import_folder: Callable[[LibraryImport], Awaitable[ImportResult]]
    remove_collection: Callable[[str], Awaitable[None]] | None = None


@attrs.frozen
class WebAssets:
    """A plugin's own ``templates`` folder (found before the core's) and ``static`` folder (served under
    ``/static/<plugin>/``, each file also at a content-named address cached for good); ``scripts`` and
    ``styles`` are files of that folder every signed-in page loads: keep them for what the core's own pages need
    (a script that adds buttons to search results); a page's or a card's own files go in ``Page.styles``,
    ``Card.styles`` (and ``scripts``)."""

    templates: Path | None = None
    static: Path | None = None
    scripts: Sequence[str] = ()
    styles: Sequence[str] = ()


@attrs.frozen
class Migrations:
    """Where a plugin keeps its Alembic revisions. Its first revision names its branch label (the plugin's name)
    and ``depends_on`` the core's; they are applied with the core's."""

    path: Path


@attrs.frozen
class PluginContext:
    """What a plugin receives in its hooks: its own settings, and the core's services."""

    name: str
    settings: Any
    core: Settings
    data_dir: Path
    log: structlog.stdlib.BoundLogger
    metrics: CollectorRegistry
    engine: AsyncEngine | None = None
    sessions: async_sessionmaker[AsyncSession] | None = None
    keyring: Keyring | None = None
    events: EventBus | None = None
    jobs: Jobs | None = None
    upstreams: UpstreamPool | None = None
    libraries: Libraries | None = None
    notifier: Notifier | None = None
    accounts: Accounts | None = None
    outages: Outages | None = None
