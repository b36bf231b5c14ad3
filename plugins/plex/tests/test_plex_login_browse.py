"""Signing in with Plex and browsing as oneself, against the fake plex.tv and Plex Media Server."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from medianest_plex import PlexPlugin
from medianest_plex.fake import FakeAccount, FakePlex
from medianest_plex.models import PlexAccount
from sqlalchemy import func, select

from medianest_core import keys
from medianest_core.models import User
from medianest_core.testing import entry_point, sign_in

HTML = {"Accept": "text/html"}


@pytest.fixture
async def fake() -> AsyncIterator[FakePlex]:
    plex = FakePlex(friendly_name="Alice's Plex")
    plex.add_section("1", "Films", "movie")
    plex.add_section("2", "Shows", "show")
    plex.add_item("1", "Alien", year=1979, summary="In space no one can hear you scream.")
    plex.add_item("1", "Aliens", year=1986)
    plex.add_item("2", "Andor", year=2022)
    await plex.start()
    yield plex
    await plex.stop()


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``condition()`` holds (background checks run on their own time)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def plex_client(medianest_client: Any, fake: FakePlex, **extra: Any) -> Any:
    section = {"url": fake.url, "plextv_url": fake.url, "token": fake.owner.token, **extra}
    return await medianest_client(entry_points=[entry_point("plex", PlexPlugin())], plugins={"plex": section})


async def sign_in_with_plex(client: Any, fake: FakePlex, account: FakeAccount, next_path: str = "/") -> dict[str, Any]:
    """What a browser does: open the PIN page, have the person approve in Plex, poll until done."""
    resp = await client.get(f"/auth/plex/pin?next={next_path}", headers=HTML)
    page = await resp.text()
    assert resp.status == 200, page
    strong = next(pid for pid, pin in fake.pins.items() if pin["strong"] and pin["code"] in page)
    first = await (await client.post("/api/v1/plex/login/poll")).json()
    assert first["status"] == "waiting"
    fake.approve_pin(strong, account)
    await asyncio.sleep(1.5)  # the page's next poll (plex.tv is asked at most once a second per sign-in)
    answer: dict[str, Any] = await (await client.post("/api/v1/plex/login/poll")).json()
    return answer


async def test_the_pin_page_offers_the_plex_app_and_the_link_code(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake)
    login = await (await client.get("/login", headers=HTML)).text()
    assert 'href="/auth/plex/pin"' in login
    assert "Sign in with Plex" in login
    page = await (await client.get("/auth/plex/pin", headers=HTML)).text()
    strong = next(pin for pin in fake.pins.values() if pin["strong"])
    short = next(pin for pin in fake.pins.values() if not pin["strong"])
    assert "https://app.plex.tv/auth#?clientID=medianest-" in page
    assert f"code={strong['code']}" in page
    assert f"<code>{short['code']}</code>" in page
    assert "plex.tv/link" in page
    login_js = re.search(r'<script src="(/static/plex/login\.[0-9a-f]{10}\.js)" defer></script>', page)
    assert login_js is not None
    assert (await client.get(login_js[1])).status == 200
    assert re.search(r'<link rel="stylesheet" href="/static/plex/plex\.[0-9a-f]{10}\.css">', page)  # the code's size
    # One client identifier, kept: the same on every PIN.
    assert len({pin["clientIdentifier"] for pin in fake.pins.values()}) == 1


async def test_an_invited_person_gets_in_and_a_stranger_does_not(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake)
    bob = fake.add_account("bob", email="bob@example.org")
    fake.share(bob, ["1"])
    answer = await sign_in_with_plex(client, fake, bob, next_path="/plex/")
    assert answer["status"] == "signed_in"
    assert answer["next"] == "/plex/"
    assert (answer["user"]["username"], answer["user"]["role"]) == ("bob", "user")
    session = await (await client.get("/api/v1/auth/session")).json()
    assert session["user"]["username"] == "bob"

    runtime = client.app[keys.RUNTIME]
    async with runtime.sessions() as db:
        link = (await db.scalars(select(PlexAccount))).one()
    assert link.plex_id == bob.id
    assert bob.token not in link.server_token  # sealed

    eve_browser = await medianest_client(browser_of=client)
    eve = fake.add_account("eve")
    answer = await sign_in_with_plex(eve_browser, fake, eve)
    assert answer["status"] == "refused"
    assert answer["message"] == (
        "Your Plex account eve does not have access to Alice's Plex. Ask its owner to share it with you, then sign "
        "in again."
    )
    async with runtime.sessions() as db:
        assert await db.scalar(select(func.count()).select_from(User)) == 1
    assert (await eve_browser.get("/api/v1/auth/session")).status == 401


async def test_the_owner_becomes_an_admin_and_a_second_sign_in_finds_the_same_account(
    medianest_client: Any, fake: FakePlex
) -> None:
    client = await plex_client(medianest_client, fake)
    answer = await sign_in_with_plex(client, fake, fake.owner)
    assert (answer["status"], answer["user"]["role"]) == ("signed_in", "admin")
    again = await medianest_client(browser_of=client)
    second = await sign_in_with_plex(again, fake, fake.owner)
    assert second["user"]["id"] == answer["user"]["id"]


async def test_an_expired_code_says_so(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake)
    await client.get("/auth/plex/pin", headers=HTML)
    for pin_id in list(fake.pins):
        fake.expire_pin(pin_id)
    answer = await (await client.post("/api/v1/plex/login/poll")).json()
    assert answer["status"] == "expired"
    fresh = await medianest_client(browser_of=client)
    assert (await (await fresh.post("/api/v1/plex/login/poll")).json())["status"] == "expired"


async def test_people_browse_only_what_is_shared_with_them(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake)
    bob = fake.add_account("bob")
    fake.share(bob, ["1"])
    await sign_in_with_plex(client, fake, bob)

    libraries = await (await client.get("/api/v1/plex/libraries")).json()
    assert libraries == {"libraries": [{"id": "1", "title": "Films", "type": "movie"}]}
    films = await (await client.get("/api/v1/plex/libraries/1/items?sort=year&order=desc")).json()
    assert [(i["title"], i["year"]) for i in films["items"]] == [("Aliens", 1986), ("Alien", 1979)]
    assert films["total"] == 2
    filtered = await (await client.get("/api/v1/plex/libraries/1/items?title=aliens")).json()
    assert [i["title"] for i in filtered["items"]] == ["Aliens"]
    assert (await client.get("/api/v1/plex/libraries/2/items")).status == 404
    andor = next(item for item in fake._metadata.values() if item["title"] == "Andor")
    assert (await client.get(f"/api/v1/plex/items/{andor['ratingKey']}")).status == 404

    alien = films["items"][1]
    assert alien["poster"].startswith("/api/v1/plex/images?path=%2Flibrary%2Fmetadata%2F")
    image = await client.get(alien["poster"])
    assert image.status == 200
    assert image.headers["Content-Type"] == "image/png"
    assert (await image.read())[:8] == b"\x89PNG\r\n\x1a\n"
    for bad in ("http://10.0.0.1/x.png", "/library/metadata/1/thumb/1/../../../../etc/passwd", "/:/prefs"):
        assert (await client.get("/api/v1/plex/images", params={"path": bad})).status == 400

    # Nothing that reaches the browser names the Plex server or carries a Plex token.
    address = re.escape(fake.url.removeprefix("http://"))
    for path in (
        "/api/v1/plex/server",
        "/api/v1/plex/libraries",
        "/api/v1/plex/libraries/1/items",
        "/api/v1/plex/recently-added",
        "/api/v1/plex/collections",
        f"/api/v1/plex/items/{alien['id']}",
        "/plex/",
        "/plex/libraries/1",
        f"/plex/items/{alien['id']}",
        "/search?q=alien",
        "/api/v1/search?q=alien",
        "/",
    ):
        resp = await client.get(path, headers=HTML if not path.startswith("/api/") else None)
        text = await resp.text()
        assert resp.status == 200, (path, text[:500])
        assert not re.search(address, text), path
        for token in (fake.owner.token, bob.token, *fake._shares):
            assert token not in text, path

    found = await (await client.get("/api/v1/search?q=alien")).json()
    assert [(r["title"], [p["service"] for p in r["in_library"]]) for r in found["results"]] == [
        ("Alien", ["Plex"]),
        ("Aliens", ["Plex"]),
    ]
    assert {r["sources"]["plex.library"]["library"] for r in found["results"]} == {"Films"}
    page = await (await client.get(f"/plex/items/{alien['id']}", headers=HTML)).text()
    assert "In space no one can hear you scream." in page
    assert re.search(r'<link rel="stylesheet" href="/static/plex/plex\.[0-9a-f]{10}\.css">', page)  # the pages' look


async def test_the_dashboard_does_not_wait_for_a_plex_that_is_gone(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake, refresh_interval=0.2)
    await sign_in(client, "root", role="admin")
    await asyncio.sleep(0.6)
    page = await (await client.get("/", headers=HTML)).text()
    card = page[page.index('id="card-plex-server"') :]
    assert "<dt>Films</dt><dd>2</dd>" in card
    assert "Alice&#39;s Plex · version 1.41.0.8992" in card or "Alice's Plex · version 1.41.0.8992" in card

    await fake.stop()
    runtime = client.app[keys.RUNTIME]
    upstream = runtime.plugins.get("plex").plugin.plex.server_upstream
    # Background checks retry each call a few times, and callers of one read share one call: the breaker's five
    # failures in a row take some seconds.
    await eventually(lambda: upstream.breaker.state.value == "open", timeout=30)
    loop = asyncio.get_running_loop()
    started = loop.time()
    page = await (await client.get("/", headers=HTML)).text()
    assert loop.time() - started < 1.0
    card = page[page.index('id="card-plex-server"') :]
    assert 'class="card unavailable"' in page[page.index('id="card-plex-server"') - 60 :][:200]
    assert "Plex is not answering." in card
    assert "<dt>Films</dt><dd>2</dd>" in card  # the last figures, with their age

    await fake.start()
    upstream.breaker.opened_at -= upstream.breaker.reset  # as if the breaker's wait were over
    await eventually(lambda: upstream.breaker.state.value == "closed")
    monitor = client.app[keys.HEALTH]
    await eventually(lambda: all(s.result.state.value == "up" for s in monitor.states))
    # The card says so at its next refresh.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while "Plex is not answering." in (page := await (await client.get("/", headers=HTML)).text()):
        assert loop.time() < deadline, "the card still says Plex is not answering"
        await asyncio.sleep(0.1)
    assert "<dt>Films</dt><dd>2</dd>" in page
    health = await (await client.get("/api/v1/health")).json()
    assert {c["name"]: c["state"] for c in health["components"]}["plex/server"] == "up"


async def test_a_folder_becomes_a_collection_and_later_files_join_it(medianest_client: Any, fake: FakePlex) -> None:
    from medianest_core import LibraryImport

    fake.add_section("3", "YouTube", "movie", location="/plex/youtube")
    folder = "/plex/youtube/bob/Cooking [PL123]"
    for n in range(3):
        fake.add_pending_file("3", f"{folder}/Dish {n}.mp4", f"Dish {n}")
    fake.add_pending_file("3", "/plex/youtube/carol/Other [PL9]/Else.mp4", "Something else")
    fake.scan_delay = 0.6
    client = await plex_client(medianest_client, fake)
    libraries = client.app[keys.RUNTIME].libraries
    assert [(plugin, lib.key) for plugin, lib in libraries.available()] == [("plex", "plex")]

    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await libraries.import_folder(LibraryImport("YouTube", folder, "Cooking", expected=3, wait=10))
    assert loop.time() - started >= 0.6  # it waited for Plex's scan instead of assuming the items
    assert (result.items, result.missing) == (3, 0)
    assert fake.refreshes[-1] == ("3", folder)
    collection = fake._metadata[result.collection_id]
    assert (collection["type"], collection["title"]) == ("collection", "Cooking")
    members = sorted(fake._metadata[key]["title"] for key in fake._members[result.collection_id])
    assert members == ["Dish 0", "Dish 1", "Dish 2"]

    for n in range(3, 5):
        fake.add_pending_file("3", f"{folder}/Dish {n}.mp4", f"Dish {n}")
    again = await libraries.import_folder(LibraryImport("YouTube", folder, "Cooking", expected=5, wait=10))
    assert again.collection_id == result.collection_id
    assert again.items == 5
    assert len(fake._members[result.collection_id]) == 5
    titles = [m["title"] for m in fake._metadata.values() if m["type"] == "collection"]
    assert titles == ["Cooking"]

    short = await libraries.import_folder(LibraryImport("YouTube", folder, "Cooking", expected=7, wait=0.5))
    assert (short.items, short.missing) == (5, 2)


async def test_downloaded_files_become_a_collection_that_can_be_removed(
    medianest_client: Any, fake: FakePlex, tmp_path: Path
) -> None:
    from medianest_core import LibraryImport

    fake.add_section("3", "YouTube", "movie", location=str(tmp_path))
    folder = tmp_path / "bob" / "Cooking [PL123]"
    folder.mkdir(parents=True)
    for n in range(3):
        (folder / f"Dish {n} [vid{n}].mp4").write_bytes(b"video")
    (folder / "Dish 3 [vid3].mp4.part").write_bytes(b"half a video")
    fake.scan_delay = 0.3
    client = await plex_client(medianest_client, fake)
    libraries = client.app[keys.RUNTIME].libraries

    result = await libraries.import_folder(LibraryImport("YouTube", str(folder), "Cooking", expected=3, wait=10))
    assert (result.items, result.missing) == (3, 0)
    members = [fake._metadata[key] for key in fake._members[result.collection_id]]
    assert sorted(m["title"] for m in members) == ["Dish 0", "Dish 1", "Dish 2"]
    assert {m["Media"][0]["Part"][0]["file"] for m in members} == {
        str(folder / f"Dish {n} [vid{n}].mp4") for n in range(3)
    }

    assert await libraries.remove_collection(result.collection_id) is True
    assert fake.deleted_collections == [result.collection_id]
    assert [m for m in fake._metadata.values() if m["type"] == "collection"] == []
    assert sorted(m["title"] for m in fake._metadata.values() if m["librarySectionID"] == 3) == [
        "Dish 0",
        "Dish 1",
        "Dish 2",
    ]  # Plex keeps the items; the files are the downloader's to delete
    assert await libraries.remove_collection(result.collection_id) is True  # already gone counts as removed
    assert await libraries.remove_collection("424242") is True
    assert fake.deleted_collections == [result.collection_id]


async def test_the_card_strip_is_filled_with_what_the_person_may_see(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake, refresh_interval=0.2)
    bob = fake.add_account("bob")
    fake.share(bob, ["2"])
    await sign_in_with_plex(client, fake, bob)
    await asyncio.sleep(0.5)
    page = await (await client.get("/", headers=HTML)).text()
    card_js = re.search(r'<script src="(/static/plex/card\.[0-9a-f]{10}\.js)" defer></script>', page)
    assert card_js is not None
    assert re.search(r'<link rel="stylesheet" href="/static/plex/plex\.[0-9a-f]{10}\.css">', page)
    assert 'data-plex-recent="/api/v1/plex/recently-added?limit=8"' in page
    recent = await (await client.get("/api/v1/plex/recently-added?limit=8")).json()
    assert [item["title"] for item in recent["items"]] == ["Andor"]  # only the shared library
    assert (await client.get(card_js[1])).status == 200
    assert "/static/plex/" not in await (await client.get("/profile", headers=HTML)).text()  # only where used


async def test_a_refused_owner_token_is_named_as_such(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake, refresh_interval=0.2, token="not-the-owner-token")
    await sign_in(client, "root", role="admin")
    monitor = client.app[keys.HEALTH]
    await eventually(lambda: all(s.result.state.value == "down" for s in monitor.states))
    await asyncio.sleep(0.5)
    page = await (await client.get("/", headers=HTML)).text()
    assert "Plex refuses MediaNest&#39;s token: the admin checks the Plex settings." in page
    health = await (await client.get("/api/v1/health")).json()
    check = {c["name"]: c for c in health["components"]}["plex/server"]
    assert check["state"] == "down"
    assert "refused the credentials" in check["message"]
