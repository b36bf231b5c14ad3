"""Small plugins used by the core's tests, one per behaviour under test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
from aiohttp import web

from medianest_core import (
    Access,
    HealthCheck,
    HealthResult,
    HealthState,
    LoginProvider,
    Migrations,
    Page,
    PluginContext,
    Quota,
    Route,
    hookimpl,
)
from medianest_core.ratelimit import spend
from medianest_core.settings import Secret


@attrs.frozen
class GreeterSettings:
    greeting: str = "hello"
    retries: int = 3
    api_key: Secret | None = None


class Greeter:
    """Answers ``GET /api/v1/greeter/hello``; has settings, a health check and a failing route."""

    name = "greeter"
    version = "1.2.3"

    def __init__(self) -> None:
        self.started = False
        self.stopped = False
        self.healthy = True

    @hookimpl
    def settings_class(self) -> type[Any]:
        return GreeterSettings

    @hookimpl
    async def startup(self, ctx: PluginContext) -> None:
        self.started = True

    @hookimpl
    async def shutdown(self) -> None:
        self.stopped = True

    @hookimpl
    def api_routes(self, ctx: PluginContext) -> list[Route]:
        async def hello(request: web.Request) -> web.Response:
            return web.json_response({"greeting": ctx.settings.greeting})

        async def boom(request: web.Request) -> web.Response:
            raise RuntimeError("token=abc123 went wrong")

        async def item(request: web.Request) -> web.Response:
            return web.json_response({"id": request.match_info["id"]})

        return [
            Route("GET", "/hello", hello, name="greeter-hello"),
            Route("GET", "/boom", boom),
            Route("GET", "/items/{id}", item),
            Route("POST", "/admin-only", hello, access=Access.ADMIN),
        ]

    @hookimpl
    def pages(self) -> list[Page]:
        async def home(request: web.Request) -> web.Response:
            return web.Response(text="<h1>Greeter</h1>", content_type="text/html")

        async def settings(request: web.Request) -> web.Response:
            return web.Response(text="<h1>Greeter settings</h1>", content_type="text/html")

        return [Page("/", home, "Greeter"), Page("/settings", settings, "Greeter settings", access=Access.ADMIN)]

    @hookimpl
    def health_checks(self) -> list[HealthCheck]:
        async def check() -> HealthResult:
            if self.healthy:
                return HealthResult(HealthState.UP, "greeter answers")
            raise ConnectionError("greeter at 10.0.0.5 refused the connection")

        return [HealthCheck("service", check, interval=0.05, timeout=1)]


class Rationed:
    """Spends a quota of 2 things per hour on ``POST /api/v1/rationed/things`` and on its page."""

    name = "rationed"
    version = "0.1"

    @hookimpl
    def quotas(self) -> list[Quota]:
        return [Quota("things", "things", period=3600, user_limit=2, admin_limit=None)]

    @hookimpl
    def api_routes(self) -> list[Route]:
        async def make(request: web.Request) -> web.Response:
            await spend(request, "rationed.things")
            return web.json_response({"made": True}, status=201)

        return [Route("POST", "/things", make)]

    @hookimpl
    def pages(self) -> list[Page]:
        async def page(request: web.Request) -> web.Response:
            await spend(request, "rationed.things")
            return web.Response(text="<h1>A thing</h1>", content_type="text/html")

        return [Page("/thing", page, "A thing")]


class Doorman:
    """Offers a way of signing in of its own."""

    name = "doorman"
    version = "0.1"

    @hookimpl
    def login_providers(self) -> list[LoginProvider]:
        async def start(request: web.Request) -> web.Response:
            return web.Response(text="<h1>Knock knock</h1>", content_type="text/html")

        return [LoginProvider("knock", "Knock on the door", start=start, order=10)]


class FailsAtStartup:
    name = "fragile"
    version = "0.1"

    @hookimpl
    async def startup(self) -> None:
        raise ConnectionError("cannot reach the fragile service")

    @hookimpl
    def api_routes(self) -> list[Route]:
        async def ping(request: web.Request) -> web.Response:
            return web.json_response({"pong": True})

        return [Route("GET", "/ping", ping)]


class Misspelt:
    """Implements a hook that does not exist: pluggy's check_pending catches it."""

    name = "misspelt"
    version = "0.1"

    @hookimpl
    def dashbord_cards(self) -> list[Any]:
        return []


class RaisesInHook:
    name = "raiser"
    version = "0.1"

    @hookimpl
    def nav_links(self) -> list[Any]:
        raise ValueError("nav exploded")


class WithTables:
    """Owns a table through its own Alembic branch."""

    name = "tables"
    version = "0.1"

    @hookimpl
    def migrations(self) -> Migrations:
        return Migrations(Path(__file__).parent / "example_migrations")
