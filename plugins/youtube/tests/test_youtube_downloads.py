"""Downloads as a person meets them: yt-dlp runs for real, offline, against short videos made with ffmpeg and a
feed served on 127.0.0.1; the folder goes into a fake Plex that scans the disk and keeps collections.

Without ffmpeg these tests are skipped, unless ``MEDIANEST_REQUIRE_MEDIA_TESTS`` is set (as CI does), when they fail.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from medianest_plex import PlexPlugin
from medianest_plex.fake import FakePlex
from medianest_youtube import YouTubePlugin
from medianest_youtube.fake import FeedItem, FeedServer, ffmpeg_available, make_media
from sqlalchemy import func, select

from medianest_core import keys
from medianest_core.models import Job, Notification
from medianest_core.testing import entry_point, sign_in

if not ffmpeg_available():
    if os.environ.get("MEDIANEST_REQUIRE_MEDIA_TESTS"):
        raise RuntimeError("media tests need ffmpeg on PATH (apt-get install ffmpeg)")
    pytest.skip("no ffmpeg on PATH (apt-get install ffmpeg)", allow_module_level=True)

HTML = {"Accept": "text/html"}
COURSE = [
    FeedItem("Knife skills", "vid-1", "knife"),
    FeedItem("Stock", "vid-2", "stock"),
    FeedItem("Sauces", "vid-3", "sauce"),
]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    made = {name: make_media(folder, name, seconds=1.0) for name in ("knife", "stock", "sauce", "extra")}
    made["long"] = make_media(folder, "long", seconds=20.0, size="320x240")
    return made


@pytest.fixture
async def feeds(clips: dict[str, Path]) -> AsyncIterator[FeedServer]:
    server = FeedServer()
    await server.start()
    for name, path in clips.items():
        server.add_media(name, path)
    server.add_feed("course", "Cooking Basics", COURSE)
    yield server
    await server.stop()


@pytest.fixture
async def plex(tmp_path: Path) -> AsyncIterator[FakePlex]:
    fake = FakePlex(friendly_name="Home Plex")
    library = tmp_path / "library"
    library.mkdir()
    fake.add_section("1", "Films", "movie")
    fake.add_section("7", "YouTube", "movie", location=str(library))
    await fake.start()
    yield fake
    await fake.stop()


async def eventually(condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await condition()
        if value:
            return value
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def client_for(
    medianest_client: Any, feeds: FeedServer, plex: FakePlex | None, tmp_path: Path, **youtube: Any
) -> Any:
    section = {
        "library_root": str(tmp_path / "library"),
        "allowed_hosts": [feeds.base_url.removeprefix("http://")],
        "extractors": ["generic"],
        "free_space_floor_mb": 0,
        "import_wait": 10,
        "import_retry_every": 0.5,
        **youtube,
    }
    points = [entry_point("youtube", YouTubePlugin())]
    plugins: dict[str, Any] = {"youtube": section}
    if plex is not None:
        points.append(entry_point("plex", PlexPlugin()))
        plugins["plex"] = {"url": plex.url, "plextv_url": plex.url, "token": plex.owner.token}
    return await medianest_client(entry_points=points, plugins=plugins)


async def download(client: Any, who: Any, url: str, quality: str = "best") -> Any:
    return await client.post("/api/v1/youtube/downloads", json={"url": url, "quality": quality}, headers=who.headers)


async def state_of(client: Any, download_id: int, *states: str) -> Any:
    async def reached() -> Any:
        doc = await (await client.get(f"/api/v1/youtube/downloads/{download_id}")).json()
        return doc if doc["state"] in states else None

    return await eventually(reached)


def collection(plex: FakePlex, title: str) -> list[str]:
    """The titles of the items in the fake Plex's collection ``title``."""
    key = next(k for k, meta in plex._metadata.items() if meta.get("type") == "collection" and meta["title"] == title)
    return sorted(plex._metadata[item]["title"] for item in plex._members[key])


async def drain(socket: Any) -> list[dict[str, Any]]:
    """Every event that reached ``socket`` so far."""
    found: list[dict[str, Any]] = []
    while True:
        try:
            message = await socket.receive(timeout=0.3)
        except TimeoutError:
            return found
        if message.type.name != "TEXT":
            return found
        data = json.loads(message.data)
        if data.get("type") == "event":
            found.append(data)


async def test_a_playlist_arrives_in_plex_as_a_collection_and_only_its_owner_follows_it(
    medianest_client: Any, feeds: FeedServer, plex: FakePlex, tmp_path: Path, clips: dict[str, Path]
) -> None:
    client = await client_for(medianest_client, feeds, plex, tmp_path)
    alice = await sign_in(client, "alice")
    other = await medianest_client(browser_of=client)
    bob = await sign_in(other, "bob")
    mine, theirs = await client.ws_connect("/ws"), await other.ws_connect("/ws")
    for socket in (mine, theirs):
        await socket.send_json({"id": 1, "type": "subscribe", "topics": ["*"]})

    resp = await download(client, alice, feeds.base_url + "/feeds/course.xml", "720p")
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert (created["title"], created["state"], created["items"]["total"]) == ("Cooking Basics", "queued", 3)

    done = await state_of(client, created["id"], "done", "failed", "waiting")
    assert done["state"] == "done", done
    assert done["items"] == {"total": 3, "done": 3, "failed": 0}
    assert [e["title"] for e in done["entries"]] == ["Knife skills", "Stock", "Sauces"]

    folder = tmp_path / "library" / done["folder"]
    assert folder.parent == tmp_path / "library"
    assert folder.name.startswith("Cooking Basics [")
    files = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    assert files == ["Knife skills [vid-1].mp4", "Sauces [vid-3].mp4", "Stock [vid-2].mp4"]
    assert (folder / "Stock [vid-2].mp4").read_bytes() == clips["stock"].read_bytes()
    assert done["bytes"] == sum(p.stat().st_size for p in folder.iterdir() if p.suffix == ".mp4")

    # In Plex: the folder was scanned and its videos gathered under the playlist's name.
    assert ("7", str(folder)) in plex.refreshes
    assert collection(plex, "Cooking Basics") == ["Knife skills", "Sauces", "Stock"]
    assert done["library"]["state"] == "done"
    assert done["library"]["collection_id"]

    # Progress went to alice alone, item by item; bob heard nothing of it.
    events = [e for e in await drain(mine) if e["topic"] == "youtube.download"]
    seen = [e["data"]["download"] for e in events]
    assert {d["state"] for d in seen} >= {"running", "importing", "done"}
    assert {d["progress"].get("item") for d in seen if d["state"] == "running"} >= {1, 2, 3}
    assert all(d["owner"]["id"] == alice.user_id for d in seen)
    assert not [e for e in await drain(theirs) if e["topic"] == "youtube.download"]

    # The owner is told, with a link to the download.
    runtime = client.app[keys.RUNTIME]
    async with runtime.sessions() as db:
        notes = (await db.scalars(select(Notification).where(Notification.user_id == alice.user_id))).all()
    assert [(n.title, n.link) for n in notes] == [
        ("“Cooking Basics” is ready in Plex", f"/youtube/#download-{done['id']}")
    ]

    # Nobody else's downloads are visible: bob gets 404 and an empty list.
    assert (await other.get(f"/api/v1/youtube/downloads/{done['id']}")).status == 404
    assert (await other.post(f"/api/v1/youtube/downloads/{done['id']}/cancel", headers=bob.headers)).status == 404
    assert (await other.delete(f"/api/v1/youtube/downloads/{done['id']}", headers=bob.headers)).status == 404
    assert (await (await other.get("/api/v1/youtube/downloads")).json())["total"] == 0
    assert (await other.get("/api/v1/youtube/downloads?scope=all")).status == 403

    # The page shows it, as the person left it.
    page = await (await client.get("/youtube/", headers=HTML)).text()
    assert f'id="download-{done["id"]}"' in page
    assert "3 of 3 downloaded" in page
    assert "4 of 5 downloads left this hour" in page


async def test_an_admin_sees_and_manages_everyones_downloads(
    medianest_client: Any, feeds: FeedServer, plex: FakePlex, tmp_path: Path
) -> None:
    client = await client_for(medianest_client, feeds, plex, tmp_path)
    alice = await sign_in(client, "alice")
    created = await (await download(client, alice, feeds.base_url + "/feeds/course.xml")).json()
    await state_of(client, created["id"], "done")
    admin_browser = await medianest_client(browser_of=client)
    root = await sign_in(admin_browser, "root", role="admin")
    listed = await (await admin_browser.get("/api/v1/youtube/downloads?scope=all")).json()
    assert [(d["id"], d["owner"]["username"]) for d in listed["downloads"]] == [(created["id"], "alice")]
    assert (await (await admin_browser.get("/api/v1/youtube/downloads")).json())["total"] == 0
    assert (await admin_browser.get(f"/api/v1/youtube/downloads/{created['id']}")).status == 200

    folder = tmp_path / "library" / created["folder"]
    resp = await admin_browser.delete(
        f"/api/v1/youtube/downloads/{created['id']}?collection=true", headers=root.headers
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["collection_removed"] is True
    assert not folder.exists()
    assert not [m for m in plex._metadata.values() if m.get("type") == "collection"]
    assert (await client.get(f"/api/v1/youtube/downloads/{created['id']}")).status == 404


async def test_a_cancel_stops_it_within_seconds_and_removes_the_unfinished_file(
    medianest_client: Any, feeds: FeedServer, tmp_path: Path, clips: dict[str, Path]
) -> None:
    size = clips["long"].stat().st_size
    feeds.add_media("long", clips["long"], rate=max(size // 20, 1024))  # about 20 s
    feeds.add_feed(
        "slow", "Slow course", [FeedItem("Long one", "vid-long", "long"), FeedItem("Stock", "vid-2", "stock")]
    )
    client = await client_for(medianest_client, feeds, None, tmp_path)
    alice = await sign_in(client, "alice")
    created = await (await download(client, alice, feeds.base_url + "/feeds/slow.xml")).json()

    async def moving() -> Any:
        doc = await (await client.get(f"/api/v1/youtube/downloads/{created['id']}")).json()
        return doc if doc["progress"].get("item_bytes") else None

    running = await moving() or await eventually(moving)
    assert running["state"] == "running"
    assert running["progress"]["item"] == 1
    # The same playlist again while it runs: refused, nothing more queued.
    again = await download(client, alice, feeds.base_url + "/feeds/slow.xml")
    assert again.status == 409
    assert (await again.json())["error"]["details"]["download_id"] == created["id"]

    resp = await client.post(f"/api/v1/youtube/downloads/{created['id']}/cancel", headers=alice.headers)
    assert resp.status == 200, await resp.text()
    loop = asyncio.get_running_loop()
    asked = loop.time()
    folder = tmp_path / "library" / created["folder"]

    async def clean() -> bool:
        return folder.exists() and not [p for p in folder.iterdir() if ".part" in p.name or p.suffix == ".ytdl"]

    await eventually(clean, timeout=10)
    assert loop.time() - asked < 10
    final = await (await client.get(f"/api/v1/youtube/downloads/{created['id']}")).json()
    assert final["state"] == "cancelled"
    assert final["items"]["done"] == 0
    assert not [p for p in folder.iterdir() if p.suffix == ".mp4"]
    fetched = len(feeds.requests)
    await asyncio.sleep(1.5)
    assert len(feeds.requests) == fetched  # nothing more was fetched after the cancel


async def test_one_failing_item_leaves_the_others_and_a_retry_fetches_only_it(
    medianest_client: Any, feeds: FeedServer, plex: FakePlex, tmp_path: Path
) -> None:
    feeds.set_media("stock", status=404)
    client = await client_for(medianest_client, feeds, plex, tmp_path)
    alice = await sign_in(client, "alice")
    created = await (await download(client, alice, feeds.base_url + "/feeds/course.xml")).json()
    done = await state_of(client, created["id"], "done", "failed")
    assert done["state"] == "done", done
    assert done["items"] == {"total": 3, "done": 2, "failed": 1}
    failed = [e for e in done["entries"] if e["state"] == "failed"]
    assert [e["title"] for e in failed] == ["Stock"]
    assert "404" in failed[0]["error"]
    assert collection(plex, "Cooking Basics") == ["Knife skills", "Sauces"]

    feeds.set_media("stock")
    feeds.requests.clear()
    resp = await client.post(f"/api/v1/youtube/downloads/{created['id']}/retry", headers=alice.headers)
    assert resp.status == 202, await resp.text()
    again = await state_of(client, created["id"], "done", "failed")
    assert again["items"] == {"total": 3, "done": 3, "failed": 0}
    media = {path for _, path in feeds.requests if path.startswith("/media/")}
    assert media == {"/media/stock"}
    assert collection(plex, "Cooking Basics") == ["Knife skills", "Sauces", "Stock"]
    assert again["library"]["collection_id"] == done["library"]["collection_id"]
    # Nothing is left to retry now.
    assert (await client.post(f"/api/v1/youtube/downloads/{created['id']}/retry", headers=alice.headers)).status == 409


async def test_refused_links_quota_and_storage_queue_nothing(
    medianest_client: Any, feeds: FeedServer, tmp_path: Path
) -> None:
    client = await client_for(medianest_client, feeds, None, tmp_path, user_storage_cap_mb=1)
    alice = await sign_in(client, "alice")
    runtime = client.app[keys.RUNTIME]

    async def jobs() -> int:
        async with runtime.sessions() as db:
            return int(await db.scalar(select(func.count()).select_from(Job)) or 0)

    resp = await download(client, alice, "https://evil.example/playlist?list=1")
    assert resp.status == 400
    assert (await resp.json())["error"]["details"]["fields"]["url"].startswith("Only links to these sites")
    resp = await download(client, alice, "file:///etc/passwd")
    assert resp.status == 400
    resp = await download(client, alice, feeds.base_url + "/feeds/course.xml", "8k")
    assert resp.status == 422
    assert "quality" in (await resp.json())["error"]["details"]["fields"]
    assert await jobs() == 0

    # Five an hour: the sixth is refused with the time to wait.
    for n in range(5):
        feeds.add_feed(f"one-{n}", f"Clip {n}", [FeedItem(f"Clip {n}", f"clip-{n}", "extra")])
        resp = await download(client, alice, feeds.base_url + f"/feeds/one-{n}.xml")
        assert resp.status == 201, await resp.text()
    feeds.add_feed("one-5", "Clip 5", [FeedItem("Clip 5", "clip-5", "extra")])
    resp = await download(client, alice, feeds.base_url + "/feeds/one-5.xml")
    assert resp.status == 429
    assert 0 < int(resp.headers["Retry-After"]) <= 3600
    assert "quota" in (await resp.json())["error"]["message"]
    assert await jobs() == 5

    # Over the person's storage cap: a clear error, nothing queued.
    listed = await (await client.get("/api/v1/youtube/downloads")).json()
    for d in listed["downloads"]:
        await state_of(client, d["id"], "waiting", "done", "failed")
    from medianest_youtube.models import Download

    async with runtime.sessions.begin() as db:
        first = await db.get(Download, listed["downloads"][0]["id"])
        assert first is not None
        first.bytes_done = 2 * 1024 * 1024
    feeds.add_feed("one-6", "Clip 6", [FeedItem("Clip 6", "clip-6", "extra")])
    resp = await download(client, alice, feeds.base_url + "/feeds/one-6.xml")
    assert resp.status == 507
    assert (await resp.json())["error"]["message"] == "Your downloads take 2 MB of your 1 MB: delete some to make room."
    assert await jobs() == 5
    limits = await (await client.get("/api/v1/youtube/limits")).json()
    assert limits["quota"]["remaining"] == 0
    assert limits["storage"]["left_bytes"] == 0


async def test_a_full_disk_refuses_new_downloads(medianest_client: Any, feeds: FeedServer, tmp_path: Path) -> None:
    client = await client_for(medianest_client, feeds, None, tmp_path, free_space_floor_mb=1024 * 1024 * 1024)
    alice = await sign_in(client, "alice")
    resp = await download(client, alice, feeds.base_url + "/feeds/course.xml")
    assert resp.status == 507
    error = (await resp.json())["error"]
    assert error["code"] == "insufficient_storage"
    assert "almost full" in error["message"]
    assert (await (await client.get("/api/v1/youtube/downloads")).json())["total"] == 0
    limits = await (await client.get("/api/v1/youtube/limits")).json()
    assert limits["quota"]["remaining"] == 5  # a refused request costs nothing


async def test_plex_away_at_the_end_the_collection_is_made_once_it_is_back(
    medianest_client: Any, feeds: FeedServer, plex: FakePlex, tmp_path: Path
) -> None:
    client = await client_for(medianest_client, feeds, plex, tmp_path)
    alice = await sign_in(client, "alice")
    await plex.stop()
    created = await (await download(client, alice, feeds.base_url + "/feeds/course.xml")).json()
    waiting = await state_of(client, created["id"], "waiting", "done", "failed")
    assert waiting["state"] == "waiting", waiting
    assert waiting["items"]["done"] == 3
    assert waiting["library"]["state"] == "pending"
    page = await (await client.get("/youtube/", headers=HTML)).text()
    assert "Waiting for Plex" in page

    card = await (await client.get("/dashboard/cards/youtube/downloads", headers=HTML)).text()
    assert "1 finished download is waiting for Plex." in card
    assert "<dt>Downloading</dt><dd>0</dd>" in card

    await plex.start()
    done = await state_of(client, created["id"], "done")
    assert done["library"]["collection_id"]
    assert collection(plex, "Cooking Basics") == ["Knife skills", "Sauces", "Stock"]
    runtime = client.app[keys.RUNTIME]
    async with runtime.sessions() as db:
        titles = (await db.scalars(select(Notification.title).where(Notification.user_id == alice.user_id))).all()
    assert sorted(titles) == ["“Cooking Basics” is downloaded", "“Cooking Basics” is ready in Plex"]


async def test_a_download_left_running_by_a_stopped_process_is_finished_at_start(
    medianest_runtime: Any, medianest_settings: Any, feeds: FeedServer, tmp_path: Path
) -> None:
    from aiohttp.test_utils import TestClient, TestServer
    from medianest_youtube.models import Download
    from medianest_youtube.store import folder_name, source_key

    from medianest_core.app import create_app
    from medianest_core.runtime import prepare_database
    from medianest_core.testing import add_user

    section = {
        "library_root": str(tmp_path / "library"),
        "allowed_hosts": [feeds.base_url.removeprefix("http://")],
        "extractors": ["generic"],
        "free_space_floor_mb": 0,
    }
    loaded = medianest_settings(plugins={"youtube": section})
    first = medianest_runtime(entry_points=[entry_point("youtube", YouTubePlugin())], settings=loaded)
    await prepare_database(first)
    alice = await add_user(first, "alice", "alice-password-123", "user")
    url = feeds.base_url + "/feeds/course.xml"
    # A process stopped while it downloaded: the records still say "running".
    async with first.sessions.begin() as db:
        row = Download(
            owner_id=alice,
            url=url,
            kind="playlist",
            source_id=url,
            source_key=source_key("playlist", url, url),
            title="Cooking Basics",
            quality="best",
            folder=folder_name("Cooking Basics", url),
            state="running",
            items_total=3,
            progress={"item": 2, "of": 3},
        )
        db.add(row)
        await db.flush()
        job = Job(
            actor="youtube.download", owner_id=alice, payload={"download_id": row.id}, state="running", attempts=1
        )
        db.add(job)
        await db.flush()
        row.job_id, job.worker = job.id, "gone:1"
        download_id = row.id
    await first.close()

    second = medianest_runtime(entry_points=[entry_point("youtube", YouTubePlugin())], settings=loaded)
    client = TestClient(TestServer(create_app(second)))
    await client.start_server()
    try:
        await sign_in_as(client, "alice", "alice-password-123")
        waiting = await state_of(client, download_id, "waiting", "failed", "done")
        assert waiting["state"] == "waiting", waiting  # downloaded; no media library installed here
        assert waiting["items"] == {"total": 3, "done": 3, "failed": 0}
    finally:
        await client.close()


async def sign_in_as(client: Any, username: str, password: str) -> None:
    resp = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert resp.status == 200, await resp.text()
