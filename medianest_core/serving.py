"""What MediaNest answers before a request reaches the application: requests that cannot be read.

aiohttp answers a request it cannot parse itself, with a plain-text 400 that echoes what it read, the server's
version in the ``Server`` header, and a traceback at ERROR in the log. MediaNest answers them as any other bad
input instead: the JSON error shape, 414 for a request line over :data:`MAX_REQUEST_LINE` bytes, 431 for a header
over :data:`MAX_FIELD` bytes, 400 for anything else unreadable, one line in the log, and ``Server: MediaNest``.
"""

from __future__ import annotations

from typing import Any, Final

import structlog
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler, RequestPayloadError

from medianest_core.errors import STATUS_CODES, ErrorCode, error_response

log = structlog.get_logger("medianest.http")

SERVER_NAME: Final = "MediaNest"
# The request line ("GET /path?query HTTP/1.1") and each header line; the two limits differ by one byte so
# that a line too long says which it was.
MAX_REQUEST_LINE: Final = 8192
MAX_FIELD: Final = 8190


def _refusal(exc: HttpProcessingError) -> tuple[int, str]:
    if isinstance(exc, LineTooLong):
        limit = exc.args[1] if len(exc.args) > 1 else None
        if limit == MAX_REQUEST_LINE:
            return 414, f"The address is too long: at most {MAX_REQUEST_LINE} bytes."
        return 431, f"A header is too long: at most {MAX_FIELD} bytes each."
    return 400, "The request could not be read as HTTP."


class Protocol(RequestHandler):
    """aiohttp's connection handler, answering unreadable requests as MediaNest answers bad input."""

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        status, text = _refusal(exc)
        level = log.debug if isinstance(exc, BadHttpMethod) else log.info
        level("request_unreadable", status=status, remote=request.remote, problem=type(exc).__name__)
        response = error_response(status, STATUS_CODES.get(status, ErrorCode.BAD_REQUEST), text)
        response.headers["Server"] = SERVER_NAME
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kw: Any) -> None:
        exc = kw.get("exc_info")
        if isinstance(exc, HttpProcessingError | RequestPayloadError):
            # What is left of a body that could not be read (a wrong Content-Encoding, say), met while aiohttp
            # drains it after the answer: bad input, already answered with a 400.
            log.info("request_body_unreadable", problem=type(exc).__name__)
            return
        super().log_exception(*args, **kw)


class _Server(web.Server):
    def __call__(self) -> RequestHandler:
        return Protocol(self, loop=self._loop, **self._kwargs)


class Runner(web.AppRunner):
    """An :class:`aiohttp.web.AppRunner` whose connections are handled by :class:`Protocol`."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        kwargs.setdefault("max_line_size", MAX_REQUEST_LINE)
        kwargs.setdefault("max_field_size", MAX_FIELD)
        super().__init__(app, **kwargs)

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()
        return _Server(
            made.request_handler,
            request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation,
            loop=made._loop,
            **made._kwargs,
        )
