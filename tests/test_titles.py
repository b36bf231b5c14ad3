"""The merged search, title pages and Discover, as a person (or an API client) sees them: each title once with
where it can be watched, in an order that puts what was asked for first; a slow or broken source costs one line,
never the page; nothing a plugin passes on becomes a link or markup that is not MediaNest's own."""

from __future__ import annotations

import asyncio
import json
from html.parser import HTMLParser
from typing import Any

import pytest
from title_plugins import (
    POSTERS,
    Behaviour,
    Careless,
    Catalogue,
    Held,
    Library,
    Requests,
    Row,
    SeasonRequests,
    Unreachable,
    film,
    poster,
    series,
)

from medianest_core import (
    ActionChoice,
    CastMember,
    ExternalIds,
    SeasonInfo,
    Title,
    TitleAction,
    TitleChanged,
    TitleFacts,
)
from medianest_core.events import EVENTS, event_classes
from medianest_core.testing import entry_point, sign_in
from medianest_core.upstream import Unavailable

HTML = {"Accept": "text/html"}
ARRIVAL = 329865


async def signed_in(medianest_client: Any, *plugins: Any) -> Any:
    client = await medianest_client(entry_points=[entry_point(plugin.name, plugin) for plugin in plugins])
    await sign_in(client, "alice")
    return client


async def search(client: Any, q: str, **params: Any) -> dict[str, Any]:
    resp = await client.get("/api/v1/search", params={"q": q, **params})
    assert resp.status == 200, await resp.text()
    answer: dict[str, Any] = await resp.json()
    assert answer["done"] is True
    return answer


async def next_line(resp: Any) -> dict[str, Any]:
    """The stream's next document, read as soon as it arrives."""
    line = await resp.content.readline()
    assert line.endswith(b"\n"), f"the stream ended early: {line!r}"
    found: dict[str, Any] = json.loads(line)
    return found


def titles(answer: dict[str, Any]) -> list[str]:
    return [result["title"] for result in answer["results"]]


def places(result: dict[str, Any]) -> list[str]:
    return [place["service"] for place in result["in_library"]]


def states(answer: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(source["id"], source["state"], source["message"]) for source in answer["sources"]]


def assert_error(body: Any, code: str) -> None:
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]


class Markup(HTMLParser):
    """The tags of a page, to tell text from markup."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def markup(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Markup()
    parser.feed(page)
    return parser.tags


# ---- 1. merging ---------------------------------------------------------------------------------------------------


async def test_a_film_both_sources_find_is_one_title_with_the_librarys_place_and_the_catalogues_figures(
    medianest_client: Any,
) -> None:
    library = Library(Held(film("Arrival", tmdb=ARRIVAL, year=2016), watch_url="https://app.library.example/w/1"))
    catalogue = Catalogue(
        film(
            "Arrival",
            tmdb=ARRIVAL,
            imdb="tt2543164",
            year=2016,
            popularity=61.5,
            poster_url=poster("arrival"),
            overview="A linguist is asked to talk to visitors.",
            facts={"vote_average": 7.6},
        )
    )
    client = await signed_in(medianest_client, library, catalogue)
    answer = await search(client, "arrival")

    assert titles(answer) == ["Arrival"]
    [arrival] = answer["results"]
    assert arrival["popularity"] == 61.5
    assert arrival["poster"] == poster("arrival")
    assert arrival["overview"] == "A linguist is asked to talk to visitors."
    assert arrival["ids"] == {"tmdb": ARRIVAL, "tvdb": None, "imdb": "tt2543164"}
    assert arrival["url"] == f"/titles/movie/{ARRIVAL}"
    assert arrival["in_library"] == [
        {
            "service": "Library",
            "library": "Films",
            "item_url": "/library/items/1",
            "watch_url": "https://app.library.example/w/1",
        }
    ]
    assert arrival["sources"] == {"library.search": {"rating_key": "1"}, "catalogue.search": {"vote_average": 7.6}}
    assert [(s["id"], s["state"], s["count"]) for s in answer["sources"]] == [
        ("library.search", "ok", 1),
        ("catalogue.search", "ok", 1),
    ]


async def test_a_library_copy_known_only_by_its_imdb_id_is_the_same_title(medianest_client: Any) -> None:
    library = Library(film("Arrival", imdb="tt2543164"))
    catalogue = Catalogue(film("Arrival", tmdb=ARRIVAL, imdb="tt2543164", popularity=61.5))
    client = await signed_in(medianest_client, library, catalogue)
    answer = await search(client, "arrival")

    assert titles(answer) == ["Arrival"]
    [arrival] = answer["results"]
    assert places(arrival) == ["Library"]
    assert arrival["ids"] == {"tmdb": ARRIVAL, "tvdb": None, "imdb": "tt2543164"}
    assert arrival["url"] == f"/titles/movie/{ARRIVAL}"  # the library's copy gains the catalogue's title page
    assert set(arrival["sources"]) == {"library.search", "catalogue.search"}


async def test_a_title_with_both_ids_joins_two_copies_known_by_one_id_each(medianest_client: Any) -> None:
    # The library has two copies of the film, one matched by its TMDB id and one by its IMDb id: alone, they look
    # like two films; the catalogue's answer, which carries both ids, shows they are one.
    gate = asyncio.Event()
    library = Library(
        Held(film("Arrival", tmdb=ARRIVAL), library="Films"),
        Held(film("Arrival", imdb="tt2543164"), library="Films 4K"),
    )
    catalogue = Catalogue(film("Arrival", tmdb=ARRIVAL, imdb="tt2543164", popularity=61.5), search=Behaviour(gate=gate))
    client = await signed_in(medianest_client, library, catalogue)
    resp = await client.get("/api/v1/search/stream", params={"q": "arrival"})
    assert resp.status == 200

    first = await next_line(resp)
    assert first["results"] == []
    library_only = await next_line(resp)
    assert titles(library_only) == ["Arrival", "Arrival"]
    gate.set()
    last = await next_line(resp)
    assert last["done"] is True
    assert titles(last) == ["Arrival"]
    [arrival] = last["results"]
    assert arrival["ids"] == {"tmdb": ARRIVAL, "tvdb": None, "imdb": "tt2543164"}
    assert arrival["popularity"] == 61.5
    assert places(arrival) == ["Library"]
    assert set(arrival["sources"]) == {"library.search", "catalogue.search"}
    assert await resp.content.read() == b""


async def test_a_film_and_a_series_with_the_same_tmdb_number_are_two_titles(medianest_client: Any) -> None:
    library = Library(film("Shōgun", tmdb=1000))
    catalogue = Catalogue(film("Shōgun", tmdb=1000, popularity=5.0), series("Shōgun", tmdb=1000, popularity=9.0))
    client = await signed_in(medianest_client, library, catalogue)
    answer = await search(client, "shōgun")

    assert [(r["kind"], r["url"], places(r)) for r in answer["results"]] == [
        ("tv", "/titles/tv/1000", []),
        ("movie", "/titles/movie/1000", ["Library"]),
    ]


async def test_titles_without_ids_stand_alone_and_a_title_repeated_by_one_source_shows_once(
    medianest_client: Any,
) -> None:
    library = Library(film("Home Movies", year=1998), film("Home Movies", year=2004))
    catalogue = Catalogue(
        film("Home Movies"),
        film("Heat", tmdb=949, popularity=40.0),
        film("Heat", tmdb=949, popularity=40.0),
        series("Heat Wave", tmdb=77, popularity=1.0),
        series("Heat Wave", tmdb=77, popularity=1.0),
    )
    client = await signed_in(medianest_client, library, catalogue)
    answer = await search(client, "home")

    assert sorted(titles(answer)) == ["Heat", "Heat Wave", "Home Movies", "Home Movies", "Home Movies"]
    homes = [r for r in answer["results"] if r["title"] == "Home Movies"]
    assert sorted(places(r) == ["Library"] for r in homes) == [False, True, True]
    assert all(r["url"] is None for r in homes)  # no id: no title page


async def test_a_title_without_a_title_page_links_to_its_sources_page_in_medianest_only(
    medianest_client: Any,
) -> None:
    library = Library(
        Title("clip", "Arrival trailer", ids=ExternalIds(tmdb=ARRIVAL), url="/library/items/9"),
        film("Arrival bootleg", url="javascript:alert(1)"),
        film("Arrival fan cut", url="https://fans.example/arrival"),
        film("Arrival sideways", url="/\t/evil.example/arrival"),
    )
    catalogue = Catalogue(film("Arrival", tmdb=ARRIVAL, popularity=61.5))
    client = await signed_in(medianest_client, library, catalogue)
    answer = await search(client, "arrival")
    assert sorted((r["kind"], r["title"], r["url"]) for r in answer["results"]) == [
        ("clip", "Arrival trailer", "/library/items/9"),  # a clip is not merged with the film of the same number
        ("movie", "Arrival", f"/titles/movie/{ARRIVAL}"),
        ("movie", "Arrival bootleg", None),
        ("movie", "Arrival fan cut", None),  # a title's link is its page in MediaNest, never a link out
        ("movie", "Arrival sideways", None),  # a browser drops the tab: "//evil.example" would be another site
    ]


# ---- 2. order ----------------------------------------------------------------------------------------------------


async def test_exact_titles_first_then_those_that_start_with_the_words_then_the_popular(
    medianest_client: Any,
) -> None:
    library = Library(film("Dune: Part Two", tmdb=2))
    catalogue = Catalogue(
        film("The Dune Chronicles", tmdb=1, popularity=99.0),
        film("Dune: Part Two", tmdb=2, popularity=80.0),
        film("Sandworm", tmdb=3, popularity=100.0),
        film("Dune", tmdb=4, popularity=10.0),
        film("Dune Drifter", tmdb=5, popularity=3.0),
    )
    client = await signed_in(medianest_client, library, catalogue)
    answer = await search(client, "Dune")

    assert titles(answer) == ["Dune", "Dune: Part Two", "Dune Drifter", "The Dune Chronicles", "Sandworm"]
    assert [places(r) for r in answer["results"]] == [[], ["Library"], [], [], []]  # marked, not hidden


@pytest.mark.parametrize("q", ["amelie", "AMÉLIE", "Amélie", "  amélie "])
async def test_accents_and_case_do_not_matter_to_the_order(medianest_client: Any, q: str) -> None:
    catalogue = Catalogue(
        film("Amelia", tmdb=1, popularity=90.0),
        film("AMÉLIE: The Musical", tmdb=2, popularity=50.0),
        film("Amélie", tmdb=3, popularity=20.0),
    )
    client = await signed_in(medianest_client, catalogue)
    answer = await search(client, q)
    assert titles(answer) == ["Amélie", "AMÉLIE: The Musical", "Amelia"]


# ---- 3. a slow or broken source ---------------------------------------------------------------------------------


async def test_the_stream_shows_each_source_as_it_answers_and_a_hung_one_in_one_line(medianest_client: Any) -> None:
    gate = asyncio.Event()
    library = Library(film("Arrival", tmdb=ARRIVAL), search=Behaviour(gate=gate))
    catalogue = Catalogue(film("Arrival", tmdb=ARRIVAL, popularity=61.5), search=Behaviour(hang=True))
    client = await signed_in(medianest_client, library, catalogue)
    resp = await client.get("/api/v1/search/stream", params={"q": "arrival"})
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("application/x-ndjson")

    # The first line comes while every source is still being asked: the library waits for the gate.
    first = await next_line(resp)
    assert first == {
        "q": "arrival",
        "results": [],
        "sources": [
            {"id": "library.search", "title": "Library", "state": "waiting", "message": None, "count": 0},
            {"id": "catalogue.search", "title": "Catalogue", "state": "waiting", "message": None, "count": 0},
        ],
        "notes": [],
        "done": False,
    }
    gate.set()
    # The library's results come while the catalogue still hangs.
    second = await next_line(resp)
    assert second["done"] is False
    assert states(second) == [("library.search", "ok", None), ("catalogue.search", "waiting", None)]
    assert titles(second) == ["Arrival"]
    assert places(second["results"][0]) == ["Library"]
    # Then the catalogue's timeout ends its turn, in one line.
    last = await next_line(resp)
    assert last["done"] is True
    assert states(last) == [
        ("library.search", "ok", None),
        ("catalogue.search", "failed", "Catalogue did not answer."),
    ]
    assert titles(last) == ["Arrival"]
    assert await resp.content.read() == b""
    assert not [doc for doc in (first, second, last) if "Traceback" in json.dumps(doc)]
    assert catalogue.search.calls == 1


async def test_the_whole_list_waits_for_a_hung_source_only_until_its_timeout(medianest_client: Any) -> None:
    library = Library(film("Arrival", tmdb=ARRIVAL))
    catalogue = Catalogue(film("Arrival", tmdb=ARRIVAL), search=Behaviour(hang=True))
    client = await signed_in(medianest_client, library, catalogue)
    answer = await search(client, "arrival")
    assert states(answer) == [
        ("library.search", "ok", None),
        ("catalogue.search", "failed", "Catalogue did not answer."),
    ]
    assert titles(answer) == ["Arrival"]


async def test_a_source_that_breaks_is_one_line_without_its_error(medianest_client: Any) -> None:
    library = Library(film("Arrival", tmdb=ARRIVAL), search=Behaviour(error=RuntimeError("index at 10.0.0.7 torn")))
    catalogue = Catalogue(
        film("Arrival", tmdb=ARRIVAL), search=Behaviour(error=Unavailable("Catalogue", "api_key=s3cr3t refused"))
    )
    client = await signed_in(medianest_client, library, catalogue)
    resp = await client.get("/api/v1/search/stream", params={"q": "arrival"})
    text = await resp.text()
    last = json.loads(text.splitlines()[-1])
    assert states(last) == [
        ("library.search", "failed", "Library could not search just now."),
        ("catalogue.search", "failed", "Catalogue could not search just now."),
    ]
    assert last["results"] == []
    for leak in ("Traceback", "10.0.0.7", "torn", "s3cr3t", "RuntimeError"):
        assert leak not in text


@pytest.mark.parametrize(
    ("behaviour", "line"),
    [
        (Behaviour(error=RuntimeError("requests db at 10.0.0.7 is locked")), "Requests could not say what it has"),
        (Behaviour(hang=True), "Requests did not answer in time."),
    ],
)
async def test_a_facts_source_that_fails_is_one_note_and_the_results_stand(
    medianest_client: Any, behaviour: Behaviour, line: str
) -> None:
    library = Library(film("Arrival", tmdb=ARRIVAL))
    catalogue = Catalogue(film("Arrival", tmdb=ARRIVAL, popularity=61.5), film("Arrival of the Birds", tmdb=9))
    client = await signed_in(medianest_client, library, catalogue, Requests(facts=behaviour))
    resp = await client.get("/api/v1/search", params={"q": "arrival"})
    text = await resp.text()
    answer = json.loads(text)
    assert len(answer["notes"]) == 1
    assert answer["notes"][0].startswith(line)
    assert titles(answer) == ["Arrival", "Arrival of the Birds"]
    assert places(answer["results"][0]) == ["Library"]
    assert all(r["actions"] == [] for r in answer["results"])
    for leak in ("Traceback", "10.0.0.7", "locked"):
        assert leak not in text


async def test_a_button_for_missing_titles_is_not_offered_on_a_title_a_library_has(medianest_client: Any) -> None:
    library = Library(film("Arrival", tmdb=ARRIVAL))
    catalogue = Catalogue(film("Arrival", tmdb=ARRIVAL), film("Arrival of the Birds", tmdb=9))
    ask = TitleAction("ask", "Ask for it", "/api/v1/requests", body={"n": 1}, when_missing=True)
    client = await signed_in(medianest_client, library, catalogue, Requests(extra=[ask]))
    answer = await search(client, "arrival")
    buttons = {r["title"]: [a["label"] for a in r["actions"]] for r in answer["results"]}
    # The library's facts are asked at the same time as the request service's: the core keeps its promise.
    assert buttons == {"Arrival": ["Request"], "Arrival of the Birds": ["Request", "Ask for it"]}


async def test_a_facts_source_answering_in_the_wrong_shape_is_one_note(medianest_client: Any) -> None:
    catalogue = Catalogue(film("Arrival", tmdb=ARRIVAL), details=[film("Arrival", tmdb=ARRIVAL)])
    careless = Careless(TitleFacts(status="Requested"))  # type: ignore[arg-type]  # a str, not a TitleStatus
    client = await signed_in(medianest_client, catalogue, careless)
    resp = await client.get("/api/v1/search", params={"q": "arrival"})
    assert resp.status == 200
    answer = await resp.json()
    assert titles(answer) == ["Arrival"]
    assert answer["notes"] == ["Careless could not say what it has just now."]
    resp = await client.get(f"/api/v1/titles/movie/{ARRIVAL}")
    assert resp.status == 200
    assert (await resp.json())["notes"] == ["Careless could not say what it has just now."]


# ---- 4. facts ----------------------------------------------------------------------------------------------------


async def test_a_title_only_the_catalogue_found_is_marked_when_the_library_has_it(medianest_client: Any) -> None:
    # The library calls the film by its French name, so its own search does not find it; its facts do.
    library = Library(
        Held(film("Le Fabuleux Destin d'Amélie Poulain", tmdb=194), library="Films (French)"),
        Held(series("Les Revenants", imdb="tt1865718"), library="Séries"),
    )
    catalogue = Catalogue(
        film("Amélie", tmdb=194, popularity=30.0), series("The Returned", tmdb=44, imdb="tt1865718"), film("Amelia")
    )
    client = await signed_in(medianest_client, library, catalogue)
    answer = await search(client, "amelie")

    by_title = {r["title"]: r for r in answer["results"]}
    assert [(p["service"], p["library"], p["item_url"]) for p in by_title["Amélie"]["in_library"]] == [
        ("Library", "Films (French)", "/library/items/1")
    ]
    assert [(p["service"], p["library"]) for p in by_title["The Returned"]["in_library"]] == [("Library", "Séries")]
    assert by_title["Amelia"]["in_library"] == []
    assert set(by_title["Amélie"]["sources"]) == {"catalogue.search"}
    assert [(s["id"], s["count"]) for s in answer["sources"]] == [("library.search", 0), ("catalogue.search", 3)]
    assert all(asked.detail is False for asked in library.facts.asked)  # no per-season cost on a list


async def test_a_facts_sources_buttons_and_statuses_are_on_the_title(medianest_client: Any) -> None:
    odd = [
        TitleAction("elsewhere", "Open elsewhere", "https://requests.example/1"),
        TitleAction("script", "Run", "javascript:alert(1)"),
        TitleAction("other-host", "Other host", "//evil.example/api/v1/x"),
        TitleAction("page", "A page", "/requests/1"),
        TitleAction("climb", "Climb", "/api/v1/requests/../../admin/users/2", method="DELETE"),
        TitleAction("climb-encoded", "Climb", "/api/v1/requests/%2e%2e/%2E%2E/admin/users/2", method="DELETE"),
        TitleAction("core", "Core route", "/api/v1/admin/users/2", method="DELETE"),
        TitleAction("other-plugin", "Other plugin", "/api/v1/plex/items/1"),
        TitleAction("tab", "Tab", "/\t/evil.example/api/v1/requests"),
        TitleAction("read", "Read", "/api/v1/requests/1", method="GET"),
    ]
    catalogue = Catalogue(film("Arrival", tmdb=ARRIVAL, popularity=2.0), film("Arrival 2", tmdb=2, popularity=1.0))
    client = await signed_in(medianest_client, catalogue, Requests(requested=[2], extra=odd))
    answer = await search(client, "arrival")

    first, second = answer["results"]
    assert first["actions"] == [
        {
            "source": "requests.requests",
            "key": "request",
            "label": "Request",
            "method": "POST",
            "url": "/api/v1/requests",
            "body": {"kind": "movie", "tmdb_id": ARRIVAL},
            "enabled": True,
            "reason": None,
            "choices": [],
            "field": None,
            "choose": None,
        }
    ]
    assert first["statuses"] == []
    assert [(a["key"], a["enabled"], a["reason"]) for a in second["actions"]] == [
        ("request", False, "Already requested.")
    ]
    assert second["statuses"] == [{"source": "requests.requests", "label": "Requested", "tone": "info", "detail": None}]


@pytest.mark.parametrize(
    "watch_url",
    [
        "javascript:alert(document.cookie)",
        "JavaScript:alert(1)",
        "data:text/html,<b>x</b>",
        "//evil.example/w",
        "/\t/evil.example/w",
        "https://evil.example/\n/w x",
    ],
)
async def test_a_watch_link_that_is_not_a_web_address_is_dropped(medianest_client: Any, watch_url: str) -> None:
    library = Library(Held(film("Arrival", tmdb=ARRIVAL), watch_url=watch_url, item_url="/\n/evil.example/item"))
    client = await signed_in(medianest_client, library)
    answer = await search(client, "arrival")
    assert answer["results"][0]["in_library"] == [
        {"service": "Library", "library": "Films", "item_url": None, "watch_url": None}
    ]
    page = await (await client.get(f"/titles/movie/{ARRIVAL}", headers=HTML)).text()
    assert "In Library" in page
    links = [a.get("href") or "" for tag, a in markup(page) if tag == "a"]
    assert not [link for link in links if link.lower().startswith(("javascript:", "data:", "//"))]
    assert "evil.example" not in page


FOREIGN_IMAGES = [
    "https://image.tmdb.org/t/p/w342/a.jpg",
    "/\t/evil.example/a.jpg",
    "http://10.0.0.5:32400/photo?X-Plex-Token=abc",
    "//cdn.example/a.jpg",
    "/\\evil.example/a.jpg",
    "javascript:alert(1)",
]


@pytest.mark.parametrize("image", FOREIGN_IMAGES)
async def test_list_images_that_are_not_medianest_paths_are_dropped(medianest_client: Any, image: str) -> None:
    foreign = film("Arrival", tmdb=ARRIVAL, poster_url=image, backdrop_url=image, popularity=2.0)
    own = film("Arrival 2", tmdb=2, poster_url=poster("two"), backdrop_url=f"{POSTERS}/w1280/two.jpg", popularity=1.0)
    catalogue = Catalogue(foreign, own, rows=[Row("trending", "Trending", [foreign, own])])
    client = await signed_in(medianest_client, catalogue)
    answer = await search(client, "arrival")
    loaded = await (await client.get("/api/v1/discover/catalogue.trending")).json()
    for found in (answer["results"], loaded["titles"]):
        assert [(t["poster"], t["backdrop"]) for t in found] == [
            (None, None),
            (poster("two"), f"{POSTERS}/w1280/two.jpg"),
        ]


@pytest.mark.parametrize("image", FOREIGN_IMAGES)
async def test_title_page_images_that_are_not_medianest_paths_are_dropped(medianest_client: Any, image: str) -> None:
    catalogue = Catalogue(
        details=[
            film(
                "Arrival",
                tmdb=ARRIVAL,
                poster_url=image,
                backdrop_url=image,
                cast=[
                    CastMember("Amy Adams", "Louise Banks", image_url=image),
                    CastMember("Jeremy Renner", "Ian Donnelly", image_url=f"{POSTERS}/w185/jeremy.jpg"),
                ],
            ),
            series(
                "Arrival: The Series",
                tmdb=5,
                seasons=[
                    SeasonInfo(1, "Season 1", 8, poster_url=image),
                    SeasonInfo(2, "Season 2", 8, poster_url=poster("s2")),
                ],
            ),
        ],
    )
    client = await signed_in(medianest_client, catalogue)
    detail = await (await client.get(f"/api/v1/titles/movie/{ARRIVAL}")).json()
    assert (detail["poster"], detail["backdrop"]) == (None, None)
    assert [member["image"] for member in detail["cast"]] == [None, f"{POSTERS}/w185/jeremy.jpg"]
    show = await (await client.get("/api/v1/titles/tv/5")).json()
    assert [season["poster"] for season in show["seasons"]] == [None, poster("s2")]
    for path in (f"/titles/movie/{ARRIVAL}", "/titles/tv/5"):
        page = await (await client.get(path, headers=HTML)).text()
        assert image not in page
        assert image.replace("&", "&amp;") not in page


# ---- 5. title pages ----------------------------------------------------------------------------------------------


def arrival_sources(library_first: bool) -> tuple[Library, Catalogue]:
    library = Library(
        Held(
            film(
                "Arrival (2016)",
                tmdb=ARRIVAL,
                overview="The library's own summary.",
                runtime_minutes=116,
                facts={"rating_key": "1"},
            ),
            watch_url="https://app.library.example/w/1",
        ),
        details_order=0 if library_first else 2,
    )
    catalogue = Catalogue(
        details=[
            film(
                "Arrival",
                tmdb=ARRIVAL,
                imdb="tt2543164",
                year=2016,
                overview="A linguist is asked to talk to visitors.",
                tagline="Why are they here?",
                poster_url=poster("arrival"),
                genres=["Drama", "Science Fiction"],
                cast=[CastMember("Amy Adams", "Louise Banks", image_url=f"{POSTERS}/w185/amy.jpg")],
                trailer_url="https://www.youtube.com/watch?v=tFMo3UJ4B4g",
                popularity=61.5,
                facts={"vote_average": 7.6},
            )
        ]
    )
    return library, catalogue


async def test_a_title_page_takes_each_fact_from_the_first_source_that_knows_it(medianest_client: Any) -> None:
    library, catalogue = arrival_sources(library_first=False)
    client = await signed_in(medianest_client, library, catalogue)
    resp = await client.get(f"/api/v1/titles/movie/{ARRIVAL}")
    assert resp.status == 200
    doc = await resp.json()

    assert (doc["kind"], doc["title"], doc["year"]) == ("movie", "Arrival", 2016)
    assert doc["overview"] == "A linguist is asked to talk to visitors."
    assert doc["runtime_minutes"] == 116  # only the library knows it
    assert doc["tagline"] == "Why are they here?"
    assert doc["genres"] == ["Drama", "Science Fiction"]
    assert doc["cast"] == [{"name": "Amy Adams", "character": "Louise Banks", "image": f"{POSTERS}/w185/amy.jpg"}]
    assert doc["trailer_url"] == "https://www.youtube.com/watch?v=tFMo3UJ4B4g"
    assert doc["ids"] == {"tmdb": ARRIVAL, "tvdb": None, "imdb": "tt2543164"}
    assert doc["url"] == f"/titles/movie/{ARRIVAL}"
    assert doc["seasons"] == []
    assert doc["notes"] == []
    assert places(doc) == ["Library"]
    assert doc["sources"] == {"catalogue.details": {"vote_average": 7.6}, "library.details": {"rating_key": "1"}}

    page = await client.get(f"/titles/movie/{ARRIVAL}", headers=HTML)
    assert page.status == 200
    text = await page.text()
    assert "<h1>Arrival" in text
    assert "Why are they here?" in text
    assert "1 h 56 min" in text
    assert "Amy Adams" in text
    assert "In Library" in text
    assert 'href="https://app.library.example/w/1"' in text
    assert 'href="https://www.youtube.com/watch?v=tFMo3UJ4B4g"' in text
    assert "The library&#39;s own summary." not in text


async def test_the_first_source_in_order_wins_where_both_know(medianest_client: Any) -> None:
    library, catalogue = arrival_sources(library_first=True)
    client = await signed_in(medianest_client, library, catalogue)
    doc = await (await client.get(f"/api/v1/titles/movie/{ARRIVAL}")).json()
    assert (doc["title"], doc["overview"]) == ("Arrival (2016)", "The library's own summary.")
    assert doc["tagline"] == "Why are they here?"  # the library has none: the catalogue's


SEVERANCE = 95396
SEASONS = [SeasonInfo(1, "Season 1", 9, "2022-02-18"), SeasonInfo(2, "Season 2", 10), SeasonInfo(3, "Season 3", 8)]


async def test_seasons_say_what_the_library_has_of_each(medianest_client: Any) -> None:
    library = Library(Held(series("Severance", tmdb=SEVERANCE), seasons={1: 9, 2: 4, 3: 0}))
    catalogue = Catalogue(details=[series("Severance", tmdb=SEVERANCE, seasons=SEASONS)])
    client = await signed_in(medianest_client, library, catalogue)
    doc = await (await client.get(f"/api/v1/titles/tv/{SEVERANCE}")).json()

    assert [(s["number"], s["name"], s["episodes"], s["have"], s["in_library"]) for s in doc["seasons"]] == [
        (1, "Season 1", 9, 9, "all"),
        (2, "Season 2", 10, 4, "some"),
        (3, "Season 3", 8, 0, "none"),
    ]
    assert library.facts.asked[-1].detail is True
    page = await (await client.get(f"/titles/tv/{SEVERANCE}", headers=HTML)).text()
    table = page[page.index('class="seasons"') :]
    assert table.index("Season 1") < table.index(">All<") < table.index("Season 2")
    assert table.index("Season 2") < table.index(">Some<") < table.index("4 of 10") < table.index("Season 3")
    assert table.index("Season 3") < table.index(">None<")
    assert "3 seasons" in page


async def test_seasons_of_a_series_nobody_has_are_none(medianest_client: Any) -> None:
    catalogue = Catalogue(details=[series("Severance", tmdb=SEVERANCE, seasons=SEASONS)])
    client = await signed_in(medianest_client, Library(), catalogue)
    doc = await (await client.get(f"/api/v1/titles/tv/{SEVERANCE}")).json()
    assert [(s["have"], s["in_library"]) for s in doc["seasons"]] == [(0, "none")] * 3
    assert doc["in_library"] == []
    page = await (await client.get(f"/titles/tv/{SEVERANCE}", headers=HTML)).text()
    assert "Not in the library" in page


async def test_a_season_the_library_does_not_list_is_none(medianest_client: Any) -> None:
    # A media server lists the seasons it has; season 3 is not among them, so it has none of it.
    library = Library(Held(series("Severance", tmdb=SEVERANCE), seasons={1: 9, 2: 4}))
    catalogue = Catalogue(details=[series("Severance", tmdb=SEVERANCE, seasons=SEASONS)])
    client = await signed_in(medianest_client, library, catalogue)
    doc = await (await client.get(f"/api/v1/titles/tv/{SEVERANCE}")).json()
    assert [(s["have"], s["in_library"]) for s in doc["seasons"]] == [(9, "all"), (4, "some"), (0, "none")]


async def test_an_unknown_title_is_404_in_json_and_a_friendly_page(medianest_client: Any) -> None:
    catalogue = Catalogue(film("Arrival", tmdb=ARRIVAL))
    client = await signed_in(medianest_client, Library(), catalogue)
    for path in ("/api/v1/titles/movie/5", f"/api/v1/titles/tv/{ARRIVAL}"):  # a film's number is no series'
        resp = await client.get(path)
        assert resp.status == 404
        body = await resp.json()
        assert_error(body, "not_found")
        assert body["error"]["message"] == "No such title."

    resp = await client.get("/titles/movie/5", headers=HTML)
    assert resp.status == 404
    assert resp.headers["Content-Type"].startswith("text/html")
    page = await resp.text()
    assert "No such title." in page
    assert 'href="/"' in page
    assert '"error"' not in page


@pytest.mark.parametrize(
    "path",
    [
        "film/1",
        "movie/0",
        "movie/99999999999",
        "movie/2147483648",
        "movie/abc",
        "movie/-1",
        "movie/1.5",
        "movie/%EF%BC%91",  # a full-width digit one
        "movie/%201",
        "MOVIE/1",
        "person/1",
    ],
)
async def test_a_path_that_names_no_title_is_404_without_asking_anyone(medianest_client: Any, path: str) -> None:
    catalogue = Catalogue(film("Arrival", tmdb=1))
    client = await signed_in(medianest_client, catalogue)
    resp = await client.get(f"/api/v1/titles/{path}")
    assert resp.status == 404, await resp.text()
    assert_error(await resp.json(), "not_found")
    resp = await client.get(f"/titles/{path}", headers=HTML)
    assert resp.status == 404
    assert resp.headers["Content-Type"].startswith("text/html")
    assert catalogue.detail.calls == 0


async def test_when_no_title_source_can_be_asked_the_page_is_503_naming_them(medianest_client: Any) -> None:
    library = Library(film("Arrival", tmdb=ARRIVAL), details=Behaviour(hang=True))
    catalogue = Catalogue(
        film("Arrival", tmdb=ARRIVAL), detail=Behaviour(error=Unavailable("Catalogue", "api_key=s3cr3t refused"))
    )
    client = await signed_in(medianest_client, library, catalogue)
    resp = await client.get(f"/api/v1/titles/movie/{ARRIVAL}")
    assert resp.status == 503
    body = await resp.json()
    assert_error(body, "service_unavailable")
    message = body["error"]["message"]
    assert "Catalogue could not be asked just now." in message
    assert "Library did not answer." in message
    assert "s3cr3t" not in message

    resp = await client.get(f"/titles/movie/{ARRIVAL}", headers=HTML)
    assert resp.status == 503
    page = await resp.text()
    assert "Catalogue could not be asked just now." in page
    assert "s3cr3t" not in page
    assert "Traceback" not in page


async def test_a_title_source_that_fails_is_a_note_on_the_page_of_the_others(medianest_client: Any) -> None:
    library, _ = arrival_sources(library_first=False)
    catalogue = Catalogue(detail=Behaviour(error=RuntimeError("catalogue at 10.0.0.7 fell over")))
    client = await signed_in(medianest_client, library, catalogue)
    doc = await (await client.get(f"/api/v1/titles/movie/{ARRIVAL}")).json()
    assert doc["title"] == "Arrival (2016)"
    assert doc["notes"] == ["Catalogue could not be asked just now."]
    page = await (await client.get(f"/titles/movie/{ARRIVAL}", headers=HTML)).text()
    assert "Catalogue could not be asked just now." in page
    assert "10.0.0.7" not in page


async def test_markup_in_a_title_is_shown_as_text(medianest_client: Any) -> None:
    name = "<script>alert('x')</script> Amélie — 東京物語"
    catalogue = Catalogue(
        details=[
            series(
                name,
                tmdb=7,
                overview='<img src=x onerror="alert(1)"> & more',
                tagline="<b>bold</b>",
                genres=["<em>Drama</em>"],
                cast=[CastMember("<i>Audrey</i>", "Amélie <Poulain>")],
                seasons=[SeasonInfo(1, "<u>Season</u> 1", 3)],
                trailer_url="javascript:alert(1)",
            )
        ]
    )
    requests = Requests(extra=[TitleAction("note", "<b>Ask</b>", "/api/v1/requests", body={"n": "</script><x>"})])
    client = await signed_in(medianest_client, catalogue, Library(), requests)
    doc = await (await client.get("/api/v1/titles/tv/7")).json()
    assert doc["title"] == name  # the API gives the text as it is; the page shows it as text
    assert doc["trailer_url"] is None  # a trailer is an https:// address or nothing

    resp = await client.get("/titles/tv/7", headers=HTML)
    assert resp.status == 200
    page = await resp.text()
    assert "&lt;script&gt;alert(" in page
    assert "Amélie — 東京物語" in page
    assert "&lt;i&gt;Audrey&lt;/i&gt;" in page
    tags = markup(page)
    assert all(src for tag, attrs in tags if tag == "script" for src in [attrs.get("src")])
    assert not [name for _, attrs in tags for name in attrs if name.startswith("on")]
    assert not [tag for tag, _ in tags if tag in ("b", "i", "u", "em", "x")]
    assert "<script>alert" not in page


# ---- 6. Discover -------------------------------------------------------------------------------------------------


def discover_catalogue() -> Catalogue:
    return Catalogue(
        rows=[
            Row("popular_tv", "Popular series", [series("Severance", tmdb=SEVERANCE, poster_url=poster("sev"))], 2),
            Row(
                "trending",
                "Trending this week",
                [
                    film("Arrival", tmdb=ARRIVAL, poster_url=poster("arrival")),
                    film("Dune", tmdb=438631, poster_url="https://image.tmdb.org/t/p/w342/dune.jpg"),
                    film("Arrival", tmdb=ARRIVAL, poster_url=poster("arrival")),
                ],
                1,
            ),
            Row("broken", "Broken row", [], 3, Behaviour(error=RuntimeError("token=abc123 at 10.0.0.7"))),
            Row("slow", "Slow row", [film("Dune", tmdb=438631)], 4, Behaviour(hang=True)),
        ]
    )


async def test_discover_lists_its_rows_in_order_and_loads_one_row_per_request(medianest_client: Any) -> None:
    catalogue = discover_catalogue()
    client = await signed_in(medianest_client, Library(film("Arrival", tmdb=ARRIVAL)), catalogue)
    listed = await (await client.get("/api/v1/discover")).json()
    assert listed == {
        "rows": [
            {"id": "catalogue.trending", "title": "Trending this week"},
            {"id": "catalogue.popular_tv", "title": "Popular series"},
            {"id": "catalogue.broken", "title": "Broken row"},
            {"id": "catalogue.slow", "title": "Slow row"},
        ]
    }
    assert [row.behaviour.calls for row in catalogue.rows] == [0, 0, 0, 0]  # listing asks no service

    resp = await client.get("/api/v1/discover/catalogue.trending")
    assert resp.status == 200
    row = await resp.json()
    assert (row["id"], row["title"], row["ok"], row["message"]) == (
        "catalogue.trending",
        "Trending this week",
        True,
        None,
    )
    assert [(t["title"], t["poster"], places(t)) for t in row["titles"]] == [
        ("Arrival", poster("arrival"), ["Library"]),
        ("Dune", None, []),
    ]
    assert [(r.key, r.behaviour.calls) for r in catalogue.rows] == [
        ("popular_tv", 0),
        ("trending", 1),
        ("broken", 0),
        ("slow", 0),
    ]
    assert row["notes"] == []


async def test_a_row_whose_library_cannot_be_asked_says_so_beside_its_posters(medianest_client: Any) -> None:
    library = Library(film("Arrival", tmdb=ARRIVAL), facts=Behaviour(error=RuntimeError("index at 10.0.0.7 gone")))
    client = await signed_in(medianest_client, library, discover_catalogue())
    row = await (await client.get("/api/v1/discover/catalogue.trending")).json()
    assert [(t["title"], places(t)) for t in row["titles"]] == [("Arrival", []), ("Dune", [])]
    assert row["notes"] == ["Library could not say what it has just now."]  # unmarked, and saying why


async def test_a_row_whose_service_fails_says_so_in_one_line(medianest_client: Any) -> None:
    client = await signed_in(medianest_client, discover_catalogue())
    for row, message in (
        ("catalogue.broken", "Broken row: the service could not be asked just now."),
        ("catalogue.slow", "Slow row: the service did not answer."),
    ):
        resp = await client.get(f"/api/v1/discover/{row}")
        assert resp.status == 200
        text = await resp.text()
        assert json.loads(text) == {
            "id": row,
            "title": message.split(":")[0],
            "ok": False,
            "message": message,
            "titles": [],
            "notes": [],
        }
        assert "abc123" not in text
        assert "10.0.0.7" not in text


@pytest.mark.parametrize(
    "row", ["catalogue.nope", "library.trending", "trending", "catalogue.trending.x", "CATALOGUE.TRENDING", "x" * 200]
)
async def test_an_unknown_row_is_404(medianest_client: Any, row: str) -> None:
    client = await signed_in(medianest_client, discover_catalogue())
    resp = await client.get(f"/api/v1/discover/{row}")
    assert resp.status == 404
    assert_error(await resp.json(), "not_found")


async def test_the_discover_page_lists_the_rows_and_the_nav_offers_it(medianest_client: Any) -> None:
    client = await signed_in(medianest_client, discover_catalogue())
    resp = await client.get("/discover/", headers=HTML)
    assert resp.status == 200
    page = await resp.text()
    rows = [attrs["data-row"] for tag, attrs in markup(page) if "data-row" in attrs]
    assert rows == ["catalogue.trending", "catalogue.popular_tv", "catalogue.broken", "catalogue.slow"]
    assert page.index("Trending this week") < page.index("Popular series") < page.index("Broken row")
    assert 'href="/discover/"' in page
    home = await (await client.get("/", headers=HTML)).text()
    assert [a for tag, a in markup(home) if tag == "a" and a.get("href") == "/discover/"]
    assert ">Discover<" in home
    resp = await client.get("/discover", headers=HTML, allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (302, "/discover/")


async def test_without_rows_there_is_no_discover_in_the_nav(medianest_client: Any) -> None:
    client = await signed_in(medianest_client, Library(film("Arrival", tmdb=ARRIVAL)), Catalogue())
    home = await (await client.get("/", headers=HTML)).text()
    assert 'href="/discover/"' not in home
    assert ">Discover<" not in home
    assert (await (await client.get("/api/v1/discover")).json()) == {"rows": []}
    page = await (await client.get("/discover/", headers=HTML)).text()
    assert "Nothing to discover yet" in page


async def test_rows_of_a_plugin_that_failed_to_start_are_not_offered(medianest_client: Any) -> None:
    unreachable = Unreachable(rows=[Row("trending", "Trending this week", [film("Arrival", tmdb=ARRIVAL)])])
    client = await signed_in(medianest_client, Library(), unreachable)
    assert (await (await client.get("/api/v1/discover")).json()) == {"rows": []}
    home = await (await client.get("/", headers=HTML)).text()
    assert 'href="/discover/"' not in home


# ---- 7. bad input ------------------------------------------------------------------------------------------------

BAD_SEARCHES = [
    "",
    "?q=",
    "?q=%20%20%09",
    "?q=" + "x" * 201,
    "?q=x&limit=0",
    "?q=x&limit=51",
    "?q=x&limit=-1",
    "?q=x&limit=abc",
    "?q=x&limit=1.5",
    "?q=x&limit=",
    "?q=x&limit=99999999999999999999999999",
    "?limit=5",
    "?q=%00",
]


@pytest.mark.parametrize("path", ["/api/v1/search", "/api/v1/search/stream"])
async def test_a_bad_search_is_a_400_naming_the_parameter(medianest_client: Any, path: str) -> None:
    catalogue = Catalogue(film("Arrival", tmdb=ARRIVAL))
    client = await signed_in(medianest_client, catalogue)
    for bad in BAD_SEARCHES:
        resp = await client.get(path + bad)
        assert resp.status == 400, (bad, await resp.text())
        body = await resp.json()
        assert_error(body, "bad_request")
        assert set(body["error"]["details"]["fields"]) <= {"q", "limit"}
    assert catalogue.search.calls == 0


@pytest.mark.parametrize(
    "odd", ["?q=%F0%9F%8E%AC", "?q=%FF%FE", "?q=a&q=b", "?q=x&limit=50", "?q=%3Cscript%3E", "?q=x&other=1"]
)
async def test_odd_but_possible_searches_are_answered(medianest_client: Any, odd: str) -> None:
    client = await signed_in(medianest_client, Library(film("Arrival", tmdb=ARRIVAL)), Catalogue(film("Dune")))
    for path in ("/api/v1/search", "/api/v1/search/stream"):
        resp = await client.get(path + odd)
        assert resp.status == 200, await resp.text()
        lines = (await resp.text()).splitlines()
        assert json.loads(lines[-1])["done"] is True


async def test_the_new_routes_need_a_session(medianest_client: Any) -> None:
    client = await medianest_client(
        entry_points=[entry_point("catalogue", discover_catalogue()), entry_point("library", Library())]
    )
    for path in (
        "/api/v1/search?q=x",
        "/api/v1/search/stream?q=x",
        "/api/v1/search/providers",
        f"/api/v1/titles/movie/{ARRIVAL}",
        "/api/v1/discover",
        "/api/v1/discover/catalogue.trending",
    ):
        resp = await client.get(path)
        assert resp.status == 401, path
        assert_error(await resp.json(), "unauthorized")
    for path in (f"/titles/movie/{ARRIVAL}", "/discover/"):
        resp = await client.get(path, headers=HTML, allow_redirects=False)
        assert resp.status == 302
        assert resp.headers["Location"].startswith("/login?next=")


async def test_title_pages_count_against_the_api_allowance(medianest_client: Any) -> None:
    """A title page asks every title source, as the API does: loading pages is no way around the limit."""
    catalogue = Catalogue(details=[film("Arrival", tmdb=ARRIVAL)])
    client = await medianest_client(entry_points=[entry_point(catalogue.name, catalogue)], api_rate_limit="4/minute")
    await sign_in(client, "alice")  # one request of the anonymous address's allowance, not alice's
    statuses = [(await client.get(f"/titles/movie/{ARRIVAL + n}", headers=HTML)).status for n in range(4)]
    assert statuses == [200, 404, 404, 404]
    refused = await client.get(f"/titles/movie/{ARRIVAL}", headers=HTML)
    assert refused.status == 429
    assert "Too many requests" in await refused.text()
    assert (await client.get(f"/api/v1/titles/movie/{ARRIVAL}")).status == 429


# ---- 8. buttons with choices, and a title's facts asked again ----------------------------------------------------

SEVERANCE_SEASONS = [
    ActionChoice(1, "Season 1", enabled=False, reason="In the library."),
    ActionChoice(2, "Season 2"),
    ActionChoice(3, "Season 3"),
]
SEVERANCE_CHOICES = [
    {"value": 1, "label": "Season 1", "enabled": False, "reason": "In the library."},
    {"value": 2, "label": "Season 2", "enabled": True, "reason": None},
    {"value": 3, "label": "Season 3", "enabled": True, "reason": None},
]


def season_request(choices: list[dict[str, Any]] = SEVERANCE_CHOICES) -> dict[str, Any]:
    return {
        "source": "seasons.requests",
        "key": "request",
        "label": "Request",
        "method": "POST",
        "url": "/api/v1/seasons/requests",
        "body": {"kind": "tv", "tmdb_id": SEVERANCE},
        "enabled": True,
        "reason": None,
        "choices": choices,
        "field": "seasons",
        "choose": "Which seasons?",
    }


async def test_a_button_with_choices_carries_them_in_search_on_the_title_and_on_its_page(
    medianest_client: Any,
) -> None:
    catalogue = Catalogue(series("Severance", tmdb=SEVERANCE, seasons=SEASONS))
    seasons = SeasonRequests({SEVERANCE: SEVERANCE_SEASONS})
    client = await signed_in(medianest_client, catalogue, seasons)

    [found] = (await search(client, "severance"))["results"]
    assert found["actions"] == [season_request()]
    doc = await (await client.get(f"/api/v1/titles/tv/{SEVERANCE}")).json()
    assert doc["actions"] == [season_request()]

    page = await (await client.get(f"/titles/tv/{SEVERANCE}", headers=HTML)).text()
    [button] = [a for tag, a in markup(page) if tag == "button" and a.get("data-title-action")]
    assert json.loads(button["data-choices"] or "") == SEVERANCE_CHOICES
    assert (button["data-field"], button["data-choose"], button["aria-haspopup"]) == (
        "seasons",
        "Which seasons?",
        "dialog",
    )
    [where] = [a for tag, a in markup(page) if a.get("data-facts") == "page"]
    assert (where["data-kind"], where["data-tmdb"]) == ("tv", str(SEVERANCE))


def choosing(**values: Any) -> TitleAction:
    return TitleAction("choose", "Choose", "/api/v1/requests/choose", **values)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(choosing(choices=[ActionChoice(1, "Season 1")]), id="no-field"),
        pytest.param(choosing(choices=[ActionChoice(1, "Season 1")], field=""), id="empty-field"),
        pytest.param(choosing(choices=[ActionChoice(1.5, "Season 1½")], field="seasons"), id="float"),  # type: ignore[arg-type]
        pytest.param(choosing(choices=[ActionChoice(True, "Yes")], field="seasons"), id="bool"),
        pytest.param(choosing(choices=[ActionChoice(None, "None")], field="seasons"), id="none"),  # type: ignore[arg-type]
        pytest.param(choosing(choices=[ActionChoice([1], "A list")], field="seasons"), id="list"),  # type: ignore[arg-type]
        pytest.param(choosing(choices=[ActionChoice(2**60, "Huge")], field="seasons"), id="too-large"),
        pytest.param(choosing(choices=[ActionChoice(1, "A"), ActionChoice(1, "B")], field="s"), id="twice"),
        pytest.param(choosing(choices=[{"value": 1, "label": "Season 1"}], field="seasons"), id="dict"),
        pytest.param(choosing(choices=[ActionChoice(1, 1)], field="seasons"), id="label"),  # type: ignore[arg-type]
        pytest.param(choosing(choices=1, field="seasons"), id="not-a-list"),
        pytest.param(choosing(choices=[ActionChoice(n, f"Season {n}") for n in range(101)], field="seasons"), id="101"),
    ],
)
async def test_a_button_whose_choices_cannot_be_offered_is_dropped_alone(
    medianest_client: Any, bad: TitleAction
) -> None:
    fine = TitleAction(
        "fine",
        "Fine",
        "/api/v1/requests/fine",
        choices=[ActionChoice(n, f"Season {n}") for n in range(99)] + [ActionChoice("all", "Every season")],
        field="seasons",
    )
    catalogue = Catalogue(series("Severance", tmdb=SEVERANCE), details=[series("Severance", tmdb=SEVERANCE)])
    client = await signed_in(medianest_client, catalogue, Requests(extra=[bad, fine]))
    answer = await search(client, "severance")
    [found] = answer["results"]
    assert [a["key"] for a in found["actions"]] == ["request", "fine"]
    assert len(found["actions"][1]["choices"]) == 100  # as many as may be offered
    assert found["actions"][1]["choices"][-1] == {
        "value": "all",
        "label": "Every season",
        "enabled": True,
        "reason": None,
    }
    assert answer["notes"] == []
    for path in (f"/api/v1/titles/tv/{SEVERANCE}", f"/api/v1/titles/tv/{SEVERANCE}/facts"):
        doc = await (await client.get(path)).json()
        assert [a["key"] for a in doc["actions"]] == ["request", "fine"], path
    page = await client.get(f"/titles/tv/{SEVERANCE}", headers=HTML)
    assert page.status == 200
    assert [a["data-key"] for tag, a in markup(await page.text()) if tag == "button" and "data-key" in a] == [
        "request",
        "fine",
    ]


async def test_the_facts_route_answers_where_a_title_stands_without_asking_the_title_sources(
    medianest_client: Any,
) -> None:
    library = Library(Held(series("Severance", tmdb=SEVERANCE), seasons={1: 9}, library="Series"))
    catalogue = Catalogue(series("Severance", tmdb=SEVERANCE), details=[series("Severance", tmdb=SEVERANCE)])
    seasons = SeasonRequests({SEVERANCE: SEVERANCE_SEASONS})
    client = await medianest_client(entry_points=[entry_point(p.name, p) for p in (library, catalogue, seasons)])
    alice = await sign_in(client, "alice")

    resp = await client.get(f"/api/v1/titles/tv/{SEVERANCE}/facts")
    assert resp.status == 200
    facts = await resp.json()
    assert facts == {
        "in_library": [
            {
                "service": "Library",
                "library": "Series",
                "item_url": "/library/items/1",
                "watch_url": "https://app.library.example/watch/1",
            }
        ],
        "statuses": [],
        "actions": [season_request()],
        "notes": [],
    }
    # Only the facts sources were asked, about the title of the path, for a list unless told it is a title page.
    assert (catalogue.detail.calls, catalogue.search.calls, library.details.calls, library.search.calls) == (0, 0, 0, 0)
    [asked] = library.facts.asked
    assert [(t.kind, t.ids) for t in asked.titles] == [("tv", ExternalIds(tmdb=SEVERANCE))]
    assert asked.detail is False
    await client.get(f"/api/v1/titles/tv/{SEVERANCE}/facts", params={"detail": "true"})
    assert library.facts.asked[-1].detail is True

    # What the person asked for shows at once: the seasons asked for are greyed, with a status.
    resp = await client.post(
        "/api/v1/seasons/requests", json={"kind": "tv", "tmdb_id": SEVERANCE, "seasons": [2]}, headers=alice.headers
    )
    assert resp.status == 201, await resp.text()
    facts = await (await client.get(f"/api/v1/titles/tv/{SEVERANCE}/facts")).json()
    assert [s["label"] for s in facts["statuses"]] == ["Requested — pending approval"]
    assert [(c["value"], c["enabled"], c["reason"]) for c in facts["actions"][0]["choices"]] == [
        (1, False, "In the library."),
        (2, False, "Requested already."),
        (3, True, None),
    ]
    assert catalogue.detail.calls == 0


async def test_the_facts_route_passes_on_the_ids_the_page_knows(medianest_client: Any) -> None:
    # The library knows the series only by its IMDb id: without it, the route cannot say the library has it.
    library = Library(Held(series("Severance", imdb="tt11280740"), library="Series"))
    client = await signed_in(medianest_client, library)
    alone = await (await client.get(f"/api/v1/titles/tv/{SEVERANCE}/facts")).json()
    assert alone["in_library"] == []
    told = await (
        await client.get(f"/api/v1/titles/tv/{SEVERANCE}/facts", params={"imdb": "tt11280740", "tvdb": "371980"})
    ).json()
    assert places(told) == ["Library"]
    assert library.facts.asked[-1].titles[0].ids == ExternalIds(tmdb=SEVERANCE, tvdb=371980, imdb="tt11280740")


async def test_a_facts_source_that_fails_is_a_note_in_the_facts_answer(medianest_client: Any) -> None:
    library = Library(Held(film("Arrival", tmdb=ARRIVAL)))
    broken = Requests(facts=Behaviour(error=RuntimeError("requests db at 10.0.0.7 is locked")))
    client = await signed_in(medianest_client, library, broken)
    resp = await client.get(f"/api/v1/titles/movie/{ARRIVAL}/facts")
    assert resp.status == 200
    text = await resp.text()
    facts = json.loads(text)
    assert places(facts) == ["Library"]
    assert facts["actions"] == []
    assert facts["notes"] == ["Requests could not say what it has just now."]
    assert "10.0.0.7" not in text


@pytest.mark.parametrize(
    ("path", "status", "fields"),
    [
        ("film/1/facts", 404, None),
        ("movie/0/facts", 404, None),
        ("movie/2147483648/facts", 404, None),
        ("movie/abc/facts", 404, None),
        ("movie/%EF%BC%91/facts", 404, None),
        ("MOVIE/1/facts", 404, None),
        ("person/1/facts", 404, None),
        ("tv/1/facts?tvdb=0", 400, {"tvdb"}),
        ("tv/1/facts?tvdb=abc", 400, {"tvdb"}),
        ("tv/1/facts?tvdb=2147483648", 400, {"tvdb"}),
        ("tv/1/facts?imdb=nm0000123", 400, {"imdb"}),
        ("tv/1/facts?imdb=tt", 400, {"imdb"}),
        ("tv/1/facts?imdb=TT123", 400, {"imdb"}),
        ("tv/1/facts?imdb=tt123%0A", 400, {"imdb"}),
        ("tv/1/facts?imdb=tt123%00", 400, {"imdb"}),
        ("tv/1/facts?detail=yes", 400, {"detail"}),
        ("tv/1/facts?tvdb=-1", 400, {"tvdb"}),
    ],
)
async def test_the_facts_route_refuses_what_names_no_title_without_asking_anyone(
    medianest_client: Any, path: str, status: int, fields: set[str] | None
) -> None:
    library = Library(film("Arrival", tmdb=1))
    client = await signed_in(medianest_client, library)
    resp = await client.get(f"/api/v1/titles/{path}")
    assert resp.status == status, await resp.text()
    body = await resp.json()
    assert_error(body, "not_found" if status == 404 else "bad_request")
    if fields is not None:
        assert set(body["error"]["details"]["fields"]) == fields
    assert library.facts.calls == 0


async def test_the_facts_route_needs_a_session(medianest_client: Any) -> None:
    client = await medianest_client(entry_points=[entry_point("library", Library())])
    resp = await client.get(f"/api/v1/titles/movie/{ARRIVAL}/facts")
    assert resp.status == 401
    assert_error(await resp.json(), "unauthorized")


async def next_event(socket: Any, timeout: float = 5) -> dict[str, Any]:
    while True:
        msg = await asyncio.wait_for(socket.receive_json(), timeout)
        if msg["type"] == "event":
            return dict(msg)


async def test_a_title_that_changed_for_someone_is_said_to_their_pages_only(medianest_client: Any) -> None:
    assert TitleChanged in EVENTS
    assert event_classes()["title.changed"] is TitleChanged
    seasons = SeasonRequests({SEVERANCE: SEVERANCE_SEASONS})
    admin_client = await medianest_client(entry_points=[entry_point(seasons.name, seasons)])
    alice_client = await medianest_client(browser_of=admin_client)
    bob_client = await medianest_client(browser_of=admin_client)
    admin = await sign_in(admin_client, "root", role="admin")
    alice = await sign_in(alice_client, "alice")
    await sign_in(bob_client, "bob")
    sockets = []
    for client in (alice_client, bob_client):
        socket = await client.ws_connect("/ws")
        await socket.send_json({"id": 1, "type": "subscribe", "topics": ["*"]})
        assert (await socket.receive_json())["success"] is True
        sockets.append(socket)
    alice_ws, bob_ws = sockets

    resp = await admin_client.post(
        "/api/v1/seasons/status",
        json={"kind": "tv", "tmdb_id": SEVERANCE, "label": "Approved", "tone": "ok", "user_id": alice.user_id},
        headers=admin.headers,
    )
    assert resp.status == 200, await resp.text()
    event = await next_event(alice_ws)
    assert event["topic"] == "title.changed"
    assert event["data"] == {"user_id": alice.user_id, "kind": "tv", "tmdb_id": SEVERANCE}
    with pytest.raises(asyncio.TimeoutError):
        await next_event(bob_ws, timeout=0.5)
    facts = await (await alice_client.get(f"/api/v1/titles/tv/{SEVERANCE}/facts")).json()
    assert facts["statuses"] == [{"source": "seasons.requests", "label": "Approved", "tone": "ok", "detail": None}]
