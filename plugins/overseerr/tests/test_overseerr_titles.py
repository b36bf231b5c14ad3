"""What Overseerr adds to titles (Request buttons, "Requested", "Tell me when it's available") and Overseerr's own
search, as a person sees them on search results and title pages."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from medianest_overseerr import OverseerrPlugin
from medianest_overseerr.fake import FakeOverseerr
from medianest_overseerr.service import PAUSED
from medianest_overseerr.titles import NOT_LINKED, Known
from overseerr_harness import Person, Setup, setup

from medianest_core import hookimpl, keys
from medianest_core.testing import entry_point
from medianest_core.types import (
    ExternalIds,
    SearchProvider,
    SearchQuery,
    SeasonInfo,
    Title,
    TitleQuery,
    TitleSource,
)

DUNE = 438631
THRONES = 1399
WHEN = r"\d{1,2} [A-Z][a-z]{2} \d{4}"


class Catalogue:
    """A stand-in for TMDB: a search provider (before Overseerr's) and title pages' details."""

    name = "catalogue"
    version = "0"

    def __init__(self) -> None:
        self.titles: dict[tuple[str, int], Title] = {}

    def add(self, title: Title) -> None:
        assert title.ids.tmdb is not None
        self.titles[(title.kind, title.ids.tmdb)] = title

    @hookimpl
    def search_providers(self) -> list[SearchProvider]:
        async def search(query: SearchQuery) -> list[Title]:
            return [t for t in self.titles.values() if query.text.casefold() in t.title.casefold()]

        return [SearchProvider("search", "Catalogue", search, order=20)]

    @hookimpl
    def title_sources(self) -> list[TitleSource]:
        async def details(query: TitleQuery) -> Title | None:
            return self.titles.get((query.kind.value, query.tmdb_id))

        return [TitleSource("details", "Catalogue", details, order=10)]


@pytest.fixture
async def fake() -> AsyncIterator[FakeOverseerr]:
    made = FakeOverseerr()
    made.add_movie(DUNE, "Dune", 2021, popularity=80.0, imdb_id="tt1160419")
    made.add_tv(THRONES, "Game of Thrones", 2011, seasons={0: 5, 1: 10, 2: 10, 3: 10}, tvdb_id=121361)
    made.add_person(31, "Dune Messenger")
    await made.start()
    yield made
    await made.stop()


async def started(medianest_client: Any, fake: FakeOverseerr, *plugins: Any, **values: Any) -> Setup:
    """A MediaNest with the Overseerr plugin (and ``plugins``) pointed at ``fake``."""

    async def client(**kwargs: Any) -> Any:
        if "entry_points" in kwargs:
            kwargs["entry_points"] = [*kwargs["entry_points"], *(entry_point(p.name, p) for p in plugins)]
        return await medianest_client(**kwargs)

    return await setup(client, fake, **values)


async def search(person: Person, q: str) -> dict[str, Any]:
    status, answer = await person.call("GET", "/api/v1/search", params={"q": q})
    assert status == 200, answer
    assert answer["done"] is True
    return answer  # type: ignore[no-any-return]


def hit(answer: dict[str, Any], kind: str, tmdb_id: int) -> dict[str, Any]:
    found: list[dict[str, Any]] = [t for t in answer["results"] if t["kind"] == kind and t["ids"]["tmdb"] == tmdb_id]
    assert len(found) == 1, answer["results"]
    return found[0]


def ours(doc: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The statuses and the buttons Overseerr put on a title."""
    statuses = [s for s in doc["statuses"] if s["source"] == "overseerr.requests"]
    actions = [a for a in doc["actions"] if a["source"] == "overseerr.requests"]
    return statuses, actions


def labels(doc: dict[str, Any]) -> list[str]:
    return [a["label"] for a in ours(doc)[1]]


async def press(person: Person, action: dict[str, Any], ticked: list[Any] | None = None) -> dict[str, Any]:
    """Press a button as the page does: its body, with the choices ticked under its field."""
    body = dict(action["body"])
    if action["choices"]:
        assert ticked is not None
        body[action["field"]] = ticked
    status, answer = await person.call(action["method"], action["url"], json=body)
    assert status in (200, 201), answer
    return answer  # type: ignore[no-any-return]


async def facts(person: Person, kind: str, tmdb_id: int, *, detail: bool = False) -> dict[str, Any]:
    params = {"detail": "true"} if detail else {}
    status, answer = await person.call("GET", f"/api/v1/titles/{kind}/{tmdb_id}/facts", params=params)
    assert status == 200, answer
    return answer  # type: ignore[no-any-return]


# ---- Overseerr's search ----------------------------------------------------------------------------------------------


async def test_search_answers_overseerrs_films_and_series_once_each_without_people(
    medianest_client: Any, fake: FakeOverseerr
) -> None:
    catalogue = Catalogue()
    catalogue.add(Title("movie", "Dune: Part One", ExternalIds(tmdb=DUNE), overview="From the catalogue"))
    made = await started(medianest_client, fake, catalogue)
    alice = await made.person("alice", plex_id=501)

    answer = await search(alice, "dune")

    sources = {s["id"]: s for s in answer["sources"]}
    assert sources["overseerr.search"]["state"] == "ok"
    assert sources["overseerr.search"]["count"] == 1  # the film; the person is left out
    dune = hit(answer, "movie", DUNE)
    assert dune["title"] == "Dune: Part One"  # the catalogue comes first, as TMDB does: its fields win
    assert dune["overview"] == "From the catalogue"
    assert dune["year"] == 2021
    assert dune["url"] == f"/titles/movie/{DUNE}"
    poster = fake.title("movie", DUNE).poster_path
    assert dune["poster"] == f"/api/v1/overseerr/images/w342{poster}"
    assert set(dune["sources"]) == {"catalogue.search", "overseerr.search"}
    assert [t["title"] for t in answer["results"]] == ["Dune: Part One"]

    series = await search(alice, "thrones")
    thrones = hit(series, "tv", THRONES)
    assert thrones["title"] == "Game of Thrones"
    assert thrones["year"] == 2011


async def test_search_carries_the_ids_overseerr_tracks(medianest_client: Any, fake: FakeOverseerr) -> None:
    made = await started(medianest_client, fake)
    alice = await made.person("alice", plex_id=501)
    assert hit(await search(alice, "thrones"), "tv", THRONES)["ids"] == {"tmdb": THRONES, "tvdb": None, "imdb": None}

    fake.make_available("tv", THRONES, seasons=[1])

    assert hit(await search(alice, "thrones"), "tv", THRONES)["ids"]["tvdb"] == 121361


# ---- Request, Requested, and "Tell me when it's available" -----------------------------------------------------------


async def test_a_film_not_requested_offers_request_and_once_requested_says_so(
    medianest_client: Any, fake: FakeOverseerr
) -> None:
    made = await started(medianest_client, fake)
    alice = await made.person("alice", plex_id=501)

    dune = hit(await search(alice, "dune"), "movie", DUNE)
    statuses, actions = ours(dune)
    assert statuses == []
    assert [(a["label"], a["method"], a["url"], a["body"], a["enabled"]) for a in actions] == [
        ("Request", "POST", "/api/v1/overseerr/requests", {"kind": "movie", "tmdb_id": DUNE}, True)
    ]

    answer = await press(alice, actions[0])
    assert answer["request"]["state"] == "pending"

    dune = hit(await search(alice, "dune"), "movie", DUNE)
    statuses, actions = ours(dune)
    assert [(s["label"], s["tone"]) for s in statuses] == [("Requested", "info")]
    assert re.fullmatch(f"Waiting for approval · You requested it on {WHEN}", statuses[0]["detail"])
    assert actions == []  # neither Request again nor "Tell me": the asker is told anyway


async def test_others_see_requested_by_someone_else_and_may_be_told_admins_see_who(
    medianest_client: Any, fake: FakeOverseerr
) -> None:
    made = await started(medianest_client, fake)
    alice = await made.person("alice", plex_id=501)
    bob = await made.person("bob", plex_id=502)
    admin = await made.person("root", role="admin")
    [request] = ours(await facts(alice, "movie", DUNE))[1]
    await press(alice, request)

    dune = hit(await search(bob, "dune"), "movie", DUNE)
    statuses, actions = ours(dune)
    assert [(s["label"], s["detail"]) for s in statuses] == [
        ("Requested", "Waiting for approval · Requested by someone else")
    ]
    assert "alice" not in str(dune)
    assert [(a["label"], a["method"], a["url"]) for a in actions] == [
        ("Tell me when it's available", "PUT", f"/api/v1/overseerr/watches/movie/{DUNE}")
    ]

    shown = hit(await search(admin, "dune"), "movie", DUNE)
    assert re.fullmatch(f"Waiting for approval · Requested by alice on {WHEN}", ours(shown)[0][0]["detail"])

    assert (await press(bob, actions[0]))["watching"] is True
    dune = hit(await search(bob, "dune"), "movie", DUNE)
    statuses, actions = ours(dune)
    assert [(a["label"], a["method"]) for a in actions] == [("Stop telling me", "DELETE")]
    assert statuses[0]["detail"].endswith("We'll tell you when it's available")

    assert (await press(bob, actions[0]))["watching"] is False
    assert labels(await facts(bob, "movie", DUNE)) == ["Tell me when it's available"]


async def test_the_state_of_a_request_is_its_status(medianest_client: Any, fake: FakeOverseerr) -> None:
    made = await started(medianest_client, fake)
    alice = await made.person("alice", plex_id=501, permissions=32 | 128)  # REQUEST, AUTO_APPROVE
    bob = await made.person("bob", plex_id=502)
    [request] = ours(await facts(alice, "movie", DUNE))[1]
    answer = await press(alice, request)
    assert ours(await facts(alice, "movie", DUNE))[0][0]["label"] == "Approved"

    fake.make_processing("movie", DUNE)
    await made.service.refresh(answer["request"]["overseerr_id"])
    statuses, _ = ours(await facts(alice, "movie", DUNE))
    assert statuses[0]["label"] == "Downloading"
    assert statuses[0]["detail"].startswith("00:20:00 left")

    fake.make_available("movie", DUNE)
    await made.settle()
    statuses, actions = ours(await facts(bob, "movie", DUNE))
    assert [(s["label"], s["tone"]) for s in statuses] == [("Available", "ok")]
    assert actions == []  # nothing to request, nothing to wait for


async def test_a_title_overseerr_has_already_offers_no_request(medianest_client: Any, fake: FakeOverseerr) -> None:
    fake.make_available("movie", DUNE)  # in Plex, never requested through MediaNest
    fake.make_available("tv", THRONES, seasons=[1])
    made = await started(medianest_client, fake)
    alice = await made.person("alice", plex_id=501)
    assert labels(await facts(alice, "movie", DUNE, detail=True)) == []  # a title page asks Overseerr

    answer = await search(alice, "dune")  # a search remembers what Overseerr said
    assert labels(hit(answer, "movie", DUNE)) == []
    assert ours(hit(answer, "movie", DUNE))[0][0]["label"] == "Available"

    thrones = hit(await search(alice, "thrones"), "tv", THRONES)
    [request] = ours(thrones)[1]
    assert request["label"] == "Request more seasons"
    assert [(c["value"], c["enabled"], c["reason"]) for c in request["choices"]] == [
        (1, False, "In Plex"),
        (2, True, None),
        (3, True, None),
    ]


async def test_a_title_page_takes_the_catalogues_fields_first_and_overseerrs_for_the_rest(
    medianest_client: Any, fake: FakeOverseerr
) -> None:
    fake.title("movie", DUNE).genres = ["Science Fiction"]
    catalogue = Catalogue()
    catalogue.add(Title("movie", "Dune: Part One", ExternalIds(tmdb=DUNE), overview="From the catalogue"))
    made = await started(medianest_client, fake, catalogue)
    alice = await made.person("alice", plex_id=501)

    status, page = await alice.call("GET", f"/api/v1/titles/movie/{DUNE}")

    assert status == 200, page
    assert (page["title"], page["overview"]) == ("Dune: Part One", "From the catalogue")  # as TMDB's would
    assert (page["year"], page["genres"], page["ids"]["imdb"]) == (2021, ["Science Fiction"], "tt1160419")
    assert page["poster"] == f"/api/v1/overseerr/images/w342{fake.title('movie', DUNE).poster_path}"
    assert labels(page) == ["Request"]


# ---- series: which seasons -------------------------------------------------------------------------------------------


async def test_a_series_title_page_offers_its_seasons_the_requested_one_greyed(
    medianest_client: Any, fake: FakeOverseerr
) -> None:
    catalogue = Catalogue()
    seasons = [SeasonInfo(n, "Specials" if n == 0 else f"Season {n}", episodes=10) for n in range(4)]
    catalogue.add(Title("tv", "Game of Thrones", ExternalIds(tmdb=THRONES), seasons=seasons))
    made = await started(medianest_client, fake, catalogue)
    alice = await made.person("alice", plex_id=501)
    bob = await made.person("bob", plex_id=502)

    status, page = await alice.call("GET", f"/api/v1/titles/tv/{THRONES}")
    assert status == 200, page
    [request] = ours(page)[1]
    assert (request["label"], request["field"], request["choose"]) == ("Request", "seasons", "Which seasons?")
    assert request["body"] == {"kind": "tv", "tmdb_id": THRONES}
    assert [(c["value"], c["label"], c["enabled"]) for c in request["choices"]] == [
        (1, "Season 1", True),
        (2, "Season 2", True),
        (3, "Season 3", True),
    ]  # no specials

    answer = await press(alice, request, [1])
    assert answer["request"]["seasons"] == [1]

    status, page = await bob.call("GET", f"/api/v1/titles/tv/{THRONES}")
    statuses, actions = ours(page)
    assert [(s["label"], s["detail"]) for s in statuses] == [
        ("Requested", "Waiting for approval · Season 1 · Requested by someone else")
    ]
    request, watch = actions
    assert request["label"] == "Request more seasons"
    assert [(c["value"], c["enabled"], c["reason"]) for c in request["choices"]] == [
        (1, False, "Requested already"),
        (2, True, None),
        (3, True, None),
    ]
    assert watch["label"] == "Tell me when it's available"


async def test_a_series_with_no_seasons_known_asks_overseerr_for_them(
    medianest_client: Any, fake: FakeOverseerr
) -> None:
    made = await started(medianest_client, fake)
    alice = await made.person("alice", plex_id=501)

    thrones = hit(await search(alice, "thrones"), "tv", THRONES)
    [request] = ours(thrones)[1]
    assert [c["value"] for c in request["choices"]] == [1, 2, 3]
    assert fake.count(f"/api/v1/tv/{THRONES}") == 1

    await search(alice, "thrones")  # kept: not asked again
    assert fake.count(f"/api/v1/tv/{THRONES}") == 1


async def test_4k_is_offered_when_overseerr_offers_it(medianest_client: Any, fake: FakeOverseerr) -> None:
    fake.movie_4k = True
    made = await started(medianest_client, fake)
    alice = await made.person("alice", plex_id=501)

    assert labels(await facts(alice, "movie", DUNE)) == ["Request", "Request in 4K"]
    assert labels(await facts(alice, "tv", THRONES)) == ["Request"]  # no 4K server for series
    [_, uhd] = ours(await facts(alice, "movie", DUNE))[1]
    assert uhd["body"] == {"kind": "movie", "tmdb_id": DUNE, "is4k": True}


# ---- when requests cannot be made ------------------------------------------------------------------------------------


async def test_someone_overseerr_cannot_know_sees_request_greyed_out(
    medianest_client: Any, fake: FakeOverseerr
) -> None:
    made = await started(medianest_client, fake)
    local = await made.person("carol")  # no Plex account, not linked by the admin

    [request] = ours(await facts(local, "movie", DUNE))[1]
    assert (request["label"], request["enabled"], request["reason"]) == ("Request", False, NOT_LINKED)


async def test_overseerr_hung_search_and_title_pages_answer_at_once_request_greyed(
    medianest_client: Any, fake: FakeOverseerr
) -> None:
    catalogue = Catalogue()
    catalogue.add(Title("movie", "Dune", ExternalIds(tmdb=DUNE)))
    catalogue.add(Title("tv", "Game of Thrones", ExternalIds(tmdb=THRONES), seasons=[SeasonInfo(1, "Season 1")]))
    made = await started(medianest_client, fake, catalogue)
    alice = await made.person("alice", plex_id=501)
    fake.down = True
    answer = await search(alice, "dune")  # Overseerr fails once
    assert {s["id"]: s["state"] for s in answer["sources"]}["overseerr.search"] == "failed"
    fake.down = False
    fake.hang = True

    before = len(fake.calls)
    began = time.monotonic()
    answer = await search(alice, "dune")
    status, page = await alice.call("GET", f"/api/v1/titles/tv/{THRONES}")
    assert time.monotonic() - began < 3.0  # neither waits on Overseerr (its search alone would take 4.5 s)
    asked = [call.path for call in fake.calls[before:]]
    assert [path for path in asked if not path.endswith(("/status", "/auth/me"))] == []  # nor even asks it

    sources = {s["id"]: s for s in answer["sources"]}
    assert sources["catalogue.search"]["state"] == "ok"
    assert sources["overseerr.search"]["state"] == "failed"
    [request] = ours(hit(answer, "movie", DUNE))[1]
    assert (request["label"], request["enabled"], request["reason"]) == ("Request", False, PAUSED)
    assert status == 200, page
    assert page["notes"] == ["Overseerr could not be asked just now."]  # its details: the catalogue's stand
    [request] = ours(page)[1]
    assert (request["enabled"], request["reason"]) == (False, PAUSED)
    assert [c["value"] for c in request["choices"]] == [1]


async def test_not_set_up_adds_nothing_to_titles(medianest_client: Any) -> None:
    client = await medianest_client(entry_points=[entry_point("overseerr", OverseerrPlugin())])
    contributions = client.app[keys.CONTRIBUTIONS]
    assert [plugin for plugin, _ in contributions.title_facts] == []
    assert [plugin for plugin, _ in contributions.search_providers] == []
    assert [plugin for plugin, _ in contributions.title_sources] == []


# ---- what a search remembers -----------------------------------------------------------------------------------------


def test_what_searches_said_is_bounded_and_forgotten_in_time() -> None:
    now = [0.0]
    kept = Known(size=2, ttl=10.0, clock=lambda: now[0])
    for tmdb_id in (1, 2, 3):
        kept.learn("movie", tmdb_id, None)
    assert len(kept) == 2
    assert kept.get("movie", 1) is None
    assert kept.get("movie", 3) is not None
    now[0] = 11.0
    assert kept.get("movie", 3) is None
