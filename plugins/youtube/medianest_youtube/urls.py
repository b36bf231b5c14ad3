"""Which addresses MediaNest hands to yt-dlp: http(s) only, to an allowed host, without credentials.

``allowed_hosts`` entries are host names (``youtube.com``), matched exactly; an entry ``host:port`` also admits
that explicit port. The check runs once when a person submits a link, and again for every request yt-dlp makes
while reading a page or playlist (:class:`GuardedYoutubeDL`), so a redirect or a playlist entry cannot lead it
elsewhere. While downloading, the video files may also come from ``media_hosts``: domains matched with their
subdomains (``googlevideo.com`` admits ``rr1---sn-x.googlevideo.com``), over https only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit


class UrlRefused(ValueError):
    """The link may not be downloaded; the message says why, for the person."""


class HostRefused(Exception):
    """yt-dlp was about to connect to a host that is not allowed."""

    def __init__(self, host: str) -> None:
        super().__init__(f"{host} is not an allowed host")
        self.host = host


def check_url(url: str, allowed_hosts: Sequence[str]) -> str:
    """``url`` cleaned, or :class:`UrlRefused`."""
    text = url.strip()
    if not text or len(text) > 2000:
        raise UrlRefused("Paste the link of a YouTube playlist or video.")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise UrlRefused("That is not a web address.") from None
    if parts.scheme not in ("http", "https"):
        raise UrlRefused("Only http:// and https:// links can be downloaded.")
    if parts.username or parts.password:
        raise UrlRefused("Links with a user name or password are not accepted.")
    host = (parts.hostname or "").lower().rstrip(".")
    allowed = {entry.strip().lower() for entry in allowed_hosts}
    if not host or not (host in allowed if port is None else f"{host}:{port}" in allowed):
        names = ", ".join(sorted(h for h in allowed if ":" not in h) or sorted(allowed)) or "none"
        raise UrlRefused(f"Only links to these sites can be downloaded: {names}.")
    return text


def host_allowed(url: str, allowed_hosts: Sequence[str]) -> bool:
    try:
        check_url(url, allowed_hosts)
    except UrlRefused:
        return False
    return True


def media_host_allowed(url: str, media_hosts: Sequence[str]) -> bool:
    """Whether ``url`` is an https address on one of ``media_hosts`` or a subdomain of one."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.scheme != "https" or not host or parts.username or parts.password:
        return False
    domains = {entry.strip().lower().lstrip(".") for entry in media_hosts if entry.strip()}
    return any(host == domain or host.endswith("." + domain) for domain in domains)


def guarded_ydl(options: dict[str, Any], allowed_hosts: Sequence[str], media_hosts: Sequence[str] = ()) -> Any:
    """A ``YoutubeDL`` whose requests may only go to allowed hosts, and to ``media_hosts`` for the files
    (imported lazily: yt-dlp is heavy)."""
    from yt_dlp import YoutubeDL

    class GuardedYoutubeDL(YoutubeDL):  # type: ignore[misc]
        def urlopen(self, req: Any) -> Any:
            url = str(req if isinstance(req, str) else getattr(req, "url", ""))
            if not host_allowed(url, allowed_hosts) and not media_host_allowed(url, media_hosts):
                raise HostRefused(urlsplit(url).netloc or url[:100])
            return super().urlopen(req)

    return GuardedYoutubeDL(options)
