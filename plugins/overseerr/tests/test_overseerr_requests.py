"""The Overseerr plugin's JSON API, against the fake Overseerr: asking as oneself, refusals in plain words (ours and
Overseerr's), following, cancelling and deciding requests, watches, the admin's links, and the webhook."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from medianest_overseerr import OverseerrPlugin
from medianest_overseerr.client import MediaRequestStatus, Permission, UserType
from medianest_overseerr.fake import FakeCall, FakeOverseerr
from medianest_overseerr.models import Link, Request, Watch
from overseerr_harness import WEBHOOK_SECRET, Person, Setup, setup
from sqlalchemy import func, select

from medianest_core.testing import entry_point, sign_in

REQUESTS = "/api/v1/overseerr/requests"
DUNE = 438631
ARRIVAL = 329865
SEVERANCE = 95396


@pytest.fixture
async def fake() -> AsyncIterator[FakeOverseerr]:
    made = FakeOverseerr()
    made.add_movie(DUNE, "Dune", 2021)
    made.add_movie(ARRIVAL, "Arrival", 2016)
    made.add_tv(SEVERANCE, "Severance", 2022, {1: 9, 2: 10, 3: 10})
    await made.start()
    yield made
    await made.stop()


@pytest.fixture
def medianest(medianest_client: Any, medianest_database_url: str) -> Callable[..., Callable[..., Awaitable[Any]]]:
    """``medianest_client`` on each database (SQLite, and PostgreSQL when it runs), with core settings added."""

    def on(**core: Any) -> Callable[..., Awaitable[Any]]:
        async def make(**kwargs: Any) -> Any:
            return await medianest_client(**({"database_url": medianest_database_url} | core | kwargs))

        return make

    return on


async def started(medianest: Callable[..., Any], fake: FakeOverseerr, *, core: Any = None, **settings: Any) -> Setup:
    return await setup(medianest(**(core or {})), fake, **settings)


def asked(fake: FakeOverseerr) -> list[FakeCall]:
    """The requests MediaNest made in Overseerr (``POST /request``)."""
    return [c for c in fake.calls if c.method == "POST" and c.path == "/api/v1/request"]


async def reconciled(fake: FakeOverseerr) -> None:
    """Wait until the reconciliation run at start-up has read Overseerr's requests."""
    for _ in range(200):
        if any(c.method == "GET" and c.path == "/api/v1/request" for c in fake.calls):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the reconciliation did not run")


async def rows(s: Setup) -> list[Request]:
    async with s.runtime.sessions() as db:
        return list((await db.scalars(select(Request).order_by(Request.id))).all())


async def quota_used(person: Person) -> int:
    status, body = await person.call("GET", "/api/v1/me/quotas")
    assert status == 200, body
    used: int = next(q["used"] for q in body["quotas"] if q["name"] == "overseerr.requests")
    return used


async def film(person: Person, tmdb_id: int = DUNE, **extra: Any) -> tuple[int, Any]:
    answer: tuple[int, Any] = await person.call("POST", REQUESTS, json={"kind": "movie", "tmdb_id": tmdb_id, **extra})
    return answer


async def set_quota(admin: Person, user: Person, limit: int) -> None:
    status, body = await admin.call(
        "PATCH", f"/api/v1/admin/users/{user.user_id}", json={"quotas": {"overseerr.requests": limit}}
    )
    assert status == 200, body


# ---- asking as oneself ---------------------------------------------------------------------------------------------


async def test_a_film_is_requested_as_the_person_asking(medianest: Any, fake: FakeOverseerr) -> None:
    s = await started(medianest, fake)
    alice = await s.person("alice", plex_id=2001)
    assert alice.overseerr is not None

    status, body = await film(alice)

    assert status == 201, body
    assert body["message"] == (
        "Requested: Dune (2021). It waits for the admin's approval: you will be told when it is approved."
    )
    doc = body["request"]
    assert (doc["kind"], doc["tmdb_id"], doc["title"], doc["year"]) == ("movie", DUNE, "Dune", 2021)
    assert (doc["state"], doc["state_label"], doc["cancellable"]) == ("pending", "Pending approval", True)
    assert doc["requested_by"] == {"user_id": alice.user_id, "name": "alice"}
    assert doc["poster"].startswith("/api/v1/overseerr/images/w342/")
    # Made in Overseerr as alice's own Overseerr user, who appears there as the asker.
    [call] = asked(fake)
    assert call.as_user == str(alice.overseerr.id)
    [made] = fake.requests
    assert made.requested_by.id == alice.overseerr.id
    assert doc["overseerr_id"] == made.id
    assert await quota_used(alice) == 1

    status, listed = await alice.call("GET", REQUESTS)
    assert status == 200
    assert (listed["total"], listed["page"], listed["pages"]) == (1, 1, 1)
    assert [r["id"] for r in listed["requests"]] == [doc["id"]]
    status, one = await alice.call("GET", f"{REQUESTS}/{doc['id']}")
    assert (status, one["request"]["title"]) == (200, "Dune")


async def test_a_title_tmdb_does_not_know_is_a_404_and_never_pauses_requests(
    medianest: Any, fake: FakeOverseerr
) -> None:
    s = await started(medianest, fake)
    alice = await s.person("alice", plex_id=2001)
    for _ in range(8):  # more than the breaker's failures in a row
        status, body = await film(alice, tmdb_id=2147483646)
        assert status == 404, body
        assert body["error"]["message"] == "Overseerr does not know that title."
    assert fake.requests == []
    assert await quota_used(alice) == 0
    status, body = await film(alice)  # Overseerr is not taken for down
    assert status == 201, body


async def test_a_series_is_requested_with_the_seasons_chosen(medianest: Any, fake: FakeOverseerr) -> None:
    s = await started(medianest, fake)
    alice = await s.person("alice", plex_id=2001)

    status, body = await alice.call("POST", REQUESTS, json={"kind": "tv", "tmdb_id": SEVERANCE, "seasons": [2, 1]})

    assert status == 201, body
    [made] = fake.requests
    assert made.season_numbers == [1, 2]
    assert asked(fake)[0].body["seasons"] == [1, 2]
    assert body["request"]["seasons"] == [1, 2]
    assert body["message"].startswith("Requested: Severance (2022), seasons 1 and 2. ")

    # "all", or no seasons at all, asks for every season that is left.
    status, body = await alice.call("POST", REQUESTS, json={"kind": "tv", "tmdb_id": SEVERANCE, "seasons": "all"})
    assert status == 201, body
    assert fake.requests[-1].season_numbers == [3]
    # Nothing is left to ask for: a conflict in plain words, and our quota is not spent on it.
    status, body = await alice.call("POST", REQUESTS, json={"kind": "tv", "tmdb_id": SEVERANCE})
    assert status == 409
    assert body["error"]["message"] == "Every season you chose is requested already or in Plex."
    assert await quota_used(alice) == 2


async def test_a_duplicate_is_refused_plainly_and_the_title_shows_requested(
    medianest: Any, fake: FakeOverseerr
) -> None:
    # Without the webhook, MediaNest learns of a request made in Overseerr itself only when it asks.
    s = await started(medianest, fake, webhook=False)
    alice = await s.person("alice", plex_id=2001)
    carol = fake.add_user("carol", plex_id=2003)
    await reconciled(fake)  # the reconciliation at start-up found nothing: it does not learn of carol's request
    async with aiohttp.ClientSession() as http:
        made = await http.post(
            f"{fake.api_url}/request",
            json={"mediaType": "movie", "mediaId": DUNE},
            headers={"X-Api-Key": fake.api_key, "X-API-User": str(carol.id)},
        )
        assert made.status == 201
    assert await rows(s) == []

    status, body = await film(alice)

    assert status == 409
    assert body["error"]["code"] == "conflict"
    assert body["error"]["message"] == (
        "Someone has requested this already: choose “Tell me when it's available” to hear when it arrives."
    )
    [known] = await rows(s)
    assert (known.kind, known.tmdb_id, known.state, known.user_id) == ("movie", DUNE, "pending", None)
    assert await quota_used(alice) == 0


async def test_our_quota_is_checked_first_and_spent_only_on_success(medianest: Any, fake: FakeOverseerr) -> None:
    s = await started(medianest, fake)
    alice = await s.person("alice", plex_id=2001)
    bob = await s.person("bob", plex_id=2002)
    root = await s.person("root", role="admin")
    await set_quota(root, alice, 1)
    assert (await film(bob))[0] == 201

    # Overseerr refuses (a duplicate): nothing of alice's quota is spent.
    assert (await film(alice))[0] == 409
    assert await quota_used(alice) == 0
    status, body = await film(alice, ARRIVAL)
    assert status == 201, body
    assert await quota_used(alice) == 1

    # Her quota is used up: refused before Overseerr is asked.
    calls = len(asked(fake))
    status, body = await alice.call("POST", REQUESTS, json={"kind": "tv", "tmdb_id": SEVERANCE})
    assert status == 429
    assert body["error"]["code"] == "rate_limited"
    assert body["error"]["message"].startswith("Your media requests quota (1 per hour) is used up")
    assert body["error"]["details"]["quota"] == "overseerr.requests"
    assert 0 < int(body["error"]["details"]["retry_after"]) <= 3600
    assert len(asked(fake)) == calls
    assert len(fake.requests) == 2


async def test_overseerrs_own_quota_says_when_it_frees_up(medianest: Any, fake: FakeOverseerr) -> None:
    s = await started(medianest, fake)
    alice = await s.person("alice", plex_id=2001, quota_movie=1, quota_days=7)
    assert (await film(alice))[0] == 201

    resp = await alice.client.post(REQUESTS, json={"kind": "movie", "tmdb_id": ARRIVAL}, headers=alice.signed.headers)
    body = await resp.json()

    assert resp.status == 429
    error = body["error"]
    assert error["message"].startswith("Overseerr allows you 1 film every 7 days, and you have 0 left: the next frees")
    assert error["details"]["reason"] == "overseerr_quota"
    assert error["details"]["frees_at"] is not None
    assert int(resp.headers["Retry-After"]) > 6 * 86400
    assert len(fake.requests) == 1
    assert await quota_used(alice) == 1


async def test_a_permission_overseerr_refuses_is_a_403(medianest: Any, fake: FakeOverseerr) -> None:
    s = await started(medianest, fake)
    alice = await s.person("alice", plex_id=2001, permissions=Permission.REQUEST_TV)

    status, body = await film(alice)

    assert status == 403
    assert body["error"]["details"]["reason"] == "permission"
    assert "ask the admin" in body["error"]["message"]
    assert fake.requests == []
    assert await rows(s) == []
    assert await quota_used(alice) == 0


async def test_4k_is_asked_only_when_overseerr_offers_it(medianest: Any, fake: FakeOverseerr) -> None:
    s = await started(medianest, fake)
    alice = await s.person("alice", plex_id=2001, permissions=Permission.REQUEST | Permission.REQUEST_4K)

    status, body = await film(alice, is4k=True)
    assert status == 422
    assert body["error"]["message"] == "4K requests are not offered for films."
    assert body["error"]["details"]["fields"] == {"is4k": "4K is not offered for films"}
    assert asked(fake) == []


# ---- who asks: Plex accounts, imports, links -------------------------------------------------------------------


async def test_someone_without_plex_or_a_link_is_told_to_ask_the_admin(medianest: Any, fake: FakeOverseerr) -> None:
    s = await started(medianest, fake)
    local = await s.person("local")

    status, body = await film(local)

    assert status == 403
    assert body["error"]["message"] == (
        "Your account is not linked to an Overseerr user: ask the admin to link it to one."
    )
    assert asked(fake) == []


async def test_a_plex_friend_without_an_overseerr_user_is_imported_and_asks_as_them(
    medianest: Any, fake: FakeOverseerr
) -> None:
    s = await started(medianest, fake)
    dave = await s.person("dave", plex_id=3001, overseerr=False)
    root = await s.person("root", role="admin")
    fake.add_plex_friend(3001, "dave")
    before = {u.id for u in fake.users}

    status, body = await film(dave)

    assert status == 201, body
    [imported] = [u for u in fake.users if u.id not in before]
    assert imported.plex_id == 3001
    assert asked(fake)[-1].as_user == str(imported.id)
    assert fake.requests[0].requested_by.id == imported.id
    status, link = await root.call("GET", f"/api/v1/overseerr/links/{dave.user_id}")
    assert status == 200
    assert link["link"] == {
        "user_id": dave.user_id,
        "overseerr_user_id": imported.id,
        "overseerr_name": "dave",
        "how": "imported",
    }


async def test_without_imports_a_plex_friend_is_told_to_ask_the_admin(medianest: Any, fake: FakeOverseerr) -> None:
    s = await started(medianest, fake, import_users=False)
    dave = await s.person("dave", plex_id=3001, overseerr=False)
    fake.add_plex_friend(3001, "dave")
    users = len(fake.users)

    status, body = await film(dave)

    assert status == 403
    assert body["error"]["message"] == "You have no Overseerr user yet: ask the admin to add you to Overseerr."
    assert len(fake.users) == users
    assert [c for c in fake.calls if c.path.endswith("/import-from-plex")] == []
    assert asked(fake) == []


async def test_a_local_account_linked_by_the_admin_asks_as_that_overseerr_user(
    medianest: Any, fake: FakeOverseerr
) -> None:
    s = await started(medianest, fake)
    erin = await s.person("erin")
    root = await s.person("root", role="admin")
    there = fake.add_user("erin-local", user_type=UserType.LOCAL, email="erin@example.org")

    status, body = await erin.call("PUT", f"/api/v1/overseerr/links/{erin.user_id}", json={"overseerr_user_id": 1})
    assert status == 403  # only admins link
    status, listed = await root.call("GET", "/api/v1/overseerr/users")
    assert status == 200
    assert {"id": there.id, "name": "erin-local", "email": "erin@example.org", "plex_id": None} in listed["users"]
    status, body = await root.call(
        "PUT", f"/api/v1/overseerr/links/{erin.user_id}", json={"overseerr_user_id": there.id}
    )
    assert status == 200, body
    assert body["link"] == {
        "user_id": erin.user_id,
        "overseerr_user_id": there.id,
        "overseerr_name": "erin-local",
        "how": "admin",
    }
    async with s.runtime.sessions() as db:
        saved = await db.get(Link, erin.user_id)
        assert saved is not None
        assert saved.linked_by == root.user_id

    status, body = await film(erin)
    assert status == 201, body
    assert asked(fake)[-1].as_user == str(there.id)
    assert fake.requests[0].requested_by.id == there.id

    # Unlinked, she is told to ask the admin again.
    status, body = await root.call("DELETE", f"/api/v1/overseerr/links/{erin.user_id}")
    assert (status, body) == (200, {"link": None})
    status, body = await root.call("GET", f"/api/v1/overseerr/links/{erin.user_id}")
    assert (status, body) == (200, {"link": None})
    assert (await film(erin, ARRIVAL))[0] == 403


async def test_links_to_unknown_users_are_refused(medianest: Any, fake: FakeOverseerr) -> None:
    s = await started(medianest, fake)
    erin = await s.person("erin")
    root = await s.person("root", role="admin")

    status, body = await root.call("PUT", f"/api/v1/overseerr/links/{erin.user_id}", json={"overseerr_user_id": 999})
    assert status == 422
    assert body["error"]["message"] == "Overseerr has no user 999."
    assert body["error"]["details"]["fields"] == {"overseerr_user_id": "no such user in Overseerr"}
    status, body = await root.call("PUT", "/api/v1/overseerr/links/99999", json={"overseerr_user_id": 1})
    assert (status, body["error"]["code"]) == (404, "not_found")
    status, body = await root.call("PUT", f"/api/v1/overseerr/links/{erin.user_id}", json={"overseerr_user_id": 0})
    assert status == 422
    assert "overseerr_user_id" in body["error"]["details"]["fields"]
    async with s.runtime.sessions() as db:
        assert await db.get(Link, erin.user_id) is None


# ---- following, cancelling and deciding ----------------------------------------------------------------------------


async def test_another_persons_request_is_not_found_but_admins_see_it(medianest: Any, fake: FakeOverseerr) -> None:
    s = await started(medianest, fake)
    alice = await s.person("alice", plex_id=2001)
    bob = await s.person("bob", plex_id=2002)
    root = await s.person("root", role="admin")
    mine = (await film(alice))[1]["request"]

    for method in ("GET", "DELETE"):
        status, body = await bob.call(method, f"{REQUESTS}/{mine['id']}")
        assert (status, body["error"]["message"]) == (404, "No such request.")
    status, body = await bob.call("GET", REQUESTS)
    assert (status, body["total"], body["requests"]) == (200, 0, [])
    status, body = await bob.call("GET", REQUESTS, params={"scope": "all"})
    assert status == 403
    assert len(fake.requests) == 1

    status, body = await root.call("GET", f"{REQUESTS}/{mine['id']}")
    assert status == 200
    assert body["request"]["requested_by"] == {"user_id": alice.user_id, "name": "alice"}
    status, body = await root.call("GET", REQUESTS, params={"scope": "all", "state": "pending"})
    assert (status, [r["id"] for r in body["requests"]]) == (200, [mine["id"]])
    status, body = await root.call("GET", REQUESTS, params={"scope": "all", "state": "approved"})
    assert (status, body["total"]) == (200, 0)


async def test_admins_approve_and_decline(medianest: Any, fake: FakeOverseerr) -> None:
    s = await started(medianest, fake)
    alice = await s.person("alice", plex_id=2001)
    root = await s.person("root", role="admin")
    dune = (await film(alice))[1]["request"]
    arrival = (await film(alice, ARRIVAL))[1]["request"]

    status, body = await alice.call("POST", f"{REQUESTS}/{dune['id']}/approve")
    assert status == 403
    assert fake.request(dune["overseerr_id"]).status == MediaRequestStatus.PENDING

    status, body = await root.call("POST", f"{REQUESTS}/{dune['id']}/approve")
    assert status == 200, body
    assert body["request"]["state"] == "approved"
    assert body["message"] == "Approved: Dune (2021)."
    assert fake.request(dune["overseerr_id"]).status == MediaRequestStatus.APPROVED
    status, body = await root.call("POST", f"{REQUESTS}/{arrival['id']}/decline")
    assert status == 200, body
    assert body["request"]["state"] == "declined"
    assert fake.request(arrival["overseerr_id"]).status == MediaRequestStatus.DECLINED

    await s.settle()
    assert {(r.tmdb_id, r.state) for r in await rows(s)} == {(DUNE, "approved"), (ARRIVAL, "declined")}
    status, body = await alice.call("GET", f"{REQUESTS}/{dune['id']}")
    assert body["request"]["state"] == "approved"


async def test_a_pending_request_is_cancelled_an_approved_one_is_not(medianest: Any, fake: FakeOverseerr) -> None:
    s = await started(medianest, fake)
    alice = await s.person("alice", plex_id=2001)
    root = await s.person("root", role="admin")
    dune = (await film(alice))[1]["request"]
    arrival = (await film(alice, ARRIVAL))[1]["request"]
    assert (await root.call("POST", f"{REQUESTS}/{arrival['id']}/approve"))[0] == 200

    status, body = await alice.call("DELETE", f"{REQUESTS}/{dune['id']}")
    assert status == 200, body
    assert body == {"deleted": True, "message": "Your request for Dune (2021) was cancelled."}
    assert [r.id for r in fake.requests] == [arrival["overseerr_id"]]
    assert (await alice.call("GET", f"{REQUESTS}/{dune['id']}"))[0] == 404

    status, body = await alice.call("DELETE", f"{REQUESTS}/{arrival['id']}")
    assert status == 409
    assert body["error"]["message"] == "Only a request still waiting for approval can be cancelled."
    assert [r.id for r in fake.requests] == [arrival["overseerr_id"]]


async def test_a_request_approved_in_overseerr_meanwhile_is_not_cancelled(medianest: Any, fake: FakeOverseerr) -> None:
    s = await started(medianest, fake, webhook=False)
    alice = await s.person("alice", plex_id=2001)
    dune = (await film(alice))[1]["request"]
    made = fake.request(dune["overseerr_id"])
    made.status = MediaRequestStatus.APPROVED  # approved in Overseerr; MediaNest has not heard yet
    made.updated_at = fake.now()

    status, body = await alice.call("DELETE", f"{REQUESTS}/{dune['id']}")

    assert status == 409
    assert body["error"]["details"]["state"] == "approved"
    assert [r.id for r in fake.requests] == [made.id]
    assert [r.state for r in await rows(s)] == ["approved"]


# ---- Overseerr not answering ----------------------------------------------------------------------------------------


async def test_overseerr_hung_answers_503_within_the_deadline_and_stores_nothing(
    medianest: Any, fake: FakeOverseerr
) -> None:
    s = await started(medianest, fake, core={"upstream_timeout": 1.0})
    alice = await s.person("alice", plex_id=2001)
    fake.hang = True

    began = time.monotonic()
    status, body = await film(alice)
    waited = time.monotonic() - began

    assert status == 503
    assert body["error"]["code"] == "service_unavailable"
    assert "nothing was requested" in body["error"]["message"]
    assert waited < 5
    assert await rows(s) == []
    assert fake.requests == []
    assert await quota_used(alice) == 0
    # Requests are paused now: the next one is refused at once, without waiting on Overseerr again.
    began = time.monotonic()
    status, body = await film(alice, ARRIVAL)
    assert status == 503
    assert body["error"]["message"].startswith("Requests are paused: Overseerr is not answering")
    assert time.monotonic() - began < 0.5


async def test_not_set_up_is_a_503_saying_so(medianest_client: Any) -> None:
    client = await medianest_client(entry_points=[entry_point("overseerr", OverseerrPlugin())])
    alice = await sign_in(client, "alice")

    resp = await client.post(REQUESTS, json={"kind": "movie", "tmdb_id": DUNE}, headers=alice.headers)

    assert resp.status == 503
    assert (await resp.json())["error"]["message"] == "Overseerr is not set up: the admin sets its address and API key."


# ---- watches -------------------------------------------------------------------------------------------------------


async def test_a_watch_is_kept_once_and_removed(medianest: Any, fake: FakeOverseerr) -> None:
    s = await started(medianest, fake)
    alice = await s.person("alice", plex_id=2001)

    async def watches() -> list[tuple[int, str, int, str | None]]:
        async with s.runtime.sessions() as db:
            found = (await db.scalars(select(Watch))).all()
            return [(w.user_id, w.kind, w.tmdb_id, w.title) for w in found]

    for _ in range(2):
        status, body = await alice.call("PUT", f"/api/v1/overseerr/watches/movie/{DUNE}")
        assert (status, body) == (200, {"watching": True, "message": "We'll tell you when Dune is available."})
    assert await watches() == [(alice.user_id, "movie", DUNE, "Dune")]

    status, body = await alice.call("DELETE", f"/api/v1/overseerr/watches/movie/{DUNE}")
    assert status == 200
    assert body["watching"] is False
    assert await watches() == []
    for path in ("/api/v1/overseerr/watches/book/1", "/api/v1/overseerr/watches/movie/abc"):
        status, body = await alice.call("PUT", path)
        assert (status, body["error"]["code"]) == (404, "not_found")


# ---- bad input -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"kind": "book", "tmdb_id": DUNE}, 422, "kind"),
        ({"kind": "movie", "tmdb_id": -1}, 422, "tmdb_id"),
        ({"kind": "movie", "tmdb_id": 2**31}, 422, "tmdb_id"),
        ({"kind": "movie", "tmdb_id": "438631"}, 422, "tmdb_id"),
        ({"kind": "movie", "tmdb_id": DUNE, "seasons": [1]}, 422, "seasons"),
        ({"kind": "tv", "tmdb_id": SEVERANCE, "seasons": "some"}, 422, "seasons"),
        ({"kind": "tv", "tmdb_id": SEVERANCE, "seasons": [1, "2"]}, 422, "seasons"),
        ({"kind": "tv", "tmdb_id": SEVERANCE, "seasons": [-1]}, 422, "seasons"),
        ({"kind": "tv", "tmdb_id": SEVERANCE, "seasons": [1, 1]}, 422, "seasons"),
        ({"kind": "tv", "tmdb_id": SEVERANCE, "seasons": []}, 422, "seasons"),
        ({"kind": "tv", "tmdb_id": SEVERANCE, "seasons": list(range(101))}, 422, "seasons"),
        ({"kind": "movie", "tmdb_id": DUNE, "extra": 1}, 422, "extra"),
        ({"kind": "movie", "tmdb_id": DUNE, "is4k": "yes"}, 422, "is4k"),
    ],
)
async def test_bad_requests_are_refused_naming_the_field(
    medianest: Any, fake: FakeOverseerr, body: dict[str, Any], status: int, field: str
) -> None:
    s = await started(medianest, fake)
    alice = await s.person("alice", plex_id=2001)

    got, answer = await alice.call("POST", REQUESTS, json=body)

    assert got == status, answer
    assert set(answer["error"]) == {"code", "message", "details"}
    assert field in answer["error"]["details"]["fields"]
    assert asked(fake) == []
    assert await quota_used(alice) == 0


@pytest.mark.parametrize(
    ("query", "field"),
    [({"page": "0"}, "page"), ({"page": "x"}, "page"), ({"state": "bogus"}, "state"), ({"scope": "some"}, "scope")],
)
async def test_bad_listings_are_refused_naming_the_parameter(
    medianest: Any, fake: FakeOverseerr, query: dict[str, str], field: str
) -> None:
    s = await started(medianest, fake)
    alice = await s.person("alice", plex_id=2001)

    status, body = await alice.call("GET", REQUESTS, params=query)

    assert status == 400
    assert body["error"]["code"] == "bad_request"
    assert field in body["error"]["details"]["fields"]


async def test_a_body_that_is_not_json_is_a_400(medianest: Any, fake: FakeOverseerr) -> None:
    s = await started(medianest, fake)
    alice = await s.person("alice", plex_id=2001)
    status, body = await alice.call("POST", REQUESTS, data=b"{not json", headers={"Content-Type": "application/json"})
    assert (status, body["error"]["code"]) == (400, "bad_request")
    for path in (f"{REQUESTS}/0", f"{REQUESTS}/abc", f"{REQUESTS}/99999999999"):
        status, body = await alice.call("GET", path)
        assert (status, body["error"]["code"]) == (404, "not_found")


# ---- the webhook ---------------------------------------------------------------------------------------------------


async def test_the_webhook_needs_the_secret_and_changes_nothing_without_it(medianest: Any, fake: FakeOverseerr) -> None:
    s = await started(medianest, fake, webhook=False)
    alice = await s.person("alice", plex_id=2001)
    dune = (await film(alice))[1]["request"]
    made = fake.request(dune["overseerr_id"])
    made.status = MediaRequestStatus.APPROVED
    made.updated_at = fake.now()
    payload = {"notification_type": "MEDIA_APPROVED", "request": {"request_id": str(made.id)}}
    reads = fake.count(f"/api/v1/request/{made.id}")

    async def deliver(data: Any, authorization: str | None = WEBHOOK_SECRET, **kwargs: Any) -> tuple[int, Any]:
        headers = {} if authorization is None else {"Authorization": authorization}
        async with aiohttp.ClientSession() as http:
            resp = await http.post(s.webhook_url, data=data, headers=headers | kwargs.pop("headers", {}), **kwargs)
            return resp.status, await resp.json()

    import json

    for wrong in (None, "", "Bearer hook-secret-012345678", WEBHOOK_SECRET + "x", WEBHOOK_SECRET.lower()):
        status, body = await deliver(json.dumps(payload), wrong, headers={"Content-Type": "application/json"})
        assert status == 401, wrong
        assert body["error"]["code"] == "unauthorized"
    assert fake.count(f"/api/v1/request/{made.id}") == reads  # nothing was read from Overseerr
    assert [r.state for r in await rows(s)] == ["pending"]

    status, body = await deliver(b"{not json")
    assert (status, body["error"]["code"]) == (400, "bad_request")
    status, body = await deliver(json.dumps({"subject": "no type"}))
    assert (status, body["error"]["code"]) == (400, "bad_request")
    status, body = await deliver(json.dumps(payload | {"message": "x" * 70_000}))
    assert (status, body["error"]["code"]) == (413, "payload_too_large")
    assert [r.state for r in await rows(s)] == ["pending"]

    status, body = await deliver(json.dumps(payload), headers={"Content-Type": "application/json"})
    assert (status, body) == (200, {"result": "applied"})
    assert [r.state for r in await rows(s)] == ["approved"]
    status, body = await deliver(json.dumps({"notification_type": "TEST_NOTIFICATION"}))
    assert (status, body) == (200, {"result": "ignored"})


async def test_without_a_webhook_secret_every_delivery_is_refused(medianest: Any, fake: FakeOverseerr) -> None:
    client = await medianest()(
        entry_points=[entry_point("overseerr", OverseerrPlugin())],
        plugins={"overseerr": {"url": fake.url, "api_key": fake.api_key}},
    )
    for authorization in ("", WEBHOOK_SECRET):
        resp = await client.post(
            "/api/v1/overseerr/webhook",
            json={"notification_type": "MEDIA_APPROVED", "request": {"request_id": "1"}},
            headers={"Authorization": authorization},
        )
        assert resp.status == 401
        assert (await resp.json())["error"]["message"] == "The webhook is not set up: set webhook_secret."
    assert [c.path for c in fake.calls if c.path.startswith("/api/v1/request/")] == []


async def test_requests_count_in_the_database(medianest: Any, fake: FakeOverseerr) -> None:
    """Every row the API stored is one Overseerr request: nothing half-made."""
    s = await started(medianest, fake)
    alice = await s.person("alice", plex_id=2001)
    await film(alice)
    await film(alice)  # a duplicate of her own
    await s.settle()
    async with s.runtime.sessions() as db:
        assert await db.scalar(select(func.count()).select_from(Request)) == len(fake.requests) == 1
