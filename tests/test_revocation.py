"""Revocation is immediate although who asks is kept in memory (``medianest_core.auth.cache``): a revoked token or
session, a disabled or removed user and a role change count from the very next request, in this process and in
every other one. On SQLite one MediaNest serves; on PostgreSQL with Redis, the change is made through one
MediaNest and the next request goes to another (its own runtime, event bus and cache; Redis between them).

Every case first makes a request that succeeds, so what is checked is what the other side had kept."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import attrs
import pytest
import pytest_asyncio

from medianest_core import keys
from medianest_core.auth.cache import AuthCache
from medianest_core.auth.sessions import token_hash
from medianest_core.events import AuthChanged
from medianest_core.models import User
from medianest_core.testing import add_user, sign_in

PASSWORD = "a-password-of-pat"
UNLIMITED = "1000000/minute"  # many sign-ins and a load of requests; also keeps off the limits other tests count


@attrs.define
class Setup:
    """``acting``: where the admin (and the person, for their own changes) acts; ``serving``: the MediaNest that
    the person's next request reaches (the same one on SQLite)."""

    acting: Any
    serving: Any
    admin_csrf: str
    name: str
    person_id: int
    person: Any  # the person's browser on ``serving``
    person_csrf: str
    token: str
    token_id: int

    async def as_token(self, path: str = "/api/v1/auth/session") -> int:
        resp = await self.serving.get(path, headers={"Authorization": f"Bearer {self.token}"})
        return int(resp.status)

    async def as_session(self, path: str = "/api/v1/auth/session") -> int:
        return int((await self.person.get(path)).status)

    async def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = await self.acting.request(method, path, headers={"X-CSRF-Token": self.admin_csrf}, **kwargs)
        assert resp.status < 300, await resp.text()
        return resp


@pytest_asyncio.fixture
async def setup(
    request: pytest.FixtureRequest, medianest_client: Any, medianest_database_url: str
) -> AsyncIterator[Setup]:
    if medianest_database_url.startswith("sqlite"):
        acting = await medianest_client(
            database_url=medianest_database_url, api_rate_limit=UNLIMITED, login_rate_limit=UNLIMITED
        )
        serving = acting
        person = await medianest_client(browser_of=acting)
    else:
        redis = request.getfixturevalue("medianest_redis_url")
        acting = await medianest_client(
            database_url=medianest_database_url, redis_url=redis, api_rate_limit=UNLIMITED, login_rate_limit=UNLIMITED
        )
        serving = await medianest_client(settings=acting.app[keys.RUNTIME].loaded)
        person = await medianest_client(browser_of=serving)
    admin = await sign_in(acting, f"root-{secrets.token_hex(4)}", role="admin")
    runtime = acting.app[keys.RUNTIME]
    name = f"pat-{secrets.token_hex(4)}"  # Redis keeps sign-in counts by name from one test to the next
    person_id = await add_user(runtime, name, PASSWORD)
    login = await person.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})
    assert login.status == 200
    person_csrf = (await login.json())["csrf_token"]
    made = await person.post("/api/v1/me/tokens", json={"name": "script"}, headers={"X-CSRF-Token": person_csrf})
    assert made.status == 201, await made.text()
    doc = await made.json()
    found = Setup(acting, serving, admin.csrf_token, name, person_id, person, person_csrf, doc["token"], doc["id"])
    assert await found.as_token() == 200
    assert await found.as_session() == 200
    yield found


async def revoke_token(setup: Setup, medianest_client: Any) -> None:
    """The person revokes their token on the acting side (from a second browser of theirs there)."""
    other = await medianest_client(browser_of=setup.acting)
    login = await other.post("/api/v1/auth/login", json={"username": setup.name, "password": PASSWORD})
    csrf = (await login.json())["csrf_token"]
    revoked = await other.delete(f"/api/v1/me/tokens/{setup.token_id}", headers={"X-CSRF-Token": csrf})
    assert revoked.status == 200


async def test_a_revoked_token_is_refused_at_once(setup: Setup, medianest_client: Any) -> None:
    await revoke_token(setup, medianest_client)
    assert await setup.as_token() == 401
    assert await setup.as_session() == 200  # only the token


async def test_a_revoked_session_is_refused_at_once(setup: Setup, medianest_client: Any) -> None:
    other = await medianest_client(browser_of=setup.acting)
    login = await other.post("/api/v1/auth/login", json={"username": setup.name, "password": PASSWORD})
    csrf = (await login.json())["csrf_token"]
    sessions = (await (await other.get("/api/v1/me/sessions")).json())["sessions"]
    target = token_hash({c.key: c.value for c in setup.person.session.cookie_jar}["medianest_session"])
    assert target in [s["id"] for s in sessions if not s["current"]]
    assert (await other.delete(f"/api/v1/me/sessions/{target}", headers={"X-CSRF-Token": csrf})).status == 200
    assert await setup.as_session() == 401
    assert await setup.as_token() == 200


async def test_signing_out_ends_the_session_at_once(setup: Setup) -> None:
    cookie = {c.key: c.value for c in setup.person.session.cookie_jar}["medianest_session"]
    # The person signs out on the acting side (another process on PostgreSQL), with the same cookie.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as bare:
        out = await bare.post(
            setup.acting.make_url("/api/v1/auth/logout"),
            headers={"Cookie": f"medianest_session={cookie}", "X-CSRF-Token": setup.person_csrf},
        )
        assert out.status == 200
    assert await setup.as_session() == 401


async def test_a_disabled_person_is_refused_at_once(setup: Setup) -> None:
    await setup.admin("PATCH", f"/api/v1/admin/users/{setup.person_id}", json={"status": "disabled"})
    assert await setup.as_token() == 401
    assert await setup.as_session() == 401
    await setup.admin("PATCH", f"/api/v1/admin/users/{setup.person_id}", json={"status": "active"})
    assert await setup.as_token() == 200  # tokens work again; the sessions were ended


async def test_a_removed_person_is_refused_at_once(setup: Setup) -> None:
    await setup.admin("DELETE", f"/api/v1/admin/users/{setup.person_id}")
    assert await setup.as_token() == 401
    assert await setup.as_session() == 401


async def test_a_role_change_counts_from_the_next_request(setup: Setup) -> None:
    assert await setup.as_token("/api/v1/admin/users") == 403
    await setup.admin("PATCH", f"/api/v1/admin/users/{setup.person_id}", json={"role": "admin"})
    assert await setup.as_token("/api/v1/admin/users") == 200
    assert await setup.as_session("/api/v1/admin/users") == 200
    await setup.admin("PATCH", f"/api/v1/admin/users/{setup.person_id}", json={"role": "user"})
    assert await setup.as_token("/api/v1/admin/users") == 403
    assert await setup.as_session("/api/v1/admin/users") == 403
    doc = await (
        await setup.serving.get("/api/v1/auth/session", headers={"Authorization": f"Bearer {setup.token}"})
    ).json()
    assert doc["user"]["role"] == "user"


async def test_ending_all_of_a_persons_sessions_is_immediate(setup: Setup) -> None:
    await setup.admin("DELETE", f"/api/v1/admin/users/{setup.person_id}/sessions")
    assert await setup.as_session() == 401
    assert await setup.as_token() == 200


async def test_a_read_that_overlaps_an_invalidation_keeps_nothing(medianest_client: Any) -> None:
    """A user read from the database just before a change must not be kept after the change is announced."""
    client = await medianest_client()
    runtime = client.app[keys.RUNTIME]
    user_id = await add_user(runtime, "quinn", "quinn-password-123")
    cache: AuthCache = client.app[keys.AUTH_CACHE]
    real = cache.db

    class Overlapping:
        """A sessionmaker whose read is overtaken by an announced change."""

        def __call__(self) -> Any:
            return self

        async def __aenter__(self) -> Any:
            self.db = real()
            return self

        async def __aexit__(self, *exc: object) -> None:
            await self.db.close()

        async def get(self, model: type[User], key: int) -> User | None:
            found = await self.db.get(model, key)
            await runtime.events.publish(AuthChanged(user_id=key))
            return found

    cache.db = Overlapping()  # type: ignore[assignment]
    try:
        assert (await cache.user(user_id)) is not None
    finally:
        cache.db = real
    assert user_id not in cache.users
    assert (await cache.user(user_id)) is not None
    assert user_id in cache.users  # an undisturbed read is kept


async def test_what_is_kept_is_bounded(medianest_client: Any) -> None:
    client = await medianest_client()
    runtime = client.app[keys.RUNTIME]
    cache = AuthCache(runtime.sessions, runtime.events, size=3)
    ids = [await add_user(runtime, f"person{n}", f"person{n}-password-123") for n in range(5)]
    for user_id in ids:
        await cache.user(user_id)
    assert list(cache.users) == ids[-3:]


async def test_a_revocation_counts_while_the_token_is_in_heavy_use(setup: Setup, medianest_client: Any) -> None:
    """Revoke while the serving MediaNest is busy answering the same token: from the moment the revocation
    answers, the serving side refuses it."""
    bearer = {"Authorization": f"Bearer {setup.token}"}
    stop = asyncio.Event()

    async def busy() -> None:
        while not stop.is_set():
            await setup.serving.get("/api/v1/auth/session", headers=bearer)

    load = [asyncio.create_task(busy()) for _ in range(8)]
    await asyncio.sleep(0.2)
    await revoke_token(setup, medianest_client)
    statuses = [await setup.as_token() for _ in range(5)]
    stop.set()
    await asyncio.gather(*load)
    assert statuses == [401] * 5


@pytest.mark.production
async def test_an_auth_change_is_published_once_every_process_has_it(medianest_redis_url: str) -> None:
    """Publishing an auth change returns only when every other process has forgotten what it kept: the next
    request, wherever it lands, counts the change."""
    from medianest_core.events import AuthChanged, CardUpdated, EventBus, RedisBridge

    here, there = EventBus(), EventBus()
    bridges = [RedisBridge(here, medianest_redis_url), RedisBridge(there, medianest_redis_url)]
    for bridge in bridges:
        await bridge.start()
    heard: list[str] = []

    async def slow(event: AuthChanged | CardUpdated) -> None:
        await asyncio.sleep(0.3)
        heard.append(type(event).__name__)

    there.subscribe(AuthChanged, slow)
    there.subscribe(CardUpdated, slow)
    try:
        await here.publish(AuthChanged(user_id=7))
        assert heard == ["AuthChanged"]
        # Other events are not waited for.
        await here.publish(CardUpdated(plugin="x", key="y"))
        assert heard == ["AuthChanged"]
        await asyncio.sleep(0.5)
        assert heard == ["AuthChanged", "CardUpdated"]
    finally:
        for bridge in bridges:
            await bridge.stop()


@pytest.mark.production
async def test_a_flood_of_events_waits_instead_of_piling_up(medianest_redis_url: str) -> None:
    """Events from another process are delivered without waiting for one another, up to a bound: past it, reading
    waits for a delivery to be done (a flood costs time, not memory), and none is lost."""
    from medianest_core.events import CardUpdated, EventBus, RedisBridge

    here, there = EventBus(), EventBus()
    sending, receiving = RedisBridge(here, medianest_redis_url), RedisBridge(there, medianest_redis_url)
    for bridge in (sending, receiving):
        await bridge.start()
    receiving_limit = RedisBridge.MAX_DELIVERIES
    go = asyncio.Event()
    heard: list[str] = []

    async def held(event: CardUpdated) -> None:
        await go.wait()
        heard.append(event.key)

    there.subscribe(CardUpdated, held)
    try:
        sent = receiving_limit + 50
        for n in range(sent):
            await here.publish(CardUpdated(plugin="x", key=str(n)))
        for _ in range(250):
            if len(receiving._deliveries) >= receiving_limit:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        assert len(receiving._deliveries) == receiving_limit
        go.set()
        for _ in range(250):
            if len(heard) == sent:
                break
            await asyncio.sleep(0.02)
        assert sorted(heard, key=int) == [str(n) for n in range(sent)]
    finally:
        for bridge in (sending, receiving):
            await bridge.stop()
