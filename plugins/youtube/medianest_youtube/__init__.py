"""MediaNest plugin — YouTube playlists downloaded with yt-dlp into the Plex YouTube library."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from medianest_core import PluginContext, Quota, Route, hookimpl
from medianest_core.settings import InvalidValue, bounded
from medianest_core.types import (
    ActorSpec,
    Card,
    HealthCheck,
    Migrations,
    NavLink,
    Page,
    PeriodicTask,
    WebAssets,
)

if TYPE_CHECKING:
    from medianest_youtube.worker import Downloader

HERE = Path(__file__).parent

try:
    __version__ = metadata.version("medianest-youtube")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0.0.0"


DEFAULT_HOSTS = ("youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com", "youtu.be")
DEFAULT_MEDIA_HOSTS = ("googlevideo.com",)
QUALITIES = ("best", "1080p", "720p", "480p", "audio")


@attrs.frozen
class YoutubeSettings:
    """``[plugins.youtube]``: where downloads go, how Plex sees that folder, and the limits that keep the disk
    healthy."""

    library_root: Path | None = attrs.field(
        default=None,
        metadata={
            "label": "Library folder",
            "help": "The folder the Plex YouTube library watches (default: <data_dir>/youtube).",
        },
    )
    plex_library: str = attrs.field(
        default="YouTube", metadata={"label": "Plex library", "help": "That library's title in Plex."}
    )
    plex_path: Path | None = attrs.field(
        default=None,
        metadata={
            "label": "Folder as Plex sees it",
            "help": "The same folder as the Plex server sees it, if that differs (default: library_root).",
        },
    )
    allowed_hosts: list[str] = attrs.field(
        factory=lambda: list(DEFAULT_HOSTS),
        metadata={"label": "Allowed sites", "help": "Sites whose links may be downloaded, one a line."},
    )
    media_hosts: list[str] = attrs.field(
        factory=lambda: list(DEFAULT_MEDIA_HOSTS),
        metadata={
            "label": "Video file domains",
            "help": "Domains the video files themselves may come from (with their subdomains), one a line.",
        },
    )
    qualities: list[str] = attrs.field(
        factory=lambda: list(QUALITIES),
        metadata={
            "label": "Qualities offered",
            "help": f"The qualities people may choose from, one a line: some of {', '.join(QUALITIES)}.",
        },
    )
    default_quality: str = attrs.field(
        default="best",
        metadata={
            "label": "Default quality",
            "help": "The quality chosen unless the person picks another; one of the qualities offered.",
        },
    )
    concurrent_downloads: int = bounded(
        2,
        1,
        16,
        label="Downloads at once",
        help="Downloads that run at once in each process; the others wait their turn.",
    )
    free_space_floor_mb: int = bounded(
        2048,
        0,
        10**12,
        "MB",
        label="Free space to keep (MB)",
        help="Downloads stop, and none start, when less than this is free (MB).",
    )
    user_storage_cap_mb: int | None = bounded(
        None,
        1,
        10**12,
        "MB",
        label="Space per person (MB)",
        help="The most one person's downloads may take (MB); empty: no cap.",
    )
    time_limit_hours: float = bounded(
        12.0,
        0.01,
        168,
        "hours",
        label="Time limit per download (hours)",
        help="How long one download may run before it is stopped (hours); a change applies from the next start.",
    )
    import_wait: float = bounded(
        300.0,
        1,
        86400,
        "seconds",
        label="Wait for Plex (seconds)",
        help="Seconds to wait for Plex to show the new videos after a scan.",
    )
    import_retry_every: float = bounded(
        60.0,
        0.1,
        86400,
        "seconds",
        label="Retry adding every (seconds)",
        help="Seconds between tries to add finished downloads to Plex while it is away.",
    )
    extractors: list[str] = attrs.field(
        factory=list,
        metadata={"label": "yt-dlp extractors", "help": "yt-dlp extractors allowed, one a line (empty: all)."},
    )

    @qualities.validator
    def _check_qualities(self, _: attrs.Attribute[list[str]], value: list[str]) -> None:
        unknown = [q for q in value if q not in QUALITIES]
        if unknown or not value:
            raise InvalidValue(
                "qualities", f"expected some of {', '.join(QUALITIES)}, got {', '.join(unknown) or 'none'}"
            )

    @default_quality.validator
    def _check_default_quality(self, _: attrs.Attribute[str], value: str) -> None:
        if value not in self.qualities:
            raise InvalidValue("default_quality", f"expected one of {', '.join(self.qualities)}, got {value!r}")


class YouTubePlugin:
    """The YouTube plugin: its settings section is ``[plugins.youtube]``."""

    name = "youtube"
    title = "YouTube downloads"
    version = __version__

    def __init__(self) -> None:
        self._downloaders: dict[int, Downloader] = {}

    def downloader(self, ctx: PluginContext) -> Downloader:
        """The actor and its slots, one per running MediaNest (tests run several in one process)."""
        from medianest_youtube.worker import Downloader

        found = self._downloaders.get(id(ctx))
        if found is None:
            found = self._downloaders[id(ctx)] = Downloader(ctx)
        return found

    @hookimpl
    def settings_class(self) -> type[Any]:
        return YoutubeSettings

    @hookimpl
    def migrations(self) -> Migrations:
        return Migrations(HERE / "migrations")

    @hookimpl
    def web_assets(self) -> WebAssets:
        # The YouTube page loads its files (pages.py): no other page needs them.
        return WebAssets(templates=HERE / "templates", static=HERE / "static")

    @hookimpl
    def api_routes(self, ctx: PluginContext) -> list[Route]:
        from medianest_youtube import api

        return api.routes(ctx)

    @hookimpl
    def pages(self, ctx: PluginContext) -> list[Page]:
        from medianest_youtube import pages

        return pages.pages(ctx)

    @hookimpl
    def nav_links(self) -> list[NavLink]:
        return [NavLink("YouTube", "/youtube/", icon="download", order=40)]

    @hookimpl
    def dashboard_cards(self, ctx: PluginContext) -> list[Card]:
        from medianest_youtube import pages

        return [pages.card(ctx)]

    @hookimpl
    def health_checks(self, ctx: PluginContext) -> list[HealthCheck]:
        from medianest_youtube import pages

        return [HealthCheck("storage", lambda: pages.storage_health(ctx), interval=60.0, timeout=5.0)]

    @hookimpl
    def actors(self, ctx: PluginContext) -> list[ActorSpec]:
        return [self.downloader(ctx).spec()]

    @hookimpl
    def periodic_tasks(self, ctx: PluginContext) -> list[PeriodicTask]:
        every = min(ctx.settings.import_retry_every, 60.0)
        return [PeriodicTask("maintain", every, self.downloader(ctx).maintain)]

    @hookimpl
    def quotas(self) -> list[Quota]:
        return [Quota("downloads", "YouTube downloads", period=3600, user_limit=5)]


plugin = YouTubePlugin()
