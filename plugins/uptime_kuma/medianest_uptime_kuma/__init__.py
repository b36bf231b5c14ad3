"""MediaNest plugin — Uptime Kuma: the owner's monitors on the dashboard."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs

from medianest_core import HealthCheck, PluginContext, hookimpl
from medianest_core.settings import HttpUrl, InvalidValue, Secret, bounded
from medianest_core.types import Card, Migrations, NavLink, Page, PeriodicTask, Route, WebAssets

if TYPE_CHECKING:
    from medianest_uptime_kuma.live import Login
    from medianest_uptime_kuma.service import UptimeKuma

HERE = Path(__file__).parent
SLUG: Final = re.compile(r"^[a-z0-9-]{1,64}$")
"""What a status page's slug looks like."""
MAX_STATUS_PAGES: Final = 20

try:
    __version__ = metadata.version("medianest-uptime-kuma")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0.0.0"


def _slugs(instance: Any, attribute: attrs.Attribute[Any], value: list[str]) -> None:
    if len(value) > MAX_STATUS_PAGES:
        raise InvalidValue(attribute.name, f"at most {MAX_STATUS_PAGES} status pages")
    for slug in value:
        if not isinstance(slug, str) or SLUG.match(slug) is None:
            raise InvalidValue(attribute.name, f"{slug!r} is not a status page's slug (1 to 64 of a-z, 0-9 and -)")
    if len(set(value)) != len(value):
        raise InvalidValue(attribute.name, "a status page is named twice")


def _both_or_neither(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if (instance.username is None) != (value is None):
        raise InvalidValue(attribute.name, "set both the Uptime Kuma user name and its password, or neither")
    if instance.username is not None and not instance.username.strip():
        raise InvalidValue("username", "the Uptime Kuma user name cannot be empty")


@attrs.frozen
class UptimeKumaSettings:
    """``[plugins.uptime_kuma]``: the Uptime Kuma server, the status pages to follow, an API key for ``/metrics``,
    and a user for Socket.IO (each monitor's last message and 30-day uptime)."""

    url: HttpUrl | None = attrs.field(
        default=None,
        metadata={"label": "Server address", "help": "The Uptime Kuma server, e.g. http://127.0.0.1:3001."},
    )
    status_pages: list[str] = attrs.field(
        factory=list,
        validator=_slugs,
        metadata={
            "label": "Status pages",
            "help": "Slugs of Uptime Kuma status pages whose monitors people see (no key needed), one a line.",
        },
    )
    api_key: Secret | None = attrs.field(
        default=None,
        metadata={
            "label": "API key",
            "help": "An Uptime Kuma API key (Settings, API Keys): every monitor, read from /metrics.",
        },
    )
    username: str | None = attrs.field(
        default=None,
        metadata={
            "label": "User name",
            "help": "An Uptime Kuma user for the last message of each monitor and 30-day uptime; read-only use. "
            "Users with two-factor sign-in are not supported.",
        },
    )
    password: Secret | None = attrs.field(
        default=None,
        validator=_both_or_neither,
        metadata={"label": "Password", "help": "The password of that Uptime Kuma user."},
    )
    refresh_interval: float = bounded(
        60.0, 10, 86400, "seconds", label="Read every (seconds)", help="Seconds between reads of the monitors."
    )
    down_after: int = bounded(
        2,
        1,
        100,
        "beats",
        label="Down after (beats)",
        help="Down beats in a row before the admins are told a monitor is down.",
    )

    @property
    def configured(self) -> bool:
        """Whether there is an Uptime Kuma server and something to read there."""
        return self.url is not None and (
            bool(self.status_pages) or self.api_key is not None or self.password is not None
        )

    @property
    def login(self) -> Login | None:
        """The Uptime Kuma user to sign in as over Socket.IO, if one is set."""
        if self.username is None or self.password is None:
            return None
        from medianest_uptime_kuma.live import Login

        return Login(self.username, self.password.get_secret_value())


class UptimeKumaPlugin:
    """The Uptime Kuma plugin: its settings section is ``[plugins.uptime_kuma]``."""

    name = "uptime_kuma"
    title = "Uptime Kuma"
    version = __version__

    def __init__(self) -> None:
        self._services: dict[int, UptimeKuma] = {}  # by id(ctx): one per running MediaNest (tests run several)

    def service(self, ctx: PluginContext) -> UptimeKuma | None:
        """The poller of this MediaNest, or ``None`` before start-up or without settings."""
        return self._services.get(id(ctx))

    @hookimpl
    def settings_class(self) -> type[Any]:
        return UptimeKumaSettings

    @hookimpl
    def migrations(self) -> Migrations:
        return Migrations(HERE / "migrations")

    @hookimpl
    def web_assets(self) -> WebAssets:
        # The status page and the card load their files (pages.py): no page of the core needs them.
        return WebAssets(templates=HERE / "templates", static=HERE / "static")

    @hookimpl
    def api_routes(self, ctx: PluginContext) -> list[Route]:
        from medianest_uptime_kuma import api

        return api.routes(ctx)

    @hookimpl
    def pages(self, ctx: PluginContext) -> list[Page]:
        from medianest_uptime_kuma import pages

        found: list[Page] = pages.pages(ctx)
        return found

    @hookimpl
    def nav_links(self) -> list[NavLink]:
        return [NavLink("Status", "/uptime_kuma/status/", icon="activity", order=20)]

    @hookimpl
    def dashboard_cards(self, ctx: PluginContext) -> list[Card]:
        from medianest_uptime_kuma import pages

        card: Card | None = pages.card(ctx)
        return [] if card is None else [card]

    @hookimpl
    def periodic_tasks(self, ctx: PluginContext) -> list[PeriodicTask]:
        if not ctx.settings.configured:
            return []

        async def poll() -> None:
            found = self.service(ctx)
            if found is not None:
                await found.poll()

        return [PeriodicTask("poll", ctx.settings.refresh_interval, poll)]

    @hookimpl
    async def startup(self, ctx: PluginContext) -> None:
        if not ctx.settings.configured:
            ctx.log.info("uptime_kuma_not_set_up")
            return
        from medianest_uptime_kuma.service import UptimeKuma

        self._services[id(ctx)] = UptimeKuma(ctx, ctx.settings)

    @hookimpl
    async def shutdown(self, ctx: PluginContext) -> None:
        self._services.pop(id(ctx), None)  # its upstream client is closed with the core's pool

    @hookimpl
    def health_checks(self, ctx: PluginContext) -> list[HealthCheck]:
        if not ctx.settings.configured:
            return []
        from medianest_uptime_kuma import service

        return [service.health_check(lambda: self.service(ctx), ctx.settings.refresh_interval)]

    @hookimpl
    def settings_test(self, ctx: PluginContext, settings: UptimeKumaSettings) -> HealthCheck:
        from medianest_uptime_kuma import service

        return service.connection_test(ctx, settings)


plugin = UptimeKumaPlugin()
