"""What signed-in pages show is kept in memory between requests (``medianest_core.web.kept``), and is never out of
date once it changed: a card after its plugin says so (``card.updated``), the unread count after a notification
is added or read, the quick links after an admin changes them; on SQLite, and from one MediaNest to another on
PostgreSQL and Redis. Each test first loads the page, so what is checked is what had been kept."""

from __future__ import annotations

import asyncio
import re
import secrets
from datetime import UTC, datetime
from typing import Any

import pytest
from test_dashboard import HTML, card_of, get

from medianest_core import hookimpl, keys
from medianest_core.events import CardUpdated
from medianest_core.kept import Kept
from medianest_core.notifications import notify
from medianest_core.testing import add_user, entry_point, sign_in
from medianest_core.types import Card, CardData, CardState, Viewer


class Counter:
    """A card whose figure changes when the test says, and which counts how often it was loaded."""

    name = "counter"
    version = "1"

    def __init__(self) -> None:
        self.value = 1
        self.loads = 0

    @hookimpl
    def dashboard_cards(self) -> list[Card]:
        async def load(viewer: Viewer) -> CardData:
            self.loads += 1
            return CardData(CardState.OK, figures={"Count": self.value}, updated_at=datetime.now(UTC))

        return [Card("count", "Count", load_for=load)]


def unread_badge(page: str) -> str:
    found = re.search(r'id="unread-badge" data-count="(\d+)"', page)
    assert found is not None, "no unread count in the page"
    return found.group(1)


async def two_sides(medianest_client: Any, database_url: str, request: pytest.FixtureRequest, **kw: Any) -> Any:
    """The MediaNest where things change and the one that serves the page: the same one on SQLite, two on
    PostgreSQL with Redis between them."""
    if database_url.startswith("sqlite"):
        one = await medianest_client(database_url=database_url, **kw)
        return one, one
    redis = request.getfixturevalue("medianest_redis_url")
    acting = await medianest_client(database_url=database_url, redis_url=redis, **kw)
    serving = await medianest_client(settings=acting.app[keys.RUNTIME].loaded, **kw)
    return acting, serving


async def test_a_card_is_kept_until_its_plugin_says_it_changed(
    medianest_client: Any, medianest_database_url: str, request: pytest.FixtureRequest
) -> None:
    counter = Counter()
    acting, serving = await two_sides(
        medianest_client,
        medianest_database_url,
        request,
        entry_points=[entry_point("counter", counter)],
        login_rate_limit="1000000/minute",
    )
    name = f"cara-{secrets.token_hex(3)}"
    await sign_in(serving, name)
    assert "Count 1" in card_of(await get(serving, "/"), "card-counter-count")[1]
    counter.value = 2
    loads = counter.loads
    assert "Count 1" in card_of(await get(serving, "/"), "card-counter-count")[1]  # kept
    assert counter.loads == loads
    await acting.app[keys.RUNTIME].events.publish(CardUpdated(plugin="counter", key="count"))
    if acting is not serving:
        await asyncio.sleep(0.2)  # Redis carries the event to the other MediaNest
    assert "Count 2" in card_of(await get(serving, "/"), "card-counter-count")[1]
    # The card's own fragment, which open dashboards load when told it changed, is always fresh.
    counter.value = 3
    fragment = await serving.get("/dashboard/cards/counter/count", headers=HTML)
    assert "3" in card_of(await fragment.text(), "card-counter-count")[1]


async def test_the_unread_count_follows_new_and_read_notifications(
    medianest_client: Any, medianest_database_url: str, request: pytest.FixtureRequest
) -> None:
    acting, serving = await two_sides(
        medianest_client, medianest_database_url, request, login_rate_limit="1000000/minute"
    )
    name = f"uma-{secrets.token_hex(3)}"
    person = await sign_in(serving, name)
    before = await get(serving, "/")
    assert unread_badge(before) == "0"
    await notify(acting.app[keys.RUNTIME], [person.user_id], "Your film is ready")
    if acting is not serving:
        await asyncio.sleep(0.2)
    assert unread_badge(await get(serving, "/")) == "1"
    read = await serving.post("/api/v1/notifications/read-all", headers=person.headers)
    assert read.status == 200, await read.text()
    assert unread_badge(await get(serving, "/")) == "0"


async def test_quick_links_follow_the_admins_changes(medianest_client: Any) -> None:
    client = await medianest_client()
    admin = await sign_in(client, "root", role="admin")
    viewer = await medianest_client(browser_of=client)
    runtime = client.app[keys.RUNTIME]
    await add_user(runtime, "lee", "lee-password-123")
    login = await viewer.post("/api/v1/auth/login", json={"username": "lee", "password": "lee-password-123"})
    assert login.status == 200
    assert "Family photos" not in await get(viewer, "/")
    made = await client.post(
        "/api/v1/admin/links",
        json={"name": "Family photos", "url": "https://photos.example.org"},
        headers=admin.headers,
    )
    assert made.status == 201, await made.text()
    assert "Family photos" in await get(viewer, "/")
    link_id = (await made.json())["id"]
    gone = await client.delete(f"/api/v1/admin/links/{link_id}", headers=admin.headers)
    assert gone.status == 200
    assert "Family photos" not in await get(viewer, "/")


async def test_a_kept_answer_lives_its_time_and_an_overlapping_change_keeps_nothing() -> None:
    kept: Kept[str, int] = Kept(seconds=0.05)
    loads = 0

    async def load() -> int:
        nonlocal loads
        loads += 1
        return loads

    assert await kept.get("a", load) == 1
    assert await kept.get("a", load) == 1
    await asyncio.sleep(0.06)
    assert await kept.get("a", load) == 2

    async def overtaken() -> int:
        kept.forget()
        return 99

    assert await kept.get("b", overtaken) == 99
    assert await kept.get("b", load) == 3  # the overtaken answer was not kept
