"""The kinds of title Overseerr requests (``mediaType``): apart from :mod:`medianest_overseerr.client`, which
re-exports it, so that the routes can name it in their schemas without importing the client when they are made."""

from __future__ import annotations

import enum


class MediaType(enum.StrEnum):
    """``mediaType`` of a request, of tracked media and of webhook payloads."""

    MOVIE = "movie"
    TV = "tv"
