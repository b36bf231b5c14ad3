"""Sessions in Redis (``redis_url`` set): the same behaviour as in the database, shared by every process."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from medianest_core import keys
from medianest_core.auth.sessions import RedisSessionStore
from medianest_core.testing import sign_in

pytestmark = pytest.mark.production


@pytest_asyncio.fixture
async def redis_client(medianest_client: Any, medianest_redis_url: str) -> AsyncIterator[Any]:
    from redis.asyncio import Redis

    redis = Redis.from_url(medianest_redis_url)
    stale = [k async for k in redis.scan_iter("medianest:*session*")]
    if stale:
        await redis.delete(*stale)
    client = await medianest_client(redis_url=medianest_redis_url)
    yield client, redis
    await redis.aclose()


async def test_sessions_live_in_redis(redis_client: Any, medianest_client: Any) -> None:
    client, redis = redis_client
    store = client.app[keys.SESSION_STORE]
    assert isinstance(store.inner, RedisSessionStore)  # behind the sessions kept in memory
    user = await sign_in(client, "vera")
    assert (await client.get("/api/v1/auth/session")).status == 200
    keys_found = [k async for k in redis.scan_iter("medianest:session:*")]
    assert len(keys_found) == 1
    ttl = await redis.ttl(keys_found[0])
    assert 86000 < ttl <= 86400  # the idle timeout
    # A second browser, then revoking it from the first.
    phone = await medianest_client(browser_of=client)
    await phone.post("/api/v1/auth/login", json={"username": "vera", "password": user.password})
    sessions = (await (await client.get("/api/v1/me/sessions")).json())["sessions"]
    assert len(sessions) == 2
    other = next(s for s in sessions if not s["current"])
    assert (await client.delete(f"/api/v1/me/sessions/{other['id']}", headers=user.headers)).status == 200
    assert (await phone.get("/api/v1/auth/session")).status == 401
    # Logging out removes the key.
    assert (await client.post("/api/v1/auth/logout", headers=user.headers)).status == 200
    assert [k async for k in redis.scan_iter("medianest:session:*")] == []


async def test_disabling_and_idling_end_redis_sessions(redis_client: Any, medianest_client: Any) -> None:
    client, redis = redis_client
    admin_browser = await medianest_client(browser_of=client)
    admin = await sign_in(admin_browser, "root", role="admin")
    walt = await sign_in(client, "walt")
    resp = await admin_browser.patch(
        f"/api/v1/admin/users/{walt.user_id}", json={"status": "disabled"}, headers=admin.headers
    )
    assert resp.status == 200
    assert (await client.get("/api/v1/auth/session")).status == 401
    assert await redis.exists(f"medianest:user-sessions:{walt.user_id}") == 0
    # An idle session ends even before Redis expires its key.
    key = next(iter([k async for k in redis.scan_iter("medianest:session:*")]))
    doc = json.loads(await redis.get(key))
    doc["last_seen_at"] = (datetime.now(UTC) - timedelta(hours=25)).isoformat()
    await redis.set(key, json.dumps(doc))
    # Sessions requests used are kept in memory: an edit of the store from outside announces itself.
    await client.app[keys.AUTH_CACHE].changed(session_id=key.decode().removeprefix("medianest:session:"))
    assert (await admin_browser.get("/api/v1/auth/session")).status == 401
    assert await redis.exists(key) == 0
