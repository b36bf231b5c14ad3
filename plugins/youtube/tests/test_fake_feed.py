"""The fake feed server is read by yt-dlp's generic extractor as the plugin will meet it: yt-dlp runs for real,
offline, against 127.0.0.1.

Without ffmpeg these tests are skipped, unless ``MEDIANEST_REQUIRE_MEDIA_TESTS`` is set (as CI does), when they fail.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from medianest_youtube.fake import FeedItem, FeedServer, ffmpeg_available, make_media
from yt_dlp import YoutubeDL
from yt_dlp.utils import DownloadCancelled, DownloadError, unsmuggle_url

if not ffmpeg_available():
    if os.environ.get("MEDIANEST_REQUIRE_MEDIA_TESTS"):
        raise RuntimeError("media tests need ffmpeg on PATH (apt-get install ffmpeg)")
    pytest.skip("no ffmpeg on PATH (apt-get install ffmpeg)", allow_module_level=True)

CHANNEL = "Knife skills: 1/2 & more — ç"
ITEMS = [
    FeedItem("Knife skills: 1/2 & more — ç", "guid-a", "a"),
    FeedItem('Stock <basics> "quick"', "guid-b", "b"),
    FeedItem("Plain", "guid-c", "c"),
]
FILE_NAMES = {
    "guid-a": "Knife skills\N{FULLWIDTH COLON} 1\N{BIG SOLIDUS}2 & more — ç [guid-a].mp4",
    "guid-b": (
        "Stock \N{FULLWIDTH LESS-THAN SIGN}basics\N{FULLWIDTH GREATER-THAN SIGN} "
        "\N{FULLWIDTH QUOTATION MARK}quick\N{FULLWIDTH QUOTATION MARK} [guid-b].mp4"
    ),
    "guid-c": "Plain [guid-c].mp4",
}
"""What yt-dlp names each file with ``%(title)s [%(id)s].%(ext)s`` on Linux: ``/`` and ``:<>"`` become look-alikes."""


class _Log:
    """A yt-dlp ``logger`` that keeps warnings and errors instead of printing them."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.errors: list[str] = []

    def debug(self, message: str) -> None:
        pass

    def info(self, message: str) -> None:
        pass

    def warning(self, message: str) -> None:
        self.warnings.append(message)

    def error(self, message: str) -> None:
        self.errors.append(message)


def _options(home: Path, **extra: Any) -> dict[str, Any]:
    return {
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "allowed_extractors": ["generic"],
        "paths": {"home": str(home)},
        "outtmpl": "%(title)s [%(id)s].%(ext)s",
        **extra,
    }


async def _extract(url: str, options: dict[str, Any], *, download: bool = True) -> dict[str, Any]:
    """``extract_info`` in a worker thread, so the server keeps answering on this loop."""

    def work() -> dict[str, Any]:
        with YoutubeDL(options) as ydl:
            info: dict[str, Any] = ydl.sanitize_info(ydl.extract_info(url, download=download))
            return info

    return await asyncio.to_thread(work)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three one-second clips with different frame sizes, so each has its own bytes."""
    folder = tmp_path_factory.mktemp("clips")
    return {
        name: make_media(folder, name, size=size) for name, size in (("a", "160x120"), ("b", "128x96"), ("c", "96x72"))
    }


@pytest.fixture
async def server(clips: dict[str, Path]) -> AsyncIterator[FeedServer]:
    async with FeedServer() as fake:
        for name, path in clips.items():
            fake.add_media(name, path)
        yield fake


def _files(folder: Path) -> dict[str, bytes]:
    """File name -> content of each file in ``folder``."""
    return {path.name: path.read_bytes() for path in folder.iterdir()} if folder.exists() else {}


def _sizes(folder: Path) -> dict[str, int]:
    """File name -> size of each file in ``folder``."""
    return {path.name: path.stat().st_size for path in folder.iterdir()}


async def test_a_feed_is_a_playlist_of_its_items_and_downloads_them_all(
    server: FeedServer, clips: dict[str, Path], tmp_path: Path
) -> None:
    url = server.add_feed("kitchen", CHANNEL, ITEMS)

    flat = await _extract(url, _options(tmp_path, extract_flat="in_playlist"), download=False)
    assert (flat["_type"], flat["id"], flat["title"], flat["extractor"]) == ("playlist", url, CHANNEL, "generic")
    assert [entry["_type"] for entry in flat["entries"]] == ["url_transparent"] * 3
    assert [entry["title"] for entry in flat["entries"]] == [item.title for item in ITEMS]
    assert [unsmuggle_url(entry["url"]) for entry in flat["entries"]] == [
        (server.media_url(item.media), {"force_videoid": item.guid}) for item in ITEMS
    ]
    assert _files(tmp_path) == {}

    info = await _extract(url, _options(tmp_path))
    assert [entry["id"] for entry in info["entries"]] == ["guid-a", "guid-b", "guid-c"]
    assert [entry["playlist_title"] for entry in info["entries"]] == [CHANNEL] * 3
    assert [Path(entry["requested_downloads"][0]["filepath"]).name for entry in info["entries"]] == list(
        FILE_NAMES.values()
    )
    assert _files(tmp_path) == {FILE_NAMES[item.guid]: clips[item.media].read_bytes() for item in ITEMS}


async def test_a_throttled_item_takes_its_time_and_a_progress_hook_cancels_it(
    server: FeedServer, clips: dict[str, Path], tmp_path: Path
) -> None:
    size = clips["a"].stat().st_size
    url = server.add_media("slow", clips["a"], rate=size * 2)
    expected = size / (size * 2)

    started = time.monotonic()
    info = await _extract(url, _options(tmp_path / "whole"))
    elapsed = time.monotonic() - started
    assert elapsed >= 0.5 * expected
    assert info["requested_downloads"][0]["filepath"] == str(tmp_path / "whole" / "slow [slow].mp4")
    assert _files(tmp_path / "whole") == {"slow [slow].mp4": clips["a"].read_bytes()}

    def cancel_once_started(progress: dict[str, Any]) -> None:
        if progress["status"] == "downloading" and progress["downloaded_bytes"]:
            raise DownloadCancelled("stop")

    hook: Callable[[dict[str, Any]], None] = cancel_once_started
    started = time.monotonic()
    with pytest.raises(DownloadCancelled):
        await _extract(url, _options(tmp_path / "cancelled", progress_hooks=[hook]))
    assert time.monotonic() - started < expected
    assert {name: 0 < length < size // 2 for name, length in _sizes(tmp_path / "cancelled").items()} == {
        "slow [slow].mp4.part": True
    }


async def test_a_failed_item_fails_alone_and_is_the_only_one_fetched_on_retry(
    server: FeedServer, clips: dict[str, Path], tmp_path: Path
) -> None:
    url = server.add_feed("kitchen", CHANNEL, ITEMS)
    server.set_media("b", status=404)
    archive = tmp_path / "archive.txt"
    log = _Log()
    options = _options(tmp_path / "out", ignoreerrors=True, download_archive=str(archive), logger=log)

    info = await _extract(url, options)
    assert [entry and entry["id"] for entry in info["entries"]] == ["guid-a", None, "guid-c"]
    assert len(log.errors) == 1
    assert log.errors[0].startswith("ERROR: [generic] guid-b: Unable to download webpage: HTTP Error 404")
    assert archive.read_text().splitlines() == ["generic guid-a", "generic guid-c"]
    assert set(_files(tmp_path / "out")) == {FILE_NAMES["guid-a"], FILE_NAMES["guid-c"]}

    server.set_media("b")
    server.requests.clear()
    info = await _extract(url, options)
    assert ["requested_downloads" in entry for entry in info["entries"]] == [False, True, False]
    assert archive.read_text().splitlines() == ["generic guid-a", "generic guid-c", "generic guid-b"]
    assert _files(tmp_path / "out") == {FILE_NAMES[item.guid]: clips[item.media].read_bytes() for item in ITEMS}
    # The generic extractor opens each item (headers only) before it knows the id the archive is keyed by; only
    # the failed one is opened a second time, to be downloaded.
    assert server.requests == [
        ("GET", "/feeds/kitchen.xml"),
        ("GET", "/media/a"),
        ("GET", "/media/b"),
        ("GET", "/media/b"),
        ("GET", "/media/c"),
    ]


async def test_a_range_request_gets_206_and_those_bytes(server: FeedServer, clips: dict[str, Path]) -> None:
    data = clips["a"].read_bytes()
    size = len(data)
    url = server.media_url("a")
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers={"Range": "bytes=100-199"}) as response:
            assert response.status == 206
            assert response.headers["Content-Range"] == f"bytes 100-199/{size}"
            assert response.content_type == "video/mp4"
            assert await response.read() == data[100:200]
        async with session.get(url, headers={"Range": "bytes=-10"}) as response:
            assert (response.status, await response.read()) == (206, data[-10:])
        async with session.get(url, headers={"Range": f"bytes={size}-"}) as response:
            assert (response.status, response.headers["Content-Range"]) == (416, f"bytes */{size}")
        async with session.get(url) as response:
            assert (response.status, response.content_length, await response.read()) == (200, size, data)


async def test_a_truncated_download_fails_then_resumes_with_a_range(
    server: FeedServer, clips: dict[str, Path], tmp_path: Path
) -> None:
    data = clips["a"].read_bytes()
    url = server.add_media("cut", clips["a"], truncate=True)

    # yt-dlp says it one of two ways, as the connection's end reaches it before or after its own count.
    half, rest = len(data) // 2, len(data) - len(data) // 2
    cut_short = f"Downloaded {half} bytes, expected {len(data)} bytes|{half} bytes read, {rest} more expected"
    with pytest.raises(DownloadError, match=cut_short):
        await _extract(url, _options(tmp_path, logger=_Log()))
    # What reached the disk: all the server sent, or (when the end came as an error) its whole blocks.
    kept = _sizes(tmp_path)["cut [cut].mp4.part"]
    assert 0 < kept <= half

    server.set_media("cut")
    info = await _extract(url, _options(tmp_path))
    assert server.ranges == [("/media/cut", f"bytes={kept}-")]
    assert _files(tmp_path) == {"cut [cut].mp4": data}
    assert info["requested_downloads"][0]["filepath"] == str(tmp_path / "cut [cut].mp4")
