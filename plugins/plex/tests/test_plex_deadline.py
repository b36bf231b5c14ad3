"""Browsing while Plex accepts connections and never answers: every call answers within ``upstream_timeout``
(plus a loose second), with the last known data marked stale where the API has a shape for it, else a 503 that
names Plex; concurrent callers of the same read share one call to Plex."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Final

import pytest
from medianest_plex import PlexPlugin
from medianest_plex.fake import FakePlex

from medianest_core import keys
from medianest_core.testing import entry_point, sign_in

TIMEOUT: Final = 1.0
SLACK: Final = 1.0
HTML = {"Accept": "text/html"}
MESSAGE = "Plex did not answer within 1 s; try again in a moment."


@pytest.fixture
async def fake() -> AsyncIterator[FakePlex]:
    plex = FakePlex(friendly_name="Alice's Plex")
    plex.add_section("1", "Films", "movie")
    plex.add_item("1", "Alien", year=1979)
    plex.add_item("1", "Aliens", year=1986)
    plex.add_collection("1", "Ripley", [])
    await plex.start()
    yield plex
    await plex.stop()


async def hung_plex_client(medianest_client: Any, fake: FakePlex) -> Any:
    """MediaNest with the Plex plugin and a one-second deadline; the breaker never opens, so that every call
    really waits on Plex."""
    section = {"url": fake.url, "plextv_url": fake.url, "token": fake.owner.token}
    return await medianest_client(
        entry_points=[entry_point("plex", PlexPlugin())],
        plugins={"plex": section},
        upstream_timeout=TIMEOUT,
        upstream_breaker_failures=1000,
        api_rate_limit="10000/minute",
    )


async def timed(client: Any, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any, float]:
    """Status, body (JSON for the API, text for a page) and seconds taken."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    resp = await client.get(path, headers=headers)
    body = await resp.json() if path.startswith("/api/") else await resp.text()
    return resp.status, body, loop.time() - started


async def test_every_browse_call_answers_within_the_deadline_while_plex_hangs(
    medianest_client: Any, fake: FakePlex
) -> None:
    client = await hung_plex_client(medianest_client, fake)
    await sign_in(client, "root", role="admin")
    server = await (await client.get("/api/v1/plex/server")).json()
    assert (server["name"], server["stale"]) == ("Alice's Plex", False)
    films = await (await client.get("/api/v1/plex/libraries/1/items")).json()
    alien = films["items"][0]
    upstream = client.app[keys.RUNTIME].plugins.get("plex").plugin.plex.server_upstream
    upstream._cache["info"].fresh_until = 0.0  # due for a refresh: the next answer asks Plex

    fake.hang = True
    status, body, took = await timed(client, "/api/v1/plex/server")
    assert took < TIMEOUT + SLACK
    assert status == 200
    assert (body["name"], body["stale"]) == ("Alice's Plex", True)  # the last known answer, with its age
    assert body["age_s"] > 0

    for path in (
        "/api/v1/plex/libraries",
        "/api/v1/plex/libraries/1/items",
        "/api/v1/plex/recently-added",
        "/api/v1/plex/collections",
        f"/api/v1/plex/items/{alien['id']}",
        alien["art"],
    ):
        status, body, took = await timed(client, path)
        assert took < TIMEOUT + SLACK, path
        assert status == 503, path
        assert body["error"]["code"] == "service_unavailable", path
        assert body["error"]["message"] == MESSAGE, path

    for path in ("/plex/", "/plex/libraries/1", f"/plex/items/{alien['id']}"):
        status, page, took = await timed(client, path, HTML)
        assert took < TIMEOUT + SLACK, path
        assert status == 503, path
        assert "<!doctype html>" in page.lower(), path
        assert MESSAGE in page, path


async def test_concurrent_callers_share_one_call_and_each_answers_in_time(
    medianest_client: Any, fake: FakePlex
) -> None:
    client = await hung_plex_client(medianest_client, fake)
    await sign_in(client, "root", role="admin")
    assert (await client.get("/api/v1/plex/libraries")).status == 200
    fake.hang = True
    asked = len(fake.calls)

    answers = await asyncio.gather(*(timed(client, "/api/v1/plex/libraries") for _ in range(30)))
    assert [status for status, _, _ in answers] == [503] * 30
    assert {body["error"]["message"] for _, body, _ in answers} == {MESSAGE}
    assert max(took for _, _, took in answers) < TIMEOUT + SLACK
    assert [call for call in fake.calls[asked:] if call == ("GET", "/library/sections")] == [
        ("GET", "/library/sections")
    ]
