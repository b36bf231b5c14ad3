"""The Overseerr plugin's connection to Overseerr (or Jellyseerr, or Seerr), made once per process at start-up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from medianest_core.types import PluginContext
from medianest_core.upstream import Unavailable, Upstream
from medianest_overseerr.client import OverseerrClient, overseerr_headers

if TYPE_CHECKING:
    from medianest_overseerr import OverseerrSettings


class NotSetUp(Unavailable):
    """``[plugins.overseerr]`` lacks the server's address or its API key."""


def upstream(ctx: PluginContext, settings: OverseerrSettings, *, pooled: bool = True) -> Upstream:
    """The upstream client of Overseerr's API for ``settings``: from the core's pool (closed at shutdown), or made
    for a moment (``pooled=False``; the caller closes it)."""
    assert ctx.upstreams is not None
    assert settings.url is not None
    assert settings.api_key is not None
    key = settings.api_key.get_secret_value()
    url = f"{str(settings.url).rstrip('/')}/api/v1"
    if pooled:
        return ctx.upstreams.client("overseerr", url, headers=overseerr_headers(key), secrets=[key])
    return Upstream("overseerr", url, headers=overseerr_headers(key), secrets=[key], config=ctx.upstreams.config)


class Overseerr:
    """Overseerr for one MediaNest: its client, on the core's resilient upstream client."""

    def __init__(self, ctx: PluginContext, settings: OverseerrSettings) -> None:
        self.ctx = ctx
        self.settings = settings
        self.client = OverseerrClient(upstream(ctx, settings))
