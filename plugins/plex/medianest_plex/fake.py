"""A fake of plex.tv and of one Plex Media Server (PMS), served by aiohttp on 127.0.0.1, for tests and benchmarks.

It answers like the real services as described by python-plexapi and the community PMS/plex.tv OpenAPI spec:
plex.tv PIN login (``/api/v2/pins``), the account (``/api/v2/user``) and its devices (``/api/v2/resources``); on the
server the ``MediaContainer`` envelope, paging headers, sections, items, series' seasons and episodes
(``/library/metadata/{ratingKey}/children``), collections, refresh, search, images and the image transcoder.
JSON only with ``Accept: application/json``, XML otherwise; plex.tv errors are JSON ``{"errors": [...]}``, PMS errors
small HTML pages. Items carry their external ids (``Guid``) only when the request says ``includeGuids=1``, and
their genres and cast (``Genre``, ``Role``) only in their own detail (``/library/metadata/{ratingKey}``).
A share shows its account the sections shared with it, less the items the owner's restrictions hide from it
(:meth:`FakePlex.restrict`).

Usage::

    fake = FakePlex()
    fake.add_section("1", "Movies", "movie")
    fake.add_item("1", "Heat", year=1995, guids=["tmdb://949", "imdb://tt0113277"])
    fake.add_section("2", "Shows", "show")
    show = fake.add_item("2", "Andor", year=2022, guids=["tmdb://83867"])
    fake.add_season(show["ratingKey"], 1, episodes=12)
    bob = fake.add_account("bob")
    bob_token = fake.share(bob, ["1", "2"])  # bob's server token: he sees Movies and Shows…
    fake.restrict(bob, [show["ratingKey"]])  # …but not Andor
    url = await fake.start()  # both plextv_url and the server url
    ...
    await fake.stop()
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import secrets
import string
import struct
import time
import uuid
import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import attrs
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from medianest_core.fakes import FakeServer

__all__ = ["ART_PNG", "MEDIA_SUFFIXES", "POSTER_PNG", "TYPE_NUMBERS", "FakeAccount", "FakePlex", "FakeSection"]

TYPE_NUMBERS = {"movie": 1, "show": 2, "season": 3, "episode": 4, "artist": 8, "album": 9, "track": 10, "photo": 13}
"""Metadata type numbers of the ``type=`` parameters; collections are type 18."""
_COLLECTION_TYPE = 18

# Section type -> (agent, scanner, title of its search hub).
_SECTION_KINDS = {
    "movie": ("tv.plex.agents.movie", "Plex Movie", "Movies"),
    "show": ("tv.plex.agents.series", "Plex TV Series", "Shows"),
    "artist": ("tv.plex.agents.music", "Plex Music", "Artists"),
    "photo": ("com.plexapp.agents.none", "Plex Photo Scanner", "Photos"),
}
# Where a PIN's owner appears to be, as plex.tv geolocates it.
_LOCATION = {
    "code": "US",
    "continent_code": "NA",
    "country": "United States",
    "city": "Springfield",
    "european_union_member": False,
    "time_zone": "America/Chicago",
    "postal_code": "62701",
    "in_privacy_restricted_country": False,
    "in_privacy_restricted_region": False,
    "subdivisions": "Illinois",
    "coordinates": "39.7990, -89.6440",
}
_PLEX_HEADERS = ("X-Plex-Client-Identifier", "X-Plex-Product", "X-Plex-Token")
_URI = re.compile(r"server://(?P<machine>[^/]+)/com\.plexapp\.plugins\.library/library/metadata/(?P<keys>\d+(?:,\d+)*)")
MEDIA_SUFFIXES = frozenset(
    {".mp4", ".mkv", ".webm", ".m4v", ".mov", ".avi", ".m4a", ".mp3", ".ogg", ".opus", ".flac", ".wav", ".aac"}
)
"""File extensions a refresh finds on disk; anything else (``.part``, ``.ytdl``, subtitles, images) is skipped."""
_ID_SUFFIX = re.compile(r" \[[^\[\]]*\]$")
_IMAGE_PATH = re.compile(r"/library/(?:metadata|collections)/(?P<key>\d+)/(?:thumb|art|composite)/\d+")
_CHILD_HUBS = {"season": "Seasons", "episode": "Episodes"}
"""Search hubs of a series' parts, offered where a searched section has any."""


def _png(width: int, height: int) -> bytes:
    """A valid one-colour RGB PNG built by hand: signature, IHDR, one zlib IDAT, IEND."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = (b"\x00" + b"\xe5\xa0\x0d" * width) * height  # each row: filter type 0, then Plex-orange pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits per channel, truecolour, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


POSTER_PNG = _png(2, 3)
"""What every ``thumb`` URL serves."""
ART_PNG = _png(3, 2)
"""What every ``art`` URL serves."""


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _title_sort(item: Mapping[str, Any]) -> str:
    """Plex's default order: case-insensitive, a leading article ignored ("The Matrix" files under M)."""
    title = str(item["title"]).casefold()
    for article in ("the ", "a ", "an "):
        if title.startswith(article):
            return title[len(article) :]
    return title


_SORT_KEYS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "titleSort": _title_sort,
    "title": lambda item: str(item["title"]).casefold(),
    "addedAt": lambda item: (item["addedAt"], int(item["ratingKey"])),
    "year": lambda item: item.get("year") or 0,
}


def _xml(tag: str, data: Mapping[str, Any]) -> str:
    """Minimal XML: scalars become attributes (booleans 1/0, None left out), objects and lists of objects children."""
    attributes: list[str] = []
    children: list[str] = []
    for name, value in data.items():
        if isinstance(value, Mapping):
            children.append(_xml(name, value))
        elif isinstance(value, list):
            if all(isinstance(entry, Mapping) for entry in value):
                children.extend(_xml(name, entry) for entry in value)
            else:
                attributes.append(f" {name}={quoteattr(','.join(map(str, value)))}")
        elif value is not None:
            text = str(int(value)) if isinstance(value, bool) else str(value)
            attributes.append(f" {name}={quoteattr(text)}")
    if not children:
        return f"<{tag}{''.join(attributes)}/>"
    return f"<{tag}{''.join(attributes)}>{''.join(children)}</{tag}>"


def _wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _html_error(error: type[web.HTTPError]) -> web.HTTPError:
    """PMS errors are small HTML pages whatever the Accept header."""
    status = HTTPStatus(error.status_code)
    page = (
        f"<html><head><title>{status.phrase}</title></head><body><h1>{status.value} {status.phrase}</h1></body></html>"
    )
    return error(text=page, content_type="text/html")


def _plextv_error(request: web.Request, error: type[web.HTTPError], code: int, message: str) -> web.HTTPError:
    """plex.tv's error body; "not found" errors carry no ``status`` field."""
    entry: dict[str, Any] = {"code": code, "message": message}
    if error is not web.HTTPNotFound:
        entry["status"] = error.status_code
    if _wants_json(request):
        return error(text=json.dumps({"errors": [entry]}), content_type="application/json")
    return error(text=_xml("errors", {"error": [entry]}), content_type="application/xml")


async def _plextv_params(request: web.Request) -> dict[str, str]:
    """plex.tv reads parameters from the query string or a form body, and the X-Plex-* ones also from headers."""
    params = dict(request.query)
    if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
        params.update((name, value) for name, value in (await request.post()).items() if isinstance(value, str))
    params.update((name, request.headers[name]) for name in _PLEX_HEADERS if name in request.headers)
    return params


@attrs.frozen
class FakeAccount:
    """A plex.tv account; ``token`` is its plex.tv authToken."""

    id: int
    uuid: str
    username: str
    title: str
    email: str
    token: str
    thumb: str


@attrs.define
class FakeSection:
    """A library section; ``location`` is the folder its files are under."""

    key: str
    title: str
    type: str
    location: str
    uuid: str
    location_id: int
    created_at: int
    scanned_at: int
    agent: str | None = None


@attrs.define
class _Share:
    account: FakeAccount
    sections: frozenset[str]
    hidden: frozenset[str] = frozenset()


@attrs.define
class _Pending:
    section_key: str
    file: str
    title: str
    scan_at: float | None = None  # time.monotonic() at which a refresh has scanned it; None until refreshed


@attrs.frozen
class _Viewer:
    """Who a PMS request comes from: the owner sees every section, a shared user those shared with it, less the
    items its share hides (see :meth:`FakePlex.restrict`)."""

    owner: bool
    shared: frozenset[str] = frozenset()
    hidden: frozenset[str] = frozenset()

    def sees(self, section_key: str) -> bool:
        return self.owner or section_key in self.shared

    def opens(self, entry: Mapping[str, Any]) -> bool:
        """Whether the item (or collection) is in a section it sees and neither it nor its series or season is
        hidden from it."""
        if not self.sees(str(entry["librarySectionID"])):
            return False
        family = (entry["ratingKey"], entry.get("parentRatingKey"), entry.get("grandparentRatingKey"))
        return self.hidden.isdisjoint(key for key in family if key is not None)


class FakePlex(FakeServer):
    """plex.tv and one Plex Media Server in one aiohttp app on 127.0.0.1. plex.tv paths are under /api/v2/ (and
    /api/v2/pins...), PMS paths are /identity, /, /library/..., /hubs/search, /status/sessions, images; so the same
    base URL serves as both `plextv_url` and the server `url`.

    Scans: a refresh of a section (``?path=`` for one folder) takes ``scan_delay`` seconds, then what it found is
    items of the section. It finds the files registered with :meth:`add_pending_file` under that path and, when
    the section's ``location`` is a folder on this machine, the media files on disk under that path (the whole
    location without one): those with a suffix in :data:`MEDIA_SUFFIXES`, hidden ones and those in hidden folders
    left out, each titled by its file name without the extension and a trailing " [id]", its ``file`` the absolute
    path. A file that is an item already, or is being scanned, is not added twice.

    Collections are removed with ``DELETE /library/collections/{ratingKey}`` (their items stay); the removed
    ratingKeys are in :attr:`deleted_collections`."""

    def __init__(
        self,
        *,
        machine_identifier: str = "fake-machine-id",
        friendly_name: str = "Fake Plex",
        version: str = "1.41.0.8992",
    ) -> None:
        super().__init__()
        self.machine_identifier = machine_identifier
        self.friendly_name = friendly_name
        self.version = version
        self.hang = False
        """When true every request is accepted and never answered (until :meth:`stop`)."""
        self.calls: list[tuple[str, str]] = []
        """(method, path) of every request received, in order."""
        self.pins: dict[int, dict[str, Any]] = {}
        """PIN id -> the PIN container plex.tv answers, plus ``strong``."""
        self.pin_lifetimes = {"strong": 1800, "short": 900}
        """Seconds a new PIN lives (its ``expiresIn``), for a strong PIN and for a 4-character one."""
        self.refreshes: list[tuple[str, str | None]] = []
        """(section key, path) of every refresh request."""
        self.deleted_collections: list[str] = []
        """ratingKeys of the collections removed through the API, in order."""
        self.scan_delay = 0.0
        """Seconds from a refresh until the pending files it scans are items."""
        self.streams = 0
        """Sessions playing now, as ``GET /status/sessions`` reports."""
        self.transcoded: list[str] = []
        """The ``url`` of every image the transcoder (``/photo/:/transcode``) was asked for, in order."""
        self.image_answer: tuple[bytes, str] | None = None
        """When set, the body and content type every image (paths and transcoder alike) is answered with instead
        of the PNGs: a server that holds an uploaded SVG poster, say, or a huge one."""
        self._accounts: dict[str, FakeAccount] = {}  # by plex.tv authToken
        self._shares: dict[str, _Share] = {}  # by server access token
        self._sections: dict[str, FakeSection] = {}
        self._metadata: dict[str, dict[str, Any]] = {}  # items and collections by ratingKey
        self._members: dict[str, list[str]] = {}  # collection ratingKey -> item ratingKeys
        self._pending: list[_Pending] = []
        self._tag_ids: dict[tuple[str, str], int] = {}  # (kind, tag) -> id, as PMS numbers its tags
        self._rating_keys = itertools.count(101)
        self._ids = itertools.count(1)  # media, part and location ids
        self._account_ids = itertools.count(1_000_001)
        self._pin_ids = itertools.count(2_000_000_001)
        self._started_at = datetime.now(UTC).replace(microsecond=0)
        self._player_id = uuid.uuid4().hex
        self.owner = self.add_account("owner")
        """The account that owns the server; its token is the owner token."""

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        app.add_routes(
            [
                web.post("/api/v2/pins", self._create_pin),
                web.get(r"/api/v2/pins/{pin_id:\d+}", self._get_pin),
                web.get("/api/v2/user", self._user),
                web.get("/api/v2/resources", self._resources),
                web.get("/identity", self._identity),
                web.get("/", self._root),
                web.get("/library/sections", self._list_sections),
                web.get("/library/sections/{key}/all", self._section_items),
                web.get("/library/sections/{key}/collections", self._section_collections),
                web.get("/library/sections/{key}/refresh", self._refresh),
                web.post("/library/sections/{key}/refresh", self._refresh),
                web.get("/library/recentlyAdded", self._recently_added),
                web.get("/library/metadata/{keys}", self._metadata_detail),
                web.get(r"/library/metadata/{key:\d+}/children", self._children),
                web.get(r"/library/metadata/{key}/{kind:thumb|art}/{ts}", self._image),
                web.get(r"/library/collections/{key}/{kind:thumb|art|composite}/{ts}", self._image),
                web.post("/library/collections", self._create_collection),
                web.get("/library/collections/{key}/items", self._collection_items),
                web.put("/library/collections/{key}/items", self._add_to_collection),
                web.delete("/library/collections/{key}", self._delete_collection),
                web.get("/hubs/search", self._search),
                web.get("/photo/:/transcode", self._transcode),
                web.get("/status/sessions", self._sessions),
            ]
        )

    def middlewares(self) -> list[Middleware]:
        return [self._middleware]

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.calls.append((request.method, request.path))
        if self.hang:
            await self.hold(request)
        self._finish_scans()
        return await handler(request)

    # -- data set-up -------------------------------------------------------------------------------------------

    def add_account(self, username: str, *, email: str | None = None) -> FakeAccount:
        """A plex.tv account with a random authToken."""
        account_uuid = secrets.token_hex(8)
        account = FakeAccount(
            id=next(self._account_ids),
            uuid=account_uuid,
            username=username,
            title=username,
            email=email if email is not None else f"{username}@example.com",
            token=secrets.token_urlsafe(15),
            thumb=f"https://plex.tv/users/{account_uuid}/avatar?c=1700000000",
        )
        self._accounts[account.token] = account
        return account

    def share(self, account: FakeAccount, section_keys: list[str]) -> str:
        """Share the server with ``account``, only these sections; returns its server access token (sharing again
        replaces the sections and keeps the token)."""
        for token, share in self._shares.items():
            if share.account == account:
                share.sections = frozenset(section_keys)
                return token
        token = secrets.token_urlsafe(15)
        self._shares[token] = _Share(account, frozenset(section_keys))
        return token

    def restrict(self, account: FakeAccount, rating_keys: Sequence[str]) -> None:
        """Hide these items from ``account``'s share (replacing what it hid before; none to lift it), as the
        owner's label or content-rating restrictions of a share, or a managed user's, do: with the account's
        token the items, their seasons and episodes are nowhere (sections' items, search, details, children,
        recently added, collections and their items, images); other accounts and the owner still see them."""
        for share in self._shares.values():
            if share.account == account:
                share.hidden = frozenset(rating_keys)
                return
        raise ValueError(f"the server is not shared with {account.username}")

    def add_section(
        self, key: str, title: str, type: str, *, location: str | None = None, agent: str | None = None
    ) -> FakeSection:
        """A library section of type movie, show, artist or photo; ``key`` is numeric like Plex's ("1"). ``agent``
        is the kind's own by default; ``tv.plex.agents.none`` makes a library of other videos."""
        if not key.isdigit() or type not in _SECTION_KINDS:
            raise ValueError(f"section key must be numeric and type one of {sorted(_SECTION_KINDS)}")
        now = int(time.time())
        section = FakeSection(
            key, title, type, location or f"/data/{title}", str(uuid.uuid4()), next(self._ids), now, now, agent
        )
        self._sections[key] = section
        return section

    def add_item(
        self,
        section_key: str,
        title: str,
        *,
        year: int | None = None,
        type: str | None = None,
        file: str | None = None,
        added_at: int | None = None,
        summary: str = "",
        guids: Sequence[str] = (),
        genres: Sequence[str] = (),
        roles: Sequence[tuple[str, str]] = (),
        tagline: str | None = None,
        duration: int | None = None,
        originally_available_at: str | None = None,
    ) -> dict[str, Any]:
        """An item of the section, as the Metadata dict the server serves (changes to it are served too).

        ``guids`` are its external ids as Plex's agents give them (``"tmdb://603"``, ``"imdb://tt0133093"``,
        ``"tvdb://81189"``); ``genres`` and ``roles`` (cast: ``(name, character)``) are tags of its detail;
        ``duration`` is in milliseconds; ``originally_available_at`` a date (``"1999-03-31"``)."""
        section = self._sections[section_key]
        kind = type or section.type
        rating_key = str(next(self._rating_keys))
        added = added_at if added_at is not None else int(time.time())
        name = f"{title} ({year})" if year else title
        path = file or f"{section.location}/{name}/{name}.mkv"
        media_id, part_id = next(self._ids), next(self._ids)
        item: dict[str, Any] = {
            "ratingKey": rating_key,
            "key": f"/library/metadata/{rating_key}",
            "guid": f"plex://{kind}/{secrets.token_hex(12)}",
            "type": kind,
            "title": title,
            "summary": summary,
            "thumb": f"/library/metadata/{rating_key}/thumb/{added}",
            "art": f"/library/metadata/{rating_key}/art/{added}",
            "addedAt": added,
            "updatedAt": added,
            "librarySectionID": int(section_key),
            "librarySectionKey": f"/library/sections/{section_key}",
            "librarySectionTitle": section.title,
            "Media": [
                {
                    "id": media_id,
                    "Part": [{"id": part_id, "key": f"/library/parts/{part_id}/{added}/file", "file": path}],
                }
            ],
        }
        # PMS leaves out what it does not know, and empty lists.
        optional = {
            "year": year,
            "tagline": tagline,
            "duration": duration,
            "originallyAvailableAt": originally_available_at,
            "Guid": [{"id": guid} for guid in guids] or None,
            "Genre": [self._tag(genre, "genre") for genre in genres] or None,
            "Role": [self._role(person, character) for person, character in roles] or None,
        }
        item.update((name, value) for name, value in optional.items() if value is not None)
        self._metadata[rating_key] = item
        return item

    def add_season(
        self,
        show_rating_key: str,
        number: int,
        *,
        episodes: int = 0,
        title: str | None = None,
        added_at: int | None = None,
    ) -> dict[str, Any]:
        """Season ``number`` of a series (an item of type ``show``) with ``episodes`` episodes numbered from 1, as
        the season's Metadata dict; the series' ``childCount`` (seasons) and ``leafCount`` (episodes) follow."""
        show = self._metadata[show_rating_key]
        if show["type"] != "show":
            raise ValueError("seasons belong to an item of type show")
        added = added_at if added_at is not None else int(time.time())
        rating_key = str(next(self._rating_keys))
        season: dict[str, Any] = {
            "ratingKey": rating_key,
            "key": f"/library/metadata/{rating_key}/children",
            "parentRatingKey": show_rating_key,
            "parentKey": f"/library/metadata/{show_rating_key}",
            "parentTitle": show["title"],
            "parentThumb": show["thumb"],
            "guid": f"plex://season/{secrets.token_hex(12)}",
            "type": "season",
            "title": title or f"Season {number}",
            "summary": "",
            "index": number,
            "thumb": f"/library/metadata/{rating_key}/thumb/{added}",
            "art": show["art"],
            "leafCount": 0,
            "addedAt": added,
            "updatedAt": added,
            "librarySectionID": show["librarySectionID"],
            "librarySectionKey": show["librarySectionKey"],
            "librarySectionTitle": show["librarySectionTitle"],
        }
        self._metadata[rating_key] = season
        section = self._sections[str(show["librarySectionID"])]
        for episode in range(1, episodes + 1):
            self._add_episode(section, show, season, episode, added)
        self._count_children(show_rating_key)
        return season

    def _add_episode(
        self, section: FakeSection, show: dict[str, Any], season: dict[str, Any], number: int, added: int
    ) -> None:
        rating_key = str(next(self._rating_keys))
        media_id, part_id = next(self._ids), next(self._ids)
        file = f"{section.location}/{show['title']}/Season {season['index']:02d}/Episode {number:02d}.mkv"
        self._metadata[rating_key] = {
            "ratingKey": rating_key,
            "key": f"/library/metadata/{rating_key}",
            "parentRatingKey": season["ratingKey"],
            "parentKey": season["key"].removesuffix("/children"),
            "parentTitle": season["title"],
            "parentIndex": season["index"],
            "parentThumb": season["thumb"],
            "grandparentRatingKey": show["ratingKey"],
            "grandparentKey": f"/library/metadata/{show['ratingKey']}",
            "grandparentTitle": show["title"],
            "grandparentThumb": show["thumb"],
            "grandparentArt": show["art"],
            "guid": f"plex://episode/{secrets.token_hex(12)}",
            "type": "episode",
            "title": f"Episode {number}",
            "summary": "",
            "index": number,
            "thumb": f"/library/metadata/{rating_key}/thumb/{added}",
            "art": show["art"],
            "addedAt": added,
            "updatedAt": added,
            "librarySectionID": show["librarySectionID"],
            "librarySectionKey": show["librarySectionKey"],
            "librarySectionTitle": show["librarySectionTitle"],
            "Media": [
                {
                    "id": media_id,
                    "Part": [{"id": part_id, "key": f"/library/parts/{part_id}/{added}/file", "file": file}],
                }
            ],
        }

    def _children_of(self, rating_key: str) -> list[dict[str, Any]]:
        """A series' seasons or a season's episodes, by number."""
        found = [entry for entry in self._metadata.values() if entry.get("parentRatingKey") == rating_key]
        return sorted(found, key=lambda entry: (entry.get("index", 0), int(entry["ratingKey"])))

    def _count_children(self, show_rating_key: str) -> None:
        """A series' and its seasons' counts: seasons (``childCount``) and episodes present (``leafCount``)."""
        show = self._metadata.get(show_rating_key)
        if show is None or show["type"] != "show":
            return
        seasons = self._children_of(show_rating_key)
        for season in seasons:
            season["leafCount"] = len(self._children_of(season["ratingKey"]))
        show["childCount"] = len(seasons)
        show["leafCount"] = sum(season["leafCount"] for season in seasons)

    def remove_item(self, rating_key: str) -> None:
        """The item is gone from the server (deleted from disk and the library emptied of it), with its seasons
        and episodes, and from the collections that held it; a series' counts follow."""
        entry = self._metadata.pop(rating_key)
        self._members.pop(rating_key, None)  # a collection: its items stay
        for child in self._children_of(rating_key):
            self.remove_item(child["ratingKey"])
        for collection_key, members in self._members.items():
            if rating_key in members:
                members.remove(rating_key)
                self._metadata[collection_key]["childCount"] = len(members)
        parent = entry.get("parentRatingKey")
        if parent is not None:
            grandparent = self._metadata.get(parent, {}).get("parentRatingKey")
            self._count_children(grandparent or parent)

    def remove_section(self, key: str) -> None:
        """The owner deleted the library: it goes with its items and collections."""
        del self._sections[key]
        for rating_key in [rk for rk, entry in self._metadata.items() if str(entry["librarySectionID"]) == key]:
            if rating_key in self._metadata:
                self.remove_item(rating_key)

    def _tag(self, tag: str, kind: str) -> dict[str, Any]:
        tag_id = self._tag_ids.setdefault((kind, tag), next(self._ids))
        return {"id": tag_id, "filter": f"{kind}={tag_id}", "tag": tag}

    def _role(self, person: str, character: str) -> dict[str, Any]:
        """A cast member as PMS's agents give them: the photo is an address at Plex's own image host."""
        role = self._tag(person, "actor")
        digest = hashlib.sha1(person.encode(), usedforsecurity=False).hexdigest()
        role.update(role=character, thumb=f"https://metadata-static.plex.tv/people/{digest}.jpg")
        return role

    def add_collection(self, section_key: str, title: str, rating_keys: list[str]) -> dict[str, Any]:
        """A (non-smart) collection of these items of the section, as its Metadata dict."""
        section = self._sections[section_key]
        rating_key = str(next(self._rating_keys))
        now = int(time.time())
        self._metadata[rating_key] = {
            "ratingKey": rating_key,
            "key": f"/library/collections/{rating_key}/children",
            "guid": f"collection://{uuid.uuid4()}",
            "type": "collection",
            "title": title,
            "subtype": section.type,
            "summary": "",
            "childCount": 0,
            "thumb": f"/library/collections/{rating_key}/composite/{now}",  # a mosaic of its items' posters
            "art": f"/library/metadata/{rating_key}/art/{now}",  # its background, as for any item
            "addedAt": now,
            "updatedAt": now,
            "librarySectionID": int(section_key),
            "librarySectionKey": f"/library/sections/{section_key}",
            "librarySectionTitle": section.title,
        }
        self._members[rating_key] = []
        return self._add_members(rating_key, rating_keys)

    def add_pending_file(self, section_key: str, file: str, title: str) -> None:
        """A file Plex has not scanned yet: an item once a refresh of its folder has run for ``scan_delay``."""
        self._pending.append(_Pending(section_key, file, title))

    # -- plex.tv PIN control -----------------------------------------------------------------------------------

    def approve_pin(self, pin_id: int, account: FakeAccount) -> None:
        """The user approved the PIN: polling it now gives the account's authToken."""
        self.pins[pin_id]["authToken"] = account.token

    def expire_pin(self, pin_id: int) -> None:
        """The PIN has expired: polling it gives 404."""
        self.pins[pin_id]["expiresAt"] = _iso(datetime.now(UTC) - timedelta(seconds=1))

    # -- plex.tv -----------------------------------------------------------------------------------------------

    def _plextv_answer(self, request: web.Request, data: Any, root: str, *, status: int = 200) -> web.Response:
        if _wants_json(request):
            return web.json_response(data, status=status)
        body = _xml(root, data) if isinstance(data, dict) else _xml(root, {root.removesuffix("s"): data})
        return web.Response(text=body, status=status, content_type="application/xml")

    def _client_id(self, request: web.Request, params: Mapping[str, str]) -> str:
        client = params.get("X-Plex-Client-Identifier")
        if not client:
            raise _plextv_error(request, web.HTTPBadRequest, 1000, "X-Plex-Client-Identifier is missing")
        return client

    def _plextv_account(self, request: web.Request, params: Mapping[str, str]) -> FakeAccount:
        self._client_id(request, params)
        account = self._accounts.get(params.get("X-Plex-Token", ""))
        if account is None:
            raise _plextv_error(request, web.HTTPUnauthorized, 1001, "User could not be authenticated")
        return account

    async def _create_pin(self, request: web.Request) -> web.Response:
        params = await _plextv_params(request)
        client = self._client_id(request, params)
        strong = params.get("strong", "false").lower() in ("true", "1")
        alphabet, length, lifetime = (
            (string.ascii_lowercase + string.digits, 25, self.pin_lifetimes["strong"])
            if strong
            else (string.ascii_uppercase + string.digits, 4, self.pin_lifetimes["short"])
        )
        code = "".join(secrets.choice(alphabet) for _ in range(length))
        created = datetime.now(UTC).replace(microsecond=0)
        pin_id = next(self._pin_ids)
        self.pins[pin_id] = {
            "id": pin_id,
            "code": code,
            "product": params.get("X-Plex-Product", ""),
            "trusted": False,
            "qr": f"https://plex.tv/api/v2/pins/qr/{code}",
            "clientIdentifier": client,
            "location": dict(_LOCATION),
            "expiresIn": lifetime,
            "createdAt": _iso(created),
            "expiresAt": _iso(created + timedelta(seconds=lifetime)),
            "authToken": None,
            "newRegistration": None,
            "strong": strong,
        }
        return self._plextv_answer(request, self._pin_json(pin_id), "pin", status=201)

    def _pin_json(self, pin_id: int) -> dict[str, Any]:
        return {name: value for name, value in self.pins[pin_id].items() if name != "strong"}

    async def _get_pin(self, request: web.Request) -> web.Response:
        params = await _plextv_params(request)
        client = self._client_id(request, params)
        pin = self.pins.get(int(request.match_info["pin_id"]))
        if (
            pin is None
            or pin["clientIdentifier"] != client
            or datetime.fromisoformat(pin["expiresAt"]) <= datetime.now(UTC)
        ):
            raise _plextv_error(request, web.HTTPNotFound, 1020, "Code not found or expired")
        return self._plextv_answer(request, self._pin_json(pin["id"]), "pin")

    async def _user(self, request: web.Request) -> web.Response:
        account = self._plextv_account(request, await _plextv_params(request))
        joined = int(self._started_at.timestamp()) - 86400 * 365
        user = {
            "id": account.id,
            "uuid": account.uuid,
            "username": account.username,
            "title": account.title,
            "email": account.email,
            "friendlyName": "",
            "locale": None,
            "confirmed": True,
            "joinedAt": joined,
            "emailOnlyAuth": False,
            "hasPassword": True,
            "protected": False,
            "thumb": account.thumb,
            "authToken": account.token,
            "mailingListStatus": "unsubscribed",
            "mailingListActive": False,
            "scrobbleTypes": "",
            "country": "US",
            "subscription": {
                "active": False,
                "subscribedAt": None,
                "status": "Inactive",
                "paymentService": None,
                "plan": None,
                "features": [],
            },
            "subscriptionDescription": None,
            "restricted": False,
            "anonymous": None,
            "home": False,
            "guest": False,
            "homeSize": 1,
            "homeAdmin": False,
            "maxHomeSize": 15,
            "rememberExpiresAt": int(time.time()) + 86400 * 14,
            "profile": {"autoSelectAudio": True, "defaultAudioLanguage": "en", "defaultSubtitleLanguage": "en"},
            "entitlements": [],
            "roles": [],
            "services": [],
            "twoFactorEnabled": False,
            "backupCodesCreated": False,
            "pin": None,
        }
        return self._plextv_answer(request, user, "user")

    async def _resources(self, request: web.Request) -> web.Response:
        account = self._plextv_account(request, await _plextv_params(request))
        devices: list[dict[str, Any]] = []
        if account == self.owner:
            devices.append(self._server_device(owner=None, token=account.token))
            devices.append(self._player_device())
        for token, share in self._shares.items():
            if share.account == account:
                devices.append(self._server_device(owner=self.owner, token=token))
        return self._plextv_answer(request, devices, "resources")

    def _server_device(self, *, owner: FakeAccount | None, token: str) -> dict[str, Any]:
        """The server as plex.tv lists it: ``owner`` None for its owner, else the account that shared it."""
        return {
            "name": self.friendly_name,
            "product": "Plex Media Server",
            "productVersion": self.version,
            "platform": "Linux",
            "platformVersion": "6.1.0",
            "device": "PC",
            "clientIdentifier": self.machine_identifier,
            "createdAt": _iso(self._started_at),
            "lastSeenAt": _iso(datetime.now(UTC)),
            "provides": "server",
            "ownerId": owner.id if owner else None,
            "sourceTitle": owner.username if owner else None,
            "publicAddress": "203.0.113.7",
            "accessToken": token,
            "owned": owner is None,
            "home": False,
            "synced": False,
            "relay": True,
            "presence": True,
            "httpsRequired": False,
            "publicAddressMatches": True,
            "dnsRebindingProtection": False,
            "natLoopbackSupported": True,
            "connections": [
                {
                    "protocol": "http",
                    "address": "127.0.0.1",
                    "port": self._port,
                    "uri": self.url,
                    "local": True,
                    "relay": False,
                    "IPv6": False,
                }
            ],
        }

    def _player_device(self) -> dict[str, Any]:
        """A browser the owner watches in: not a server, so clients must filter on ``provides``."""
        return self._server_device(owner=None, token=self.owner.token) | {
            "name": "Firefox",
            "product": "Plex Web",
            "productVersion": "4.145.0",
            "platform": "Firefox",
            "platformVersion": "130.0",
            "device": "Linux",
            "clientIdentifier": self._player_id,
            "provides": "client,player,pubsub-player",
            "connections": [],
        }

    # -- PMS: access, envelope, paging -------------------------------------------------------------------------

    def _viewer(self, request: web.Request, *, owner_only: bool = False) -> _Viewer:
        """The owner token sees everything; a share's token its sections; anything else (plex.tv authTokens of
        other accounts included) is 401. ``owner_only`` endpoints answer 403 to shared users."""
        token = request.headers.get("X-Plex-Token") or request.query.get("X-Plex-Token", "")
        if token == self.owner.token:
            return _Viewer(owner=True)
        share = self._shares.get(token)
        if share is None:
            raise _html_error(web.HTTPUnauthorized)
        if owner_only:
            raise _html_error(web.HTTPForbidden)
        return _Viewer(owner=False, shared=share.sections, hidden=share.hidden)

    def _pms_answer(
        self, request: web.Request, container: dict[str, Any], headers: Mapping[str, str] | None = None
    ) -> web.Response:
        if _wants_json(request):
            return web.json_response({"MediaContainer": container}, headers=headers)
        return web.Response(text=_xml("MediaContainer", container), content_type="application/xml", headers=headers)

    def _paged(self, request: web.Request, name: str, entries: list[dict[str, Any]], **extra: Any) -> web.Response:
        """A page of ``entries`` by X-Plex-Container-Start/-Size (headers or query); size 0 gives only the totals."""

        def number(param: str) -> int | None:
            value = request.headers.get(param, request.query.get(param))
            if value is None:
                return None
            if not value.isdigit():
                raise _html_error(web.HTTPBadRequest)
            return int(value)

        start = number("X-Plex-Container-Start") or 0
        size = number("X-Plex-Container-Size")
        page = entries[start:] if size is None else entries[start : start + size]
        page = [self._shown(request, entry) for entry in page]
        container: dict[str, Any] = {"size": len(page), "totalSize": len(entries), "offset": start, **extra}
        if page:
            container[name] = page  # PMS leaves empty arrays out
        headers = {"X-Plex-Container-Start": str(start), "X-Plex-Container-Total-Size": str(len(entries))}
        return self._pms_answer(request, container, headers)

    def _shown(self, request: web.Request, entry: dict[str, Any], *, detail: bool = False) -> dict[str, Any]:
        """An item as this request gets it: its ``Guid`` tags only with ``includeGuids=1``, its genres and cast
        only in its own detail."""
        hidden = set() if request.query.get("includeGuids") == "1" else {"Guid"}
        if not detail:
            hidden |= {"Genre", "Role"}
        if hidden.isdisjoint(entry):
            return entry
        return {name: value for name, value in entry.items() if name not in hidden}

    def _section(self, request: web.Request, viewer: _Viewer) -> FakeSection:
        section = self._sections.get(request.match_info["key"])
        if section is None or not viewer.sees(section.key):
            raise _html_error(web.HTTPNotFound)
        return section

    def _visible(self, rating_key: str, viewer: _Viewer) -> dict[str, Any]:
        entry = self._metadata.get(rating_key)
        if entry is None or not viewer.opens(entry):
            raise _html_error(web.HTTPNotFound)
        return entry

    def _items(self, viewer: _Viewer, *, collections: bool = False) -> list[dict[str, Any]]:
        """Visible items (or collections), in the order they were added."""
        return [
            entry
            for entry in self._metadata.values()
            if (entry["type"] == "collection") == collections and viewer.opens(entry)
        ]

    # -- PMS: endpoints ----------------------------------------------------------------------------------------

    async def _identity(self, request: web.Request) -> web.Response:
        container = {"size": 0, "claimed": True, "machineIdentifier": self.machine_identifier, "version": self.version}
        return self._pms_answer(request, container)

    async def _root(self, request: web.Request) -> web.Response:
        self._viewer(request)
        directories = [{"count": 1, "key": key, "title": key} for key in ("hubs", "library", "status")]
        return self._pms_answer(
            request,
            {
                "size": len(directories),
                "friendlyName": self.friendly_name,
                "machineIdentifier": self.machine_identifier,
                "version": self.version,
                "platform": "Linux",
                "platformVersion": "6.1.0",
                "myPlex": True,
                "myPlexUsername": self.owner.username,
                "myPlexSigninState": "ok",
                "myPlexMappingState": "mapped",
                "multiuser": True,
                "allowSync": True,
                "transcoderVideo": True,
                "updatedAt": int(self._started_at.timestamp()),
                "Directory": directories,
            },
        )

    async def _list_sections(self, request: web.Request) -> web.Response:
        viewer = self._viewer(request)
        directories = [self._section_json(s) for s in self._sections.values() if viewer.sees(s.key)]
        container: dict[str, Any] = {"size": len(directories), "allowSync": True, "title1": "Plex Library"}
        if directories:
            container["Directory"] = directories
        return self._pms_answer(request, container)

    def _section_json(self, section: FakeSection) -> dict[str, Any]:
        agent, scanner, _ = _SECTION_KINDS[section.type]
        agent = section.agent or agent
        refreshing = any(p.section_key == section.key and p.scan_at is not None for p in self._pending)
        return {
            "key": section.key,
            "title": section.title,
            "type": section.type,
            "agent": agent,
            "scanner": scanner,
            "language": "en-US",
            "uuid": section.uuid,
            "refreshing": refreshing,
            "updatedAt": section.scanned_at,
            "createdAt": section.created_at,
            "scannedAt": section.scanned_at,
            "contentChangedAt": section.scanned_at,
            "hidden": 0,
            "thumb": f"/:/resources/{section.type}.png",
            "art": f"/:/resources/{section.type}-fanart.jpg",
            "Location": [{"id": section.location_id, "path": section.location}],
        }

    async def _section_items(self, request: web.Request) -> web.Response:
        viewer = self._viewer(request)
        section = self._section(request, viewer)
        type_param = request.query.get("type")
        if type_param is not None and not type_param.isdigit():
            raise _html_error(web.HTTPBadRequest)
        collections = type_param == str(_COLLECTION_TYPE)
        entries = [e for e in self._items(viewer, collections=collections) if str(e["librarySectionID"]) == section.key]
        if type_param is not None and not collections:
            entries = [e for e in entries if TYPE_NUMBERS.get(e["type"]) == int(type_param)]
        elif type_param is None:  # by default the section's own items: series, not their seasons and episodes
            entries = [e for e in entries if "parentRatingKey" not in e]
        if title := request.query.get("title"):
            entries = [e for e in entries if title.casefold() in str(e["title"]).casefold()]
        field, _, direction = request.query.get("sort", "titleSort").partition(":")
        if field not in _SORT_KEYS or direction not in ("", "asc", "desc"):
            raise _html_error(web.HTTPBadRequest)
        entries.sort(key=_SORT_KEYS[field], reverse=direction == "desc")
        return self._paged(request, "Metadata", entries, librarySectionID=int(section.key), title1=section.title)

    async def _section_collections(self, request: web.Request) -> web.Response:
        viewer = self._viewer(request)
        section = self._section(request, viewer)
        entries = [e for e in self._items(viewer, collections=True) if str(e["librarySectionID"]) == section.key]
        return self._paged(request, "Metadata", sorted(entries, key=_title_sort), librarySectionID=int(section.key))

    async def _recently_added(self, request: web.Request) -> web.Response:
        entries = sorted(self._items(self._viewer(request)), key=_SORT_KEYS["addedAt"], reverse=True)
        return self._paged(request, "Metadata", entries)

    async def _metadata_detail(self, request: web.Request) -> web.Response:
        """Items' details by ratingKey, one or a comma-separated list of them.

        A list answers the items of it this token may open, in the order asked, and 404 when it may open none
        of them. This is the fake's choice: PMS answers a list of items that all exist and are visible, and 404
        for a single item that is not, but what it answers for a list that is only partly visible to a shared
        user is not confirmed (clients should not rely on either; MediaNest asks the keys one by one after a
        404 for a list)."""
        viewer = self._viewer(request)
        keys = request.match_info["keys"].split(",")
        entries = [entry for key in dict.fromkeys(keys) if (entry := self._metadata.get(key)) and viewer.opens(entry)]
        if not entries:
            raise _html_error(web.HTTPNotFound)
        shown = [self._shown(request, entry, detail=True) for entry in entries]
        return self._pms_answer(request, {"size": len(shown), "Metadata": shown})

    async def _children(self, request: web.Request) -> web.Response:
        """A series' seasons, or a season's episodes, by number and paged; nothing for other items."""
        viewer = self._viewer(request)
        parent = self._visible(request.match_info["key"], viewer)
        entries = [entry for entry in self._children_of(parent["ratingKey"]) if viewer.opens(entry)]
        extra: dict[str, Any] = {
            "key": parent["ratingKey"],
            "librarySectionID": parent["librarySectionID"],
            "librarySectionTitle": parent["librarySectionTitle"],
            "title1": parent["librarySectionTitle"],
            "title2": parent["title"],
        }
        if parent["type"] in ("show", "season"):
            extra["viewGroup"] = "season" if parent["type"] == "show" else "episode"
        return self._paged(request, "Metadata", entries, **extra)

    async def _collection_items(self, request: web.Request) -> web.Response:
        viewer = self._viewer(request)
        collection = self._visible(request.match_info["key"], viewer)
        if collection["type"] != "collection":
            raise _html_error(web.HTTPNotFound)
        members = [self._metadata[key] for key in self._members[collection["ratingKey"]]]
        members = [entry for entry in members if viewer.opens(entry)]
        return self._paged(request, "Metadata", members, title1=collection["title"])

    def _uri_items(self, uri: str, section_key: str) -> list[str]:
        """The ratingKeys a ``server://<machine>/com.plexapp.plugins.library/library/metadata/<rk>,...`` URI names;
        400 if it is malformed, for another server, or names anything but items of this section."""
        match = _URI.fullmatch(uri)
        if match is None or match["machine"] != self.machine_identifier:
            raise _html_error(web.HTTPBadRequest)
        keys = match["keys"].split(",")
        for key in keys:
            item = self._metadata.get(key)
            if item is None or item["type"] == "collection" or str(item["librarySectionID"]) != section_key:
                raise _html_error(web.HTTPBadRequest)
        return keys

    def _add_members(self, collection_key: str, rating_keys: list[str]) -> dict[str, Any]:
        members = self._members[collection_key]
        members.extend(key for key in dict.fromkeys(rating_keys) if key not in members)
        collection = self._metadata[collection_key]
        collection["childCount"] = len(members)
        collection["updatedAt"] = int(time.time())
        return collection

    async def _create_collection(self, request: web.Request) -> web.Response:
        self._viewer(request, owner_only=True)
        query = request.query
        section = self._sections.get(query.get("sectionId", ""))
        if section is None or not query.get("title") or query.get("smart", "0") != "0":
            raise _html_error(web.HTTPBadRequest)  # this fake has no smart collections
        if not query.get("type", "").isdigit() or int(query["type"]) not in TYPE_NUMBERS.values():
            raise _html_error(web.HTTPBadRequest)
        rating_keys = self._uri_items(query.get("uri", ""), section.key)
        collection = self.add_collection(section.key, query["title"], rating_keys)
        return self._pms_answer(request, {"size": 1, "Metadata": [collection]})

    async def _add_to_collection(self, request: web.Request) -> web.Response:
        self._viewer(request, owner_only=True)
        collection = self._metadata.get(request.match_info["key"])
        if collection is None or collection["type"] != "collection":
            raise _html_error(web.HTTPNotFound)
        rating_keys = self._uri_items(request.query.get("uri", ""), str(collection["librarySectionID"]))
        return self._pms_answer(
            request, {"size": 1, "Metadata": [self._add_members(collection["ratingKey"], rating_keys)]}
        )

    async def _delete_collection(self, request: web.Request) -> web.Response:
        self._viewer(request, owner_only=True)
        collection = self._metadata.get(request.match_info["key"])
        if collection is None or collection["type"] != "collection":
            raise _html_error(web.HTTPNotFound)
        del self._metadata[collection["ratingKey"]]
        del self._members[collection["ratingKey"]]
        self.deleted_collections.append(collection["ratingKey"])
        return web.Response()

    def _files_on_disk(self, section: FakeSection, path: str | None) -> list[Path]:
        """Media files under ``path`` (the section's location when None) if that is inside the location and the
        location is a folder here; absolute, not resolved, hidden files and folders left out."""
        location = Path(os.path.abspath(section.location))
        root = Path(os.path.abspath(path)) if path else location
        if not location.is_dir() or not root.is_relative_to(location):
            return []
        candidates = [root] if root.is_file() else sorted(root.rglob("*"))
        return [
            file
            for file in candidates
            if file.suffix.lower() in MEDIA_SUFFIXES
            and not any(part.startswith(".") for part in file.relative_to(location).parts)
            and file.is_file()
        ]

    def _find_new_files(self, section: FakeSection, path: str | None) -> None:
        """Files on disk that are neither items of the section nor pending join the pending files."""
        known = {
            file
            for entry in self._metadata.values()
            if entry["type"] != "collection" and str(entry["librarySectionID"]) == section.key
            for media in entry.get("Media", [])
            for part in media.get("Part", [])
            if (file := part.get("file"))
        }
        known |= {p.file for p in self._pending if p.section_key == section.key}
        for file in self._files_on_disk(section, path):
            if str(file) not in known:
                self._pending.append(_Pending(section.key, str(file), _ID_SUFFIX.sub("", file.stem)))

    async def _refresh(self, request: web.Request) -> web.Response:
        section = self._section(request, self._viewer(request, owner_only=True))
        path = request.query.get("path")
        self.refreshes.append((section.key, path))
        self._start_scan(section, path)
        return web.Response()

    def _start_scan(self, section: FakeSection, path: str | None) -> None:
        """The section's pending files under ``path``, the new ones on disk included, are items in ``scan_delay``."""
        self._find_new_files(section, path)
        scan_at = time.monotonic() + self.scan_delay
        folder = os.path.abspath(path) if path else None
        for pending in self._pending:
            in_path = folder is None or pending.file == folder or pending.file.startswith(folder.rstrip("/") + "/")
            if pending.section_key == section.key and in_path and pending.scan_at is None:
                pending.scan_at = scan_at

    def _finish_scans(self) -> None:
        """Pending files whose scan is over become items (checked at each request)."""
        now = time.monotonic()
        for pending in [p for p in self._pending if p.scan_at is not None and now >= p.scan_at]:
            self._pending.remove(pending)
            self.add_item(pending.section_key, pending.title, file=pending.file)
            self._sections[pending.section_key].scanned_at = int(time.time())

    async def _search(self, request: web.Request) -> web.Response:
        viewer = self._viewer(request)
        query, limit = request.query.get("query", ""), request.query.get("limit", "3")
        if not query or not limit.isdigit():
            raise _html_error(web.HTTPBadRequest)
        sections = [s for s in self._sections.values() if viewer.sees(s.key)]
        if section_id := request.query.get("sectionId"):
            sections = [s for s in sections if s.key == section_id]
        if not sections:
            raise _html_error(web.HTTPNotFound)  # nothing searchable
        keys = {s.key for s in sections}
        matches = [
            e
            for e in self._items(viewer) + self._items(viewer, collections=True)
            if str(e["librarySectionID"]) in keys and query.casefold() in str(e["title"]).casefold()
        ]
        hubs = []  # one hub per searchable type, empty ones too, each with at most `limit` results
        kinds = {s.type: _SECTION_KINDS[s.type][2] for s in sections}
        present = {e["type"] for e in self._items(viewer) if str(e["librarySectionID"]) in keys}
        kinds |= {kind: title for kind, title in _CHILD_HUBS.items() if kind in present}
        kinds |= {"collection": "Collections"}
        for kind, title in kinds.items():
            found = [e for e in matches if e["type"] == kind]
            shown = [self._shown(request, entry) for entry in found[: int(limit)]]
            hub: dict[str, Any] = {"hubIdentifier": kind, "title": title, "type": kind, "size": len(shown)}
            hub["more"] = len(found) > len(shown)
            if shown:
                hub["Metadata"] = shown
            hubs.append(hub)
        return self._pms_answer(request, {"size": len(hubs), "Hub": hubs})

    async def _transcode(self, request: web.Request) -> web.Response:
        """The image transcoder: an image of the server (a path) or from the web (an http(s) address, such as a
        cast member's photo at Plex's image host), as an image of the size asked."""
        viewer = self._viewer(request)
        url = request.query.get("url", "")
        for name in ("width", "height"):
            if not request.query.get(name, "1").isdigit():
                raise _html_error(web.HTTPBadRequest)
        image = _IMAGE_PATH.fullmatch(url)
        if image is not None:
            self._visible(image["key"], viewer)
        elif not re.fullmatch(r"https?://[^/\s]+/\S*", url):
            raise _html_error(web.HTTPBadRequest)
        self.transcoded.append(url)
        return self._image_response(POSTER_PNG)

    async def _sessions(self, request: web.Request) -> web.Response:
        self._viewer(request, owner_only=True)
        return self._pms_answer(request, {"size": self.streams})

    async def _image(self, request: web.Request) -> web.Response:
        self._visible(request.match_info["key"], self._viewer(request))
        return self._image_response(ART_PNG if request.match_info["kind"] == "art" else POSTER_PNG)

    def _image_response(self, png: bytes) -> web.Response:
        if self.image_answer is None:
            return web.Response(body=png, content_type="image/png")
        body, content_type = self.image_answer
        return web.Response(body=body, headers={"Content-Type": content_type})
