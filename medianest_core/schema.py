"""What the JSON API reads from a request, declared once: the attrs classes of bodies, query strings and path
parameters, with their bounds.

A route says what it reads (``Route(body=…, query=…, params=…)``); its handler reads it with :func:`read_body`,
:func:`read_query` or :func:`~medianest_core.errors.path_id`, and the OpenAPI document
(:mod:`medianest_core.openapi`) describes the same classes. Bounds are declared with :func:`field`, so the check
that refuses a value and the document that describes it are one thing:

.. code-block:: python

    @attrs.frozen
    class LinkBody:
        name: str = field(min_length=1, max_length=100, pattern=NOT_BLANK)
        position: int = field(default=0, ge=-1_000_000, le=1_000_000)

Reading is strict, as the document promises: a number is never taken from a string nor a whole number from a
fraction, booleans are ``true``/``false``, whole numbers fit in 64 bits, numbers are finite, text is valid
Unicode without NUL characters, times carry their time zone, and unknown keys are refused. Anything else is a 400
(the body is not JSON, or a query value is wrong) or a 422 (a field of the body is wrong) in the error shape,
naming each field.
"""

from __future__ import annotations

import enum
import json
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal, TypeVar

import attrs
import cattrs
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from multidict import MultiDictProxy

from medianest_core.errors import ID_MAX, ApiError, ErrorCode
from medianest_core.settings import InvalidValue, describe_error, number_text

T = TypeVar("T")

# Text that is not all blank: a character outside every space that Python's str.strip() or JavaScript's \s knows,
# spelt out, since the two (and so MediaNest and the readers of its OpenAPI document) differ on \s itself.
BLANKS: Final = "\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
NOT_BLANK: Final = f"[^{BLANKS}]"
# The end of the text, written so that JSON Schema's regular expressions (ECMA-262) and Python's agree: ``$`` also
# matches before a final line break in Python.
END: Final = r"(?![\s\S])"
# Text without a NUL character (which PostgreSQL cannot store).
NO_NUL: Final = r"^[^\x00]*$"

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
# No request of MediaNest's API nests more than a few levels, nor needs more than this much JSON.
MAX_DEPTH: Final = 32
MAX_BODY: Final = 1024 * 1024
META: Final = "medianest.schema"


@attrs.frozen
class Bounds:
    """What a field accepts beyond its type: numbers within ``ge``…``le``, text or lists of ``min_length`` to
    ``max_length`` items, text in which ``pattern`` is found (``re.search``); ``items`` bounds each item of a
    list or each value of a mapping."""

    ge: float | None = None
    le: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    description: str | None = None
    items: Bounds | None = None

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is out of bounds, or ``None``."""
        if value is None:
            return None
        if self.items is not None and isinstance(value, list | tuple | dict):
            for key, item in value.items() if isinstance(value, dict) else enumerate(value):
                problem = self.items.problem(item)
                if problem is not None:
                    return f"{key}: {problem}"
        if isinstance(value, int | float) and not isinstance(value, bool):
            if self.ge is not None and value < self.ge:
                return f"at least {number_text(self.ge)}"
            if self.le is not None and value > self.le:
                return f"at most {number_text(self.le)}"
        if isinstance(value, str | list | tuple | dict):
            size = len(value)
            unit = "characters" if isinstance(value, str) else "items"
            if self.min_length is not None and size < self.min_length:
                return "must not be empty" if size == 0 else f"at least {self.min_length} {unit}"
            if self.max_length is not None and size > self.max_length:
                return f"at most {self.max_length} {unit}"
        if self.pattern is not None and isinstance(value, str) and re.search(self.pattern, value) is None:
            if self.pattern == NOT_BLANK:
                return "must not be blank"
            return f"expected: {self.description}" if self.description else "not text of the expected form"
        return None


def _check(bounds: Bounds) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def validate(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        problem = bounds.problem(value)
        if problem is not None:
            raise InvalidValue(attribute.name, problem)

    return validate


def field(
    default: Any = attrs.NOTHING,
    *,
    factory: Callable[[], Any] | None = None,
    ge: float | None = None,
    le: float | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    pattern: str | None = None,
    description: str | None = None,
    items: Bounds | None = None,
) -> Any:
    """An attrs field with bounds: checked whenever the class is made, shown in the OpenAPI document."""
    bounds = Bounds(ge, le, min_length, max_length, pattern, description, items)
    if factory is not None:
        return attrs.field(factory=factory, validator=_check(bounds), metadata={META: bounds})
    return attrs.field(default=default, validator=_check(bounds), metadata={META: bounds})


def bounds_of(attribute: attrs.Attribute[Any]) -> Bounds | None:
    found = attribute.metadata.get(META)
    return found if isinstance(found, Bounds) else None


# ---- strict structuring ---------------------------------------------------------------------------------------


class NotValidText(ValueError):
    pass


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {_kind(value)}")
    if "\x00" in value:
        raise NotValidText("text cannot contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise NotValidText("not valid Unicode text (a lone surrogate)") from None
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _whole(value: Any) -> int:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        value = int(value)  # JSON has one kind of number: 628.0 is the whole number 628
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {_kind(value)}")
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError("expected a whole number that fits in 64 bits")
    return value


def _real(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {_kind(value)}")
    number = float(value) if abs(value) < 1e308 else math.inf
    if not math.isfinite(number):
        raise ValueError("expected a finite number")
    return number


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {_kind(value)}")
    return value


# RFC 3339, as JSON Schema's "date-time": a date, a time, and a time zone (Z or an offset).
_RFC3339: Final = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$", re.ASCII)


def parse_time(value: Any) -> datetime:
    """An RFC 3339 time with its time zone (``2026-05-01T12:00:00Z``); anything else is a ValueError."""
    text = _text(value)
    if not _RFC3339.match(text):
        raise ValueError("expected a time such as 2026-05-01T12:00:00Z, with its time zone")
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z").replace("t", "T"))
        moment.astimezone(UTC)  # a time at the calendar's ends may have no UTC
    except (ValueError, OverflowError):
        raise ValueError("expected a time such as 2026-05-01T12:00:00Z, with its time zone") from None
    return moment


def _enum_hook(cls: type[enum.Enum]) -> Callable[[Any, Any], Any]:
    def structure(value: Any, _: Any) -> Any:
        try:
            return cls(value)
        except ValueError:
            shown = ", ".join(str(member.value) for member in cls)
            raise ValueError(f"expected one of {shown}") from None

    return structure


def _literal_hook(kind: Any) -> Callable[[Any, Any], Any]:
    choices = typing.get_args(kind)

    def structure(value: Any, _: Any) -> Any:
        for choice in choices:
            if value == choice and type(value) is type(choice):
                return choice
        raise ValueError("expected one of " + ", ".join(str(c) for c in choices))

    return structure


def _is_enum(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, enum.Enum)


def _is_literal(kind: Any) -> bool:
    return typing.get_origin(kind) is Literal


def _reading(read: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    def structure(value: Any, kind: Any) -> Any:
        if _is_enum(kind):  # an enum of text is also a str, one of numbers an int
            return _enum_hook(kind)(value, kind)
        return read(value)

    return structure


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    readers: tuple[tuple[type[Any], Callable[[Any], Any]], ...] = (
        (str, _text),
        (int, _whole),
        (float, _real),
        (bool, _boolean),
        (datetime, parse_time),
    )
    for kind, read in readers:
        conv.register_structure_hook(kind, _reading(read))
    conv.register_structure_hook_factory(_is_enum, _enum_hook)
    conv.register_structure_hook_factory(_is_literal, _literal_hook)
    return conv


CONVERTER: Final = _make_converter()


def describe(exc: BaseException, cls: type[Any]) -> dict[str, str]:
    """A structuring error as ``{field: problem}``, dotted for nested fields."""
    problems = describe_error(exc, cls)
    return {key or "body": message for key, message in problems} or {"body": str(exc) or type(exc).__name__}


# ---- reading a request ----------------------------------------------------------------------------------------


def declared(request: web.Request) -> Any:
    """The :class:`~medianest_core.types.Route` the request matched, or ``None``."""
    from medianest_core import keys

    info = request.match_info
    if info.http_exception is not None:
        return None
    specs = request.config_dict.get(keys.ROUTE_SPECS)
    return specs.get(info.route) if specs is not None else None


def _ensure_declared(request: web.Request, part: str, cls: type[Any]) -> None:
    spec = declared(request)
    if spec is None:
        return  # a route outside the application's registry (a test's own app): nothing declared to compare
    wanted = getattr(spec, part, None)
    if wanted is not cls:
        shown = wanted.__name__ if isinstance(wanted, type) else "nothing"
        raise RuntimeError(
            f"{request.method} {request.path}: the handler reads a {part} of {cls.__name__}, "
            f"but its Route declares {part}={shown}"
        )


def _depth(value: Any) -> int:
    """How deeply a parsed JSON document nests (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth + 1)
            if deepest > MAX_DEPTH:
                return deepest
            stack.extend((inner, depth + 1) for inner in item)
    return deepest


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text[:20]} is not a finite number")
    return number


def parse_json(raw: bytes | str) -> Any:
    """JSON as MediaNest accepts it: UTF-8, finite numbers (no ``NaN``, ``Infinity`` or ``1e400``), at most
    :data:`MAX_DEPTH` levels deep; anything else is a ValueError saying why."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("not UTF-8") from None
    else:
        text = raw
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite)
    except RecursionError:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep") from None
    if _depth(value) > MAX_DEPTH:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
    return value


def bad_text(value: Any, where: str) -> tuple[str, str] | None:
    """The first text of a parsed JSON document, key or value, that a database cannot store: ``(where, why)``."""
    if isinstance(value, str):
        try:
            _text(value)
        except NotValidText as exc:
            return where or "body", str(exc)
    elif isinstance(value, dict):
        for key, item in value.items():
            inner = f"{where}.{key}" if where else str(key)
            found = bad_text(key, inner) or bad_text(item, inner)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = bad_text(item, f"{where}.{index}" if where else str(index))
            if found is not None:
                return found
    return None


async def read_form(request: web.Request) -> MultiDictProxy[str | bytes | bytearray | web.FileField]:
    """The posted form (``request.post()``), or a 400 when it cannot be read (a multipart body without its
    boundary, an unknown charset, a broken encoding)."""
    try:
        return await request.post()
    except (ValueError, LookupError, HttpProcessingError, RequestPayloadError):
        raise ApiError(400, ErrorCode.BAD_REQUEST, "The form could not be read.") from None


def _too_large() -> ApiError:
    return ApiError(413, ErrorCode.PAYLOAD_TOO_LARGE, f"The body is too large: at most {MAX_BODY // 1024} KiB of JSON.")


async def read_body(request: web.Request, cls: type[T]) -> T:
    """The JSON body structured into ``cls`` (the class the route declares as its ``body``): a 400 when the body
    is not a JSON object, a 422 naming each wrong field."""
    _ensure_declared(request, "body", cls)
    if (request.content_length or 0) > MAX_BODY:
        raise _too_large()
    try:
        data = await request.read()  # a body sent in chunks, without its length, stops at client_max_size
    except (HttpProcessingError, RequestPayloadError):
        message = "The body could not be read (is its Content-Encoding right?)."
        raise ApiError(400, ErrorCode.BAD_REQUEST, message) from None
    if len(data) > MAX_BODY:
        raise _too_large()
    try:
        raw = parse_json(data)
    except ValueError as exc:
        raise ApiError(400, ErrorCode.BAD_REQUEST, f"The body must be JSON ({exc}).") from None
    if not isinstance(raw, dict):
        raise ApiError(400, ErrorCode.BAD_REQUEST, "The body must be a JSON object.")
    bad = bad_text(raw, "")
    if bad is not None:
        where, problem = bad
        raise ApiError(
            422, ErrorCode.VALIDATION_FAILED, f"{where or 'The body'}: {problem}.", details={"fields": {where: problem}}
        )
    try:
        return CONVERTER.structure(raw, cls)
    except Exception as exc:
        # A field that could not be read keeps the class from being made, and with it the checks of the others'
        # bounds: those are checked here, so that one answer names every wrong field.
        fields = {**_out_of_bounds(raw, cls), **describe(exc, cls)}
        first = next(iter(fields.items()))
        raise ApiError(
            422,
            ErrorCode.VALIDATION_FAILED,
            f"Some fields are missing or wrong ({first[0]}: {first[1]}).",
            details={"fields": fields},
        ) from None


def _out_of_bounds(raw: dict[str, Any], cls: type[Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    shape: Any = cls
    for attribute in attrs.fields(attrs.resolve_types(shape)):
        bounds = bounds_of(attribute)
        value = raw.get(attribute.name)
        if bounds is not None and isinstance(value, str | int | float | list | dict) and not isinstance(value, bool):
            problem = bounds.problem(value)
            if problem is not None:
                found[attribute.name] = problem
    return found


def _query_value(text: str, kind: Any) -> Any:
    """One query-string value as the field's type."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        inner = [k for k in typing.get_args(kind) if k is not type(None)]
        return _query_value(text, inner[0])
    text = _text(text)
    if kind is str:
        return text
    if kind is bool:
        if text in ("true", "false"):
            return text == "true"
        raise ValueError("expected true or false")
    if kind is int:
        if not re.fullmatch(r"-?[0-9]{1,40}", text, re.ASCII):
            raise ValueError("expected a whole number")
        return int(text)  # every whole number a route reads has bounds, which then say what is allowed
    if kind is float:
        try:
            return _real(float(text))
        except ValueError:
            raise ValueError("expected a number") from None
    if kind is datetime:
        return parse_time(text)
    if _is_enum(kind) or _is_literal(kind):
        return CONVERTER.structure(text, kind)
    raise TypeError(f"a query string cannot carry {kind!r}")


def read_query(request: web.Request, cls: type[T]) -> T:
    """The query string as ``cls`` (the class the route declares as its ``query``): each field is one parameter
    of the same name; a wrong value is a 400 naming it. Parameters the class does not name are ignored."""
    _ensure_declared(request, "query", cls)
    return structure_query(request.query, cls)


def structure_query(query: Mapping[str, str], cls: type[T]) -> T:
    """``query`` (a mapping of text, such as ``request.query``) as ``cls``, or a 400 naming each wrong field."""
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    shape: Any = cls
    for attribute in attrs.fields(attrs.resolve_types(shape)):
        text = query.get(attribute.name)
        if text is None:
            continue
        try:
            value = _query_value(text, attribute.type)
            if isinstance(value, int) and not isinstance(value, bool) and bounds_of(attribute) is None:
                value = _whole(value)  # no bounds declared: at least what a database keeps
            values[attribute.name] = value
        except ValueError as exc:
            problems[attribute.name] = str(exc)
    if not problems:
        try:
            return cls(**values)
        except InvalidValue as exc:
            problems[exc.key] = str(exc)
        except TypeError as exc:
            missing = re.findall(r"'(\w+)'", str(exc))
            problems.update({name: "is required" for name in missing} or {"query": str(exc)})
    name, problem = next(iter(problems.items()))
    raise ApiError(
        400,
        ErrorCode.BAD_REQUEST,
        f"The query parameter {name} is wrong: {problem}.",
        details={"fields": problems},
    )


MAX_PAGE: Final = 100_000
MAX_PER_PAGE: Final = 200


@attrs.frozen
class PageQuery:
    """A page of a list: ``page`` from 1, ``per_page`` items each."""

    page: int = field(default=1, ge=1, le=MAX_PAGE)
    per_page: int = field(default=50, ge=1, le=MAX_PER_PAGE)


@attrs.frozen
class Deleted:
    """The answer of a route that removed what it was asked to."""

    deleted: bool


@attrs.frozen
class IdPath:
    """The path parameter ``{id}`` of a record: a whole number from 1."""

    id: int = field(ge=1, le=ID_MAX)
