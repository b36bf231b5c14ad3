"""The fake Overseerr answers as the real one does: who a call acts as and the errors of each refusal, the request
validator's errors, users and their import from Plex, search and details with ``mediaInfo``, requests through
their whole life with duplicates, seasons and quotas, and the webhook agent's deliveries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import yarl
from aiohttp import web
from medianest_overseerr.client import MediaRequestStatus, MediaStatus, Notification, Permission, UserType
from medianest_overseerr.fake import FakeOverseerr, FakeUser

from medianest_core.testing import free_port

DUNE = 438631
ARRIVAL = 329865
GOT = 1399  # Game of Thrones: specials and two seasons
NO_ACCESS = {"status": 403, "error": "You do not have permission to access this endpoint"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeOverseerr]:
    overseerr = FakeOverseerr()
    overseerr.add_movie(DUNE, "Dune", 2021, overview="A duke's son on a desert planet.", imdb_id="tt1160419")
    overseerr.add_movie(ARRIVAL, "Arrival", 2016)
    overseerr.add_tv(GOT, "Game of Thrones", 2011, seasons={0: 5, 1: 10, 2: 10}, tvdb_id=121361)
    overseerr.add_person(1190668, "Timothée Chalamet")
    await overseerr.start()
    yield overseerr
    await overseerr.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class Receiver:
    """A webhook receiver on 127.0.0.1: what it was sent, with the ``Authorization`` header."""

    def __init__(self) -> None:
        self.received: list[tuple[str | None, Any]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((request.headers.get("Authorization"), await request.json()))
        return web.json_response({})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    made = Receiver()
    app = web.Application()
    app.router.add_post("/hook", made.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    made.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield made
    await runner.cleanup()


class Api:
    """Calls to the fake as the key (user 1), or as someone with ``X-API-User``."""

    def __init__(self, fake: FakeOverseerr, http: aiohttp.ClientSession) -> None:
        self.fake = fake
        self.http = http

    def headers(self, as_user: FakeUser | int | str | None = None, key: str | None = None) -> dict[str, str]:
        made = {"X-Api-Key": self.fake.api_key if key is None else key}
        if as_user is not None:
            made["X-API-User"] = str(as_user.id if isinstance(as_user, FakeUser) else as_user)
        return made

    async def call(
        self,
        method: str,
        path: str,
        *,
        as_user: FakeUser | int | str | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        sent = self.headers(as_user) if headers is None else headers
        url = yarl.URL(f"{self.fake.api_url}{path}", encoded=True)  # sent exactly as written
        async with self.http.request(method, url, headers=sent, json=json) as resp:
            body = await resp.json() if resp.content_type == "application/json" else await resp.text()
            return resp.status, body

    async def get(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        return await self.call("GET", path, **kwargs)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> tuple[int, Any]:
        return await self.call("POST", path, json=json, **kwargs)

    async def ask(self, user: FakeUser, kind: str, tmdb_id: int, **body: Any) -> tuple[int, Any]:
        return await self.post("/request", {"mediaType": kind, "mediaId": tmdb_id, **body}, as_user=user)


@pytest.fixture
def api(fake: FakeOverseerr, http: aiohttp.ClientSession) -> Api:
    return Api(fake, http)


# ---- who asks -----------------------------------------------------------------------------------------------------


async def test_the_key_acts_as_the_admin_and_x_api_user_as_that_user(fake: FakeOverseerr, api: Api) -> None:
    alice = fake.add_user("alice", plex_id=501)
    status, me = await api.get("/auth/me")
    assert status == 200
    assert (me["id"], me["permissions"], me["displayName"], me["plexId"]) == (1, 2, "owner", 1000)
    status, me = await api.get("/auth/me", as_user=alice)
    assert (status, me["id"], me["plexUsername"], me["email"], me["userType"]) == (
        200,
        alice.id,
        "alice",
        "alice@example.org",
        1,
    )
    assert fake.calls[-1].as_user == str(alice.id)
    assert fake.count("/api/v1/auth/me") == 2


async def test_each_refusal_of_who_asks_has_its_own_answer(fake: FakeOverseerr, api: Api) -> None:
    status, body = await api.get("/auth/me", headers={})
    assert (status, body) == (
        401,
        {
            "message": "cookie 'connect.sid' required",
            "errors": [{"path": "/api/v1/auth/me", "message": "cookie 'connect.sid' required"}],
        },
    )
    for headers in (api.headers(key="wrong"), api.headers(as_user=99), api.headers(as_user="abc")):
        assert await api.get("/request", headers=headers) == (403, NO_ACCESS)
    # The public routes answer anyone.
    status, body = await api.get("/status", headers={})
    assert status == 200
    assert set(body) == {"version", "commitTag", "updateAvailable", "commitsBehind", "restartRequired"}
    assert body["version"] == fake.version
    fake.movie_4k = True
    status, body = await api.get("/settings/public", headers={})
    assert (status, body["initialized"], body["movie4kEnabled"], body["series4kEnabled"]) == (200, True, True, False)


async def test_a_route_needing_a_permission_refuses_a_user_without_it(fake: FakeOverseerr, api: Api) -> None:
    alice = fake.add_user("alice")
    status, made = await api.ask(alice, "movie", DUNE)
    assert status == 201
    assert await api.post(f"/request/{made['id']}/approve", as_user=alice) == (403, NO_ACCESS)
    assert await api.post("/user/import-from-plex", {"plexIds": []}, as_user=alice) == (403, NO_ACCESS)


# ---- the request validator ----------------------------------------------------------------------------------------


async def test_query_values_must_be_percent_encoded(fake: FakeOverseerr, api: Api) -> None:
    refused = "Parameter 'query' must be url encoded. Its value may not contain reserved characters."
    for raw in ("game+of", "Mission:%20Impossible", "what?", "it's", "a,b"):
        status, body = await api.get(f"/search?query={raw}")
        assert (status, body) == (400, {"message": refused, "errors": [{"path": ".query.query", "message": refused}]})
    status, body = await api.get("/search?query=game%20of%20thrones%3A%20%2B")
    assert status == 200
    assert [result["name"] for result in body["results"]] == ["Game of Thrones"]
    assert fake.calls[-1].raw_query == "query=game%20of%20thrones%3A%20%2B"


async def test_parameters_and_bodies_are_checked_before_any_route(api: Api) -> None:
    assert await api.get("/search") == (
        400,
        {
            "message": "request.query should have required property 'query'",
            "errors": [
                {
                    "path": ".query.query",
                    "message": "should have required property 'query'",
                    "errorCode": "required.openapi.validation",
                }
            ],
        },
    )
    status, body = await api.get("/search?query=dune&page=two")
    assert (status, body["message"]) == (400, "request.query.page should be number")
    assert body["errors"] == [
        {"path": ".query.page", "message": "should be number", "errorCode": "type.openapi.validation"}
    ]
    assert await api.get("/search?query=dune&api_key=x") == (
        400,
        {
            "message": "Unknown query parameter 'api_key'",
            "errors": [{"path": ".query.api_key", "message": "Unknown query parameter 'api_key'"}],
        },
    )
    status, body = await api.get("/request?filter=mine")
    assert (status, body["errors"][0]["errorCode"]) == (400, "enum.openapi.validation")
    assert body["message"] == (
        "request.query.filter should be equal to one of the allowed values: "
        "all, approved, available, pending, processing, unavailable, failed"
    )
    status, body = await api.get("/movie/dune")
    assert (status, body["message"]) == (400, "request.params.movieId should be number")
    status, body = await api.post("/request", {"mediaType": "movie", "mediaId": str(DUNE)})
    assert (status, body["message"]) == (400, "request.body.mediaId should be number")
    status, body = await api.post("/request", {"mediaType": "book", "is4k": "no"})
    assert status == 400
    assert [error["path"] for error in body["errors"]] == [".body.mediaId", ".body.mediaType", ".body.is4k"]
    status, body = await api.post("/request", {"mediaType": "tv", "mediaId": GOT, "seasons": [1, -1]})
    assert status == 400
    assert body["errors"][0] == {
        "path": ".body.seasons[1]",
        "message": "should be >= 0",
        "errorCode": "minimum.openapi.validation",
    }
    assert body["errors"][-1]["message"] == "should match exactly one schema in oneOf"
    status, body = await api.post("/user/import-from-plex", {"plexIds": [501]})
    assert (status, body["message"]) == (400, "request.body.plexIds[0] should be string")
    # An unknown path, and the security check before the parameters.
    assert await api.get("/nothing/here") == (
        404,
        {"message": "not found", "errors": [{"path": "/api/v1/nothing/here", "message": "not found"}]},
    )
    status, body = await api.get("/search?query=a+b", headers={})
    assert (status, body["message"]) == (401, "cookie 'connect.sid' required")


# ---- users --------------------------------------------------------------------------------------------------------


async def test_users_are_paged_and_private_fields_are_for_managers(fake: FakeOverseerr, api: Api) -> None:
    alice = fake.add_user("alice", plex_id=501)
    fake.add_user("bob", plex_id=502)
    fake.add_user("carol", user_type=UserType.LOCAL, email="Carol@Example.org")
    status, page = await api.get("/user?take=2&skip=2")
    assert status == 200
    assert page["pageInfo"] == {"pages": 2, "pageSize": 2, "results": 4, "page": 2}
    assert [(u["id"], u["displayName"], u["email"], u["userType"]) for u in page["results"]] == [
        (3, "bob", "bob@example.org", 1),
        (4, "carol", "carol@example.org", 2),
    ]
    status, page = await api.get("/user", as_user=alice)
    assert status == 200
    assert page["pageInfo"] == {"pages": 1, "pageSize": 10, "results": 4, "page": 1}
    assert all("email" not in u and "plexId" not in u for u in page["results"])

    status, one = await api.get(f"/user/{alice.id}")
    assert (status, one["plexId"], one["plexUsername"], one["username"]) == (200, 501, "alice", None)
    assert await api.get("/user/99") == (404, {"message": "User not found."})


async def test_quotas_say_their_limit_use_and_window(fake: FakeOverseerr, api: Api) -> None:
    alice = fake.add_user("alice", quota_movie=2, quota_tv=3, quota_days=7)
    bob = fake.add_user("bob")
    await api.ask(alice, "movie", DUNE)
    await api.ask(alice, "tv", GOT, seasons=[1, 2])
    status, quota = await api.get(f"/user/{alice.id}/quota", as_user=alice)
    assert (status, quota) == (
        200,
        {
            "movie": {"days": 7, "limit": 2, "used": 1, "remaining": 1, "restricted": False},
            "tv": {"days": 7, "limit": 3, "used": 2, "remaining": 1, "restricted": False},
        },
    )
    assert (await api.get(f"/user/{bob.id}/quota", as_user=bob))[1] == {
        "movie": {"used": 0, "restricted": False},
        "tv": {"used": 0, "restricted": False},
    }
    assert await api.get(f"/user/{alice.id}/quota", as_user=bob) == (
        403,
        {"message": "You do not have permission to view this user's request limits."},
    )
    fake.advance(days=8)
    assert (await api.get(f"/user/{alice.id}/quota"))[1]["movie"]["used"] == 0


async def test_import_from_plex_creates_the_users_asked_for(fake: FakeOverseerr, api: Api) -> None:
    fake.add_plex_friend(501, "alice", "alice@example.org")
    fake.add_plex_friend(502, "bob")
    fake.add_plex_friend(503, "mallory", has_access=False)
    carol = fake.add_user("carol", user_type=UserType.LOCAL, email="carol@example.org")
    fake.add_plex_friend(504, "carol_plex", "carol@example.org")

    status, created = await api.post("/user/import-from-plex", {"plexIds": ["501", "503", "504"]})
    assert status == 201
    assert [(u["plexUsername"], u["permissions"], u["userType"]) for u in created] == [("alice", 32, 1)]
    assert "email" not in created[0]
    assert "plexId" not in created[0]
    # carol was a local user with the same address: she is now that Plex account, and not among those created.
    assert (carol.user_type, carol.plex_id, carol.plex_username) == (UserType.PLEX, 504, "carol_plex")
    assert [u.plex_id for u in fake.users if u.plex_id in (501, 502, 503)] == [501]

    status, created = await api.post("/user/import-from-plex")  # no body: everyone shared with
    assert (status, [u["plexUsername"] for u in created]) == (201, ["bob"])
    assert (await api.post("/user/import-from-plex", {"plexIds": ["501", "502"]}))[1] == []


# ---- titles -------------------------------------------------------------------------------------------------------


async def test_search_answers_overseerrs_shapes_with_media_info_once_tracked(fake: FakeOverseerr, api: Api) -> None:
    status, found = await api.get("/search?query=dune&page=1&language=en")
    assert status == 200
    assert (found["page"], found["totalPages"], found["totalResults"]) == (1, 1, 1)
    movie = found["results"][0]
    assert movie["mediaType"] == "movie"
    assert {
        "id",
        "title",
        "originalTitle",
        "releaseDate",
        "overview",
        "posterPath",
        "backdropPath",
        "popularity",
    } < set(movie)
    assert (movie["id"], movie["title"], movie["releaseDate"]) == (DUNE, "Dune", "2021-06-15")
    assert "mediaInfo" not in movie

    tv = (await api.get("/search?query=thrones"))[1]["results"][0]
    assert (tv["mediaType"], tv["name"], tv["firstAirDate"], tv["originCountry"]) == (
        "tv",
        "Game of Thrones",
        "2011-06-15",
        ["US"],
    )
    person = (await api.get("/search?query=chalamet"))[1]["results"][0]
    assert person == {
        "id": 1190668,
        "name": "Timothée Chalamet",
        "popularity": 5.0,
        "adult": False,
        "mediaType": "person",
        "profilePath": None,
        "knownFor": [],
    }

    await api.ask(fake.admin, "tv", GOT, seasons=[1])
    info = (await api.get("/search?query=thrones"))[1]["results"][0]["mediaInfo"]
    assert (info["tmdbId"], info["tvdbId"], info["mediaType"], info["status"], info["status4k"]) == (
        GOT,
        121361,
        "tv",
        MediaStatus.PROCESSING,  # the admin's request is approved at once
        MediaStatus.UNKNOWN,
    )
    assert "requests" not in info


async def test_search_pages_hold_twenty(fake: FakeOverseerr, api: Api) -> None:
    for n in range(25):
        fake.add_movie(900 + n, f"Saga part {n}", 2000 + n, popularity=100 - n)
    first = (await api.get("/search?query=saga%20part"))[1]
    second = (await api.get("/search?query=saga%20part&page=2"))[1]
    assert (first["totalPages"], first["totalResults"], len(first["results"])) == (2, 25, 20)
    assert [r["title"] for r in second["results"]] == [f"Saga part {n}" for n in range(20, 25)]


async def test_details_in_overseerrs_shapes(fake: FakeOverseerr, api: Api) -> None:
    status, movie = await api.get(f"/movie/{DUNE}")
    assert status == 200
    assert (movie["title"], movie["imdbId"], movie["externalIds"]["imdbId"], movie["status"]) == (
        "Dune",
        "tt1160419",
        "tt1160419",
        "Released",
    )
    assert "mediaInfo" not in movie
    status, tv = await api.get(f"/tv/{GOT}")
    assert (status, tv["numberOfSeasons"], tv["numberOfEpisodes"], tv["externalIds"]["tvdbId"]) == (200, 2, 20, 121361)
    assert [(s["seasonNumber"], s["episodeCount"], s["name"]) for s in tv["seasons"]] == [
        (0, 5, "Specials"),
        (1, 10, "Season 1"),
        (2, 10, "Season 2"),
    ]
    # Overseerr answers an id TMDB does not know with a 500.
    assert await api.get("/movie/424242") == (500, {"message": "Unable to retrieve movie."})
    assert await api.get("/tv/424242") == (500, {"message": "Unable to retrieve series."})

    alice = fake.add_user("alice")
    await api.ask(alice, "tv", GOT, seasons=[2])
    fake.make_available("tv", GOT, seasons=[1])
    info = (await api.get(f"/tv/{GOT}"))[1]["mediaInfo"]
    assert info["status"] == MediaStatus.PARTIALLY_AVAILABLE
    assert [(s["seasonNumber"], s["status"]) for s in info["seasons"]] == [(1, MediaStatus.AVAILABLE)]
    assert [(r["requestedBy"]["id"], [s["seasonNumber"] for s in r["seasons"]]) for r in info["requests"]] == [
        (alice.id, [2])
    ]
    assert info["plexUrl"].startswith(f"https://app.plex.tv/desktop#!/server/{fake.machine_id}/details?key=")


# ---- requests -----------------------------------------------------------------------------------------------------


async def test_a_film_request_from_pending_to_available(fake: FakeOverseerr, api: Api, receiver: Receiver) -> None:
    fake.configure_webhook(receiver.url, "Bearer s3cret")
    alice = fake.add_user("alice", plex_id=501)
    bob = fake.add_user("bob")
    status, made = await api.ask(alice, "movie", DUNE)
    assert status == 201
    assert (made["status"], made["type"], made["is4k"], made["seasons"], made["modifiedBy"]) == (
        MediaRequestStatus.PENDING,
        "movie",
        False,
        [],
        None,
    )
    assert (made["requestedBy"]["id"], made["requestedBy"]["plexId"]) == (alice.id, 501)
    assert (made["media"]["tmdbId"], made["media"]["status"]) == (DUNE, MediaStatus.PENDING)
    assert made["createdAt"].endswith("Z")

    assert await api.ask(bob, "movie", DUNE) == (409, {"message": "Request for this media already exists."})

    status, approved = await api.post(f"/request/{made['id']}/approve")
    assert (status, approved["status"], approved["modifiedBy"]["id"]) == (200, MediaRequestStatus.APPROVED, 1)
    assert fake.media("movie", DUNE).status == MediaStatus.PROCESSING  # type: ignore[union-attr]
    fake.make_available("movie", DUNE, rating_key="4242")
    status, seen = await api.get(f"/request/{made['id']}", as_user=alice)
    assert (status, seen["media"]["status"], seen["media"]["ratingKey"]) == (200, MediaStatus.AVAILABLE, "4242")

    await fake.settle()
    assert [(auth, body["notification_type"], body["media"]["status"]) for auth, body in receiver.received] == [
        ("Bearer s3cret", "MEDIA_PENDING", "PENDING"),
        ("Bearer s3cret", "MEDIA_APPROVED", "PENDING"),
        ("Bearer s3cret", "MEDIA_AVAILABLE", "AVAILABLE"),
    ]
    pending = receiver.received[0][1]
    assert pending == {
        "notification_type": "MEDIA_PENDING",
        "event": "New Movie Request",
        "subject": "Dune (2021)",
        "message": "A duke's son on a desert planet.",
        "image": f"https://image.tmdb.org/t/p/w600_and_h900_bestv2{fake.title('movie', DUNE).poster_path}",
        "media": {"media_type": "movie", "tmdbId": str(DUNE), "tvdbId": "", "status": "PENDING", "status4k": "UNKNOWN"},
        "request": {
            "request_id": str(made["id"]),
            "requestedBy_email": "alice@example.org",
            "requestedBy_username": "alice",
            "requestedBy_avatar": alice.avatar,
            "requestedBy_settings_discordId": "",
            "requestedBy_settings_telegramChatId": "",
        },
        "issue": None,
        "comment": None,
        "extra": [],
    }
    assert [body["event"] for _, body in receiver.received[1:]] == [
        "Movie Request Approved",
        "Movie Request Now Available",
    ]


async def test_a_series_request_takes_only_seasons_not_yet_asked_for(
    fake: FakeOverseerr, api: Api, receiver: Receiver
) -> None:
    fake.configure_webhook(receiver.url)
    alice = fake.add_user("alice")
    bob = fake.add_user("bob")
    status, first = await api.ask(alice, "tv", GOT, seasons=[1])
    assert (status, [s["seasonNumber"] for s in first["seasons"]]) == (201, [1])
    status, second = await api.ask(bob, "tv", GOT, seasons=[1, 2])
    assert (status, [(s["seasonNumber"], s["status"]) for s in second["seasons"]]) == (201, [(2, 1)])
    assert await api.ask(bob, "tv", GOT, seasons=[1, 2]) == (202, {"message": "No seasons available to request"})
    status, everything = await api.ask(bob, "tv", GOT, seasons="all")
    assert (status, [s["seasonNumber"] for s in everything["seasons"]]) == (201, [0])  # "all" holds the specials

    # Season 1 arrives: alice's request (season 1 only) is complete, bob's (season 2) is not.
    fake.make_available("tv", GOT, seasons=[1])
    await fake.settle()
    available = [body for _, body in receiver.received if body["notification_type"] == "MEDIA_AVAILABLE"]
    assert [(b["request"]["request_id"], b["extra"], b["media"]["status"]) for b in available] == [
        (str(first["id"]), [{"name": "Requested Seasons", "value": "1"}], "PARTIALLY_AVAILABLE")
    ]
    assert await api.ask(alice, "tv", GOT, seasons=[1]) == (202, {"message": "No seasons available to request"})
    pending = receiver.received[1][1]
    assert (pending["event"], pending["subject"], pending["media"]["tvdbId"], pending["extra"]) == (
        "New Series Request",
        "Game of Thrones (2011)",
        "121361",
        [{"name": "Requested Seasons", "value": "2"}],
    )


async def test_permissions_decide_who_may_request_and_who_is_approved_at_once(
    fake: FakeOverseerr, api: Api, receiver: Receiver
) -> None:
    fake.configure_webhook(receiver.url)
    viewer = fake.add_user("viewer", permissions=Permission.NONE)
    trusted = fake.add_user("trusted", permissions=Permission.REQUEST | Permission.AUTO_APPROVE)
    films_only = fake.add_user("films", permissions=Permission.REQUEST_MOVIE)
    assert await api.ask(viewer, "movie", DUNE) == (
        403,
        {"message": "You do not have permission to make movie requests."},
    )
    assert await api.ask(films_only, "tv", GOT, seasons=[1]) == (
        403,
        {"message": "You do not have permission to make series requests."},
    )
    assert await api.ask(trusted, "movie", DUNE, is4k=True) == (
        403,
        {"message": "You do not have permission to make 4K movie requests."},
    )
    status, made = await api.ask(trusted, "movie", DUNE)
    assert (status, made["status"], made["modifiedBy"]["id"]) == (201, MediaRequestStatus.APPROVED, trusted.id)
    assert fake.media("movie", DUNE).status == MediaStatus.PROCESSING  # type: ignore[union-attr]
    status, made = await api.ask(films_only, "movie", ARRIVAL)
    assert (status, made["status"]) == (201, MediaRequestStatus.PENDING)
    # Only the key's user may name someone else as the requester.
    assert await api.ask(films_only, "movie", ARRIVAL, userId=trusted.id) == (
        403,
        {"message": "You do not have permission to modify the request user."},
    )
    await fake.settle()
    assert [(body["notification_type"], body["event"]) for _, body in receiver.received] == [
        ("MEDIA_AUTO_APPROVED", "Movie Request Automatically Approved"),
        ("MEDIA_PENDING", "New Movie Request"),
    ]


async def test_quotas_refuse_past_the_limit_until_the_window_moves_on(fake: FakeOverseerr, api: Api) -> None:
    alice = fake.add_user("alice", quota_movie=1, quota_tv=2, quota_days=7)
    manager = fake.add_user("manager", permissions=Permission.REQUEST | Permission.MANAGE_USERS, quota_movie=1)
    assert (await api.ask(alice, "movie", DUNE))[0] == 201
    assert await api.ask(alice, "movie", ARRIVAL) == (403, {"message": "Movie Quota exceeded."})
    assert await api.ask(alice, "tv", GOT, seasons=[0, 1, 2]) == (403, {"message": "Series Quota exceeded."})
    assert (await api.ask(alice, "tv", GOT, seasons=[1, 2]))[0] == 201
    fake.add_tv(1396, "Breaking Bad", 2008)
    assert await api.ask(alice, "tv", 1396, seasons=[1]) == (403, {"message": "Series Quota exceeded."})
    # A declined request no longer counts; a week later nothing does.
    await api.post(f"/request/{fake.requests[0].id}/decline")
    assert (await api.ask(alice, "movie", ARRIVAL))[0] == 201
    fake.advance(days=8)
    assert (await api.ask(alice, "tv", 1396, seasons=[1]))[0] == 201
    # Managing users goes past quotas.
    assert (await api.ask(manager, "movie", 550))[0] == 500  # an id TMDB does not know
    fake.add_movie(550, "Fight Club", 1999)
    fake.add_movie(680, "Pulp Fiction", 1994)
    assert (await api.ask(manager, "movie", 550))[0] == 201
    assert (await api.ask(manager, "movie", 680))[0] == 201


async def test_request_lists_count_and_visibility(fake: FakeOverseerr, api: Api) -> None:
    alice = fake.add_user("alice")
    bob = fake.add_user("bob")
    viewer = fake.add_user("viewer", permissions=Permission.REQUEST_VIEW)
    _, dune = await api.ask(alice, "movie", DUNE)
    _, arrival = await api.ask(bob, "movie", ARRIVAL)
    _, got = await api.ask(alice, "tv", GOT, seasons=[1])
    await api.post(f"/request/{arrival['id']}/approve")
    fake.make_available("movie", ARRIVAL)

    status, mine = await api.get("/request", as_user=alice)
    assert status == 200
    assert [r["id"] for r in mine["results"]] == [got["id"], dune["id"]]  # newest first, only hers
    assert mine["pageInfo"] == {"pages": 1, "pageSize": 10, "results": 2, "page": 1}
    assert "seasons" not in mine["results"][0]["media"]
    assert mine["results"][0]["seasonCount"] == 1
    assert await api.get(f"/request?requestedBy={bob.id}", as_user=alice) == (
        403,
        {"message": "You do not have permission to view this user's requests."},
    )
    assert [r["id"] for r in (await api.get(f"/request?requestedBy={bob.id}", as_user=viewer))[1]["results"]] == [
        arrival["id"]
    ]
    everyone = (await api.get("/request?take=2&skip=0"))[1]
    assert (everyone["pageInfo"], len(everyone["results"])) == ({"pages": 2, "pageSize": 2, "results": 3, "page": 1}, 2)
    for chosen, expected in (
        ("pending", [got["id"], dune["id"]]),
        ("approved", [arrival["id"]]),
        ("available", [arrival["id"]]),
        ("processing", []),
        ("unavailable", [got["id"], dune["id"]]),
        ("all", [got["id"], arrival["id"], dune["id"]]),
    ):
        assert [r["id"] for r in (await api.get(f"/request?filter={chosen}"))[1]["results"]] == expected, chosen
    assert (await api.get("/request/count", as_user=alice))[1] == {
        "total": 3,
        "movie": 2,
        "tv": 1,
        "pending": 2,
        "approved": 1,
        "declined": 0,
        "processing": 0,
        "available": 1,
    }
    assert await api.get(f"/request/{arrival['id']}", as_user=alice) == (
        403,
        {"message": "You do not have permission to view this request."},
    )
    assert await api.get("/request/999") == (404, {"message": "Request not found."})


async def test_removing_and_declining(fake: FakeOverseerr, api: Api, receiver: Receiver) -> None:
    fake.configure_webhook(receiver.url)
    alice = fake.add_user("alice")
    bob = fake.add_user("bob")
    _, dune = await api.ask(alice, "movie", DUNE)
    _, arrival = await api.ask(alice, "movie", ARRIVAL)
    await api.post(f"/request/{arrival['id']}/approve")
    # Overseerr refuses only someone removing another's request that is no longer pending.
    assert await api.call("DELETE", f"/request/{arrival['id']}", as_user=bob) == (
        401,
        {"message": "You do not have permission to delete this request."},
    )
    assert await api.call("DELETE", f"/request/{dune['id']}", as_user=alice) == (204, "")
    assert fake.media("movie", DUNE).status == MediaStatus.UNKNOWN  # type: ignore[union-attr]
    assert await api.call("DELETE", f"/request/{dune['id']}") == (404, {"message": "Request not found."})

    status, declined = await api.post(f"/request/{arrival['id']}/decline")
    assert (status, declined["status"]) == (200, MediaRequestStatus.DECLINED)
    assert fake.media("movie", ARRIVAL).status == MediaStatus.UNKNOWN  # type: ignore[union-attr]
    assert await api.post("/request/999/approve") == (404, {"message": "Request not found."})
    status, body = await api.post(f"/request/{arrival['id']}/pending")
    assert (status, body["errors"][0]["path"]) == (400, ".params.status")
    fake.fail(arrival["id"])
    await fake.settle()
    assert [body["notification_type"] for _, body in receiver.received] == [
        "MEDIA_PENDING",
        "MEDIA_PENDING",
        "MEDIA_APPROVED",
        "MEDIA_DECLINED",
        "MEDIA_FAILED",
    ]
    assert receiver.received[-1][1]["event"] == "Movie Request Failed"


async def test_available_media_approves_pending_requests_without_saying_approved(
    fake: FakeOverseerr, api: Api, receiver: Receiver
) -> None:
    fake.configure_webhook(receiver.url)
    alice = fake.add_user("alice")
    _, made = await api.ask(alice, "movie", DUNE)
    fake.make_available("movie", DUNE)
    assert fake.request(made["id"]).status == MediaRequestStatus.APPROVED
    fake.make_available("movie", DUNE)  # already there: nobody is told again
    await fake.settle()
    assert [body["notification_type"] for _, body in receiver.received] == ["MEDIA_PENDING", "MEDIA_AVAILABLE"]


# ---- the webhook agent and the switches ---------------------------------------------------------------------------


async def test_webhook_types_drops_duplicates_and_tests(fake: FakeOverseerr, api: Api, receiver: Receiver) -> None:
    alice = fake.add_user("alice")
    await api.ask(alice, "movie", DUNE)  # no agent yet: nothing is sent
    fake.configure_webhook(receiver.url, "secret", types=Notification.MEDIA_AVAILABLE | Notification.MEDIA_DECLINED)
    await api.ask(alice, "movie", ARRIVAL)  # pending is not among the types
    fake.drop_webhooks = 1
    await api.post(f"/request/{fake.requests[1].id}/decline")
    fake.make_available("movie", DUNE)
    await fake.settle()
    assert [(d.notification, d.dropped, d.status) for d in fake.webhook_deliveries] == [
        (Notification.MEDIA_DECLINED, True, None),
        (Notification.MEDIA_AVAILABLE, False, 200),
    ]
    fake.resend()
    fake.send_test_webhook()
    await fake.settle()
    assert [body["notification_type"] for _, body in receiver.received] == [
        "MEDIA_AVAILABLE",
        "MEDIA_AVAILABLE",
        "TEST_NOTIFICATION",
    ]
    assert receiver.received[0] == receiver.received[1]
    assert fake.webhook_deliveries[-2].resent
    test = receiver.received[-1][1]
    assert (test["subject"], test["message"], test["media"], test["request"]) == (
        "Test Notification",
        "Check check, 1, 2, 3. Are we coming in clear?",
        None,
        None,
    )


async def test_an_unreachable_receiver_is_recorded(fake: FakeOverseerr, api: Api) -> None:
    fake.configure_webhook(f"http://127.0.0.1:{free_port()}/hook")  # nothing listens there
    await api.ask(fake.add_user("alice"), "movie", DUNE)
    await fake.settle()
    (delivery,) = fake.webhook_deliveries
    assert (delivery.status, delivery.dropped) == (None, False)
    assert delivery.error


async def test_down_answers_503_and_hang_never_answers(fake: FakeOverseerr, api: Api, http: Any) -> None:
    fake.down = True
    assert await api.get("/status") == (503, "Service Unavailable")
    fake.down = False
    fake.hang = True
    with pytest.raises(TimeoutError):
        await http.get(f"{fake.api_url}/status", timeout=aiohttp.ClientTimeout(total=0.3))
    assert [call.path for call in fake.calls] == ["/api/v1/status", "/api/v1/status"]
    assert fake.count("/api/v1/status") == 2
