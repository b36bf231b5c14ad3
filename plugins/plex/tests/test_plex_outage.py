"""While another plugin reports Plex out (Uptime Kuma's monitor of it is down), browsing answers a 503 naming the
reason at once, pages included, without asking Plex; once it is back browsing works again."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from typing import Any

import pytest
from medianest_plex import PlexPlugin
from medianest_plex.fake import FakePlex

from medianest_core import keys
from medianest_core.testing import entry_point, sign_in

HTML = {"Accept": "text/html"}
REASON = "Plex's monitor is down (since 10:42)"


@pytest.fixture
async def fake() -> AsyncIterator[FakePlex]:
    plex = FakePlex(friendly_name="Home Plex")
    plex.add_section("1", "Films", "movie")
    plex.add_item("1", "Alien", year=1979)
    await plex.start()
    yield plex
    await plex.stop()


async def test_browsing_answers_503_with_the_outage_reason_while_plex_is_reported_out(
    medianest_client: Any, fake: FakePlex
) -> None:
    section = {"url": fake.url, "plextv_url": fake.url, "token": fake.owner.token}
    client = await medianest_client(entry_points=[entry_point("plex", PlexPlugin())], plugins={"plex": section})
    await sign_in(client, "root", role="admin")
    resp = await client.get("/api/v1/plex/libraries")
    assert resp.status == 200
    assert [lib["title"] for lib in (await resp.json())["libraries"]] == ["Films"]

    outages = client.app[keys.RUNTIME].outages
    await outages.report("plex", REASON)
    asked = len(fake.calls)
    resp = await client.get("/api/v1/plex/libraries")
    body = await resp.json()
    assert resp.status == 503, body
    assert body["error"]["code"] == "service_unavailable"
    assert REASON in body["error"]["message"]
    assert body["error"]["details"] == {"service": "plex", "reason": REASON}
    page = await client.get("/plex/", headers=HTML)
    assert page.status == 503
    assert REASON in html.unescape(await page.text())
    assert len(fake.calls) == asked  # Plex itself was not asked

    await outages.report("plex", None)
    resp = await client.get("/api/v1/plex/libraries")
    assert resp.status == 200
