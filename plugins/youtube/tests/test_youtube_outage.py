"""While another plugin reports YouTube, or the media library downloads go into (Plex), out, a new download is
refused at once with a 503 naming the reason and nothing is read or queued; once both are back it is read again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from medianest_plex import PlexPlugin
from medianest_plex.fake import FakePlex
from medianest_youtube import YouTubePlugin

from medianest_core import keys
from medianest_core.testing import entry_point, sign_in

PLAYLIST = "https://www.youtube.com/playlist?list=PLcooking"


@pytest.fixture
async def plex(tmp_path: Path) -> AsyncIterator[FakePlex]:
    fake = FakePlex(friendly_name="Home Plex")
    (tmp_path / "library").mkdir()
    fake.add_section("7", "YouTube", "movie", location=str(tmp_path / "library"))
    await fake.start()
    yield fake
    await fake.stop()


async def test_new_downloads_answer_503_with_the_reason_while_youtube_or_plex_is_reported_out(
    medianest_client: Any, plex: FakePlex, tmp_path: Path
) -> None:
    client = await medianest_client(
        entry_points=[entry_point("youtube", YouTubePlugin()), entry_point("plex", PlexPlugin())],
        plugins={
            # YouTube itself is not an allowed site here: once the gate is open, the link is refused by its own
            # check, before anything leaves the machine.
            "youtube": {
                "library_root": str(tmp_path / "library"),
                "free_space_floor_mb": 0,
                "allowed_hosts": ["videos.invalid"],
            },
            "plex": {"url": plex.url, "plextv_url": plex.url, "token": plex.owner.token},
        },
    )
    alice = await sign_in(client, "alice")
    outages = client.app[keys.RUNTIME].outages

    async def download() -> tuple[int, Any]:
        resp = await client.post("/api/v1/youtube/downloads", json={"url": PLAYLIST}, headers=alice.headers)
        return resp.status, await resp.json()

    for service, reason in (
        ("plex", "Plex's monitor is down (since 10:42)"),
        ("youtube", "YouTube's monitor is down (since 11:05)"),
    ):
        await outages.report(service, reason)
        status, answer = await download()
        assert status == 503, answer
        assert answer["error"]["code"] == "service_unavailable"
        assert reason in answer["error"]["message"]
        assert answer["error"]["details"] == {"service": service, "reason": reason}
        await outages.report(service, None)

    listed = await (await client.get("/api/v1/youtube/downloads")).json()
    assert listed["downloads"] == []  # nothing was queued
    status, answer = await download()  # both back: the link is checked again (and refused for its own reason)
    assert status == 400, answer
    assert "url" in answer["error"]["details"]["fields"]
