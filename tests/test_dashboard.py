"""Dashboard cards as a person's browser receives them: a card whose figures are the viewer's own, a card whose
loaders break the rule, a card whose service's health check finds it down, and the age a card shows."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import attrs

from medianest_core import hookimpl, keys
from medianest_core.plugins import PluginStatus
from medianest_core.testing import entry_point, sign_in
from medianest_core.types import Card, CardData, CardState, HealthCheck, HealthResult, HealthState, Viewer
from medianest_core.web.shell import ago

HTML = {"Accept": "text/html"}


def card_of(page: str, dom_id: str) -> tuple[str, str]:
    """The state (the card's class) and the words of one card of a page."""
    found = re.search(rf'(?s)<section class="card (\w+)" id="{dom_id}".*?</section>', page)
    assert found is not None, f"no card {dom_id} in the page"
    inline = re.sub(r"</?time[^>]*>", "", found.group(0))  # a <time> is read as part of its sentence
    words = " ".join(unescape(re.sub(r"<[^>]+>", " ", inline)).split())
    return found.group(1), words


async def get(client: Any, path: str) -> str:
    resp = await client.get(path, headers=HTML)
    text: str = await resp.text()
    assert resp.status == 200, text
    return text


class Shelf:
    """A card of each person's own films (``load_for``), and one that is the same for everyone (``load``)."""

    name = "shelf"
    version = "1"

    def __init__(self) -> None:
        self.films: dict[int, int] = {}
        self.seen: list[Viewer] = []

    @hookimpl
    def dashboard_cards(self) -> list[Card]:
        async def mine(viewer: Viewer) -> CardData:
            self.seen.append(viewer)
            figures = {"Your films": self.films.get(viewer.user_id, 0)}
            if viewer.is_admin:
                figures["Everyone's films"] = sum(self.films.values())
            return CardData(CardState.OK, figures=figures, updated_at=datetime.now(UTC))

        async def shared() -> CardData:
            return CardData(CardState.OK, figures={"Shelves": 3}, updated_at=datetime.now(UTC))

        return [Card("mine", "My shelf", load_for=mine, order=1), Card("all", "Shelves", shared, order=2)]


async def test_a_card_with_load_for_shows_each_viewer_their_own_figures(medianest_client: Any) -> None:
    shelf = Shelf()
    client = await medianest_client(entry_points=[entry_point("shelf", shelf)])
    alice = await sign_in(client, "alice")
    bob_client = await medianest_client(browser_of=client)
    bob = await sign_in(bob_client, "bob")
    root_client = await medianest_client(browser_of=client)
    root = await sign_in(root_client, "root", role="admin")
    shelf.films = {alice.user_id: 4, bob.user_id: 7}

    for path in ("/", "/dashboard/cards/shelf/mine"):
        state, words = card_of(await get(client, path), "card-shelf-mine")
        assert state == "ok"
        assert "Your films 4" in words
        assert "7" not in words
        assert "Everyone" not in words
        _, words = card_of(await get(bob_client, path), "card-shelf-mine")
        assert "Your films 7" in words
        assert "4" not in words
        _, words = card_of(await get(root_client, path), "card-shelf-mine")
        assert "Your films 0 Everyone's films 11" in words
    assert {(v.user_id, v.is_admin) for v in shelf.seen} == {
        (alice.user_id, False),
        (bob.user_id, False),
        (root.user_id, True),
    }
    _, words = card_of(await get(bob_client, "/"), "card-shelf-all")
    assert "Shelves 3" in words  # a card with load is unchanged


class Lopsided:
    """A plugin whose card is given both loaders."""

    name = "lopsided"
    version = "1"

    @hookimpl
    def dashboard_cards(self) -> list[Card]:
        async def shared() -> CardData:
            return CardData(CardState.OK)

        async def mine(viewer: Viewer) -> CardData:
            return CardData(CardState.OK)

        return [Card("both", "Both", shared, load_for=mine)]


class Sneaky:
    """A plugin with a good card and one built with attrs' validators turned off, so that it has no loader."""

    name = "sneaky"
    version = "1"

    @hookimpl
    def dashboard_cards(self) -> list[Card]:
        async def fine() -> CardData:
            return CardData(CardState.OK, figures={"Fine": 1})

        with attrs.validators.disabled():
            empty = Card("empty", "Empty")
        return [empty, Card("fine", "Fine card", fine)]


async def test_a_card_with_both_loaders_or_neither_is_left_out_and_the_dashboard_works(
    medianest_client: Any,
) -> None:
    client = await medianest_client(
        entry_points=[
            entry_point("lopsided", Lopsided()),
            entry_point("sneaky", Sneaky()),
            entry_point("shelf", Shelf()),
        ]
    )
    await sign_in(client, "alice")
    page = await get(client, "/")
    assert 'id="card-lopsided-both"' not in page
    assert 'id="card-sneaky-empty"' not in page
    assert card_of(page, "card-sneaky-fine")[0] == "ok"
    assert card_of(page, "card-shelf-mine")[0] == "ok"
    resp = await client.get("/dashboard/cards/sneaky/empty", headers=HTML)
    assert resp.status == 404

    plugins = client.app[keys.RUNTIME].plugins
    lopsided = plugins.get("lopsided")
    assert lopsided.status is PluginStatus.STARTUP_FAILED  # the card raised where the plugin built it
    assert "exactly one of load" in (lopsided.reason or "")
    assert "given both" in (lopsided.reason or "")
    assert plugins.get("sneaky").status is PluginStatus.LOADED  # only the bad card is dropped


class Flaky:
    """A service with a health check that can be made to fail, and cards that read what was stored."""

    name = "flaky_tv"
    version = "1"

    def __init__(self, interval: float = 0.05) -> None:
        self.healthy = True
        self.interval = interval

    @hookimpl
    def health_checks(self) -> list[HealthCheck]:
        async def check() -> HealthResult:
            if self.healthy:
                return HealthResult(HealthState.UP)
            raise ConnectionError("flaky at 10.0.0.7 refused the connection")

        return [HealthCheck("service", check, interval=self.interval, timeout=1)]

    @hookimpl
    def dashboard_cards(self) -> list[Card]:
        async def shows() -> CardData:
            return CardData(CardState.OK, figures={"Shows": 9}, updated_at=datetime.now(UTC) - timedelta(minutes=10))

        async def own_words() -> CardData:
            return CardData(CardState.UNAVAILABLE, message="Flaky refuses our key.")

        return [Card("shows", "Shows", shows, order=1), Card("key", "Key", own_words, order=2)]


async def until(condition: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_card_whose_service_is_down_is_greyed_out_with_the_reason_and_keeps_its_figures(
    medianest_client: Any,
) -> None:
    flaky = Flaky()
    client = await medianest_client(entry_points=[entry_point("flaky_tv", flaky), entry_point("shelf", Shelf())])
    await sign_in(client, "alice")
    state, words = card_of(await get(client, "/"), "card-flaky_tv-shows")
    assert state == "ok"
    assert "not answering" not in words

    flaky.healthy = False

    async def greyed() -> bool:
        return card_of(await get(client, "/dashboard/cards/flaky_tv/shows"), "card-flaky_tv-shows")[0] != "ok"

    await until(greyed)
    for path in ("/", "/dashboard/cards/flaky_tv/shows"):
        page = await get(client, path)
        state, words = card_of(page, "card-flaky_tv-shows")
        assert state == "unavailable"
        assert '<span class="state state-unavailable">unavailable</span>' in page
        assert "Flaky tv is not answering (checked just now); what is shown may be out of date." in words
        assert "Shows 9" in words
        assert "Updated 10 min ago" in words
        assert "10.0.0.7" not in page
    page = await get(client, "/")
    state, words = card_of(page, "card-flaky_tv-key")
    assert (state, "not answering" in words) == ("unavailable", False)  # it said why already
    assert "Flaky refuses our key." in words
    assert card_of(page, "card-shelf-mine")[0] == "ok"  # other plugins' cards are not touched

    flaky.healthy = True

    async def back() -> bool:
        return card_of(await get(client, "/dashboard/cards/flaky_tv/shows"), "card-flaky_tv-shows")[0] == "ok"

    await until(back)
    assert "not answering" not in card_of(await get(client, "/"), "card-flaky_tv-shows")[1]


async def test_the_line_says_how_long_ago_the_service_was_checked(medianest_client: Any) -> None:
    flaky = Flaky(interval=3600)
    flaky.healthy = False
    client = await medianest_client(entry_points=[entry_point("flaky_tv", flaky)])
    await sign_in(client, "alice")
    [check] = client.app[keys.HEALTH].states

    async def checked() -> bool:
        return check.checked_at is not None

    await until(checked)
    check.checked_at -= timedelta(minutes=2)  # the next check is an hour away
    _, words = card_of(await get(client, "/dashboard/cards/flaky_tv/shows"), "card-flaky_tv-shows")
    assert "Flaky tv is not answering (checked 2 min ago); what is shown may be out of date." in words


class Fresh:
    """A card stamped with the moment it was loaded."""

    name = "fresh"
    version = "1"

    @hookimpl
    def dashboard_cards(self) -> list[Card]:
        async def load() -> CardData:
            await asyncio.sleep(0.01)
            return CardData(CardState.OK, figures={"Items": 1}, updated_at=datetime.now(UTC))

        return [Card("now", "Now", load)]


async def test_a_card_stamped_while_it_loads_reads_just_now_never_in_0_s(medianest_client: Any) -> None:
    client = await medianest_client(entry_points=[entry_point("fresh", Fresh())])
    await sign_in(client, "alice")
    for path in ("/dashboard/cards/fresh/now", "/"):
        _, words = card_of(await get(client, path), "card-fresh-now")
        assert "Updated just now" in words
        assert " in " not in words


def test_a_moment_a_few_seconds_ahead_is_just_now_and_one_further_ahead_is_not() -> None:
    now = datetime(2026, 1, 3, 12, 0, tzinfo=UTC)
    assert ago(now + timedelta(seconds=0.4), now) == "just now"
    assert ago(now + timedelta(seconds=4), now) == "just now"
    assert ago(now + timedelta(minutes=2), now) == "in 2 min"
    assert ago(now - timedelta(minutes=2), now) == "2 min ago"
