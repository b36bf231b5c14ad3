"""People whose MediaNest account signs in with a password, not with Plex: the library tells them how to link
their Plex account and links it; search says Plex is not theirs to search rather than failing; the dashboard
asks nothing of them it must refuse. And the Plex card counts what each person may browse, by kind of library."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from html import unescape
from typing import Any

import pytest
from medianest_plex.fake import FakePlex
from medianest_plex.models import PlexAccount
from sqlalchemy import func, select
from test_plex_login_browse import plex_client, sign_in_with_plex

from medianest_core import keys
from medianest_core.models import User
from medianest_core.testing import sign_in

HTML = {"Accept": "text/html"}


@pytest.fixture
async def fake() -> AsyncIterator[FakePlex]:
    plex = FakePlex(friendly_name="Alice's Plex")
    plex.add_section("1", "Films", "movie")
    plex.add_section("2", "Shows", "show")
    plex.add_section("3", "YouTube", "movie", location="/plex/youtube")
    plex.add_section("4", "Home videos", "movie", agent="tv.plex.agents.none")
    plex.add_section("5", "Music", "artist")
    plex.add_item("1", "Alien", year=1979)
    plex.add_item("1", "Aliens", year=1986)
    plex.add_item("2", "Andor", year=2022)
    for n in range(3):
        plex.add_item("3", f"Cooking {n}")
    plex.add_item("4", "Birthday")
    plex.streams = 2
    await plex.start()
    yield plex
    await plex.stop()


def card_of(page: str) -> str:
    """The Plex card's HTML on the dashboard."""
    start = page.index('id="card-plex-server"')
    return page[start : page.index("</section>", start)]


def figures(card: str) -> dict[str, str]:
    return {unescape(k): unescape(v) for k, v in re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", card)}


def words(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


async def dashboard_card(client: Any) -> str:
    """The Plex card once the background refresh has gathered its figures."""
    wanted = "Updated <time"
    found: list[str] = []

    async def look() -> None:
        found.append(card_of(await (await client.get("/", headers=HTML)).text()))

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    await look()
    while wanted not in found[-1]:
        assert loop.time() < deadline, found[-1]
        await asyncio.sleep(0.1)
        await look()
    return found[-1]


async def test_the_library_page_offers_a_password_account_to_link_plex(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake)
    await sign_in(client, "carol")

    resp = await client.get("/plex/", headers=HTML)
    page = await resp.text()
    assert resp.status == 200, page
    text = words(page)
    assert "Your MediaNest account signs in with a password, so it has no Plex account to browse with yet." in text
    assert '<a class="button primary" href="/auth/plex/pin?next=/plex/">Sign in with Plex</a>' in page
    assert "No Plex account, or the server is not shared with yours? Ask the admin." in text
    assert "Sign in with Plex to browse" not in text  # the old dead end

    # A library's, a collection's or an item's address says the same, once.
    for path in ("/plex/libraries/1", "/plex/collections/101", "/plex/items/101"):
        resp = await client.get(path, headers=HTML)
        page = await resp.text()
        assert resp.status == 403, path
        assert words(page).count("Sign in with Plex") == 1, path
        assert f'href="/auth/plex/pin?next={path}"' in page  # and back to that page

    # The API says where, too.
    resp = await client.get("/api/v1/plex/libraries")
    assert resp.status == 403
    error = (await resp.json())["error"]
    assert error["message"] == (
        "Browsing the library needs your Plex account: link it on the Library page (Sign in with Plex)."
    )
    assert error["details"] == {"sign_in": "/auth/plex/pin?next=/plex/"}


async def test_a_password_account_links_its_plex_account_and_browses(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake)
    carol = await sign_in(client, "carol")
    plex_carol = fake.add_account("carol.plex")
    fake.share(plex_carol, ["1"])

    page = await (await client.get("/auth/plex/pin?next=/plex/", headers=HTML)).text()
    assert "Link your Plex account" in page
    assert '<a href="/plex/">Back to the library</a>' in page
    answer = await sign_in_with_plex(client, fake, plex_carol, next_path="/plex/")
    assert answer["status"] == "signed_in"
    assert answer["next"] == "/plex/"
    assert (answer["user"]["id"], answer["user"]["username"]) == (carol.user_id, "carol")

    # Still carol, with her password; no second account was made.
    session = await (await client.get("/api/v1/auth/session")).json()
    assert session["user"]["username"] == "carol"
    runtime = client.app[keys.RUNTIME]
    async with runtime.sessions() as db:
        assert await db.scalar(select(func.count()).select_from(User)) == 1
        link = (await db.scalars(select(PlexAccount))).one()
    assert (link.user_id, link.plex_id) == (carol.user_id, plex_carol.id)
    again = await medianest_client(browser_of=client)
    resp = await again.post("/api/v1/auth/login", json={"username": "carol", "password": carol.password})
    assert resp.status == 200

    # The library is hers now: what is shared with her Plex account.
    page = await (await client.get("/plex/", headers=HTML)).text()
    assert '<a href="/plex/libraries/1">' in page
    assert "/plex/libraries/2" not in page
    assert "Sign in with Plex" not in words(page)
    films = await (await client.get("/api/v1/plex/libraries/1/items")).json()
    assert [item["title"] for item in films["items"]] == ["Alien", "Aliens"]


async def test_a_plex_account_of_another_person_is_not_linked(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake)
    bob = fake.add_account("bob")
    fake.share(bob, ["1"])
    assert (await sign_in_with_plex(client, fake, bob))["status"] == "signed_in"

    carols = await medianest_client(browser_of=client)
    carol = await sign_in(carols, "carol")
    answer = await sign_in_with_plex(carols, fake, bob, next_path="/plex/")
    assert answer["status"] == "refused"
    assert answer["message"] == (
        "Your Plex account bob signs in to another MediaNest account already: sign out and sign in with Plex to use "
        "that one, or ask the admin."
    )
    session = await (await carols.get("/api/v1/auth/session")).json()
    assert session["user"]["id"] == carol.user_id  # still signed in as herself
    assert (await carols.get("/api/v1/plex/libraries")).status == 403

    stranger = fake.add_account("eve")
    answer = await sign_in_with_plex(carols, fake, stranger, next_path="/plex/")
    assert answer["status"] == "refused"
    assert answer["message"].startswith("Your Plex account eve does not have access to Alice's Plex.")
    async with client.app[keys.RUNTIME].sessions() as db:
        assert await db.scalar(select(func.count()).select_from(PlexAccount)) == 1


async def test_search_says_plex_is_not_available_rather_than_failing(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake)
    await sign_in(client, "carol")
    found = await (await client.get("/api/v1/search?q=alien")).json()
    [plex] = [source for source in found["sources"] if source["id"] == "plex.library"]
    assert plex["state"] == "unavailable"
    assert plex["message"] == (
        "Plex: not available to you: sign in with Plex, on the Library page, to search the library."
    )
    assert "could not search" not in str(found)


async def test_a_password_account_s_dashboard_asks_nothing_it_is_refused(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake, refresh_interval=0.2)
    await sign_in(client, "carol")
    card = await dashboard_card(client)
    assert "data-plex-recent" not in card  # the strip that asked /api/v1/plex/recently-added and got a 403
    assert "Browse the library" not in card
    assert "The library opens with a Plex account: Library, in the menu, says how." in words(card)
    assert figures(card) == {}


async def test_the_card_counts_what_each_person_may_browse_by_library(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake, refresh_interval=0.2)
    bob = fake.add_account("bob")
    fake.share(bob, ["1", "3"])
    await sign_in_with_plex(client, fake, bob)
    card = await dashboard_card(client)
    # Bob's Films and the YouTube library, each under its own name; no series, and nobody's playing.
    assert figures(card) == {"Films": "2", "YouTube": "3"}
    assert "data-plex-recent" in card

    admin = await medianest_client(browser_of=client)
    await sign_in(admin, "root", role="admin")
    card = await dashboard_card(admin)
    assert figures(card) == {
        "Films": "2",
        "Shows": "1",
        "YouTube": "3",
        "Home videos": "1",
        "Music": "0",
        "Playing now": "2",
    }


async def test_two_browsers_linking_two_plex_accounts_at_once_link_one(medianest_client: Any, fake: FakePlex) -> None:
    """Carol starts linking in two browsers and approves a different Plex account in each; both finish at the same
    moment. One is linked; the other is told why not, never a 500."""
    one = await plex_client(medianest_client, fake)
    await sign_in(one, "carol")
    two = await medianest_client(browser_of=one)
    login = await two.post("/api/v1/auth/login", json={"username": "carol", "password": "carol-password-123"})
    assert login.status == 200
    first, second = fake.add_account("vera"), fake.add_account("walt")
    fake.share(first, ["1"])
    fake.share(second, ["1"])

    async def start(client: Any) -> int:
        before = set(fake.pins)
        page = await (await client.get("/auth/plex/pin?next=/plex/", headers={"Accept": "text/html"})).text()
        assert "Link your Plex account" in page
        return next(pin for pin in fake.pins if pin not in before and fake.pins[pin]["strong"])

    fake.approve_pin(await start(one), first)
    fake.approve_pin(await start(two), second)
    answers = await asyncio.gather(one.post("/api/v1/plex/login/poll"), two.post("/api/v1/plex/login/poll"))
    assert [a.status for a in answers] == [200, 200]
    states = sorted([(await a.json())["status"] for a in answers])
    assert states == ["refused", "signed_in"]
    runtime = one.app[keys.RUNTIME]
    async with runtime.sessions() as db:
        assert await db.scalar(select(func.count()).select_from(PlexAccount)) == 1
