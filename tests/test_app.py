from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from aiohttp import web
from example_plugins import Greeter

from medianest_core import Page, hookimpl, keys
from medianest_core.testing import entry_point, sign_in
from medianest_core.types import Access


async def test_health_answers_while_serving(medianest_client: Any) -> None:
    client = await medianest_client()
    resp = await client.get("/health")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok"}


async def test_api_health_lists_components_and_hides_details_from_anonymous(medianest_client: Any) -> None:
    greeter = Greeter()
    client = await medianest_client(entry_points=[entry_point("greeter", greeter)])
    await asyncio.sleep(0.2)  # the check runs every 50 ms in this plugin
    resp = await client.get("/api/v1/health")
    assert resp.status == 200
    doc = await resp.json()
    assert doc["status"] == "ok"
    by_name = {c["name"]: c for c in doc["components"]}
    assert by_name["database"]["state"] == "up"
    assert by_name["broker"]["state"] == "up"
    assert by_name["greeter"] == {
        "name": "greeter",
        "title": "Greeter",
        "kind": "plugin",
        "state": "up",
        "latency_ms": None,
        "message": "ok",
    }
    assert by_name["greeter/service"]["state"] == "up"
    assert all("details" not in c for c in doc["components"])

    greeter.healthy = False
    await asyncio.sleep(0.2)
    doc = await (await client.get("/api/v1/health")).json()
    check = {c["name"]: c for c in doc["components"]}["greeter/service"]
    assert doc["status"] == "degraded"
    assert check["state"] == "down"
    # The error names a host: anonymous readers see only that the service is unavailable.
    assert check["message"] == "unavailable"
    assert "10.0.0.5" not in json.dumps(doc)


async def test_admins_get_health_details(medianest_client: Any) -> None:
    greeter = Greeter()
    greeter.healthy = False
    client = await medianest_client(entry_points=[entry_point("greeter", greeter)])
    await sign_in(client, "root", role="admin")
    await asyncio.sleep(0.2)
    doc = await (await client.get("/api/v1/health")).json()
    check = {c["name"]: c for c in doc["components"]}["greeter/service"]
    assert "10.0.0.5 refused the connection" in check["message"]
    assert check["details"]["last_success_at"] is None


async def test_api_health_is_503_when_the_database_is_down(medianest_client: Any) -> None:
    client = await medianest_client()
    runtime = client.app[keys.RUNTIME]

    async def broken() -> None:
        raise ConnectionRefusedError("database is gone")

    from medianest_core import db

    original = db.ping
    db.ping = lambda engine: broken()
    try:
        resp = await client.get("/api/v1/health")
    finally:
        db.ping = original
    assert resp.status == 503
    doc = await resp.json()
    assert doc["status"] == "down"
    assert {c["name"]: c["state"] for c in doc["components"]}["database"] == "down"
    assert runtime is not None


async def test_plugin_routes_are_mounted_under_their_prefix_with_their_access(medianest_client: Any) -> None:
    client = await medianest_client(
        entry_points=[entry_point("greeter", Greeter())], plugins={"greeter": {"greeting": "hej"}}
    )
    await sign_in(client)
    resp = await client.get("/api/v1/greeter/hello")
    assert resp.status == 200
    assert await resp.json() == {"greeting": "hej"}
    assert (await (await client.get("/api/v1/greeter/items/42")).json()) == {"id": "42"}
    access = {
        route.resource.canonical: level
        for route, level in client.app[keys.ROUTE_ACCESS].items()
        if route.resource is not None
    }
    assert access["/api/v1/greeter/hello"] is Access.USER
    assert access["/api/v1/greeter/admin-only"] is Access.ADMIN
    assert access["/health"] is Access.PUBLIC


async def test_request_ids_are_taken_or_made_and_returned(medianest_client: Any) -> None:
    client = await medianest_client()
    resp = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert resp.headers["X-Request-ID"] == "abc-123"
    made = (await client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})).headers["X-Request-ID"]
    assert made != "bad id\twith spaces"
    assert len(made) == 32


async def test_errors_have_one_shape_and_no_traceback(medianest_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    client = await medianest_client(entry_points=[entry_point("greeter", Greeter())])
    user = await sign_in(client)
    resp = await client.get("/api/v1/nothing-here")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"

    resp = await client.post("/api/v1/greeter/hello", headers=user.headers)
    assert resp.status == 405
    body = await resp.json()
    assert body["error"]["code"] == "method_not_allowed"
    assert resp.headers["Allow"] == "GET,HEAD"

    with caplog.at_level(logging.ERROR):
        resp = await client.get("/api/v1/greeter/boom", headers={"X-Request-ID": "req-boom"})
    assert resp.status == 500
    body = await resp.json()
    assert body == {
        "error": {
            "code": "internal_error",
            "message": "An unexpected error occurred; it has been logged with this request's id.",
            "details": {},
        }
    }
    failed = [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == "request_failed"]
    assert len(failed) == 1
    assert failed[0]["request_id"] == "req-boom"
    # The log line has the traceback, with the token in the exception's message masked.
    assert "RuntimeError: token=******** went wrong" in failed[0]["exception"]
    assert "abc123" not in str(failed[0])


async def test_a_browser_gets_a_friendly_page(medianest_client: Any) -> None:
    client = await medianest_client()
    resp = await client.get("/no/such/page", headers={"Accept": "text/html"})
    assert resp.status == 404
    assert resp.content_type == "text/html"
    text = await resp.text()
    assert "Page not found" in text
    assert "Traceback" not in text


async def test_metrics_count_requests_by_route_template(medianest_client: Any) -> None:
    client = await medianest_client(entry_points=[entry_point("greeter", Greeter())])
    await sign_in(client)
    for n in range(3):
        await client.get(f"/api/v1/greeter/items/{n}")
    resp = await client.get("/metrics")
    assert resp.status == 200
    text = await resp.text()
    line = 'medianest_http_requests_total{method="GET",route="/api/v1/greeter/items/{id}",status="200"} 3.0'
    assert line in text
    assert "/api/v1/greeter/items/1" not in text
    assert "process_resident_memory_bytes" in text
    # The latency histogram: cumulative buckets up to +Inf, which holds every request, and their count.
    route = 'method="GET",route="/api/v1/greeter/items/{id}"'
    buckets = [
        float(row.rsplit(" ", 1)[1])
        for row in text.splitlines()
        if row.startswith("medianest_http_request_duration_seconds_bucket{") and route in row
    ]
    assert len(buckets) == 12
    assert buckets == sorted(buckets)
    assert buckets[-1] == 3.0
    assert f"medianest_http_request_duration_seconds_count{{{route}}} 3.0" in text


async def test_metrics_can_need_a_token(medianest_client: Any) -> None:
    client = await medianest_client(metrics_token="m-token-123")
    resp = await client.get("/metrics")
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "unauthorized"
    assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status == 401
    assert (await client.get("/metrics", headers={"Authorization": "Bearer m-token-123"})).status == 200


async def test_metrics_can_be_turned_off(medianest_client: Any) -> None:
    client = await medianest_client(metrics_enabled=False)
    assert (await client.get("/metrics")).status == 404


class Shortcuts:
    """A plugin whose pages ask for short paths: one it may have, and ones it may not."""

    def __init__(self, name: str, claims: dict[str, str]) -> None:
        self.name = name
        self.claims = claims  # page path -> the short path it asks for

    @hookimpl
    def pages(self) -> list[Page]:
        async def page(request: web.Request) -> web.Response:
            return web.Response(text=f"<h1>{self.name} {request.path}</h1>", content_type="text/html")

        return [Page(path, page, path, short_path=short) for path, short in self.claims.items()]


async def test_a_page_can_be_reached_at_its_short_path(medianest_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    first = Shortcuts("first", {"/status/": "/status/", "/items/{id}": "/items/", "/admin-like": "/admin/"})
    second = Shortcuts("second", {"/mine/": "/status/", "/other/": "/first/"})
    with caplog.at_level(logging.WARNING):
        client = await medianest_client(entry_points=[entry_point("first", first), entry_point("second", second)])
    anonymous = await client.get("/status/?since=1", allow_redirects=False)
    assert anonymous.status in (302, 303)
    assert "/login" in anonymous.headers["Location"]  # a signed-in page: its short path asks to sign in first
    await sign_in(client)
    resp = await client.get("/status/?since=1", allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == "/first/status/?since=1"
    followed = await client.get("/status/")
    assert "first /first/status/" in await followed.text()
    # Refused: taken by another plugin, a page with parameters, the core's own name, another plugin's name.
    assert (await client.get("/items/", allow_redirects=False)).status == 404
    assert (await client.get("/first/", allow_redirects=False)).status == 404
    admin = await client.get("/admin/", allow_redirects=False)
    assert admin.headers.get("Location") != "/first/admin-like"
    refused = sorted(r.msg["short_path"] for r in caplog.records if isinstance(r.msg, dict) and "short_path" in r.msg)
    assert refused == ["/admin/", "/first/", "/items/", "/status/"], refused
