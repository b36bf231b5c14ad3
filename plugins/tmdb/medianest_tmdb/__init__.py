"""MediaNest plugin — TMDB: search titles that are not in the library yet."""

from __future__ import annotations

from importlib import metadata
from typing import Any

import attrs

from medianest_core import hookimpl
from medianest_core.settings import HttpUrl, Secret

try:
    __version__ = metadata.version("medianest-tmdb")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0.0.0"


@attrs.frozen
class TmdbSettings:
    """``[plugins.tmdb]``: a TMDB v3 API key or an API Read Access Token (either works)."""

    api_key: Secret | None = None
    read_access_token: Secret | None = None
    api_url: HttpUrl = HttpUrl("https://api.themoviedb.org/3")
    language: str = "en-US"
    region: str | None = None


class TMDBPlugin:
    """The TMDB plugin: its settings section is ``[plugins.tmdb]``."""

    name = "tmdb"
    version = __version__

    @hookimpl
    def settings_class(self) -> type[Any]:
        return TmdbSettings


plugin = TMDBPlugin()
