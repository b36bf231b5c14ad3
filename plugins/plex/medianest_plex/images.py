"""Posters and backgrounds of the Plex server, as the image proxy asks for them and keeps them.

An image path is ``/library/metadata/<ratingKey>/<thumb|art>/<number>`` (or ``/library/collections/…`` with
``composite`` too). The number at the end is Plex's mark of the image's version: Plex serves the image whatever it
is, and gives a new one when the image changes. So the cache keeps one entry per person and image, with the
number beside it: asking with another number fetches the image again and replaces the entry, and no one can
multiply the entries of an image by choosing numbers.

Cast members' photos are addresses on the web (Plex's image host, or TMDB's for older agents): the proxy asks the
Plex server's image transcoder for them (``/photo/:/transcode?url=…``), so the browser still talks to MediaNest
only, and MediaNest to the Plex server only.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Mapping
from typing import Any, Final, Protocol

import attrs

IMAGE_PATH: Final = re.compile(r"/library/(metadata|collections)/(\d{1,19})/(thumb|art|composite)/(\d{1,19})", re.ASCII)
WEB_IMAGE: Final = re.compile(
    r"https?://(metadata-static\.plex\.tv|image\.tmdb\.org)(/[A-Za-z0-9._~-]{1,100}){1,8}", re.ASCII
)
"""The hosts of cast members' photos in Plex's answers."""
MAX_IMAGE_BYTES: Final = 5 * 1024 * 1024
"""The largest image the proxy reads from Plex."""
RASTER_TYPES: Final = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif", "image/avif"})
"""The content types the proxy serves: pictures made of pixels. An SVG is a document that may run script, and the
proxy serves on MediaNest's own origin."""
MB: Final = 1_000_000
PHOTO_SIZE: Final = {"width": 240, "height": 360}
"""The size the transcoder is asked to make of a photo: a poster's, as the pages show photos."""


class Image(Protocol):
    """What the cache and the proxy need of an image: which one (``key``), which version, and how to ask Plex."""

    @property
    def key(self) -> str: ...

    @property
    def version(self) -> int: ...

    @property
    def path(self) -> str: ...

    @property
    def params(self) -> Mapping[str, Any] | None: ...


def raster_type(content_type: str) -> str | None:
    """The content type to serve for what Plex sent (``image/png``), or ``None`` when that is not a picture of
    :data:`RASTER_TYPES` (an SVG, a page, nothing said)."""
    kind = content_type.partition(";")[0].strip().lower()
    return kind if kind in RASTER_TYPES else None


def parse_image(text: str) -> ImagePath | WebImage | None:
    """The image an address from an answer names: an image path of the server or a photo on the web; ``None``
    when it is neither."""
    return ImagePath.parse(text) or WebImage.parse(text)


@attrs.frozen
class ImagePath:
    """An image of the server: which one (``key``) and which version of it."""

    group: str
    rating_key: int
    kind: str
    version: int

    @classmethod
    def parse(cls, path: str) -> ImagePath | None:
        """The image a path names, or ``None`` when it is not an image path of a Plex server."""
        found = IMAGE_PATH.fullmatch(path)
        if found is None:
            return None
        group, rating_key, kind, version = found.groups()
        return cls(group, int(rating_key), kind, int(version))

    @property
    def key(self) -> str:
        return f"{self.group}/{self.rating_key}/{self.kind}"

    @property
    def path(self) -> str:
        """The path in one spelling (no leading zeros), as Plex is asked for it."""
        return f"/library/{self.key}/{self.version}"

    @property
    def params(self) -> Mapping[str, Any] | None:
        return None


@attrs.frozen
class WebImage:
    """A photo on the web (a cast member's) that the Plex server fetches through its image transcoder."""

    url: str

    @classmethod
    def parse(cls, text: str) -> WebImage | None:
        if not WEB_IMAGE.fullmatch(text) or ".." in text.split("/")[3:]:
            return None
        return cls(text)

    @property
    def key(self) -> str:
        return f"web/{self.url.partition('://')[2]}"

    @property
    def version(self) -> int:
        return 0

    @property
    def path(self) -> str:
        return "/photo/:/transcode"

    @property
    def params(self) -> Mapping[str, Any] | None:
        return {"url": self.url, **PHOTO_SIZE, "minSize": 1, "upscale": 1}


@attrs.frozen
class CachedImage:
    version: int
    body: bytes
    content_type: str


class ImageCache:
    """Images already fetched, by person (a digest of their token) and image, least recently used out first, never
    more than ``max_bytes`` of them in all; an image larger than that is not kept."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: collections.OrderedDict[tuple[str, str], CachedImage] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, owner: str, image: Image) -> CachedImage | None:
        """The image in the version asked for, when it is kept."""
        key = (owner, image.key)
        found = self._entries.get(key)
        if found is None or found.version != image.version:
            return None
        self._entries.move_to_end(key)
        return found

    def put(self, owner: str, image: Image, body: bytes, content_type: str) -> None:
        """Keep the image, in place of any other version of it; drop the least recently used to make room."""
        key = (owner, image.key)
        old = self._entries.pop(key, None)
        if old is not None:
            self.size -= len(old.body)
        if len(body) > self.max_bytes:
            return
        self._entries[key] = CachedImage(image.version, body, content_type)
        self.size += len(body)
        while self.size > self.max_bytes:
            _, dropped = self._entries.popitem(last=False)
            self.size -= len(dropped.body)
