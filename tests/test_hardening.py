"""What an attacker or a bad input can reach: each item here answered 500, leaked, or led elsewhere before.

Bad input is a 4xx in the error shape (or the friendly page), stores nothing, and logs one line, never a
traceback; after signing in, MediaNest only ever sends people to a path of its own.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from medianest_core.testing import Server, sign_in

HTML = {"Accept": "text/html"}
NESTED = "[" * 1500 + "]" * 1500
SURROGATE = '"\\ud800"'  # a lone surrogate, as JSON writes it
HUGE = str(2**63 + 5)


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage()[:300] for r in errors]


async def error_of(resp: Any, status: int) -> dict[str, Any]:
    body = await resp.text()
    assert resp.status == status, body
    doc: dict[str, Any] = json.loads(body)["error"]
    assert set(doc) == {"code", "message", "details"}
    return doc


# ---- 2. Only a path of MediaNest's own origin is followed after signing in ----------------------------------

ELSEWHERE = [
    "/%09/evil.example/",
    "/%0d/evil.example/",
    "/%0a/evil.example/",
    "/\t/evil.example/",
    "//evil.example/",
    "/%2F/evil.example/",
    "/%2f%2fevil.example/",
    "/%252F%252Fevil.example/",
    "/%5Cevil.example/",
    "/%5c%5cevil.example/",
    "/%5C/evil.example/",
    "%2F%2Fevil.example/",
    "\\\\evil.example/",
    "https://evil.example/",
    "javascript:alert(1)",
    "/x%0d%0aSet-Cookie:%20a=b",
]


@pytest.mark.parametrize("target", ELSEWHERE)
async def test_after_signing_in_no_next_leads_to_another_site(medianest_client: Any, target: str) -> None:
    from urllib.parse import quote

    client = await medianest_client()
    await sign_in(client, "alice")
    query = "next=" + quote(target, safe="%/:")  # as typed in the address bar: its own escapes are kept
    resp = await client.get(f"/login?{query}", allow_redirects=False, headers=HTML)
    assert (resp.status, resp.headers["Location"]) == (302, "/")
    resp = await client.get(f"/login?next={target}", allow_redirects=False, headers=HTML)
    assert (resp.status, resp.headers["Location"]) == (302, "/")

    other = await medianest_client(browser_of=client)
    form = {"username": "alice", "password": "alice-password-123"}
    resp = await other.post(f"/login?{query}", data=form, allow_redirects=False, headers=HTML)
    assert (resp.status, resp.headers["Location"]) == (302, "/")


async def test_a_path_of_medianest_is_still_followed(medianest_client: Any) -> None:
    client = await medianest_client()
    await sign_in(client, "alice")
    for target in ("/profile", "/search?q=alien%20covenant", "/admin/users?page=2"):
        resp = await client.get("/login", params={"next": target}, allow_redirects=False, headers=HTML)
        assert (resp.status, resp.headers["Location"]) == (302, target)


# ---- 5. Deep JSON and text that is not Unicode ----------------------------------------------------------------


async def test_deeply_nested_json_is_a_400_before_anything_else(
    medianest_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = await medianest_client()
    anonymous = await client.post("/api/v1/auth/login", data=NESTED, headers={"Content-Type": "application/json"})
    assert (await error_of(anonymous, 400))["code"] == "bad_request"
    user = await sign_in(client, "alice")
    for path in ("/api/v1/me/tokens", "/api/v1/auth/login"):
        resp = await client.post(path, data=NESTED, headers={**user.headers, "Content-Type": "application/json"})
        assert "nested" in (await error_of(resp, 400))["message"]
    # NaN is not JSON either.
    resp = await client.post("/api/v1/me/tokens", data='{"name": NaN}', headers=user.headers)
    await error_of(resp, 400)
    no_tracebacks(caplog)


async def test_the_websocket_answers_deep_json_and_bad_text_and_stays_open(
    medianest_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = await medianest_client()
    await sign_in(client, "alice")
    ws = await client.ws_connect("/ws")
    await ws.send_str(NESTED)
    reply = await ws.receive_json(timeout=5)
    assert (reply["success"], reply["error"]["code"]) == (False, "bad_request")
    await ws.send_str('{"id": 2, "type": "subscribe", "topics": [' + SURROGATE + "]}")
    reply = await ws.receive_json(timeout=5)
    assert (reply["id"], reply["success"], reply["error"]["code"]) == (2, False, "validation_failed")
    await ws.send_json({"id": 3, "type": "ping"})
    assert (await ws.receive_json(timeout=5))["result"] == "pong"
    await ws.close()
    no_tracebacks(caplog)


def _with(text: str, **fields: str) -> str:
    """A JSON object whose ``fields`` are raw JSON (a lone surrogate cannot be sent any other way)."""
    return "{" + ", ".join(f'"{key}": {value}' for key, value in fields.items()) + "}"


async def test_a_lone_surrogate_is_a_422_and_nothing_is_stored(
    medianest_client: Any, medianest_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = await medianest_client(database_url=medianest_database_url)
    admin = await sign_in(client, "root", role="admin")
    alice = await sign_in(await medianest_client(browser_of=client), "alice")
    headers = {**admin.headers, "Content-Type": "application/json"}
    bad = {
        "/api/v1/auth/login": _with("", username=SURROGATE, password='"x"'),
        "/api/v1/me/tokens": _with("", name=SURROGATE),
        "/api/v1/admin/announcements": _with("", title=SURROGATE),
        "/api/v1/admin/links": _with("", name=SURROGATE, url='"https://photos.example.org"'),
    }
    for path, body in bad.items():
        resp = await client.post(path, data=body, headers=headers)
        assert (await error_of(resp, 422))["code"] == "validation_failed", path
    changes = {
        f"/api/v1/admin/users/{alice.user_id}": [
            _with("", display_name=SURROGATE),
            _with("", email=SURROGATE),
            _with("", display_name='"\\u0000"'),
        ],
        "/api/v1/admin/texts/guide": [_with("", markdown=SURROGATE)],
    }
    for path, bodies in changes.items():
        for body in bodies:
            method = client.patch if "users" in path else client.put
            resp = await method(path, data=body, headers=headers)
            assert (await error_of(resp, 422))["code"] == "validation_failed", (path, body)
    assert (await (await client.get("/api/v1/links")).json())["links"] == []
    assert [t["name"] for t in (await (await client.get("/api/v1/me/tokens")).json())["tokens"]] == []
    assert (await (await client.get("/api/v1/texts/guide")).json())["custom"] is False
    users = (await (await client.get("/api/v1/admin/users")).json())["users"]
    assert {(u["display_name"], u["email"]) for u in users} == {(None, None)}
    no_tracebacks(caplog)


# ---- 6. Numbers out of range ----------------------------------------------------------------------------------


async def test_ids_and_numbers_out_of_range_are_4xx(
    medianest_client: Any, medianest_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = await medianest_client(database_url=medianest_database_url)
    admin = await sign_in(client, "root", role="admin")
    for huge in (HUGE, str(2**31), "1" + "0" * 30, "١٢"):  # over 64 bits, over 32 bits, Arabic-Indic digits
        for method, path in (
            ("POST", f"/api/v1/notifications/{huge}/read"),
            ("DELETE", f"/api/v1/me/tokens/{huge}"),
            ("PATCH", f"/api/v1/admin/users/{huge}"),
            ("DELETE", f"/api/v1/admin/users/{huge}"),
            ("DELETE", f"/api/v1/admin/users/{huge}/sessions"),
            ("PATCH", f"/api/v1/admin/links/{huge}"),
            ("DELETE", f"/api/v1/admin/links/{huge}"),
        ):
            resp = await client.request(method, path, json={}, headers=admin.headers)
            assert (await error_of(resp, 404))["code"] == "not_found", (method, path)
        page = await client.get(f"/admin/users/{huge}", headers=HTML)
        assert page.status == 404
        assert "Page not found" in await page.text()

    for path in ("/api/v1/admin/users", "/api/v1/notifications", "/api/v1/admin/audit"):
        for page_number in ("1" + "0" * 30, HUGE, "0", "-1", "two"):
            resp = await client.get(path, params={"page": page_number})
            assert "page" in (await error_of(resp, 400))["details"]["fields"], (path, page_number)
    for path in ("/notifications", "/admin/users", "/admin/audit"):
        resp = await client.get(path, params={"page": HUGE}, headers=HTML)
        assert resp.status == 400
        assert "That request could not be understood" in await resp.text()

    for position in (2**63, 1e308, 2**31):
        resp = await client.post(
            "/api/v1/admin/links",
            json={"name": "Photos", "url": "https://photos.example.org", "position": position},
            headers=admin.headers,
        )
        assert (await error_of(resp, 422))["details"]["fields"].keys() == {"position"}
    assert (await (await client.get("/api/v1/links")).json())["links"] == []

    for query in ({"actor_id": "1" + "0" * 20}, {"actor_id": "-3"}, {"since": "2026-01-01T00:00:00"}):
        resp = await client.get("/api/v1/admin/audit", params=query)
        assert (await error_of(resp, 400))["details"]["fields"].keys() == query.keys()
    resp = await client.get("/api/v1/admin/audit", params={"since": "2026-01-01T00:00:00+02:00"})
    assert resp.status == 200
    resp = await client.patch(
        f"/api/v1/admin/users/{admin.user_id}", json={"quotas": {"x": 2**40}}, headers=admin.headers
    )
    assert "quotas" in (await error_of(resp, 422))["details"]["fields"]
    no_tracebacks(caplog)


# ---- 7. Requests that cannot be read, and the Server header ---------------------------------------------------


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def test_lines_too_long_are_414_and_431_in_one_log_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIANEST_")}
    env |= {"MEDIANEST_DATA_DIR": str(tmp_path / "data"), "PYTHONDONTWRITEBYTECODE": "1"}
    env |= {f"MEDIANEST_{name}_ENABLED": "false" for name in ("PLEX", "YOUTUBE", "TMDB", "OVERSEERR", "UPTIME_KUMA")}
    server = Server(env, tmp_path / "serve.log")
    try:
        server.wait_ready()
        long_line = _raw(server.port, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        long_header = _raw(server.port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n")
        garbage = _raw(server.port, b"\x16\x03\x01 not http\r\n\r\n")
        fine = _raw(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        missing = _raw(server.port, b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    finally:
        server.stop()
    for answer, status, code in (
        (long_line, 414, "uri_too_long"),
        (long_header, 431, "header_too_large"),
        (garbage, 400, "bad_request"),
    ):
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.split(b" ", 2)[1] == str(status).encode(), head
        assert json.loads(body)["error"]["code"] == code
        assert b"aaaa" not in body
        assert b"bbbb" not in body
    for answer in (long_line, long_header, garbage, fine, missing):
        server_header = re.search(rb"\r\nServer: ([^\r]*)", answer)
        assert server_header is not None, answer[:300]
        assert server_header.group(1) == b"MediaNest"
        assert b"aiohttp" not in answer
        assert b"Python/" not in answer
    log = (tmp_path / "serve.log").read_text()
    assert "Traceback" not in log
    assert '"level": "error"' not in log
    assert log.count('"event": "request_unreadable"') == 2  # the garbage is logged at debug level


# ---- What a second look found -----------------------------------------------------------------------------


async def test_the_scripted_sign_in_goes_on_only_to_a_checked_path(medianest_client: Any) -> None:
    client = await medianest_client()
    for asked, then in (("/%5Cevil.example/", "/"), ("/%09/evil.example/", "/"), ("/profile", "/profile")):
        page = await (await client.get(f"/login?next={asked}", headers=HTML)).text()
        assert f'data-then="{then}"' in page, asked
    script = await (await client.get("/static/core/app.js")).text()
    assert 'get("next")' not in script  # the page's own address is never followed by the script


async def test_the_form_without_script_refuses_bad_fields_with_the_form(
    medianest_client: Any, medianest_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = await medianest_client(database_url=medianest_database_url)
    for form in (
        {"username": "", "password": ""},
        {"username": "a" * 151, "password": "x"},
        {"username": "x", "password": "p" * 1025},
        {"username": "ad\x00min", "password": "admin-password-123"},
    ):
        resp = await client.post("/login", data=form, headers=HTML, allow_redirects=False)
        assert resp.status == 422, form
        assert "Enter your username and your password." in await resp.text()
    for content_type in ("multipart/form-data", "application/x-www-form-urlencoded; charset=nonsense"):
        resp = await client.post("/login", data=b"username=a", headers={**HTML, "Content-Type": content_type})
        assert resp.status == 400, content_type
    no_tracebacks(caplog)


async def test_headers_that_are_not_text_and_bodies_that_cannot_be_read(
    medianest_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = await medianest_client()
    await sign_in(client, "alice")

    async def raw(head: bytes, body: bytes = b"") -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
        writer.write(head + b"\r\nHost: x\r\nConnection: close\r\n" + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        answer = await reader.read()
        writer.close()
        return answer

    for path in (b"/health", b"/login", b"/api/v1/auth/session"):
        answer = await raw(b"GET " + path + b" HTTP/1.1\r\nCookie: medianest_session=\xff\xfe")
        assert answer.split(b" ", 2)[1] in (b"200", b"401"), answer[:200]
    login = json.dumps({"username": "alice", "password": "alice-password-123"}).encode()
    answer = await raw(
        b"POST /api/v1/auth/login HTTP/1.1\r\nUser-Agent: Browser \xff\r\nContent-Type: application/json", login
    )
    assert answer.split(b" ", 2)[1] == b"200", answer[:300]
    sessions = (await (await client.get("/api/v1/me/sessions")).json())["sessions"]
    assert "Browser \ufffd" in {s["user_agent"] for s in sessions}
    resp = await client.post(
        "/api/v1/auth/login",
        data=b'{"username": "alice", "password": "x"}',
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert (await error_of(resp, 400))["code"] == "bad_request"
    no_tracebacks(caplog)


async def test_a_large_body_is_refused_before_it_is_read_as_json(medianest_client: Any) -> None:
    client = await medianest_client()
    body = io.BytesIO(b'{"username": "' + b"a" * (2 * 1024 * 1024) + b'", "password": "x"}')
    resp = await client.post("/api/v1/auth/login", data=body, headers={"Content-Type": "application/json"})
    assert (await error_of(resp, 413))["code"] == "payload_too_large"


async def test_times_at_the_ends_of_the_calendar_are_refused(
    medianest_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = await medianest_client()
    admin = await sign_in(client, "root", role="admin")
    resp = await client.post(
        "/api/v1/me/tokens", json={"name": "x", "expires_at": "9999-12-31T23:59:59-01:00"}, headers=admin.headers
    )
    assert "expires_at" in (await error_of(resp, 422))["details"]["fields"]
    for name in ("since", "until"):
        resp = await client.get("/api/v1/admin/audit", params={name: "9999-12-31T23:59:59-23:59"})
        assert name in (await error_of(resp, 400))["details"]["fields"]
    no_tracebacks(caplog)


async def test_the_websocket_answers_only_in_json_and_bounds_what_it_keeps(medianest_client: Any) -> None:
    client = await medianest_client()
    await sign_in(client, "alice")
    ws = await client.ws_connect("/ws")
    await ws.send_str('{"id": 1e400, "type": "ping"}')
    raw = await ws.receive_str(timeout=5)
    assert "Infinity" not in raw
    assert json.loads(raw)["id"] is None
    await ws.send_json({"id": 1, "type": "subscribe", "topics": [f"topic.{n}" for n in range(101)]})
    reply = await ws.receive_json(timeout=5)
    assert (reply["success"], reply["error"]["code"]) == (False, "validation_failed")
    await ws.send_json({"id": 2, "type": "subscribe", "topics": ["a" * 101]})
    assert (await ws.receive_json(timeout=5))["success"] is False
    await ws.close()
