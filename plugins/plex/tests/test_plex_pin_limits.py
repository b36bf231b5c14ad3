"""The Plex sign-in page cannot be used to flood plex.tv: a browser that reloads sees its pending codes again,
new PINs are limited per address, and plex.tv is asked about a pending sign-in at most once a second however
often it is polled. A pending sign-in never passes from one person to the next on a shared browser."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from medianest_plex import PlexPlugin
from medianest_plex.fake import FakePlex
from medianest_plex.login import COOKIE
from medianest_plex.models import PlexLogin
from sqlalchemy import update

from medianest_core import keys
from medianest_core.testing import entry_point

HTML = {"Accept": "text/html"}
PAGE_POLL_INTERVAL = 1.5
"""How often the sign-in page's script polls (static/login.js)."""


@pytest.fixture
async def fake() -> AsyncIterator[FakePlex]:
    plex = FakePlex(friendly_name="Alice's Plex")
    await plex.start()
    yield plex
    await plex.stop()


async def plex_client(medianest_client: Any, fake: FakePlex, **core: Any) -> Any:
    """MediaNest with the Plex plugin, behind a proxy on 127.0.0.1 so that ``X-Forwarded-For`` names the client."""
    section = {"url": fake.url, "plextv_url": fake.url, "token": fake.owner.token}
    return await medianest_client(
        entry_points=[entry_point("plex", PlexPlugin())],
        plugins={"plex": section},
        trusted_proxies=["127.0.0.1"],
        **core,
    )


def pins_asked(fake: FakePlex) -> int:
    """How many PINs plex.tv was asked to make."""
    return sum(1 for method, path in fake.calls if (method, path) == ("POST", "/api/v2/pins"))


async def open_page(client: Any, address: str = "203.0.113.7", next_path: str = "/") -> tuple[str, str]:
    """Open the sign-in page from ``address``; the two codes it shows (the Plex app's and plex.tv/link's)."""
    resp = await client.get("/auth/plex/pin", params={"next": next_path}, headers={**HTML, "X-Forwarded-For": address})
    page = await resp.text()
    assert resp.status == 200, page
    app_code = re.search(r"[?&;]code=([a-z0-9]+)", page)
    link_code = re.search(r"<code>([A-Z0-9]{4})</code>", page)
    assert app_code is not None, page
    assert link_code is not None, page
    return app_code[1], link_code[1]


def token_of(client: Any) -> str:
    """The sign-in token in this browser's cookie."""
    value: str = client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE].value
    return value


def pin_checks(fake: FakePlex) -> int:
    """How many times plex.tv was asked about a PIN."""
    return sum(1 for method, path in fake.calls if method == "GET" and path.startswith("/api/v2/pins/"))


def strong_pin(fake: FakePlex, code: str) -> int:
    return next(pin_id for pin_id, pin in fake.pins.items() if pin["code"] == code)


async def poll(client: Any, address: str = "203.0.113.7") -> dict[str, Any]:
    answer: dict[str, Any] = await (
        await client.post("/api/v1/plex/login/poll", headers={"X-Forwarded-For": address})
    ).json()
    return answer


async def poll_as_the_page(client: Any, address: str = "203.0.113.7") -> dict[str, Any]:
    """The page's next poll, made when its script makes it."""
    await asyncio.sleep(PAGE_POLL_INTERVAL)
    return await poll(client, address)


async def test_reloads_and_a_second_tab_show_the_same_codes(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake)
    first = await open_page(client)
    for _ in range(5):
        assert await open_page(client) == first
    # A second tab of the same browser shares its cookie.
    second_tab = await medianest_client(browser_of=client)
    second_tab.session.cookie_jar.update_cookies({COOKIE: token_of(client)})
    assert await open_page(second_tab) == first
    assert pins_asked(fake) == 2
    assert len(fake.pins) == 2


async def test_a_sign_in_completes_after_reloads(
    medianest_client: Any, medianest_database_url: str, fake: FakePlex
) -> None:
    client = await plex_client(medianest_client, fake, database_url=medianest_database_url)
    bob = fake.add_account("bob")
    fake.share(bob, [])
    codes = await open_page(client)
    # The person opens the Plex app from this page, and meanwhile the page is reloaded (going on to /plex/).
    for _ in range(3):
        assert await open_page(client, next_path="/plex/") == codes
    assert (await poll(client))["status"] == "waiting"
    fake.approve_pin(strong_pin(fake, codes[0]), bob)
    answer = await poll_as_the_page(client)
    assert (answer["status"], answer["next"], answer["user"]["username"]) == ("signed_in", "/plex/", "bob")
    # The sign-in is used up: the next visit of the page makes new codes.
    assert (await open_page(client))[0] != codes[0]
    assert pins_asked(fake) == 4


async def test_new_browsers_past_the_limit_are_told_to_wait_and_plex_tv_is_not_asked(
    medianest_client: Any, fake: FakePlex
) -> None:
    client = await plex_client(medianest_client, fake, login_rate_limit="3/minute")
    bob = fake.add_account("bob")
    fake.share(bob, [])
    started, _ = await open_page(client)
    for _ in range(2):
        await open_page(await medianest_client(browser_of=client))
    assert pins_asked(fake) == 6

    for _ in range(3):
        stranger = await medianest_client(browser_of=client)
        resp = await stranger.get("/auth/plex/pin", headers={**HTML, "X-Forwarded-For": "203.0.113.7"})
        page = await resp.text()
        assert resp.status == 429
        assert 1 <= int(resp.headers["Retry-After"]) <= 60
        assert "Slow down a little" in page
        assert "Too many Plex sign-ins started from your network: try again in" in page
        assert COOKIE not in resp.cookies
    assert pins_asked(fake) == 6

    # Another address has its own count; an IPv6 network counts as one address, whatever its host part.
    await open_page(await medianest_client(browser_of=client), address="198.51.100.9")
    for host in range(1, 4):
        await open_page(await medianest_client(browser_of=client), address=f"2001:db8:1:2::{host}")
    resp = await (await medianest_client(browser_of=client)).get(
        "/auth/plex/pin", headers={**HTML, "X-Forwarded-For": "2001:db8:1:2:ffff::1"}
    )
    assert resp.status == 429
    assert pins_asked(fake) == 14

    # The browser that started first still sees its codes, and its sign-in still completes.
    assert (await open_page(client))[0] == started
    fake.approve_pin(strong_pin(fake, started), bob)
    assert (await poll(client))["status"] == "signed_in"
    assert pins_asked(fake) == 14


async def test_expired_codes_are_replaced(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake)
    first = await open_page(client)
    assert await open_page(client) == first

    # plex.tv forgets the PINs: the page's poll says so, and the next visit makes new ones.
    for pin_id in list(fake.pins):
        fake.expire_pin(pin_id)
    assert (await poll(client))["status"] == "expired"
    second = await open_page(client)
    assert second[0] != first[0]
    assert pins_asked(fake) == 4
    assert await open_page(client) == second

    # The sign-in's own 15 minutes pass (nearly: a code with under a minute left is not shown again).
    runtime = client.app[keys.RUNTIME]
    async with runtime.sessions.begin() as db:
        await db.execute(update(PlexLogin).values(expires_at=datetime.now(UTC) + timedelta(seconds=30)))
    third = await open_page(client)
    assert third[0] not in (first[0], second[0])
    assert pins_asked(fake) == 6


async def test_codes_that_plex_tv_gives_less_time_are_not_shown_past_it(medianest_client: Any, fake: FakePlex) -> None:
    fake.pin_lifetimes["short"] = 30
    client = await plex_client(medianest_client, fake)
    first = await open_page(client)
    page = await (await client.get("/auth/plex/pin", headers={**HTML, "X-Forwarded-For": "203.0.113.7"})).text()
    assert first[1] not in page
    assert pins_asked(fake) == 4

    fake.pin_lifetimes["short"] = 600
    fresh = await medianest_client(browser_of=client)
    resp = await fresh.get("/auth/plex/pin", headers={**HTML, "X-Forwarded-For": "203.0.113.8"})
    assert re.search(r"the code works for (9|10) minutes", await resp.text())


async def test_a_planted_or_forged_cookie_gets_its_own_codes(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake)
    mallory = await medianest_client(browser_of=client)
    mallorys = await open_page(mallory, address="198.51.100.66")
    token = token_of(mallory)

    victim = await medianest_client(browser_of=client)
    victim.session.cookie_jar.update_cookies({COOKIE: token})
    victims = await open_page(victim, address="203.0.113.7")
    assert victims[0] != mallorys[0]
    assert victims[1] != mallorys[1]
    assert token_of(victim) != token

    bob = fake.add_account("bob")
    fake.share(bob, [])
    fake.approve_pin(strong_pin(fake, victims[0]), bob)
    assert (await poll(mallory, address="198.51.100.66"))["status"] == "waiting"
    assert (await poll(victim))["status"] == "signed_in"
    assert (await mallory.get("/api/v1/auth/session")).status == 401

    for forged in ("x" * 43, "not a token", "é" * 10, "A" * 4000):
        browser = await medianest_client(browser_of=client)
        browser.session.cookie_jar.update_cookies({COOKIE: forged})
        assert (await poll(browser, address="192.0.2.1"))["status"] == "expired"
        assert (await open_page(browser, address="192.0.2.1"))[0] not in (mallorys[0], victims[0])


async def test_polls_ask_plex_tv_at_most_once_a_second(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake)
    bob = fake.add_account("bob")
    fake.share(bob, [])
    codes = await open_page(client)
    began = time.monotonic()
    answers = await asyncio.gather(*(poll(client) for _ in range(50)))
    seconds = time.monotonic() - began
    assert {answer["status"] for answer in answers} == {"waiting"}
    # One question (both PINs) a second at most, whatever the browser does.
    assert 1 <= pin_checks(fake) <= 2 * (int(seconds) + 1)

    # A sign-in at the page's own pace is not slowed: the first poll after the approval completes it.
    fake.approve_pin(strong_pin(fake, codes[0]), bob)
    answer = await poll_as_the_page(client)
    assert (answer["status"], answer["user"]["username"]) == ("signed_in", "bob")


@pytest.mark.production
async def test_processes_together_ask_plex_tv_at_most_once_a_second(
    medianest_client: Any, medianest_redis_url: str, fake: FakePlex
) -> None:
    first = await plex_client(medianest_client, fake, redis_url=medianest_redis_url)
    second = await medianest_client(
        entry_points=[entry_point("plex", PlexPlugin())], settings=first.app[keys.RUNTIME].loaded
    )
    # An address of its own, so that counts left in Redis by earlier runs do not matter.
    address = f"2001:db8:{secrets.randbelow(0xFFFF):x}:{secrets.randbelow(0xFFFF):x}::1"
    await open_page(first, address=address)
    second.session.cookie_jar.update_cookies({COOKIE: token_of(first)})
    began = time.monotonic()
    answers = await asyncio.gather(*(poll(browser, address) for _ in range(25) for browser in (first, second)))
    seconds = time.monotonic() - began
    assert {answer["status"] for answer in answers} == {"waiting"}
    assert 1 <= pin_checks(fake) <= 2 * (int(seconds) + 1)


async def test_the_sign_in_cookie_ends_with_the_browser(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake)
    resp = await client.get("/auth/plex/pin", headers={**HTML, "X-Forwarded-For": "203.0.113.7"})
    assert resp.status == 200
    cookie = resp.cookies[COOKIE]
    assert (cookie["max-age"], cookie["expires"]) == ("", "")
    assert cookie["httponly"]


async def test_an_approved_sign_in_is_not_handed_to_the_next_person_at_the_browser(
    medianest_client: Any, fake: FakePlex
) -> None:
    client = await plex_client(medianest_client, fake)
    alice, bob = fake.add_account("alice"), fake.add_account("bob")
    fake.share(alice, [])
    fake.share(bob, [])
    # Alice opens the page and approves in the Plex app, but closes the tab before its next poll.
    alices = await open_page(client)
    fake.approve_pin(strong_pin(fake, alices[0]), alice)
    # Bob opens the page on the same computer: new codes, and nothing signs him in as Alice.
    bobs = await open_page(client)
    assert bobs[0] != alices[0]
    assert bobs[1] != alices[1]
    assert (await poll(client))["status"] == "waiting"
    assert (await client.get("/api/v1/auth/session")).status == 401
    fake.approve_pin(strong_pin(fake, bobs[0]), bob)
    answer = await poll_as_the_page(client)
    assert (answer["status"], answer["user"]["username"]) == ("signed_in", "bob")
    assert pins_asked(fake) == 4


async def test_reloads_ask_plex_tv_within_the_address_limit(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake, login_rate_limit="3/minute")
    first = await open_page(client)
    statuses = []
    for _ in range(20):
        resp = await client.get("/auth/plex/pin", headers={**HTML, "X-Forwarded-For": "203.0.113.7"})
        statuses.append(resp.status)
    # Three reloads show the same codes (each asks plex.tv whether they were approved); then new codes until the
    # address's new PINs are spent too; then the page says to wait.
    assert statuses == [200] * 5 + [429] * 15
    assert pin_checks(fake) == 2 * 3
    assert pins_asked(fake) == 2 * 3
    assert (await open_page(await medianest_client(browser_of=client), address="198.51.100.9"))[0] != first[0]
