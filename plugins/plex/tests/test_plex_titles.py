"""Plex's part of one search, one list per title: the index of the server's films and series, its search results
with their external ids, the facts that mark what a person's libraries have, title pages' details when TMDB is
not set up, the row of what was recently added, and item pages that lead to their title pages."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from medianest_plex import PlexPlugin, index, store
from medianest_plex.fake import POSTER_PNG, FakeAccount, FakePlex
from medianest_plex.models import PlexAccount, PlexTitle
from sqlalchemy import select

from medianest_core import (
    DiscoveryQuery,
    ExternalIds,
    FactsQuery,
    SearchQuery,
    Title,
    TitleFacts,
    TitleKind,
    TitleQuery,
    Viewer,
    keys,
)
from medianest_core.plugins import PluginStatus
from medianest_core.search import NotAvailable
from medianest_core.testing import SignedIn, entry_point, installed_plugin, sign_in

HTML = {"Accept": "text/html"}
MACHINE = "5e1f0c0ffee"
SEASONS = {1: 9, 2: 3}


@pytest.fixture
async def fake() -> AsyncIterator[FakePlex]:
    plex = FakePlex(machine_identifier=MACHINE, friendly_name="Alice's Plex")
    plex.add_section("1", "Films", "movie")
    plex.add_section("2", "Series", "show")
    plex.add_section("3", "Kids", "movie")
    plex.add_section("4", "Music", "artist")
    plex.add_item(
        "1",
        "The Matrix",
        year=1999,
        summary="A hacker learns what the world is.",
        guids=["imdb://tt0133093", "tmdb://603"],
        genres=["Action", "Science Fiction"],
        roles=[("Keanu Reeves", "Neo"), ("Laurence Fishburne", "Morpheus")],
        tagline="Welcome to the Real World.",
        duration=8_160_000,
        added_at=1_700_000_100,
    )
    plex.add_item("1", "Heat", year=1995, guids=["tmdb://949"], added_at=1_700_000_200)
    plex.add_item("1", "Home Video", added_at=1_700_000_300)
    plex.add_item("3", "Toy Story", year=1995, guids=["tmdb://862", "imdb://tt0114709"], added_at=1_700_000_400)
    show = plex.add_item("2", "Severance", year=2022, guids=["tmdb://95396", "tvdb://371980"], added_at=1_700_000_500)
    for number, episodes in SEASONS.items():
        plex.add_season(show["ratingKey"], number, episodes=episodes, added_at=1_700_000_600 + number)
    plex.add_item("4", "Vangelis", guids=["mbid://1"], added_at=1_700_000_900)
    await plex.start()
    yield plex
    await plex.stop()


def rating_key(fake: FakePlex, title: str) -> str:
    return str(next(entry for entry in fake._metadata.values() if entry["title"] == title)["ratingKey"])


async def plex_client(medianest_client: Any, fake: FakePlex, **extra: Any) -> Any:
    core = {key: extra.pop(key) for key in ("database_url",) if key in extra}
    section = {"url": fake.url, "plextv_url": fake.url, "token": fake.owner.token, **extra}
    return await medianest_client(
        entry_points=[entry_point("plex", PlexPlugin())],
        plugins={"plex": section},
        api_rate_limit="10000/minute",
        **core,
    )


def plugin_of(client: Any) -> PlexPlugin:
    found: PlexPlugin = client.app[keys.RUNTIME].plugins.get("plex").plugin
    return found


async def reindex(client: Any) -> index.IndexRun:
    plugin = plugin_of(client)
    assert plugin.ctx is not None
    assert plugin.plex is not None
    return await index.rebuild(plugin.ctx, plugin.plex)


async def as_plex_user(
    client: Any, fake: FakePlex, username: str, sections: list[str], hidden: Sequence[str] = ()
) -> tuple[SignedIn, str]:
    """A person the server shares these libraries with (hiding the ``hidden`` rating keys, as a share's
    restrictions do), signed in, whose server token MediaNest keeps (as a sign-in with Plex leaves it)."""
    who = await sign_in(client, username)
    account: FakeAccount = fake.add_account(username)
    token = fake.share(account, sections)
    if hidden:
        fake.restrict(account, hidden)
    ctx = plugin_of(client).ctx
    assert ctx is not None
    assert ctx.sessions is not None
    assert ctx.keyring is not None
    async with ctx.sessions.begin() as db:
        db.add(
            PlexAccount(
                user_id=who.user_id,
                plex_id=account.id,
                uuid=account.uuid,
                username=account.username,
                server_token=ctx.keyring.encrypt(token, "plex_accounts.server_token"),
            )
        )
    return who, token


def contribution(client: Any, hook: str) -> Any:
    [found] = [item for plugin, item in getattr(client.app[keys.CONTRIBUTIONS], hook) if plugin == "plex"]
    return found


async def facts(client: Any, viewer: Viewer, titles: Sequence[Title], detail: bool = False) -> list[TitleFacts | None]:
    source = contribution(client, "title_facts")
    return list(await source.lookup(FactsQuery(titles, viewer, detail)))


def watch_link(rk: str, app: str = "https://app.plex.tv/desktop") -> str:
    return f"{app}/#!/server/{MACHINE}/details?key=%2Flibrary%2Fmetadata%2F{rk}"


# ---- the index --------------------------------------------------------------------------------------------------


async def test_the_index_holds_every_film_and_series_with_their_ids(
    medianest_client: Any, medianest_database_url: str, fake: FakePlex
) -> None:
    fake.add_section("5", "Archive", "movie")
    for n in range(450):
        fake.add_item("5", f"Reel {n}", year=1950, guids=[f"tmdb://{100_000 + n}"])
    client = await plex_client(medianest_client, fake, database_url=medianest_database_url)
    walked = await reindex(client)
    assert (walked.sections, walked.titles, walked.failed) == (4, 455, ())
    assert sum(1 for call in fake.calls if call == ("GET", "/library/sections/5/all")) >= 3  # 200 at a time

    ctx = plugin_of(client).ctx
    assert ctx is not None
    sessions = ctx.sessions
    assert sessions is not None

    async def indexed() -> dict[str, tuple[Any, ...]]:
        async with sessions() as db:
            rows = (await db.scalars(select(PlexTitle).where(PlexTitle.section_key != "5"))).all()
        return {r.title: (r.kind, r.section_key, r.year, r.tmdb_id, r.tvdb_id, r.imdb_id) for r in rows}

    assert await indexed() == {
        "The Matrix": ("movie", "1", 1999, 603, None, "tt0133093"),
        "Heat": ("movie", "1", 1995, 949, None, None),
        "Home Video": ("movie", "1", None, None, None, None),
        "Toy Story": ("movie", "3", 1995, 862, None, "tt0114709"),
        "Severance": ("tv", "2", 2022, 95396, 371980, None),
    }  # series, not their seasons and episodes; music is no title
    reels = await store.by_rating_keys(sessions, [rating_key(fake, "Reel 449")])
    assert [row.ids.tmdb for row in reels.values()] == [100_449]

    fake.remove_item(rating_key(fake, "Heat"))
    fake.remove_section("3")
    fake.remove_section("5")
    fake.add_item("1", "Alien", year=1979, guids=["tmdb://348"])
    again = await reindex(client)
    assert (again.sections, again.titles) == (2, 4)
    assert set(await indexed()) == {"The Matrix", "Home Video", "Alien", "Severance"}
    async with sessions() as db:
        assert (await db.scalars(select(PlexTitle).where(PlexTitle.section_key == "5"))).all() == []


async def test_the_migration_makes_the_table_its_model_describes(
    medianest_client: Any, medianest_database_url: str, fake: FakePlex
) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from medianest_core.models import Base

    client = await plex_client(medianest_client, fake, database_url=medianest_database_url)
    ctx = plugin_of(client).ctx
    assert ctx is not None
    assert ctx.engine is not None

    def differences(conn: Any) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return [d for d in compare_metadata(context, Base.metadata) if "plex_titles" in repr(d)]

    async with ctx.engine.connect() as conn:
        assert await conn.run_sync(differences) == []


async def test_the_index_is_built_in_the_background(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake, index_interval=30)
    ctx = plugin_of(client).ctx
    assert ctx is not None
    assert ctx.sessions is not None
    for _ in range(200):  # the first walk starts with MediaNest
        found = await store.find(ctx.sessions, ["1"], [("movie", ExternalIds(tmdb=603))])
        if found[0] is not None:
            break
        await asyncio.sleep(0.05)
    assert found[0] is not None
    assert found[0].title == "The Matrix"


# ---- facts ------------------------------------------------------------------------------------------------------


async def test_facts_mark_what_the_persons_libraries_have(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake)
    bob, bob_token = await as_plex_user(client, fake, "bob", ["1", "2"])
    await reindex(client)
    matrix, severance, toy_story = (rating_key(fake, t) for t in ("The Matrix", "Severance", "Toy Story"))
    titles = [
        Title("movie", "The Matrix", ExternalIds(tmdb=603)),
        Title("movie", "Toy Story", ExternalIds(imdb="tt0114709")),  # in a library not shared with bob
        Title("tv", "Severance", ExternalIds(tvdb=371980)),
        Title("movie", "Severance", ExternalIds(tmdb=95396)),  # a film with the series' number is another title
        Title("movie", "Arrival", ExternalIds(tmdb=329865)),
        Title("episode", "Pilot", ExternalIds(tmdb=603)),
        Title("movie", "No ids"),
    ]
    found = await facts(client, Viewer(bob.user_id), titles)
    assert [f.presence.library if f and f.presence else None for f in found] == [
        "Films",
        None,
        "Series",
        None,
        None,
        None,
        None,
    ]
    presence = found[0].presence if found[0] else None
    assert presence is not None
    assert (presence.service, presence.item_url, presence.watch_url) == (
        "Plex",
        f"/plex/items/{matrix}",
        watch_link(matrix),
    )
    assert presence.seasons == {}  # only asked with detail
    for fact in found:
        text = repr(fact)
        assert bob_token not in text
        assert fake.owner.token not in text
        assert fake.url.removeprefix("http://") not in text

    # A title page asks with detail: what the server has of each season, as bob sees it.
    [detailed] = await facts(client, Viewer(bob.user_id), [titles[2]], detail=True)
    assert detailed is not None
    assert detailed.presence is not None
    assert (detailed.presence.item_url, dict(detailed.presence.seasons)) == (f"/plex/items/{severance}", SEASONS)

    # The admin without a Plex sign-in sees every library, with the owner's token.
    admin = await sign_in(client, "root", role="admin")
    as_admin = await facts(client, Viewer(admin.user_id, is_admin=True), titles[:2])
    assert [f.presence.library if f and f.presence else None for f in as_admin] == ["Films", "Kids"]
    assert as_admin[1] is not None
    assert as_admin[1].presence is not None
    assert as_admin[1].presence.watch_url == watch_link(toy_story)

    # Someone who does not sign in with Plex sees nothing of it.
    carol = await sign_in(client, "carol")
    assert await facts(client, Viewer(carol.user_id), titles) == [None] * len(titles)

    # The libraries a person sees are kept for a while, under a key that names no token.
    plex = plugin_of(client).plex
    assert plex is not None
    assert plex.server_upstream is not None
    upstream = plex.server_upstream
    assert all(bob_token not in repr(key) and fake.owner.token not in repr(key) for key in upstream._cache)


async def test_seasons_are_left_out_when_plex_cannot_say(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake)
    admin = await sign_in(client, "root", role="admin")
    await reindex(client)
    severance = rating_key(fake, "Severance")
    fake.remove_item(severance)  # gone from Plex since the index was built: its seasons cannot be asked
    [found] = await facts(client, Viewer(admin.user_id, True), [Title("tv", "Severance", ExternalIds(95396))], True)
    assert found is not None
    assert found.presence is not None
    assert (found.presence.item_url, dict(found.presence.seasons)) == (f"/plex/items/{severance}", {})


async def test_the_watch_link_opens_the_owners_own_web_app(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake, app_url="http://plex.example.org:32400/web/")
    admin = await sign_in(client, "root", role="admin")
    await reindex(client)
    [found] = await facts(client, Viewer(admin.user_id, True), [Title("movie", "Heat", ExternalIds(949))])
    assert found is not None
    assert found.presence is not None
    assert found.presence.watch_url == watch_link(rating_key(fake, "Heat"), "http://plex.example.org:32400/web")


# ---- title pages ------------------------------------------------------------------------------------------------


async def test_details_of_a_film_and_a_series_that_plex_has(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake)
    bob, _ = await as_plex_user(client, fake, "bob", ["1", "2"])
    await reindex(client)
    source = contribution(client, "title_sources")
    assert (source.key, source.title, source.order) == ("library", "Plex", 50)
    viewer = Viewer(bob.user_id)

    matrix = await source.details(TitleQuery(TitleKind.MOVIE, 603, viewer))
    assert matrix is not None
    rk = rating_key(fake, "The Matrix")
    assert (matrix.kind, matrix.title, matrix.year, matrix.ids) == (
        "movie",
        "The Matrix",
        1999,
        ExternalIds(tmdb=603, imdb="tt0133093"),
    )
    assert (matrix.overview, matrix.tagline, matrix.runtime_minutes) == (
        "A hacker learns what the world is.",
        "Welcome to the Real World.",
        136,
    )
    assert list(matrix.genres) == ["Action", "Science Fiction"]
    assert [(c.name, c.character) for c in matrix.cast] == [("Keanu Reeves", "Neo"), ("Laurence Fishburne", "Morpheus")]
    assert all(c.image_url and c.image_url.startswith("/api/v1/plex/images?path=https%3A%2F%2F") for c in matrix.cast)
    assert matrix.poster_url == f"/api/v1/plex/images?path=%2Flibrary%2Fmetadata%2F{rk}%2Fthumb%2F1700000100"
    assert (matrix.url, dict(matrix.facts)) == (f"/plex/items/{rk}", {"library": "Films", "rating_key": rk})
    assert matrix.seasons == ()

    # Cast photos come through MediaNest's image proxy, which has the Plex server fetch them.
    photo = await client.get(matrix.cast[0].image_url)
    assert (photo.status, await photo.read()) == (200, POSTER_PNG)
    assert fake.transcoded[-1].startswith("https://metadata-static.plex.tv/people/")

    severance = await source.details(TitleQuery(TitleKind.TV, 95396, viewer))
    assert severance is not None
    assert (severance.kind, severance.title, severance.ids.tvdb) == ("tv", "Severance", 371980)
    assert [(s.number, s.name, s.episodes) for s in severance.seasons] == [(1, "Season 1", 9), (2, "Season 2", 3)]
    assert all(s.poster_url and s.poster_url.startswith("/api/v1/plex/images?") for s in severance.seasons)

    for kind, tmdb in ((TitleKind.MOVIE, 862), (TitleKind.TV, 603), (TitleKind.MOVIE, 1)):
        assert await source.details(TitleQuery(kind, tmdb, viewer)) is None  # not shared, another kind, unknown
    carol = await sign_in(client, "carol")
    assert await source.details(TitleQuery(TitleKind.MOVIE, 603, Viewer(carol.user_id))) is None


async def test_a_title_page_made_from_plex_alone(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake)
    _, bob_token = await as_plex_user(client, fake, "bob", ["1", "2"])
    await reindex(client)
    rk = rating_key(fake, "The Matrix")

    resp = await client.get("/api/v1/titles/movie/603")
    text = await resp.text()
    assert resp.status == 200, text
    page = json.loads(text)
    assert (page["title"], page["tagline"]) == ("The Matrix", "Welcome to the Real World.")
    assert page["runtime_minutes"] == 136
    assert page["in_library"] == [
        {"service": "Plex", "library": "Films", "item_url": f"/plex/items/{rk}", "watch_url": watch_link(rk)}
    ]
    assert [c["name"] for c in page["cast"]] == ["Keanu Reeves", "Laurence Fishburne"]

    series = await (await client.get("/api/v1/titles/tv/95396")).json()
    assert [(s["number"], s["episodes"], s["have"], s["in_library"]) for s in series["seasons"]] == [
        (1, 9, 9, "all"),
        (2, 3, 3, "all"),
    ]
    assert (await client.get("/api/v1/titles/movie/862")).status == 404  # Toy Story is not shared with bob

    html = await (await client.get("/titles/movie/603", headers=HTML)).text()
    assert "Welcome to the Real World." in html
    address = re.escape(fake.url.removeprefix("http://"))
    for answer in (text, json.dumps(series), html):
        assert not re.search(address, answer)
        assert bob_token not in answer
        assert fake.owner.token not in answer


# ---- search -----------------------------------------------------------------------------------------------------


async def test_search_results_are_titles_with_their_ids(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake)
    bob, _ = await as_plex_user(client, fake, "bob", ["1", "2"])
    provider = contribution(client, "search_providers")
    assert (provider.key, provider.title) == ("library", "Plex")
    viewer = Viewer(bob.user_id)

    [matrix] = await provider.search(SearchQuery("matrix", viewer))
    rk = rating_key(fake, "The Matrix")
    assert (matrix.kind, matrix.title, matrix.year, matrix.ids) == (
        "movie",
        "The Matrix",
        1999,
        ExternalIds(tmdb=603, imdb="tt0133093"),
    )
    assert (matrix.url, matrix.overview, dict(matrix.facts)) == (
        f"/plex/items/{rk}",
        "A hacker learns what the world is.",
        {"library": "Films", "rating_key": rk},
    )
    assert matrix.poster_url is not None
    assert matrix.poster_url.startswith("/api/v1/plex/images?path=%2Flibrary")
    assert matrix.presence is not None
    assert (matrix.presence.service, matrix.presence.watch_url) == ("Plex", watch_link(rk))

    found = await provider.search(SearchQuery("severance", viewer))
    assert [(t.kind, t.title, t.ids.tvdb) for t in found] == [("tv", "Severance", 371980)]
    episodes = await provider.search(SearchQuery("episode", viewer, limit=2))
    assert [t.kind for t in episodes] == ["episode", "episode"]
    assert all(t.url and t.url.startswith("/plex/items/") for t in episodes)
    assert await provider.search(SearchQuery("toy story", viewer)) == []  # not shared with bob

    # The merged search (bob's, on his browser) sends the film to its title page, marked as in Plex.
    answer = await (await client.get("/api/v1/search?q=matrix")).json()
    [first] = [r for r in answer["results"] if r["title"] == "The Matrix"]
    assert (first["url"], first["ids"]["tmdb"]) == ("/titles/movie/603", 603)
    assert [p["library"] for p in first["in_library"]] == ["Films"]

    carol = await sign_in(client, "carol")  # a password account: Plex is not hers to search, which is no fault
    with pytest.raises(NotAvailable, match="sign in with Plex"):
        await provider.search(SearchQuery("matrix", Viewer(carol.user_id)))


async def test_ids_missing_from_an_answer_come_from_the_index(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake)
    admin = await sign_in(client, "root", role="admin")
    ctx = plugin_of(client).ctx
    assert ctx is not None
    assert ctx.sessions is not None
    rk = rating_key(fake, "Home Video")  # Plex's answers give it no ids; say the index knows some
    await store.replace_sections(
        ctx.sessions, {"1": [store.Indexed(rk, "1", "movie", "Home Video", None, ExternalIds(tmdb=424242))]}
    )
    [found] = await contribution(client, "search_providers").search(SearchQuery("home", Viewer(admin.user_id, True)))
    assert found.ids == ExternalIds(tmdb=424242)


# ---- discovery --------------------------------------------------------------------------------------------------


async def test_recently_added_brings_films_and_series(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake)
    bob, _ = await as_plex_user(client, fake, "bob", ["1", "2", "4"])
    await reindex(client)
    fake.add_item("1", "Alien", year=1979, guids=["tmdb://348"], added_at=1_700_001_000)  # not indexed yet
    row = contribution(client, "discovery_rows")
    assert (row.key, row.title, row.order) == ("recent", "Recently added to Plex", 90)

    found = await row.load(DiscoveryQuery(Viewer(bob.user_id)))
    # Newest first: Alien, then Severance (for its new seasons and episodes, once), then the films; no music.
    assert [(t.kind, t.title, t.ids.tmdb) for t in found] == [
        ("movie", "Alien", 348),
        ("tv", "Severance", 95396),
        ("movie", "Home Video", None),
        ("movie", "Heat", 949),
        ("movie", "The Matrix", 603),
    ]
    severance = found[1]
    show = rating_key(fake, "Severance")
    assert (severance.url, severance.year) == (f"/plex/items/{show}", 2022)
    assert severance.poster_url == f"/api/v1/plex/images?path=%2Flibrary%2Fmetadata%2F{show}%2Fthumb%2F1700000500"
    assert len(await row.load(DiscoveryQuery(Viewer(bob.user_id), limit=2))) == 2

    carol = await sign_in(client, "carol")
    assert await row.load(DiscoveryQuery(Viewer(carol.user_id))) == []

    listed = await (await client.get("/api/v1/discover")).json()
    assert {"id": "plex.recent", "title": "Recently added to Plex"} in listed["rows"]


async def test_the_discover_row_of_the_person_signed_in(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake)
    await as_plex_user(client, fake, "bob", ["2"])
    await reindex(client)
    answer = await (await client.get("/api/v1/discover/plex.recent")).json()
    assert answer["ok"] is True
    assert [(t["title"], t["url"]) for t in answer["titles"]] == [("Severance", "/titles/tv/95396")]
    assert [p["service"] for p in answer["titles"][0]["in_library"]] == ["Plex"]


# ---- item pages -------------------------------------------------------------------------------------------------


async def test_item_pages_lead_to_their_title_page(medianest_client: Any, fake: FakePlex) -> None:
    client = await plex_client(medianest_client, fake)
    await sign_in(client, "root", role="admin")
    links = {}
    for title in ("The Matrix", "Severance", "Home Video"):
        doc = await (await client.get(f"/api/v1/plex/items/{rating_key(fake, title)}")).json()
        links[title] = doc["title_url"]
    assert links == {"The Matrix": "/titles/movie/603", "Severance": "/titles/tv/95396", "Home Video": None}
    films = await (await client.get("/api/v1/plex/libraries/1/items")).json()
    assert {item["title"]: item["title_url"] for item in films["items"]}["Heat"] == "/titles/movie/949"

    page = await (await client.get(f"/plex/items/{rating_key(fake, 'The Matrix')}", headers=HTML)).text()
    assert '<a href="/titles/movie/603">More about this title</a>' in page
    page = await (await client.get(f"/plex/items/{rating_key(fake, 'Home Video')}", headers=HTML)).text()
    assert "More about this title" not in page


# ---- settings ---------------------------------------------------------------------------------------------------


def test_the_index_and_the_app_link_have_settings(medianest_settings: Any) -> None:
    settings = installed_plugin("plex", medianest_settings()).settings
    assert (settings.index_interval, settings.app_url) == (600.0, "https://app.plex.tv/desktop")
    for bad in ({"index_interval": 29}, {"index_interval": 86401}, {"app_url": "app.plex.tv"}):
        record = installed_plugin("plex", medianest_settings(plugins={"plex": bad}))
        assert record.status is PluginStatus.BAD_SETTINGS, bad
        assert record.reason is not None
        assert record.reason.startswith(f"plugins.plex.{next(iter(bad))}: ")
