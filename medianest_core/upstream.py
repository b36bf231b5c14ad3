"""The one way plugins talk to the services MediaNest fronts (Plex, Overseerr, TMDB, …), built never to hang a page.

Each service gets an :class:`Upstream`: one aiohttp session with hard timeouts (connect 3 s, whole call 10 s by
default, never aiohttp's 300 s), retries with exponential backoff and jitter (stamina) for transient failures
only, a circuit breaker, and a small TTL cache that serves the last good value, marked stale with its age, while
the service fails. Every failure is one of four exceptions whose message names the service and the path, never a
token or a query string:

- :class:`AuthFailed`: 401 or 403, the credentials are refused;
- :class:`NotFound`: 404;
- :class:`Unavailable`: no connection, a timeout, 5xx, 429 after the retries, or the breaker is open;
- :class:`BadResponse`: another 4xx, a body that is not JSON, or JSON of an unexpected shape.

Answers are structured with cattrs into the attrs class a call asks for, so an unexpected shape is a
:class:`BadResponse`, never a crash deep in a plugin.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Generic, TypeVar, overload

import aiohttp
import attrs
import cattrs
import stamina
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
        self._locks: dict[Any, asyncio.Lock] = {}

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(
                total=self.config.timeout, connect=self.config.connect_timeout, sock_connect=self.config.connect_timeout
            )
            self._session = aiohttp.ClientSession(timeout=timeout, headers=self.headers, raise_for_status=False)
        return self._session

    async def close(self) -> None:
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
    ) -> Any:
        """Call the service and return its JSON (structured into ``expect`` when given; ``None`` for an empty
        body). Transient failures are retried; the breaker refuses calls while the service is failing."""
        body = await self._call(method, path, params=params, json=json, headers=headers, read=_read_json)
        if expect is None:
            return body
        return structure(self.service, body, expect)

    async def fetch_bytes(
        self, path: str, *, params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None
    ) -> tuple[bytes, str]:
        """A binary answer (an image, say) and its content type."""
        result: tuple[bytes, str] = await self._call("GET", path, params=params, headers=headers, read=_read_bytes)
        return result

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        read: Callable[[str, aiohttp.ClientResponse], Awaitable[Any]],
    ) -> Any:
        what = f"{method.upper()} /{path.split('?', 1)[0].lstrip('/')}"
        if not self.breaker.allow():
            raise Unavailable(
                self.service,
                f"not called for now after {self.breaker.failures} failures in a row; "
                f"trying again in {self.breaker.retry_in():.0f} s",
            )
        started = self.clock()
        try:
            async for attempt in stamina.retry_context(
                on=_backoff,
                attempts=self.config.attempts,
                timeout=self.config.timeout * self.config.attempts,
                wait_initial=self.config.wait_initial,
                wait_max=self.config.wait_max,
            ):
                with attempt:
                    result = await self._once(method, path, what, params, json, headers, read)
        except Unavailable as exc:
            self.breaker.failure()
            log.info("upstream_unavailable", service=self.service, call=what, error=exc.message)
            raise Unavailable(self.service, exc.message, status=exc.status) from None
        except UpstreamError:
            self.breaker.success()  # the service answered: it is up, whatever it thought of the request
            raise
        self.breaker.success()
        log.debug("upstream_call", service=self.service, call=what, ms=round((self.clock() - started) * 1000, 1))
        return result

    async def _once(
        self,
        method: str,
        path: str,
        what: str,
        params: Mapping[str, Any] | None,
        json: Any,
        headers: Mapping[str, str] | None,
        read: Callable[[str, aiohttp.ClientResponse], Awaitable[Any]],
    ) -> Any:
        try:
            async with self.session.request(
                method, self.url(path), params=params, json=json, headers=headers, allow_redirects=False
            ) as resp:
                status = resp.status
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
                return await read(self.service, resp)
        except UpstreamError:
            raise
        except TimeoutError:
            raise _Transient(self.service, f"{what}: no answer within the time limit") from None
        except aiohttp.ClientConnectionError as exc:
            raise _Transient(self.service, f"{what}: cannot connect ({self._clean(_reason(exc))})") from None
        except aiohttp.ClientError as exc:
            raise BadResponse(self.service, f"{what}: {self._clean(_reason(exc))}") from None

    # ---- cache ----------------------------------------------------------------------------------------------

    async def cached(self, key: Any, ttl: float, fetch: Callable[[], Awaitable[T]]) -> Fetched[T]:
        """``fetch()`` at most once every ``ttl`` seconds per ``key``; while it fails, the last good value is
        returned, marked stale with the error. With nothing stored yet, the error is raised."""
        entry = self._cache.get(key)
        now = self.clock()
        if entry is not None and now < entry.fresh_until:
            self._cache.move_to_end(key)
            return Fetched(entry.value, entry.fetched_at)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            entry = self._cache.get(key)
            if entry is not None and self.clock() < entry.fresh_until:
                return Fetched(entry.value, entry.fetched_at)
            try:
                value = await fetch()
            except UpstreamError as exc:
                if entry is None:
                    raise
                return Fetched(entry.value, entry.fetched_at, stale=True, error=str(exc))
            fetched_at = datetime.now(UTC)
            self._cache[key] = _Entry(value, fetched_at, self.clock() + ttl)
            self._cache.move_to_end(key)
            while len(self._cache) > self.config.cache_entries:
                old, _ = self._cache.popitem(last=False)
                self._locks.pop(old, None)
            return Fetched(value, fetched_at)

    def forget(self, key: Any = None) -> None:
        """Drop one cached value, or all of them."""
        if key is None:
            self._cache.clear()
        else:
            self._cache.pop(key, None)


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


async def _read_json(service: str, resp: aiohttp.ClientResponse) -> Any:
    raw = await resp.read()
    if not raw.strip():
        return None
    try:
        import json

        return json.loads(raw)
    except ValueError:
        kind = resp.headers.get("Content-Type", "no content type").split(";")[0]
        raise BadResponse(service, f"the answer is not JSON ({kind})", status=resp.status) from None


async def _read_bytes(service: str, resp: aiohttp.ClientResponse) -> tuple[bytes, str]:
    return await resp.read(), resp.headers.get("Content-Type", "application/octet-stream")


class UpstreamPool:
    """The upstream clients of one process, made with the core's ``upstream_*`` settings and closed at shutdown.
    Plugins reach it as ``ctx.upstreams``."""

    def __init__(self, config: UpstreamConfig) -> None:
        self.config = config
        self.clients: list[Upstream] = []

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
        self.clients.append(made)
        return made

    async def close(self) -> None:
        await asyncio.gather(*(client.close() for client in self.clients), return_exceptions=True)
        self.clients.clear()
