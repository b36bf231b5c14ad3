"""The client of Overseerr, against the fake: it asks as the person (``X-API-User`` carries their Overseerr id),
encodes a search so that Overseerr's validator takes it, structures every answer, and tells what became of a
request (created, nothing left to request, a duplicate, refused by a permission or a quota) in Overseerr's words."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from medianest_overseerr.client import (
    MediaRequestStatus,
    MediaStatus,
    MediaType,
    NoSuchUser,
    Notification,
    OutcomeKind,
    OverseerrClient,
    Permission,
    RefusalReason,
    RequestFilter,
    UserType,
    auto_approved,
    has_permission,
    may_request,
    overseerr_headers,
    parse_webhook,
    search_text,
    with_query,
)
from medianest_overseerr.fake import FakeOverseerr

from medianest_core.upstream import (
    AuthFailed,
    BadResponse,
    BreakerState,
    NotFound,
    Unavailable,
    Upstream,
    UpstreamConfig,
    deadline,
)

DUNE = 438631
ARRIVAL = 329865
GOT = 1399
FAST = UpstreamConfig(wait_initial=0.01, wait_max=0.05, breaker_failures=1000)


@pytest.fixture
async def fake() -> AsyncIterator[FakeOverseerr]:
    overseerr = FakeOverseerr()
    overseerr.add_movie(DUNE, "Dune", 2021, imdb_id="tt1160419")
    overseerr.add_movie(ARRIVAL, "Arrival", 2016)
    overseerr.add_movie(10681, "Mission: Impossible", 1996)
    overseerr.add_movie(424, "Schindler's List", 1993)
    overseerr.add_tv(GOT, "Game of Thrones", 2011, seasons={0: 5, 1: 10, 2: 10, 3: 10}, tvdb_id=121361)
    overseerr.add_person(1190668, "Timothée Chalamet")
    await overseerr.start()
    yield overseerr
    await overseerr.stop()


@pytest.fixture
async def client(fake: FakeOverseerr) -> AsyncIterator[OverseerrClient]:
    upstream = Upstream("overseerr", fake.api_url, headers=overseerr_headers(fake.api_key), config=FAST)
    yield OverseerrClient(upstream)
    await upstream.close()


def calls_to(fake: FakeOverseerr, method: str, path: str) -> list[Any]:
    return [call for call in fake.calls if (call.method, call.path) == (method, f"/api/v1{path}")]


async def test_status_settings_and_who_the_key_is(fake: FakeOverseerr, client: OverseerrClient) -> None:
    status = await client.status()
    assert (status.version, status.updateAvailable) == ("1.34.0", False)
    fake.series_4k = True
    settings = await client.public_settings()
    assert (settings.initialized, settings.movie4kEnabled, settings.series4kEnabled) == (True, False, True)
    me = await client.me()
    assert (me.id, me.displayName, me.permissions, me.plexId) == (1, "owner", Permission.ADMIN, 1000)
    assert calls_to(fake, "GET", "/auth/me")[-1].headers["X-Api-Key"] == fake.api_key


async def test_a_wrong_key_is_auth_failed(fake: FakeOverseerr) -> None:
    upstream = Upstream("overseerr", fake.api_url, headers=overseerr_headers("wrong"), config=FAST)
    try:
        with pytest.raises(AuthFailed):
            await OverseerrClient(upstream).me()
        assert (await OverseerrClient(upstream).status()).version == "1.34.0"  # public: answers anyway
    finally:
        await upstream.close()


async def test_search_is_encoded_so_that_overseerr_takes_it(fake: FakeOverseerr, client: OverseerrClient) -> None:
    found = await client.search("game of thrones", language="en")
    assert [(r.mediaType, r.id, r.name, r.firstAirDate) for r in found.results] == [
        ("tv", GOT, "Game of Thrones", "2011-06-15")
    ]
    raw = calls_to(fake, "GET", "/search")[-1].raw_query
    assert raw == "query=game%20of%20thrones&page=1&language=en"
    assert "+" not in raw

    # Punctuation that cannot travel encoded is left out; the title is found all the same.
    assert [r.title for r in (await client.search("Mission: Impossible")).results] == ["Mission: Impossible"]
    assert [r.title for r in (await client.search("schindler's list")).results] == ["Schindler's List"]
    assert [r.title for r in (await client.search("C++ & more = (a/b)?")).results] == []
    assert [call.raw_query for call in calls_to(fake, "GET", "/search")[-3:]] == [
        "query=Mission%20Impossible&page=1",
        "query=schindlers%20list&page=1",
        "query=C%2B%2B%20%26%20more%20%3D%20a%20b&page=1",
    ]
    person = (await client.search("chalamet")).results[0]
    assert (person.mediaType, person.name, person.mediaInfo) == ("person", "Timothée Chalamet", None)


def test_search_text_and_query_strings() -> None:
    assert (
        search_text("Mission: Impossible - Dead Reckoning (Part One)") == "Mission Impossible - Dead Reckoning Part One"
    )
    assert search_text("  Who's   afraid?  ") == "Whos afraid"
    assert with_query("/request", {"take": 10, "requestedBy": None, "filter": "all"}) == "/request?take=10&filter=all"
    assert with_query("/search", {"query": "a b+c"}) == "/search?query=a%20b%2Bc"


async def test_details_and_media_info_are_structured(fake: FakeOverseerr, client: OverseerrClient) -> None:
    movie = await client.movie(DUNE)
    assert (movie.title, movie.imdbId, movie.externalIds.imdbId, movie.mediaInfo) == (
        "Dune",
        "tt1160419",
        "tt1160419",
        None,
    )
    alice = fake.add_user("alice")
    await client.request(alice.id, MediaType.TV, GOT, seasons=[2])
    fake.make_available("tv", GOT, seasons=[1], rating_key="777")
    tv = await client.tv(GOT)
    assert (tv.name, tv.numberOfSeasons, tv.externalIds.tvdbId) == ("Game of Thrones", 3, 121361)
    assert [(s.seasonNumber, s.episodeCount) for s in tv.seasons] == [(0, 5), (1, 10), (2, 10), (3, 10)]
    info = tv.mediaInfo
    assert info is not None
    assert (info.status, info.ratingKey, info.tvdbId) == (MediaStatus.PARTIALLY_AVAILABLE, "777", 121361)
    assert [(s.seasonNumber, s.status) for s in info.seasons] == [(1, MediaStatus.AVAILABLE)]
    assert [(r.requestedBy.id if r.requestedBy else None, r.season_numbers) for r in info.requests] == [(alice.id, [2])]
    result = (await client.search("thrones")).results[0]
    assert result.mediaInfo is not None
    assert result.mediaInfo.status == MediaStatus.PARTIALLY_AVAILABLE
    # An id TMDB does not know: Overseerr answers 500, which says "no such title", not "Overseerr is down".
    for _ in range(client.upstream.config.breaker_failures + 1):
        with pytest.raises(NotFound):
            await client.movie(424242)
    assert client.upstream.breaker.state is BreakerState.CLOSED


async def test_users_and_the_import_from_plex(fake: FakeOverseerr, client: OverseerrClient) -> None:
    fake.add_user("alice", plex_id=501)
    fake.add_user("carol", user_type=UserType.LOCAL)
    page = await client.users(take=2, skip=0)
    assert (page.pageInfo.results, page.pageInfo.pages) == (3, 2)
    assert [(u.id, u.displayName, u.plexId) for u in page.results] == [(1, "owner", 1000), (2, "alice", 501)]
    carol = await client.user(3)
    assert (carol.userType, carol.username, carol.plexUsername) == (UserType.LOCAL, "carol", None)
    with pytest.raises(NotFound):
        await client.user(42)

    fake.add_plex_friend(502, "bob")
    fake.add_plex_friend(503, "dave")
    created = await client.import_from_plex([502])
    assert [(u.plexUsername, u.plexId, u.email, u.permissions) for u in created] == [
        ("bob", None, None, Permission.REQUEST)
    ]
    assert calls_to(fake, "POST", "/user/import-from-plex")[-1].body == {"plexIds": ["502"]}
    assert [u.plexId for u in (await client.users(take=10)).results] == [1000, 501, None, 502]


async def test_a_request_is_made_as_the_person_asking(fake: FakeOverseerr, client: OverseerrClient) -> None:
    alice = fake.add_user("alice", plex_id=501)
    outcome = await client.request(alice.id, MediaType.MOVIE, DUNE)
    assert outcome.created
    made = outcome.request
    assert made is not None
    assert (made.status, made.type, made.is4k) == (MediaRequestStatus.PENDING, MediaType.MOVIE, False)
    assert made.requestedBy is not None
    assert made.requestedBy.id == alice.id
    assert made.media is not None
    assert made.media.status == MediaStatus.PENDING
    call = calls_to(fake, "POST", "/request")[-1]
    assert call.headers["X-API-User"] == str(alice.id)
    assert call.headers["X-Api-Key"] == fake.api_key
    assert call.body == {"mediaType": "movie", "mediaId": DUNE, "is4k": False}
    assert fake.request(made.id).requested_by is alice


async def test_a_series_request_with_some_seasons_then_nothing_left(
    fake: FakeOverseerr, client: OverseerrClient
) -> None:
    alice = fake.add_user("alice")
    bob = fake.add_user("bob")
    first = await client.request(alice.id, MediaType.TV, GOT, seasons=[1, 2])
    assert first.request is not None
    assert first.request.season_numbers == [1, 2]
    second = await client.request(bob.id, "tv", GOT, seasons=[2, 3])  # type: ignore[arg-type]
    assert second.request is not None
    assert second.request.season_numbers == [3]
    assert calls_to(fake, "POST", "/request")[-1].body["seasons"] == [2, 3]
    again = await client.request(bob.id, MediaType.TV, GOT, seasons=[1, 3])
    assert (again.kind, again.message, again.request) == (
        OutcomeKind.NOTHING_TO_REQUEST,
        "No seasons available to request",
        None,
    )
    everything = await client.request(bob.id, MediaType.TV, GOT)  # "all": what is left is the specials
    assert calls_to(fake, "POST", "/request")[-1].body["seasons"] == "all"
    assert everything.request is not None
    assert everything.request.season_numbers == [0]


async def test_a_duplicate_and_each_refusal_in_overseerrs_words(fake: FakeOverseerr, client: OverseerrClient) -> None:
    alice = fake.add_user("alice", quota_movie=1, quota_tv=2, quota_days=7)
    bob = fake.add_user("bob")
    viewer = fake.add_user("viewer", permissions=Permission.NONE)
    assert (await client.request(alice.id, MediaType.MOVIE, DUNE)).created

    duplicate = await client.request(bob.id, MediaType.MOVIE, DUNE)
    assert (duplicate.kind, duplicate.message) == (OutcomeKind.DUPLICATE, "Request for this media already exists.")

    refused = await client.request(alice.id, MediaType.MOVIE, ARRIVAL)
    assert (refused.kind, refused.reason, refused.message) == (
        OutcomeKind.REFUSED,
        RefusalReason.QUOTA,
        "Movie Quota exceeded.",
    )
    assert refused.quota is not None
    assert (refused.quota.limit, refused.quota.used, refused.quota.days, refused.quota.remaining) == (1, 1, 7, 0)

    too_many = await client.request(alice.id, MediaType.TV, GOT, seasons=[1, 2, 3])
    assert (too_many.reason, too_many.message) == (RefusalReason.QUOTA, "Series Quota exceeded.")
    assert too_many.quota is not None
    assert too_many.quota.remaining == 2
    assert (await client.request(alice.id, MediaType.TV, GOT, seasons=[1, 2])).created

    no_right = await client.request(viewer.id, MediaType.MOVIE, ARRIVAL)
    assert (no_right.kind, no_right.reason, no_right.message) == (
        OutcomeKind.REFUSED,
        RefusalReason.PERMISSION,
        "You do not have permission to make movie requests.",
    )
    no_4k = await client.request(bob.id, MediaType.TV, GOT, seasons=[3], is4k=True)
    assert (no_4k.reason, no_4k.message) == (
        RefusalReason.PERMISSION,
        "You do not have permission to make 4K series requests.",
    )
    fake.advance(days=8)
    assert (await client.request(alice.id, MediaType.MOVIE, ARRIVAL)).created


async def test_an_unknown_asker_and_a_refused_key_are_errors(fake: FakeOverseerr, client: OverseerrClient) -> None:
    with pytest.raises(NoSuchUser):
        await client.request(77, MediaType.MOVIE, DUNE)
    assert fake.requests == []
    upstream = Upstream("overseerr", fake.api_url, headers=overseerr_headers("wrong"), config=FAST)
    try:
        with pytest.raises(AuthFailed) as refused:
            await OverseerrClient(upstream).request(1, MediaType.MOVIE, DUNE)
        assert not isinstance(refused.value, NoSuchUser)
    finally:
        await upstream.close()


async def test_listing_reading_removing_approving_and_declining(fake: FakeOverseerr, client: OverseerrClient) -> None:
    alice = fake.add_user("alice")
    bob = fake.add_user("bob")
    dune = (await client.request(alice.id, MediaType.MOVIE, DUNE)).request
    arrival = (await client.request(bob.id, MediaType.MOVIE, ARRIVAL)).request
    got = (await client.request(alice.id, MediaType.TV, GOT, seasons=[1])).request
    assert dune is not None
    assert arrival is not None
    assert got is not None

    mine = await client.requests(as_user=alice.id)
    assert [r.id for r in mine.results] == [got.id, dune.id]
    assert calls_to(fake, "GET", "/request")[-1].headers["X-API-User"] == str(alice.id)
    with pytest.raises(AuthFailed):
        await client.requests(requested_by=bob.id, as_user=alice.id)
    everyone = await client.requests(take=2)
    assert (everyone.pageInfo.pages, everyone.pageInfo.results, len(everyone.results)) == (2, 3, 2)
    assert [r.id for r in (await client.requests(requested_by=bob.id)).results] == [arrival.id]

    approved = await client.approve(arrival.id)
    assert approved.status == MediaRequestStatus.APPROVED
    assert approved.modifiedBy is not None
    assert approved.modifiedBy.id == 1
    declined = await client.decline(got.id)
    assert declined.status == MediaRequestStatus.DECLINED
    fake.make_available("movie", ARRIVAL)
    assert [r.id for r in (await client.requests(filter=RequestFilter.AVAILABLE)).results] == [arrival.id]
    count = await client.request_count()
    assert (count.total, count.pending, count.approved, count.declined, count.available) == (3, 1, 1, 1, 1)

    seen = await client.get_request(got.id, as_user=alice.id)
    assert (seen.season_numbers, seen.media.seasons if seen.media else None) == ([1], [])
    with pytest.raises(AuthFailed):
        await client.get_request(arrival.id, as_user=alice.id)
    await client.delete_request(dune.id, as_user=alice.id)
    assert calls_to(fake, "DELETE", f"/request/{dune.id}")[-1].headers["X-API-User"] == str(alice.id)
    with pytest.raises(NotFound):
        await client.get_request(dune.id)
    with pytest.raises(AuthFailed):  # another's request, no longer pending
        await client.delete_request(arrival.id, as_user=alice.id)


async def test_quota_of_a_user(fake: FakeOverseerr, client: OverseerrClient) -> None:
    alice = fake.add_user("alice", quota_tv=3, quota_days=14)
    await client.request(alice.id, MediaType.TV, GOT, seasons=[1, 2])
    quota = await client.quota(alice.id, as_user=alice.id)
    assert (quota.tv.limit, quota.tv.used, quota.tv.remaining, quota.tv.days, quota.tv.restricted) == (
        3,
        2,
        1,
        14,
        False,
    )
    assert (quota.movie.limit, quota.movie.restricted) == (None, False)


async def test_webhook_payloads_of_the_fake_parse(fake: FakeOverseerr, client: OverseerrClient) -> None:
    fake.configure_webhook("http://127.0.0.1:9/unused")  # deliveries fail; their payloads are what is checked
    alice = fake.add_user("alice")
    made = (await client.request(alice.id, MediaType.TV, GOT, seasons=[1, 2])).request
    assert made is not None
    fake.make_available("tv", GOT, seasons=[1, 2])
    await fake.settle()
    received = [parse_webhook(d.payload) for d in fake.webhook_deliveries]
    assert [(p.notification, p.request_id, p.requested_seasons) for p in received] == [
        (Notification.MEDIA_PENDING, made.id, [1, 2]),
        (Notification.MEDIA_AVAILABLE, made.id, [1, 2]),
    ]
    assert received[1].media is not None
    assert received[1].media.status == "PARTIALLY_AVAILABLE"  # season 3 is not there
    test = parse_webhook(
        {"notification_type": "TEST_NOTIFICATION", "subject": "Test Notification", "media": None, "extra": []}
    )
    assert (test.notification, test.request_id, test.requested_seasons) == (Notification.TEST_NOTIFICATION, None, [])
    with pytest.raises(BadResponse):
        parse_webhook({"event": "no type"})


async def test_overseerr_down_or_hanging_is_unavailable(fake: FakeOverseerr, client: OverseerrClient) -> None:
    fake.down = True
    with pytest.raises(Unavailable):
        await client.status()
    fake.down = False
    fake.hang = True
    with deadline(0.3), pytest.raises(Unavailable):
        await client.search("dune")


def test_permission_checks_follow_overseerr() -> None:
    assert has_permission(Permission.ADMIN, [Permission.MANAGE_USERS, Permission.MANAGE_REQUESTS])
    assert not has_permission(Permission.MANAGE_USERS, [Permission.MANAGE_USERS, Permission.MANAGE_REQUESTS])
    assert has_permission(Permission.MANAGE_USERS, [Permission.MANAGE_USERS, Permission.MANAGE_REQUESTS], any_of=True)
    assert may_request(Permission.REQUEST, MediaType.TV)
    assert may_request(Permission.REQUEST_MOVIE, MediaType.MOVIE)
    assert not may_request(Permission.REQUEST_MOVIE, MediaType.TV)
    assert not may_request(Permission.REQUEST, MediaType.MOVIE, is4k=True)
    assert may_request(Permission.REQUEST_4K_TV, MediaType.TV, is4k=True)
    assert auto_approved(Permission.MANAGE_REQUESTS, MediaType.MOVIE)
    assert auto_approved(Permission.AUTO_APPROVE_TV, MediaType.TV)
    assert not auto_approved(Permission.AUTO_APPROVE_TV, MediaType.MOVIE)
    assert not auto_approved(Permission.AUTO_APPROVE, MediaType.MOVIE, is4k=True)
