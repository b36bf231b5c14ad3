"""The OpenAPI document: every JSON route of the core and of the loaded plugins, made from the routes as
declared, for admins; a handler that reads a body other than the one its route declares fails loudly."""

from __future__ import annotations

import typing
from typing import Any

import attrs
import jsonschema_rs
import pytest
from aiohttp import web
from aiohttp.web_urldispatcher import PrefixedSubAppResource
from medianest_overseerr import plugin as overseerr
from medianest_plex import plugin as plex
from medianest_tmdb import plugin as tmdb
from medianest_uptime_kuma import plugin as uptime_kuma
from medianest_youtube import plugin as youtube
from schemathesis.specs.openapi.definitions import OPENAPI_31

from medianest_core import Access, PluginContext, Route, hookimpl, keys
from medianest_core.openapi import is_json_route, openapi_path
from medianest_core.schema import bounds_of, field, read_body
from medianest_core.testing import entry_point, sign_in

BUNDLED = [("plex", plex), ("youtube", youtube), ("tmdb", tmdb), ("overseerr", overseerr), ("uptime_kuma", uptime_kuma)]


@attrs.frozen
class Declared:
    word: str = field(max_length=10)


@attrs.frozen
class Other:
    word: str


class Careless:
    """A plugin whose handler reads another body than its route declares."""

    name = "careless"
    version = "0.1"

    @hookimpl
    def api_routes(self, ctx: PluginContext) -> list[Route]:
        async def echo(request: web.Request) -> web.Response:
            body = await read_body(request, Other)
            return web.json_response({"word": body.word})

        async def fine(request: web.Request) -> web.Response:
            body = await read_body(request, Declared)
            return web.json_response({"word": body.word})

        return [
            Route("POST", "/echo", echo, body=Declared),
            Route("POST", "/fine", fine, body=Declared, access=Access.ADMIN),
        ]


async def bundled_client(medianest_client: Any, tmp_path: Any, *extra: Any) -> Any:
    plugins = {
        "plex": {"url": "http://127.0.0.1:9", "plextv_url": "http://127.0.0.1:9", "token": "walk-token-1234567890"},
        "youtube": {"library_root": str(tmp_path / "library"), "free_space_floor_mb": 0},
    }
    points = [entry_point(name, obj) for name, obj in BUNDLED] + list(extra)
    return await medianest_client(entry_points=points, plugins=plugins)


def _router_routes(app: web.Application) -> set[tuple[str, str]]:
    """Every (method, path) the application serves, its plugins' sub-applications included."""
    found: set[tuple[str, str]] = set()
    for resource in app.router.resources():
        if isinstance(resource, PrefixedSubAppResource):
            found |= _router_routes(resource._app)
            continue
        for route in resource:
            if route.method not in ("HEAD", "*"):
                found.add((route.method, openapi_path(resource.canonical)))
    return found


async def test_the_document_is_openapi_3_1_with_every_json_route(medianest_client: Any, tmp_path: Any) -> None:
    client = await bundled_client(medianest_client, tmp_path)
    await sign_in(client, "root", role="admin")
    resp = await client.get("/api/v1/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"].startswith("3.1")
    errors = [str(e)[:300] for e in jsonschema_rs.validator_for(OPENAPI_31).iter_errors(doc)]
    assert errors == []

    documented = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    served = {
        (method, path)
        for method, path in _router_routes(client.app)
        if path.startswith("/api/") or path in ("/health", "/metrics")
    }
    assert served - documented == set()
    assert documented - served == set()
    for plugin in ("plex", "youtube"):
        assert any(path.startswith(f"/api/v1/{plugin}/") for _, path in documented), plugin

    login = doc["paths"]["/api/v1/auth/login"]["post"]
    assert login["x-medianest-access"] == "public"
    assert login["security"] == []
    body = doc["components"]["schemas"]["LoginBody"]
    assert body["required"] == ["username", "password"]
    assert body["additionalProperties"] is False
    links = doc["paths"]["/api/v1/admin/links"]["post"]
    assert links["x-medianest-access"] == "admin"
    assert set(links["responses"]) == {"201", "400", "401", "403", "413", "422", "429"}
    link = doc["components"]["schemas"]["LinkBody"]["properties"]
    assert (link["name"]["minLength"], link["name"]["maxLength"]) == (1, 100)
    assert link["name"]["pattern"] == "^[^\\x00]*$"
    assert "allOf" in link["name"]
    assert (link["position"]["minimum"], link["position"]["maximum"]) == (-1_000_000, 1_000_000)
    assert doc["paths"]["/api/v1/youtube/downloads/{id}"]["get"]["parameters"][0]["schema"]["minimum"] == 1
    assert "503" in doc["paths"]["/api/v1/youtube/downloads/{id}"]["get"]["responses"]  # the plugin may be down
    error = doc["components"]["schemas"]["Error"]["properties"]["error"]
    assert "rate_limited" in error["properties"]["code"]["enum"]


async def test_only_admins_read_the_document(medianest_client: Any) -> None:
    client = await medianest_client()
    assert (await client.get("/api/v1/openapi.json")).status == 401
    await sign_in(client, "alice")
    assert (await client.get("/api/v1/openapi.json")).status == 403
    page = await (await client.get("/admin", headers={"Accept": "text/html"})).text()
    assert "/api/v1/openapi.json" not in page


async def test_admins_find_the_document_in_the_admin_pages(medianest_client: Any) -> None:
    client = await medianest_client()
    await sign_in(client, "root", role="admin")
    page = await (await client.get("/admin", headers={"Accept": "text/html"})).text()
    assert 'href="/api/v1/openapi.json"' in page


async def test_a_handler_reading_a_body_its_route_does_not_declare_fails_loudly(
    medianest_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = await medianest_client(entry_points=[entry_point("careless", Careless())])
    admin = await sign_in(client, "root", role="admin")
    resp = await client.post("/api/v1/careless/echo", json={"word": "hi"}, headers=admin.headers)
    assert resp.status == 500
    assert "reads a body of Other, but its Route declares body=Declared" in caplog.text
    resp = await client.post("/api/v1/careless/fine", json={"word": "hi"}, headers=admin.headers)
    assert (resp.status, await resp.json()) == (200, {"word": "hi"})
    resp = await client.post("/api/v1/careless/fine", json={"word": "much too long"}, headers=admin.headers)
    assert (await resp.json())["error"]["details"]["fields"] == {"word": "at most 10 characters"}
    doc = await (await client.get("/api/v1/openapi.json")).json()
    assert doc["paths"]["/api/v1/careless/fine"]["post"]["tags"] == ["careless"]
    assert doc["components"]["schemas"]["Declared"]["properties"]["word"]["maxLength"] == 10


def _numbers_without_bounds(cls: type[Any], seen: set[type[Any]]) -> list[str]:
    if cls in seen:
        return []
    seen.add(cls)
    missing = []
    for attribute in attrs.fields(attrs.resolve_types(cls)):
        kinds = set(typing.get_args(attribute.type)) | {attribute.type}
        if kinds & {int, float} and bounds_of(attribute) is None:
            missing.append(f"{cls.__name__}.{attribute.name}")
        for kind in kinds:
            if attrs.has(kind):
                missing += _numbers_without_bounds(kind, seen)
    return missing


async def test_every_number_a_route_reads_has_bounds(medianest_client: Any, tmp_path: Any) -> None:
    """Databases keep 32- or 64-bit numbers: a number without bounds is a 500 waiting to happen."""
    client = await bundled_client(medianest_client, tmp_path)
    missing: list[str] = []
    seen: set[type[Any]] = set()
    for spec in client.app[keys.ROUTE_SPECS].values():
        if is_json_route(spec):
            for cls in (spec.body, spec.query, spec.params):
                if cls is not None:
                    missing += _numbers_without_bounds(cls, seen)
    assert missing == []
