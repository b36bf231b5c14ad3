from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from example_plugins import Greeter
from sqlalchemy import select, update

from medianest_core import keys
from medianest_core.models import AuditEntry, Session, User, UserStatus
from medianest_core.testing import add_user, entry_point, sign_in
from medianest_core.types import Access

COOKIE = "medianest_session"


async def client_for(medianest_client: Any, database_url: str | None = None, **settings: Any) -> Any:
    extra = {"database_url": database_url} if database_url else {}
    return await medianest_client(entry_points=[entry_point("greeter", Greeter())], **extra, **settings)


def concrete(path: str) -> str:
    import re

    return re.sub(r"\{[^}]+\}", "1", path)


async def test_every_route_requires_what_it_declares(medianest_client: Any) -> None:
    """Walk every registered route, the core's and the plugins' (every installed one, and an example with pages
    and an admin route): anonymous callers are turned away (401 for the API, the login page for pages) and users
    get 403 on admin routes."""
    from medianest_core.plugins import installed_entry_points

    installed = installed_entry_points()
    assert {ep.name for ep in installed} >= {"plex", "overseerr", "tmdb", "uptime_kuma", "youtube"}
    client = await medianest_client(entry_points=[*installed, entry_point("greeter", Greeter())])
    assert all(r.active for r in client.app[keys.RUNTIME].plugins.records.values())
    routes = [
        (route.method, route.resource.canonical, level)
        for route, level in client.app[keys.ROUTE_ACCESS].items()
        if route.resource is not None and route.method != "HEAD"
    ]
    assert len({path for _, path, _ in routes}) >= 12
    anonymous = {}
    for method, path, level in routes:
        if level is Access.PUBLIC:
            continue
        resp = await client.request(method, concrete(path), allow_redirects=False)
        if path.startswith("/api/") or path == "/ws":
            assert resp.status == 401, (method, path)
            assert (await resp.json())["error"]["code"] == "unauthorized"
        else:
            assert resp.status == 302, (method, path)
            if path == "/":  # no admin yet: the start page leads to making one
                assert resp.headers["Location"] == "/setup"
            else:
                assert resp.headers["Location"].startswith("/login?next=")
        anonymous[(method, path)] = resp.status
    assert ("GET", "/greeter/settings") in anonymous
    user = await sign_in(client, "walker")
    admin_routes = [(m, p) for m, p, level in routes if level is Access.ADMIN]
    assert ("POST", "/api/v1/greeter/admin-only") in admin_routes
    for method, path in admin_routes:
        resp = await client.request(method, concrete(path), headers=user.headers, allow_redirects=False)
        assert resp.status == 403, (method, path)


async def test_public_routes_stay_open(medianest_client: Any) -> None:
    client = await client_for(medianest_client)
    assert (await client.get("/health")).status == 200
    assert (await client.get("/api/v1/health")).status == 200
    assert (await client.get("/metrics")).status == 200


async def test_login_sets_a_safe_cookie_and_a_new_session_id_each_time(
    medianest_client: Any, medianest_database_url: str
) -> None:
    client = await client_for(medianest_client, medianest_database_url)
    await add_user(client.app[keys.RUNTIME], "alice", "alice-password-123")
    body = {"username": "alice", "password": "alice-password-123"}
    first = await client.post("/api/v1/auth/login", json=body)
    assert first.status == 200, await first.text()
    assert COOKIE in first.cookies, first.headers
    cookie = first.cookies[COOKIE]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert not cookie["secure"]
    assert not cookie["max-age"]  # without "remember me" the cookie ends with the browser
    first_id = cookie.value
    second = await client.post("/api/v1/auth/login", json=body)
    assert second.cookies[COOKIE].value != first_id
    # The first session is gone: its cookie no longer signs anyone in.
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies({COOKIE: first_id})
    assert (await client.get("/api/v1/auth/session")).status == 401


async def test_remember_me_keeps_the_cookie_for_thirty_days(medianest_client: Any) -> None:
    client = await client_for(medianest_client)
    await add_user(client.app[keys.RUNTIME], "bob", "bob-password-1234")
    resp = await client.post(
        "/api/v1/auth/login", json={"username": "bob", "password": "bob-password-1234", "remember": True}
    )
    assert resp.cookies[COOKIE]["max-age"] == str(30 * 86400)


async def test_the_cookie_is_secure_behind_https(medianest_client: Any) -> None:
    client = await client_for(medianest_client, public_url="https://media.example.com")
    await add_user(client.app[keys.RUNTIME], "carol", "carol-password-12")
    resp = await client.post(
        "/api/v1/auth/login",
        json={"username": "carol", "password": "carol-password-12"},
        headers={"Origin": "https://media.example.com"},
    )
    assert resp.status == 200
    assert resp.cookies[COOKIE]["secure"]
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_a_trusted_proxy_tells_the_scheme_and_the_client(medianest_client: Any) -> None:
    client = await client_for(medianest_client, trusted_proxies=["127.0.0.1"])
    resp = await client.get("/health", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
    assert "Strict-Transport-Security" in resp.headers
    untrusted = await client_for(medianest_client)
    resp = await untrusted.get("/health", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in resp.headers


async def test_wrong_credentials_get_one_answer(medianest_client: Any, medianest_database_url: str) -> None:
    client = await client_for(medianest_client, medianest_database_url)
    await add_user(client.app[keys.RUNTIME], "dave", "dave-password-123")
    for username, password in (("dave", "not-the-password"), ("nobody", "whatever-password")):
        resp = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert resp.status == 401
        assert (await resp.json())["error"]["message"] == "Wrong username or password."
        assert COOKIE not in resp.cookies
    async with client.app[keys.RUNTIME].sessions() as db:
        actions = [a.action for a in (await db.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()]
    assert actions == ["user.created", "auth.login_failed", "auth.login_failed"]


async def test_login_body_is_validated(medianest_client: Any) -> None:
    client = await client_for(medianest_client)
    resp = await client.post("/api/v1/auth/login", json={"username": "x"})
    assert resp.status == 422
    body = await resp.json()
    assert body["error"]["code"] == "validation_failed"
    assert body["error"]["details"]["fields"] == {"password": "is required"}
    resp = await client.post("/api/v1/auth/login", data="not json", headers={"Content-Type": "application/json"})
    assert resp.status == 400


async def test_writes_need_the_csrf_token_and_our_origin(medianest_client: Any) -> None:
    client = await client_for(medianest_client)
    user = await sign_in(client)
    create = {"name": "script"}
    missing = await client.post("/api/v1/me/tokens", json=create)
    assert missing.status == 403
    assert (await missing.json())["error"]["details"] == {"reason": "csrf"}
    forged = await client.post("/api/v1/me/tokens", json=create, headers={"X-CSRF-Token": "forged"})
    assert forged.status == 403
    elsewhere = await client.post(
        "/api/v1/me/tokens", json=create, headers={**user.headers, "Origin": "https://evil.example"}
    )
    assert elsewhere.status == 403
    ok = await client.post("/api/v1/me/tokens", json=create, headers=user.headers)
    assert ok.status == 201
    # A bearer token carries no cookie, so it needs no CSRF token.
    token = (await ok.json())["token"]
    client.session.cookie_jar.clear()
    resp = await client.post("/api/v1/me/tokens", json={"name": "second"}, headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 201


async def test_logout_ends_the_server_side_session(medianest_client: Any) -> None:
    client = await client_for(medianest_client)
    user = await sign_in(client)
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE].value
    resp = await client.post("/api/v1/auth/logout", headers=user.headers)
    assert resp.status == 200
    client.session.cookie_jar.update_cookies({COOKIE: cookie})
    assert (await client.get("/api/v1/auth/session")).status == 401
    async with client.app[keys.RUNTIME].sessions() as db:
        assert (await db.scalars(select(Session))).all() == []


async def test_a_disabled_users_open_session_is_refused(medianest_client: Any, medianest_database_url: str) -> None:
    client = await client_for(medianest_client, medianest_database_url)
    user = await sign_in(client)
    assert (await client.get("/api/v1/auth/session")).status == 200
    async with client.app[keys.RUNTIME].sessions.begin() as db:
        await db.execute(update(User).where(User.id == user.user_id).values(status=UserStatus.DISABLED))
    # What the middleware knows of a user is kept in memory: a write outside MediaNest's own views announces itself.
    assert (await client.get("/api/v1/auth/session")).status == 200
    await client.app[keys.AUTH_CACHE].changed(user_id=user.user_id)
    assert (await client.get("/api/v1/auth/session")).status == 401
    again = await client.post("/api/v1/auth/login", json={"username": user.username, "password": user.password})
    assert again.status == 403


async def test_an_idle_session_ends(medianest_client: Any) -> None:
    client = await client_for(medianest_client)
    await sign_in(client)
    async with client.app[keys.RUNTIME].sessions.begin() as db:
        await db.execute(update(Session).values(last_seen_at=datetime.now(UTC) - timedelta(hours=25)))
    resp = await client.get("/api/v1/auth/session")
    assert resp.status == 401
    assert resp.cookies[COOKIE].value == ""  # the stale cookie is cleared


async def test_only_the_session_cookie_counts_and_one_that_names_no_session_is_cleared(
    medianest_client: Any,
) -> None:
    client = await client_for(medianest_client)
    await sign_in(client)
    token = next(c.value for c in client.session.cookie_jar if c.key == COOKIE)
    client.session.cookie_jar.clear()
    # Among the cookies of the site's other applications, in any order and spacing: signed in.
    others = f"theme=dark;  xmedianest_session=nope ;{COOKIE}={token}; {COOKIE}=second; z=1"
    resp = await client.get("/api/v1/auth/session", headers={"Cookie": others})
    assert resp.status == 200
    assert "Set-Cookie" not in resp.headers
    # One that another Path or a parent domain set comes first: the live one still counts and stays.
    resp = await client.get("/api/v1/auth/session", headers={"Cookie": f"{COOKIE}=tossed; {COOKIE}={token}"})
    assert resp.status == 200
    assert "Set-Cookie" not in resp.headers
    # A cookie whose name only ends like MediaNest's is someone else's: not read, not cleared.
    resp = await client.get("/api/v1/auth/session", headers={"Cookie": f"x{COOKIE}={token}"})
    assert resp.status == 401
    assert "Set-Cookie" not in resp.headers
    # A value MediaNest never made is cleared by whatever answers: a public page, a missing one, an API error.
    for path, status in (("/health", 200), ("/no-such-page", 404), ("/api/v1/auth/session", 401)):
        resp = await client.get(path, headers={"Cookie": f"{COOKIE}=forged"}, allow_redirects=False)
        assert resp.status == status, path
        assert resp.cookies[COOKIE].value == "", path
        assert resp.cookies[COOKIE]["max-age"] == "0", path


async def test_people_see_and_revoke_their_sessions(medianest_client: Any, medianest_database_url: str) -> None:
    laptop = await client_for(medianest_client, medianest_database_url)
    user = await sign_in(laptop, "erin")
    phone = await medianest_client(browser_of=laptop)
    login = {"username": "erin", "password": user.password}
    assert (await phone.post("/api/v1/auth/login", json=login, headers={"User-Agent": "Phone/1.0"})).status == 200
    sessions = (await (await laptop.get("/api/v1/me/sessions")).json())["sessions"]
    assert len(sessions) == 2
    mine = next(s for s in sessions if s["current"])
    other = next(s for s in sessions if not s["current"])
    assert other["user_agent"] == "Phone/1.0"
    assert (await laptop.delete(f"/api/v1/me/sessions/{other['id']}", headers=user.headers)).status == 200
    assert (await phone.get("/api/v1/auth/session")).status == 401
    assert (await laptop.get("/api/v1/auth/session")).status == 200
    # Someone else's session, or one that does not exist: 404.
    mallory = await medianest_client(browser_of=laptop)
    evil = await sign_in(mallory, "mallory")
    assert (await mallory.delete(f"/api/v1/me/sessions/{mine['id']}", headers=evil.headers)).status == 404
    assert (await laptop.get("/api/v1/auth/session")).status == 200


async def test_api_tokens_are_shown_once_and_revocable(medianest_client: Any, medianest_database_url: str) -> None:
    client = await client_for(medianest_client, medianest_database_url)
    user = await sign_in(client, "frank")
    created = await client.post("/api/v1/me/tokens", json={"name": "backup script"}, headers=user.headers)
    assert created.status == 201
    doc = await created.json()
    token = doc["token"]
    assert token.startswith("mn_")
    assert doc["prefix"] == token[:10]
    listed = (await (await client.get("/api/v1/me/tokens")).json())["tokens"]
    assert [t["name"] for t in listed] == ["backup script"]
    assert "token" not in listed[0]

    bearer = await medianest_client(browser_of=client)
    auth = {"Authorization": f"Bearer {token}"}
    resp = await bearer.get("/api/v1/auth/session", headers=auth)
    assert resp.status == 200
    assert (await resp.json())["via"] == "token"
    # A token carries its owner's role and nothing more.
    assert (await bearer.post("/api/v1/greeter/admin-only", headers=auth)).status == 403

    # Someone else cannot revoke it; its owner can, and then it stops working.
    other = await medianest_client(browser_of=client)
    grace = await sign_in(other, "grace")
    assert (await other.delete(f"/api/v1/me/tokens/{doc['id']}", headers=grace.headers)).status == 404
    assert (await client.delete(f"/api/v1/me/tokens/{doc['id']}", headers=user.headers)).status == 200
    resp = await bearer.get("/api/v1/auth/session", headers=auth)
    assert resp.status == 401
    assert "revoked" in (await resp.json())["error"]["message"]
    assert (await bearer.get("/api/v1/auth/session", headers={"Authorization": "Bearer mn_unknown"})).status == 401


async def test_an_expired_token_is_refused(medianest_client: Any) -> None:
    client = await client_for(medianest_client)
    user = await sign_in(client)
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    doc = await (
        await client.post("/api/v1/me/tokens", json={"name": "t", "expires_at": soon}, headers=user.headers)
    ).json()
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    refused = await client.post("/api/v1/me/tokens", json={"name": "t", "expires_at": past}, headers=user.headers)
    assert refused.status == 422
    from medianest_core.models import ApiToken

    async with client.app[keys.RUNTIME].sessions.begin() as db:
        await db.execute(update(ApiToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    client.session.cookie_jar.clear()
    resp = await client.get("/api/v1/auth/session", headers={"Authorization": f"Bearer {doc['token']}"})
    assert resp.status == 401


async def test_security_headers_on_every_answer(medianest_client: Any) -> None:
    client = await client_for(medianest_client)
    for path in ("/health", "/api/v1/nothing", "/no-page"):
        resp = await client.get(path)
        csp = resp.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";", 1)[0]
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in resp.headers


async def test_sign_ins_and_tokens_are_audited(medianest_client: Any) -> None:
    client = await client_for(medianest_client)
    user = await sign_in(client, "heidi")
    made = await (await client.post("/api/v1/me/tokens", json={"name": "x"}, headers=user.headers)).json()
    await client.delete(f"/api/v1/me/tokens/{made['id']}", headers=user.headers)
    await client.post("/api/v1/auth/logout", headers=user.headers)
    async with client.app[keys.RUNTIME].sessions() as db:
        entries = (await db.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    assert [e.action for e in entries] == [
        "user.created",
        "auth.login",
        "token.created",
        "token.revoked",
        "auth.logout",
    ]
    assert all(e.actor_id == user.user_id for e in entries[1:])
    assert all(e.ip == "127.0.0.1" for e in entries[1:])


@pytest.mark.parametrize("name", ["", "x" * 101])
async def test_a_token_needs_a_name(medianest_client: Any, name: str) -> None:
    client = await client_for(medianest_client)
    user = await sign_in(client)
    resp = await client.post("/api/v1/me/tokens", json={"name": name}, headers=user.headers)
    assert resp.status == 422


async def test_the_login_page_can_list_every_way_to_sign_in(medianest_client: Any) -> None:
    from example_plugins import Doorman

    client = await medianest_client(entry_points=[entry_point("doorman", Doorman())])
    resp = await client.get("/api/v1/auth/providers")
    assert resp.status == 200
    assert (await resp.json())["providers"] == [
        {"key": "doorman/knock", "title": "Knock on the door", "start_url": "/auth/doorman/knock", "form": False},
        {"key": "password", "title": "Username and password", "start_url": None, "form": True},
    ]
    start = await client.get("/auth/doorman/knock", allow_redirects=False)
    assert start.status == 200
    assert "Knock knock" in await start.text()


async def test_a_form_carries_the_csrf_token_as_a_field(medianest_client: Any) -> None:
    client = await client_for(medianest_client)
    user = await sign_in(client)
    refused = await client.post("/api/v1/auth/logout", data={"csrf_token": "wrong"})
    assert refused.status == 403
    signed_out = await client.post("/api/v1/auth/logout", data={"csrf_token": user.csrf_token})
    assert signed_out.status == 200
    assert (await client.get("/api/v1/auth/session")).status == 401
