"""The one way plugins talk to the services MediaNest fronts (Plex, Overseerr, TMDB, …), built never to hang a page.

Each service gets an :class:`Upstream`: one aiohttp session with hard timeouts (connect 3 s, whole call 10 s by
default, never aiohttp's 300 s), retries with exponential backoff and jitter (stamina) for transient failures
only, a circuit breaker, and a small TTL cache that serves the last good value, marked stale with its age, while
the service fails. Every failure is one of four exceptions whose message names the service and the path, never a
token or a query string:

- :class:`AuthFailed`: 401 or 403, the credentials are refused;
- :class:`NotFound`: 404;
- :class:`Unavailable`: no connection, a timeout, 5xx, 429 after the retries, or the breaker is open;
- :class:`BadResponse`: another 4xx, a body that is not JSON (``NaN`` and ``Infinity`` are not), JSON of an
  unexpected shape, or a body larger than allowed (``max_body``, or ``fetch_bytes(max_bytes=…)``).

Answers are structured with cattrs into the attrs class a call asks for, so an unexpected shape is a
:class:`BadResponse`, never a crash deep in a plugin.

A person waits on one deadline. The core's request middleware runs each request under :func:`deadline`
(``upstream_timeout`` by default): every call made for it, retries included, ends by then, with
:class:`DeadlineExceeded` (an :class:`Unavailable`). Work with no deadline (periodic tasks, health checks, jobs)
keeps the longer retries. Concurrent callers of the same read (a ``GET``, or one key of :meth:`Upstream.cached`)
share one call; a caller whose deadline passes stops waiting without cutting the call short for the others.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import enum
import json as jsonlib
import time
from collections.abc import Awaitable, Callable, Collection, Hashable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Generic, TypeVar, overload

import aiohttp
import attrs
import cattrs
import structlog

log = structlog.get_logger("medianest.upstream")

T = TypeVar("T")

RETRY_STATUSES: Final = frozenset({429, 502, 503, 504})
MAX_RETRY_AFTER: Final = 30.0


class UpstreamError(Exception):
    """A call to a service failed; ``str()`` is a readable line without secrets."""

    def __init__(self, service: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service
        self.message = message
        self.status = status


class AuthFailed(UpstreamError):
    """The service refused the credentials (401 or 403)."""


class NotFound(UpstreamError):
    """The service has no such thing (404)."""


class Unavailable(UpstreamError):
    """The service cannot be reached or answers with a server error; or its breaker is open."""


class BadResponse(UpstreamError):
    """The service answered, but not in the way its API promises."""


class DeadlineExceeded(Unavailable):
    """The service did not answer before the deadline of the person waiting (see :func:`deadline`)."""

    def __init__(self, service: str, what: str, seconds: float) -> None:
        super().__init__(
            service, f"{what}: no answer within {seconds:g} s" if what else f"no answer within {seconds:g} s"
        )
        self.seconds = seconds


class _Transient(Unavailable):
    """A failure worth retrying; ``retry_after`` is the service's own ``Retry-After``, in seconds."""

    def __init__(self, service: str, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(service, message, status=status)
        self.retry_after = retry_after


@attrs.frozen
class UpstreamConfig:
    """Timeouts, retries and the breaker of one service's client (core settings ``upstream_*`` by default)."""

    connect_timeout: float = 3.0
    timeout: float = 10.0
    attempts: int = 3
    wait_initial: float = 0.2
    wait_max: float = 2.0
    breaker_failures: int = 5
    breaker_reset: float = 30.0
    cache_entries: int = 512
    max_body: int = 16 * 1024 * 1024
    """The largest answer read from the service, in bytes: a larger one is a :class:`BadResponse`."""


@attrs.define
class Deadline:
    """When the person waiting stops waiting: ``at`` on the monotonic clock, ``seconds`` after it was set. Never
    changed once made (not frozen only because one is made for every request, and frozen ones cost twice as much
    to make)."""

    at: float
    seconds: float

    def remaining(self) -> float:
        return self.at - time.monotonic()


_deadline: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("medianest_upstream_deadline", default=None)


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[Deadline | None]:
    """Run the block under one deadline, ``seconds`` from now, for every upstream call made in it, retries
    included: what a person waits on. An earlier deadline already in force stays. ``None`` lifts the deadline for
    the block (work that goes on after the answer, such as a task started from a request)."""
    token = set_deadline(seconds)
    try:
        yield token.var.get()
    finally:
        _deadline.reset(token)


def set_deadline(seconds: float | None) -> contextvars.Token[Deadline | None]:
    """What :func:`deadline` does on entry, for a caller that cannot use a block; undo with ``reset_deadline``."""
    current = _deadline.get()
    made: Deadline | None = None
    if seconds is not None:
        made = Deadline(time.monotonic() + seconds, seconds)
        if current is not None and current.at <= made.at:
            made = current
    return _deadline.set(made)


def reset_deadline(token: contextvars.Token[Deadline | None]) -> None:
    _deadline.reset(token)


def current_deadline() -> Deadline | None:
    """The deadline in force here, or ``None`` (background work)."""
    return _deadline.get()


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after ``failures`` consecutive failures; after ``reset`` seconds one trial call goes through
    (half-open): its success closes the breaker, its failure opens it again for another ``reset``."""

    def __init__(self, failures: int, reset: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = failures
        self.reset = reset
        self.clock = clock
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self._trial = False

    def retry_in(self) -> float:
        return max(0.0, self.reset - (self.clock() - self.opened_at))

    def allow(self) -> bool:
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN and self.retry_in() <= 0:
            self.state = BreakerState.HALF_OPEN
            self._trial = False
        if self.state is BreakerState.HALF_OPEN and not self._trial:
            self._trial = True
            return True
        return False

    def success(self) -> None:
        if self.state is not BreakerState.CLOSED:
            log.info("breaker_closed")
        self.state, self.failures, self._trial = BreakerState.CLOSED, 0, False

    def failure(self) -> None:
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.threshold:
            if self.state is not BreakerState.OPEN:
                log.warning("breaker_opened", failures=self.failures, reset_s=self.reset)
            self.state, self.opened_at, self._trial = BreakerState.OPEN, self.clock(), False


@attrs.frozen
class Fetched(Generic[T]):
    """A value from a service: fresh, or the last good one (``stale``) while the service fails."""

    value: T
    fetched_at: datetime
    stale: bool = False
    error: str | None = None

    @property
    def age(self) -> float:
        return (datetime.now(UTC) - self.fetched_at).total_seconds()


@attrs.define
class _Entry:
    value: Any
    fetched_at: datetime
    fresh_until: float


@attrs.frozen
class _Answer:
    """A successful answer's body, read within the call; each caller decodes it for itself."""

    status: int
    content_type: str
    body: bytes


@attrs.frozen
class _Flight:
    """One call in progress that concurrent callers share, and the deadline it runs under."""

    task: asyncio.Task[Any]
    deadline: Deadline | None


_converter = cattrs.Converter()
_converter.register_structure_hook(datetime, lambda v, _: _moment(v))


def _moment(value: Any) -> datetime:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def structure(service: str, data: Any, cls: type[T]) -> T:
    """``data`` as ``cls``; an unexpected shape is a :class:`BadResponse` naming the first wrong field."""
    try:
        return _converter.structure(data, cls)
    except Exception as exc:
        from medianest_core.settings import describe_error

        problems = describe_error(exc, cls)
        where = "; ".join(f"{key or 'body'}: {message}" for key, message in problems[:3])
        raise BadResponse(service, f"unexpected answer ({where or type(exc).__name__})") from None


class Upstream:
    """The client of one service. Create it at start-up (``startup`` hook), close it at shutdown; or let
    :class:`UpstreamPool` (``ctx.upstreams``) do both."""

    def __init__(
        self,
        service: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        config: UpstreamConfig | None = None,
        secrets: Sequence[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers or {})
        self.config = config or UpstreamConfig()
        self.breaker = CircuitBreaker(self.config.breaker_failures, self.config.breaker_reset, clock)
        self.secrets = [s for s in secrets if s]
        self.clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._cache: collections.OrderedDict[Any, _Entry] = collections.OrderedDict()
        self._flights: dict[Hashable, _Flight] = {}
        self._pool: UpstreamPool | None = None  # the pool that made it, and closes it

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(
                total=self.config.timeout, connect=self.config.connect_timeout, sock_connect=self.config.connect_timeout
            )
            self._session = aiohttp.ClientSession(timeout=timeout, headers=self.headers, raise_for_status=False)
            if self._pool is not None:
                self._pool.keep(self)  # used again after its pool closed it: closed with the pool once more
        return self._session

    async def close(self) -> None:
        """End the calls in progress, close the session and forget the answers kept and the failures counted."""
        tasks = [flight.task for flight in self._flights.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._cache.clear()
        self.breaker.success()  # what it learnt of the service was with the settings it had
        if self._session is not None and not self._session.closed:
            await self._session.close()

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"

    # ---- calls ----------------------------------------------------------------------------------------------

    @overload
    async def request(
        self,
        method: str,
        path: str,
        *,
        expect: type[T],
        params: Mapping[str, Any] | None = ...,
        json: Any = ...,
        headers: Mapping[str, str] | None = ...,
        answers: Collection[int] = ...,
    ) -> T: ...

    @overload
    async def request(
        self,
        method: str,
        path: str,
        *,
        expect: None = ...,
        params: Mapping[str, Any] | None = ...,
        json: Any = ...,
        headers: Mapping[str, str] | None = ...,
        answers: Collection[int] = ...,
    ) -> Any: ...

    async def request(
        self,
        method: str,
        path: str,
        *,
        expect: type[T] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        answers: Collection[int] = (),
    ) -> Any:
        """Call the service and return its JSON (structured into ``expect`` when given; ``None`` for an empty
        body). Transient failures are retried, within the deadline in force (:func:`deadline`); the breaker
        refuses calls while the service is failing; concurrent identical ``GET`` calls share one.

        ``answers`` lists server-error statuses that this call of the service uses to refuse what was asked
        (a service that answers 500 for an id it does not know): they raise :class:`BadResponse` with their
        status, are not retried, and count as the service answering, not failing."""
        answer = await self._call(method, path, params=params, json=json, headers=headers, answers=answers)
        body = _decode_json(self.service, answer)
        if expect is None:
            return body
        return structure(self.service, body, expect)

    async def fetch_bytes(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        max_bytes: int | None = None,
    ) -> tuple[bytes, str]:
        """A binary answer (an image, say) and its content type. A body larger than ``max_bytes`` (by default the
        configured ``max_body``) is a :class:`BadResponse`, found without reading more than that."""
        answer = await self._call("GET", path, params=params, headers=headers, max_bytes=max_bytes)
        return answer.body, answer.content_type or "application/octet-stream"

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        max_bytes: int | None = None,
        answers: Collection[int] = (),
    ) -> _Answer:
        method = method.upper()
        what = f"{method} /{path.split('?', 1)[0].lstrip('/')}"
        cap = self.config.max_body if max_bytes is None else min(max_bytes, self.config.max_body)

        async def call() -> _Answer:
            return await self._attempts(method, path, what, params, json, headers, cap, frozenset(answers))

        if method in ("GET", "HEAD"):
            key = ("call", method, self.url(path), _frozen(params), _frozen(headers), cap, frozenset(answers))
            return await self._shared(key, call, what)
        return await call()

    async def _attempts(
        self,
        method: str,
        path: str,
        what: str,
        params: Mapping[str, Any] | None,
        json: Any,
        headers: Mapping[str, str] | None,
        cap: int,
        answers: frozenset[int] = frozenset(),
    ) -> _Answer:
        """One call and its retries, all within the deadline in force; the breaker counts the outcome."""
        limit = current_deadline()
        if limit is not None and limit.remaining() <= 0:
            raise DeadlineExceeded(self.service, what, limit.seconds)
        if not self.breaker.allow():
            raise Unavailable(
                self.service,
                f"not called for now after {self.breaker.failures} failures in a row; "
                f"trying again in {self.breaker.retry_in():.0f} s",
            )
        # stamina (and tenacity under it) is imported by the first call to a service, not by a server whose
        # services are not set up yet.
        import stamina

        started = self.clock()
        budget = self.config.timeout * self.config.attempts
        try:
            async with asyncio.timeout(None if limit is None else limit.remaining()):
                async for attempt in stamina.retry_context(
                    on=_backoff,
                    attempts=self.config.attempts,
                    timeout=budget if limit is None else min(budget, max(limit.remaining(), 0.0)),
                    wait_initial=self.config.wait_initial,
                    wait_max=self.config.wait_max,
                ):
                    with attempt:
                        answer = await self._once(method, path, what, params, json, headers, cap, answers)
        except TimeoutError:  # only the deadline raises it here: each attempt's own timeout is a _Transient
            assert limit is not None
            self.breaker.failure()
            log.info("upstream_deadline", service=self.service, call=what, seconds=limit.seconds)
            raise DeadlineExceeded(self.service, what, limit.seconds) from None
        except Unavailable as exc:
            self.breaker.failure()
            log.info("upstream_unavailable", service=self.service, call=what, error=exc.message)
            raise Unavailable(self.service, exc.message, status=exc.status) from None
        except UpstreamError:
            self.breaker.success()  # the service answered: it is up, whatever it thought of the request
            raise
        self.breaker.success()
        log.debug("upstream_call", service=self.service, call=what, ms=round((self.clock() - started) * 1000, 1))
        return answer

    async def _once(
        self,
        method: str,
        path: str,
        what: str,
        params: Mapping[str, Any] | None,
        json: Any,
        headers: Mapping[str, str] | None,
        cap: int,
        answers: frozenset[int] = frozenset(),
    ) -> _Answer:
        try:
            async with self.session.request(
                method, self.url(path), params=params, json=json, headers=headers, allow_redirects=False
            ) as resp:
                status = resp.status
                if status in answers:
                    raise BadResponse(self.service, f"{what} refused the request ({status})", status=status)
                if status in RETRY_STATUSES:
                    raise _Transient(
                        self.service,
                        f"{what} answered {status} {resp.reason or ''}".rstrip(),
                        status=status,
                        retry_after=_retry_after(resp.headers.get("Retry-After")),
                    )
                if status >= 500:
                    raise Unavailable(
                        self.service, f"{what} answered {status} {resp.reason or ''}".rstrip(), status=status
                    )
                if status in (401, 403):
                    raise AuthFailed(self.service, f"{what} refused the credentials ({status})", status=status)
                if status == 404:
                    raise NotFound(self.service, f"{what} found nothing (404)", status=status)
                if status >= 400:
                    raise BadResponse(self.service, f"{what} refused the request ({status})", status=status)
                if 300 <= status < 400:
                    raise BadResponse(self.service, f"{what} answered a redirect ({status})", status=status)
                return _Answer(status, resp.headers.get("Content-Type", ""), await _read(resp, cap, self.service, what))
        except UpstreamError:
            raise
        except TimeoutError:
            raise _Transient(self.service, f"{what}: no answer within the time limit") from None
        except aiohttp.ClientConnectionError as exc:
            raise _Transient(self.service, f"{what}: cannot connect ({self._clean(_reason(exc))})") from None
        except aiohttp.ClientError as exc:
            raise BadResponse(self.service, f"{what}: {self._clean(_reason(exc))}") from None

    # ---- shared calls ---------------------------------------------------------------------------------------

    async def _shared(self, key: Hashable, work: Callable[[], Awaitable[T]], what: str) -> T:
        """``work()`` once for all concurrent callers of ``key``, under the deadline of the caller who started
        it. Each caller waits at most until its own deadline; the work goes on for the others. Background work
        (no deadline) that joined a person's call starts it again if the person's deadline cut it short."""
        while True:
            flight = self._flights.get(key)
            if flight is None or flight.task.done():
                flight = self._start(key, work)
            limit = current_deadline()
            try:
                async with asyncio.timeout(None if limit is None else limit.remaining()) as scope:
                    result: T = await asyncio.shield(flight.task)
                    return result
            except TimeoutError:
                if limit is None or not scope.expired():
                    raise
                raise DeadlineExceeded(self.service, what, limit.seconds) from None
            except DeadlineExceeded:
                if not _outlasts(limit, flight.deadline):
                    raise
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if flight.task.cancelled() and (current is None or current.cancelling() == 0):
                    # The client closed under this call (its plugin restarted with new settings): the caller gets
                    # the service's failure, as for any call that cannot be answered, not a cancellation.
                    raise Unavailable(self.service, f"{what}: the call ended as the client closed") from None
                raise

    def _start(self, key: Hashable, work: Callable[[], Awaitable[Any]]) -> _Flight:
        # The task runs in a copy of the starter's context: under the starter's deadline.
        flight = _Flight(asyncio.get_running_loop().create_task(_run(work)), current_deadline())
        self._flights[key] = flight
        flight.task.add_done_callback(lambda task: self._landed(key, flight))
        return flight

    def _landed(self, key: Hashable, flight: _Flight) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.task.cancelled():
            flight.task.exception()  # retrieved, so that work no one waits for any more is not reported as lost

    # ---- cache ----------------------------------------------------------------------------------------------

    async def cached(self, key: Any, ttl: float, fetch: Callable[[], Awaitable[T]]) -> Fetched[T]:
        """``fetch()`` at most once every ``ttl`` seconds per ``key``, one call for all concurrent callers. While
        it fails, or when the caller's deadline passes first, the last good value is returned, marked stale with
        the error. With nothing stored yet, the error is raised."""
        entry = self._cache.get(key)
        if entry is not None and self.clock() < entry.fresh_until:
            self._cache.move_to_end(key)
            return Fetched(entry.value, entry.fetched_at)

        async def refresh() -> _Entry:
            value = await fetch()  # stored even when every caller has stopped waiting
            return self._keep(key, _Entry(value, datetime.now(UTC), self.clock() + ttl))

        try:
            made = await self._shared(("cached", key), refresh, "")
        except UpstreamError as exc:
            entry = self._cache.get(key)
            if entry is None:
                raise
            return Fetched(entry.value, entry.fetched_at, stale=True, error=str(exc))
        return Fetched(made.value, made.fetched_at)

    def _keep(self, key: Any, entry: _Entry) -> _Entry:
        self._cache[key] = entry
        self._cache.move_to_end(key)
        while len(self._cache) > self.config.cache_entries:
            self._cache.popitem(last=False)
        return entry

    def forget(self, key: Any = None) -> None:
        """Drop one cached value, or all of them."""
        if key is None:
            self._cache.clear()
        else:
            self._cache.pop(key, None)


async def _run(work: Callable[[], Awaitable[T]]) -> T:
    return await work()


def _outlasts(mine: Deadline | None, theirs: Deadline | None) -> bool:
    """Whether a caller under ``mine`` starts the work again after it ran out of the time of a person who waited
    (``theirs``): only background work does; a person has had the answer a person gets."""
    return mine is None and theirs is not None


def _frozen(values: Mapping[str, Any] | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in (values or {}).items()))


def _backoff(exc: Exception) -> bool | float:
    """stamina's hook: retry transient failures, after the service's own ``Retry-After`` when it gave one."""
    if isinstance(exc, _Transient):
        return exc.retry_after if exc.retry_after is not None else True
    return False


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


async def _read(resp: aiohttp.ClientResponse, cap: int, service: str, what: str) -> bytes:
    """The body, read in chunks and never past ``cap`` bytes: a larger one is a :class:`BadResponse`."""
    if resp.content_length is not None and resp.content_length > cap:
        raise BadResponse(service, f"{what} answered more than {cap} bytes", status=resp.status)
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(65536):
        size += len(chunk)
        if size > cap:
            raise BadResponse(service, f"{what} answered more than {cap} bytes", status=resp.status)
        chunks.append(chunk)
    return b"".join(chunks)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _decode_json(service: str, answer: _Answer) -> Any:
    if not answer.body.strip():
        return None
    try:
        return jsonlib.loads(answer.body, parse_constant=_no_constant)  # NaN and Infinity are not JSON
    except (ValueError, RecursionError):
        kind = (answer.content_type or "no content type").split(";")[0]
        raise BadResponse(service, f"the answer is not JSON ({kind})", status=answer.status) from None


class UpstreamPool:
    """The upstream clients of one process, made with the core's ``upstream_*`` settings and closed at shutdown.
    Each plugin reaches its own part of it as ``ctx.upstreams`` (:meth:`part`): the clients a plugin made are
    closed when it stops, so that restarting it with new settings leaves no session or connection of the old
    ones open."""

    def __init__(self, config: UpstreamConfig) -> None:
        self.config = config
        self.clients: list[Upstream] = []
        self._parts: dict[str, UpstreamPool] = {}

    def part(self, owner: str) -> UpstreamPool:
        """The pool of ``owner``'s clients (a plugin's): same settings, closed with this one, or alone by
        :meth:`close_part` when the plugin stops. Always the same pool for the same owner."""
        found = self._parts.get(owner)
        if found is None:
            found = self._parts[owner] = UpstreamPool(self.config)
        return found

    async def close_part(self, owner: str) -> None:
        """Close the clients ``owner`` made; it may make new ones afterwards (a restarted plugin does)."""
        found = self._parts.get(owner)
        if found is not None:
            await found.close()

    def client(
        self,
        service: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        secrets: Sequence[str] = (),
        config: UpstreamConfig | None = None,
    ) -> Upstream:
        made = Upstream(service, base_url, headers=headers, secrets=secrets, config=config or self.config)
        made._pool = self
        self.clients.append(made)
        return made

    def keep(self, client: Upstream) -> None:
        """Close ``client`` with this pool (again: a client this pool closed is forgotten until it is used anew,
        as a route mounted once for the process's life uses its client across its plugin's restarts)."""
        if client not in self.clients:
            self.clients.append(client)

    async def close(self) -> None:
        # Forgotten before they are closed: one that a call still under way opens again meanwhile keeps itself
        # here anew (see ``Upstream.session``), to be closed with the pool once more.
        clients, self.clients = self.clients, []
        parts = list(self._parts.values())
        await asyncio.gather(
            *(client.close() for client in clients), *(part.close() for part in parts), return_exceptions=True
        )
