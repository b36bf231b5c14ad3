"""MediaNest plugin — Overseerr (or Jellyseerr, or Seerr): request missing titles on behalf of the person asking."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from medianest_core import HealthCheck, PluginContext, Quota, hookimpl
from medianest_core.settings import HttpUrl, Secret, bounded
from medianest_core.types import (
    AccountSource,
    Card,
    Migrations,
    NavLink,
    Page,
    PeriodicTask,
    Route,
    SearchProvider,
    TitleFactSource,
    TitleSource,
    WebAssets,
)

HERE = Path(__file__).parent

if TYPE_CHECKING:
    from medianest_overseerr.service import Overseerr

try:
    __version__ = metadata.version("medianest-overseerr")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0.0.0"


@attrs.frozen
class OverseerrSettings:
    """``[plugins.overseerr]``: the Overseerr, Jellyseerr or Seerr server and its API key."""

    url: HttpUrl | None = attrs.field(
        default=None,
        metadata={
            "label": "Server address",
            "help": "The Overseerr, Jellyseerr or Seerr server, e.g. http://127.0.0.1:5055.",
        },
    )
    api_key: Secret | None = attrs.field(
        default=None, metadata={"label": "API key", "help": "Overseerr's API key, from its Settings, General."}
    )
    webhook_secret: Secret | None = attrs.field(
        default=None,
        metadata={
            "label": "Webhook secret",
            "help": "The Authorization header Overseerr's webhook agent sends to MediaNest.",
        },
    )
    import_users: bool = attrs.field(
        default=True,
        metadata={
            "label": "Import Plex users",
            "help": "Import people who signed in with Plex into Overseerr when they have no user there yet.",
        },
    )
    refresh_interval: float = bounded(
        60.0,
        10,
        86400,
        "seconds",
        label="Check every (seconds)",
        help="Seconds between checks that Overseerr answers and takes the API key.",
    )
    reconcile_interval: float = bounded(
        300.0,
        10,
        86400,
        "seconds",
        label="Full read every (seconds)",
        help="Seconds between full reads of Overseerr's requests, which repair a state whose webhook was lost.",
    )
    image_url: HttpUrl = attrs.field(
        default=HttpUrl("https://image.tmdb.org/t/p"),
        metadata={
            "label": "Poster host",
            "help": "Where posters come from: <image_url>/<size>/<file> (TMDB's image host).",
        },
    )
    image_cache_mb: float = bounded(
        100.0,
        0,
        10240,
        "MB",
        label="Poster cache (MB)",
        help="Megabytes of posters kept on disk by the image proxy, for everyone (0: none).",
    )

    @property
    def configured(self) -> bool:
        """Whether there is an address and a key to ask Overseerr with."""
        return self.url is not None and self.api_key is not None


class OverseerrPlugin:
    """The Overseerr plugin: its settings section is ``[plugins.overseerr]``."""

    name = "overseerr"
    title = "Overseerr"
    version = __version__

    def __init__(self) -> None:
        self._services: dict[int, Overseerr] = {}  # by id(ctx): one per running MediaNest (tests run several)

    def service(self, ctx: PluginContext) -> Overseerr:
        """The Overseerr service of this MediaNest; :class:`~medianest_overseerr.service.NotSetUp` before
        start-up or without settings."""
        found = self._services.get(id(ctx))
        if found is None:
            from medianest_overseerr.service import NotSetUp

            raise NotSetUp("overseerr", "Overseerr is not set up: the admin sets its address and API key")
        return found

    @hookimpl
    def settings_class(self) -> type[Any]:
        return OverseerrSettings

    @hookimpl
    def migrations(self) -> Migrations:
        return Migrations(HERE / "migrations")

    @hookimpl
    def web_assets(self) -> WebAssets:
        # The requests and links pages and the card load their files (pages.py): no page of the core needs them.
        return WebAssets(templates=HERE / "templates", static=HERE / "static")

    @hookimpl
    def api_routes(self, ctx: PluginContext) -> list[Route]:
        from medianest_overseerr import api, images

        return api.routes(ctx, lambda: self.service(ctx)) + images.routes(ctx)

    @hookimpl
    def pages(self, ctx: PluginContext) -> list[Page]:
        from medianest_overseerr import pages

        return pages.pages(ctx, lambda: self.service(ctx))

    @hookimpl
    def nav_links(self) -> list[NavLink]:
        return [NavLink("Requests", "/overseerr/requests/", icon="inbox", order=30)]

    @hookimpl
    def dashboard_cards(self, ctx: PluginContext) -> list[Card]:
        from medianest_overseerr import pages

        return [pages.card(ctx)]

    @hookimpl
    def title_facts(self, ctx: PluginContext) -> list[TitleFactSource]:
        if not ctx.settings.configured:
            return []
        from medianest_overseerr import titles

        return titles.fact_sources(ctx, lambda: self.service(ctx))

    @hookimpl
    def search_providers(self, ctx: PluginContext) -> list[SearchProvider]:
        if not ctx.settings.configured:
            return []
        from medianest_overseerr import titles

        return titles.search_providers(ctx, lambda: self.service(ctx))

    @hookimpl
    def title_sources(self, ctx: PluginContext) -> list[TitleSource]:
        if not ctx.settings.configured:
            return []
        from medianest_overseerr import titles

        return titles.title_sources(ctx, lambda: self.service(ctx))

    @hookimpl
    def linked_accounts(self, ctx: PluginContext) -> list[AccountSource]:
        if not ctx.settings.configured:
            return []
        from medianest_overseerr import accounts

        return [accounts.source(ctx)]

    @hookimpl
    def periodic_tasks(self, ctx: PluginContext) -> list[PeriodicTask]:
        if not ctx.settings.configured:
            return []

        async def reconcile() -> None:
            await self.service(ctx).reconcile()

        return [PeriodicTask("reconcile", ctx.settings.reconcile_interval, reconcile)]

    @hookimpl
    async def startup(self, ctx: PluginContext) -> None:
        if not ctx.settings.configured:
            ctx.log.info("overseerr_not_set_up")
            return
        from medianest_overseerr.service import Overseerr

        self._services[id(ctx)] = Overseerr(ctx, ctx.settings)

    @hookimpl
    async def shutdown(self, ctx: PluginContext) -> None:
        self._services.pop(id(ctx), None)  # its upstream client is closed with the core's pool

    @hookimpl
    def health_checks(self, ctx: PluginContext) -> list[HealthCheck]:
        if not ctx.settings.configured:
            return []
        from medianest_overseerr import checks

        return [checks.health_check(lambda: self.service(ctx), ctx.settings.refresh_interval)]

    @hookimpl
    def settings_test(self, ctx: PluginContext, settings: OverseerrSettings) -> HealthCheck:
        from medianest_overseerr import checks

        return checks.connection_test(ctx, settings)

    @hookimpl
    def quotas(self) -> list[Quota]:
        return [Quota("requests", "media requests", period=3600, user_limit=20)]


plugin = OverseerrPlugin()
