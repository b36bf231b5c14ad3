"""What TMDB adds to MediaNest: search results, title pages' details and Discover rows, as core titles with their
ids and the image route's addresses; people and adult titles left out, other scripts kept, missing posters missing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from medianest_tmdb import titles
from medianest_tmdb.client import CastCredit, Credits, Video, Videos
from medianest_tmdb.fake import FakeTmdb, FakeVideo, Sample

from medianest_core import (
    CastMember,
    DiscoveryQuery,
    ExternalIds,
    SearchQuery,
    SeasonInfo,
    Title,
    TitleKind,
    TitleQuery,
    Viewer,
    keys,
)
from medianest_core.testing import sign_in
from medianest_core.upstream import UpstreamError, deadline

VIEWER = Viewer(1)

TmdbApp = Callable[..., Awaitable[Any]]
"""The ``tmdb_app`` fixture: ``await tmdb_app(**tmdb_settings)``."""


def contributed(client: Any, hook: str) -> dict[str, Any]:
    """The TMDB plugin's contributions to one hook, by key."""
    return {item.key: item for plugin, item in getattr(client.app[keys.CONTRIBUTIONS], hook) if plugin == "tmdb"}


async def search(client: Any, text: str, limit: int = 20) -> list[Title]:
    provider = contributed(client, "search_providers")["search"]
    found: list[Title] = list(await provider.search(SearchQuery(text, VIEWER, limit)))
    return found


async def details(client: Any, kind: TitleKind, tmdb_id: int) -> Title | None:
    source = contributed(client, "title_sources")["details"]
    found: Title | None = await source.details(TitleQuery(kind, tmdb_id, VIEWER))
    return found


async def test_what_the_plugin_offers(tmdb_app: TmdbApp) -> None:
    client = await tmdb_app()
    provider = contributed(client, "search_providers")["search"]
    assert (provider.title, provider.timeout, provider.order) == ("TMDB", 5, 20)
    source = contributed(client, "title_sources")["details"]
    assert (source.title, source.order) == ("TMDB", 10)
    rows = contributed(client, "discovery_rows")
    assert [(row.key, row.title, row.order) for row in rows.values()] == [
        ("trending", "Trending this week", 10),
        ("popular-films", "Popular films", 20),
        ("popular-series", "Popular series", 30),
    ]
    assert not [card for plugin, card in client.app[keys.CONTRIBUTIONS].cards if plugin == "tmdb"]


async def test_search_results_are_films_and_series_with_their_ids_and_posters(
    tmdb_app: TmdbApp, fake: FakeTmdb
) -> None:
    client = await tmdb_app()
    found = await search(client, "  The   MATRIX ")
    assert [(t.kind, t.title, t.ids.tmdb, t.year) for t in found] == [
        ("movie", "The Matrix", Sample.MATRIX, 1999),
        ("movie", "The Matrix Reloaded", 1001, 2003),
        ("tv", "The Matrix Files", Sample.MATRIX, 2001),  # the series 603 beside the film 603; no person, no adult film
    ]
    matrix = found[0]
    poster = fake.movie(Sample.MATRIX)["poster_path"]
    backdrop = fake.movie(Sample.MATRIX)["backdrop_path"]
    assert matrix.poster_url == f"/api/v1/tmdb/images/w342{poster}"
    assert matrix.backdrop_url == f"/api/v1/tmdb/images/w1280{backdrop}"
    assert matrix.overview == "A hacker learns what the world is."
    assert (matrix.popularity, matrix.facts) == (80.5, {"popularity": 80.5, "vote_average": 8.2})
    assert matrix.url is None  # the core gives the title page
    assert matrix.ids == ExternalIds(tmdb=Sample.MATRIX)
    assert [t.title for t in await search(client, "matrix", limit=1)] == ["The Matrix"]
    assert await search(client, "no such title at all") == []


async def test_the_same_search_twice_is_one_call_to_tmdb(tmdb_app: TmdbApp, fake: FakeTmdb) -> None:
    client = await tmdb_app()
    first = await search(client, "Breaking Bad")
    second = await search(client, "breaking  bad")  # the same question, spelt otherwise
    assert first == second
    assert [t.title for t in first] == ["Breaking Bad"]
    assert fake.count("/3/search/multi") == 1


async def test_a_long_list_takes_the_pages_it_needs(tmdb_app: TmdbApp, fake: FakeTmdb) -> None:
    for n in range(30):
        fake.add_movie(f"Sequel {n:02d}", popularity=100.0 - n)
    client = await tmdb_app()
    assert len(await search(client, "sequel", limit=20)) == 20
    assert fake.count("/3/search/multi") == 1
    assert [t.title for t in await search(client, "sequel", limit=50)][-1] == "Sequel 29"
    assert fake.count("/3/search/multi") == 2  # page 1 was kept


async def test_non_ascii_titles_and_missing_posters(tmdb_app: TmdbApp) -> None:
    client = await tmdb_app()
    [amelie] = await search(client, "amélie")
    assert amelie.title == "Amélie"
    assert amelie.poster_url is None  # TMDB has none
    assert amelie.backdrop_url is None  # a path the image route would not serve: no broken link
    [spirited] = await search(client, "千と千尋")
    assert (spirited.title, spirited.ids.tmdb) == ("Spirited Away", Sample.SPIRITED_AWAY)
    [leon] = await search(client, "LÉON")
    assert (leon.title, leon.year) == ("Léon", None)  # an empty release date is no year
    german = await tmdb_app(language="de-DE")
    [welt] = await search(german, "fabelhafte")
    assert (welt.title, welt.ids.tmdb) == ("Die fabelhafte Welt der Amélie", Sample.AMELIE)
    adult = await tmdb_app(include_adult=True)
    assert (await search(adult, "matrix"))[0].title == "Matrix Unrated"


async def test_a_films_details(tmdb_app: TmdbApp, fake: FakeTmdb) -> None:
    client = await tmdb_app()
    matrix = await details(client, TitleKind.MOVIE, Sample.MATRIX)
    assert matrix is not None
    assert (matrix.kind, matrix.title, matrix.year) == ("movie", "The Matrix", 1999)
    assert matrix.ids == ExternalIds(tmdb=Sample.MATRIX, imdb="tt0133093")
    assert (matrix.tagline, matrix.runtime_minutes) == ("Welcome to the Real World.", 136)
    assert list(matrix.genres) == ["Action", "Science Fiction"]
    assert matrix.trailer_url == "https://www.youtube.com/watch?v=official1"
    assert len(matrix.cast) == 12
    first = matrix.cast[0]
    profile = fake.movie(Sample.MATRIX)["_credits"]["cast"][0]["profile_path"]
    assert first == CastMember("Actor 01", "Role 01", f"/api/v1/tmdb/images/w185{profile}")
    assert matrix.cast[-1].name == "Actor 12"
    assert matrix.seasons == ()
    assert fake.count(f"/3/movie/{Sample.MATRIX}") == 1  # everything in one call


async def test_a_series_details_with_its_seasons(tmdb_app: TmdbApp) -> None:
    client = await tmdb_app()
    show = await details(client, TitleKind.TV, Sample.BREAKING_BAD)
    assert show is not None
    assert (show.kind, show.title, show.year, show.runtime_minutes) == ("tv", "Breaking Bad", 2008, 47)
    assert show.ids == ExternalIds(tmdb=Sample.BREAKING_BAD, tvdb=81189, imdb="tt0903747")
    assert show.trailer_url == "https://www.youtube.com/watch?v=HhesaQXLuRY"
    assert [(m.name, m.character) for m in show.cast] == [
        ("Bryan Cranston", "Walter White"),
        ("Aaron Paul", "Jesse Pinkman"),
    ]
    assert list(show.seasons) == [
        SeasonInfo(0, "Specials", 9, None, None),
        SeasonInfo(1, "Season 1", 7, "2008-01-20", "/api/v1/tmdb/images/w342/s1poster.jpg"),
        SeasonInfo(2, "Season 2", 13, "2009-03-08", None),
    ]
    files = await details(client, TitleKind.TV, Sample.MATRIX)  # the series, not the film of the same id
    assert files is not None
    assert files.title == "The Matrix Files"
    assert files.runtime_minutes is None
    assert files.trailer_url is None


async def test_an_id_tmdb_does_not_know_is_none(tmdb_app: TmdbApp, fake: FakeTmdb) -> None:
    client = await tmdb_app()
    assert await details(client, TitleKind.MOVIE, 424242) is None
    assert await details(client, TitleKind.TV, Sample.AMELIE) is None  # a film's id is no series
    assert await details(client, TitleKind.MOVIE, 0) is None
    assert fake.count("/3/movie/0") == 0


async def test_an_unknown_id_is_asked_of_tmdb_once_for_everyone(tmdb_app: TmdbApp, fake: FakeTmdb) -> None:
    client = await tmdb_app()
    await sign_in(client, "alice")
    for _ in range(3):
        resp = await client.get("/api/v1/titles/movie/424242")
        assert resp.status == 404
        assert await details(client, TitleKind.TV, Sample.AMELIE) is None
    assert fake.count("/3/movie/424242") == 1  # "no such film" is kept like an answer
    assert fake.count(f"/3/tv/{Sample.AMELIE}") == 1


async def test_adult_titles_have_no_title_page_unless_adult_titles_are_on(tmdb_app: TmdbApp, fake: FakeTmdb) -> None:
    film = fake.add_movie("Unrated Cut", adult=True)["id"]
    series = fake.add_tv("Unrated Series", adult=True)["id"]
    client = await tmdb_app()
    await sign_in(client, "alice")
    assert await details(client, TitleKind.MOVIE, film) is None
    assert await details(client, TitleKind.TV, series) is None
    for kind, tmdb_id in (("movie", film), ("tv", series)):
        resp = await client.get(f"/api/v1/titles/{kind}/{tmdb_id}")
        assert resp.status == 404, kind
    adult = await tmdb_app(include_adult=True)
    shown = [await details(adult, TitleKind.MOVIE, film), await details(adult, TitleKind.TV, series)]
    assert [title.title if title else None for title in shown] == ["Unrated Cut", "Unrated Series"]


async def test_long_lists_of_tmdb_are_cut(tmdb_app: TmdbApp, fake: FakeTmdb) -> None:
    videos = [FakeVideo(f"clip{n:03d}", type="Clip") for n in range(50)] + [FakeVideo("late01")]
    show = fake.add_tv(
        "Endless", seasons=150, genres=[f"Genre {n:02d}" for n in range(30)], videos=videos, trailer=None
    )
    client = await tmdb_app()
    endless = await details(client, TitleKind.TV, show["id"])
    assert endless is not None
    assert [season.number for season in endless.seasons] == list(range(1, 101))
    assert list(endless.genres) == [f"Genre {n:02d}" for n in range(20)]
    assert endless.trailer_url is None  # the trailer is the 51st video: not read


async def test_discover_rows(tmdb_app: TmdbApp, fake: FakeTmdb) -> None:
    client = await tmdb_app()
    rows = contributed(client, "discovery_rows")
    query = DiscoveryQuery(VIEWER)
    trending = await rows["trending"].load(query)
    assert [(t.kind, t.title) for t in trending][:3] == [
        ("tv", "Breaking Bad"),
        ("movie", "The Matrix"),
        ("movie", "The Matrix Reloaded"),
    ]
    assert "Matrix Unrated" not in {t.title for t in trending}  # no adult title, no person
    assert {t.kind for t in trending} == {"movie", "tv"}
    films = await rows["popular-films"].load(query)
    assert {t.kind for t in films} == {"movie"}
    assert films[0].title == "The Matrix"
    series = await rows["popular-series"].load(DiscoveryQuery(VIEWER, limit=1))
    assert [(t.kind, t.title) for t in series] == [("tv", "Breaking Bad")]
    for _ in range(3):
        await rows["trending"].load(query)
    assert fake.count("/3/trending/all/week") == 1


async def test_failures_are_upstream_errors_and_a_hung_tmdb_ends_by_the_deadline(
    tmdb_app: TmdbApp, fake: FakeTmdb
) -> None:
    client = await tmdb_app()
    refused = await tmdb_app(api_key="wrong")
    with pytest.raises(UpstreamError):
        await search(refused, "matrix")
    fake.hang = True
    with deadline(0.3), pytest.raises(UpstreamError):
        await search(client, "matrix")
    with deadline(0.3), pytest.raises(UpstreamError):
        await details(client, TitleKind.MOVIE, Sample.LEON)


def test_mapping_details_by_hand() -> None:
    credits = Credits(
        cast=[
            CastCredit(name="Second", character="", order=2, profile_path="/../x.jpg"),
            CastCredit(name="First", character="Lead", order=0, profile_path=None),
            CastCredit(name=None, order=1),
            CastCredit(name="Unordered", character="Extra"),
        ]
    )
    assert titles.cast_of(credits) == [
        CastMember("First", "Lead", None),
        CastMember("Second", None, None),  # no character; a path the image route would not serve
        CastMember("Unordered", "Extra", None),
    ]
    videos = Videos(
        [
            Video(key="unofficial", site="YouTube", type="Trailer", official=False),
            Video(key="javascript:alert(1)", site="YouTube", type="Trailer", official=True),
            Video(key="clip", site="YouTube", type="Clip", official=True),
        ]
    )
    assert titles.trailer_of(videos) == "https://www.youtube.com/watch?v=unofficial"
    assert titles.trailer_of(Videos()) is None
    assert [titles.year_of(date) for date in ("2001-04-25", "", None, "soon", "0000-01-01")] == [2001] + [None] * 4
    for path in ("/abc.jpg", "abc.jpg"):
        assert titles.image_url("w342", path) == "/api/v1/tmdb/images/w342/abc.jpg"
    for bad in ("/a/b.jpg", "/x.gif", "//evil.example/x.jpg", "/..jpg.png/", "/%2e%2e.jpg", "", None):
        assert titles.image_url("w342", bad) is None, bad
    assert titles.image_url("w999", "/abc.jpg") is None
    for unused in ("original", "w500", "w92"):  # sizes the image route does not serve: no broken link either
        assert titles.image_url(unused, "/abc.jpg") is None, unused
    assert {titles.POSTER, titles.BACKDROP, titles.PROFILE} == titles.SIZES
