from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from medianest_core import keys
from medianest_core.events import UserDeleted
from medianest_core.models import ApiToken, Session
from medianest_core.testing import SignedIn, add_user, sign_in


async def admin_client(medianest_client: Any, database_url: str | None = None) -> tuple[Any, SignedIn]:
    client = await medianest_client(**({"database_url": database_url} if database_url else {}))
    return client, await sign_in(client, "root", role="admin")


async def test_admins_list_and_create_users(medianest_client: Any, medianest_database_url: str) -> None:
    client, admin = await admin_client(medianest_client, medianest_database_url)
    created = await client.post(
        "/api/v1/admin/users", json={"username": "ivan", "password": "ivan-password-123"}, headers=admin.headers
    )
    assert created.status == 201
    doc = await created.json()
    assert (doc["username"], doc["role"], doc["status"]) == ("ivan", "user", "active")
    listed = await (await client.get("/api/v1/admin/users")).json()
    assert [u["username"] for u in listed["users"]] == ["ivan", "root"]
    assert listed["total"] == 2
    only = await (await client.get("/api/v1/admin/users?role=admin")).json()
    assert [u["username"] for u in only["users"]] == ["root"]
    page = await (await client.get("/api/v1/admin/users?per_page=1&page=2")).json()
    assert [u["username"] for u in page["users"]] == ["root"]
    assert (await client.get("/api/v1/admin/users?per_page=0")).status == 400
    # The new account can sign in.
    other = await medianest_client(browser_of=client)
    login = await other.post("/api/v1/auth/login", json={"username": "ivan", "password": "ivan-password-123"})
    assert login.status == 200


async def test_creating_a_user_explains_what_is_wrong(medianest_client: Any) -> None:
    client, admin = await admin_client(medianest_client)
    dup = await client.post(
        "/api/v1/admin/users", json={"username": "ROOT", "password": "long-enough-pass"}, headers=admin.headers
    )
    assert dup.status == 409
    short = await client.post("/api/v1/admin/users", json={"username": "j", "password": "short"}, headers=admin.headers)
    assert short.status == 422
    assert "password" in (await short.json())["error"]["details"]["fields"]
    role = await client.post(
        "/api/v1/admin/users",
        json={"username": "k", "password": "long-enough-pass", "role": "wizard"},
        headers=admin.headers,
    )
    assert role.status == 422
    assert "role" in (await role.json())["error"]["details"]["fields"]


async def test_a_role_change_takes_effect_at_once(medianest_client: Any) -> None:
    client, admin = await admin_client(medianest_client)
    browser = await medianest_client(browser_of=client)
    judy = await sign_in(browser, "judy")
    assert (await browser.get("/api/v1/admin/users")).status == 403
    resp = await client.patch(f"/api/v1/admin/users/{judy.user_id}", json={"role": "admin"}, headers=admin.headers)
    assert resp.status == 200
    assert (await resp.json())["role"] == "admin"
    assert (await browser.get("/api/v1/admin/users")).status == 200


async def test_disabling_a_user_ends_their_sessions_and_tokens(
    medianest_client: Any, medianest_database_url: str
) -> None:
    client, admin = await admin_client(medianest_client, medianest_database_url)
    browser = await medianest_client(browser_of=client)
    kim = await sign_in(browser, "kim")
    token = (await (await browser.post("/api/v1/me/tokens", json={"name": "s"}, headers=kim.headers)).json())["token"]
    resp = await client.patch(f"/api/v1/admin/users/{kim.user_id}", json={"status": "disabled"}, headers=admin.headers)
    assert resp.status == 200
    assert (await browser.get("/api/v1/auth/session")).status == 401
    assert (await browser.get("/api/v1/auth/session", headers={"Authorization": f"Bearer {token}"})).status == 401
    async with client.app[keys.RUNTIME].sessions() as db:
        assert await db.scalar(select(func.count()).select_from(Session).where(Session.user_id == kim.user_id)) == 0


async def test_the_last_admin_is_protected(medianest_client: Any, medianest_database_url: str) -> None:
    client, admin = await admin_client(medianest_client, medianest_database_url)
    for change in ({"role": "user"}, {"status": "disabled"}):
        resp = await client.patch(f"/api/v1/admin/users/{admin.user_id}", json=change, headers=admin.headers)
        assert resp.status == 409
        assert (await resp.json())["error"]["details"] == {"reason": "last_admin"}
    # With a second admin, the first may step down; then the second is the last one.
    second = await add_user(client.app[keys.RUNTIME], "second", "second-password-1", role="admin")
    resp = await client.patch(f"/api/v1/admin/users/{admin.user_id}", json={"role": "user"}, headers=admin.headers)
    assert resp.status == 200
    other = await medianest_client(browser_of=client)
    boss = await other.post("/api/v1/auth/login", json={"username": "second", "password": "second-password-1"})
    headers = {"X-CSRF-Token": (await boss.json())["csrf_token"]}
    assert (await other.delete(f"/api/v1/admin/users/{second}", headers=headers)).status == 409
    assert (await other.patch(f"/api/v1/admin/users/{second}", json={"role": "user"}, headers=headers)).status == 409


async def test_removing_a_user_removes_their_data(medianest_client: Any, medianest_database_url: str) -> None:
    client, admin = await admin_client(medianest_client, medianest_database_url)
    runtime = client.app[keys.RUNTIME]
    seen: list[UserDeleted] = []

    async def remember(event: UserDeleted) -> None:
        seen.append(event)

    runtime.events.subscribe(UserDeleted, remember)
    browser = await medianest_client(browser_of=client)
    leo = await sign_in(browser, "leo")
    await browser.post("/api/v1/me/tokens", json={"name": "s"}, headers=leo.headers)
    resp = await client.delete(f"/api/v1/admin/users/{leo.user_id}", headers=admin.headers)
    assert resp.status == 200
    assert (await browser.get("/api/v1/auth/session")).status == 401
    async with runtime.sessions() as db:
        assert await db.scalar(select(func.count()).select_from(ApiToken)) == 0
        assert await db.scalar(select(func.count()).select_from(Session).where(Session.user_id == leo.user_id)) == 0
    assert seen == [UserDeleted(user_id=leo.user_id, username="leo")]
    assert (await client.delete(f"/api/v1/admin/users/{leo.user_id}", headers=admin.headers)).status == 404
    assert (await client.delete(f"/api/v1/admin/users/{admin.user_id}", headers=admin.headers)).status == 409


async def test_admins_end_all_of_a_users_sessions(medianest_client: Any) -> None:
    client, admin = await admin_client(medianest_client)
    phone, laptop = await medianest_client(browser_of=client), await medianest_client(browser_of=client)
    mia = await sign_in(phone, "mia")
    await laptop.post("/api/v1/auth/login", json={"username": "mia", "password": mia.password})
    resp = await client.delete(f"/api/v1/admin/users/{mia.user_id}/sessions", headers=admin.headers)
    assert (await resp.json()) == {"ended": 2}
    assert (await phone.get("/api/v1/auth/session")).status == 401
    assert (await laptop.get("/api/v1/auth/session")).status == 401


async def test_the_audit_log_is_newest_first_and_filterable(medianest_client: Any) -> None:
    client, admin = await admin_client(medianest_client)
    await client.post(
        "/api/v1/admin/users", json={"username": "nina", "password": "nina-password-12"}, headers=admin.headers
    )
    created = await (await client.get("/api/v1/admin/users?q=nin")).json()
    nina = created["users"][0]["id"]
    await client.patch(f"/api/v1/admin/users/{nina}", json={"role": "admin"}, headers=admin.headers)
    log = await (await client.get("/api/v1/admin/audit")).json()
    actions = [e["action"] for e in log["entries"]]
    assert actions[:3] == ["user.updated", "user.created", "auth.login"]
    assert log["entries"][0]["details"] == {"role": {"from": "user", "to": "admin"}}
    assert log["entries"][0]["actor"] == "root"
    assert log["entries"][0]["target"] == f"user:{nina}"
    only = await (await client.get("/api/v1/admin/audit?action=auth.")).json()
    assert {e["action"] for e in only["entries"]} == {"auth.login"}
    assert (await client.get("/api/v1/admin/audit?since=yesterday")).status == 400
    user_client = await medianest_client(browser_of=client)
    await sign_in(user_client, "oscar")
    assert (await user_client.get("/api/v1/admin/audit")).status == 403


async def test_a_form_sending_empty_fields_records_only_what_changed(medianest_client: Any) -> None:
    """The account form sends every field; an empty name or address that was never set is no change."""
    client, admin = await admin_client(medianest_client)
    made = await client.post(
        "/api/v1/admin/users", json={"username": "pia", "password": "pia-password-123"}, headers=admin.headers
    )
    pia = (await made.json())["id"]
    form = {"role": "admin", "status": "active", "display_name": "", "email": ""}
    assert (await client.patch(f"/api/v1/admin/users/{pia}", json=form, headers=admin.headers)).status == 200
    log = await (await client.get("/api/v1/admin/audit")).json()
    assert log["entries"][0]["details"] == {"role": {"from": "user", "to": "admin"}}
    # Emptying a name that was set is a change, to none.
    named = {**form, "display_name": "Pia P"}
    assert (await client.patch(f"/api/v1/admin/users/{pia}", json=named, headers=admin.headers)).status == 200
    assert (await client.patch(f"/api/v1/admin/users/{pia}", json=form, headers=admin.headers)).status == 200
    log = await (await client.get("/api/v1/admin/audit")).json()
    assert log["entries"][0]["details"] == {"display_name": {"from": "Pia P", "to": None}}
    listed = await (await client.get("/api/v1/admin/users?q=pia")).json()
    assert listed["users"][0]["display_name"] is None
