"""Title pages made from Overseerr alone: with the Overseerr plugin and no TMDB key, a film's and a series' pages
show Overseerr's details (pictures through the plugin's image route) with the Request button; an id Overseerr does
not know is no title; Overseerr hung is a 503 naming it, and then pages it showed before still answer at once."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from medianest_overseerr import titles
from medianest_overseerr.fake import FakeOverseerr
from medianest_overseerr.service import PAUSED
from medianest_tmdb.fake import FakeTmdb, jpeg_bytes
from overseerr_harness import Person, Setup, setup

from medianest_core import keys

DUNE = 438631
THRONES = 1399
UNKNOWN = 999_999
IMAGES = "/api/v1/overseerr/images"


@pytest.fixture
async def fake() -> AsyncIterator[FakeOverseerr]:
    made = FakeOverseerr()
    dune = made.add_movie(
        DUNE, "Dune", 2021, overview="Paul Atreides leads nomadic tribes.", imdb_id="tt1160419", poster_path="/dune.jpg"
    )
    dune.tagline = "It begins."
    dune.genres = ["Science Fiction", "Adventure"]
    dune.cast = [("Timothée Chalamet", "Paul Atreides"), ("Rebecca Ferguson", "Jessica")]
    dune.trailer = "n9xhJrPXop4"
    made.add_tv(
        THRONES, "Game of Thrones", 2011, seasons={0: 5, 1: 10, 2: 10}, tvdb_id=121361, overview="Seven kingdoms."
    )
    await made.start()
    yield made
    await made.stop()


async def title(person: Person, kind: str, tmdb_id: int) -> tuple[int, Any]:
    return await person.call("GET", f"/api/v1/titles/{kind}/{tmdb_id}")


def requests_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in doc["actions"] if a["source"] == "overseerr.requests"]


async def test_a_film_page_is_made_from_overseerr_alone(medianest_client: Any, fake: FakeOverseerr) -> None:
    made = await setup(medianest_client, fake)
    assert [p for p, _ in made.client.app[keys.CONTRIBUTIONS].title_sources] == ["overseerr"]  # no TMDB, no stand-in
    alice = await made.person("alice", plex_id=501)

    status, dune = await title(alice, "movie", DUNE)

    assert status == 200, dune
    assert (dune["title"], dune["year"], dune["overview"]) == ("Dune", 2021, "Paul Atreides leads nomadic tribes.")
    assert dune["ids"] == {"tmdb": DUNE, "tvdb": None, "imdb": "tt1160419"}
    assert dune["poster"] == f"{IMAGES}/w342/dune.jpg"
    assert dune["backdrop"] == f"{IMAGES}/w1280/b{DUNE}.jpg"
    assert (dune["tagline"], dune["runtime_minutes"]) == ("It begins.", 120)
    assert dune["genres"] == ["Science Fiction", "Adventure"]
    assert dune["cast"] == [
        {"name": "Timothée Chalamet", "character": "Paul Atreides", "image": f"{IMAGES}/w185/c{DUNE}x0.jpg"},
        {"name": "Rebecca Ferguson", "character": "Jessica", "image": f"{IMAGES}/w185/c{DUNE}x1.jpg"},
    ]
    assert dune["trailer_url"] == "https://www.youtube.com/watch?v=n9xhJrPXop4"
    assert dune["seasons"] == []
    assert dune["notes"] == []
    [request] = requests_of(dune)
    assert (request["label"], request["enabled"], request["body"]) == (
        "Request",
        True,
        {"kind": "movie", "tmdb_id": DUNE},
    )
    assert fake.count(f"/api/v1/movie/{DUNE}") == 1  # the page's details and its facts share one call


async def test_a_series_page_has_overseerrs_seasons_to_request(medianest_client: Any, fake: FakeOverseerr) -> None:
    made = await setup(medianest_client, fake)
    alice = await made.person("alice", plex_id=501)

    status, thrones = await title(alice, "tv", THRONES)

    assert status == 200, thrones
    assert (thrones["title"], thrones["year"], thrones["overview"]) == ("Game of Thrones", 2011, "Seven kingdoms.")
    assert thrones["ids"]["tvdb"] == 121361
    assert thrones["poster"].startswith(f"{IMAGES}/w342/p{THRONES}")
    assert thrones["runtime_minutes"] == 45
    assert [(s["number"], s["name"], s["episodes"]) for s in thrones["seasons"]] == [
        (0, "Specials", 5),
        (1, "Season 1", 10),
        (2, "Season 2", 10),
    ]
    [request] = requests_of(thrones)
    assert [(c["value"], c["enabled"]) for c in request["choices"]] == [(1, True), (2, True)]

    answer = await alice.call("POST", request["url"], json=request["body"] | {"seasons": [2]})
    assert answer[0] == 201, answer
    [request] = requests_of((await title(alice, "tv", THRONES))[1])
    assert [(c["value"], c["enabled"], c["reason"]) for c in request["choices"]] == [
        (1, True, None),
        (2, False, "Requested already"),
    ]


async def test_the_html_page_shows_the_title_its_pictures_and_request(
    medianest_client: Any, fake: FakeOverseerr
) -> None:
    made = await setup(medianest_client, fake)
    alice = await made.person("alice", plex_id=501)

    resp = await alice.client.get(f"/titles/movie/{DUNE}")

    assert resp.status == 200
    page = await resp.text()
    assert "<h1>Dune <span" in page
    assert f'src="{IMAGES}/w342/dune.jpg"' in page
    assert f'src="{IMAGES}/w1280/b{DUNE}.jpg"' in page
    assert 'data-title-action="/api/v1/overseerr/requests"' in page
    assert ">Request</button>" in page
    assert "Timothée Chalamet" in page


async def test_the_backdrop_is_served_by_the_image_route(medianest_client: Any, fake: FakeOverseerr) -> None:
    host = FakeTmdb()  # TMDB's image host only: no TMDB plugin
    host.add_image(f"b{DUNE}.jpg")
    await host.start()
    try:
        made = await setup(medianest_client, fake, image_url=f"{host.url}/t/p")
        alice = await made.person("alice", plex_id=501)
        _, dune = await title(alice, "movie", DUNE)

        resp = await alice.client.get(dune["backdrop"])

        assert (resp.status, resp.content_type) == (200, "image/jpeg")
        assert await resp.read() == jpeg_bytes()
        assert [c.path for c in host.calls if c.path.startswith("/t/p/")] == [f"/t/p/w1280/b{DUNE}.jpg"]
    finally:
        await host.stop()


async def test_an_id_overseerr_does_not_know_is_no_title_and_pauses_nothing(
    medianest_client: Any, fake: FakeOverseerr
) -> None:
    made = await setup(medianest_client, fake)
    alice = await made.person("alice", plex_id=501)

    status, answer = await title(alice, "movie", UNKNOWN)
    assert status == 404, answer
    assert answer["error"]["code"] == "not_found"
    assert fake.count(f"/api/v1/movie/{UNKNOWN}") == 1  # Overseerr's 500 for it
    resp = await alice.client.get(f"/titles/tv/{UNKNOWN}")
    assert resp.status == 404

    assert made.service.paused() is None
    [request] = requests_of((await title(alice, "movie", DUNE))[1])
    assert (request["enabled"], request["reason"]) == (True, None)


async def test_an_adult_film_has_no_page(medianest_client: Any, fake: FakeOverseerr) -> None:
    fake.title("movie", DUNE).adult = True
    made = await setup(medianest_client, fake)
    alice = await made.person("alice", plex_id=501)

    status, answer = await title(alice, "movie", DUNE)
    assert status == 404, answer
    assert fake.count(f"/api/v1/movie/{DUNE}") == 1


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Overseerr's details given one second instead of five: the same rule, a faster test."""
    monkeypatch.setattr(titles, "DETAILS_SECONDS", 0.8)
    monkeypatch.setattr(titles, "DETAILS_TIMEOUT", 1.0)


async def test_overseerr_hung_is_a_503_then_pages_shown_before_answer_at_once(
    medianest_client: Any, fake: FakeOverseerr, quick: None
) -> None:
    made: Setup = await setup(medianest_client, fake)
    alice = await made.person("alice", plex_id=501)
    assert (await title(alice, "movie", DUNE))[0] == 200
    fake.hang = True

    began = time.monotonic()
    status, answer = await title(alice, "tv", THRONES)
    assert time.monotonic() - began < 3.0
    assert status == 503, answer
    assert answer["error"]["code"] == "service_unavailable"
    assert "Overseerr" in answer["error"]["message"]
    assert made.service.paused() == PAUSED

    before = len(fake.calls)
    began = time.monotonic()
    status, dune = await title(alice, "movie", DUNE)  # kept from before
    again, _ = await title(alice, "tv", THRONES)  # never kept: not asked while paused
    assert time.monotonic() - began < 0.5
    asked = [call.path for call in fake.calls[before:]]
    assert [path for path in asked if not path.endswith(("/status", "/auth/me"))] == []  # not even asked
    assert status == 200, dune
    assert dune["title"] == "Dune"
    [request] = requests_of(dune)
    assert (request["enabled"], request["reason"]) == (False, PAUSED)
    assert again == 503
