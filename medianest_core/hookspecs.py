"""The plugin contract: every hook a MediaNest plugin may implement.

A plugin is an object with a ``name`` (equal to its entry point's name in the group ``medianest.plugins``), an
optional ``title`` (the name people know its service by, such as "Uptime Kuma": the services card, the health
report and the pages use it) and ``@hookimpl`` methods named after the functions below. A hook implementation
may take any subset of a hook's arguments, in any order, so hooks gain arguments without breaking plugins.

All hooks are synchronous and return attrs objects from :mod:`medianest_core.types`, except the lifecycle hooks
``startup`` and ``shutdown``, which are coroutines. The core calls each plugin's implementation on its own: when
one raises, that plugin is marked failed with the reason, and every other plugin carries on.

``docs/plugins.md`` documents every hook and argument here; a test fails when one is missing there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pluggy

from medianest_core.types import (
    AccountSource,
    ActorSpec,
    Card,
    DiscoveryRow,
    EventSubscription,
    HealthCheck,
    LoginProvider,
    MediaLibrary,
    Migrations,
    NavLink,
    Page,
    PeriodicTask,
    PluginContext,
    Quota,
    Route,
    SearchProvider,
    TitleFactSource,
    TitleSource,
    WebAssets,
    WsCommand,
)

hookspec = pluggy.HookspecMarker("medianest")


@hookspec
def settings_class() -> type[Any]:
    """Return the attrs class of the plugin's settings section ``[plugins.<name>]``.

    Every field needs a default, so that the plugin loads on a fresh install. Fields typed
    :class:`medianest_core.settings.Secret` are masked wherever settings are shown. The ``enabled`` key is the
    core's and never reaches this class. A section that does not fit the class marks the plugin "bad settings".

    A plugin whose service needs settings before it can work (an address, a key) says whether it has them in a
    ``configured`` property of this class, declared once. While it is false the plugin is "not set up": the core
    does not run its health checks, reports it ``not_set_up`` (never up, never down) and shows it to admins only,
    with a link to its settings. Without the property the plugin is always set up.
    """


@hookspec
async def startup(ctx: PluginContext) -> None:
    """Coroutine run once when the daemon starts, after storage is ready and before requests are served.

    ``ctx`` carries the plugin's settings and the core's services. An exception marks the plugin "failed
    start-up" with its message; the daemon goes on without the plugin's routes and tasks.
    """


@hookspec
async def shutdown(ctx: PluginContext) -> None:
    """Coroutine run once when the daemon stops, for every plugin whose ``startup`` succeeded.

    Close what ``startup`` opened. It is given a few seconds; exceptions are logged and ignored.
    """


@hookspec
def api_routes(ctx: PluginContext) -> Sequence[Route]:
    """Return the plugin's JSON API routes, mounted in a sub-application under ``/api/v1/<name>/``.

    Routes are for signed-in users unless ``access`` says ``PUBLIC`` or ``ADMIN``.
    """


@hookspec
def pages(ctx: PluginContext) -> Sequence[Page]:
    """Return the plugin's browser pages, mounted in a sub-application under ``/<name>/``."""


@hookspec
def dashboard_cards(ctx: PluginContext) -> Sequence[Card]:
    """Return the plugin's dashboard cards. A card renders from stored state and never waits on a service; one whose
    figures are each viewer's own gives ``load_for`` instead of ``load``. While one of the plugin's health checks is
    down, the core greys its cards out with a line saying so (never while the plugin is not set up)."""


@hookspec
def health_checks(ctx: PluginContext) -> Sequence[HealthCheck]:
    """Return the checks that tell whether the plugin's service is up.

    The core polls each in the background at its interval and reports the last result in
    ``GET /api/v1/health``; a check that raises or overruns its timeout counts as "down". The checks of a plugin
    that is not set up (its settings' ``configured`` is false) are not run: they are ``not_set_up``.
    """


@hookspec
def settings_test(ctx: PluginContext, settings: Any) -> HealthCheck:
    """Return a check that tries ``settings`` (an instance of the plugin's settings class, perhaps not saved yet)
    against the plugin's service: the admin's "test connection" button.

    The core runs it once, cut at its ``timeout``; an exception or an overrun counts as "down", and the result's
    message is shown to the admin. Build the check from ``settings``, never from ``ctx.settings``.
    """


@hookspec
def media_libraries(ctx: PluginContext) -> Sequence[MediaLibrary]:
    """Return the media servers this plugin can put new media into (Plex, say).

    Other plugins ask through ``ctx.libraries.import_folder(LibraryImport(...))``: the library refreshes that
    folder, waits for its items and gathers them into a collection of that title (created or completed);
    ``ctx.libraries.remove_collection(collection_id)`` removes such a collection again, when the library offers
    ``remove_collection``.
    """


@hookspec
def linked_accounts(ctx: PluginContext) -> Sequence[AccountSource]:
    """Return which accounts at an outside service MediaNest users have, as the plugin knows them (the Plex
    account each person signs in with, say).

    Other plugins ask through ``await ctx.accounts.find(user_id, "plex")``: the core asks each source of that
    service in turn and answers the first :class:`~medianest_core.types.LinkedAccount` found, or ``None``. A
    source's ``lookup`` reads what the plugin stored and never waits on the service; one that raises counts as
    knowing none. The admin's page of a person lists every source's answer under "Accounts elsewhere" (each cut at
    a second), with a link to the source's ``manage`` page when it names one.
    """


@hookspec
def nav_links(ctx: PluginContext) -> Sequence[NavLink]:
    """Return the plugin's entries for the navigation."""


@hookspec
def login_providers(ctx: PluginContext) -> Sequence[LoginProvider]:
    """Return the ways of signing in that the plugin offers; the login page lists every enabled one."""


@hookspec
def search_providers(ctx: PluginContext) -> Sequence[SearchProvider]:
    """Return the plugin's sources for the unified search (``GET /api/v1/search``).

    Each provider answers :class:`~medianest_core.types.Title` objects carrying the external ids it knows; the
    core merges the results of all providers that share an id (for the same kind) into one title.
    """


@hookspec
def title_sources(ctx: PluginContext) -> Sequence[TitleSource]:
    """Return the plugin's sources of details for title pages (``/titles/{movie|tv}/{tmdb_id}``).

    The core asks every source at once and takes each field from the first source, in ``order``, that knows it;
    a source that fails or overruns its timeout is named in one line and the page shows the rest.
    """


@hookspec
def title_facts(ctx: PluginContext) -> Sequence[TitleFactSource]:
    """Return what the plugin adds to any title shown: where it is already (a
    :class:`~medianest_core.types.Presence`), a status, and buttons (:class:`~medianest_core.types.TitleAction`).

    The core asks on search results, title pages and discovery rows, once per list, after merging; the facts
    are shown on every title they concern, whichever source found it.
    """


@hookspec
def discovery_rows(ctx: PluginContext) -> Sequence[DiscoveryRow]:
    """Return the plugin's rows of posters for the Discover page (``/discover/``); each loads on its own."""


@hookspec
def actors(ctx: PluginContext) -> Sequence[ActorSpec]:
    """Return the plugin's background jobs as Dramatiq actor specifications.

    The core declares them on the configured broker after it exists; nothing is bound at import time. Actor
    names are prefixed with the plugin's name.
    """


@hookspec
def quotas(ctx: PluginContext) -> Sequence[Quota]:
    """Return the named quotas the plugin counts, such as downloads per hour; their names are prefixed
    ``<name>.``. A handler spends one with ``await medianest_core.ratelimit.spend(request, "<name>.<quota>")``,
    which answers 429 with ``Retry-After`` once it is used up; people see what is left in
    ``GET /api/v1/me/quotas``."""


@hookspec
def periodic_tasks(ctx: PluginContext) -> Sequence[PeriodicTask]:
    """Return work to run on a fixed interval, once per interval across all MediaNest processes."""


@hookspec
def ws_commands(ctx: PluginContext) -> Sequence[WsCommand]:
    """Return websocket commands the plugin answers; their types are prefixed ``<name>/``."""


@hookspec
def event_subscriptions(ctx: PluginContext) -> Sequence[EventSubscription]:
    """Return the events the plugin listens to, each with its handler coroutine."""


@hookspec
def web_assets(ctx: PluginContext) -> WebAssets:
    """Return the plugin's ``templates`` and ``static`` folders."""


@hookspec
def migrations() -> Migrations:
    """Return where the plugin's Alembic revisions live, for the tables the plugin owns.

    ``medianest db upgrade`` applies them together with the core's.
    """
