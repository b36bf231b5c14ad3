"""Whether TMDB answers and takes the key: the background health check, and the admin's "Test connection"."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from medianest_core.types import HealthCheck, HealthResult, HealthState, PluginContext
from medianest_core.upstream import AuthFailed, UpstreamError

if TYPE_CHECKING:
    from medianest_tmdb import TmdbSettings
    from medianest_tmdb.service import Tmdb

CHECK_INTERVAL: Final = 300.0
REFUSED: Final = "TMDB refused the key"


def health_check(service: Callable[[], Tmdb]) -> HealthCheck:
    """``GET /configuration`` every five minutes: up when TMDB answers it with the key."""

    async def check() -> HealthResult:
        try:
            await service().client.configuration()
        except AuthFailed:
            return HealthResult(HealthState.DOWN, REFUSED)
        except UpstreamError as exc:
            return HealthResult(HealthState.DOWN, exc.message)
        return HealthResult(HealthState.UP, "TMDB answers")

    return HealthCheck("api", check, interval=CHECK_INTERVAL, timeout=5.0)


def connection_test(ctx: PluginContext, settings: TmdbSettings) -> HealthCheck:
    """Try ``settings`` (saved or not) against TMDB, with upstream clients of their own, closed after."""

    async def check() -> HealthResult:
        if not settings.configured:
            return HealthResult(HealthState.DOWN, "Set a TMDB API key or an API Read Access Token.")
        from medianest_tmdb.service import upstreams

        what = "API Read Access Token" if settings.read_access_token else "API key"
        api, client, images = upstreams(ctx, settings, pooled=False)
        try:
            await client.configuration()
        except AuthFailed:
            return HealthResult(HealthState.DOWN, f"TMDB refused the {what}: check it in your TMDB account settings.")
        except UpstreamError as exc:
            return HealthResult(HealthState.DOWN, f"TMDB did not answer: {exc.message}")
        finally:
            await api.close()
            await images.close()
        return HealthResult(HealthState.UP, f"TMDB accepted the {what}.")

    return HealthCheck("connection", check, timeout=15.0)
