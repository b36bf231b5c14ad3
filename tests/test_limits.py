from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import pytest
from example_plugins import Rationed

from medianest_core import keys
from medianest_core.testing import add_user, entry_point, sign_in


async def rationed_client(medianest_client: Any, **settings: Any) -> Any:
    return await medianest_client(entry_points=[entry_point("rationed", Rationed())], **settings)


async def test_the_api_limit_answers_429_with_retry_after(medianest_client: Any) -> None:
    client = await rationed_client(medianest_client, api_rate_limit="5/minute")
    await sign_in(client, "pat")  # one request on the limit of the anonymous address
    answers = [(await client.get("/api/v1/auth/session")).status for _ in range(6)]
    assert answers == [200, 200, 200, 200, 200, 429]
    resp = await client.get("/api/v1/me/quotas")
    assert resp.status == 429
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    body = await resp.json()
    assert body["error"]["code"] == "rate_limited"
    assert body["error"]["details"]["limit"] == "5 per 1 minute"
    # The limit is per user: someone else is served.
    other = await medianest_client(browser_of=client)
    await sign_in(other, "quinn")
    assert (await other.get("/api/v1/auth/session")).status == 200
    # Health and metrics are not part of the API budget.
    assert (await client.get("/health")).status == 200


async def test_images_count_apart_from_the_api_calls(medianest_client: Any) -> None:
    """A page of posters asks for dozens of images at once: they have their own, larger allowance."""
    client = await rationed_client(medianest_client, api_rate_limit="5/minute", image_rate_limit="8/minute")
    await sign_in(client, "ivy")
    pictures = [(await client.get("/api/v1/rationed/picture")).status for _ in range(9)]
    assert pictures == [200] * 8 + [429]
    error = (await (await client.get("/api/v1/rationed/picture")).json())["error"]
    assert error["message"].startswith("Too many image requests")
    # The eight pictures took nothing from the API's five calls.
    assert [(await client.get("/api/v1/auth/session")).status for _ in range(6)] == [200] * 5 + [429]


async def test_sign_in_attempts_are_limited_per_address_and_username(medianest_client: Any) -> None:
    client = await rationed_client(medianest_client, login_rate_limit="3/minute")
    runtime = client.app[keys.RUNTIME]
    await add_user(runtime, "rita", "rita-password-123")
    wrong = {"username": "rita", "password": "wrong-password-000"}
    statuses = [(await client.post("/api/v1/auth/login", json=wrong)).status for _ in range(3)]
    assert statuses == [401, 401, 401]
    resp = await client.post("/api/v1/auth/login", json={"username": "rita", "password": "rita-password-123"})
    assert resp.status == 429
    assert "Retry-After" in resp.headers
    assert "sign-in attempts" in (await resp.json())["error"]["message"]


LOGIN = "/api/v1/auth/login"


def from_address(address: str) -> dict[str, str]:
    """Headers of a request that reaches MediaNest from ``address`` through the trusted proxy (127.0.0.1)."""
    return {"X-Forwarded-For": address}


async def test_wrong_passwords_from_a_few_addresses_do_not_lock_the_owner_out(medianest_client: Any) -> None:
    client = await rationed_client(medianest_client, trusted_proxies=["127.0.0.1"], login_rate_limit="4/minute")
    await add_user(client.app[keys.RUNTIME], "olive", "olive-password-123")
    wrong = {"username": "olive", "password": "wrong-password-000"}
    for n in range(1, 4):
        attacker = from_address(f"198.51.100.{n}")
        statuses = [(await client.post(LOGIN, json=wrong, headers=attacker)).status for _ in range(5)]
        # Each address is held at its own limit (login_rate_limit).
        assert statuses == [401] * 4 + [429], n
    owner = await medianest_client(browser_of=client)
    right = {"username": "olive", "password": "olive-password-123"}
    resp = await owner.post(LOGIN, json=right, headers=from_address("203.0.113.7"))
    assert resp.status == 200, await resp.text()
    held = await client.post(LOGIN, json=right, headers=from_address("198.51.100.1"))
    assert held.status == 429


async def test_the_owners_own_address_is_not_counted_against_their_username(medianest_client: Any) -> None:
    # A per-username limit low enough that two attacking addresses reach it, as many addresses would reach 100.
    client = await rationed_client(
        medianest_client, trusted_proxies=["127.0.0.1"], login_rate_limit="4/minute", login_user_rate_limit="7/hour"
    )
    await add_user(client.app[keys.RUNTIME], "oscar", "oscar-password-123")
    right = {"username": "oscar", "password": "oscar-password-123"}
    wrong = {"username": "oscar", "password": "wrong-password-000"}
    home = from_address("203.0.113.9")
    assert (await client.post(LOGIN, json=right, headers=home)).status == 200
    attempts = [
        (await client.post(LOGIN, json=wrong, headers=from_address(f"198.51.100.{n}"))).status
        for n in (1, 2)
        for _ in range(4)
    ]
    # Guessing from addresses the account has not used shares one budget for the username (the owner's first
    # sign-in from home, before home was theirs, spent one of the 7)...
    assert attempts == [401] * 6 + [429] * 2
    stranger = await client.post(LOGIN, json=right, headers=from_address("192.0.2.44"))
    assert stranger.status == 429
    # ...which the owner, at home, is not part of.
    owner = await medianest_client(browser_of=client)
    assert (await owner.post(LOGIN, json=right, headers=home)).status == 200
    # Home is still held at its own limit.
    home_attempts = [(await owner.post(LOGIN, json=wrong, headers=home)).status for _ in range(3)]
    assert home_attempts == [401, 401, 429]


async def test_an_ipv6_64_counts_as_one_address(medianest_client: Any) -> None:
    client = await rationed_client(
        medianest_client, trusted_proxies=["127.0.0.1"], login_rate_limit="4/minute", login_user_rate_limit="5/hour"
    )
    await add_user(client.app[keys.RUNTIME], "ivy", "ivy-password-123")
    right = {"username": "ivy", "password": "ivy-password-123"}
    wrong = {"username": "ivy", "password": "wrong-password-000"}
    # Ivy signs in at home; her device later picks another address in the same /64, as IPv6 devices do.
    assert (await client.post(LOGIN, json=right, headers=from_address("2001:db8:1:2::10"))).status == 200
    # An attacker who holds a /64 has no more attempts than one address, however many of its addresses it uses.
    rotating = [
        (await client.post(LOGIN, json=wrong, headers=from_address(f"2001:db8:bad::{n:x}"))).status for n in range(5)
    ]
    assert rotating == [401] * 4 + [429]
    assert (await client.post(LOGIN, json=wrong, headers=from_address("2001:db8:bad:0:1::1"))).status == 429
    # The username's shared budget is spent (Ivy's first sign-in and four guesses)...
    assert (await client.post(LOGIN, json=wrong, headers=from_address("2001:db8:ba5e::1"))).status == 429
    # ...but Ivy's new address is in her home /64: still hers, not counted with the strangers'.
    assert (await client.post(LOGIN, json=right, headers=from_address("2001:db8:1:2:a:b:c:d"))).status == 200


async def test_one_address_cannot_use_up_a_usernames_shared_count(medianest_client: Any) -> None:
    # login_rate_limit is raised so that one address sends here what it would send in an hour at 10 a minute; the
    # username's shared count is 30 an hour, which three addresses can spend (100 an hour by default: ten).
    client = await rationed_client(
        medianest_client, trusted_proxies=["127.0.0.1"], login_rate_limit="100/minute", login_user_rate_limit="30/hour"
    )
    await add_user(client.app[keys.RUNTIME], "wendy", "wendy-password-123")
    right = {"username": "wendy", "password": "wendy-password-123"}
    wrong = {"username": "wendy", "password": "wrong-password-000"}
    home = from_address("203.0.113.9")
    assert (await client.post(LOGIN, json=right, headers=home)).status == 200

    attacker = [(await client.post(LOGIN, json=wrong, headers=from_address("198.51.100.7"))).status for _ in range(30)]
    # Ten attempts an hour from one address count on the username; past them only that address is refused.
    assert attacker == [401] * 10 + [429] * 20
    held = await client.post(LOGIN, json=right, headers=from_address("198.51.100.7"))
    assert held.status == 429
    assert 3500 <= int(held.headers["Retry-After"]) <= 3600
    # Wendy, on her phone's mobile data (an address she has never used), still gets in.
    phone = await medianest_client(browser_of=client)
    assert (await phone.post(LOGIN, json=right, headers=from_address("192.0.2.77"))).status == 200

    # The real exposure: enough addresses spend the shared count (30 - her two sign-ins - the first ten = 18).
    more = [
        (await client.post(LOGIN, json=wrong, headers=from_address(f"198.51.100.{n}"))).status
        for n in (8, 9)
        for _ in range(10)
    ]
    assert more == [401] * 18 + [429] * 2
    cafe = await medianest_client(browser_of=client)
    assert (await cafe.post(LOGIN, json=right, headers=from_address("192.0.2.200"))).status == 429
    # Her own addresses are not part of that count.
    for own in (home, from_address("192.0.2.77")):
        browser = await medianest_client(browser_of=client)
        assert (await browser.post(LOGIN, json=right, headers=own)).status == 200


async def test_an_ipv6_48_adds_no_more_to_a_usernames_count_than_one_address(medianest_client: Any) -> None:
    client = await rationed_client(
        medianest_client, trusted_proxies=["127.0.0.1"], login_rate_limit="100/minute", login_user_rate_limit="30/hour"
    )
    await add_user(client.app[keys.RUNTIME], "xena", "xena-password-123")
    wrong = {"username": "xena", "password": "wrong-password-000"}
    # One attacker with a /48 has 65,536 /64s, each with its own login_rate_limit...
    rotating = [
        (await client.post(LOGIN, json=wrong, headers=from_address(f"2001:db8:bad:{n:x}::1"))).status for n in range(30)
    ]
    # ...but they add ten attempts an hour to the username's count, together.
    assert rotating == [401] * 10 + [429] * 20
    right = {"username": "xena", "password": "xena-password-123"}
    assert (await client.post(LOGIN, json=right, headers=from_address("2001:db8:5afe:1::7"))).status == 200


async def test_anonymous_api_calls_count_per_ipv6_64(medianest_client: Any) -> None:
    client = await rationed_client(medianest_client, trusted_proxies=["127.0.0.1"], api_rate_limit="5/minute")
    rotating = [
        (await client.get("/api/v1/auth/session", headers=from_address(f"2001:db8:1:2::{n:x}"))).status
        for n in range(1, 7)
    ]
    assert rotating == [401] * 5 + [429]
    assert (await client.get("/api/v1/auth/session", headers=from_address("2001:db8:1:2:ffff::1"))).status == 429
    # Another /64 has its own count.
    assert (await client.get("/api/v1/auth/session", headers=from_address("2001:db8:1:3::1"))).status == 401


async def test_quotas_are_spent_shown_and_overridden(medianest_client: Any, medianest_database_url: str) -> None:
    client = await rationed_client(medianest_client, database_url=medianest_database_url)
    admin_browser = await medianest_client(browser_of=client)
    admin = await sign_in(admin_browser, "root", role="admin")
    sam = await sign_in(client, "sam")
    made = [(await client.post("/api/v1/rationed/things", headers=sam.headers)).status for _ in range(3)]
    assert made == [201, 201, 429]
    refused = await client.post("/api/v1/rationed/things", headers=sam.headers)
    assert 3500 <= int(refused.headers["Retry-After"]) <= 3600
    error = (await refused.json())["error"]
    assert error["message"].startswith("Your things quota (2 per hour) is used up")
    quotas = (await (await client.get("/api/v1/me/quotas")).json())["quotas"]
    assert len(quotas) == 1
    assert {k: quotas[0][k] for k in ("name", "limit", "used", "remaining")} == {
        "name": "rationed.things",
        "limit": 2,
        "used": 2,
        "remaining": 0,
    }
    assert quotas[0]["resets_at"] is not None
    # Admins have no limit on this quota by default.
    assert all(
        [(await admin_browser.post("/api/v1/rationed/things", headers=admin.headers)).status == 201 for _ in range(4)]
    )
    # The admin raises Sam's limit; then takes the override away again.
    patch = await admin_browser.patch(
        f"/api/v1/admin/users/{sam.user_id}", json={"quotas": {"rationed.things": 3}}, headers=admin.headers
    )
    assert patch.status == 200
    assert (await client.post("/api/v1/rationed/things", headers=sam.headers)).status == 201
    assert (await client.post("/api/v1/rationed/things", headers=sam.headers)).status == 429
    await admin_browser.patch(
        f"/api/v1/admin/users/{sam.user_id}", json={"quotas": {"rationed.things": None}}, headers=admin.headers
    )
    quotas = (await (await client.get("/api/v1/me/quotas")).json())["quotas"]
    assert quotas[0]["limit"] == 2
    unknown = await admin_browser.patch(
        f"/api/v1/admin/users/{sam.user_id}", json={"quotas": {"nope.none": 1}}, headers=admin.headers
    )
    assert unknown.status == 422


async def test_a_page_over_quota_is_a_kind_page(medianest_client: Any) -> None:
    client = await rationed_client(medianest_client)
    await sign_in(client, "tess")
    assert (await client.get("/rationed/thing")).status == 200
    assert (await client.get("/rationed/thing")).status == 200
    resp = await client.get("/rationed/thing", headers={"Accept": "text/html"})
    assert resp.status == 429
    assert resp.content_type == "text/html"
    assert "Slow down a little" in await resp.text()
    assert "Retry-After" in resp.headers


def test_the_bundled_plugins_declare_their_quotas() -> None:
    from medianest_overseerr import plugin as overseerr
    from medianest_youtube import plugin as youtube

    assert [(q.name, q.user_limit, q.period) for q in youtube.quotas()] == [("downloads", 5, 3600)]
    assert [(q.name, q.user_limit, q.period) for q in overseerr.quotas()] == [("requests", 20, 3600)]


@pytest.mark.production
async def test_limits_are_shared_through_redis(medianest_client: Any, medianest_redis_url: str) -> None:
    first = await rationed_client(medianest_client, redis_url=medianest_redis_url)  # no counts left by others
    uma = await sign_in(first, "uma")
    assert (await first.post("/api/v1/rationed/things", headers=uma.headers)).status == 201
    # A second MediaNest process on the same database and Redis counts with the first.
    runtime = first.app[keys.RUNTIME]
    second = await medianest_client(entry_points=[entry_point("rationed", Rationed())], settings=runtime.loaded)
    again = await second.post("/api/v1/auth/login", json={"username": "uma", "password": uma.password})
    headers = {"X-CSRF-Token": (await again.json())["csrf_token"]}
    assert (await second.post("/api/v1/rationed/things", headers=headers)).status == 201
    assert (await second.post("/api/v1/rationed/things", headers=headers)).status == 429
    assert (await first.post("/api/v1/rationed/things", headers=uma.headers)).status == 429


def test_request_limits_in_memory_slide_over_two_windows() -> None:
    """Without Redis, the API's limit counts in memory like ``limits``' sliding window counter: the previous
    minute's requests weigh as much as the sliding minute still covers them."""
    from limits import parse

    from medianest_core.ratelimit import LocalWindows

    windows = LocalWindows()
    five = parse("5/minute")
    start = 6_000_000.0  # the start of a minute
    key = ("api", "user", "7")
    assert [windows.hit(five, key, now=start + n) for n in range(5)] == [None] * 5
    wait = windows.hit(five, key, now=start + 10)
    assert wait == 50  # not before the next minute
    assert windows.hit(five, ("api", "user", "8"), now=start + 10) is None  # someone else counts apart
    # Halfway through the next minute the five weigh 2.5 (counted as 2): three more fit, not four.
    half = start + 90
    assert [windows.hit(five, key, now=half + n / 10) for n in range(3)] == [None] * 3
    refused = windows.hit(five, key, now=half + 0.5)
    assert refused is not None
    assert 0 < refused <= 30
    # Two minutes on, nothing of the past counts.
    assert [windows.hit(five, key, now=start + 240 + n) for n in range(5)] == [None] * 5


@pytest.mark.production
async def test_request_limits_count_across_processes_through_redis(medianest_redis_url: str) -> None:
    """With Redis, each process counts the API's requests in memory, reads a key's totals when it first sees it and
    shares its counts with the others every quarter second: a limit is passed by at most what another process
    counted since its last share."""
    from limits import parse

    from medianest_core.ratelimit import SharedWindows

    first = SharedWindows(medianest_redis_url, every=3600)  # shared only when the test says so
    second = SharedWindows(medianest_redis_url, every=3600)
    ten = parse("10/minute")
    key = ("api", "user", secrets.token_hex(6))
    start = time.time() // 60 * 60 + 1  # one second into this minute: the test ends long before the next
    try:
        assert [await first.hit(ten, key, now=start + n / 10) for n in range(6)] == [None] * 6
        await first.share(now=start + 1)
        # The second process reads the first's six when it first sees the key: four more fit, not five.
        assert [await second.hit(ten, key, now=start + 1 + n / 10) for n in range(4)] == [None] * 4
        assert await second.hit(ten, key, now=start + 2) is not None
        await second.share(now=start + 2)
        # The first, not having shared since, lets one more through; once it has shared, it refuses too.
        assert await first.hit(ten, key, now=start + 2) is None
        await first.share(now=start + 2)
        wait = await first.hit(ten, key, now=start + 2)
        assert wait is not None
        assert 0 < wait <= 60
        # Someone else counts apart.
        assert await second.hit(ten, ("api", "user", secrets.token_hex(6)), now=start + 2) is None
    finally:
        await first.close()
        await second.close()


async def test_request_limits_go_on_counting_while_redis_is_away() -> None:
    from limits import parse

    from medianest_core.ratelimit import SharedWindows

    windows = SharedWindows("redis://127.0.0.1:9/0", every=3600)  # nothing listens on the discard port
    three = parse("3/minute")
    now = time.time() // 60 * 60 + 1
    key = ("api", "ip", "192.0.2.0")
    try:
        assert [await windows.hit(three, key, now=now) for _ in range(3)] == [None] * 3
        await windows.share(now=now)  # refused by the network: logged, kept to be sent later
        assert await windows.hit(three, key, now=now) is not None
    finally:
        await windows.redis.aclose()


@pytest.mark.production
async def test_the_api_limit_holds_across_processes(medianest_client: Any, medianest_redis_url: str) -> None:
    from redis.asyncio import Redis

    from medianest_core.ratelimit import SharedWindows

    redis = Redis.from_url(medianest_redis_url)  # user ids start again with each test's database
    stale = [k async for k in redis.scan_iter(SharedWindows.PREFIX + "*")]
    if stale:
        await redis.delete(*stale)
    await redis.aclose()
    first = await rationed_client(
        # Sign-ins count in Redis too, by address: this test's own limit leaves the default's count to other tests.
        medianest_client,
        redis_url=medianest_redis_url,
        api_rate_limit="6/minute",
        login_rate_limit="1000/minute",
    )
    pat = await sign_in(first, f"pat{secrets.token_hex(3)}")
    runtime = first.app[keys.RUNTIME]
    second = await medianest_client(entry_points=[entry_point("rationed", Rationed())], settings=runtime.loaded)
    again = await second.post("/api/v1/auth/login", json={"username": pat.username, "password": pat.password})
    assert again.status == 200
    assert [(await first.get("/api/v1/auth/session")).status for _ in range(3)] == [200] * 3
    await asyncio.sleep(0.6)  # the first process has shared what it counted
    answers = [(await second.get("/api/v1/auth/session")).status for _ in range(4)]
    assert answers == [200, 200, 200, 429], answers


@pytest.mark.production
async def test_each_test_starts_with_no_sign_in_counts_in_redis(
    medianest_client: Any, medianest_redis_url: str
) -> None:
    """Every test signs in from 127.0.0.1 and ten sign-ins a minute from one address is the limit: the Redis
    fixture forgets what the tests before counted, as :func:`forget_rate_limits` does."""
    from medianest_core.testing import forget_rate_limits

    client = await medianest_client(redis_url=medianest_redis_url)
    for n in range(10):
        await sign_in(client, f"person{n}")
    again = {"username": "person0", "password": "person0-password-123"}
    assert (await client.post("/api/v1/auth/login", json=again)).status == 429
    forget_rate_limits(medianest_redis_url)
    assert (await client.post("/api/v1/auth/login", json=again)).status == 200
