"""MediaNest plugin — Overseerr (or Jellyseerr, or Seerr): request missing titles on behalf of the person asking."""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Any

import attrs

from medianest_core import HealthCheck, PluginContext, Quota, hookimpl
from medianest_core.settings import HttpUrl, Secret, bounded

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
        default=None, metadata={"help": "The Overseerr, Jellyseerr or Seerr server, e.g. http://127.0.0.1:5055."}
    )
    api_key: Secret | None = attrs.field(
        default=None, metadata={"help": "Overseerr's API key, from its Settings, General."}
    )
    webhook_secret: Secret | None = attrs.field(
        default=None, metadata={"help": "The Authorization header Overseerr's webhook agent sends to MediaNest."}
    )
    import_users: bool = attrs.field(
        default=True,
        metadata={"help": "Import people who signed in with Plex into Overseerr when they have no user there yet."},
    )
    refresh_interval: float = bounded(
        60.0, 10, 86400, "seconds", help="Seconds between checks that Overseerr answers and takes the API key."
    )

    @property
    def configured(self) -> bool:
        """Whether there is an address and a key to ask Overseerr with."""
        return self.url is not None and self.api_key is not None


class OverseerrPlugin:
    """The Overseerr plugin: its settings section is ``[plugins.overseerr]``."""

    name = "overseerr"
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
