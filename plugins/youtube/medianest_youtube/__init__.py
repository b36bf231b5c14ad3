"""MediaNest plugin — YouTube playlists downloaded with yt-dlp into the Plex YouTube library."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

import attrs

from medianest_core import PluginContext, Quota, Route, hookimpl
from medianest_core.settings import InvalidValue

try:
    __version__ = metadata.version("medianest-youtube")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0.0.0"


DEFAULT_HOSTS = ("youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com", "youtu.be")
QUALITIES = ("best", "1080p", "720p", "480p", "audio")


@attrs.frozen
class YoutubeSettings:
    """``[plugins.youtube]``: where downloads go, how Plex sees that folder, and the limits that keep the disk
    healthy."""

    library_root: Path | None = None
    plex_library: str = "YouTube"
    plex_path: Path | None = None
    allowed_hosts: list[str] = attrs.field(factory=lambda: list(DEFAULT_HOSTS))
    qualities: list[str] = attrs.field(factory=lambda: list(QUALITIES))
    default_quality: str = attrs.field(default="best")
    concurrent_downloads: int = attrs.field(default=2)
    free_space_floor_mb: int = 2048
    user_storage_cap_mb: int | None = None
    extractors: list[str] = attrs.field(factory=list, metadata={"help": "yt-dlp extractors allowed (empty: all)."})

    @default_quality.validator
    def _check_default_quality(self, _: attrs.Attribute[str], value: str) -> None:
        if value not in self.qualities:
            raise InvalidValue("default_quality", f"expected one of {', '.join(self.qualities)}, got {value!r}")

    @concurrent_downloads.validator
    def _check_concurrency(self, _: attrs.Attribute[int], value: int) -> None:
        if not 1 <= value <= 16:
            raise InvalidValue("concurrent_downloads", f"expected 1 to 16, got {value}")


class YouTubePlugin:
    """The YouTube plugin: its settings section is ``[plugins.youtube]``."""

    name = "youtube"
    version = __version__

    @hookimpl
    def settings_class(self) -> type[Any]:
        return YoutubeSettings

    @hookimpl
    def api_routes(self, ctx: PluginContext) -> list[Route]:
        from medianest_youtube import api

        return api.routes(ctx)

    @hookimpl
    def quotas(self) -> list[Quota]:
        return [Quota("downloads", "YouTube downloads", period=3600, user_limit=5)]


plugin = YouTubePlugin()
