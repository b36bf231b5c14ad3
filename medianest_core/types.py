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

    from medianest_core.crypto import Keyring
    from medianest_core.events import EventBus
    from medianest_core.jobs import Jobs
    from medianest_core.libraries import Libraries
    from medianest_core.notifications import Notifier
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
    """A browser page, mounted under ``/<plugin>/``; ``title`` names it in the navigation and the tab."""

    path: str
    handler: Handler
    title: str
    name: str | None = None
    access: Access = Access.USER


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


@attrs.frozen
class Card:
    """A dashboard card. ``load`` reads stored state (never a live upstream call) and returns its data."""

    key: str
    title: str
    load: Callable[[], Awaitable[CardData]]
    template: str | None = None
    order: int = 100
    access: Access = Access.USER


class HealthState(enum.StrEnum):
    """The one set of names for the state of a component or an external service."""

    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    UNKNOWN = "unknown"


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


@attrs.frozen
class SearchQuery:
    text: str
    user_id: int | None
    limit: int = 20


@attrs.frozen
class SearchResult:
    """One hit. ``source`` names the provider; ``available`` says whether the item is already in the library."""

    source: str
    title: str
    kind: str
    year: int | None = None
    url: str | None = None
    image_url: str | None = None
    available: bool = False
    extra: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class SearchProvider:
    """A source for the unified search. Each provider's results arrive on their own, cut at ``timeout``."""

    key: str
    title: str
    search: Callable[[SearchQuery], Awaitable[Sequence[SearchResult]]]
    timeout: float = 5.0
    order: int = 100


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
    """Who may receive an event: everyone signed in, the admins, or one user."""

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

    def includes(self, user_id: int, is_admin: bool) -> bool:
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
    ``/static/<plugin>/``); ``scripts`` and ``styles`` are files of that folder every signed-in page loads."""

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
