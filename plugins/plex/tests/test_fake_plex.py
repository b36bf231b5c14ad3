"""The fake plex.tv and Plex Media Server answer as the real ones do (shapes, status codes, tokens, paging, scans)."""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from medianest_plex.fake import FakePlex

JSON = {"Accept": "application/json"}
CLIENT = {**JSON, "X-Plex-Client-Identifier": "test-client", "X-Plex-Product": "MediaNest"}


@pytest.fixture
async def plex() -> AsyncIterator[FakePlex]:
    fake = FakePlex(machine_identifier="abc123")
    fake.add_section("1", "Movies", "movie")
    fake.add_section("2", "TV Shows", "show")
    fake.add_item("1", "The Matrix", year=1999, added_at=1_700_000_100)
    fake.add_item("1", "Heat", year=1995, added_at=1_700_000_300)
    fake.add_item("1", "Alien", year=1979, added_at=1_700_000_200)
    fake.add_item("2", "Severance", year=2022, added_at=1_700_000_400)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def pms(token: str) -> dict[str, str]:
    return {**CLIENT, "X-Plex-Token": token}


async def get_json(http: aiohttp.ClientSession, url: str, token: str, **params: Any) -> Any:
    async with http.get(url, headers=pms(token), params=params) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_pins_strong_and_four_character(plex: FakePlex, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{plex.url}/api/v2/pins?strong=true", headers=CLIENT) as response:
        assert response.status == 201
        pin = await response.json()
    assert len(pin["code"]) == 25
    assert pin["expiresIn"] == 1800
    assert pin["product"] == "MediaNest"
    assert pin["clientIdentifier"] == "test-client"
    assert pin["qr"] == f"https://plex.tv/api/v2/pins/qr/{pin['code']}"
    assert (pin["trusted"], pin["authToken"], pin["newRegistration"]) == (False, None, None)
    assert pin["createdAt"].endswith("Z")
    assert pin["expiresAt"].endswith("Z")
    assert pin["location"]["code"] == "US"
    assert plex.pins[pin["id"]]["strong"] is True

    async with http.post(f"{plex.url}/api/v2/pins", headers=CLIENT) as response:
        short = await response.json()
    assert len(short["code"]) == 4
    assert short["expiresIn"] == 900
    assert short["id"] != pin["id"]

    async with http.post(f"{plex.url}/api/v2/pins", headers=JSON) as response:
        assert response.status == 400
        assert await response.json() == {
            "errors": [{"code": 1000, "message": "X-Plex-Client-Identifier is missing", "status": 400}]
        }


async def test_polling_a_pin(plex: FakePlex, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{plex.url}/api/v2/pins", params={"strong": "true"}, headers=CLIENT) as response:
        pin_id = (await response.json())["id"]
    async with http.get(f"{plex.url}/api/v2/pins/{pin_id}", headers=CLIENT) as response:
        assert response.status == 200
        assert (await response.json())["authToken"] is None

    plex.approve_pin(pin_id, plex.owner)
    async with http.get(f"{plex.url}/api/v2/pins/{pin_id}", headers=CLIENT) as response:
        assert (await response.json())["authToken"] == plex.owner.token

    not_found = {"errors": [{"code": 1020, "message": "Code not found or expired"}]}
    other_client = {**CLIENT, "X-Plex-Client-Identifier": "someone-else"}
    async with http.get(f"{plex.url}/api/v2/pins/{pin_id}", headers=other_client) as response:
        assert response.status == 404
        assert await response.json() == not_found
    plex.expire_pin(pin_id)
    async with http.get(f"{plex.url}/api/v2/pins/{pin_id}", headers=CLIENT) as response:
        assert response.status == 404
        assert await response.json() == not_found
    async with http.get(f"{plex.url}/api/v2/pins/999", headers=CLIENT) as response:
        assert response.status == 404


async def test_user(plex: FakePlex, http: aiohttp.ClientSession) -> None:
    alice = plex.add_account("alice", email="alice@example.org")
    user = await get_json(http, f"{plex.url}/api/v2/user", alice.token)
    assert (user["id"], user["uuid"], user["username"], user["email"]) == (alice.id, alice.uuid, "alice", alice.email)
    assert user["authToken"] == alice.token
    assert user["subscription"]["active"] is False
    assert (user["home"], user["guest"]) == (False, False)

    server_token = plex.share(alice, ["1"])
    for token in ("nope", server_token):  # a server access token is not a plex.tv token
        async with http.get(f"{plex.url}/api/v2/user", headers=pms(token)) as response:
            assert response.status == 401
            assert await response.json() == {
                "errors": [{"code": 1001, "message": "User could not be authenticated", "status": 401}]
            }


async def test_resources(plex: FakePlex, http: aiohttp.ClientSession) -> None:
    alice, stranger = plex.add_account("alice"), plex.add_account("stranger")
    alice_server_token = plex.share(alice, ["1"])
    url = f"{plex.url}/api/v2/resources?includeHttps=1&includeRelay=1"

    owned = await get_json(http, url, plex.owner.token)
    servers = [device for device in owned if "server" in device["provides"].split(",")]
    assert len(owned) == 2  # the server and a Plex Web player
    [server] = servers
    assert server["clientIdentifier"] == "abc123"
    assert server["product"] == "Plex Media Server"
    assert (server["owned"], server["ownerId"], server["sourceTitle"]) == (True, None, None)
    assert server["accessToken"] == plex.owner.token
    assert server["connections"][0]["uri"] == plex.url

    [shared] = await get_json(http, url, alice.token)
    assert (shared["owned"], shared["ownerId"], shared["sourceTitle"]) == (False, plex.owner.id, "owner")
    assert shared["accessToken"] == alice_server_token != alice.token

    assert await get_json(http, url, stranger.token) == []


async def test_xml_without_accept_json(plex: FakePlex, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{plex.url}/identity") as response:
        assert response.content_type == "application/xml"
        assert (await response.text()).startswith('<MediaContainer size="0" claimed="1" machineIdentifier="abc123"')
    async with http.get(f"{plex.url}/identity", headers=JSON) as response:
        assert await response.json() == {
            "MediaContainer": {"size": 0, "claimed": True, "machineIdentifier": "abc123", "version": "1.41.0.8992"}
        }
    async with http.get(f"{plex.url}/api/v2/user", headers={"X-Plex-Client-Identifier": "c", "X-Plex-Token": "x"}) as r:
        assert r.status == 401
        assert r.content_type == "application/xml"


async def test_pms_tokens(plex: FakePlex, http: aiohttp.ClientSession) -> None:
    alice = plex.add_account("alice")
    plex.share(alice, ["1"])
    for headers in (CLIENT, pms("nope"), pms(alice.token)):  # no token, a bad one, a plex.tv token of a friend
        async with http.get(f"{plex.url}/library/sections", headers=headers) as response:
            assert response.status == 401
            assert response.content_type == "text/html"
    root = await get_json(http, f"{plex.url}/", plex.owner.token)
    assert root["MediaContainer"]["machineIdentifier"] == "abc123"
    assert root["MediaContainer"]["myPlexUsername"] == "owner"
    async with http.get(f"{plex.url}/library/sections", params={"X-Plex-Token": plex.owner.token}) as response:
        assert response.status == 200  # the token may travel in the query string
    plex.streams = 2
    assert (await get_json(http, f"{plex.url}/status/sessions", plex.owner.token)) == {"MediaContainer": {"size": 2}}


async def test_shared_user_sees_only_shared_sections(plex: FakePlex, http: aiohttp.ClientSession) -> None:
    alice = plex.add_account("alice")
    token = plex.share(alice, ["2"])
    container = (await get_json(http, f"{plex.url}/library/sections", token))["MediaContainer"]
    assert [section["key"] for section in container["Directory"]] == ["2"]
    assert container["Directory"][0]["Location"] == [{"id": 2, "path": "/data/TV Shows"}]

    movie = (await get_json(http, f"{plex.url}/library/sections/1/all", plex.owner.token))["MediaContainer"]
    rating_key = movie["Metadata"][0]["ratingKey"]
    for path in (
        f"/library/metadata/{rating_key}",
        f"/library/metadata/{rating_key}/thumb/1",
        "/library/sections/1/all",
    ):
        async with http.get(plex.url + path, headers=pms(token)) as response:
            assert response.status == 404
    found = await get_json(http, f"{plex.url}/hubs/search", token, query="SEV")
    hubs = {hub["hubIdentifier"]: hub for hub in found["MediaContainer"]["Hub"]}
    assert list(hubs) == ["show", "collection"]
    assert [m["title"] for m in hubs["show"]["Metadata"]] == ["Severance"]
    assert hubs["collection"]["size"] == 0
    assert "Metadata" not in hubs["collection"]
    async with http.get(f"{plex.url}/status/sessions", headers=pms(token)) as response:
        assert response.status == 403


async def test_sorting_filtering_and_paging(plex: FakePlex, http: aiohttp.ClientSession) -> None:
    url = f"{plex.url}/library/sections/1/all"
    default = (await get_json(http, url, plex.owner.token))["MediaContainer"]
    assert [m["title"] for m in default["Metadata"]] == ["Alien", "Heat", "The Matrix"]  # "The" ignored
    newest = (await get_json(http, url, plex.owner.token, sort="addedAt:desc"))["MediaContainer"]
    assert [m["title"] for m in newest["Metadata"]] == ["Heat", "Alien", "The Matrix"]
    filtered = (await get_json(http, url, plex.owner.token, title="MAT"))["MediaContainer"]
    assert [m["title"] for m in filtered["Metadata"]] == ["The Matrix"]

    paging = {"X-Plex-Container-Start": "1", "X-Plex-Container-Size": "1"}
    async with http.get(url, headers={**pms(plex.owner.token), **paging}) as response:
        assert response.headers["X-Plex-Container-Start"] == "1"
        assert response.headers["X-Plex-Container-Total-Size"] == "3"
        page = (await response.json())["MediaContainer"]
    assert (page["offset"], page["size"], page["totalSize"]) == (1, 1, 3)
    assert page["Metadata"][0]["title"] == "Heat"
    totals = (await get_json(http, url, plex.owner.token, **{"X-Plex-Container-Size": "0"}))["MediaContainer"]
    assert (totals["size"], totals["totalSize"]) == (0, 3)
    assert "Metadata" not in totals  # PMS leaves empty arrays out

    recent = (await get_json(http, f"{plex.url}/library/recentlyAdded", plex.owner.token))["MediaContainer"]
    assert [m["title"] for m in recent["Metadata"]] == ["Severance", "Heat", "Alien", "The Matrix"]


async def test_collections(plex: FakePlex, http: aiohttp.ClientSession) -> None:
    heat, alien = plex.add_item("1", "Heat 2", year=2026), plex.add_item("1", "Aliens", year=1986)
    owner = pms(plex.owner.token)
    uri = f"server://abc123/com.plexapp.plugins.library/library/metadata/{heat['ratingKey']}"
    params = {"type": "1", "title": "Sequels", "smart": "0", "sectionId": "1", "uri": uri}
    for bad in ({"sectionId": "9"}, {"uri": uri.replace("abc123", "other")}, {"uri": "nonsense"}):
        async with http.post(f"{plex.url}/library/collections", params={**params, **bad}, headers=owner) as r:
            assert r.status == 400
    alice_token = plex.share(plex.add_account("alice"), ["1"])
    async with http.post(f"{plex.url}/library/collections", params=params, headers=pms(alice_token)) as response:
        assert response.status == 403

    async with http.post(f"{plex.url}/library/collections", params=params, headers=owner) as response:
        assert response.status == 200
        [created] = (await response.json())["MediaContainer"]["Metadata"]
    assert (created["type"], created["title"], created["subtype"], created["childCount"]) == (
        "collection",
        "Sequels",
        "movie",
        1,
    )
    both = f"{uri},{alien['ratingKey']}"
    for _ in range(2):  # adding is idempotent
        async with http.put(
            f"{plex.url}/library/collections/{created['ratingKey']}/items", params={"uri": both}, headers=owner
        ) as response:
            assert (await response.json())["MediaContainer"]["Metadata"][0]["childCount"] == 2
    async with http.put(f"{plex.url}/library/collections/999/items", params={"uri": both}, headers=owner) as response:
        assert response.status == 404

    items = await get_json(http, f"{plex.url}/library/collections/{created['ratingKey']}/items", alice_token)
    assert [m["title"] for m in items["MediaContainer"]["Metadata"]] == ["Heat 2", "Aliens"]
    listed = await get_json(http, f"{plex.url}/library/sections/1/collections", plex.owner.token)
    assert [c["ratingKey"] for c in listed["MediaContainer"]["Metadata"]] == [created["ratingKey"]]
    as_type = await get_json(http, f"{plex.url}/library/sections/1/all", plex.owner.token, type="18")
    assert as_type["MediaContainer"]["Metadata"] == listed["MediaContainer"]["Metadata"]
    async with http.get(plex.url + created["thumb"], headers=owner) as response:
        assert response.content_type == "image/png"


async def test_refresh_scans_pending_files_after_the_delay(plex: FakePlex, http: aiohttp.ClientSession) -> None:
    plex.scan_delay = 0.5
    plex.add_pending_file("1", "/data/Movies/Dune (2021)/Dune (2021).mkv", "Dune")
    plex.add_pending_file("1", "/data/Movies/Tenet (2020)/Tenet (2020).mkv", "Tenet")
    url, owner = f"{plex.url}/library/sections/1", pms(plex.owner.token)

    async def titles() -> list[str]:
        return [
            m["title"] for m in (await get_json(http, f"{url}/all", plex.owner.token))["MediaContainer"]["Metadata"]
        ]

    async with http.post(f"{url}/refresh", params={"path": "/data/Movies/Dune (2021)"}, headers=owner) as response:
        assert response.status == 200
        assert await response.read() == b""
    assert plex.refreshes == [("1", "/data/Movies/Dune (2021)")]
    assert "Dune" not in await titles()
    await asyncio.sleep(0.55)
    assert await titles() == ["Alien", "Dune", "Heat", "The Matrix"]  # Tenet's folder was not scanned

    async with http.get(f"{url}/refresh", headers=pms(plex.share(plex.add_account("a"), ["1"]))) as response:
        assert response.status == 403


async def test_a_collection_is_deleted_and_its_items_stay(plex: FakePlex, http: aiohttp.ClientSession) -> None:
    heat = next(m for m in plex._metadata.values() if m["title"] == "Heat")
    collection = plex.add_collection("1", "Crime", [heat["ratingKey"]])
    url, owner = f"{plex.url}/library/collections/{collection['ratingKey']}", pms(plex.owner.token)
    async with http.delete(url, headers=pms(plex.share(plex.add_account("a"), ["1"]))) as response:
        assert response.status == 403
    async with http.delete(f"{plex.url}/library/collections/{heat['ratingKey']}", headers=owner) as response:
        assert response.status == 404  # an item, not a collection

    async with http.delete(url, headers=owner) as response:
        assert response.status == 200
    listed = await get_json(http, f"{plex.url}/library/sections/1/collections", plex.owner.token)
    assert "Metadata" not in listed["MediaContainer"]
    async with http.get(f"{url}/items", headers=owner) as response:
        assert response.status == 404
    items = await get_json(http, f"{plex.url}/library/sections/1/all", plex.owner.token)
    assert [m["title"] for m in items["MediaContainer"]["Metadata"]] == ["Alien", "Heat", "The Matrix"]
    assert plex.deleted_collections == [collection["ratingKey"]]
    async with http.delete(url, headers=owner) as response:
        assert response.status == 404


async def test_refresh_finds_media_files_on_disk(plex: FakePlex, http: aiohttp.ClientSession, tmp_path: Path) -> None:
    plex.add_section("3", "YouTube", "movie", location=str(tmp_path))
    folder = tmp_path / "bob" / "Cooking [PL123]"
    (folder / ".trash").mkdir(parents=True)
    names = ["Pasta [abc123].mp4", "Soup [def456].webm", "Pie.mkv", "Stew [x1].m4a"]
    partial = ["Cake [ghi789].mp4.part", "Cake [ghi789].mp4.ytdl", ".Hidden [jkl].mp4", ".trash/Old.mp4", "cover.jpg"]
    for name in names + partial:
        (folder / name).write_bytes(b"media")
    (tmp_path / "carol").mkdir()
    (tmp_path / "carol" / "Else [zzz].mp4").write_bytes(b"media")
    plex.scan_delay = 0.3
    url, owner = f"{plex.url}/library/sections/3", pms(plex.owner.token)

    async def files() -> list[tuple[str, str]]:
        found = (await get_json(http, f"{url}/all", plex.owner.token))["MediaContainer"].get("Metadata", [])
        return [(m["title"], m["Media"][0]["Part"][0]["file"]) for m in found]

    async with http.post(f"{url}/refresh", params={"path": str(folder)}, headers=owner) as response:
        assert response.status == 200
    assert await files() == []
    await asyncio.sleep(0.35)
    assert await files() == [
        ("Pasta", str(folder / "Pasta [abc123].mp4")),
        ("Pie", str(folder / "Pie.mkv")),
        ("Soup", str(folder / "Soup [def456].webm")),
        ("Stew", str(folder / "Stew [x1].m4a")),
    ]

    (folder / "Cake [ghi789].mp4.part").rename(folder / "Cake [ghi789].mp4")
    for params in ({"path": str(folder)}, {"path": str(folder)}, {}):  # the second while the first still scans
        async with http.get(f"{url}/refresh", params=params, headers=owner) as response:
            assert response.status == 200
    await asyncio.sleep(0.35)
    found = await files()
    assert [title for title, _ in found] == ["Cake", "Else", "Pasta", "Pie", "Soup", "Stew"]  # each once
    assert ("Else", str(tmp_path / "carol" / "Else [zzz].mp4")) in found  # found by the refresh of the whole location


async def test_images_are_png(plex: FakePlex, http: aiohttp.ClientSession) -> None:
    item = plex.add_item("1", "Arrival", year=2016)
    for path, size in ((item["thumb"], (2, 3)), (item["art"], (3, 2))):
        async with http.get(plex.url + path, params={"X-Plex-Token": plex.owner.token}) as response:
            assert response.content_type == "image/png"
            png = await response.read()
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert struct.unpack(">II", png[16:24]) == size
        (idat_length,) = struct.unpack(">I", png[33:37])
        assert len(zlib.decompress(png[41 : 41 + idat_length])) == size[1] * (1 + 3 * size[0])
        async with http.get(plex.url + path) as response:
            assert response.status == 401


async def test_stop_refuses_connections_and_start_reuses_the_port(plex: FakePlex, http: aiohttp.ClientSession) -> None:
    url = plex.url
    await plex.stop()
    with pytest.raises(aiohttp.ClientConnectorError):
        await http.get(f"{url}/identity")
    assert await plex.start() == url
    sections = await get_json(http, f"{url}/library/sections", plex.owner.token)
    assert sections["MediaContainer"]["size"] == 2  # the data survived


async def test_hang_never_answers(plex: FakePlex, http: aiohttp.ClientSession) -> None:
    plex.hang = True
    with pytest.raises(asyncio.TimeoutError):
        await http.get(f"{plex.url}/identity", timeout=aiohttp.ClientTimeout(total=0.3))
    assert plex.calls[-1] == ("GET", "/identity")
