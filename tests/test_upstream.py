"""The resilient client plugins use for their services, against a small misbehaving server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import attrs
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from conftest import free_port
from example_plugins import Greeter
from sqlalchemy import select

from medianest_core import keys
from medianest_core.models import Notification, ServiceStatus
from medianest_core.testing import entry_point, sign_in
from medianest_core.upstream import (
    AuthFailed,
    BadResponse,
    BreakerState,
    DeadlineExceeded,
    NotFound,
    Unavailable,
    Upstream,
    UpstreamConfig,
    UpstreamPool,
    deadline,
)

FAST = UpstreamConfig(connect_timeout=1, timeout=2, attempts=3, wait_initial=0.01, wait_max=0.05, breaker_failures=3)


@attrs.frozen
class Identity:
    name: str
    version: str
    sections: int = 0


class Fake:
    """A service whose answers the test scripts: each path has a list of answers, the last one repeats."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.script: dict[str, list[Callable[[web.Request], Any]]] = {}

    def on(self, path: str, *answers: Callable[[web.Request], Any]) -> None:
        self.script[path] = list(answers)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.calls.append(request.path)
        answers = self.script.get(request.path)
        if not answers:
            raise web.HTTPNotFound()
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        result = answer(request)
        if asyncio.iscoroutine(result):
            result = await result
        assert isinstance(result, web.StreamResponse)
        return result


def breaker_state(client: Upstream) -> str:
    return client.breaker.state.value


def status(code: int, **headers: str) -> Callable[[web.Request], web.Response]:
    return lambda _: web.Response(status=code, headers=headers, text="nope")


def ok_text(text: str) -> Callable[[web.Request], web.Response]:
    return lambda _: web.Response(text=text, content_type="application/json")


def ok(doc: Any) -> Callable[[web.Request], web.Response]:
    return lambda _: web.json_response(doc)


@pytest.fixture
async def fake() -> AsyncIterator[tuple[Fake, str]]:
    service = Fake()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", service.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield service, str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
async def client(fake: tuple[Fake, str]) -> AsyncIterator[Upstream]:
    made = Upstream("plex", fake[1], config=FAST, secrets=["s3cret-token"])
    yield made
    await made.close()


async def test_answers_are_structured_and_extra_fields_ignored(fake: tuple[Fake, str], client: Upstream) -> None:
    service, _ = fake
    service.on("/identity", ok({"name": "Home", "version": "1.41", "sections": 3, "extra": {"x": 1}}))
    assert await client.request("GET", "/identity", expect=Identity) == Identity("Home", "1.41", 3)
    service.on("/identity", ok({"name": "Home"}))
    with pytest.raises(BadResponse) as info:
        await client.request("GET", "/identity", expect=Identity)
    assert "version" in str(info.value)
    assert str(info.value).startswith("plex: unexpected answer")
    service.on("/identity", lambda _: web.Response(text="<html>login</html>", content_type="text/html"))
    with pytest.raises(BadResponse, match=r"not JSON \(text/html\)"):
        await client.request("GET", "/identity")


async def test_nan_and_infinity_are_not_json(fake: tuple[Fake, str], client: Upstream) -> None:
    """A service that sends NaN must not make MediaNest answer invalid JSON to browsers."""
    service, _ = fake
    for constant in ("NaN", "Infinity", "-Infinity"):
        service.on("/identity", ok_text(f'{{"popularity": {constant}}}'))
        with pytest.raises(BadResponse, match="not JSON"):
            await client.request("GET", "/identity")


async def test_a_body_past_its_cap_is_refused_without_reading_it_all(fake: tuple[Fake, str]) -> None:
    service, url = fake
    sent: list[int] = []

    async def streamed(request: web.Request) -> web.StreamResponse:
        """A body of unknown length (chunked), far larger than allowed."""
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        await response.prepare(request)
        try:
            for _ in range(400):
                await response.write(b"x" * 65536)
                sent.append(65536)
        except ConnectionResetError:
            pass
        return response

    small = Upstream("tmdb", url, config=attrs.evolve(FAST, max_body=1024 * 1024))
    try:
        service.on("/big.jpg", lambda _: web.Response(body=b"x" * 300_000, content_type="image/jpeg"))
        with pytest.raises(BadResponse, match="more than 100000 bytes"):  # told by its Content-Length
            await small.fetch_bytes("/big.jpg", max_bytes=100_000)
        body, kind = await small.fetch_bytes("/big.jpg")
        assert (len(body), kind) == (300_000, "image/jpeg")
        service.on("/endless.jpg", streamed)
        with pytest.raises(BadResponse, match="more than 1048576 bytes"):  # the configured cap
            await small.fetch_bytes("/endless.jpg")
        with pytest.raises(BadResponse, match="more than 1048576 bytes"):  # JSON answers are capped too
            await small.request("GET", "/endless.jpg")
    finally:
        await small.close()
    assert sum(sent) < 400 * 65536  # the reading stopped: the service could not send it all


async def test_client_errors_are_not_retried(fake: tuple[Fake, str], client: Upstream) -> None:
    service, _ = fake
    for code, kind in ((401, AuthFailed), (403, AuthFailed), (404, NotFound), (400, BadResponse), (422, BadResponse)):
        service.calls.clear()
        service.on("/thing", status(code))
        with pytest.raises(kind) as info:
            await client.request("GET", "/thing?X-Plex-Token=s3cret-token")
        assert service.calls == ["/thing"], code
        assert "s3cret-token" not in str(info.value)
        assert "GET /thing" in str(info.value)
    assert client.breaker.state is BreakerState.CLOSED  # the service answered: it is up


async def test_a_server_error_a_call_names_as_a_refusal_is_an_answer(fake: tuple[Fake, str]) -> None:
    service, base = fake
    client = Upstream("overseerr", base, config=attrs.evolve(FAST, attempts=1))
    service.on("/movie/999999", status(500))
    for _ in range(FAST.breaker_failures + 2):
        with pytest.raises(BadResponse) as info:
            await client.request("GET", "/movie/999999", answers=(500,))
        assert info.value.status == 500
    assert breaker_state(client) == "closed"  # bogus ids never pause the service for everyone
    assert service.calls == ["/movie/999999"] * (FAST.breaker_failures + 2)  # and are not retried

    with pytest.raises(Unavailable):  # elsewhere, a 500 is the service failing
        await client.request("GET", "/movie/999999")
    await client.close()


async def test_transient_failures_are_retried_with_backoff(fake: tuple[Fake, str], client: Upstream) -> None:
    service, _ = fake
    service.on("/busy", status(503), status(502), ok({"fine": True}))
    assert await client.request("GET", "/busy") == {"fine": True}
    assert service.calls == ["/busy"] * 3

    service.calls.clear()
    service.on("/slow-down", status(429, **{"Retry-After": "1"}), ok([1, 2]))
    started = time.monotonic()
    assert await client.request("GET", "/slow-down") == [1, 2]
    assert time.monotonic() - started >= 0.9  # the service's Retry-After, not the 10 ms backoff
    assert len(service.calls) == 2

    service.calls.clear()
    service.on("/down", status(503))
    with pytest.raises(Unavailable, match=r"^plex: GET /down answered 503"):
        await client.request("GET", "/down")
    assert len(service.calls) == FAST.attempts


async def test_a_service_that_never_answers_is_cut_at_the_timeout(fake: tuple[Fake, str]) -> None:
    service, base = fake

    async def hang(_: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response({})

    service.on("/hang", hang)
    client = Upstream("plex", base, config=attrs.evolve(FAST, timeout=0.3, attempts=2))
    started = time.monotonic()
    with pytest.raises(Unavailable, match="no answer within the time limit"):
        await client.request("GET", "/hang")
    assert time.monotonic() - started < 1.5
    await client.close()

    refused = Upstream("plex", f"http://127.0.0.1:{free_port()}", config=FAST)
    with pytest.raises(Unavailable, match="cannot connect"):
        await refused.request("GET", "/identity")
    await refused.close()


async def test_the_breaker_opens_and_closes_again(fake: tuple[Fake, str]) -> None:
    service, base = fake
    now = [1000.0]
    client = Upstream("plex", base, config=attrs.evolve(FAST, attempts=1, breaker_reset=30), clock=lambda: now[0])
    service.on("/identity", status(503))
    for _ in range(FAST.breaker_failures):
        with pytest.raises(Unavailable):
            await client.request("GET", "/identity")
    assert breaker_state(client) == "open"
    calls = len(service.calls)
    with pytest.raises(Unavailable, match=r"trying again in 30 s"):
        await client.request("GET", "/identity")
    assert len(service.calls) == calls  # not even tried

    now[0] += 31
    service.on("/identity", ok({"name": "Home", "version": "1.41"}))
    assert (await client.request("GET", "/identity", expect=Identity)).name == "Home"
    assert breaker_state(client) == "closed"

    # A failed trial opens it again at once.
    service.on("/identity", status(503))
    for _ in range(FAST.breaker_failures):
        with pytest.raises(Unavailable):
            await client.request("GET", "/identity")
    now[0] += 31
    with pytest.raises(Unavailable, match="answered 503"):
        await client.request("GET", "/identity")
    assert breaker_state(client) == "open"
    await client.close()


async def test_the_cache_serves_the_last_good_value_while_the_service_fails(
    fake: tuple[Fake, str], client: Upstream
) -> None:
    service, _ = fake
    service.on("/sections", ok({"count": 3}))

    async def sections() -> Any:
        return await client.request("GET", "/sections")

    first = await client.cached("sections", 0.2, sections)
    assert (first.value, first.stale) == ({"count": 3}, False)
    again = await client.cached("sections", 0.2, sections)
    assert again.fetched_at == first.fetched_at
    assert service.calls == ["/sections"]

    service.on("/sections", status(503))
    await asyncio.sleep(0.25)
    stale = await client.cached("sections", 0.2, sections)
    assert (stale.value, stale.stale) == ({"count": 3}, True)
    assert stale.error is not None
    assert "503" in stale.error
    assert stale.age >= 0.25
    with pytest.raises(Unavailable):
        await client.cached("other", 0.2, sections)  # nothing stored yet: the error itself


async def test_service_status_is_stored_and_admins_hear_of_down_and_back(medianest_client: Any) -> None:
    greeter = Greeter()
    client = await medianest_client(entry_points=[entry_point("greeter", greeter)])
    admin = await sign_in(client, "root", role="admin")
    runtime = client.app[keys.RUNTIME]

    async def eventually(read: Callable[[Any], Awaitable[Any]], wanted: Callable[[Any], bool]) -> Any:
        """What ``read(db)`` gives once ``wanted`` holds (the checks run on their own time; 10 s at most)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while True:
            async with runtime.sessions() as db:
                found = await read(db)
            if wanted(found):
                return found
            assert loop.time() < deadline, f"still {found!r}"
            await asyncio.sleep(0.05)

    async def status(db: Any) -> ServiceStatus | None:
        row: ServiceStatus | None = await db.get(ServiceStatus, "greeter/service")
        return row

    async def titles(db: Any) -> list[str]:
        query = select(Notification.title).where(Notification.user_id == admin.user_id).order_by(Notification.id)
        return list((await db.scalars(query)).all())

    await eventually(status, lambda row: row is not None and row.state == "up")
    greeter.healthy = False
    row = await eventually(status, lambda row: row is not None and row.state == "down")
    assert row.last_success_at is not None
    assert "refused the connection" in (row.last_error or "")
    assert await eventually(titles, lambda found: len(found) == 1) == ["Greeter is down"]
    greeter.healthy = True
    await eventually(status, lambda row: row is not None and row.state == "up")
    assert await eventually(titles, lambda found: len(found) == 2) == ["Greeter is down", "Greeter is back"]


# ---- one deadline for a call a person waits on ---------------------------------------------------------------


class Gate:
    """Answers held until the test opens the gate (a service that hangs until then); ``arrived`` is set when the
    first call comes in."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.open = asyncio.Event()

    def hold(self, answer: Callable[[web.Request], web.Response]) -> Callable[[web.Request], Any]:
        async def wait(request: web.Request) -> web.Response:
            self.arrived.set()
            await self.open.wait()
            return answer(request)

        return wait


def slow(seconds: float, answer: Callable[[web.Request], web.Response]) -> Callable[[web.Request], Any]:
    async def wait(request: web.Request) -> web.Response:
        await asyncio.sleep(seconds)
        return answer(request)

    return wait


async def test_one_deadline_covers_a_call_and_its_retries(fake: tuple[Fake, str]) -> None:
    service, base = fake
    # Each attempt takes 0.3 s and fails: three of them, and the waits between, take about a second.
    service.on("/busy", slow(0.3, status(503)))
    client = Upstream("plex", base, config=attrs.evolve(FAST, timeout=2, attempts=3, wait_initial=0.1))
    loop = asyncio.get_running_loop()
    started = loop.time()
    with deadline(0.5), pytest.raises(DeadlineExceeded) as info:
        await client.request("GET", "/busy")
    assert loop.time() - started < 1.0  # loosely: the deadline, not 3 attempts of up to 2 s each
    assert str(info.value) == "plex: GET /busy: no answer within 0.5 s"
    assert isinstance(info.value, Unavailable)
    assert len(service.calls) <= 2

    # A service that accepts the call and never answers is cut at the deadline, not at the call's own timeout.
    gate = Gate()
    service.on("/hang", gate.hold(ok({})))
    started = loop.time()
    with deadline(0.3), pytest.raises(DeadlineExceeded):
        await client.request("GET", "/hang")
    assert loop.time() - started < 1.0
    gate.open.set()
    await client.close()


async def test_background_work_keeps_the_longer_retries(fake: tuple[Fake, str]) -> None:
    service, base = fake
    client = Upstream("plex", base, config=attrs.evolve(FAST, timeout=2, attempts=3, wait_initial=0.05))
    service.on("/sections", slow(0.3, status(503)), slow(0.3, status(503)), ok({"count": 3}))
    with deadline(0.5), pytest.raises(DeadlineExceeded):
        await client.request("GET", "/sections")
    service.calls.clear()
    service.on("/sections", slow(0.3, status(503)), slow(0.3, status(503)), ok({"count": 3}))
    assert await client.request("GET", "/sections") == {"count": 3}  # no deadline: every attempt is made
    assert len(service.calls) == 3
    await client.close()


async def test_concurrent_reads_share_one_call(fake: tuple[Fake, str], client: Upstream) -> None:
    service, _ = fake
    gate = Gate()
    service.on("/identity", gate.hold(ok({"name": "Home", "version": "1.41"})))
    callers = [asyncio.create_task(client.request("GET", "/identity", expect=Identity)) for _ in range(20)]
    await gate.arrived.wait()  # the other nineteen joined the call before it reached the service
    gate.open.set()
    answers = await asyncio.gather(*callers)
    assert answers == [Identity("Home", "1.41")] * 20
    assert service.calls == ["/identity"]

    # Writes are never shared.
    service.on("/scan", ok({"queued": True}))
    await asyncio.gather(*(client.request("POST", "/scan") for _ in range(3)))
    assert service.calls.count("/scan") == 3


async def test_concurrent_cache_callers_share_one_failing_call(fake: tuple[Fake, str]) -> None:
    service, base = fake
    client = Upstream("plex", base, config=attrs.evolve(FAST, attempts=1, breaker_failures=100))
    service.on("/sections", ok({"count": 3}))

    async def sections() -> Any:
        return await client.request("GET", "/sections")

    await client.cached("sections", 0.0, sections)  # stored, and due for a refresh at once
    service.calls.clear()
    service.on("/sections", slow(0.2, status(503)))
    answers = await asyncio.gather(*(client.cached("sections", 0.0, sections) for _ in range(10)))
    assert [(a.value, a.stale) for a in answers] == [({"count": 3}, True)] * 10
    assert service.calls == ["/sections"]  # one call for all ten, not one after another
    await client.close()


async def test_past_its_deadline_a_person_gets_the_stale_value_and_the_call_goes_on(fake: tuple[Fake, str]) -> None:
    service, base = fake
    client = Upstream("plex", base, config=FAST)
    service.on("/sections", ok({"count": 3}))

    async def sections() -> Any:
        return await client.request("GET", "/sections")

    first = await client.cached("sections", 0.0, sections)
    service.calls.clear()
    gate = Gate()
    service.on("/sections", gate.hold(ok({"count": 4})))

    background = asyncio.create_task(client.cached("sections", 0.0, sections))  # a periodic task, say
    await gate.arrived.wait()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with deadline(0.3):
        person = await client.cached("sections", 0.0, sections)
    assert loop.time() - started < 1.0
    assert (person.value, person.stale, person.fetched_at) == ({"count": 3}, True, first.fetched_at)
    assert person.error == "plex: no answer within 0.3 s"
    assert person.age > 0

    gate.open.set()
    fresh = await background  # the call the person stopped waiting for was not cut short
    assert (fresh.value, fresh.stale) == ({"count": 4}, False)
    assert service.calls == ["/sections"]

    # A person who starts the call with nothing stored gets the error itself, naming the service.
    gate.open.clear()
    with deadline(0.3), pytest.raises(DeadlineExceeded, match=r"^plex: "):
        await client.cached("other", 60, sections)
    gate.open.set()
    await client.close()


# ---- A plugin's clients closing under calls (its settings saved while people use it) ----------------------------


async def test_a_call_under_way_when_its_client_closes_fails_as_the_service_would(fake: tuple[Fake, str]) -> None:
    service, url = fake
    gate = Gate()
    service.on("/identity", gate.hold(ok({"name": "Home", "version": "1.41"})))
    pool = UpstreamPool(FAST)
    made = pool.part("plex").client("plex", url)
    asking = asyncio.create_task(made.request("GET", "/identity", expect=Identity))  # a title page asking Plex
    await gate.arrived.wait()

    await pool.close_part("plex")  # the admin saves Plex's settings meanwhile
    with pytest.raises(Unavailable, match="the call ended as the client closed"):
        await asyncio.wait_for(asking, 5)
    gate.open.set()
    await pool.close()


async def test_a_client_opened_again_while_its_pool_closes_is_closed_with_the_pool_later() -> None:
    pool = UpstreamPool(FAST)
    part = pool.part("plex")
    made = part.client("plex", "http://plex.example")
    first = made.session
    reopened: list[Any] = []
    close_first = first.close

    async def closed_then_used() -> None:  # a request under way asks for the client right as it closes
        await close_first()
        reopened.append(made.session)

    first.close = closed_then_used  # type: ignore[method-assign]
    await pool.close_part("plex")
    assert first.closed
    assert not reopened[0].closed
    await pool.close()  # MediaNest stops
    assert reopened[0].closed


async def test_closing_a_client_forgets_what_it_learnt_of_the_service(fake: tuple[Fake, str]) -> None:
    service, url = fake
    service.on("/identity", status(503))
    pool = UpstreamPool(FAST)
    made = pool.part("plex").client("plex", url)
    for _ in range(3):
        with pytest.raises(Unavailable):
            await made.request("GET", "/identity", expect=Identity)
    assert breaker_state(made) == "open"

    await pool.close_part("plex")  # new settings: the next call tries the service again
    service.on("/identity", ok({"name": "Home", "version": "1.41"}))
    assert await made.request("GET", "/identity", expect=Identity) == Identity("Home", "1.41")
    await pool.close()
