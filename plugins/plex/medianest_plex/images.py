"""Posters and backgrounds of the Plex server, as the image proxy asks for them and keeps them.

An image path is ``/library/metadata/<ratingKey>/<thumb|art>/<number>`` (or ``/library/collections/…`` with
``composite`` too). The number at the end is Plex's mark of the image's version: Plex serves the image whatever it
is, and gives a new one when the image changes. So the cache keeps one entry per person and image, with the
number beside it: asking with another number fetches the image again and replaces the entry, and no one can
multiply the entries of an image by choosing numbers.
"""

from __future__ import annotations

import collections
import re
from typing import Final

import attrs

IMAGE_PATH: Final = re.compile(
    r"^/library/(metadata|collections)/(\d{1,19})/(thumb|art|composite)/(\d{1,19})$", re.ASCII
)
MAX_IMAGE_BYTES: Final = 5 * 1024 * 1024
MB: Final = 1_000_000


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
        found = IMAGE_PATH.match(path)
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

    def get(self, owner: str, image: ImagePath) -> CachedImage | None:
        """The image in the version asked for, when it is kept."""
        key = (owner, image.key)
        found = self._entries.get(key)
        if found is None or found.version != image.version:
            return None
        self._entries.move_to_end(key)
        return found

    def put(self, owner: str, image: ImagePath, body: bytes, content_type: str) -> None:
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
