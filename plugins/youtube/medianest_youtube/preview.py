"""What a link holds, read with yt-dlp without downloading anything: the playlist's title and its items."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Final

import attrs
import structlog

from medianest_youtube.failures import explain, raw_text
from medianest_youtube.urls import HostRefused, check_url, guarded_ydl

log = structlog.get_logger("medianest.plugins.youtube")

PREVIEW_ITEMS: Final = 10


class PreviewFailed(Exception):
    """yt-dlp could not read the link; the message is for the person."""


@attrs.frozen
class Preview:
    url: str
    kind: str  # "playlist" or "video"
    id: str
    title: str
    count: int
    items: list[str]

    def doc(self) -> dict[str, Any]:
        return attrs.asdict(self)


def _options() -> dict[str, Any]:
    """yt-dlp's options for reading a link; :func:`guarded_ydl` adds those that keep its connections in check."""
    return {
        "extract_flat": "in_playlist",
        "skip_download": True,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "socket_timeout": 10,
        "lazy_playlist": False,
    }


def _read(url: str, allowed_hosts: Sequence[str], extractors: Sequence[str] | None) -> Preview:
    options = _options()
    if extractors:
        options["allowed_extractors"] = list(extractors)
    from yt_dlp.utils import YoutubeDLError

    try:
        with guarded_ydl(options, allowed_hosts) as ydl:
            info = ydl.sanitize_info(ydl.extract_info(url, download=False))
    except HostRefused as exc:
        raise PreviewFailed(f"That link could not be read: it leads to {exc.host}, which is not allowed.") from None
    except YoutubeDLError as exc:
        if isinstance(exc.__cause__, HostRefused) or "not an allowed host" in str(exc):
            raise PreviewFailed("That link could not be read: it leads to a site that is not allowed.") from None
        log.info("youtube_preview_failed", url=url, error=raw_text(exc))
        reason = explain(exc)
        raise PreviewFailed(f"That link could not be read{'.' if reason[:1].isupper() else ':'} {reason}") from None
    if not isinstance(info, dict):
        raise PreviewFailed("That link could not be read.")
    if info.get("_type") == "playlist":
        entries = [e for e in info.get("entries") or [] if isinstance(e, dict)]
        titles = [str(e.get("title") or e.get("id") or "untitled") for e in entries]
        count = int(info.get("playlist_count") or len(entries))
        return Preview(
            url,
            "playlist",
            str(info.get("id") or ""),
            str(info.get("title") or "Playlist"),
            count,
            titles[:PREVIEW_ITEMS],
        )
    title = str(info.get("title") or info.get("id") or "Video")
    return Preview(url, "video", str(info.get("id") or ""), title, 1, [title])


async def preview(url: str, allowed_hosts: Sequence[str], extractors: Sequence[str] | None = None) -> Preview:
    """Read ``url`` (checked against ``allowed_hosts`` first) in a thread, so the server keeps serving."""
    checked = check_url(url, allowed_hosts)
    return await asyncio.to_thread(_read, checked, allowed_hosts, extractors)
