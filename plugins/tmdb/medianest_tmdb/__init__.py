"""MediaNest plugin — TMDB: search titles that are not in the library yet, title pages' details, Discover rows."""

from __future__ import annotations

import re
from importlib import metadata
from typing import TYPE_CHECKING, Any, Final

import attrs

from medianest_core import (
    DiscoveryQuery,
    DiscoveryRow,
    HealthCheck,
    PluginContext,
    Route,
    SearchProvider,
    SearchQuery,
    Title,
    TitleQuery,
    TitleSource,
    hookimpl,
)
from medianest_core.settings import HttpUrl, InvalidValue, Secret, bounded

if TYPE_CHECKING:
    from medianest_tmdb.service import Tmdb

try:
    __version__ = metadata.version("medianest-tmdb")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0.0.0"

LANGUAGE: Final = re.compile(r"[a-z]{2}(-[A-Z]{2})?", re.ASCII)
REGION: Final = re.compile(r"[A-Z]{2}", re.ASCII)


def _blank_is_none(value: str | None) -> str | None:
    """An empty region (a cleared form field, an empty variable) is no region."""
    return value if value else None


@attrs.frozen
class TmdbSettings:
    """``[plugins.tmdb]``: a TMDB v3 API key or an API Read Access Token (either works), and how to ask TMDB."""

    api_key: Secret | None = attrs.field(
        default=None,
        metadata={"label": "API key (v3)", "help": "A TMDB v3 API key (sent as ?api_key=). Either this or the token."},
    )
    read_access_token: Secret | None = attrs.field(
        default=None,
        metadata={
            "label": "API Read Access Token (v4)",
            "help": "A TMDB API Read Access Token (v4, sent as a Bearer token); used when both are set.",
        },
    )
    api_url: HttpUrl = attrs.field(
        default=HttpUrl("https://api.themoviedb.org/3"),
        metadata={"label": "API address", "help": "The TMDB API (version 3)."},
    )
    image_url: HttpUrl = attrs.field(
        default=HttpUrl("https://image.tmdb.org"),
        metadata={
            "label": "Image host",
            "help": "TMDB's image host: posters come from <image_url>/t/p/<size>/<file>, without the key.",
        },
    )
    language: str = attrs.field(
        default="en-US",
        metadata={
            "label": "Language",
            "help": "Language of titles and overviews: xx or xx-YY (ISO 639-1, then ISO 3166-1), e.g. de-DE.",
        },
    )
    region: str | None = attrs.field(
        default=None,
        converter=_blank_is_none,
        metadata={
            "label": "Region",
            "help": "Two capital letters (ISO 3166-1, e.g. US) for the popular films of a country; empty: all.",
        },
    )
    include_adult: bool = attrs.field(
        default=False,
        metadata={
            "label": "Include adult titles",
            "help": "Show adult titles in search results, Discover rows and title pages.",
        },
    )
    image_cache_mb: float = bounded(
        200.0,
        0,
        10240,
        "MB",
        label="Poster cache (MB)",
        help="Megabytes of posters kept on disk by the image proxy, for everyone (0: none).",
    )

    @language.validator
    def _check_language(self, _: attrs.Attribute[str], value: str) -> None:
        if LANGUAGE.fullmatch(value) is None:
            raise InvalidValue("language", f"expected a language such as en or en-US, got {value!r}")

    @region.validator
    def _check_region(self, _: attrs.Attribute[str | None], value: str | None) -> None:
        if value is not None and REGION.fullmatch(value) is None:
            raise InvalidValue("region", f"expected two capital letters such as US, got {value!r}")

    @property
    def configured(self) -> bool:
        """Whether there is a key or a token to ask TMDB with."""
        return bool(self.read_access_token) or bool(self.api_key)


class TMDBPlugin:
    """The TMDB plugin: its settings section is ``[plugins.tmdb]``. Without a key or a token it offers nothing
    but its settings: TMDB is optional, and the other sources work without it."""

    name = "tmdb"
    title = "TMDB"
    version = __version__

    def __init__(self) -> None:
        self._services: dict[int, Tmdb] = {}  # by id(ctx): one per running MediaNest (tests run several)

    def service(self, ctx: PluginContext) -> Tmdb:
        """The TMDB service of this MediaNest; an :class:`~medianest_core.upstream.Unavailable` before start-up."""
        found = self._services.get(id(ctx))
        if found is None:
            from medianest_tmdb.service import NotSetUp

            raise NotSetUp("tmdb", "TMDB is not set up: the admin sets an API key or a read access token")
        return found

    @hookimpl
    def settings_class(self) -> type[Any]:
        return TmdbSettings

    @hookimpl
    async def startup(self, ctx: PluginContext) -> None:
        if not ctx.settings.configured:
            ctx.log.info("tmdb_not_set_up")
            return
        from medianest_tmdb.service import Tmdb

        self._services[id(ctx)] = Tmdb(ctx, ctx.settings)

    @hookimpl
    async def shutdown(self, ctx: PluginContext) -> None:
        found = self._services.pop(id(ctx), None)
        if found is not None:
            await found.close()  # its upstream clients are closed with the core's pool

    @hookimpl
    def api_routes(self, ctx: PluginContext) -> list[Route]:
        # Mounted even when TMDB is not set up: routes are mounted once, at start, and the admin may set TMDB up
        # while MediaNest runs; until then the image route answers 503 "not set up".
        from medianest_tmdb.api import routes

        return routes(lambda: self.service(ctx))

    @hookimpl
    def search_providers(self, ctx: PluginContext) -> list[SearchProvider]:
        if not ctx.settings.configured:
            return []

        async def search(query: SearchQuery) -> list[Title]:
            return await self.service(ctx).search(query)

        return [SearchProvider("search", "TMDB", search, timeout=5.0, order=20)]

    @hookimpl
    def title_sources(self, ctx: PluginContext) -> list[TitleSource]:
        if not ctx.settings.configured:
            return []

        async def details(query: TitleQuery) -> Title | None:
            return await self.service(ctx).details(query)

        return [TitleSource("details", "TMDB", details, timeout=5.0, order=10)]

    @hookimpl
    def discovery_rows(self, ctx: PluginContext) -> list[DiscoveryRow]:
        if not ctx.settings.configured:
            return []

        async def trending(query: DiscoveryQuery) -> list[Title]:
            return await self.service(ctx).trending(query)

        async def popular_films(query: DiscoveryQuery) -> list[Title]:
            return await self.service(ctx).popular_films(query)

        async def popular_series(query: DiscoveryQuery) -> list[Title]:
            return await self.service(ctx).popular_series(query)

        return [
            DiscoveryRow("trending", "Trending this week", trending, timeout=5.0, order=10),
            DiscoveryRow("popular-films", "Popular films", popular_films, timeout=5.0, order=20),
            DiscoveryRow("popular-series", "Popular series", popular_series, timeout=5.0, order=30),
        ]

    @hookimpl
    def health_checks(self, ctx: PluginContext) -> list[HealthCheck]:
        if not ctx.settings.configured:
            return []
        from medianest_tmdb import checks

        return [checks.health_check(lambda: self.service(ctx))]

    @hookimpl
    def settings_test(self, ctx: PluginContext, settings: TmdbSettings) -> HealthCheck:
        from medianest_tmdb import checks

        return checks.connection_test(ctx, settings)


plugin = TMDBPlugin()
