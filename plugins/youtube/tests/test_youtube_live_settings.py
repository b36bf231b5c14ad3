"""YouTube's settings changed from the admin pages while MediaNest runs: what people are offered (qualities, the
default one, the room left) and where downloads go follow at once, in the API and on the page."""

from __future__ import annotations

from html import unescape
from pathlib import Path
from typing import Any

from medianest_youtube import YouTubePlugin

from medianest_core import keys
from medianest_core.testing import entry_point, sign_in

PUT = "/api/v1/admin/services/youtube"
MB = 1024 * 1024


async def test_changed_settings_are_what_people_are_offered_next(medianest_client: Any, tmp_path: Path) -> None:
    client = await medianest_client(
        entry_points=[entry_point("youtube", YouTubePlugin())],
        plugins={"youtube": {"library_root": str(tmp_path / "library")}},
    )
    admin = await sign_in(client, "root", role="admin")
    before = await (await client.get("/api/v1/youtube/limits")).json()
    assert (before["default_quality"], before["storage"]["floor_bytes"]) == ("best", 2048 * MB)

    values = {
        "qualities": ["720p", "480p"],
        "default_quality": "720p",
        "free_space_floor_mb": 0,
        "plex_library": "Home videos",
    }
    resp = await client.put(PUT, json={"values": values}, headers=admin.headers)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["status"] == "loaded"

    after = await (await client.get("/api/v1/youtube/limits")).json()
    assert (after["qualities"], after["default_quality"]) == (["720p", "480p"], "720p")
    assert after["storage"]["floor_bytes"] == 0
    # A quality no longer offered is refused by the next download.
    resp = await client.post(
        "/api/v1/youtube/downloads",
        json={"url": "https://www.youtube.com/playlist?list=PL0123456789", "quality": "best"},
        headers=admin.headers,
    )
    assert resp.status == 422, await resp.text()
    assert "720p, 480p" in (await resp.json())["error"]["message"] + str((await resp.json())["error"]["details"])

    # The next download (the actor, declared once at start) puts its videos into the library now named.
    runtime = client.app[keys.RUNTIME]
    downloader = runtime.plugins.get("youtube").plugin.downloader(runtime.contexts["youtube"])
    assert downloader.settings.plex_library == "Home videos"
    assert downloader.storage.floor == 0

    page = await client.get("/youtube/", headers={"Accept": "text/html"})
    assert page.status == 200
    html = unescape(await page.text())
    assert 'value="720p"' in html
    assert 'value="1080p"' not in html


async def test_downloads_at_once_follows_the_saved_number_for_the_next_download(
    medianest_client: Any, tmp_path: Path
) -> None:
    client = await medianest_client(
        entry_points=[entry_point("youtube", YouTubePlugin())],
        plugins={"youtube": {"library_root": str(tmp_path / "library")}},
    )
    admin = await sign_in(client, "root", role="admin")
    runtime = client.app[keys.RUNTIME]
    slots = runtime.plugins.get("youtube").plugin.downloader(runtime.contexts["youtube"]).slots  # the actor's

    # Two run at once by default: a third waits its turn.
    assert slots.acquire(timeout=0)
    assert slots.acquire(timeout=0)
    assert not slots.acquire(timeout=0)

    resp = await client.put(PUT, json={"values": {"concurrent_downloads": 3}}, headers=admin.headers)
    assert resp.status == 200, await resp.text()
    assert slots.acquire(timeout=0)  # the one waiting goes now

    resp = await client.put(PUT, json={"values": {"concurrent_downloads": 1}}, headers=admin.headers)
    assert resp.status == 200, await resp.text()
    for _ in range(3):  # the three running finish
        slots.release()
    assert slots.acquire(timeout=0)
    assert not slots.acquire(timeout=0)  # one at a time from now on
    slots.release()
