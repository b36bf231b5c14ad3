"""The Plex plugin's connection to plex.tv and to the owner's server, made once per process at start-up."""

from __future__ import annotations

import asyncio
import uuid
from typing import Final

from medianest_core.types import PluginContext
from medianest_core.upstream import Fetched, Unavailable, Upstream
from medianest_plex.client import Identity, PlexAccount, PlexServer, PlexTv, ServerInfo, plex_headers
from medianest_plex.images import MB, ImageCache
from medianest_plex.models import PlexState

CLIENT_ID_KEY: Final = "client_identifier"
IDENTITY_TTL: Final = 300.0


class NotConfigured(Unavailable):
    """``[plugins.plex]`` lacks the server's address or the owner's token."""


async def client_identifier(ctx: PluginContext) -> str:
    """MediaNest's client identifier towards Plex: made once, kept in the database, the same for every process."""
    assert ctx.sessions is not None
    async with ctx.sessions.begin() as db:
        row = await db.get(PlexState, CLIENT_ID_KEY)
        if row is None:
            row = PlexState(key=CLIENT_ID_KEY, value=f"medianest-{uuid.uuid4()}")
            db.add(row)
        return row.value


class Plex:
    """plex.tv and the owner's server, with what MediaNest needs to know about them (cached)."""

    def __init__(self, ctx: PluginContext, client_id: str) -> None:
        assert ctx.upstreams is not None
        settings = ctx.settings
        self.ctx = ctx
        self.client_id = client_id
        self.product = settings.product
        self.owner_token: str | None = settings.token.get_secret_value() if settings.token else None
        headers = plex_headers(settings.product, client_id, _version())
        secrets = [self.owner_token] if self.owner_token else []
        self.tv_upstream: Upstream = ctx.upstreams.client(
            "plex.tv", str(settings.plextv_url), headers=headers, secrets=secrets
        )
        self.tv = PlexTv(self.tv_upstream)
        self.server_upstream: Upstream | None = None
        self.server: PlexServer | None = None
        if settings.url is not None:
            self.server_upstream = ctx.upstreams.client("plex", str(settings.url), headers=headers, secrets=secrets)
            self.server = PlexServer(self.server_upstream)
        self.images = ImageCache(int(settings.image_cache_mb * MB))
        """What the image proxy keeps of the posters and backgrounds it fetched."""
        self.index_lock = asyncio.Lock()
        """Held by the walk that builds the index of titles: one at a time."""

    @property
    def configured(self) -> bool:
        return self.server is not None and self.owner_token is not None

    def require(self) -> tuple[PlexServer, str]:
        if self.server is None or self.owner_token is None:
            raise NotConfigured("plex", "Plex is not set up yet: the admin sets its address and token")
        return self.server, self.owner_token

    async def identity(self) -> Fetched[Identity]:
        server, _ = self.require()
        return await server.upstream.cached("identity", IDENTITY_TTL, server.identity)

    async def info(self) -> Fetched[ServerInfo]:
        server, token = self.require()
        return await server.upstream.cached("info", IDENTITY_TTL, lambda: server.info(token))

    async def owner(self) -> Fetched[PlexAccount]:
        _, token = self.require()
        return await self.tv_upstream.cached("owner", IDENTITY_TTL, lambda: self.tv.account(token))


def _version() -> str:
    from medianest_plex import __version__

    return __version__
