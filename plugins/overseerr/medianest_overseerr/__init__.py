"""MediaNest plugin — Overseerr (or Jellyseerr): request missing titles on behalf of the person asking."""

from __future__ import annotations

from importlib import metadata
from typing import Any

import attrs

from medianest_core import Quota, hookimpl
from medianest_core.settings import HttpUrl, Secret

try:
    __version__ = metadata.version("medianest-overseerr")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0.0.0"


@attrs.frozen
class OverseerrSettings:
    """``[plugins.overseerr]``: the Overseerr or Jellyseerr server and its API key."""

    url: HttpUrl | None = None
    api_key: Secret | None = None
    webhook_secret: Secret | None = None


class OverseerrPlugin:
    """The Overseerr plugin: its settings section is ``[plugins.overseerr]``."""

    name = "overseerr"
    version = __version__

    @hookimpl
    def settings_class(self) -> type[Any]:
        return OverseerrSettings

    @hookimpl
    def quotas(self) -> list[Quota]:
        return [Quota("requests", "media requests", period=3600, user_limit=20)]


plugin = OverseerrPlugin()
