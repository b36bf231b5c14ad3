"""After signing in with Plex, the page goes on only to a path of MediaNest (issue: open redirect after sign-in)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import pytest
from medianest_plex import PlexPlugin
from medianest_plex.fake import FakePlex

from medianest_core.testing import entry_point

HTML = {"Accept": "text/html"}


@pytest.fixture
async def fake() -> AsyncIterator[FakePlex]:
    plex = FakePlex(friendly_name="Alice's Plex")
    plex.add_section("1", "Films", "movie")
    await plex.start()
    yield plex
    await plex.stop()


@pytest.mark.parametrize(
    ("asked", "goes_to"),
    [
        ("/%09/evil.example/", "/"),
        ("/%5Cevil.example/", "/"),
        ("//evil.example/", "/"),
        ("/%2F%2Fevil.example", "/"),
        ("/plex/", "/plex/"),
    ],
)
async def test_the_pin_polls_next_is_a_path_of_medianest(
    medianest_client: Any, fake: FakePlex, asked: str, goes_to: str
) -> None:
    section = {"url": fake.url, "plextv_url": fake.url, "token": fake.owner.token}
    client = await medianest_client(entry_points=[entry_point("plex", PlexPlugin())], plugins={"plex": section})
    bob = fake.add_account("bob")
    fake.share(bob, ["1"])
    page = await client.get("/auth/plex/pin?next=" + quote(asked, safe="%/"), headers=HTML)
    text = await page.text()
    assert page.status == 200, text
    strong = next(pid for pid, pin in fake.pins.items() if pin["strong"] and pin["code"] in text)
    fake.approve_pin(strong, bob)
    answer = await (await client.post("/api/v1/plex/login/poll")).json()
    assert (answer["status"], answer["next"]) == ("signed_in", goes_to)
