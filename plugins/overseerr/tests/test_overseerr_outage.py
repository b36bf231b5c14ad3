"""While another plugin reports Overseerr out (Uptime Kuma's monitor of it is down), Request buttons are greyed
with that reason and requests are refused at once; once it is back they are offered again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from medianest_overseerr.fake import FakeOverseerr
from overseerr_harness import Person, setup

DUNE = 438631
REASON = "Overseerr's monitor is down (since 10:42)"


@pytest.fixture
async def fake() -> AsyncIterator[FakeOverseerr]:
    made = FakeOverseerr()
    made.add_movie(DUNE, "Dune", 2021, popularity=80.0)
    await made.start()
    yield made
    await made.stop()


async def request_button(person: Person) -> dict[str, Any]:
    status, page = await person.call("GET", f"/api/v1/titles/movie/{DUNE}/facts")
    assert status == 200, page
    [button] = [a for a in page["actions"] if a["source"] == "overseerr.requests"]
    return button  # type: ignore[no-any-return]


async def test_request_is_greyed_with_the_outage_reason_while_overseerr_is_reported_out(
    medianest_client: Any, fake: FakeOverseerr
) -> None:
    made = await setup(medianest_client, fake)
    alice = await made.person("alice", plex_id=501)
    assert (await request_button(alice))["enabled"] is True

    await made.runtime.outages.report("overseerr", REASON)

    button = await request_button(alice)
    assert (button["label"], button["enabled"]) == ("Request", False)
    assert button["reason"] == f"Requests are paused: {REASON}"
    status, answer = await alice.call("POST", "/api/v1/overseerr/requests", json={"kind": "movie", "tmdb_id": DUNE})
    assert status == 503, answer
    assert REASON in answer["error"]["message"]
    assert not any(call.method == "POST" for call in fake.calls)  # nothing was asked of Overseerr

    await made.runtime.outages.report("overseerr", None)
    assert (await request_button(alice))["enabled"] is True
    status, answer = await alice.call("POST", "/api/v1/overseerr/requests", json={"kind": "movie", "tmdb_id": DUNE})
    assert status in (200, 201), answer
