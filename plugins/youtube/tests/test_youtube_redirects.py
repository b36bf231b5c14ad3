"""yt-dlp never reaches a host that is not allowed: not by a redirect of a page, a playlist entry or a video file, not
through ffmpeg. Two fake sites on 127.0.0.1: ``here`` is allowed, ``elsewhere`` (another port) is not, and counts
every request it receives.

Without ffmpeg these tests are skipped, unless ``MEDIANEST_REQUIRE_MEDIA_TESTS`` is set (as CI does), when they fail.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from medianest_youtube import YouTubePlugin
from medianest_youtube.fake import FeedItem, FeedServer, ffmpeg_available, make_media
from medianest_youtube.urls import HostRefused, guarded_ydl, host_allowed, media_host_allowed

from medianest_core.testing import entry_point, sign_in

if not ffmpeg_available():
    if os.environ.get("MEDIANEST_REQUIRE_MEDIA_TESTS"):
        raise RuntimeError("media tests need ffmpeg on PATH (apt-get install ffmpeg)")
    pytest.skip("no ffmpeg on PATH (apt-get install ffmpeg)", allow_module_level=True)

COURSE = [FeedItem("Knife skills", "vid-1", "knife"), FeedItem("Stock", "vid-2", "stock")]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return {name: make_media(folder, name, seconds=1.0) for name in ("knife", "stock")}


@pytest.fixture
async def here(clips: dict[str, Path]) -> AsyncIterator[FeedServer]:
    async with FeedServer() as server:
        for name, path in clips.items():
            server.add_media(name, path)
        server.add_feed("course", "Cooking Basics", COURSE)
        yield server


@pytest.fixture
async def elsewhere(clips: dict[str, Path]) -> AsyncIterator[FeedServer]:
    """The host that is not allowed: it would answer everything well, and records what it is asked."""
    async with FeedServer() as server:
        for name, path in clips.items():
            server.add_media(name, path)
            server.add_media(f"{name}.ts", path)
        server.add_feed("course", "Cooking Basics", COURSE)
        yield server


def host_of(server: FeedServer) -> str:
    return server.base_url.removeprefix("http://")


async def client_for(medianest_client: Any, here: FeedServer, tmp_path: Path) -> Any:
    section = {
        "library_root": str(tmp_path / "library"),
        "allowed_hosts": [host_of(here)],
        "extractors": ["generic"],
        "free_space_floor_mb": 0,
    }
    return await medianest_client(entry_points=[entry_point("youtube", YouTubePlugin())], plugins={"youtube": section})


async def eventually(condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await condition()
        if value:
            return value
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def downloaded(client: Any, who: Any, url: str) -> dict[str, Any]:
    """Queue ``url`` and wait for its end: ``waiting`` (no media library here), or ``failed``."""
    resp = await client.post("/api/v1/youtube/downloads", json={"url": url}, headers=who.headers)
    assert resp.status == 201, await resp.text()
    download_id = (await resp.json())["id"]

    async def ended() -> Any:
        doc = await (await client.get(f"/api/v1/youtube/downloads/{download_id}")).json()
        return doc if doc["state"] in ("waiting", "failed", "done") else None

    return dict(await eventually(ended))


def failures(doc: dict[str, Any]) -> dict[str, str]:
    return {e["title"]: e["error"] for e in doc["entries"] if e["state"] == "failed"}


async def test_a_link_redirected_elsewhere_is_refused_and_the_other_host_hears_nothing(
    medianest_client: Any, here: FeedServer, elsewhere: FeedServer, tmp_path: Path
) -> None:
    away = here.add_redirect("away", elsewhere.base_url + "/feeds/course.xml")
    client = await client_for(medianest_client, here, tmp_path)
    alice = await sign_in(client, "alice")

    resp = await client.post("/api/v1/youtube/preview", json={"url": away}, headers=alice.headers)
    assert resp.status == 422
    message = (await resp.json())["error"]["message"]
    assert message == f"That link could not be read: it leads to {host_of(elsewhere)}, which is not allowed."

    resp = await client.post("/api/v1/youtube/downloads", json={"url": away}, headers=alice.headers)
    assert resp.status == 422
    assert (await (await client.get("/api/v1/youtube/downloads")).json())["total"] == 0
    assert here.requests.count(("GET", "/redirects/away")) == 2
    assert elsewhere.requests == []


async def test_redirects_that_stay_on_allowed_hosts_still_work(
    medianest_client: Any, here: FeedServer, elsewhere: FeedServer, tmp_path: Path
) -> None:
    moved = here.add_redirect("moved", here.base_url + "/feeds/course.xml", status=301)
    here.add_redirect("knife.mp4", here.media_url("knife"))
    page = here.add_page("stock", "Stock", here.add_redirect("stock.mp4", here.media_url("stock"), status=307))
    here.add_feed(
        "moving",
        "Moving course",
        [FeedItem("Knife skills", "vid-1", here.base_url + "/redirects/knife.mp4"), FeedItem("Stock", "vid-2", page)],
    )
    client = await client_for(medianest_client, here, tmp_path)
    alice = await sign_in(client, "alice")

    resp = await client.post("/api/v1/youtube/preview", json={"url": moved}, headers=alice.headers)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["title"] == "Cooking Basics"

    done = await downloaded(client, alice, here.base_url + "/feeds/moving.xml")
    assert done["items"] == {"total": 2, "done": 2, "failed": 0}, done
    files = sorted(p.name for p in (tmp_path / "library" / done["folder"]).iterdir() if p.suffix == ".mp4")
    assert [name.split(" [")[0] for name in files] == ["Knife skills", "Stock"]
    assert elsewhere.requests == []


async def test_a_playlist_entry_redirected_elsewhere_fails_alone(
    medianest_client: Any, here: FeedServer, elsewhere: FeedServer, tmp_path: Path
) -> None:
    away = here.add_redirect("away.mp4", elsewhere.media_url("stock"))
    here.add_feed("mixed", "Mixed", [FeedItem("Knife skills", "vid-1", "knife"), FeedItem("Away", "vid-2", away)])
    client = await client_for(medianest_client, here, tmp_path)
    alice = await sign_in(client, "alice")

    done = await downloaded(client, alice, here.base_url + "/feeds/mixed.xml")
    assert done["items"] == {"total": 2, "done": 1, "failed": 1}, done
    assert failures(done) == {"Away": f"it leads to {host_of(elsewhere)}, which is not allowed"}
    assert elsewhere.requests == []


async def test_a_video_file_redirected_elsewhere_is_refused_when_it_is_downloaded(
    medianest_client: Any, here: FeedServer, elsewhere: FeedServer, tmp_path: Path
) -> None:
    # The page is read without fetching its file; the file's address answers with a redirect only then.
    page = here.add_page("trap", "Trap", here.add_redirect("file.mp4", elsewhere.media_url("knife")))
    here.add_feed("pages", "Pages", [FeedItem("Trap", "vid-9", page), FeedItem("Stock", "vid-2", "stock")])
    client = await client_for(medianest_client, here, tmp_path)
    alice = await sign_in(client, "alice")

    done = await downloaded(client, alice, here.base_url + "/feeds/pages.xml")
    assert done["items"] == {"total": 2, "done": 1, "failed": 1}, done
    assert failures(done) == {"Trap": f"it leads to {host_of(elsewhere)}, which is not allowed"}
    assert ("GET", "/redirects/file.mp4") in here.requests
    assert elsewhere.requests == []
    assert not [p for p in (tmp_path / "library" / done["folder"]).iterdir() if "vid-9" in p.name]


async def test_ffmpeg_never_fetches_for_yt_dlp(
    medianest_client: Any, here: FeedServer, elsewhere: FeedServer, tmp_path: Path
) -> None:
    # yt-dlp leaves an HLS stream with SAMPLE-AES to ffmpeg, which would fetch the segments itself.
    stream = here.add_hls("stream", [elsewhere.media_url("knife.ts")], key_method="SAMPLE-AES")
    here.add_feed("streams", "Streams", [FeedItem("Stream", "vid-7", stream), FeedItem("Stock", "vid-2", "stock")])
    client = await client_for(medianest_client, here, tmp_path)
    alice = await sign_in(client, "alice")

    done = await downloaded(client, alice, here.base_url + "/feeds/streams.xml")
    assert done["items"] == {"total": 2, "done": 1, "failed": 1}, done
    assert list(failures(done)) == ["Stream"]
    assert elsewhere.requests == []


async def test_a_live_stream_is_not_handed_to_ffmpeg(here: FeedServer, elsewhere: FeedServer, tmp_path: Path) -> None:
    from yt_dlp.utils import DownloadError

    stream = here.add_hls("live", [elsewhere.media_url("knife.ts")])
    live = {"id": "live-1", "title": "Live", "url": stream, "protocol": "m3u8", "ext": "mp4", "is_live": True}
    options = {"quiet": True, "no_warnings": True, "paths": {"home": str(tmp_path)}, "outtmpl": "%(id)s.%(ext)s"}

    def download() -> None:
        with guarded_ydl(options, [host_of(here)]) as ydl:
            ydl.process_ie_result(live, download=True)

    with pytest.raises(DownloadError, match="live stream"):
        await asyncio.to_thread(download)
    assert elsewhere.requests == []
    assert here.requests == []


async def test_checking_a_format_does_not_let_ffmpeg_fetch_either(
    here: FeedServer, elsewhere: FeedServer, tmp_path: Path
) -> None:
    from yt_dlp.utils import YoutubeDLError

    # yt-dlp tries a format it doubts (as it does for new YouTube videos) with options of its own, not MediaNest's.
    stream = here.add_hls("doubtful", [elsewhere.media_url("knife.ts")], key_method="SAMPLE-AES")
    doubtful = {"format_id": "hls", "url": stream, "protocol": "m3u8_native", "ext": "mp4", "__needs_testing": True}
    video = {"id": "vid-3", "title": "Doubtful", "extractor": "generic", "formats": [doubtful]}
    options = {"quiet": True, "no_warnings": True, "paths": {"home": str(tmp_path)}, "outtmpl": "%(id)s.%(ext)s"}

    def download() -> None:
        with guarded_ydl(options, [host_of(here)]) as ydl:
            ydl.process_ie_result(video, download=True)

    with pytest.raises(YoutubeDLError, match="format is not available"):
        await asyncio.to_thread(download)
    assert elsewhere.requests == []


async def test_each_hop_of_a_request_is_checked_inside_yt_dlps_networking(
    here: FeedServer, elsewhere: FeedServer
) -> None:
    """MediaNest's check sits in yt-dlp's urllib request handler, where it follows redirects (a private part of
    yt-dlp: this test fails if a new yt-dlp moves it)."""
    away = here.add_redirect("away", elsewhere.base_url + "/feeds/course.xml")
    moved = here.add_redirect("moved", here.base_url + "/feeds/course.xml")

    def fetch(url: str) -> tuple[str, bytes]:
        with guarded_ydl({"quiet": True}, [host_of(here)]) as ydl, ydl.urlopen(url) as response:
            return response.url, response.read()

    with pytest.raises(HostRefused) as refused:
        await asyncio.to_thread(fetch, away)
    assert refused.value.host == host_of(elsewhere)
    assert elsewhere.requests == []

    url, body = await asyncio.to_thread(fetch, moved)
    assert url == here.base_url + "/feeds/course.xml"
    assert b"<title>Cooking Basics</title>" in body


def test_the_check_of_each_request_has_no_length_limit_and_media_hosts_are_https() -> None:
    long_url = "http://127.0.0.1:8799/videoplayback?" + "a=1&" * 1000
    assert host_allowed(long_url, ["127.0.0.1:8799"])
    assert not host_allowed("http://127.0.0.1:8800/x", ["127.0.0.1:8799"])
    assert media_host_allowed("https://rr1---sn-x.googlevideo.com/videoplayback?" + "a=1&" * 1000, ["googlevideo.com"])
    assert not media_host_allowed("http://rr1---sn-x.googlevideo.com/videoplayback", ["googlevideo.com"])
    assert not media_host_allowed("https://googlevideo.com.evil.example/x", ["googlevideo.com"])
