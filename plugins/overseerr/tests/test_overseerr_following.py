"""Following a request: Overseerr's webhook and the periodic reconciliation keep each request's state true, and
every change reaches the person who asked (live and stored), the people waiting for the title, and no one else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from medianest_overseerr import service
from medianest_overseerr.client import MediaRequest, Notification
from medianest_overseerr.fake import FakeOverseerr
from medianest_overseerr.models import Request, Watch
from medianest_overseerr.service import state_of
from overseerr_harness import WEBHOOK_SECRET, Person, Setup, setup
from sqlalchemy import func, select

from medianest_core.upstream import structure

DUNE = 438631
THRONES = 1399


@pytest.fixture
async def fake() -> AsyncIterator[FakeOverseerr]:
    made = FakeOverseerr()
    made.add_movie(DUNE, "Dune", 2021)
    made.add_tv(THRONES, "Game of Thrones", 2011, seasons={1: 10, 2: 10}, tvdb_id=121361)
    await made.start()
    yield made
    await made.stop()


# ---- helpers -------------------------------------------------------------------------------------------------


class Live:
    """One person's open page: a websocket subscribed to their requests and their notifications."""

    TOPICS = ("overseerr.request", "notification.created")

    def __init__(self, socket: Any) -> None:
        self.socket = socket

    @classmethod
    async def open(cls, person: Person) -> Live:
        socket = await person.client.ws_connect("/ws")
        await socket.send_json({"id": 1, "type": "subscribe", "topics": list(cls.TOPICS)})
        reply = await socket.receive_json(timeout=5)
        assert reply["success"] is True
        return cls(socket)

    async def events(self, quiet: float = 0.3) -> list[tuple[str, dict[str, Any]]]:
        """The events that arrive until none has for ``quiet`` seconds."""
        seen: list[tuple[str, dict[str, Any]]] = []
        while True:
            try:
                msg = await asyncio.wait_for(self.socket.receive_json(), quiet)
            except TimeoutError:
                return seen
            if msg["type"] == "event":
                seen.append((msg["topic"], msg["data"]))

    async def states(self, quiet: float = 0.3) -> tuple[list[str], list[str]]:
        """The request states and the notification titles that arrive."""
        seen = await self.events(quiet)
        return (
            [data["request"]["state"] for topic, data in seen if topic == "overseerr.request"],
            [data["notification"]["title"] for topic, data in seen if topic == "notification.created"],
        )


class InOverseerr:
    """What the admin (or a person) does in Overseerr's own pages, through its API."""

    def __init__(self, fake: FakeOverseerr) -> None:
        self.fake = fake

    async def call(self, method: str, path: str, *, as_user: int | None = None, body: Any = None) -> Any:
        headers = {"X-Api-Key": self.fake.api_key}
        if as_user is not None:
            headers["X-API-User"] = str(as_user)
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, f"{self.fake.api_url}{path}", json=body, headers=headers) as resp,
        ):
            assert resp.status < 300, await resp.text()
            return await resp.json() if resp.status != 204 else None

    async def approve(self, request_id: int) -> None:
        await self.call("POST", f"/request/{request_id}/approve")

    async def decline(self, request_id: int) -> None:
        await self.call("POST", f"/request/{request_id}/decline")


async def asked(s: Setup, person: Person, kind: str, tmdb_id: int, seasons: list[int] | None = None) -> int:
    """``person`` requests a title through MediaNest; the "pending" webhook is handled. Its id in Overseerr."""
    body: dict[str, Any] = {"kind": kind, "tmdb_id": tmdb_id} | ({"seasons": seasons} if seasons else {})
    status, answer = await person.call("POST", "/api/v1/overseerr/requests", json=body)
    assert status == 201, answer
    await s.settle()
    return int(answer["request"]["overseerr_id"])


async def mine(person: Person) -> list[dict[str, Any]]:
    """The requests on the person's page."""
    status, body = await person.call("GET", "/api/v1/overseerr/requests")
    assert status == 200, body
    return list(body["requests"])


async def stored(s: Setup, overseerr_id: int) -> Request | None:
    async with s.runtime.sessions() as db:
        found: Request | None = await db.scalar(select(Request).where(Request.overseerr_id == overseerr_id))
        return found


async def notifications(person: Person) -> list[str]:
    status, body = await person.call("GET", "/api/v1/notifications")
    assert status == 200, body
    return [note["title"] for note in body["notifications"]]


async def watch(person: Person, kind: str, tmdb_id: int) -> None:
    """``person`` asks to be told when the title is available."""
    status, body = await person.call("PUT", f"/api/v1/overseerr/watches/{kind}/{tmdb_id}")
    assert (status, body["watching"]) == (200, True), body


async def watches(s: Setup) -> int:
    async with s.runtime.sessions() as db:
        return await db.scalar(select(func.count()).select_from(Watch)) or 0


# ---- each change reaches the asker, and no one else -------------------------------------------------------------


async def test_each_change_reaches_the_asker_live_and_stored_and_no_one_else(
    medianest_client: Any, fake: FakeOverseerr
) -> None:
    s = await setup(medianest_client, fake)
    alice = await s.person("alice", plex_id=501)
    bob = await s.person("bob", plex_id=502)
    overseerr = InOverseerr(fake)
    alice_live, bob_live = await Live.open(alice), await Live.open(bob)

    made = await asked(s, alice, "movie", DUNE)
    assert (await alice_live.states())[0] == ["pending"]

    await overseerr.approve(made)
    await s.settle()
    assert await alice_live.states() == (["approved"], ["Dune was approved"])

    fake.make_processing("movie", DUNE)
    await s.service.refresh(made)
    assert await alice_live.states() == (["processing"], ["Dune is downloading"])

    fake.make_available("movie", DUNE)
    await s.settle()
    seen = await alice_live.events()
    [request] = [data["request"] for topic, data in seen if topic == "overseerr.request"]
    assert (request["state"], request["state_label"]) == ("available", "Available")
    assert request["watch_url"] is not None
    assert request["watch_url"].startswith("https://app.plex.tv/")
    [note] = [data["notification"] for topic, data in seen if topic == "notification.created"]
    assert (note["title"], note["link"]) == ("Dune is now available in Plex", f"/titles/movie/{DUNE}")

    assert await notifications(alice) == [
        "Dune is now available in Plex",
        "Dune is downloading",
        "Dune was approved",
    ]
    assert await bob_live.events() == []
    assert await notifications(bob) == []


async def test_a_decline_and_a_failure_reach_the_asker(medianest_client: Any, fake: FakeOverseerr) -> None:
    s = await setup(medianest_client, fake)
    alice = await s.person("alice", plex_id=501)
    bob = await s.person("bob", plex_id=502)
    overseerr = InOverseerr(fake)
    film = await asked(s, alice, "movie", DUNE)
    series = await asked(s, alice, "tv", THRONES, [1])
    alice_live, bob_live = await Live.open(alice), await Live.open(bob)

    await overseerr.decline(film)
    await s.settle()
    assert await alice_live.states() == (["declined"], ["Your request for Dune was declined"])

    await overseerr.approve(series)
    await s.settle()
    assert await alice_live.states() == (["approved"], ["Game of Thrones was approved"])
    fake.fail(series)
    await s.settle()
    assert await alice_live.states() == (["failed"], ["Game of Thrones could not be fetched"])
    assert await notifications(alice) == [
        "Game of Thrones could not be fetched",
        "Game of Thrones was approved",
        "Your request for Dune was declined",
    ]
    assert await bob_live.events() == []
    assert await notifications(bob) == []


async def test_a_request_stored_while_its_webhook_arrives_is_stored_and_told_once(
    medianest_client: Any, fake: FakeOverseerr
) -> None:
    s = await setup(medianest_client, fake, webhook=False)
    alice = await s.person("alice", plex_id=501)
    live = await Live.open(alice)
    link = await s.service.overseerr_user(alice.user_id)
    made = await InOverseerr(fake).call(
        "POST", "/request", as_user=link.overseerr_user_id, body={"mediaType": "movie", "mediaId": DUNE}
    )
    request = await s.service.client.get_request(made["id"])
    # The answer to the person who asked and the "pending" webhook are stored at the same moment.
    rows = await asyncio.gather(s.service.learn(request, owner=alice.user_id, notify=False), s.service.learn(request))
    assert [row.user_id if row else None for row in rows] == [alice.user_id, alice.user_id]
    assert (await live.states()) == (["pending"], [])
    async with s.runtime.sessions() as db:
        assert await db.scalar(select(func.count()).select_from(Request)) == 1


# ---- the people waiting for a title -----------------------------------------------------------------------------


async def test_watchers_are_told_once_when_the_title_is_available(medianest_client: Any, fake: FakeOverseerr) -> None:
    s = await setup(medianest_client, fake)
    alice = await s.person("alice", plex_id=501)
    bob = await s.person("bob", plex_id=502)
    carol = await s.person("carol", plex_id=503)
    overseerr = InOverseerr(fake)
    made = await asked(s, alice, "movie", DUNE)
    await watch(bob, "movie", DUNE)
    bob_live, carol_live = await Live.open(bob), await Live.open(carol)

    await overseerr.approve(made)
    await s.settle()
    assert await bob_live.events() == []  # approved: not what bob waits for

    fake.make_available("movie", DUNE)
    await s.settle()
    assert await bob_live.states() == ([], ["Dune is now available in Plex"])
    assert await notifications(bob) == ["Dune is now available in Plex"]
    assert await watches(s) == 0

    fake.resend()  # the "available" delivery again: bob is not told twice
    await s.service.reconcile()
    await s.settle()
    assert await bob_live.events() == []
    assert await notifications(bob) == ["Dune is now available in Plex"]
    assert await carol_live.events() == []
    assert await notifications(carol) == []
    assert await notifications(alice) == ["Dune is now available in Plex", "Dune was approved"]


# ---- a series, season by season -------------------------------------------------------------------------------


async def test_a_series_is_partly_available_then_available(medianest_client: Any, fake: FakeOverseerr) -> None:
    s = await setup(medianest_client, fake)
    alice = await s.person("alice", plex_id=501)
    made = await asked(s, alice, "tv", THRONES, [1, 2])
    await InOverseerr(fake).approve(made)
    await s.settle()
    live = await Live.open(alice)

    fake.make_available("tv", THRONES, seasons=[1])  # Overseerr sends nothing until every season asked for is there
    await s.settle()
    await s.service.reconcile()
    seen = await live.events()
    [request] = [data["request"] for topic, data in seen if topic == "overseerr.request"]
    assert (request["state"], request["seasons"], request["seasons_available"]) == (
        "partially_available",
        [1, 2],
        [1],
    )
    assert request["state_label"] == "Partly available"
    assert next(data["notification"] for topic, data in seen if topic == "notification.created")["body"] == (
        "Season 1 can be watched."
    )

    fake.make_available("tv", THRONES, seasons=[2])
    await s.settle()
    assert await live.states() == (["available"], ["Game of Thrones is now available in Plex"])
    found = await stored(s, made)
    assert found is not None
    assert (found.state, found.seasons_available) == ("available", [1, 2])


# ---- deliveries that come twice, late or never ----------------------------------------------------------------


def delivery(fake: FakeOverseerr, kind: Notification) -> Any:
    return next(d for d in fake.webhook_deliveries if d.notification is kind and not d.resent)


async def test_a_delivery_that_comes_again_changes_nothing(medianest_client: Any, fake: FakeOverseerr) -> None:
    s = await setup(medianest_client, fake)
    alice = await s.person("alice", plex_id=501)
    made = await asked(s, alice, "movie", DUNE)
    await InOverseerr(fake).approve(made)
    await s.settle()
    fake.make_available("movie", DUNE)
    await s.settle()
    before = await stored(s, made)
    live = await Live.open(alice)

    fake.resend(delivery(fake, Notification.MEDIA_APPROVED))  # "approved", after "available"
    fake.resend(delivery(fake, Notification.MEDIA_AVAILABLE))  # "available", twice
    fake.resend(delivery(fake, Notification.MEDIA_PENDING))
    await s.settle()
    assert [d.status for d in fake.webhook_deliveries[-3:]] == [200, 200, 200]
    assert await live.events() == []
    after = await stored(s, made)
    assert after is not None
    assert before is not None
    assert (after.state, after.version) == ("available", before.version)
    assert await notifications(alice) == ["Dune is now available in Plex", "Dune was approved"]


async def test_deliveries_out_of_order_never_move_a_state_back(medianest_client: Any, fake: FakeOverseerr) -> None:
    s = await setup(medianest_client, fake)
    alice = await s.person("alice", plex_id=501)
    made = await asked(s, alice, "movie", DUNE)
    live = await Live.open(alice)
    await InOverseerr(fake).approve(made)
    await s.settle()
    assert (await live.states())[0] == ["approved"]
    approved = await s.service.client.get_request(made)

    fake.drop_webhooks = 1
    fake.make_available("movie", DUNE)  # its delivery is lost...
    fake.resend(delivery(fake, Notification.MEDIA_PENDING))  # ...and an older one comes late
    await s.settle()
    # The late delivery is read again from Overseerr: the request is available, not back to pending.
    assert await live.states() == (["available"], ["Dune is now available in Plex"])
    found = await stored(s, made)
    assert found is not None
    assert found.state == "available"
    # What Overseerr said earlier, learnt late (a slow answer), is older than what is stored: it changes nothing.
    await s.service.learn(approved)
    assert await live.events() == []
    found = await stored(s, made)
    assert found is not None
    assert found.state == "available"


# ---- reconciliation -----------------------------------------------------------------------------------------


async def test_reconciliation_repairs_a_lost_webhook(medianest_client: Any, fake: FakeOverseerr) -> None:
    s = await setup(medianest_client, fake)
    alice = await s.person("alice", plex_id=501)
    made = await asked(s, alice, "movie", DUNE)
    await InOverseerr(fake).approve(made)
    await s.settle()
    live = await Live.open(alice)

    fake.drop_webhooks = 1
    fake.make_available("movie", DUNE)
    await s.settle()
    assert fake.webhook_deliveries[-1].dropped
    assert await live.events() == []
    assert [r["state"] for r in await mine(alice)] == ["approved"]

    await s.service.reconcile()
    assert await live.states() == (["available"], ["Dune is now available in Plex"])
    assert [r["state"] for r in await mine(alice)] == ["available"]
    assert await notifications(alice) == ["Dune is now available in Plex", "Dune was approved"]
    await s.service.reconcile()  # nothing more to repair: nothing more is told
    assert await live.events() == []


async def test_reconciliation_finds_requests_made_and_deleted_in_overseerr(
    medianest_client: Any, fake: FakeOverseerr
) -> None:
    s = await setup(medianest_client, fake, webhook=False)  # no webhook agent: reconciliation alone
    alice = await s.person("alice", plex_id=501)
    bob = await s.person("bob", plex_id=502)
    overseerr = InOverseerr(fake)
    link = await s.service.overseerr_user(alice.user_id)
    stranger = fake.add_user("stranger", plex_id=999)
    live = await Live.open(alice)

    made = await overseerr.call(
        "POST", "/request", as_user=link.overseerr_user_id, body={"mediaType": "tv", "mediaId": THRONES, "seasons": [1]}
    )
    await overseerr.call("POST", "/request", as_user=stranger.id, body={"mediaType": "movie", "mediaId": DUNE})
    await s.service.reconcile()
    [request] = [data["request"] for topic, data in await live.events() if topic == "overseerr.request"]
    assert (request["title"], request["state"], request["seasons"]) == ("Game of Thrones", "pending", [1])
    assert [(r["title"], r["state"]) for r in await mine(alice)] == [("Game of Thrones", "pending")]
    assert await mine(bob) == []  # the stranger's request is nobody's here
    assert await notifications(alice) == []  # a request one made oneself is not news

    await overseerr.call("DELETE", f"/request/{made['id']}")  # by the admin, in Overseerr
    await s.service.reconcile()
    [(topic, data)] = await live.events()
    assert (topic, data["request"]["removed"]) == ("overseerr.request", True)
    assert await mine(alice) == []


async def test_a_round_reads_a_bounded_number_of_requests_again(
    medianest_client: Any, fake: FakeOverseerr, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "RECONCILE_FETCHES", 2)
    films = [101, 102, 103]
    for tmdb_id in [100, *films]:
        fake.add_movie(tmdb_id, f"Film {tmdb_id}", 2020)
    s = await setup(medianest_client, fake)
    alice = await s.person("alice", plex_id=501)
    overseerr = InOverseerr(fake)
    made_ids = [await asked(s, alice, "movie", tmdb_id) for tmdb_id in [100, *films]]
    for made in made_ids:  # film 100 first: it is the last of Overseerr's list, last changed first
        await overseerr.approve(made)
    await s.settle()
    fake.drop_webhooks = len(films)
    for tmdb_id in films:
        fake.make_available("movie", tmdb_id)
    await s.settle()

    def reads() -> int:
        return sum(1 for call in fake.calls if call.method == "GET" and call.path.startswith("/api/v1/request/"))

    before = reads()
    await s.service.reconcile()
    assert reads() - before == 2
    assert sorted(r["state"] for r in await mine(alice)) == ["approved", "approved", "available", "available"]
    await s.service.reconcile()  # the rest, next round
    assert sorted(r["state"] for r in await mine(alice)) == ["approved", "available", "available", "available"]
    assert reads() - before == 3


async def test_a_delivery_with_the_wrong_secret_changes_nothing(medianest_client: Any, fake: FakeOverseerr) -> None:
    s = await setup(medianest_client, fake)
    alice = await s.person("alice", plex_id=501)
    made = await asked(s, alice, "movie", DUNE)
    live = await Live.open(alice)
    fake.configure_webhook(s.webhook_url, "Bearer not-the-secret")

    await InOverseerr(fake).approve(made)
    await s.settle()
    assert fake.webhook_deliveries[-1].status == 401
    assert await live.events() == []
    assert [r["state"] for r in await mine(alice)] == ["pending"]
    assert await notifications(alice) == []


async def test_a_webhook_while_overseerr_cannot_be_read_is_repaired_later(
    medianest_client: Any, fake: FakeOverseerr
) -> None:
    s = await setup(medianest_client, fake)
    alice = await s.person("alice", plex_id=501)
    made = await asked(s, alice, "movie", DUNE)
    await InOverseerr(fake).approve(made)
    await s.settle()
    live = await Live.open(alice)

    fake.make_available("movie", DUNE)
    fake.down = True  # the delivery goes out, but the request cannot be read back
    await s.settle()
    assert fake.webhook_deliveries[-1].status == 200  # answered: Overseerr does not retry, nothing to gain
    again = await s.client.post(
        "/api/v1/overseerr/webhook", json=fake.webhook_deliveries[-1].payload, headers={"Authorization": WEBHOOK_SECRET}
    )
    assert (again.status, await again.json()) == (200, {"result": "deferred"})
    assert await live.events() == []
    assert [r["state"] for r in await mine(alice)] == ["approved"]

    await s.service.reconcile()  # a round while Overseerr is down stops quietly; requests are paused meanwhile
    assert s.service.paused() == "Requests are paused: Overseerr is not answering"

    fake.down = False
    await s.service.reconcile()
    assert await live.states() == (["available"], ["Dune is now available in Plex"])
    assert s.service.paused() is None


# ---- where a request stands, from Overseerr's answers ----------------------------------------------------------


def answer(status: int, kind: str = "movie", media: dict[str, Any] | None = None, **more: Any) -> MediaRequest:
    """A request as Overseerr answers it (``GET /request/{id}``)."""
    doc: dict[str, Any] = {
        "id": 7,
        "status": status,
        "type": kind,
        "is4k": False,
        "createdAt": "2025-01-02T03:04:05.000Z",
        "updatedAt": "2025-01-02T03:04:05.000Z",
        "seasons": [],
        "requestedBy": {"id": 2, "displayName": "alice", "userType": 1, "permissions": 32},
        "modifiedBy": None,
    }
    if media is not None:
        doc["media"] = {"id": 5, "mediaType": kind, "tmdbId": 42, "status": 1, "status4k": 1, "seasons": []} | media
    parsed: MediaRequest = structure("overseerr", doc | more, MediaRequest)
    return parsed


def seasons(*pairs: tuple[int, int]) -> list[dict[str, Any]]:
    return [{"id": n, "seasonNumber": n, "status": status, "status4k": 1} for n, status in pairs]


def asked_for(*numbers: int) -> list[dict[str, Any]]:
    return [{"id": 100 + n, "seasonNumber": n, "status": 2} for n in numbers]


DOWNLOADING = [{"title": "Dune.2021.1080p", "status": "downloading", "timeLeft": "00:20:00"}]


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (answer(1, media={"status": 2}), ("pending", [])),
        (answer(3, media={"status": 1}), ("declined", [])),
        (answer(4, media={"status": 3}), ("failed", [])),
        (answer(2), ("approved", [])),  # no media in the answer
        (answer(2, media={"status": 3}), ("approved", [])),
        (answer(2, media={"status": 3, "downloadStatus": DOWNLOADING}), ("processing", [])),
        (answer(2, media={"status": 5}), ("available", [])),
        # Jellyseerr's COMPLETED counts as approved: the media says the rest.
        (answer(5, media={"status": 3}), ("approved", [])),
        (answer(5, media={"status": 5}), ("available", [])),
        # 4K: the media's 4K status, not the other.
        (answer(2, media={"status": 5, "status4k": 3}, is4k=True), ("approved", [])),
        (answer(2, media={"status": 1, "status4k": 5}, is4k=True), ("available", [])),
        (
            answer(2, media={"status": 5, "status4k": 3, "downloadStatus4k": DOWNLOADING}, is4k=True),
            ("processing", []),
        ),
        # A series of which seasons 1 and 2 were asked for.
        (
            answer(2, "tv", media={"status": 4, "seasons": seasons((1, 5), (2, 3))}, seasons=asked_for(1, 2)),
            ("partially_available", [1]),
        ),
        (
            answer(2, "tv", media={"status": 4, "seasons": seasons((1, 5), (2, 5), (3, 1))}, seasons=asked_for(1, 2)),
            ("available", [1, 2]),  # every season asked for is there, though the series is not whole
        ),
        (
            answer(2, "tv", media={"status": 4, "seasons": seasons((1, 5), (2, 3))}, seasons=asked_for(2)),
            ("approved", []),  # someone else's season is there, not this request's
        ),
        (
            answer(2, "tv", media={"status": 5, "seasons": seasons((1, 5), (2, 5))}, seasons=asked_for(1, 2)),
            ("available", [1, 2]),
        ),
        (answer(2, "tv", media={"status": 4}, seasons=asked_for(1, 2)), ("partially_available", [])),  # in a list
    ],
)
def test_state_of_an_overseerr_answer(request_: MediaRequest, expected: tuple[str, list[int]]) -> None:
    state, there = state_of(request_)
    assert (state.value, there) == expected


async def test_a_finished_download_stays_on_its_way_until_plex_has_it(
    medianest_client: Any, fake: FakeOverseerr
) -> None:
    s = await setup(medianest_client, fake)
    alice = await s.person("alice", plex_id=501)
    made = await asked(s, alice, "movie", DUNE)
    await InOverseerr(fake).approve(made)
    await s.settle()
    live = await Live.open(alice)
    media = fake.make_processing("movie", DUNE)
    await s.service.reconcile()
    assert await live.states() == (["processing"], ["Dune is downloading"])

    media.downloading = []  # Radarr is done; Plex has not scanned it yet: Overseerr says only "approved"
    await s.service.refresh(made)
    await s.service.reconcile()
    assert await live.events() == []  # not "approved" again
    assert [r["state"] for r in await mine(alice)] == ["processing"]

    fake.make_available("movie", DUNE)
    await s.settle()
    assert await live.states() == (["available"], ["Dune is now available in Plex"])
