"""MediaNest plugin — Plex Media Server: sign in with Plex, browse libraries and collections, search, library import."""

from __future__ import annotations

from importlib import metadata
from typing import Any

import attrs

from medianest_core import hookimpl
from medianest_core.settings import HttpUrl, Secret

try:
    __version__ = metadata.version("medianest-plex")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0.0.0"


@attrs.frozen
class PlexSettings:
    """``[plugins.plex]``: the owner's Plex Media Server and how MediaNest introduces itself to plex.tv."""

    url: HttpUrl | None = None
    token: Secret | None = None
    plextv_url: HttpUrl = HttpUrl("https://plex.tv")
    product: str = "MediaNest"


class PlexPlugin:
    """The Plex plugin: its settings section is ``[plugins.plex]``."""

    name = "plex"
    version = __version__

    @hookimpl
    def settings_class(self) -> type[Any]:
        return PlexSettings


plugin = PlexPlugin()
