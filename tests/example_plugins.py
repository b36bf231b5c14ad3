"""Small plugins used by the core's tests, one per behaviour under test."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
from aiohttp import web

from medianest_core import (
    Access,
    Card,
    CardData,
    CardState,
    HealthCheck,
    HealthResult,
    HealthState,
    LoginProvider,
    Migrations,
    NavLink,
    Page,
    PluginContext,
    Presence,
    Quota,
    Route,
    SearchProvider,
    SearchQuery,
    Title,
    WebAssets,
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

    @hookimpl
    def settings_test(self, settings: GreeterSettings) -> HealthCheck:
        async def check() -> HealthResult:
            if settings.api_key is None or settings.api_key.get_secret_value() != "open-sesame":
                return HealthResult(HealthState.DOWN, "the greeter refused the key")
            return HealthResult(HealthState.UP, f"greeter says {settings.greeting}")

        return HealthCheck("connection", check, timeout=1)


class Rationed:
    """Spends a quota of 2 things per hour on ``POST /api/v1/rationed/things`` and on its page; serves a picture at
    ``GET /api/v1/rationed/picture``."""

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

        async def picture(request: web.Request) -> web.Response:
            return web.Response(body=b"GIF89a", content_type="image/gif")

        return [Route("POST", "/things", make), Route("GET", "/picture", picture, media="image/gif")]

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


class Showcase:
    """Contributes to the web shell: dashboard cards (one fine, one failing, one for admins), search providers
    (one quick, one slow, one failing), a navigation link and a page rendered in the layout."""

    name = "showcase"
    version = "0.3"

    def __init__(self) -> None:
        self.films = 12

    @hookimpl
    def dashboard_cards(self) -> list[Card]:
        async def films() -> CardData:
            return CardData(
                CardState.OK, figures={"Films": self.films}, updated_at=datetime.now(UTC) - timedelta(minutes=3)
            )

        async def broken() -> CardData:
            raise ConnectionError("the cache at 10.0.0.9 is gone")

        async def secret() -> CardData:
            return CardData(CardState.OK, figures={"Disk free": "1.2 TB"})

        return [
            Card("films", "Films", films, order=1),
            Card("broken", "Broken card", broken, order=2),
            Card("disk", "Disk", secret, order=3, access=Access.ADMIN),
        ]

    @hookimpl
    def search_providers(self) -> list[SearchProvider]:
        async def quick(query: SearchQuery) -> list[Title]:
            return [
                Title(
                    "movie",
                    f"{query.text.title()} {n}",
                    year=1979 + n,
                    popularity=10.0 - n,
                    presence=Presence("Showcase", item_url="/showcase/") if n == 1 else None,
                )
                for n in range(1, 4)
            ]

        async def slow(query: SearchQuery) -> list[Title]:
            await asyncio.sleep(10)
            return []

        async def failing(query: SearchQuery) -> list[Title]:
            raise RuntimeError("index corrupt")

        return [
            SearchProvider("quick", "Quick source", quick, order=1),
            SearchProvider("slow", "Slow source", slow, timeout=0.3, order=2),
            SearchProvider("failing", "Failing source", failing, order=3),
        ]

    @hookimpl
    def nav_links(self) -> list[NavLink]:
        return [NavLink("Films", "/showcase/", icon="film", order=20)]

    @hookimpl
    def pages(self) -> list[Page]:
        async def home(request: web.Request) -> web.StreamResponse:
            from medianest_core.web import render

            return await render(request, "showcase.html", {"films": self.films})

        async def broken(request: web.Request) -> web.StreamResponse:
            raise KeyError("password=hunter2 was in the way")

        return [Page("/", home, "Films"), Page("/broken", broken, "Broken")]

    @hookimpl
    def web_assets(self) -> WebAssets:
        return WebAssets(templates=Path(__file__).parent / "example_templates")
