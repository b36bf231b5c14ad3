"""The JSON API's one error shape, and the one list of error codes.

``{"error": {"code": "rate_limited", "message": "…", "details": {…}}}`` with the matching HTTP status.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from aiohttp import web


class ErrorCode(enum.StrEnum):
    BAD_REQUEST = "bad_request"
    VALIDATION_FAILED = "validation_failed"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    URI_TOO_LONG = "uri_too_long"
    HEADER_TOO_LARGE = "header_too_large"
    RATE_LIMITED = "rate_limited"
    INTERNAL_ERROR = "internal_error"
    PLUGIN_UNAVAILABLE = "plugin_unavailable"
    SERVICE_UNAVAILABLE = "service_unavailable"
    BAD_GATEWAY = "bad_gateway"
    INSUFFICIENT_STORAGE = "insufficient_storage"


STATUS_CODES: Mapping[int, ErrorCode] = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    414: ErrorCode.URI_TOO_LONG,
    422: ErrorCode.VALIDATION_FAILED,
    429: ErrorCode.RATE_LIMITED,
    431: ErrorCode.HEADER_TOO_LARGE,
    500: ErrorCode.INTERNAL_ERROR,
    502: ErrorCode.BAD_GATEWAY,
    503: ErrorCode.SERVICE_UNAVAILABLE,
    507: ErrorCode.INSUFFICIENT_STORAGE,
}


class ApiError(Exception):
    """Raise from a handler to answer with the error shape; ``headers`` such as ``Retry-After`` go along."""

    def __init__(
        self,
        status: int,
        code: ErrorCode,
        message: str,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})


# Records' ids are 32-bit whole numbers in both databases (SQLAlchemy's Integer): no record has a larger one.
ID_MAX = 2**31 - 1


def path_id(request: web.Request, noun: str, maximum: int = ID_MAX) -> int:
    """The ``{id}`` of the route's path: a whole number from 1 to ``maximum`` (routes declare ``params=IdPath``).
    Anything else names no record, so: 404."""
    text = request.match_info["id"]
    if text.isascii() and text.isdigit() and len(text) <= 19 and 1 <= int(text) <= maximum:
        return int(text)
    raise ApiError(404, ErrorCode.NOT_FOUND, f"No such {noun}.")


def field_error(field: str, problem: str, message: str) -> ApiError:
    """A 422 for one field of a request body: ``details.fields[field]`` says what is wrong with it."""
    return ApiError(422, ErrorCode.VALIDATION_FAILED, message, details={"fields": {field: problem}})


def error_body(code: ErrorCode, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code.value, "message": message, "details": dict(details or {})}}


def error_response(
    status: int,
    code: ErrorCode,
    message: str,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    return web.json_response(error_body(code, message, details), status=status, headers=headers)
