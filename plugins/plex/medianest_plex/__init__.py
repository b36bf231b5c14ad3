"""MediaNest plugin — Plex Media Server: sign in with Plex, browse libraries and collections, search, what Plex has
of any title, library import."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
from aiohttp import web

from medianest_core import (
    AccountSource,
    Card,
    CardData,
    DiscoveryRow,
    HealthCheck,
    HealthResult,
    HealthState,
    ImportResult,
    LibraryImport,
    LoginProvider,
    MediaLibrary,
    Migrations,
    NavLink,
    Page,
    PeriodicTask,
    PluginContext,
    Route,
    SearchProvider,
    TitleFactSource,
    TitleSource,
    Viewer,
    WebAssets,
    hookimpl,
)
from medianest_core.errors import ApiError, ErrorCode
from medianest_core.settings import HttpUrl, Secret, bounded

if TYPE_CHECKING:
    from medianest_plex.service import Plex
    from medianest_plex.titles import Titles

try:
    __version__ = metadata.version("medianest-plex")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0.0.0"

HERE = Path(__file__).parent
CARD_KEY = "card"


@attrs.frozen
class PlexSettings:
    """``[plugins.plex]``: the owner's Plex Media Server and how MediaNest introduces itself to plex.tv."""

    url: HttpUrl | None = attrs.field(
        default=None,
        metadata={"label": "Server address", "help": "The Plex Media Server, e.g. http://127.0.0.1:32400."},
    )
    token: Secret | None = attrs.field(
        default=None, metadata={"label": "Owner's Plex token", "help": "The server owner's Plex token."}
    )
    plextv_url: HttpUrl = attrs.field(
        default=HttpUrl("https://plex.tv"),
        metadata={
            "label": "plex.tv address",
            "help": "plex.tv, which checks sign-ins with Plex and whom the server is shared with; change only to test.",
        },
    )
    product: str = attrs.field(
        default="MediaNest",
        metadata={"label": "Name in Plex devices", "help": "The name people see in their Plex devices."},
    )
    refresh_interval: float = bounded(
        60.0,
        0.1,
        86400,
        "seconds",
        label="Check every (seconds)",
        help="Seconds between checks of the server and refreshes of its card.",
    )
    image_cache_mb: float = bounded(
        64.0,
        0,
        1024,
        "MB",
        label="Image cache (MB)",
        help="Megabytes of posters and backgrounds kept in memory by the image proxy (0: none).",
    )
    index_interval: float = bounded(
        600.0,
        30,
        86400,
        "seconds",
        label="Library walk every (seconds)",
        help="Seconds between walks of the film and series libraries that note which titles Plex has.",
    )
    app_url: HttpUrl = attrs.field(
        default=HttpUrl("https://app.plex.tv/desktop"),
        metadata={
            "label": "Plex web app address",
            "help": "Plex's web app, where the Watch in Plex links open (your server's own: …:32400/web).",
        },
    )

    @property
    def configured(self) -> bool:
        """Whether there is a server's address and the owner's token to ask it with."""
        return self.url is not None and self.token is not None


class PlexPlugin:
    """The Plex plugin: its settings section is ``[plugins.plex]``."""

    name = "plex"
    title = "Plex"
    version = __version__

    def __init__(self) -> None:
        self.plex: Plex | None = None
        self.ctx: PluginContext | None = None

    def _plex(self) -> Any:
        if self.plex is None:
            raise ApiError(503, ErrorCode.SERVICE_UNAVAILABLE, "The Plex plugin is starting; try again in a moment.")
        return self.plex

    def _titles(self, ctx: PluginContext) -> Titles:
        from medianest_plex.titles import Titles

        return Titles(ctx, lambda: self.plex)

    @hookimpl
    def settings_class(self) -> type[Any]:
        return PlexSettings

    @hookimpl
    def migrations(self) -> Migrations:
        return Migrations(HERE / "migrations")

    @hookimpl
    def web_assets(self) -> WebAssets:
        # The pages and the card load their files (pages.py, dashboard_cards): no page of the core needs them.
        return WebAssets(templates=HERE / "templates", static=HERE / "static")

    @hookimpl
    async def startup(self, ctx: PluginContext) -> None:
        from medianest_plex.service import Plex, client_identifier

        self.ctx = ctx
        self.plex = Plex(ctx, await client_identifier(ctx))

    @hookimpl
    def login_providers(self, ctx: PluginContext) -> list[LoginProvider]:
        from medianest_plex import login

        async def start(request: web.Request) -> web.StreamResponse:
            return await login.start(ctx, self._plex(), request)

        return [LoginProvider("pin", "Sign in with Plex", start=start, order=10)]

    @hookimpl
    def api_routes(self, ctx: PluginContext) -> list[Route]:
        from medianest_core.types import Access
        from medianest_plex import login
        from medianest_plex.api import Browse

        async def poll(request: web.Request) -> web.Response:
            return await login.poll(ctx, self._plex(), request)

        browse = Browse(ctx, self._plex)
        return [
            Route("POST", "/login/poll", poll, name="plex-login-poll", access=Access.PUBLIC, answer=login.PollAnswer),
            *browse.routes(),
        ]

    @hookimpl
    def pages(self, ctx: PluginContext) -> list[Page]:
        from medianest_plex import pages

        return pages.pages(ctx, lambda: self._plex())

    @hookimpl
    def nav_links(self) -> list[NavLink]:
        return [NavLink("Library", "/plex/", icon="film", order=20)]

    @hookimpl
    def health_checks(self, ctx: PluginContext) -> list[HealthCheck]:
        async def check() -> HealthResult:
            plex = self._plex()
            server, token = plex.require()
            info = await server.info(token)  # with the owner's token: a refused token is a broken service too
            return HealthResult(HealthState.UP, f"Plex Media Server {info.version}")

        return [HealthCheck("server", check, interval=ctx.settings.refresh_interval, timeout=5.0)]

    @hookimpl
    def settings_test(self, ctx: PluginContext, settings: PlexSettings) -> HealthCheck:
        from medianest_plex import checks

        return checks.connection_test(ctx, settings)

    @hookimpl
    def periodic_tasks(self, ctx: PluginContext) -> list[PeriodicTask]:
        async def refresh() -> None:
            from medianest_plex import card

            if self.plex is not None and self.plex.configured:
                await card.refresh(ctx, self.plex)

        async def index() -> None:
            from medianest_plex import index

            if self.plex is not None and self.plex.configured:
                await index.rebuild(ctx, self.plex)

        return [
            PeriodicTask("card", ctx.settings.refresh_interval, refresh),
            PeriodicTask("index", ctx.settings.index_interval, index),
        ]

    @hookimpl
    def dashboard_cards(self, ctx: PluginContext) -> list[Card]:
        from medianest_plex import card

        async def load_for(viewer: Viewer) -> CardData:
            return await card.load(ctx, self.plex, viewer)

        return [
            Card(
                "server",
                "Plex",
                load_for=load_for,
                template="plex/card.html",
                order=10,
                styles=["plex.css"],
                scripts=["card.js"],
            )
        ]

    @hookimpl
    def media_libraries(self) -> list[MediaLibrary]:
        async def import_folder(request: LibraryImport) -> ImportResult:
            from medianest_plex import library

            return await library.import_folder(self._plex(), request)

        async def remove_collection(collection_id: str) -> None:
            from medianest_plex import library

            await library.remove_collection(self._plex(), collection_id)

        return [MediaLibrary("plex", "Plex Media Server", import_folder, remove_collection=remove_collection)]

    @hookimpl
    def linked_accounts(self, ctx: PluginContext) -> list[AccountSource]:
        from medianest_plex import accounts

        return [accounts.source(ctx)]

    @hookimpl
    def search_providers(self, ctx: PluginContext) -> list[SearchProvider]:
        return [SearchProvider("library", "Plex", self._titles(ctx).search, timeout=5.0, order=10)]

    @hookimpl
    def title_facts(self, ctx: PluginContext) -> list[TitleFactSource]:
        return [TitleFactSource("library", "Plex", self._titles(ctx).facts, timeout=2.0, order=10)]

    @hookimpl
    def title_sources(self, ctx: PluginContext) -> list[TitleSource]:
        return [TitleSource("library", "Plex", self._titles(ctx).details, order=50)]

    @hookimpl
    def discovery_rows(self, ctx: PluginContext) -> list[DiscoveryRow]:
        return [DiscoveryRow("recent", "Recently added to Plex", self._titles(ctx).recently_added, order=90)]


plugin = PlexPlugin()
