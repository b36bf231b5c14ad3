from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from medianest_core import keys
from medianest_core.app import create_app
from medianest_core.auth.setup import SETUP_TOKEN
from medianest_core.runtime import prepare_database
from medianest_core.testing import add_user


def logged_code(caplog: pytest.LogCaptureFixture) -> str:
    found = [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == "setup_needed"]
    assert len(found) == 1
    return str(found[0]["setup_token"])


async def test_the_first_admin_comes_from_the_setup_token(
    medianest_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = await medianest_client()
    code = logged_code(caplog)
    assert client.app[SETUP_TOKEN] == [code]
    assert await (await client.get("/api/v1/setup")).json() == {"needed": True}
    body = {"username": "owner", "password": "owner-password-123"}
    wrong = await client.post("/api/v1/setup", json={**body, "token": "guess"})
    assert wrong.status == 403
    short = await client.post("/api/v1/setup", json={**body, "password": "short", "token": code})
    assert short.status == 422
    made = await client.post("/api/v1/setup", json={**body, "token": code})
    assert made.status == 201
    assert (await made.json())["user"]["role"] == "admin"
    # Signed in as the new admin at once.
    assert (await client.get("/api/v1/admin/users")).status == 200
    assert await (await client.get("/api/v1/setup")).json() == {"needed": False}
    again = await client.post("/api/v1/setup", json={**body, "username": "other", "token": code})
    assert again.status == 409


async def test_no_setup_token_once_an_admin_exists(medianest_runtime: Any, caplog: pytest.LogCaptureFixture) -> None:
    runtime = medianest_runtime()
    await prepare_database(runtime)
    await add_user(runtime, "boss", "boss-password-123", role="admin")
    client = TestClient(TestServer(create_app(runtime)))
    await client.start_server()
    try:
        assert client.app[SETUP_TOKEN] == []
        assert not [r for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == "setup_needed"]
        resp = await client.post("/api/v1/setup", json={"token": "x", "username": "u", "password": "long-enough-pass"})
        assert resp.status == 409
        assert client.app[keys.RUNTIME] is runtime
    finally:
        await client.close()


async def test_a_fresh_install_leads_to_setup_which_works_without_script(
    medianest_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = await medianest_client()
    code = logged_code(caplog)
    first = await client.get("/", allow_redirects=False)
    assert (first.status, first.headers["Location"]) == (302, "/setup")
    page = await client.get("/setup")
    assert page.status == 200
    assert 'action="/setup"' in await page.text()
    # The form as a browser without script sends it: a mistake shows the form again, with what went wrong.
    origin = {"Origin": str(client.make_url("")).rstrip("/")}
    wrong = await client.post(
        "/setup", data={"token": "guess", "username": "owner", "password": "owner-password-123"}, headers=origin
    )
    assert wrong.status == 403
    text = await wrong.text()
    assert "That setup token is not the one in MediaNest&#39;s log." in text
    assert 'value="owner"' in text
    short = await client.post("/setup", data={"token": code, "username": "owner", "password": "x"}, headers=origin)
    assert short.status == 422
    assert "a password of at least" in await short.text()
    made = await client.post(
        "/setup",
        data={"token": code, "username": "owner", "password": "owner-password-123"},
        headers=origin,
        allow_redirects=False,
    )
    assert (made.status, made.headers["Location"]) == (302, "/")
    home = await client.get("/")
    assert home.status == 200
    assert "Hello, owner" in await home.text()
    # Done: the setup page and the start page send others to sign in.
    assert (await client.get("/setup", allow_redirects=False)).headers["Location"] == "/login"


async def test_a_setup_form_sent_twice_at_once_makes_one_admin(
    medianest_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A double click, or two people racing: one admin, and the other answer says there is one already."""
    client = await medianest_client()
    code = logged_code(caplog)
    sent = [
        client.post("/api/v1/setup", json={"token": code, "username": f"adm{n}", "password": "owner-password-123"})
        for n in range(6)
    ]
    answers = await asyncio.gather(*sent)
    assert sorted(r.status for r in answers) == [201, 409, 409, 409, 409, 409]
    users = await (await client.get("/api/v1/admin/users")).json()
    assert [u["role"] for u in users["users"]] == ["admin"]
