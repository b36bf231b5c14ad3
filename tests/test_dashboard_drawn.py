"""The dashboard keeps what it drew (each card's HTML, and the page for each person) and draws again whatever
changed: a health check's new words, a card's age while its data is kept, a card whose template reads the clock,
the person, their theme. Each test first loads the page, so what is checked is what had been kept."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_dashboard import card_of, get, until

from medianest_core import hookimpl, keys
from medianest_core.testing import entry_point, sign_in
from medianest_core.types import Card, CardData, CardState, HealthCheck, HealthResult, HealthState, WebAssets


class Disks:
    """A service with two health checks (admins see a line for each) that are checked once an hour."""

    name = "disks"
    version = "1"

    @hookimpl
    def health_checks(self) -> list[HealthCheck]:
        async def space() -> HealthResult:
            return HealthResult(HealthState.DEGRADED, "disk 80% full")

        async def mount() -> HealthResult:
            return HealthResult(HealthState.UP)

        return [HealthCheck("space", space, interval=3600), HealthCheck("mount", mount, interval=3600)]


async def test_a_checks_new_words_show_on_the_next_dashboard(medianest_client: Any) -> None:
    client = await medianest_client(entry_points=[entry_point("disks", Disks())])
    await sign_in(client, "root", role="admin")
    states = client.app[keys.HEALTH].states

    async def checked() -> bool:
        return all(state.checked_at is not None for state in states)

    await until(checked)
    _, words = card_of(await get(client, "/"), "card-core-services")
    assert "space: disk 80% full" in words
    [space] = [state for state in states if state.check.name == "space"]
    space.result = HealthResult(HealthState.DEGRADED, "disk 95% full")  # as polling does: in place, same state
    _, words = card_of(await get(client, "/"), "card-core-services")
    assert "space: disk 95% full" in words
    assert "80%" not in words


def stamped(seconds_ago: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds_ago)


class Stamp:
    """A card loaded once (its data is then kept), stamped a little less than 45 s ago: "just now" for a moment,
    then "45 s ago". ``template`` is the card's own template (in ``templates``), if any."""

    name = "stamp"
    version = "1"

    def __init__(self, templates: Path | None = None, template: str | None = None) -> None:
        self.templates = templates
        self.template = template
        self.loads = 0

    @hookimpl
    def dashboard_cards(self) -> list[Card]:
        async def load() -> CardData:
            self.loads += 1
            if self.template is None:
                return CardData(CardState.OK, figures={"Films": 3}, updated_at=stamped(44.3))
            return CardData(CardState.OK, figures={"at": stamped(44.3)})  # type: ignore[dict-item]

        return [Card("films", "Films", load, template=self.template)]

    @hookimpl
    def web_assets(self) -> WebAssets:
        return WebAssets(templates=self.templates)


async def test_a_cards_age_moves_on_while_its_data_is_kept(medianest_client: Any) -> None:
    stamp = Stamp()
    client = await medianest_client(entry_points=[entry_point("stamp", stamp)])
    await sign_in(client, "alice")
    assert "Updated just now" in card_of(await get(client, "/"), "card-stamp-films")[1]
    await asyncio.sleep(1.0)
    _, words = card_of(await get(client, "/"), "card-stamp-films")
    assert re.search(r"Updated 4\d s ago", words), words
    assert stamp.loads == 1  # the same data, kept: only its age moved on


@pytest.mark.parametrize(
    "reads",
    [
        "card.data.figures['at'] | ago",
        "card.data.figures['at'] | ago(now)",
        'card.data.figures.values() | map("ago") | join',  # a filter named, not applied
    ],
)
async def test_a_card_whose_template_reads_the_clock_is_drawn_afresh(
    medianest_client: Any, tmp_path: Path, reads: str
) -> None:
    (tmp_path / "stamp").mkdir()
    (tmp_path / "stamp" / "card.html").write_text(f'<p class="loaded">Loaded {{{{ {reads} }}}}</p>\n')
    stamp = Stamp(tmp_path, "stamp/card.html")
    client = await medianest_client(entry_points=[entry_point("stamp", stamp)])
    await sign_in(client, "alice")
    assert "Loaded just now" in card_of(await get(client, "/"), "card-stamp-films")[1]
    await asyncio.sleep(1.0)
    _, words = card_of(await get(client, "/"), "card-stamp-films")
    assert re.search(r"Loaded 4\d s ago", words), words
    assert stamp.loads == 1


async def test_each_person_has_their_own_dashboard_in_their_theme(medianest_client: Any) -> None:
    alice_client = await medianest_client()
    alice = await sign_in(alice_client, "alice")
    bob_client = await medianest_client(browser_of=alice_client)
    bob = await sign_in(bob_client, "bob")
    for _ in range(2):
        for client, person, other in ((alice_client, alice, bob), (bob_client, bob, alice)):
            page = await get(client, "/")
            assert f"<h1>Hello, {person.username}</h1>" in page
            assert f'<meta name="csrf-token" content="{person.csrf_token}">' in page
            assert other.username not in page
            assert other.csrf_token not in page
    assert re.search(r'<html lang="en">', await get(alice_client, "/"))
    light = await alice_client.get("/", headers={"Accept": "text/html", "Cookie": "medianest_theme=light"})
    assert '<html lang="en" data-theme="light">' in await light.text()
    assert re.search(r'<html lang="en">', await get(alice_client, "/"))


class Counter:
    """A plugin that keeps one CardData and updates its figures dict in place (CardData is frozen, its
    figures Mapping is not), returning the same object from its loader."""

    name = "counter"
    version = "1"

    def __init__(self) -> None:
        self.figures: dict[str, int] = {"Queued": 1}
        self.data = CardData(CardState.OK, figures=self.figures)

    @hookimpl
    def dashboard_cards(self) -> list[Card]:
        async def load() -> CardData:
            return self.data

        return [Card("queue", "Queue", load)]


async def test_a_card_whose_figures_change_in_place_shows_the_new_figures(medianest_client: Any) -> None:
    counter = Counter()
    client = await medianest_client(entry_points=[entry_point("counter", counter)])
    await sign_in(client, "alice")
    assert "Queued 1" in card_of(await get(client, "/"), "card-counter-queue")[1]
    counter.figures["Queued"] = 9
    await asyncio.sleep(5.5)  # past CARD_SECONDS: the kept data is forgotten and loaded again
    _, words = card_of(await get(client, "/"), "card-counter-queue")
    # the card's own fragment (always drawn afresh) shows 9; the dashboard should too
    _, fragment = card_of(await get(client, "/dashboard/cards/counter/queue"), "card-counter-queue")
    assert "Queued 9" in fragment
    assert "Queued 9" in words, words
