"""MediaNest plugin — Uptime Kuma: the owner's monitors on the dashboard."""

from __future__ import annotations

from importlib import metadata
from typing import Any

import attrs

from medianest_core import hookimpl
from medianest_core.settings import HttpUrl, Secret

try:
    __version__ = metadata.version("medianest-uptime-kuma")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0.0.0"


@attrs.frozen
class UptimeKumaSettings:
    """``[plugins.uptime_kuma]``: the Uptime Kuma server, the status page to follow, and an API key for
    ``/metrics``."""

    url: HttpUrl | None = None
    status_page: str | None = None
    api_key: Secret | None = None

    @property
    def configured(self) -> bool:
        """Whether there is an Uptime Kuma server to ask."""
        return self.url is not None


class UptimeKumaPlugin:
    """The Uptime Kuma plugin: its settings section is ``[plugins.uptime_kuma]``."""

    name = "uptime_kuma"
    title = "Uptime Kuma"
    version = __version__

    @hookimpl
    def settings_class(self) -> type[Any]:
        return UptimeKumaSettings


plugin = UptimeKumaPlugin()
