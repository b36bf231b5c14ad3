"""The fake TMDB answers as the real one does: its keys, its error bodies and statuses, its paging, its search, its
details with what was appended, and its images."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from medianest_tmdb.fake import FakeTmdb, Sample


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get(http: aiohttp.ClientSession, url: str, **params: Any) -> tuple[int, Any, aiohttp.ClientResponse]:
    async with http.get(url, params=params) as resp:
        body = await resp.json() if resp.content_type == "application/json" else await resp.read()
        return resp.status, body, resp


async def test_a_key_or_a_token_is_needed_and_a_wrong_one_is_refused(fake: FakeTmdb, http: Any) -> None:
    refused = {
        "status_code": 7,
        "status_message": "Invalid API key: You must be granted a valid key.",
        "success": False,
    }
    for params in ({}, {"api_key": "wrong"}):
        status, body, _ = await get(http, f"{fake.api_url}/configuration", **params)
        assert (status, body) == (401, refused)
    async with http.get(f"{fake.api_url}/configuration", headers={"Authorization": "Bearer wrong"}) as resp:
        assert (resp.status, await resp.json()) == (401, refused)

    status, body, _ = await get(http, f"{fake.api_url}/configuration", api_key=fake.api_key)
    assert status == 200
    assert body["images"]["poster_sizes"] == ["w92", "w154", "w185", "w342", "w500", "w780", "original"]
    assert body["images"]["secure_base_url"] == f"{fake.url}/t/p/"
    async with http.get(f"{fake.api_url}/configuration", headers={"Authorization": f"Bearer {fake.token}"}) as resp:
        assert resp.status == 200


async def test_unknown_things_bad_pages_and_too_many_requests(fake: FakeTmdb, http: Any) -> None:
    missing = {"status_code": 34, "status_message": "The resource you requested could not be found.", "success": False}
    for path in ("/movie/999999", "/tv/abc", "/trending/all/month", "/nothing/here"):
        status, body, _ = await get(http, f"{fake.api_url}{path}", api_key=fake.api_key)
        assert (status, body) == (404, missing), path
    for page in ("0", "501", "two", "-1"):
        status, body, _ = await get(http, f"{fake.api_url}/movie/popular", api_key=fake.api_key, page=page)
        assert status == 400, page
        assert body["status_code"] == 22
        assert body["success"] is False

    fake.rate_limited, fake.retry_after = 2, "3"
    for _ in range(2):
        status, body, resp = await get(http, f"{fake.api_url}/movie/popular", api_key=fake.api_key)
        assert (status, body["status_code"], body["success"]) == (429, 25, False)
        assert resp.headers["Retry-After"] == "3"
    status, _, _ = await get(http, f"{fake.api_url}/movie/popular", api_key=fake.api_key)
    assert status == 200
    assert fake.count("/3/movie/popular") == 7


async def test_search_matches_titles_original_titles_and_people_without_regard_to_case(
    fake: FakeTmdb, http: Any
) -> None:
    status, body, _ = await get(http, f"{fake.api_url}/search/multi", api_key=fake.api_key, query="MATRIX")
    assert status == 200
    assert set(body) == {"page", "results", "total_pages", "total_results"}
    found = [(item["media_type"], item.get("title") or item["name"]) for item in body["results"]]
    assert found == [  # by popularity; the adult film only when asked for
        ("movie", "The Matrix"),
        ("movie", "The Matrix Reloaded"),
        ("tv", "The Matrix Files"),
        ("person", "Matrix Person"),
    ]
    _, adult, _ = await get(
        http, f"{fake.api_url}/search/multi", api_key=fake.api_key, query="matrix", include_adult="true"
    )
    assert adult["results"][0]["title"] == "Matrix Unrated"

    _, by_original, _ = await get(http, f"{fake.api_url}/search/multi", api_key=fake.api_key, query="千と千尋")
    assert [item["title"] for item in by_original["results"]] == ["Spirited Away"]
    _, german, _ = await get(
        http, f"{fake.api_url}/search/multi", api_key=fake.api_key, query="fabelhafte", language="de-DE"
    )
    assert [item["title"] for item in german["results"]] == ["Die fabelhafte Welt der Amélie"]


async def test_lists_are_paged_by_twenty(fake: FakeTmdb, http: Any) -> None:
    for n in range(45):
        fake.add_movie(f"Filler {n}", popularity=1.0 / (n + 2))
    _, first, _ = await get(http, f"{fake.api_url}/movie/popular", api_key=fake.api_key)
    _, third, _ = await get(http, f"{fake.api_url}/movie/popular", api_key=fake.api_key, page="3")
    movies = 45 + 6
    assert (first["page"], len(first["results"]), first["total_pages"], first["total_results"]) == (1, 20, 3, movies)
    assert (third["page"], len(third["results"])) == (3, movies - 40)
    assert "media_type" not in first["results"][0]
    _, trending, _ = await get(http, f"{fake.api_url}/trending/all/week", api_key=fake.api_key)
    assert {item["media_type"] for item in trending["results"]} <= {"movie", "tv", "person"}


async def test_details_bring_only_what_is_appended(fake: FakeTmdb, http: Any) -> None:
    _, bare, _ = await get(http, f"{fake.api_url}/movie/{Sample.MATRIX}", api_key=fake.api_key)
    assert bare["title"] == "The Matrix"
    assert bare["imdb_id"] == "tt0133093"
    assert not {"credits", "external_ids", "videos"} & set(bare)

    _, full, _ = await get(
        http,
        f"{fake.api_url}/tv/{Sample.BREAKING_BAD}",
        api_key=fake.api_key,
        append_to_response="credits,external_ids,videos",
    )
    assert full["name"] == "Breaking Bad"
    assert full["external_ids"]["tvdb_id"] == 81189
    assert [member["name"] for member in full["credits"]["cast"]] == ["Bryan Cranston", "Aaron Paul"]
    assert [video["key"] for video in full["videos"]["results"]] == ["HhesaQXLuRY"]
    assert [season["season_number"] for season in full["seasons"]] == [0, 1, 2]

    _, film, _ = await get(
        http,
        f"{fake.api_url}/movie/{Sample.MATRIX}",
        api_key=fake.api_key,
        append_to_response="videos",
        language="de-DE",
    )
    assert [video["key"] for video in film["videos"]["results"]] == ["german01"]  # videos follow the language


async def test_images_need_no_key_and_are_pictures(fake: FakeTmdb, http: Any) -> None:
    _, film, _ = await get(http, f"{fake.api_url}/movie/{Sample.MATRIX}", api_key=fake.api_key)
    poster = film["poster_path"]
    async with http.get(f"{fake.image_url}/t/p/w342{poster}") as resp:
        assert resp.status == 200
        assert resp.content_type == "image/jpeg"
        body = await resp.read()
    assert body.startswith(b"\xff\xd8")
    assert body.endswith(b"\xff\xd9")
    fake.add_image("logo.png")
    async with http.get(f"{fake.image_url}/t/p/original/logo.png") as resp:
        assert (resp.status, resp.content_type) == (200, "image/png")
        assert (await resp.read()).startswith(b"\x89PNG\r\n\x1a\n")
    for path in (f"/t/p/w9999{poster}", "/t/p/w342/missing.jpg"):
        async with http.get(f"{fake.image_url}{path}") as resp:
            assert resp.status == 404, path
    assert fake.count(f"/t/p/w342{poster}") == 1
