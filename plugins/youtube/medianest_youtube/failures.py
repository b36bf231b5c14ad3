"""yt-dlp's failures in words for the person who asked: what happened and what to do.

yt-dlp's own text ("[generic] gone-1: Unable to download webpage: HTTP Error 403: Forbidden (caused by …)") is
for the server log only; :func:`explain` turns it into one sentence or two, and anything it does not recognise
into a generic one, never a Python repr.
"""

from __future__ import annotations

import errno
import re
from typing import Final

from medianest_youtube.urls import HostRefused

UNKNOWN: Final = (
    "The download failed for a reason MediaNest does not recognise. Try again later; if it keeps failing, "
    "the admin can find the details in the server log."
)

_HTTP: Final = re.compile(r"HTTP Error (\d{3})|\bHTTP (\d{3})\b|\b(\d{3}) (?:Forbidden|Too Many Requests)\b")


def _http(status: int) -> str:
    if status == 403:
        return "YouTube refused this video (HTTP 403). It may be private or removed; try again later."
    if status == 429:
        return (
            "YouTube is refusing downloads from this server for now (HTTP 429, too many requests). "
            "Try again in an hour or two."
        )
    if status in (404, 410):
        return f"This video or playlist was not found (HTTP {status}). It may have been removed; check the link."
    if status == 401:
        return "YouTube asks to sign in for this video (HTTP 401), which MediaNest does not do."
    if 500 <= status <= 599:
        return f"YouTube had a problem answering (HTTP {status}). Try again later."
    return f"YouTube answered with an error (HTTP {status}). Try again later."


_NETWORK: Final = "The connection to YouTube failed or broke off. Check that the server is online, then try again."

_RULES: Final[list[tuple[re.Pattern[str], str]]] = [
    (
        re.compile(r"private video|video is private|playlist is private|members-only|join this channel", re.I),
        "This video is private: only the people its uploader chose can watch it, so it cannot be downloaded.",
    ),
    (
        re.compile(r"confirm your age|age[- ]restricted|inappropriate for some users", re.I),
        "This video is age-restricted: YouTube wants a signed-in account, which MediaNest does not use.",
    ),
    (
        re.compile(r"confirm you.?re not a bot", re.I),
        "YouTube wants to check that this server is not a robot. Try again later.",
    ),
    (
        re.compile(r"available in your country|geo.?restrict|blocked it in your country", re.I),
        "This video is not offered in the server's country.",
    ),
    (
        re.compile(r"live event will begin|premieres in|is live|is a live|live stream", re.I),
        "This is a live stream or a premiere that has not ended: it can be downloaded once it is over.",
    ),
    (
        re.compile(r"playlist does not exist|playlist doesn'?t exist|no such playlist|incomplete youtube id", re.I),
        "There is no such playlist: the link may be mistyped, or the playlist deleted or private.",
    ),
    (
        re.compile(r"unsupported url", re.I),
        "This link does not lead to a playlist or a video that can be downloaded; check the link.",
    ),
    (
        re.compile(
            r"video unavailable|video is unavailable|video is not available|no longer available|"
            r"has been removed|account .*terminated|copyright claim|content is not available",
            re.I,
        ),
        "This video is unavailable: it was removed or blocked on YouTube, so it cannot be downloaded.",
    ),
    (
        re.compile(r"requested format is not available|no video formats found", re.I),
        "This video is not offered in the quality asked for; try another quality.",
    ),
    (
        re.compile(r"ffmpeg|ffprobe|postprocessing", re.I),
        "The video and its sound could not be put together (ffmpeg failed). Ask the admin to look at the server log.",
    ),
    (
        re.compile(
            r"timed out|connection (?:refused|reset|aborted)|name or service not known|temporary failure in name|"
            r"nodename nor servname|getaddrinfo|network is unreachable|no route to host|urlopen error|"
            r"remote end closed|transporterror|incompleteread|did not get any data blocks|"
            r"bytes read, \d+ more expected|content too short|\bssl\b",
            re.I,
        ),
        _NETWORK,
    ),
]


def _innermost(exc: BaseException) -> BaseException:
    """The exception yt-dlp wrapped (``exc_info`` of a DownloadError, or the ``__cause__`` chain)."""
    seen = {id(exc)}
    cause = exc
    while True:
        inner = cause.__cause__ or (getattr(cause, "exc_info", None) or (None, None))[1]
        if not isinstance(inner, BaseException) or id(inner) in seen:
            return cause
        seen.add(id(inner))
        cause = inner


def raw_text(exc: BaseException) -> str:
    """yt-dlp's own words, for the log."""
    text = str(exc).removeprefix("ERROR: ").strip()
    return text or type(exc).__name__


def explain(exc: BaseException | str) -> str:
    """What a person reads about ``exc`` (a yt-dlp error, or its text)."""
    if isinstance(exc, BaseException):
        inner = _innermost(exc)
        for candidate in (exc, inner):
            if isinstance(candidate, HostRefused):
                return f"it leads to {candidate.host}, which is not allowed"
        if isinstance(inner, OSError) and inner.errno in (errno.ENOSPC, errno.EDQUOT):
            return "The library's disk is full: nothing more can be written. Ask the admin to make room."
        if isinstance(inner, PermissionError):
            return "MediaNest may not write to the library's folder. Ask the admin to check its permissions."
        text = f"{raw_text(exc)} {raw_text(inner) if inner is not exc else ''}"
    else:
        text = exc
    return explain_text(text)


def explain_text(text: str) -> str:
    match = _HTTP.search(text)
    for pattern, message in _RULES:
        # An HTTP status says more than the words around it, except for the cases YouTube names itself.
        if pattern.search(text) and not (match and message in (_NETWORK,)):
            return message
    if match:
        return _http(int(next(group for group in match.groups() if group)))
    return UNKNOWN
