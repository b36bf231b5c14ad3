"""Scaled out: a download asked for on the web runs in a separate ``medianest worker`` process (Redis as the broker
and the event bridge), and its progress still reaches only its owner's open pages."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from medianest_youtube import YouTubePlugin
from medianest_youtube.fake import FeedItem, FeedServer, ffmpeg_available, make_media

from medianest_core.testing import entry_point, sign_in, start_worker, stop_worker

if not ffmpeg_available():
    if os.environ.get("MEDIANEST_REQUIRE_MEDIA_TESTS"):
        raise RuntimeError("media tests need ffmpeg on PATH (apt-get install ffmpeg)")
    pytest.skip("no ffmpeg on PATH (apt-get install ffmpeg)", allow_module_level=True)


@pytest.fixture
async def feeds(tmp_path: Path) -> AsyncIterator[FeedServer]:
    server = FeedServer()
    await server.start()
    for n in range(3):
        clip = make_media(tmp_path, f"clip{n}", seconds=2.0)
        # Throttled, so the download lasts long enough for progress to be reported along the way.
        server.add_media(f"clip{n}", clip, rate=max(clip.stat().st_size, 4096))
    server.add_feed("course", "Cooking Basics", [FeedItem(f"Part {n}", f"part-{n}", f"clip{n}") for n in range(3)])
    yield server
    await server.stop()


@pytest.mark.production
async def test_a_download_runs_in_a_worker_process_and_reports_to_its_owner_only(
    tmp_path: Path, feeds: FeedServer, medianest_redis_url: str, medianest_client: Any, medianest_data_dir: Path
) -> None:
    host = feeds.base_url.removeprefix("http://")
    library = tmp_path / "library"
    youtube = {
        "library_root": str(library),
        "allowed_hosts": [host],
        "extractors": ["generic"],
        "free_space_floor_mb": 0,
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIANEST_")}
    env.update(
        MEDIANEST_DATA_DIR=str(medianest_data_dir),
        MEDIANEST_BROKER_URL=medianest_redis_url,
        MEDIANEST_REDIS_URL=medianest_redis_url,
        MEDIANEST_YOUTUBE_LIBRARY_ROOT=str(library),
        MEDIANEST_YOUTUBE_ALLOWED_HOSTS=host,
        MEDIANEST_YOUTUBE_EXTRACTORS="generic",
        MEDIANEST_YOUTUBE_FREE_SPACE_FLOOR_MB="0",
    )
    client = await medianest_client(
        entry_points=[entry_point("youtube", YouTubePlugin())],
        broker_url=medianest_redis_url,
        redis_url=medianest_redis_url,
        plugins={"youtube": youtube},
    )
    other = await medianest_client(browser_of=client)
    alice = await sign_in(client, "alice")
    await sign_in(other, "bob")
    sockets = []
    for browser in (client, other):
        socket = await browser.ws_connect("/ws")
        await socket.send_json({"id": 1, "type": "subscribe", "topics": ["youtube.download"]})
        await socket.receive_json()
        sockets.append(socket)
    mine, theirs = sockets
    log = tmp_path / "worker.log"
    worker = await start_worker(env, log, "--threads", "2")
    try:
        resp = await client.post(
            "/api/v1/youtube/downloads", json={"url": feeds.base_url + "/feeds/course.xml"}, headers=alice.headers
        )
        assert resp.status == 201, await resp.text()
        created = await resp.json()
        seen: list[dict[str, Any]] = []
        while not seen or seen[-1]["state"] in ("queued", "running", "importing"):
            message = await mine.receive_json(timeout=60)
            seen.append(message["data"]["download"])
        items = {d["progress"].get("item") for d in seen if d["state"] == "running"}
        assert {1, 2, 3} <= items, seen[-1]
        # No media library in the worker (no Plex): the files are there, waiting to be added.
        assert seen[-1]["state"] == "waiting", seen[-1]
        assert seen[-1]["items"] == {"total": 3, "done": 3, "failed": 0}
        folder = library / created["folder"]
        assert sorted(p.name for p in folder.glob("*.mp4")) == [
            "Part 0 [part-0].mp4",
            "Part 1 [part-1].mp4",
            "Part 2 [part-2].mp4",
        ]
        with pytest.raises(asyncio.TimeoutError):
            await theirs.receive_json(timeout=0.5)
    finally:
        code = await stop_worker(worker)
    assert code == 0, log.read_text()
