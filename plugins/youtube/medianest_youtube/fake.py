"""Media files and an RSS feed of them, served by aiohttp on 127.0.0.1, for offline tests and benchmarks.

yt-dlp's generic extractor reads each feed as a playlist: ``id`` is the feed URL, ``title`` the channel title, and
there is one ``url_transparent`` entry per ``<item>`` pointing at its enclosure, with the id forced to its ``<guid>``.
A media URL answers ``video/mp4`` (or ``audio/*``) with a Content-Length, so the extractor takes it as a direct link.

For the paths a real site takes, the server also answers redirects (``add_redirect``), video pages whose file is
only fetched when downloading (``add_page``) and HLS playlists (``add_hls``). A second server on another port plays
a host that is not allowed: ``requests`` lists everything it received.

Usage::

    clip = make_media(tmp_path, "clip")
    async with FeedServer() as server, FeedServer() as elsewhere:
        server.add_media("clip", clip, rate=50_000)
        url = server.add_feed("chan", "Channel", [FeedItem("Clip", "guid-1", "clip")])
        away = server.add_redirect("away.mp4", elsewhere.base_url + "/media/clip")
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import mimetypes
import re
import shutil
import subprocess
import time
import urllib.parse
from pathlib import Path
from types import TracebackType
from typing import Self
from xml.sax.saxutils import escape, quoteattr

import attrs
from aiohttp import web
from aiohttp.typedefs import Handler

__all__ = ["FeedItem", "FeedServer", "ffmpeg_available", "make_media"]

_SIZE = re.compile(r"[1-9]\d{0,4}x[1-9]\d{0,4}")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".m4a": "audio/mp4",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".flac": "audio/flac",
    ".wav": "audio/wav",
}
_CHUNKS_PER_SECOND = 20
"""How often a throttled response writes; each write is ``rate / 20`` bytes."""
_BLOCK = 64 * 1024


def ffmpeg_available() -> bool:
    """Whether an ``ffmpeg`` executable is on PATH."""
    return shutil.which("ffmpeg") is not None


@functools.cache
def _video_codec(ffmpeg: str) -> tuple[str, ...]:
    """Encoder arguments: libx264 at its fastest preset when this ffmpeg has it, else MPEG-4 part 2."""
    encoders = subprocess.run(
        [ffmpeg, "-hide_banner", "-encoders"], capture_output=True, text=True, check=False, timeout=30
    ).stdout
    if re.search(r"^\s*V\S*\s+libx264\s", encoders, re.MULTILINE):
        return ("-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency")
    return ("-c:v", "mpeg4", "-q:v", "10")


def make_media(folder: Path, name: str, seconds: float = 1.0, size: str = "160x120", audio: bool = True) -> Path:
    """Encode ``folder/<name>.mp4``: a ``testsrc`` picture of ``size`` (``WxH``), plus a 440 Hz tone when ``audio``.

    Raises :class:`RuntimeError` when ffmpeg is missing or fails, :class:`ValueError` on a bad argument.
    """
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("make_media needs ffmpeg on PATH (apt-get install ffmpeg)")
    if not _SIZE.fullmatch(size):
        raise ValueError(f"size must look like 160x120, got {size!r}")
    if not 0 < seconds <= 3600:
        raise ValueError(f"seconds must be in (0, 3600], got {seconds}")
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"not a plain file name: {name!r}")
    target = folder / f"{name}.mp4"
    args = [ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size={size}:rate=10:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=22050:duration={seconds}"]
    args += [*_video_codec(ffmpeg), "-pix_fmt", "yuv420p"]
    args += ["-c:a", "aac", "-b:a", "32k"] if audio else ["-an"]
    args += ["-movflags", "+faststart", str(target)]
    done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg exited with {done.returncode}: {done.stderr.strip()}")
    return target


@attrs.frozen
class FeedItem:
    """One ``<item>`` of a feed: its title, its guid (the id yt-dlp gives the entry) and the name of its media, or
    an address (``http://...``: a page, a redirect, a playlist) for an item that is not a plain file."""

    title: str
    guid: str
    media: str


@attrs.define
class _Media:
    path: Path
    content_type: str
    rate: int | None
    status: int | None
    truncate: bool


@attrs.define
class _Feed:
    title: str
    items: list[FeedItem]


def _is_address(media: str) -> bool:
    return "://" in media


def _content_type(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in _CONTENT_TYPES:
        return _CONTENT_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed if guessed and guessed.startswith(("video/", "audio/")) else "video/mp4"


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive ``(first, last)`` byte positions a ``Range`` header asks for; None for the whole file.

    Raises :class:`web.HTTPRequestRangeNotSatisfiable` for a range outside the file.
    """
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None
    start, end = match.groups()
    if start == "":
        first, last = max(size - int(end), 0), size - 1
    else:
        first, last = int(start), min(int(end), size - 1) if end else size - 1
    if size == 0 or first >= size or first > last:
        raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
    return first, last


class FeedServer:
    """Media files under ``/media/<name>`` and RSS 2.0 feeds under ``/feeds/<name>.xml``, on 127.0.0.1."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        """(method, path) of every request received, in order."""
        self.ranges: list[tuple[str, str]] = []
        """(path, Range header) of every request that had a Range header, in order."""
        self._media: dict[str, _Media] = {}
        self._feeds: dict[str, _Feed] = {}
        self._redirects: dict[str, tuple[str, int]] = {}
        self._pages: dict[str, tuple[str, str]] = {}
        self._playlists: dict[str, str] = {}
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._closing = asyncio.Event()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``; known from the first :meth:`start`."""
        if not self._port:
            raise RuntimeError("FeedServer has not been started")
        return f"http://127.0.0.1:{self._port}"

    async def start(self, port: int = 0) -> str:
        """Listen on 127.0.0.1 and return ``127.0.0.1:PORT``; port 0 picks a free port the first time and reuses it
        after a :meth:`stop`."""
        if self._runner is not None:
            raise RuntimeError("FeedServer is already started")
        self._closing = asyncio.Event()
        app = web.Application(middlewares=[self._record])
        app.add_routes(
            [
                web.get("/media/{name}", self._serve_media),
                web.get("/feeds/{name}.xml", self._serve_feed),
                web.get("/redirects/{name}", self._serve_redirect),
                web.get("/pages/{name}.html", self._serve_page),
                web.get("/hls/{name}.m3u8", self._serve_hls),
            ]
        )
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", port or self._port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = runner.addresses[0][1]
        return f"127.0.0.1:{self._port}"

    async def stop(self) -> None:
        """Close the listening socket and every connection, cutting media bodies short; media, feeds and
        ``requests`` stay."""
        if self._runner is None:
            return
        runner, self._runner = self._runner, None
        self._closing.set()
        await runner.cleanup()

    def add_media(
        self, name: str, path: Path, *, rate: int | None = None, status: int | None = None, truncate: bool = False
    ) -> str:
        """Serve ``path`` at ``{base_url}/media/{name}`` and return that URL.

        ``rate`` throttles the body to that many bytes per second; ``status`` answers that HTTP status with a short
        text body instead; ``truncate`` announces the full Content-Length, then closes the connection halfway.
        """
        if not name or "/" in name:
            raise ValueError(f"media name must be non-empty without '/': {name!r}")
        self._check(rate, status)
        self._media[name] = _Media(path, _content_type(path), rate, status, truncate)
        return self.media_url(name)

    def set_media(
        self, name: str, *, rate: int | None = None, status: int | None = None, truncate: bool = False
    ) -> None:
        """Replace how media ``name`` is served (the file stays); the defaults serve it plainly."""
        self._check(rate, status)
        media = self._media[name]
        media.rate, media.status, media.truncate = rate, status, truncate

    def media_url(self, name: str) -> str:
        """The URL of media ``name``."""
        return f"{self.base_url}/media/{urllib.parse.quote(name, safe='')}"

    def add_feed(self, name: str, title: str, items: list[FeedItem]) -> str:
        """Serve an RSS 2.0 feed of ``items`` (whose media must already be added) at ``{base_url}/feeds/{name}.xml``
        and return that URL."""
        if not name or "/" in name:
            raise ValueError(f"feed name must be non-empty without '/': {name!r}")
        missing = [item.media for item in items if item.media not in self._media and not _is_address(item.media)]
        if missing:
            raise KeyError(f"no media named {', '.join(missing)}; add_media first")
        self._feeds[name] = _Feed(title, list(items))
        return f"{self.base_url}/feeds/{urllib.parse.quote(name, safe='')}.xml"

    def feed_xml(self, name: str) -> str:
        """The document served for feed ``name``."""
        feed = self._feeds[name]
        items = []
        for item in feed.items:
            if _is_address(item.media):
                url, content_type, size = item.media, "video/mp4", 0
            else:
                media = self._media[item.media]
                url, content_type, size = self.media_url(item.media), media.content_type, media.path.stat().st_size
            enclosure = f'<enclosure url={quoteattr(url)} type={quoteattr(content_type)} length="{size}"/>'
            items.append(
                f"<item><title>{escape(item.title)}</title>"
                f'<guid isPermaLink="false">{escape(item.guid)}</guid>{enclosure}</item>'
            )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
            f"<title>{escape(feed.title)}</title><link>{escape(self.base_url)}/</link>"
            f"<description>{escape(feed.title)}</description>{''.join(items)}</channel></rss>\n"
        )

    def add_redirect(self, name: str, location: str, *, status: int = 302) -> str:
        """Answer ``{base_url}/redirects/{name}`` with ``status`` and ``Location: location``; return that URL.

        A name ending in ``.mp4`` makes an address yt-dlp's generic extractor takes for a video file.
        """
        if not name or "/" in name:
            raise ValueError(f"redirect name must be non-empty without '/': {name!r}")
        if status not in (301, 302, 303, 307, 308):
            raise ValueError(f"not a redirect status: {status}")
        self._redirects[name] = (location, status)
        return f"{self.base_url}/redirects/{urllib.parse.quote(name, safe='')}"

    def add_page(self, name: str, title: str, video: str) -> str:
        """Serve a video page at ``{base_url}/pages/{name}.html`` and return that URL.

        ``video`` is a media name or an address (its path should end in ``.mp4``). The page names it in its Open
        Graph tags, as many sites do: yt-dlp reads the page, and fetches the file only when it downloads.
        """
        if not name or "/" in name:
            raise ValueError(f"page name must be non-empty without '/': {name!r}")
        if not _is_address(video) and video not in self._media:
            raise KeyError(f"no media named {video}; add_media first")
        self._pages[name] = (title, video)
        return f"{self.base_url}/pages/{urllib.parse.quote(name, safe='')}.html"

    def add_hls(self, name: str, segments: list[str], *, key_method: str | None = None) -> str:
        """Serve an HLS media playlist of ``segments`` (addresses, one second each) at
        ``{base_url}/hls/{name}.m3u8`` and return that URL. ffmpeg reads only segments whose address ends in a media
        extension: add the media under a name such as ``clip.ts``.

        ``key_method`` adds an ``#EXT-X-KEY`` line with that method and no key address: ``SAMPLE-AES`` is one that
        yt-dlp's own HLS downloader leaves to ffmpeg.
        """
        if not name or "/" in name:
            raise ValueError(f"playlist name must be non-empty without '/': {name!r}")
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:1", "#EXT-X-MEDIA-SEQUENCE:0"]
        if key_method is not None:
            lines.append(f"#EXT-X-KEY:METHOD={key_method}")
        for segment in segments:
            lines += ["#EXTINF:1.0,", segment]
        lines.append("#EXT-X-ENDLIST")
        self._playlists[name] = "\n".join(lines) + "\n"
        return f"{self.base_url}/hls/{urllib.parse.quote(name, safe='')}.m3u8"

    @staticmethod
    def _check(rate: int | None, status: int | None) -> None:
        if rate is not None and rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        if status is not None and not 100 <= status <= 599:
            raise ValueError(f"not an HTTP status: {status}")

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if "Range" in request.headers:
            self.ranges.append((request.path, request.headers["Range"]))
        return await handler(request)

    async def _serve_feed(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self._feeds:
            raise web.HTTPNotFound(text=f"no feed {name}")
        return web.Response(body=self.feed_xml(name).encode(), content_type="application/rss+xml", charset="utf-8")

    async def _serve_redirect(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self._redirects:
            raise web.HTTPNotFound(text=f"no redirect {name}")
        location, status = self._redirects[name]
        return web.Response(status=status, headers={"Location": location})

    async def _serve_page(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self._pages:
            raise web.HTTPNotFound(text=f"no page {name}")
        title, video = self._pages[name]
        url = video if _is_address(video) else self.media_url(video)
        page = (
            f"<!doctype html><html><head><title>{escape(title)}</title>"
            f'<meta property="og:title" content={quoteattr(title)}>'
            '<meta property="og:video:type" content="video/mp4">'
            f'<meta property="og:video" content={quoteattr(url)}>'
            f"</head><body><h1>{escape(title)}</h1></body></html>"
        )
        return web.Response(text=page, content_type="text/html")

    async def _serve_hls(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self._playlists:
            raise web.HTTPNotFound(text=f"no playlist {name}")
        return web.Response(text=self._playlists[name], content_type="application/vnd.apple.mpegurl")

    async def _serve_media(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        media = self._media.get(name)
        if media is None:
            raise web.HTTPNotFound(text=f"no media {name}")
        if media.status is not None:
            return web.Response(status=media.status, text=f"media {name} answers {media.status}")
        size = media.path.stat().st_size
        wanted = _byte_range(request.headers.get("Range"), size)
        first, last = wanted or (0, size - 1)
        response = web.StreamResponse(status=206 if wanted else 200)
        response.content_type = media.content_type
        response.content_length = last - first + 1
        response.headers["Accept-Ranges"] = "bytes"
        if wanted:
            response.headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        await response.prepare(request)
        length = last - first + 1
        stop_after = length // 2 if media.truncate else length
        try:
            await self._send(response, media, first, stop_after)
        except ConnectionError:
            return response
        if (media.truncate or self._closing.is_set()) and request.transport is not None:
            request.transport.close()
            return response
        await response.write_eof()
        return response

    async def _send(self, response: web.StreamResponse, media: _Media, first: int, count: int) -> None:
        """Write ``count`` bytes of the file from ``first``, at the rate set when it started, until
        :meth:`stop`."""
        rate = media.rate
        chunk = max(1, rate // _CHUNKS_PER_SECOND) if rate else _BLOCK
        started = time.monotonic()
        sent = 0
        with media.path.open("rb") as source:
            source.seek(first)
            while sent < count and not self._closing.is_set():
                data = source.read(min(chunk, count - sent))
                if not data:
                    break
                await response.write(data)
                sent += len(data)
                if rate:
                    delay = started + sent / rate - time.monotonic()
                    if delay > 0:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._closing.wait(), delay)
