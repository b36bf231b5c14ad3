"""The fake Plex Media Server serves what titles need as PMS does: external ids (``Guid``) only when asked with
``includeGuids=1``, genres and cast on an item's detail, a series' seasons and episodes (``/children``, paged),
items that go away, and the image transcoder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from medianest_plex.client import GuidTag, external_ids
from medianest_plex.fake import POSTER_PNG, FakePlex

from medianest_core import ExternalIds

JSON = {"Accept": "application/json", "X-Plex-Client-Identifier": "test-client"}


@pytest.fixture
async def plex() -> AsyncIterator[FakePlex]:
    fake = FakePlex(machine_identifier="abc123")
    fake.add_section("1", "Movies", "movie")
    fake.add_section("2", "TV Shows", "show")
    fake.add_item(
        "1",
        "The Matrix",
        year=1999,
        guids=["imdb://tt0133093", "tmdb://603", "tvdb://169"],
        genres=["Action", "Science Fiction"],
        roles=[("Keanu Reeves", "Neo"), ("Carrie-Anne Moss", "Trinity")],
        tagline="Welcome to the Real World.",
        duration=8_160_000,
        originally_available_at="1999-03-31",
    )
    fake.add_item("2", "Severance", year=2022, guids=["tmdb://95396", "tvdb://371980"])
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get(http: aiohttp.ClientSession, plex: FakePlex, path: str, token: str | None = None, **params: Any) -> Any:
    headers = {**JSON, "X-Plex-Token": token or plex.owner.token}
    async with http.get(plex.url + path, headers=headers, params=params) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["MediaContainer"]


def by_title(plex: FakePlex, title: str) -> dict[str, Any]:
    return next(entry for entry in plex._metadata.values() if entry["title"] == title)


async def test_guids_only_when_asked(plex: FakePlex, http: aiohttp.ClientSession) -> None:
    matrix = by_title(plex, "The Matrix")
    guids = [{"id": "imdb://tt0133093"}, {"id": "tmdb://603"}, {"id": "tvdb://169"}]
    for path, params in (
        ("/library/sections/1/all", {}),
        ("/library/recentlyAdded", {}),
        (f"/library/metadata/{matrix['ratingKey']}", {}),
        ("/hubs/search", {"query": "matrix"}),
    ):
        plain = await get(http, plex, path, **params)
        asked = await get(http, plex, path, includeGuids="1", **params)
        if path == "/hubs/search":
            plain, asked = plain["Hub"][0], asked["Hub"][0]
        [plain_item] = [m for m in plain["Metadata"] if m["title"] == "The Matrix"]
        [asked_item] = [m for m in asked["Metadata"] if m["title"] == "The Matrix"]
        assert "Guid" not in plain_item, path
        assert asked_item["Guid"] == guids, path
        assert plain_item["guid"].startswith("plex://movie/")  # Plex's own id is always there
    # An item without external ids has no Guid at all (PMS leaves empty lists out).
    plex.add_item("1", "Home Movie")
    listed = await get(http, plex, "/library/sections/1/all", includeGuids="1")
    assert "Guid" not in next(m for m in listed["Metadata"] if m["title"] == "Home Movie")


async def test_genres_and_cast_on_the_detail_only(plex: FakePlex, http: aiohttp.ClientSession) -> None:
    key = by_title(plex, "The Matrix")["ratingKey"]
    [detail] = (await get(http, plex, f"/library/metadata/{key}"))["Metadata"]
    assert [genre["tag"] for genre in detail["Genre"]] == ["Action", "Science Fiction"]
    assert [(role["tag"], role["role"]) for role in detail["Role"]] == [
        ("Keanu Reeves", "Neo"),
        ("Carrie-Anne Moss", "Trinity"),
    ]
    assert all(role["thumb"].startswith("https://metadata-static.plex.tv/people/") for role in detail["Role"])
    assert all(isinstance(tag["id"], int) and tag["filter"] for tag in detail["Genre"] + detail["Role"])
    assert (detail["tagline"], detail["duration"], detail["originallyAvailableAt"]) == (
        "Welcome to the Real World.",
        8_160_000,
        "1999-03-31",
    )
    [listed] = (await get(http, plex, "/library/sections/1/all", includeGuids="1"))["Metadata"]
    assert "Genre" not in listed
    assert "Role" not in listed


async def test_a_series_has_seasons_and_episodes(plex: FakePlex, http: aiohttp.ClientSession) -> None:
    show = by_title(plex, "Severance")
    season_2 = plex.add_season(show["ratingKey"], 2, episodes=10)
    season_1 = plex.add_season(show["ratingKey"], 1, episodes=9, title="Season One")
    assert (show["childCount"], show["leafCount"]) == (2, 19)
    assert (season_1["type"], season_1["index"], season_1["parentRatingKey"], season_1["leafCount"]) == (
        "season",
        1,
        show["ratingKey"],
        9,
    )

    seasons = await get(http, plex, f"/library/metadata/{show['ratingKey']}/children")
    assert [(m["index"], m["title"], m["leafCount"]) for m in seasons["Metadata"]] == [
        (1, "Season One", 9),
        (2, "Season 2", 10),
    ]
    assert (seasons["viewGroup"], seasons["title2"], seasons["totalSize"]) == ("season", "Severance", 2)
    episodes = await get(
        http,
        plex,
        f"/library/metadata/{season_2['ratingKey']}/children",
        **{"X-Plex-Container-Start": "8", "X-Plex-Container-Size": "5"},
    )
    assert (episodes["offset"], episodes["size"], episodes["totalSize"]) == (8, 2, 10)
    assert [(m["index"], m["parentIndex"], m["grandparentTitle"]) for m in episodes["Metadata"]] == [
        (9, 2, "Severance"),
        (10, 2, "Severance"),
    ]
    assert episodes["Metadata"][0]["grandparentRatingKey"] == show["ratingKey"]

    # A section lists its series by default; its seasons and episodes only when their type is asked.
    listed = await get(http, plex, "/library/sections/2/all")
    assert [m["title"] for m in listed["Metadata"]] == ["Severance"]
    assert listed["Metadata"][0]["leafCount"] == 19
    assert (await get(http, plex, "/library/sections/2/all", type="4"))["totalSize"] == 19
    # Searching a section with episodes offers them in their own hub.
    hubs = {hub["hubIdentifier"]: hub for hub in (await get(http, plex, "/hubs/search", query="episode"))["Hub"]}
    assert hubs["episode"]["size"] == 3  # the default limit of a hub
    assert hubs["episode"]["more"] is True

    movie = by_title(plex, "The Matrix")
    assert (await get(http, plex, f"/library/metadata/{movie['ratingKey']}/children"))["size"] == 0


async def test_children_are_shown_only_to_whom_the_library_is_shared(
    plex: FakePlex, http: aiohttp.ClientSession
) -> None:
    show = by_title(plex, "Severance")
    plex.add_season(show["ratingKey"], 1, episodes=2)
    token = plex.share(plex.add_account("alice"), ["1"])
    async with http.get(
        f"{plex.url}/library/metadata/{show['ratingKey']}/children", headers={**JSON, "X-Plex-Token": token}
    ) as response:
        assert response.status == 404


async def test_an_item_that_is_removed_goes_with_its_seasons(plex: FakePlex, http: aiohttp.ClientSession) -> None:
    show = by_title(plex, "Severance")
    season = plex.add_season(show["ratingKey"], 1, episodes=3)
    first = (await get(http, plex, f"/library/metadata/{season['ratingKey']}/children"))["Metadata"][0]
    plex.remove_item(first["ratingKey"])
    assert (season["leafCount"], show["leafCount"]) == (2, 2)

    collection = plex.add_collection("2", "Office", [show["ratingKey"]])
    plex.remove_item(show["ratingKey"])
    assert collection["childCount"] == 0
    assert [e for e in plex._metadata.values() if e["librarySectionID"] == 2 and e["type"] != "collection"] == []
    async with http.get(
        f"{plex.url}/library/metadata/{season['ratingKey']}", headers={**JSON, "X-Plex-Token": plex.owner.token}
    ) as response:
        assert response.status == 404


async def test_the_transcoder_serves_photos_from_the_web(plex: FakePlex, http: aiohttp.ClientSession) -> None:
    photo = "https://metadata-static.plex.tv/people/abc.jpg"
    headers = {"X-Plex-Token": plex.owner.token}
    async with http.get(f"{plex.url}/photo/:/transcode", params={"url": photo, "width": "240"}, headers=headers) as r:
        assert (r.status, r.content_type) == (200, "image/png")
        assert await r.read() == POSTER_PNG
    assert plex.transcoded == [photo]
    for bad in ({"url": "file:///etc/passwd"}, {"url": photo, "width": "wide"}, {}):
        async with http.get(f"{plex.url}/photo/:/transcode", params=bad, headers=headers) as r:
            assert r.status == 400
    async with http.get(f"{plex.url}/photo/:/transcode", params={"url": photo}) as r:
        assert r.status == 401


@pytest.mark.parametrize(
    ("guids", "legacy", "ids"),
    [
        (["imdb://tt0133093", "tmdb://603", "tvdb://169"], None, ExternalIds(603, 169, "tt0133093")),
        (["tmdb://abc", "tmdb://-4", "tvdb://", "imdb://nm0000206", "foo://1", "tmdb603"], None, ExternalIds()),
        (["tmdb://0", "tmdb://99999999999", "tvdb://12"], None, ExternalIds(tvdb=12)),
        (["tmdb://603", "tmdb://604"], None, ExternalIds(tmdb=603)),  # the first of a kind
        (["tmdb://\uff16\uff10\uff13"], None, ExternalIds()),  # digits of another script are no id
        ([], "com.plexapp.agents.imdb://tt0133093?lang=en", ExternalIds(imdb="tt0133093")),
        ([], "com.plexapp.agents.themoviedb://603?lang=en", ExternalIds(tmdb=603)),
        ([], "com.plexapp.agents.thetvdb://81189/1/2?lang=en", ExternalIds()),  # an episode's: not a series id
        (["tmdb://1"], "com.plexapp.agents.themoviedb://2?lang=en", ExternalIds(tmdb=1)),
        ([], "plex://movie/5d776825880197001ec967c6", ExternalIds()),
    ],
)
def test_external_ids_are_read_from_guid_tags(guids: list[str], legacy: str | None, ids: ExternalIds) -> None:
    assert external_ids([GuidTag(guid) for guid in guids], legacy) == ids
