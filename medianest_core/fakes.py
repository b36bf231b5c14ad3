"""What the fakes of services (Plex, TMDB, Overseerr, …) share: an aiohttp server on 127.0.0.1 that keeps its port
across a stop and a start, and requests that are accepted and never answered while the service "hangs".

A fake subclasses :class:`FakeServer`, adds its routes in :meth:`FakeServer.routes` and its middleware in
:meth:`FakeServer.middlewares`, and calls ``await self.hold(request)`` for a request that must hang.
"""

from __future__ import annotations

import asyncio
from typing import NoReturn

from aiohttp import web
from aiohttp.typedefs import Middleware


class FakeServer:
    """The listening side of a fake service, for tests, benchmarks and plugin authors."""

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._release = asyncio.Event()

    @property
    def url(self) -> str:
        """The base URL (set by the first :meth:`start`)."""
        return f"http://127.0.0.1:{self._port}"

    def routes(self, app: web.Application) -> None:
        """Add the fake's routes to ``app``."""
        raise NotImplementedError

    def middlewares(self) -> list[Middleware]:
        """The fake's middlewares (recording calls, switches), outermost first."""
        return []

    async def started(self) -> None:
        """Run once the server listens (start background work here)."""

    async def stopping(self) -> None:
        """Run before the server closes (stop background work here)."""

    async def start(self, port: int = 0) -> str:
        """Listen on 127.0.0.1; port 0 picks a free port the first time and the same one after a :meth:`stop`."""
        if self._runner is not None:
            raise RuntimeError(f"{type(self).__name__} is already started")
        self._release = asyncio.Event()
        app = web.Application(middlewares=self.middlewares())
        self.routes(app)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port or self._port).start()
        self._runner = runner
        self._port = runner.addresses[0][1]
        await self.started()
        return self.url

    async def stop(self) -> None:
        """Close the listening socket and every connection (hanging requests included); the data stays."""
        if self._runner is None:
            return
        self._release.set()
        await self.stopping()
        await self._runner.cleanup()
        self._runner = None

    async def hold(self, request: web.Request) -> NoReturn:
        """Accept the request and never answer it: :meth:`stop` ends the wait, then the connection is dropped
        without a response."""
        await self._release.wait()
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError
