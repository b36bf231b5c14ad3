"""What the JSON API reads from a request: bodies structured into attrs classes, with one error shape for
anything else."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

import cattrs
from aiohttp import web

from medianest_core.errors import ApiError, ErrorCode

T = TypeVar("T")

_converter = cattrs.Converter(forbid_extra_keys=True)
_converter.register_structure_hook(datetime, lambda v, _: _parse_time(v))


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 time")
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def read_body(request: web.Request, cls: type[T]) -> T:
    """The JSON body structured into ``cls``; anything else is a 400 or 422 in the error shape."""
    try:
        raw = await request.json()
    except ValueError:
        raise ApiError(400, ErrorCode.BAD_REQUEST, "The body must be JSON.") from None
    if not isinstance(raw, dict):
        raise ApiError(400, ErrorCode.BAD_REQUEST, "The body must be a JSON object.")
    try:
        return _converter.structure(raw, cls)
    except Exception as exc:
        from medianest_core.settings import describe_error

        problems = describe_error(exc, cls)
        fields = {key or "body": message for key, message in problems}
        raise ApiError(
            422, ErrorCode.VALIDATION_FAILED, "Some fields are missing or wrong.", details={"fields": fields}
        ) from None
