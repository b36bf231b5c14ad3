"""Items a share hides from someone: the fake hides them wherever that person's token reads items, and MediaNest
never says "In Plex" of a title hidden from the person looking, whichever source found it (a catalogue's search,
a title page, a Discover row); the admin, who browses with the owner's token, still sees it marked."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from medianest_plex import PlexPlugin
from medianest_plex.fake import POSTER_PNG, FakePlex
from test_plex_titles import as_plex_user, contribution, plugin_of, rating_key, reindex

from medianest_core import (
    DiscoveryQuery,
    DiscoveryRow,
    ExternalIds,
    FactsQuery,
    SearchProvider,
    SearchQuery,
    Title,
    TitleFacts,
    TitleQuery,
    TitleSource,
    Viewer,
    hookimpl,
)
from medianest_core.testing import entry_point, sign_in

JSON = {"Accept": "application/json", "X-Plex-Client-Identifier": "test-client"}
ADULTS = 777_001
"""The TMDB id of the film bob's share hides."""
MATRIX = Title("movie", "The Matrix", ExternalIds(tmdb=603))
ADULTS_ONLY = Title("movie", "Adults Only Film", ExternalIds(tmdb=ADULTS))
HEAT = Title("movie", "Heat", ExternalIds(tmdb=949))


class Catalogue:
    """Plays TMDB: its search finds the films it holds by name, its title pages know them, and its Discover row
    shows them all. It knows nothing of Plex: what Plex has comes from Plex's facts."""

    name = "catalogue"
    version = "0.1"

    def __init__(self, *titles: Title) -> None:
        self.titles = list(titles)

    @hookimpl
    def search_providers(self) -> list[SearchProvider]:
        async def search(query: SearchQuery) -> list[Title]:
            return [title for title in self.titles if query.text.casefold() in title.title.casefold()]

        return [SearchProvider("search", "Catalogue", search, order=2)]

    @hookimpl
    def title_sources(self) -> list[TitleSource]:
        async def details(query: TitleQuery) -> Title | None:
            wanted = (query.kind.value, query.tmdb_id)
            return next((title for title in self.titles if (title.kind, title.ids.tmdb) == wanted), None)

        return [TitleSource("details", "Catalogue", details, order=1)]

    @hookimpl
    def discovery_rows(self) -> list[DiscoveryRow]:
        async def load(query: DiscoveryQuery) -> list[Title]:
            return list(self.titles)

        return [DiscoveryRow("popular", "Popular", load)]


class StrictPlex(FakePlex):
    """A server that answers 404 for a list of items as soon as one of them is hidden from the token (what PMS
    may do: its answer to a partly hidden list is not known)."""

    async def _metadata_detail(self, request: web.Request) -> web.Response:
        viewer = self._viewer(request)
        for key in request.match_info["keys"].split(","):
            self._visible(key, viewer)
        return await super()._metadata_detail(request)


def stock(plex: FakePlex) -> None:
    plex.add_section("1", "Films", "movie")
    plex.add_section("2", "Series", "show")
    plex.add_item("1", "The Matrix", year=1999, guids=["tmdb://603"], added_at=1_700_000_100)
    plex.add_item("1", "Adults Only Film", year=2001, guids=[f"tmdb://{ADULTS}"], added_at=1_700_000_200)
    plex.add_item("1", "Heat", year=1995, guids=["tmdb://949"], added_at=1_700_000_300)
    show = plex.add_item("2", "Severance", year=2022, guids=["tmdb://95396"], added_at=1_700_000_400)
    plex.add_season(show["ratingKey"], 1, episodes=3, added_at=1_700_000_500)
    plex.add_collection("1", "Late Night", [rating_key(plex, "Adults Only Film"), rating_key(plex, "Heat")])


@pytest.fixture
async def fake() -> AsyncIterator[FakePlex]:
    plex = FakePlex(machine_identifier="hidden-test")
    stock(plex)
    await plex.start()
    yield plex
    await plex.stop()


@pytest.fixture
async def strict() -> AsyncIterator[FakePlex]:
    plex = StrictPlex(machine_identifier="strict-test")
    stock(plex)
    await plex.start()
    yield plex
    await plex.stop()


async def with_catalogue(medianest_client: Any, fake: FakePlex) -> Any:
    section = {"url": fake.url, "plextv_url": fake.url, "token": fake.owner.token}
    return await medianest_client(
        entry_points=[
            entry_point("plex", PlexPlugin()),
            entry_point("catalogue", Catalogue(MATRIX, ADULTS_ONLY, HEAT)),
        ],
        plugins={"plex": section},
        api_rate_limit="10000/minute",
    )


async def bob_hidden(client: Any, fake: FakePlex, *titles: str) -> Viewer:
    """bob, signed in (as a sign-in with Plex leaves him: his server token kept), whose share holds both
    libraries but hides these titles."""
    bob, _ = await as_plex_user(client, fake, "bob", ["1", "2"], hidden=[rating_key(fake, title) for title in titles])
    return Viewer(bob.user_id)


async def libraries(client: Any, viewer: Viewer, titles: Sequence[Title]) -> list[str | None]:
    """Plex's library of each title, as Plex's facts give it to this person; ``None`` where it says nothing."""
    source = contribution(client, "title_facts")
    found: list[TitleFacts | None] = list(await source.lookup(FactsQuery(titles, viewer)))
    return [fact.presence.library if fact and fact.presence else None for fact in found]


def metadata_calls(fake: FakePlex) -> list[str]:
    """The ratingKeys of each ``/library/metadata/<keys>`` call (not children, not images), in order."""
    prefix = "/library/metadata/"
    keys = [path.removeprefix(prefix) for _, path in fake.calls if path.startswith(prefix)]
    return [key for key in keys if "/" not in key]


# ---- the fake ----------------------------------------------------------------------------------------------------


async def test_the_fake_hides_restricted_items_wherever_the_token_reads(fake: FakePlex) -> None:
    bob = fake.add_account("bob")
    token = fake.share(bob, ["1", "2"])
    adults, heat, show = (rating_key(fake, t) for t in ("Adults Only Film", "Heat", "Severance"))
    [season] = [e["ratingKey"] for e in fake._metadata.values() if e.get("parentRatingKey") == show]
    collection = rating_key(fake, "Late Night")
    fake.restrict(bob, [adults, show])

    async with aiohttp.ClientSession(base_url=fake.url) as http:

        async def get(path: str, who: str, **params: Any) -> tuple[int, Any]:
            async with http.get(path, headers={**JSON, "X-Plex-Token": who}, params=params) as response:
                json = response.status == 200 and response.content_type == "application/json"
                body = await response.json() if json else None
                return response.status, body

        async def titles(path: str, who: str, **params: Any) -> list[str]:
            status, body = await get(path, who, **params)
            assert status == 200, path
            container = body["MediaContainer"]
            if "Hub" in container:
                return sorted(m["title"] for hub in container["Hub"] for m in hub.get("Metadata", []))
            return sorted(m["title"] for m in container.get("Metadata", []))

        owner = fake.owner.token
        assert await titles("/library/sections/1/all", token) == ["Heat", "The Matrix"]
        assert await titles("/library/sections/1/all", owner) == ["Adults Only Film", "Heat", "The Matrix"]
        assert await titles("/library/sections/2/all", token) == []
        assert await titles("/library/recentlyAdded", token) == ["Heat", "The Matrix"]  # no series, no episodes
        assert len(await titles("/library/recentlyAdded", owner)) == 8  # 3 films, a series, a season, 3 episodes
        assert await titles("/hubs/search", token, query="a") == ["Heat", "Late Night", "The Matrix"]
        assert await titles("/hubs/search", owner, query="a") == [
            "Adults Only Film",
            "Heat",
            "Late Night",
            "Season 1",
            "Severance",
            "The Matrix",
        ]
        assert await titles(f"/library/collections/{collection}/items", token) == ["Heat"]
        assert await titles(f"/library/collections/{collection}/items", owner) == ["Adults Only Film", "Heat"]
        for path in (
            f"/library/metadata/{adults}",
            f"/library/metadata/{show}",
            f"/library/metadata/{season}",  # a hidden series' seasons and episodes are hidden with it
            f"/library/metadata/{show}/children",
            f"/library/metadata/{adults}/thumb/1",
            f"/library/metadata/{season}/thumb/1",
        ):
            assert (await get(path, token))[0] == 404, path
            assert (await get(path, owner))[0] == 200, path
        status, _ = await get("/photo/:/transcode", token, url=f"/library/metadata/{adults}/thumb/1")
        assert status == 404

        # A list of items answers those the token may open, in the order asked; 404 when it opens none.
        assert await titles(f"/library/metadata/{heat},{adults},{rating_key(fake, 'The Matrix')}", token) == [
            "Heat",
            "The Matrix",
        ]
        assert (await get(f"/library/metadata/{adults},{show}", token))[0] == 404
        assert len(await titles(f"/library/metadata/{adults},{show}", owner)) == 2

        # Lifted, the items are back.
        fake.restrict(bob, [])
        assert await titles("/library/sections/1/all", token) == ["Adults Only Film", "Heat", "The Matrix"]
        async with http.get(f"/library/metadata/{adults}/thumb/1", headers={"X-Plex-Token": token}) as image:
            assert (image.status, await image.read()) == (200, POSTER_PNG)

    with pytest.raises(ValueError, match="not shared with carol"):
        fake.restrict(fake.add_account("carol"), [adults])


# ---- what MediaNest says ----------------------------------------------------------------------------------------


async def test_a_title_hidden_from_a_share_is_not_in_plex_for_that_person(
    medianest_client: Any, fake: FakePlex
) -> None:
    client = await with_catalogue(medianest_client, fake)
    await bob_hidden(client, fake, "Adults Only Film")
    await reindex(client)

    def in_plex(doc: dict[str, Any]) -> list[str | None]:
        return [p["library"] for p in doc["in_library"] if p["service"] == "Plex"]

    async def seen() -> tuple[dict[str, list[str | None]], list[str | None], dict[str, list[str | None]]]:
        """What the person signed in is told: the search for "film", the title page, the Discover row."""
        search = await (await client.get("/api/v1/search", params={"q": "film"})).json()
        page = await client.get(f"/api/v1/titles/movie/{ADULTS}")
        assert page.status == 200, await page.text()
        row = await (await client.get("/api/v1/discover/catalogue.popular")).json()
        assert row["ok"] is True
        return (
            {doc["title"]: in_plex(doc) for doc in search["results"]},
            in_plex(await page.json()),
            {doc["title"]: in_plex(doc) for doc in row["titles"]},
        )

    search, page, row = await seen()  # bob
    assert search == {"Adults Only Film": []}
    assert page == []
    assert row == {"The Matrix": ["Films"], "Adults Only Film": [], "Heat": ["Films"]}

    await sign_in(client, "root", role="admin")  # browses with the owner's token: the share's limits are not his
    search, page, row = await seen()
    assert search == {"Adults Only Film": ["Films"]}
    assert page == ["Films"]
    assert row == {"The Matrix": ["Films"], "Adults Only Film": ["Films"], "Heat": ["Films"]}


async def test_plex_is_asked_once_for_the_items_not_kept(medianest_client: Any, fake: FakePlex) -> None:
    client = await with_catalogue(medianest_client, fake)
    bob = await bob_hidden(client, fake, "Adults Only Film")
    await reindex(client)
    matrix, adults, heat = (rating_key(fake, t.title) for t in (MATRIX, ADULTS_ONLY, HEAT))

    assert await libraries(client, bob, [MATRIX, ADULTS_ONLY]) == ["Films", None]
    assert metadata_calls(fake) == [f"{matrix},{adults}"]
    # Kept a while: only the item not asked before is asked now.
    assert await libraries(client, bob, [HEAT, ADULTS_ONLY, MATRIX]) == ["Films", None, "Films"]
    assert metadata_calls(fake) == [f"{matrix},{adults}", heat]
    assert await libraries(client, bob, [MATRIX, ADULTS_ONLY, HEAT]) == ["Films", None, "Films"]
    assert len(metadata_calls(fake)) == 2  # all kept

    # One answer kept per person and item, under a key that names no token.
    plex = plugin_of(client).plex
    assert plex is not None
    assert plex.server_upstream is not None
    kept = [key for key in plex.server_upstream._cache if isinstance(key, tuple) and key[0] == "opens"]
    assert len(kept) == 3
    [bob_token] = [token for token, share in fake._shares.items() if share.account.username == "bob"]
    assert all(bob_token not in repr(key) for key in kept)

    # The admin browses with the owner's token, which opens everything: Plex is not asked.
    admin = await sign_in(client, "root", role="admin")
    assert await libraries(client, Viewer(admin.user_id, is_admin=True), [ADULTS_ONLY]) == ["Films"]
    assert len(metadata_calls(fake)) == 2


async def test_a_list_plex_refuses_is_asked_one_by_one(medianest_client: Any, strict: FakePlex) -> None:
    client = await with_catalogue(medianest_client, strict)
    bob = await bob_hidden(client, strict, "Adults Only Film")
    await reindex(client)
    matrix, adults, heat = (rating_key(strict, t.title) for t in (MATRIX, ADULTS_ONLY, HEAT))

    assert await libraries(client, bob, [MATRIX, ADULTS_ONLY, HEAT]) == ["Films", None, "Films"]
    calls = metadata_calls(strict)
    assert calls[0] == f"{matrix},{adults},{heat}"
    assert sorted(calls[1:]) == sorted([matrix, adults, heat])


async def test_nothing_is_said_when_plex_cannot_confirm(medianest_client: Any, fake: FakePlex) -> None:
    client = await with_catalogue(medianest_client, fake)
    bob = await bob_hidden(client, fake)
    await reindex(client)
    admin = Viewer((await sign_in(client, "root", role="admin")).user_id, is_admin=True)
    assert await libraries(client, bob, [HEAT]) == ["Films"]  # what bob sees of the server is kept now
    assert await libraries(client, admin, [HEAT]) == ["Films"]  # and what the admin sees

    await fake.stop()  # Plex cannot be asked: the index alone does not say bob may open The Matrix
    assert await libraries(client, bob, [MATRIX, HEAT]) == [None, "Films"]  # Heat's answer was kept
    assert await libraries(client, admin, [MATRIX]) == ["Films"]  # the owner's token opens everything

    await fake.start()
    assert await libraries(client, bob, [MATRIX]) == ["Films"]  # a failure is not kept
