"""What an attacker, or an odd Overseerr, can send the Overseerr plugin: every answer is a clear 4xx or the right
result, never a 500, a quota passed, or a person told what is not theirs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from medianest_overseerr.client import MediaRequestStatus
from medianest_overseerr.fake import FakeOverseerr
from medianest_overseerr.models import Request, Watch
from overseerr_harness import WEBHOOK_SECRET, Person, Setup, setup
from sqlalchemy import select

REQUESTS = "/api/v1/overseerr/requests"
FILMS = [1001, 1002, 1003, 1004, 1005]
SERIES = 2001


@pytest.fixture
async def fake() -> AsyncIterator[FakeOverseerr]:
    made = FakeOverseerr()
    for number, tmdb_id in enumerate(FILMS):
        made.add_movie(tmdb_id, f"Film {number}", 2020)
    made.add_tv(SERIES, "A Series", 2021, {1: 8})
    await made.start()
    yield made
    await made.stop()


@pytest.fixture
def medianest(medianest_client: Any, medianest_database_url: str) -> Callable[..., Awaitable[Any]]:
    """``medianest_client`` on each database: SQLite, and PostgreSQL when it runs (its columns have lengths)."""

    async def make(**kwargs: Any) -> Any:
        return await medianest_client(**({"database_url": medianest_database_url} | kwargs))

    return make


async def stored(s: Setup) -> list[Request]:
    async with s.runtime.sessions() as db:
        return list((await db.scalars(select(Request).order_by(Request.overseerr_id))).all())


async def film(person: Person, tmdb_id: int) -> tuple[int, Any]:
    return await person.call("POST", REQUESTS, json={"kind": "movie", "tmdb_id": tmdb_id})


async def test_parallel_requests_never_pass_a_quota_with_one_left(medianest: Any, fake: FakeOverseerr) -> None:
    s = await setup(medianest, fake)
    alice = await s.person("alice", plex_id=3001)
    root = await s.person("root", role="admin")
    status, body = await root.call(
        "PATCH", f"/api/v1/admin/users/{alice.user_id}", json={"quotas": {"overseerr.requests": 1}}
    )
    assert status == 200, body
    answers = await asyncio.gather(*(film(alice, tmdb_id) for tmdb_id in FILMS))
    assert sorted(status for status, _ in answers) == [201, 429, 429, 429, 429]
    assert len(fake.requests) == 1


async def test_names_longer_than_medianest_keeps_are_cut_not_a_500(medianest: Any, fake: FakeOverseerr) -> None:
    s = await setup(medianest, fake)
    mallory = await s.person("mallory", plex_id=3009, overseerr=False)
    fake.add_user("m" * 250, plex_id=3009)  # a name chosen in Overseerr, longer than any column
    bob = await s.person("bob", plex_id=3010)
    status, body = await film(mallory, FILMS[0])
    assert status == 201, body
    status, body = await film(bob, FILMS[1])
    assert status == 201, body
    await s.settle()
    for request in fake.requests:  # approved in Overseerr while every webhook was lost
        request.status = MediaRequestStatus.APPROVED
        request.updated_at = fake.now()
    await s.service.reconcile()
    rows = await stored(s)
    assert [row.state for row in rows] == ["approved", "approved"]
    assert rows[0].requested_by == "m" * 200


async def test_an_empty_webhook_secret_refuses_every_delivery(medianest: Any, fake: FakeOverseerr) -> None:
    s = await setup(medianest, fake, webhook=False, webhook_secret="")
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            s.webhook_url, json={"notification_type": "MEDIA_APPROVED", "request": {"request_id": "1"}}
        )
        assert resp.status == 401
        assert (await resp.json())["error"]["message"] == "The webhook is not set up: set webhook_secret."


@pytest.mark.parametrize("request_id", ["9" * 30, "9" * 5000, "\u0661\u0662", "0", "-3"])
async def test_a_delivery_naming_no_possible_request_is_ignored(
    medianest: Any, fake: FakeOverseerr, request_id: str
) -> None:
    s = await setup(medianest, fake, webhook=False)
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            s.webhook_url,
            data=json.dumps({"notification_type": "MEDIA_APPROVED", "request": {"request_id": request_id}}),
            headers={"Authorization": WEBHOOK_SECRET, "Content-Type": "application/json"},
        )
        assert resp.status == 200
        assert await resp.json() == {"result": "ignored"}
    assert not [call for call in fake.calls if call.path.startswith("/api/v1/request/")]


async def test_an_authorization_header_that_is_not_utf8_is_a_401(medianest: Any, fake: FakeOverseerr) -> None:
    s = await setup(medianest, fake, webhook=False)
    url = s.client.make_url("/api/v1/overseerr/webhook")
    reader, writer = await asyncio.open_connection(url.host, url.port)
    body = b'{"notification_type": "MEDIA_APPROVED"}'
    writer.write(
        b"POST /api/v1/overseerr/webhook HTTP/1.1\r\nHost: x\r\nAuthorization: \xff\xfe\r\n"
        b"Content-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\nConnection: close\r\n\r\n"
        + body
    )
    await writer.drain()
    answer = await reader.read()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


async def test_a_4k_arrival_does_not_tell_those_waiting_for_the_title(medianest: Any, fake: FakeOverseerr) -> None:
    fake.movie_4k = True
    s = await setup(medianest, fake)
    alice = await s.person("alice", plex_id=3001, permissions=0x20 | 0x400)  # REQUEST, REQUEST_4K
    bob = await s.person("bob", plex_id=3002)
    status, body = await alice.call("POST", REQUESTS, json={"kind": "movie", "tmdb_id": FILMS[0], "is4k": True})
    assert status == 201, body
    status, body = await bob.call("PUT", f"/api/v1/overseerr/watches/movie/{FILMS[0]}")
    assert status == 200, body
    fake.make_available("movie", FILMS[0], is4k=True)
    await s.settle()
    [row] = await stored(s)
    assert row.state == "available"
    async with s.runtime.sessions() as db:
        assert len((await db.scalars(select(Watch))).all()) == 1  # bob still waits for the ordinary film
    status, body = await bob.call("GET", "/api/v1/notifications")
    assert status == 200
    assert body["notifications"] == []


async def test_watches_per_person_are_bounded(medianest: Any, fake: FakeOverseerr) -> None:
    from medianest_overseerr.api import MAX_WATCHES

    s = await setup(medianest, fake)
    alice = await s.person("alice", plex_id=3001)
    async with s.runtime.sessions.begin() as db:
        db.add_all(Watch(user_id=alice.user_id, kind="movie", tmdb_id=900000 + n) for n in range(MAX_WATCHES))
    status, body = await alice.call("PUT", f"/api/v1/overseerr/watches/movie/{FILMS[0]}")
    assert status == 409
    assert body["error"]["message"].startswith(f"You are waiting for {MAX_WATCHES} titles already")
    status, body = await alice.call("PUT", "/api/v1/overseerr/watches/movie/900001")  # one kept already: fine
    assert status == 200
