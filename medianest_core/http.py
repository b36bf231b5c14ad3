"""Request handling shared by every route: request ids, logging, metrics, and the one error shape."""

from __future__ import annotations

import bisect
import html
import itertools
import logging
import math
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Final

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Middleware
from aiohttp.web_protocol import RequestPayloadError
from multidict import istr
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

from medianest_core import keys
from medianest_core.errors import STATUS_CODES, ApiError, ErrorCode, error_response
from medianest_core.logs import REQUEST_ID
from medianest_core.serving import SERVER_NAME
from medianest_core.types import Handler
from medianest_core.upstream import reset_deadline, set_deadline

log = structlog.get_logger("medianest.http")
_access_log = logging.getLogger("medianest.http")

REQUEST_ID_HEADER: Final = "X-Request-ID"
_ID_PREFIX: Final = secrets.token_hex(8)
_ids = itertools.count()


def new_request_id() -> str:
    """A request id unique to this request: this process's random half, then a count (32 hex digits)."""
    return f"{_ID_PREFIX}{next(_ids):016x}"


_VALID_REQUEST_ID: Final = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
QUIET_PATHS: Final = frozenset({"/health", "/metrics"})


LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpMetrics:
    """Requests and latency by route template and status, on the runtime's registry.

    Every answer is counted in plain dictionaries of this process (the routes and statuses are few), with no lock:
    only the event loop counts, and a scrape of ``/metrics`` reads them there. The registry turns them into the
    counter ``medianest_http_requests_total`` and the histogram ``medianest_http_request_duration_seconds`` when
    it is read."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._requests: dict[tuple[str, str, int], int] = {}
        self._latency: dict[tuple[str, str], list[float]] = {}  # a count per bucket and +Inf, then the sum
        registry.register(self)  # a collector: it has collect()

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answer and its time."""
        key = (method, route, status)
        requests = self._requests
        requests[key] = requests.get(key, 0) + 1
        timed = (method, route)
        found = self._latency.get(timed)
        if found is None:
            found = self._latency[timed] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        found[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        found[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "medianest_http_requests",
            "HTTP requests answered, by method, route template and status.",
            labels=["method", "route", "status"],
        )
        for (method, route, status), count in list(self._requests.items()):
            requests.add_metric([method, route, str(status)], count)
        yield requests
        latency = HistogramMetricFamily(
            "medianest_http_request_duration_seconds",
            "Time to answer HTTP requests, by method and route template.",
            labels=["method", "route"],
        )
        for labels, counts in list(self._latency.items()):
            cumulative, buckets = 0.0, []
            for bound, seen in zip((*LATENCY_BUCKETS, math.inf), counts, strict=False):
                cumulative += seen
                buckets.append(("+Inf" if bound == math.inf else repr(bound), cumulative))
            latency.add_metric(list(labels), buckets, counts[-1])
        yield latency


def route_label(request: web.Request) -> str:
    """The route's template (``/api/v1/youtube/downloads/{id}``), never the raw path, to bound the labels."""
    info = request.match_info
    if info.http_exception is not None:
        return "unmatched"
    resource = info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def wants_json(request: web.Request) -> bool:
    if request.path.startswith("/api/") or request.path in ("/health", "/metrics", "/ws"):
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


_TITLES: Final = {
    400: "That request could not be understood",
    401: "Please sign in",
    403: "You do not have access to this page",
    404: "Page not found",
    405: "That action is not allowed here",
    429: "Slow down a little",
    500: "Something went wrong on our side",
    503: "This part of MediaNest is unavailable",
}


def error_page(status: int, message: str, request_id: str) -> web.Response:
    title = _TITLES.get(status, "Something went wrong")
    body = (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)} · MediaNest</title>"
        "<body style='font-family:system-ui,sans-serif;background:#111418;color:#e8eaed;"
        "display:grid;place-items:center;min-height:90vh;margin:0'>"
        f"<main style='max-width:32rem;padding:1rem'><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(message)}</p><p><a style='color:#8ab4f8' href='/'>Back to MediaNest</a></p>"
        f"<p style='color:#9aa0a6;font-size:.8rem'>Request {html.escape(request_id)}</p></main></body></html>"
    )
    return web.Response(status=status, text=body, content_type="text/html")


async def _page_in_layout(request: web.Request, status: int, message: str, headers: dict[str, str]) -> web.Response:
    """The error as a page in MediaNest's layout; the plain page when the layout itself cannot be drawn."""
    import aiohttp_jinja2

    request_id = str(request.get(keys.REQUEST_ID, ""))
    if aiohttp_jinja2.APP_KEY not in request.config_dict:
        return error_page(status, message, request_id)
    from medianest_core.web.shell import render

    retry = headers.get("Retry-After", "")
    try:
        return await render(
            request,
            "error.html",
            {
                "status": status,
                "title": _TITLES.get(status, "Something went wrong"),
                "message": message,
                "retry_after": int(retry) if retry.isdigit() else None,
            },
            status=status,
        )
    except Exception:
        log.exception("error_page_failed", status=status)
        return error_page(status, message, request_id)


async def error_for(request: web.Request, status: int, code: ErrorCode, message: str, **kw: object) -> web.Response:
    if wants_json(request):
        return error_response(status, code, message, **kw)  # type: ignore[arg-type]
    headers = kw.get("headers")
    extra = {str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {}
    resp = await _page_in_layout(request, status, message, extra)
    resp.headers.update(extra)
    return resp


CSP: Final = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


_SECURITY_HEADERS: Final = tuple(
    (istr(name), value)
    for name, value in (
        ("Content-Security-Policy", CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
        ("X-Frame-Options", "DENY"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    )
)
_SERVER: Final = istr("Server")
_SERVER_TIMING: Final = istr("Server-Timing")
_REQUEST_ID: Final = istr(REQUEST_ID_HEADER)
_HSTS: Final = istr("Strict-Transport-Security")


Stamp = Callable[[web.Request, web.StreamResponse], None]
"""What else every answer gets as it is prepared (the session cookie), after :func:`answer_headers`' own."""


def answer_headers(
    https: Callable[[web.Request], bool], *also: Stamp
) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """The ``on_response_prepare`` handler that gives every answer, streamed ones included, MediaNest's name in
    ``Server`` (never the versions of aiohttp and Python), the request's id, the time MediaNest spent on it
    (``Server-Timing``, for the browser's developer tools and the benchmarks), a Content-Security-Policy without
    inline script, no framing, no sniffing, a strict referrer, and HSTS when ``https(request)`` says the browser
    came over https; then whatever ``also`` adds. A handler may set any of the security headers itself. One
    handler, not one per concern: it runs for every answer."""

    async def prepare(request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        headers[_SERVER] = SERVER_NAME
        request_id = request.get(keys.REQUEST_ID)
        if request_id is not None:
            headers[_REQUEST_ID] = request_id
            elapsed = time.perf_counter() - request[keys.REQUEST_STARTED]
            headers[_SERVER_TIMING] = f"app;dur={elapsed * 1000:.2f}"
        for name, value in _SECURITY_HEADERS:
            headers.setdefault(name, value)
        if https(request):
            headers.setdefault(_HSTS, "max-age=31536000; includeSubDomains")
        for stamp in also:
            stamp(request, response)

    return prepare


Gate = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]
"""What decides whether a request reaches its handler (who asks, limits, CSRF): it calls the handler, or raises."""


def request_middleware(gate: Gate, metrics: HttpMetrics | None, upstream_timeout: float | None) -> Middleware:
    """The application's one middleware, around ``gate``: give the request an id (``X-Request-ID``, taken when
    valid, else made) bound into every log line; end the upstream calls made for it by one deadline
    (``upstream_timeout``; a websocket lives on); turn every failure into the error shape; count and time it."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER)
        request_id = incoming if incoming and _VALID_REQUEST_ID.match(incoming) else new_request_id()
        request[keys.REQUEST_ID] = request_id
        started = request[keys.REQUEST_STARTED] = time.perf_counter()
        websocket = upstream_timeout is None or request.headers.get("Upgrade", "").lower() == "websocket"
        limit = set_deadline(None if websocket else upstream_timeout)
        named = REQUEST_ID.set(request_id)
        try:
            response = await _answer(request, handler, gate)
            elapsed = time.perf_counter() - started
            route = route_label(request)
            if metrics is not None:
                metrics.observe(request.method, route, response.status, elapsed)
            quiet = response.status < 400 and request.path in QUIET_PATHS
            if _access_log.isEnabledFor(logging.DEBUG if quiet else logging.INFO):  # nothing built when filtered
                (log.debug if quiet else log.info)(
                    "request",
                    method=request.method,
                    path=request.path,
                    route=route,
                    status=response.status,
                    duration_ms=round(elapsed * 1000, 2),
                )
        finally:
            REQUEST_ID.reset(named)
            reset_deadline(limit)
        return response

    return middleware


async def _answer(request: web.Request, handler: Handler, gate: Gate) -> web.StreamResponse:
    """The handler's answer through ``gate``, or the error shape of whatever went wrong."""
    try:
        return await gate(request, handler)
    except ApiError as exc:
        return await error_for(request, exc.status, exc.code, exc.message, details=exc.details, headers=exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            return web.Response(status=exc.status, headers=exc.headers)
        code = STATUS_CODES.get(exc.status, ErrorCode.BAD_REQUEST)
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
        return await error_for(request, exc.status, code, message, headers=headers)
    except (HttpProcessingError, RequestPayloadError) as exc:  # a body that cannot be read: bad input
        log.info("request_body_unreadable", method=request.method, path=request.path, problem=type(exc).__name__)
        return await error_for(request, 400, ErrorCode.BAD_REQUEST, "The request's body could not be read.")
    except ConnectionResetError:  # the client went away while sending: nothing to answer, nothing wrong here
        log.info("client_gone", method=request.method, path=request.path)
        return web.Response(status=400)
    except Exception:
        log.exception("request_failed", method=request.method, path=request.path)
        return await error_for(
            request,
            500,
            ErrorCode.INTERNAL_ERROR,
            "An unexpected error occurred; it has been logged with this request's id.",
        )
