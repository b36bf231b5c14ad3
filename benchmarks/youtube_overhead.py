"""YouTube downloads through MediaNest against plain yt-dlp: the same local playlist, the wall time of each.

A feed of ``--items`` clips (``medianest_youtube.fake``: one clip made with ffmpeg, 120 s at 640x360, served under
a name of its own per item, throttled to ``--rate`` bytes per second) is served in this process. *Plain* is
yt-dlp's Python API downloading the feed into a fresh folder with the options that decide what is fetched and
written as MediaNest sets them (format ``bv*+ba/b``, the generic extractor only, the same file names, quiet); it
runs in a child process that has imported yt-dlp once, timed from just before it is handed the feed until every
file is written. *MediaNest* is ``medianest serve`` on a fresh data directory with only the YouTube plugin, an
admin signed in with the page's live connection open: ``POST /api/v1/youtube/downloads``, timed from just before
the POST until the ``youtube.download`` event says the download is ``waiting`` (every file downloaded; there is
no media library to hand it to). Each run of either uses a new feed of the
same clips. After one warm-up of each, plain and MediaNest runs alternate ``--runs`` times; the figure is the
ratio of the medians.

    .venv/bin/python benchmarks/youtube_overhead.py [--items 5] [--runs 5] [--rate 2000000]

This is a measurement, not a test: it exits 0 when a figure is over its target and says ``OVER TARGET`` on that
line; it exits 1 when MediaNest does not start, or a download through it does not end with every item on disk.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Final

import aiohttp
from common import (
    BUNDLED_PLUGINS,
    bench_env,
    create_admin,
    sign_in,
    start_server,
    stop_server,
    verdict,
    wait_ready,
    without_plugins,
)
from medianest_youtube.fake import FeedItem, FeedServer, make_media

RATIO_TARGET: Final = 1.10
PASSWORD: Final = "youtube-password-123"
CLIP_SECONDS: Final = 120.0
CLIP_SIZE: Final = "640x360"
RUN_TIMEOUT_S: Final = 300.0
# What MediaNest's worker (``Run.options``) sets for the "best" quality when ffmpeg is there, as the clips need it.
FORMAT: Final = "bv*+ba/b"
OUTTMPL: Final = "%(title).150B [%(id).60B].%(ext)s"


def _import_ytdlp() -> None:
    import yt_dlp  # noqa: F401  (the child pays for the import once, as the server does)


def plain_download(url: str, folder: str) -> None:
    """Download the feed at ``url`` into ``folder`` with yt-dlp's Python API."""
    from yt_dlp import YoutubeDL

    options: dict[str, Any] = {
        "format": FORMAT,
        "merge_output_format": "mp4/mkv",
        "paths": {"home": folder, "temp": folder},
        "outtmpl": {"default": OUTTMPL},
        "windowsfilenames": True,
        "trim_file_name": 200,
        "allowed_extractors": ["generic"],
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
    }
    with YoutubeDL(options) as ydl:
        if ydl.download([url]) != 0:
            raise RuntimeError(f"yt-dlp could not download {url}")


def check_files(folder: Path, items: int, size: int, who: str) -> None:
    """``folder`` holds ``items`` finished files of ``size`` bytes, or the benchmark stops."""
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    sizes = sorted(p.stat().st_size for p in files)
    if sizes != [size] * items:
        raise SystemExit(f"{who} left {len(files)} file(s) of {sizes} bytes in {folder}, not {items} of {size}")


class Bench:
    """The feed server, the plain yt-dlp process and the signed-in MediaNest of one benchmark."""

    def __init__(self, feeds: FeedServer, items: int, clip_bytes: int, pool: ProcessPoolExecutor) -> None:
        self.feeds = feeds
        self.items = items
        self.clip_bytes = clip_bytes
        self.pool = pool
        self.feed_count = 0
        self.plain_root = Path(tempfile.mkdtemp(prefix="medianest-youtube-plain-"))
        self.library_root = Path(tempfile.mkdtemp(prefix="medianest-youtube-library-"))

    def new_feed(self) -> str:
        """A feed not downloaded before, of the same clips: MediaNest would refuse (409) or skip one it had."""
        self.feed_count += 1
        n = self.feed_count
        items = [FeedItem(f"Clip {i:02d}", f"run{n}-clip{i:02d}", f"clip-{i:02d}") for i in range(1, self.items + 1)]
        return self.feeds.add_feed(f"run-{n}", f"Benchmark playlist {n}", items)

    async def plain(self) -> float:
        url = self.new_feed()
        folder = self.plain_root / f"run-{self.feed_count}"
        folder.mkdir()
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            await loop.run_in_executor(self.pool, plain_download, url, str(folder))
        except Exception as exc:  # the benchmark's own side: its feed, or yt-dlp
            raise SystemExit(f"plain yt-dlp failed: {type(exc).__name__}: {exc}") from None
        elapsed = time.perf_counter() - started
        check_files(folder, self.items, self.clip_bytes, "plain yt-dlp")
        shutil.rmtree(folder)
        return elapsed

    async def medianest(
        self, session: aiohttp.ClientSession, socket: aiohttp.ClientWebSocketResponse, base: str, csrf: str
    ) -> float:
        url = self.new_feed()
        api = base + "/api/v1/youtube/downloads"
        started = time.perf_counter()
        async with session.post(api, json={"url": url, "quality": "best"}, headers={"X-CSRF-Token": csrf}) as r:
            if r.status != 201:
                raise SystemExit(f"the download was refused: {r.status} {await r.text()}")
            download_id = (await r.json())["id"]
        # The owner's page learns the end from the live event, as a browser does.
        while True:
            try:
                message = await socket.receive_json(timeout=max(RUN_TIMEOUT_S - (time.perf_counter() - started), 1))
            except TimeoutError:
                raise SystemExit(f"the download did not end within {RUN_TIMEOUT_S:g} s") from None
            doc = (message.get("data") or {}).get("download") or {}
            if doc.get("id") != download_id:
                continue
            if doc["state"] in ("waiting", "done"):
                elapsed = time.perf_counter() - started
                break
            if doc["state"] in ("failed", "cancelled"):
                raise SystemExit(f"the download ended {doc['state']}: {doc['error']}")
        async with session.get(f"{api}/{download_id}") as r:
            self.check_download(await r.json())
        return elapsed

    def check_download(self, doc: dict[str, Any]) -> None:
        """Every item done, recorded with the clip's size, and its file in the library folder with that size."""
        if doc["items"] != {"total": self.items, "done": self.items, "failed": 0}:
            raise SystemExit(f"MediaNest ended {doc['state']} with items {doc['items']}, not {self.items} done")
        sizes = sorted(entry["size"] for entry in doc["entries"])
        if sizes != [self.clip_bytes] * self.items:
            raise SystemExit(f"MediaNest recorded item sizes {sizes}, not {self.items} of {self.clip_bytes} bytes")
        check_files(self.library_root / doc["folder"], self.items, self.clip_bytes, "MediaNest")

    def cleanup(self) -> None:
        shutil.rmtree(self.plain_root, ignore_errors=True)
        shutil.rmtree(self.library_root, ignore_errors=True)


def figures(label: str, times: list[float]) -> str:
    ms = [t * 1000 for t in times]
    return f"{label:<13} median {statistics.median(ms):6.0f} ms  min {min(ms):6.0f} ms  max {max(ms):6.0f} ms"


async def run(bench: Bench, proc: subprocess.Popen[bytes], base: str, runs: int, rate: int | None) -> int:
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        await wait_ready(session, base, proc)
        csrf = await sign_in(session, base, "bench", PASSWORD)
        socket = await session.ws_connect(base.replace("http://", "ws://") + "/ws")
        await socket.send_json({"id": 1, "type": "subscribe", "topics": ["youtube.download"]})
        await socket.receive_json()
        await bench.plain()  # warm-up: yt-dlp imported and its extractors loaded on both sides
        await bench.medianest(session, socket, base, csrf)
        plain: list[float] = []
        medianest: list[float] = []
        for n in range(1, runs + 1):
            plain.append(await bench.plain())
            medianest.append(await bench.medianest(session, socket, base, csrf))
            print(
                f"run {n}/{runs}: plain {plain[-1] * 1000:.0f} ms, MediaNest {medianest[-1] * 1000:.0f} ms",
                file=sys.stderr,
            )
        served = f"served at {rate / 1e6:g} MB/s" if rate else "served unthrottled"
        print(
            f"medianest serve (youtube plugin only) and plain yt-dlp, a playlist of {bench.items} clips of "
            f"{bench.clip_bytes / 1e6:.1f} MB {served} on loopback, {runs} run(s) each after a warm-up"
        )
        plain_median = statistics.median(plain) * 1000
        mn_median = statistics.median(medianest) * 1000
        print(figures("plain yt-dlp", plain))
        # MediaNest's target is 1.10 times plain yt-dlp's median.
        print(f"{figures('MediaNest', medianest)}  {verdict(mn_median, round(plain_median * RATIO_TARGET))}")
        print(f"MediaNest / plain yt-dlp {mn_median / plain_median:.2f} (medians; target {RATIO_TARGET:.2f})")
        return 0
    finally:
        await session.close()


async def serve_and_run(args: argparse.Namespace, clip: Path, clip_bytes: int) -> int:
    feeds = FeedServer()
    host = await feeds.start()
    rate = args.rate or None
    for i in range(1, args.items + 1):
        feeds.add_media(f"clip-{i:02d}", clip, rate=rate)
    # Started only now, a fresh interpreter (not a fork of this one and its running loop) that imports yt-dlp once.
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_import_ytdlp)
    bench = Bench(feeds, args.items, clip_bytes, pool)
    env = bench_env(
        "youtube",
        MEDIANEST_YOUTUBE_LIBRARY_ROOT=str(bench.library_root),
        MEDIANEST_YOUTUBE_ALLOWED_HOSTS=host,
        MEDIANEST_YOUTUBE_EXTRACTORS="generic",
        MEDIANEST_YOUTUBE_FREE_SPACE_FLOOR_MB="0",
        MEDIANEST_YOUTUBE_IMPORT_RETRY_EVERY="3600",
        **without_plugins(*(name for name in BUNDLED_PLUGINS if name != "youtube")),
    )
    create_admin(env, "bench", PASSWORD)
    proc, base = start_server(env)
    try:
        return await run(bench, proc, base, args.runs, rate)
    finally:
        stop_server(proc)
        pool.shutdown()
        await feeds.stop()
        bench.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=5, help="clips in the playlist (default 5)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each, after a warm-up (default 5)")
    parser.add_argument(
        "--rate", type=int, default=2_000_000, help="bytes per second each clip is served at; 0: unthrottled"
    )
    args = parser.parse_args()
    if args.items < 1 or args.runs < 1 or args.rate < 0:
        parser.error("--items and --runs must be at least 1, --rate 0 or more")
    with tempfile.TemporaryDirectory(prefix="medianest-youtube-clips-") as tmp:
        clip = make_media(Path(tmp), "clip", seconds=CLIP_SECONDS, size=CLIP_SIZE)
        return asyncio.run(serve_and_run(args, clip, clip.stat().st_size))


if __name__ == "__main__":
    sys.exit(main())
