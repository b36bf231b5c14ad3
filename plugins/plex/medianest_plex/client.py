"""Clients of plex.tv (PIN sign-in, accounts, who may use the server) and of the Plex Media Server (libraries,
items, series' seasons, collections, search, images, scans), on the core's resilient upstream client.

Every call asks for JSON (``Accept: application/json``) and structures the ``MediaContainer`` envelope into the
attrs classes below; fields keep Plex's own names. Tokens travel in the ``X-Plex-Token`` header, never in a URL.
Calls that list or show items ask for their external ids too (``includeGuids=1``): :func:`external_ids` reads
them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, Generic, TypeVar
from urllib.parse import urlencode

import attrs

from medianest_core.types import ExternalIds
from medianest_core.upstream import NotFound, Upstream

T = TypeVar("T")


def plex_headers(product: str, client_id: str, version: str) -> dict[str, str]:
    """How MediaNest introduces itself to Plex: the product shown in the person's authorized devices, and a
    client identifier generated once and kept."""
    return {
        "Accept": "application/json",
        "X-Plex-Product": product,
        "X-Plex-Client-Identifier": client_id,
        "X-Plex-Version": version,
        "X-Plex-Platform": "Web",
        "X-Plex-Device": "MediaNest",
        "X-Plex-Device-Name": product,
        "X-Plex-Provides": "controller",
    }


# ---- plex.tv ----------------------------------------------------------------------------------------------------


@attrs.frozen
class Pin:
    id: int
    code: str
    expiresIn: int = 0
    expiresAt: str | None = None
    authToken: str | None = None


@attrs.frozen
class PlexAccount:
    id: int
    uuid: str
    username: str
    title: str = ""
    email: str | None = None
    thumb: str | None = None


@attrs.frozen
class Resource:
    name: str
    clientIdentifier: str
    provides: str = ""
    owned: bool = False
    accessToken: str | None = None
    sourceTitle: str | None = None


class PlexTv:
    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream

    async def create_pin(self, strong: bool) -> Pin:
        path = "/api/v2/pins?strong=true" if strong else "/api/v2/pins"
        pin: Pin = await self.upstream.request("POST", path, expect=Pin)
        return pin

    async def check_pin(self, pin_id: int) -> Pin | None:
        """The PIN now; ``None`` once it has expired (plex.tv forgets it)."""
        try:
            pin: Pin = await self.upstream.request("GET", f"/api/v2/pins/{pin_id}", expect=Pin)
        except NotFound:
            return None
        return pin

    async def account(self, token: str) -> PlexAccount:
        account: PlexAccount = await self.upstream.request(
            "GET", "/api/v2/user", headers={"X-Plex-Token": token}, expect=PlexAccount
        )
        return account

    async def resources(self, token: str) -> list[Resource]:
        found: list[Resource] = await self.upstream.request(
            "GET",
            "/api/v2/resources?includeHttps=1&includeRelay=1",
            headers={"X-Plex-Token": token},
            expect=list[Resource],
        )
        return found


def auth_app_url(client_id: str, code: str, product: str) -> str:
    """Where the person approves MediaNest in the Plex app (for a strong PIN)."""
    params = {"clientID": client_id, "code": code, "context[device][product]": product}
    return "https://app.plex.tv/auth#?" + urlencode(params)


# ---- Plex Media Server ------------------------------------------------------------------------------------------


@attrs.frozen
class Envelope(Generic[T]):
    MediaContainer: T


@attrs.frozen
class Identity:
    machineIdentifier: str
    version: str = ""


@attrs.frozen
class ServerInfo:
    machineIdentifier: str
    friendlyName: str = ""
    version: str = ""
    platform: str = ""
    platformVersion: str = ""


@attrs.frozen
class Location:
    path: str
    id: int | None = None


@attrs.frozen
class Section:
    key: str
    title: str
    type: str
    agent: str | None = None
    """The agent that finds its metadata: ``tv.plex.agents.none`` for a library of other videos."""
    thumb: str | None = None
    art: str | None = None
    Location: list[Location] = attrs.field(factory=list)


@attrs.frozen
class Part:
    file: str | None = None


@attrs.frozen
class Media:
    Part: list[Part] = attrs.field(factory=list)


@attrs.frozen
class GuidTag:
    """One of an item's external ids, as Plex's agents give it: ``tmdb://603``, ``tvdb://81189``,
    ``imdb://tt0133093``."""

    id: str


@attrs.frozen
class Tag:
    """A genre (or another plain tag) of an item's detail."""

    tag: str


@attrs.frozen
class RoleTag:
    """A cast member of an item's detail: ``tag`` is the person, ``role`` the character, ``thumb`` a photo (an
    address on the web, such as Plex's image host)."""

    tag: str
    role: str | None = None
    thumb: str | None = None


@attrs.frozen
class Item:
    """An item: a film, a series, a season (``index``, ``parentRatingKey``: its series), an episode (also
    ``grandparentRatingKey``), a collection, …"""

    ratingKey: str
    title: str
    type: str = ""
    key: str | None = None
    guid: str | None = None
    year: int | None = None
    summary: str | None = None
    tagline: str | None = None
    originallyAvailableAt: str | None = None
    thumb: str | None = None
    art: str | None = None
    addedAt: int | None = None
    duration: int | None = None
    librarySectionID: int | None = None
    librarySectionTitle: str | None = None
    childCount: int | None = None
    leafCount: int | None = None
    index: int | None = None
    parentIndex: int | None = None
    parentRatingKey: str | None = None
    parentTitle: str | None = None
    parentThumb: str | None = None
    grandparentRatingKey: str | None = None
    grandparentTitle: str | None = None
    grandparentThumb: str | None = None
    grandparentArt: str | None = None
    subtype: str | None = None
    Guid: list[GuidTag] = attrs.field(factory=list)
    Genre: list[Tag] = attrs.field(factory=list)
    Role: list[RoleTag] = attrs.field(factory=list)
    Media: list[Media] = attrs.field(factory=list)

    @property
    def files(self) -> list[str]:
        return [part.file for media in self.Media for part in media.Part if part.file]

    @property
    def ids(self) -> ExternalIds:
        return external_ids(self.Guid, self.guid)


MAX_ID: Final = 2**31 - 1
"""TMDB and TheTVDB ids are whole numbers from 1; past this one is no id of theirs (and no column's)."""
IMDB_ID: Final = re.compile(r"tt[0-9]{7,10}", re.ASCII)
LEGACY_AGENTS: Final = {
    "com.plexapp.agents.themoviedb": "tmdb",
    "com.plexapp.agents.thetvdb": "tvdb",
    "com.plexapp.agents.imdb": "imdb",
}
"""The older agents name one id in the item's own ``guid`` (``com.plexapp.agents.imdb://tt0133093?lang=en``)."""


def external_ids(guids: Sequence[GuidTag], legacy: str | None = None) -> ExternalIds:
    """The TMDB, TheTVDB and IMDb ids among an item's ``Guid`` tags (the first of each kind); ids that are not
    well formed are ignored. ``legacy``, the item's own ``guid``, counts when an older agent matched it."""
    found: dict[str, int | str] = {}
    candidates = [guid.id for guid in guids]
    if legacy:
        scheme, sep, rest = legacy.partition("://")
        if sep and scheme in LEGACY_AGENTS:
            candidates.append(f"{LEGACY_AGENTS[scheme]}://{rest.split('?', 1)[0]}")
    for candidate in candidates:
        scheme, sep, value = candidate.partition("://")
        if not sep or scheme in found:
            continue
        if scheme in ("tmdb", "tvdb"):
            if value.isascii() and value.isdigit() and 0 < int(value) <= MAX_ID:
                found[scheme] = int(value)
        elif scheme == "imdb" and IMDB_ID.fullmatch(value):
            found[scheme] = value
    tmdb, tvdb, imdb = found.get("tmdb"), found.get("tvdb"), found.get("imdb")
    return ExternalIds(
        tmdb=tmdb if isinstance(tmdb, int) else None,
        tvdb=tvdb if isinstance(tvdb, int) else None,
        imdb=imdb if isinstance(imdb, str) else None,
    )


@attrs.frozen
class Sections:
    Directory: list[Section] = attrs.field(factory=list)


@attrs.frozen
class Items:
    size: int = 0
    totalSize: int | None = None
    offset: int | None = None
    Metadata: list[Item] = attrs.field(factory=list)


@attrs.frozen
class Hub:
    title: str
    type: str = ""
    hubIdentifier: str = ""
    Metadata: list[Item] = attrs.field(factory=list)


@attrs.frozen
class Hubs:
    Hub: list[Hub] = attrs.field(factory=list)


@attrs.frozen
class Sessions:
    size: int = 0


@attrs.frozen
class Page:
    items: list[Item]
    total: int
    offset: int


# Plex's numbers for item types, for creating collections.
TYPE_NUMBERS = {"movie": 1, "show": 2, "season": 3, "episode": 4, "artist": 8, "album": 9, "track": 10, "clip": 12}
GUIDS: Final = {"includeGuids": 1}
"""Asked of every call that lists or shows items: their external ids (``Guid`` tags)."""


class PlexServer:
    """The owner's Plex Media Server. Each call says whose token it uses: the owner's, or the person's own server
    token, with which Plex shows only the libraries shared with them."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream

    async def _get(self, path: str, token: str | None, cls: type[T], params: Mapping[str, Any] | None = None) -> T:
        headers = {"X-Plex-Token": token} if token else None
        envelope: Envelope[T] = await self.upstream.request(
            "GET",
            path,
            params=params,
            headers=headers,
            expect=Envelope[cls],  # type: ignore[valid-type]
        )
        return envelope.MediaContainer

    async def identity(self) -> Identity:
        return await self._get("/identity", None, Identity)

    async def info(self, token: str) -> ServerInfo:
        return await self._get("/", token, ServerInfo)

    async def sections(self, token: str) -> list[Section]:
        return (await self._get("/library/sections", token, Sections)).Directory

    async def items(
        self,
        token: str,
        section: str,
        *,
        start: int = 0,
        size: int = 50,
        sort: str | None = None,
        title: str = "",
        kind: str | None = None,
    ) -> Page:
        """A page of the section's items; ``kind`` ("movie", "show", "episode", …) picks one type of them."""
        params: dict[str, Any] = {"X-Plex-Container-Start": start, "X-Plex-Container-Size": size, **GUIDS}
        if sort:
            params["sort"] = sort
        if title:
            params["title"] = title
        if kind is not None:
            params["type"] = TYPE_NUMBERS[kind]
        found = await self._get(f"/library/sections/{section}/all", token, Items, params)
        return _page(found, start)

    async def recently_added(self, token: str, size: int = 20) -> list[Item]:
        params = {"X-Plex-Container-Start": 0, "X-Plex-Container-Size": size, **GUIDS}
        return (await self._get("/library/recentlyAdded", token, Items, params)).Metadata[:size]

    async def item(self, token: str, rating_key: str) -> Item:
        """An item's detail: with its genres and cast (``Genre``, ``Role``) and its external ids."""
        found = (await self._get(f"/library/metadata/{rating_key}", token, Items, GUIDS)).Metadata
        if not found:
            raise NotFound(self.upstream.service, "no such item")
        return found[0]

    async def opened(self, token: str, rating_keys: Sequence[str]) -> set[str]:
        """Which of these items the token may open, asked in one call (``/library/metadata/<rk1>,<rk2>,…``): the
        items Plex answers. :class:`NotFound` when it answers 404 for the list: for one key, that key is hidden;
        for several, Plex may mean any of them (the caller asks one by one)."""
        found = (await self._get(f"/library/metadata/{','.join(rating_keys)}", token, Items)).Metadata
        return {item.ratingKey for item in found} & set(rating_keys)

    async def children(self, token: str, rating_key: str, *, start: int = 0, size: int = 200) -> Page:
        """A page of a series' seasons, or of a season's episodes, by number."""
        params = {"X-Plex-Container-Start": start, "X-Plex-Container-Size": size}
        found = await self._get(f"/library/metadata/{rating_key}/children", token, Items, params)
        return _page(found, start)

    async def collections(self, token: str, section: str) -> list[Item]:
        return (await self._get(f"/library/sections/{section}/collections", token, Items)).Metadata

    async def collection_items(self, token: str, collection: str, *, start: int = 0, size: int = 50) -> Page:
        params = {"X-Plex-Container-Start": start, "X-Plex-Container-Size": size, **GUIDS}
        found = await self._get(f"/library/collections/{collection}/items", token, Items, params)
        return _page(found, start)

    async def search(self, token: str, query: str, limit: int = 10) -> list[Item]:
        hubs = (await self._get("/hubs/search", token, Hubs, {"query": query, "limit": limit, **GUIDS})).Hub
        return [item for hub in hubs for item in hub.Metadata]

    async def playing(self, owner_token: str) -> int:
        return (await self._get("/status/sessions", owner_token, Sessions)).size

    async def image(
        self, token: str, path: str, params: Mapping[str, Any] | None = None, *, max_bytes: int | None = None
    ) -> tuple[bytes, str]:
        """An image of the server (a ``thumb`` or ``art`` path), or, through ``/photo/:/transcode`` with its
        ``params``, one the server fetches for us (a cast member's photo); :class:`BadResponse` when it is larger
        than ``max_bytes``."""
        return await self.upstream.fetch_bytes(
            path, params=params, headers={"X-Plex-Token": token}, max_bytes=max_bytes
        )

    async def refresh(self, owner_token: str, section: str, path: str | None = None) -> None:
        params = {"path": path} if path else None
        await self.upstream.request(
            "GET", f"/library/sections/{section}/refresh", params=params, headers={"X-Plex-Token": owner_token}
        )

    def _uri(self, machine: str, rating_keys: Sequence[str]) -> str:
        return f"server://{machine}/com.plexapp.plugins.library/library/metadata/{','.join(rating_keys)}"

    async def create_collection(
        self, owner_token: str, machine: str, section: str, title: str, kind: str, rating_keys: Sequence[str]
    ) -> Item:
        params = {
            "type": TYPE_NUMBERS.get(kind, 1),
            "title": title,
            "smart": 0,
            "sectionId": section,
            "uri": self._uri(machine, rating_keys),
        }
        envelope: Envelope[Items] = await self.upstream.request(
            "POST", "/library/collections", params=params, headers={"X-Plex-Token": owner_token}, expect=Envelope[Items]
        )
        return envelope.MediaContainer.Metadata[0]

    async def add_to_collection(
        self, owner_token: str, machine: str, collection: str, rating_keys: Sequence[str]
    ) -> None:
        await self.upstream.request(
            "PUT",
            f"/library/collections/{collection}/items",
            params={"uri": self._uri(machine, rating_keys)},
            headers={"X-Plex-Token": owner_token},
        )

    async def delete_collection(self, owner_token: str, collection: str) -> None:
        """Remove the collection; its items stay. :class:`NotFound` when the server has no such collection."""
        await self.upstream.request(
            "DELETE", f"/library/collections/{collection}", headers={"X-Plex-Token": owner_token}
        )


def _page(found: Items, start: int) -> Page:
    total = found.totalSize if found.totalSize is not None else found.size
    return Page(found.Metadata, total, found.offset if found.offset is not None else start)
