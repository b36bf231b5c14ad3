"""The admin's "Test connection" for Plex: the server answers, and the owner's token is accepted."""

from __future__ import annotations

from typing import Any

from medianest_core.types import HealthCheck, HealthResult, HealthState, PluginContext
from medianest_core.upstream import AuthFailed, Upstream


def connection_test(ctx: PluginContext, settings: Any) -> HealthCheck:
    async def check() -> HealthResult:
        if settings.url is None:
            return HealthResult(HealthState.DOWN, "Set the address of the Plex Media Server.")
        if settings.token is None:
            return HealthResult(HealthState.DOWN, "Set the owner's Plex token.")
        from medianest_plex.client import PlexServer, plex_headers

        token = settings.token.get_secret_value()
        assert ctx.upstreams is not None
        config = ctx.upstreams.config
        upstream = Upstream(
            "plex",
            str(settings.url),
            headers=plex_headers(settings.product, "medianest-test", "test"),
            secrets=[token],
            config=config,
        )
        try:
            server = PlexServer(upstream)
            identity = await server.identity()
            try:
                info = await server.info(token)
            except AuthFailed:
                return HealthResult(HealthState.DOWN, "The server answers, but it refused the token.")
            return HealthResult(
                HealthState.UP, f"{info.friendlyName or 'Plex Media Server'} {identity.version}: the token works."
            )
        finally:
            await upstream.close()

    return HealthCheck("connection", check, timeout=15.0)
