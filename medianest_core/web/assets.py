"""Static files: the core's (``medianest_core/web/static``) and each plugin's static folder, served under
``/static/<owner>/``, where the owner is ``core`` or the plugin's name.

At app creation every folder is listed once and each file's content hashed (the bytes are not kept). A file
answers at two addresses:

- its content-named address, ``/static/core/app.3f2a9c1d0e.css``: the hash changes with the content, so the
  answer is cached for a year and never asked again (``Cache-Control: public, max-age=31536000, immutable``);
  templates get it from ``static()`` and the ``styles``/``scripts`` declarations of pages, cards and plugins;
- its plain address, ``/static/core/app.css``, for old links: the browser asks again each time (``no-cache``)
  and gets a 304 when its ``ETag`` still matches.

Text files (css, js, svg, json, webmanifest, txt) are sent compressed, brotli where the browser takes it and gzip
otherwise (``Vary: Accept-Encoding``); each encoding is made on the first request for it and kept in memory. Only
names found when the folders were listed are served, so no path (``..``, encoded or not, a backslash, an
absolute path) reaches any other file. A file changed on disk is seen at the next start.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import mimetypes
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

import attrs
import structlog
from aiohttp import web
from aiohttp.web_urldispatcher import AbstractResource, AbstractRoute
from markupsafe import Markup

from medianest_core.errors import ApiError, ErrorCode
from medianest_core.types import Card, Page

log = structlog.get_logger(__name__)

CORE: Final = "core"
IMMUTABLE: Final = "public, max-age=31536000, immutable"
REVALIDATE: Final = "no-cache"
DIGEST_LENGTH: Final = 10
"""Hex digits of the SHA-256 of a file's content in its content-named address."""
KEEP_LIMIT: Final = 512 * 1024
"""Files up to this size are kept in memory once asked for (with their compressed forms); larger ones are read
from disk on each request and sent as they are, never compressed."""
TYPES: Final = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".map": "application/json; charset=utf-8",
    ".webmanifest": "application/manifest+json; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".png": "image/png",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
}
COMPRESSIBLE: Final = frozenset({".css", ".js", ".mjs", ".svg", ".json", ".map", ".webmanifest", ".txt"})
ENCODINGS: Final = ("br", "gzip")
"""The encodings offered, best first."""


def content_name(name: str, digest: str) -> str:
    """``"css/app.css"`` → ``"css/app.<digest>.css"``; a name without an extension gets the digest at its end."""
    folder, slash, base = name.rpartition("/")
    stem, dot, ext = base.rpartition(".")
    named = f"{stem}.{digest}.{ext}" if dot and stem else f"{base}.{digest}"
    return f"{folder}{slash}{named}"


def accepted(header: str) -> set[str]:
    """The encodings an ``Accept-Encoding`` header takes (those with ``q=0`` are refused)."""
    taken: set[str] = set()
    for part in header.split(","):
        token, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if token and quality > 0:
            taken.add(token.strip().lower())
    return taken


@attrs.define
class Asset:
    """One file: where it is, the hash of its content, its type; its bodies (by encoding, ``""`` for the file as
    it is) once asked for."""

    path: Path
    digest: str
    content_type: str
    compress: bool
    size: int
    bodies: dict[str, bytes] = attrs.field(factory=dict)

    def etag(self, encoding: str) -> str:
        return f'"{self.digest}-{encoding}"' if encoding else f'"{self.digest}"'

    def matches(self, if_none_match: str) -> bool:
        """Whether an ``If-None-Match`` header names this content, in any of its encodings."""
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or any(self.etag(encoding) in tags for encoding in ("", *ENCODINGS))

    def body(self, encoding: str) -> bytes:
        """The file's bytes in ``encoding`` (``""``: as they are), made once and kept for a small file."""
        kept = self.bodies.get(encoding)
        if kept is not None:
            return kept
        plain = self.bodies.get("") or self.path.read_bytes()
        if encoding == "br":
            import brotli  # type: ignore[import-untyped]  # only once a browser asks for it

            made = bytes(brotli.compress(plain, quality=11))
        elif encoding == "gzip":
            made = gzip.compress(plain, compresslevel=9, mtime=0)
        else:
            made = plain
        if self.size <= KEEP_LIMIT:
            self.bodies.setdefault("", plain)
            self.bodies[encoding] = made
        return made


@attrs.frozen
class Files:
    """The addresses of the stylesheets and scripts a page loads."""

    styles: tuple[str, ...] = ()
    scripts: tuple[str, ...] = ()

    def __add__(self, other: Files) -> Files:
        return Files(_unique(self.styles, other.styles), _unique(self.scripts, other.scripts))

    def tags(self) -> Markup:
        """The ``<link>`` and ``<script>`` elements that load them."""
        links = [Markup('<link rel="stylesheet" href="{}">\n').format(href) for href in self.styles]
        scripts = [Markup('<script src="{}" defer></script>\n').format(src) for src in self.scripts]
        return Markup("").join([*links, *scripts])


@attrs.frozen
class Declared:
    """Files of ``owner``'s static folder, as a page, a card or a plugin named them."""

    owner: str
    styles: tuple[str, ...]
    scripts: tuple[str, ...]


def _unique(*groups: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item for group in groups for item in group))


class Assets:
    """The one owner of static files: their addresses, their answers, and which pages and cards load which."""

    def __init__(self) -> None:
        self._plain: dict[tuple[str, str], Asset] = {}
        self._named: dict[tuple[str, str], Asset] = {}
        self._missing: set[tuple[str, str]] = set()
        self._everywhere: list[Declared] = []
        self._pages: dict[AbstractResource, Declared] = {}
        self._cards: dict[tuple[str, str], Declared] = {}
        self._resolved: dict[object, Files] = {}

    # ---- the folders -----------------------------------------------------------------------------------------

    def add_folder(self, owner: str, root: Path) -> None:
        """List ``root`` (sub-folders too; hidden files and links leading out of it are left out) and hash each
        file, as the files of ``owner``."""
        top = root.resolve()
        for path in sorted(top.rglob("*")):
            name = path.relative_to(top).as_posix()
            if any(part.startswith(".") for part in name.split("/")) or not path.is_file():
                continue
            if not path.resolve().is_relative_to(top):
                continue
            with path.open("rb") as file:  # read in chunks: only the hash is kept
                digest = hashlib.file_digest(file, "sha256").hexdigest()[:DIGEST_LENGTH]
            suffix = path.suffix.lower()
            content_type = TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
            size = path.stat().st_size
            asset = Asset(path, digest, content_type, suffix in COMPRESSIBLE and size <= KEEP_LIMIT, size)
            self._plain[owner, name] = asset
            self._named[owner, content_name(name, digest)] = asset

    def url(self, path: str, plugin: str | None = None) -> str:
        """The content-named address of a file of the core (``url("app.css")``) or of a plugin
        (``url("plex.css", plugin="plex")``); a name that is not there keeps its plain address (which answers 404)."""
        owner = plugin or CORE
        name = path.lstrip("/")
        asset = self._plain.get((owner, name))
        if asset is None:
            if (owner, name) not in self._missing:
                self._missing.add((owner, name))
                log.warning("static_file_missing", owner=owner, path=name)
            return f"/static/{owner}/{name}"
        return f"/static/{owner}/{content_name(name, asset.digest)}"

    # ---- who loads what --------------------------------------------------------------------------------------
    # Declarations are kept as given and turned into addresses on first use, once every folder is listed.

    def add_everywhere(self, plugin: str, styles: Sequence[str], scripts: Sequence[str]) -> None:
        """A plugin's files that every signed-in page loads (``WebAssets.styles``/``scripts``)."""
        self._everywhere.append(Declared(plugin, tuple(styles), tuple(scripts)))

    def add_page(self, route: AbstractRoute, plugin: str, page: Page) -> None:
        """The files a plugin's page loads (``Page.styles``/``scripts``), found again by the route it answers on."""
        if (page.styles or page.scripts) and route.resource is not None:
            self._pages[route.resource] = Declared(plugin, tuple(page.styles), tuple(page.scripts))

    def add_cards(self, cards: Iterable[tuple[str, Card]]) -> None:
        """The files of dashboard cards (``Card.styles``/``scripts``), loaded by a dashboard that shows them."""
        for plugin, card in cards:
            if card.styles or card.scripts:
                self._cards[plugin, card.key] = Declared(plugin, tuple(card.styles), tuple(card.scripts))

    def _files(self, declared: Iterable[Declared]) -> Files:
        key = tuple(declared)
        found = self._resolved.get(key)
        if found is None:
            found = Files()
            for each in key:
                owner = None if each.owner == CORE else each.owner
                found += Files(
                    tuple(self.url(name, owner) for name in each.styles),
                    tuple(self.url(name, owner) for name in each.scripts),
                )
            self._resolved[key] = found
        return found

    def everywhere(self) -> Files:
        """What every signed-in page loads."""
        return self._files(self._everywhere)

    def for_page(self, request: web.Request) -> Files:
        """What the page answering ``request`` declared."""
        resource = request.match_info.route.resource
        declared = self._pages.get(resource) if resource is not None else None
        return self._files([declared] if declared is not None else [])

    def for_cards(self, shown: Iterable[tuple[str, str]]) -> Files:
        """What the cards shown (as ``(plugin, key)``) declared."""
        return self._files(self._cards[key] for key in shown if key in self._cards)

    # ---- the answers -----------------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """``GET /static/{owner}/{path}``."""
        key = (request.match_info["owner"], request.match_info["path"])
        asset = self._named.get(key)
        immutable = asset is not None
        if asset is None:
            asset = self._plain.get(key)
        if asset is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, "No such file.")
        headers = {"Cache-Control": IMMUTABLE if immutable else REVALIDATE, "X-Content-Type-Options": "nosniff"}
        encoding = ""
        if asset.compress:
            headers["Vary"] = "Accept-Encoding"
            taken = accepted(request.headers.get("Accept-Encoding", ""))
            encoding = next((each for each in ENCODINGS if each in taken), "")
        headers["ETag"] = asset.etag(encoding)
        if asset.matches(request.headers.get("If-None-Match", "")):
            return web.Response(status=304, headers=headers)
        kept = asset.bodies.get(encoding)
        body = kept if kept is not None else await asyncio.to_thread(asset.body, encoding)
        if encoding:
            headers["Content-Encoding"] = encoding
        headers["Content-Type"] = asset.content_type
        return web.Response(body=body, headers=headers)


ASSETS: Final = web.AppKey("medianest.assets", Assets)
"""The app's static files (kept here, beside their owner, rather than in ``keys``: only this module and the
web shell use it)."""
