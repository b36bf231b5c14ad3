"""Downloads several people share, the titles people read, and the words of a failure: yt-dlp runs for real,
offline, against short videos made with ffmpeg and feeds served on 127.0.0.1, into a fake Plex that scans the disk.

Without ffmpeg these tests are skipped, unless ``MEDIANEST_REQUIRE_MEDIA_TESTS`` is set, when they fail.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from medianest_plex import PlexPlugin
from medianest_plex.fake import FakePlex
from medianest_youtube import YouTubePlugin
from medianest_youtube.failures import UNKNOWN, explain
from medianest_youtube.fake import FeedItem, FeedServer, ffmpeg_available, make_media
from medianest_youtube.worker import ready_words

from medianest_core.testing import entry_point, sign_in

if not ffmpeg_available():
    if os.environ.get("MEDIANEST_REQUIRE_MEDIA_TESTS"):
        raise RuntimeError("media tests need ffmpeg on PATH (apt-get install ffmpeg)")
    pytest.skip("no ffmpeg on PATH (apt-get install ffmpeg)", allow_module_level=True)

COURSE = [
    FeedItem("Knife skills", "vid-1", "knife"),
    FeedItem("Stock", "vid-2", "stock"),
    FeedItem("Sauces", "vid-3", "sauce"),
]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return {name: make_media(folder, name, seconds=1.0) for name in ("knife", "stock", "sauce", "extra", "gone-1")}


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
    fake.add_section("7", "YouTube", "movie", location=str(library))
    await fake.start()
    yield fake
    await fake.stop()


async def client_for(medianest_client: Any, feeds: FeedServer, plex: FakePlex, tmp_path: Path) -> Any:
    section = {
        "library_root": str(tmp_path / "library"),
        "allowed_hosts": [feeds.base_url.removeprefix("http://")],
        "extractors": ["generic"],
        "free_space_floor_mb": 0,
        "import_wait": 10,
        "import_retry_every": 0.5,
    }
    return await medianest_client(
        entry_points=[entry_point("youtube", YouTubePlugin()), entry_point("plex", PlexPlugin())],
        plugins={
            "youtube": section,
            "plex": {"url": plex.url, "plextv_url": plex.url, "token": plex.owner.token},
        },
    )


async def eventually(condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await condition()
        if value:
            return value
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def finished(client: Any, who: Any, url: str) -> dict[str, Any]:
    """Ask for ``url`` as ``who`` and wait until the download has ended; its document, entries included."""
    resp = await client.post("/api/v1/youtube/downloads", json={"url": url}, headers=who.headers)
    assert resp.status == 201, await resp.text()
    download_id = (await resp.json())["id"]

    async def ended() -> Any:
        doc = await (await client.get(f"/api/v1/youtube/downloads/{download_id}")).json()
        return doc if doc["state"] in ("done", "failed", "waiting", "cancelled") else None

    return dict(await eventually(ended))


def section_titles(plex: FakePlex, section: str = "7") -> list[str]:
    """The titles of the items (not the collections) of a section of the fake Plex: what Recently added lists."""
    return sorted(
        meta["title"]
        for meta in plex._metadata.values()
        if meta.get("type") != "collection" and str(meta.get("librarySectionID")) == section
    )


def collections(plex: FakePlex) -> dict[str, list[str]]:
    """Each collection's title and the titles of its items, in the fake Plex."""
    return {
        meta["title"]: sorted(plex._metadata[item]["title"] for item in plex._members[key])
        for key, meta in plex._metadata.items()
        if meta.get("type") == "collection"
    }


def media_fetched(feeds: FeedServer) -> set[str]:
    return {path for _, path in feeds.requests if path.startswith("/media/")}


async def test_people_downloading_one_playlist_share_its_videos_and_its_collection(
    medianest_client: Any, feeds: FeedServer, plex: FakePlex, tmp_path: Path
) -> None:
    alices = await client_for(medianest_client, feeds, plex, tmp_path)
    alice = await sign_in(alices, "alice")
    bobs = await medianest_client(browser_of=alices)
    bob = await sign_in(bobs, "bob")
    url = feeds.base_url + "/feeds/course.xml"

    first = await finished(alices, alice, url)
    assert first["state"] == "done", first
    feeds.requests.clear()
    second = await finished(bobs, bob, url)
    assert second["state"] == "done", second

    # Bob got the videos Alice had downloaded: nothing was fetched again, and Plex holds each video once.
    assert media_fetched(feeds) == set()
    assert second["items"] == {"total": 3, "done": 3, "failed": 0}
    assert second["folder"] == first["folder"]
    assert section_titles(plex) == ["Knife skills", "Sauces", "Stock"]
    assert collections(plex) == {"Cooking Basics": ["Knife skills", "Sauces", "Stock"]}
    assert second["library"]["collection_id"] == first["library"]["collection_id"]

    # Each person's list shows their own download.
    for client, who, mine in ((alices, alice, first), (bobs, bob, second)):
        listed = await (await client.get("/api/v1/youtube/downloads")).json()
        assert [(d["id"], d["owner"]["id"], d["state"]) for d in listed["downloads"]] == [
            (mine["id"], who.user_id, "done")
        ]

    # A video added to the playlist since: the next person's download fetches only it.
    feeds.add_feed("course", "Cooking Basics", [*COURSE, FeedItem("Pastry", "vid-4", "extra")])
    carols = await medianest_client(browser_of=alices)
    carol = await sign_in(carols, "carol")
    feeds.requests.clear()
    third = await finished(carols, carol, url)
    assert third["items"] == {"total": 4, "done": 4, "failed": 0}
    assert media_fetched(feeds) == {"/media/extra"}
    assert section_titles(plex) == ["Knife skills", "Pastry", "Sauces", "Stock"]
    assert collections(plex) == {"Cooking Basics": ["Knife skills", "Pastry", "Sauces", "Stock"]}

    # Bob deletes his download, collection and all: what the others still hold stays, in the folder and in Plex.
    folder = tmp_path / "library" / first["folder"]
    resp = await bobs.delete(f"/api/v1/youtube/downloads/{second['id']}?collection=true", headers=bob.headers)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["collection_removed"] is False
    assert len(list(folder.glob("*.mp4"))) == 4
    assert collections(plex) == {"Cooking Basics": ["Knife skills", "Pastry", "Sauces", "Stock"]}
    # Carol deletes hers: the video only she had goes, and is downloaded again if asked for.
    resp = await carols.delete(f"/api/v1/youtube/downloads/{third['id']}", headers=carol.headers)
    assert resp.status == 200, await resp.text()
    assert sorted(p.name for p in folder.glob("*.mp4")) == [
        "Knife skills [vid-1].mp4",
        "Sauces [vid-3].mp4",
        "Stock [vid-2].mp4",
    ]
    feeds.requests.clear()
    again = await finished(carols, carol, url)
    assert again["items"] == {"total": 4, "done": 4, "failed": 0}
    assert media_fetched(feeds) == {"/media/extra"}
    # The last one out takes the folder with it.
    for client, who, download in ((alices, alice, first), (carols, carol, again)):
        resp = await client.delete(f"/api/v1/youtube/downloads/{download['id']}", headers=who.headers)
        assert resp.status == 200, await resp.text()
    assert not folder.exists()


async def test_people_asking_for_one_playlist_at_once_get_each_video_once(
    medianest_client: Any, feeds: FeedServer, plex: FakePlex, tmp_path: Path, clips: dict[str, Path]
) -> None:
    for name in ("knife", "stock", "sauce"):
        feeds.add_media(name, clips[name], rate=40_000)  # a little under a second each
    alices = await client_for(medianest_client, feeds, plex, tmp_path)
    alice = await sign_in(alices, "alice")
    bobs = await medianest_client(browser_of=alices)
    bob = await sign_in(bobs, "bob")
    url = feeds.base_url + "/feeds/course.xml"

    # What one download of one video asks of the site (yt-dlp looks at the link, then fetches the file).
    feeds.add_feed("solo", "Solo", [FeedItem("Extra", "vid-x", "extra")])
    await finished(alices, alice, feeds.base_url + "/feeds/solo.xml")
    once = Counter(path for _, path in feeds.requests)["/media/extra"]
    assert once > 0

    both = await asyncio.gather(finished(alices, alice, url), finished(bobs, bob, url))
    assert [d["items"] for d in both] == [{"total": 3, "done": 3, "failed": 0}] * 2
    fetched = Counter(path for _, path in feeds.requests if path.startswith("/media/") and path != "/media/extra")
    assert fetched == {"/media/knife": once, "/media/stock": once, "/media/sauce": once}
    assert section_titles(plex) == ["Extra", "Knife skills", "Sauces", "Stock"]
    assert collections(plex) == {"Cooking Basics": ["Knife skills", "Sauces", "Stock"], "Solo": ["Extra"]}


async def test_titles_are_the_videos_own_in_medianest_and_in_plex(
    medianest_client: Any, feeds: FeedServer, plex: FakePlex, tmp_path: Path
) -> None:
    titles = ["Knife skills: the basics", 'Stock — "white" or brown?', "Sauces 1/2: roux"]
    media = ("knife", "stock", "sauce")
    feeds.add_feed("titled", "Cooking: the basics", [FeedItem(titles[n], f"vid-{n}", media[n]) for n in range(3)])
    client = await client_for(medianest_client, feeds, plex, tmp_path)
    alice = await sign_in(client, "alice")
    done = await finished(client, alice, feeds.base_url + "/feeds/titled.xml")
    assert done["state"] == "done", done
    assert [e["title"] for e in done["entries"]] == titles
    assert collections(plex) == {"Cooking: the basics": sorted([titles[0], titles[1], "Sauces 1-2: roux"])}
    assert not [t for t in section_titles(plex) if any(ord(c) >= 0xFF00 for c in t)]
    files = sorted(p.name for p in (tmp_path / "library" / done["folder"]).glob("*.mp4"))
    assert files == [
        "Knife skills: the basics [vid-0].mp4",
        "Sauces 1-2: roux [vid-2].mp4",
        'Stock — "white" or brown? [vid-1].mp4',
    ]


async def test_a_refused_video_says_what_happened_in_words(
    medianest_client: Any, feeds: FeedServer, plex: FakePlex, tmp_path: Path
) -> None:
    feeds.set_media("gone-1", status=403)
    feeds.add_feed("mixed", "Mixed bag", [FeedItem("Gone", "gone-1", "gone-1"), FeedItem("Stock", "vid-2", "stock")])
    client = await client_for(medianest_client, feeds, plex, tmp_path)
    alice = await sign_in(client, "alice")
    done = await finished(client, alice, feeds.base_url + "/feeds/mixed.xml")
    failed = [e["error"] for e in done["entries"] if e["state"] == "failed"]
    assert failed == ["YouTube refused this video (HTTP 403). It may be private or removed; try again later."]

    # Every video refused: the download fails with the same words, and the owner's page shows them.
    feeds.add_feed("lost", "Lost", [FeedItem("Gone", "gone-1", "gone-1")])
    lost = await finished(client, alice, feeds.base_url + "/feeds/lost.xml")
    assert lost["state"] == "failed"
    assert lost["error"] == (
        "The video could not be downloaded. YouTube refused this video (HTTP 403). "
        "It may be private or removed; try again later."
    )
    page = await (await client.get("/youtube/", headers={"Accept": "text/html"})).text()
    for raw in ("[generic]", "caused by", "HTTPError", "Forbidden"):
        assert raw not in page

    # A link that cannot be read at all: a sentence, not yt-dlp's words.
    resp = await client.post("/api/v1/youtube/preview", json={"url": feeds.media_url("gone-1")}, headers=alice.headers)
    assert resp.status == 422
    assert (await resp.json())["error"]["message"] == (
        "That link could not be read. YouTube refused this video (HTTP 403). It may be private or removed; "
        "try again later."
    )


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (
            "ERROR: [youtube] abc: Private video. Sign in if you've been granted access to this video",
            "This video is private",
        ),
        ("ERROR: [youtube] abc: Video unavailable. This video has been removed by the uploader", "unavailable"),
        ("ERROR: [youtube] abc: HTTP Error 429: Too Many Requests", "HTTP 429"),
        (
            "ERROR: [youtube:tab] PLx: Unable to download API page: <urlopen error [Errno -3] Temporary failure in "
            "name resolution> (caused by TransportError('<urlopen error [Errno -3] Temporary failure>'))",
            "The connection to YouTube failed",
        ),
        ("ERROR: [youtube:tab] PLx: YouTube said: The playlist does not exist.", "There is no such playlist"),
        ("ERROR: [youtube] abc: Sign in to confirm your age. This video may be inappropriate", "age-restricted"),
        ("ERROR: unable to download video data: HTTP Error 503: Service Unavailable", "HTTP 503"),
        ("ERROR: [youtube] abc: Requested format is not available", "another quality"),
    ],
)
def test_common_failures_read_as_sentences(raw: str, words: str) -> None:
    message = explain(raw)
    assert words in message
    assert message[0].isupper()
    assert message.endswith(".")
    for leak in ("[youtube", "caused by", "urlopen", "Error(", "ERROR"):
        assert leak not in message


def test_an_unknown_failure_gets_a_plain_sentence() -> None:
    assert explain(KeyError("entries")) == UNKNOWN
    assert explain(RuntimeError("<object at 0x7f>")) == UNKNOWN
    assert "log" in UNKNOWN


@pytest.mark.parametrize(
    ("done", "failed", "words"),
    [
        (1, 0, "1 video in the collection “Talks” of YouTube."),
        (3, 0, "3 videos in the collection “Talks” of YouTube."),
        (1, 1, "1 video (1 could not be downloaded) in the collection “Talks” of YouTube."),
    ],
)
def test_the_ready_notification_counts_videos_in_words(done: int, failed: int, words: str) -> None:
    assert ready_words(done, failed, "Talks", "YouTube") == words


def test_a_long_title_never_costs_a_playlist_its_own_folder(tmp_path: Path) -> None:
    """Two playlists whose long titles differ only at the end, and a title written to look like another playlist's
    folder, each get a folder of their own: the name is cut in the title, never in the id that ends it."""
    from medianest_youtube.store import Storage, folder_name

    long = "日本語のタイトル" * 9
    first, second = folder_name(long + " その1", "PL1"), folder_name(long + " その2", "PL2")
    assert first != second
    assert first.endswith(" [PL1]")
    assert second.endswith(" [PL2]")
    assert len(first.encode()) <= 200
    storage = Storage(tmp_path, tmp_path, 0, None)
    forged = "ü" * 80 + " [PLvictim] part 2"
    (tmp_path / storage.shared_folder(forged, "PLattacker")).mkdir()
    assert storage.shared_folder("Cooking Basics", "PLvictim") == "Cooking Basics [PLvictim]"


async def test_a_delete_waits_for_no_download_writing_in_the_shared_folder(
    medianest_client: Any, feeds: FeedServer, plex: FakePlex, tmp_path: Path
) -> None:
    """While another download of the playlist writes in the shared folder (it holds the folder's lock), deleting
    says so and removes nothing; once it has finished, the delete goes through."""
    import fcntl

    alices = await client_for(medianest_client, feeds, plex, tmp_path)
    alice = await sign_in(alices, "alice")
    done = await finished(alices, alice, feeds.base_url + "/feeds/course.xml")
    assert done["state"] == "done", done
    folder = tmp_path / "library" / done["folder"]
    with (folder / ".medianest-lock").open("a") as writing:
        fcntl.flock(writing, fcntl.LOCK_EX)
        resp = await alices.delete(f"/api/v1/youtube/downloads/{done['id']}", headers=alice.headers)
        assert resp.status == 409
        assert (await resp.json())["error"]["message"].startswith("Another download of this playlist is writing")
        assert len(list(folder.glob("*.mp4"))) == 3
        fcntl.flock(writing, fcntl.LOCK_UN)
    resp = await alices.delete(f"/api/v1/youtube/downloads/{done['id']}", headers=alice.headers)
    assert resp.status == 200, await resp.text()
    assert not folder.exists()
