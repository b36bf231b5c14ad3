"""Which addresses MediaNest hands to yt-dlp: http(s) only, to an allowed host, without credentials.

``allowed_hosts`` entries are host names (``youtube.com``), matched exactly; an entry ``host:port`` also admits
that explicit port. The check runs once when a person submits a link, and again before every request yt-dlp sends,
each hop of a redirect included, so that neither a redirect nor a playlist entry can lead it elsewhere. While
downloading, the video files may also come from ``media_hosts``: domains matched with their subdomains
(``googlevideo.com`` admits ``rr1---sn-x.googlevideo.com``), over https only.

Where the check sits (:func:`guarded_ydl`): yt-dlp sends every request through its request director, which
MediaNest builds with one request handler, yt-dlp's own urllib handler with the check added where urllib opens a
URL, the first one and each redirect. yt-dlp's other handlers (requests, curl_cffi, websockets) follow redirects
where MediaNest cannot see them, so they are not used. Nothing else may connect: yt-dlp's own downloaders fetch
through the same director, external programs (aria2c, curl, ffmpeg as a downloader, rtmpdump) are not used, a live
stream or a format only they could fetch is refused, and ffmpeg may only read local files.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, Final
from urllib.parse import SplitResult, urlsplit


class UrlRefused(ValueError):
    """The link may not be downloaded; the message says why, for the person."""


class HostRefused(Exception):
    """yt-dlp was about to connect to a host that is not allowed."""

    def __init__(self, host: str) -> None:
        super().__init__(f"{host} is not an allowed host")
        self.host = host


FFMPEG_LOCAL_ONLY: Final = ("-protocol_whitelist", "file,crypto,data")
"""ffmpeg's input options that keep it from opening anything but local files."""


def network_options() -> dict[str, Any]:
    """yt-dlp options of the guard's own; they win over the caller's."""
    return {
        # yt-dlp's own downloaders, which fetch through the guarded request director; never aria2c, curl or ffmpeg.
        "external_downloader": {"default": "native"},
        "hls_prefer_native": True,
        # Should ffmpeg still be started as a downloader, it cannot open a network address.
        "external_downloader_args": {"ffmpeg_i": list(FFMPEG_LOCAL_ONLY)},
        # No part of a JavaScript challenge solver is fetched from elsewhere (GitHub, npm).
        "remote_components": [],
        "enable_file_urls": False,
    }


def _parts(url: str) -> SplitResult | None:
    try:
        parts = urlsplit(url)
        _ = parts.port  # a port that is not a number raises here
    except ValueError:
        return None
    return parts


def _host(parts: SplitResult) -> str:
    return (parts.hostname or "").lower().rstrip(".")


def _on_allowed_host(parts: SplitResult, allowed_hosts: Sequence[str]) -> bool:
    host = _host(parts)
    allowed = {entry.strip().lower() for entry in allowed_hosts}
    return bool(host) and (host in allowed if parts.port is None else f"{host}:{parts.port}" in allowed)


def check_url(url: str, allowed_hosts: Sequence[str]) -> str:
    """``url`` cleaned, or :class:`UrlRefused`."""
    text = url.strip()
    if not text or len(text) > 2000:
        raise UrlRefused("Paste the link of a YouTube playlist or video.")
    parts = _parts(text)
    if parts is None:
        raise UrlRefused("That is not a web address.")
    if parts.scheme not in ("http", "https"):
        raise UrlRefused("Only http:// and https:// links can be downloaded.")
    if parts.username or parts.password:
        raise UrlRefused("Links with a user name or password are not accepted.")
    if not _on_allowed_host(parts, allowed_hosts):
        allowed = {entry.strip().lower() for entry in allowed_hosts}
        names = ", ".join(sorted(h for h in allowed if ":" not in h) or sorted(allowed)) or "none"
        raise UrlRefused(f"Only links to these sites can be downloaded: {names}.")
    return text


def host_allowed(url: str, allowed_hosts: Sequence[str]) -> bool:
    """Whether yt-dlp may send a request to ``url``: http(s) to an allowed host, without credentials (and, unlike
    a link a person pastes, of any length)."""
    parts = _parts(url)
    return (
        parts is not None
        and parts.scheme in ("http", "https")
        and not (parts.username or parts.password)
        and _on_allowed_host(parts, allowed_hosts)
    )


def media_host_allowed(url: str, media_hosts: Sequence[str]) -> bool:
    """Whether ``url`` is an https address on one of ``media_hosts`` or a subdomain of one."""
    parts = _parts(url)
    if parts is None:
        return False
    host = _host(parts)
    if parts.scheme != "https" or not host or parts.username or parts.password:
        return False
    domains = {entry.strip().lower().lstrip(".") for entry in media_hosts if entry.strip()}
    return any(host == domain or host.endswith("." + domain) for domain in domains)


def guarded_ydl(options: dict[str, Any], allowed_hosts: Sequence[str], media_hosts: Sequence[str] = ()) -> Any:
    """A ``YoutubeDL`` whose every request, each hop of a redirect included, may only go to allowed hosts, and to
    ``media_hosts`` for the files; with :func:`network_options` over ``options`` (yt-dlp is imported here: it is
    heavy)."""
    allowed, media = tuple(allowed_hosts), tuple(media_hosts)

    def permits(url: str) -> bool:
        return host_allowed(url, allowed) or media_host_allowed(url, media)

    return _guarded_classes().youtube_dl({**options, **network_options()}, permits)


class _Guarded:
    """yt-dlp's classes as MediaNest extends them, made once on first use."""

    def __init__(self) -> None:
        from yt_dlp import YoutubeDL
        from yt_dlp.downloader import get_suitable_downloader
        from yt_dlp.downloader.dash import DashSegmentsFD
        from yt_dlp.downloader.f4m import F4mFD
        from yt_dlp.downloader.hls import HlsFD
        from yt_dlp.downloader.http import HttpFD
        from yt_dlp.downloader.ism import IsmFD
        from yt_dlp.downloader.mhtml import MhtmlFD
        from yt_dlp.networking.exceptions import RequestError
        from yt_dlp.utils import DownloadError

        class Refused(HostRefused, RequestError):  # type: ignore[misc]
            """A request yt-dlp treats as failed (not as a fault of its handler), and MediaNest as refused."""

        handler = _guarded_urllib_handler(Refused)
        # yt-dlp's downloaders that fetch every byte through YoutubeDL.urlopen.
        native = (HttpFD, HlsFD, DashSegmentsFD, F4mFD, IsmFD, MhtmlFD)

        class GuardedYoutubeDL(YoutubeDL):  # type: ignore[misc]
            def __init__(self, params: dict[str, Any], permits: Callable[[str], bool]) -> None:
                self.medianest_permits = permits
                super().__init__(params)

            def build_request_director(self, handlers: Any, preferences: Any = None) -> Any:
                """Only the guarded handler, whatever other handlers yt-dlp has installed."""
                guarded = functools.partial(handler, permits=self.medianest_permits)
                return super().build_request_director([guarded], preferences)

            def dl(self, name: str, info: dict[str, Any], subtitle: bool = False, test: bool = False) -> Any:
                """Download with yt-dlp's own downloaders only; ffmpeg, should one of them hand it a stream, with
                local files only."""
                if info.get("url"):
                    # A test download (checking a format) runs with yt-dlp's own test options, without ours.
                    chosen = get_suitable_downloader(dict(info), {} if test else self.params, to_stdout=name == "-")
                    if chosen not in native:
                        raise DownloadError(_downloader_refusal(info))
                    info = _ffmpeg_local_only(info)
                return super().dl(name, info, subtitle=subtitle, test=test)

        self.youtube_dl = GuardedYoutubeDL


@functools.cache
def _guarded_classes() -> _Guarded:
    return _Guarded()


def _guarded_urllib_handler(refused: type[HostRefused]) -> Any:
    """yt-dlp's urllib request handler, with ``permits(url)`` asked before urllib opens any URL: the request's own
    and each redirect it follows.

    The one place that relies on yt-dlp's private parts: the module ``yt_dlp.networking._urllib`` and its
    ``UrllibRH._create_instance``, which builds the urllib opener that follows redirects.
    ``tests/test_youtube_redirects.py`` fails if a new yt-dlp changes them.
    """
    import urllib.request

    from yt_dlp.networking._urllib import UrllibRH

    class HostCheck(urllib.request.BaseHandler):
        def __init__(self, permits: Callable[[str], bool]) -> None:
            self.permits = permits

        def default_open(self, req: urllib.request.Request) -> None:
            """Runs before any URL is opened, a redirect's included; answers nothing, or refuses."""
            url = req.full_url
            if not self.permits(url):
                raise refused(urlsplit(url).netloc or url[:100])

    class GuardedUrllibRH(UrllibRH):  # type: ignore[misc]
        RH_KEY = "Urllib"  # takes the place of yt-dlp's own
        _SUPPORTED_URL_SCHEMES = ("http", "https")

        def __init__(self, *, permits: Callable[[str], bool], **kwargs: Any) -> None:
            kwargs["enable_file_urls"] = False
            super().__init__(**kwargs)
            self.medianest_permits = permits

        def _create_instance(self, **kwargs: Any) -> Any:
            opener = super()._create_instance(**kwargs)
            opener.add_handler(HostCheck(self.medianest_permits))
            return opener

    return GuardedUrllibRH


def _downloader_refusal(info: dict[str, Any]) -> str:
    if info.get("is_live"):
        return "It is a live stream; live streams are not downloaded."
    protocol = str(info.get("protocol") or "this")
    return f"It is only offered as a {protocol} stream, which MediaNest does not download."


def _ffmpeg_local_only(info: dict[str, Any]) -> dict[str, Any]:
    """``info`` with ffmpeg's local-only input options after any of the extractor's (the last of an option wins),
    for the case where yt-dlp's HLS downloader hands the stream to ffmpeg."""
    options = dict(info.get("downloader_options") or {})
    options["ffmpeg_args"] = [*(options.get("ffmpeg_args") or []), *FFMPEG_LOCAL_ONLY]
    return {**info, "downloader_options": options}
