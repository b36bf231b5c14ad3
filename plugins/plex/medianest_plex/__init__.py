"""MediaNest plugin — Plex Media Server: sign in with Plex, browse libraries and collections, search, library import."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
from aiohttp import web

from medianest_core import (
    Card,
    CardData,
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
    SearchQuery,
    SearchResult,
    WebAssets,
    hookimpl,
)
from medianest_core.errors import ApiError, ErrorCode
from medianest_core.settings import HttpUrl, Secret, bounded
from medianest_core.upstream import UpstreamError

if TYPE_CHECKING:
    from medianest_plex.service import Plex

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
        default=None, metadata={"help": "The Plex Media Server, e.g. http://127.0.0.1:32400."}
    )
    token: Secret | None = attrs.field(default=None, metadata={"help": "The server owner's Plex token."})
    plextv_url: HttpUrl = HttpUrl("https://plex.tv")
    product: str = attrs.field(default="MediaNest", metadata={"help": "The name people see in their Plex devices."})
    refresh_interval: float = bounded(
        60.0, 0.1, 86400, "seconds", help="Seconds between checks of the server and refreshes of its card."
    )
    image_cache_mb: float = bounded(
        64.0, 0, 1024, "MB", help="Megabytes of posters and backgrounds kept in memory by the image proxy (0: none)."
    )


class PlexPlugin:
    """The Plex plugin: its settings section is ``[plugins.plex]``."""

    name = "plex"
    version = __version__

    def __init__(self) -> None:
        self.plex: Plex | None = None
        self.ctx: PluginContext | None = None

    def _plex(self) -> Any:
        if self.plex is None:
            raise ApiError(503, ErrorCode.SERVICE_UNAVAILABLE, "The Plex plugin is starting; try again in a moment.")
        return self.plex

    @hookimpl
    def settings_class(self) -> type[Any]:
        return PlexSettings

    @hookimpl
    def migrations(self) -> Migrations:
        return Migrations(HERE / "migrations")

    @hookimpl
    def web_assets(self) -> WebAssets:
        return WebAssets(templates=HERE / "templates", static=HERE / "static", scripts=["card.js"], styles=["plex.css"])

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

        return [PeriodicTask("card", ctx.settings.refresh_interval, refresh)]

    @hookimpl
    def dashboard_cards(self, ctx: PluginContext) -> list[Card]:
        from medianest_plex import card

        async def load() -> CardData:
            return await card.load(ctx, self.plex)

        return [Card("server", "Plex", load, template="plex/card.html", order=10)]

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
    def search_providers(self, ctx: PluginContext) -> list[SearchProvider]:
        from medianest_plex.api import image_url

        async def search(query: SearchQuery) -> list[SearchResult]:
            plex = self._plex()
            server, token = await _token_for(ctx, plex, query.user_id)
            items = await server.search(token, query.text, limit=query.limit)
            return [
                SearchResult(
                    "plex",
                    item.title,
                    item.type,
                    year=item.year,
                    url=f"/plex/items/{item.ratingKey}",
                    image_url=image_url(item.thumb),
                    available=True,
                    extra={"library": item.librarySectionTitle},
                )
                for item in items
                if item.type not in ("collection", "person")
            ][: query.limit]

        return [SearchProvider("library", "In the Plex library", search, timeout=5.0, order=10)]


async def _token_for(ctx: PluginContext, plex: Any, user_id: int | None) -> tuple[Any, str]:
    """The server and the token to search with for this person (see :func:`login.browse_token`)."""
    from medianest_core.models import Role, User
    from medianest_plex import login

    server, owner_token = plex.require()
    if user_id is None:
        raise UpstreamError("plex", "no one to search for")
    assert ctx.sessions is not None
    async with ctx.sessions() as db:
        user = await db.get(User, user_id)
    token = await login.browse_token(ctx, owner_token, user_id, user is not None and user.role is Role.ADMIN)
    if token is None:
        raise UpstreamError("plex", "this account does not sign in with Plex")
    return server, token


plugin = PlexPlugin()
