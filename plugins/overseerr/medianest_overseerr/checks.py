"""Whether Overseerr answers and takes the API key: the background health check, and the admin's "Test
connection"."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from medianest_core.types import HealthCheck, HealthResult, HealthState, PluginContext
from medianest_core.upstream import AuthFailed, NotFound, UpstreamError

if TYPE_CHECKING:
    from medianest_overseerr import OverseerrSettings
    from medianest_overseerr.client import OverseerrClient
    from medianest_overseerr.service import Overseerr

REFUSED: Final = "Overseerr refused the API key"
NOT_OVERSEERR: Final = "the address answers, but not as Overseerr, Jellyseerr or Seerr does"


async def _ask(client: OverseerrClient) -> HealthResult:
    """``/status`` (public: Overseerr answers) then ``/auth/me`` (the key is good): both, or why not."""
    try:
        status = await client.status()
        await client.me()
    except AuthFailed:
        return HealthResult(HealthState.DOWN, f"{REFUSED}: copy it again from Overseerr's Settings, General.")
    except NotFound:
        return HealthResult(HealthState.DOWN, f"Overseerr was not found: {NOT_OVERSEERR}.")
    except UpstreamError as exc:
        return HealthResult(HealthState.DOWN, f"Overseerr did not answer: {exc.message}")
    return HealthResult(HealthState.UP, f"Overseerr {status.version} accepted the API key.")


def health_check(service: Callable[[], Overseerr], interval: float) -> HealthCheck:
    """Every ``interval`` seconds: up when Overseerr answers and takes the key."""

    async def check() -> HealthResult:
        return await _ask(service().client)

    return HealthCheck("api", check, interval=interval, timeout=10.0)


def connection_test(ctx: PluginContext, settings: OverseerrSettings) -> HealthCheck:
    """Try ``settings`` (saved or not) against Overseerr, with an upstream client of their own, closed after."""

    async def check() -> HealthResult:
        if settings.url is None or settings.api_key is None:
            return HealthResult(HealthState.DOWN, "Set Overseerr's address and its API key (Settings, General).")
        from medianest_overseerr.client import OverseerrClient
        from medianest_overseerr.service import upstream

        made = upstream(ctx, settings, pooled=False)
        try:
            return await _ask(OverseerrClient(made))
        finally:
            await made.close()

    return HealthCheck("connection", check, timeout=15.0)
