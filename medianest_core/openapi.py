"""The OpenAPI 3.1 document of the JSON API, made from the routes as declared.

Every JSON route of the core and of each loaded plugin is a :class:`~medianest_core.types.Route`; its ``body``,
``query``, ``params`` and ``answer`` classes become schemas, and the statuses it may answer are its own
``errors`` plus those the core adds to every route of its kind:

- 401 (sign in first) on routes for signed-in people, 403 on admin routes and on every change (another site's
  ``Origin``, or a session without its CSRF token);
- 429 on every ``/api/`` route (``api_rate_limit``);
- 400, 413 and 422 on routes that read a body; 400 on routes that read a query; 404 on routes with a path
  parameter;
- 503 on a plugin's routes (the plugin is unavailable).

``GET /api/v1/openapi.json`` serves it to admins.
"""

from __future__ import annotations

import enum
import inspect
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Literal

import attrs
from aiohttp import web

from medianest_core import __version__, keys
from medianest_core.errors import ErrorCode
from medianest_core.schema import INT64_MAX, INT64_MIN, NO_NUL, Bounds, bounds_of
from medianest_core.types import Access, Route

OPENAPI_VERSION: Final = "3.1.0"
ERROR_REF: Final = "#/components/schemas/Error"

REASONS: Final = {
    200: "Done",
    201: "Created",
    202: "Accepted",
    204: "Done, nothing to say",
    400: "The request is not understood: a body that is not JSON, or a wrong query value",
    401: "Sign in first, or the API token is unknown, revoked or expired",
    403: "Not allowed: an admin's route, another site's request, or a change without the CSRF token",
    404: "No such thing",
    409: "It conflicts with the current state",
    413: "The body is too large",
    422: "A field of the body is missing or wrong",
    429: "Too many requests, or a quota used up: see Retry-After",
    502: "The service behind it answered wrongly",
    503: "Unavailable: the plugin or the service behind it",
    507: "Not enough storage",
}


class SchemaBook:
    """Named schemas of ``components.schemas``, made once per attrs class."""

    def __init__(self) -> None:
        self.schemas: dict[str, dict[str, Any]] = {}
        self._names: dict[type[Any], str] = {}

    def ref(self, cls: type[Any]) -> dict[str, Any]:
        name = self._names.get(cls)
        if name is None:
            name = cls.__name__
            while name in self.schemas:
                name += "_"
            self._names[cls] = name
            self.schemas[name] = {}  # reserved first: a class may refer to itself
            self.schemas[name] = self.object_schema(cls)
        return {"$ref": f"#/components/schemas/{name}"}

    def object_schema(self, cls: type[Any]) -> dict[str, Any]:
        fields = attrs.fields(attrs.resolve_types(cls))
        properties: dict[str, Any] = {}
        required: list[str] = []
        for attribute in fields:
            properties[attribute.name] = self.field_schema(attribute)
            if attribute.default is attrs.NOTHING:
                required.append(attribute.name)
        schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            schema["required"] = required
        doc = inspect.getdoc(cls)
        if doc and cls.__doc__ is not None:
            schema["description"] = doc.split("\n\n", 1)[0].replace("\n", " ")
        return schema

    def field_schema(self, attribute: attrs.Attribute[Any]) -> dict[str, Any]:
        schema = self.type_schema(attribute.type)
        bounds = bounds_of(attribute)
        if bounds is not None:
            _bound(_innermost(schema), bounds)
            if bounds.description:
                schema["description"] = bounds.description
        help_text = attribute.metadata.get("help")
        if isinstance(help_text, str) and "description" not in schema:
            schema["description"] = help_text
        default = attribute.default
        if default is not attrs.NOTHING and not isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            plain = default.value if isinstance(default, enum.Enum) else default
            if plain is None or isinstance(plain, str | int | float | bool):
                schema["default"] = plain
        return schema

    def type_schema(self, kind: Any) -> dict[str, Any]:
        origin = typing.get_origin(kind)
        args = typing.get_args(kind)
        if kind is Any or kind is object:
            return {}
        if kind is type(None) or kind is None:
            return {"type": "null"}
        if origin in (typing.Union, types.UnionType):
            options = [a for a in args if a is not type(None)]
            nullable = len(options) < len(args)
            if len(options) == 1:
                inner = self.type_schema(options[0])
                if nullable:
                    if "type" in inner and isinstance(inner["type"], str) and "$ref" not in inner:
                        inner = {**inner, "type": [inner["type"], "null"]}
                        if "enum" in inner:
                            inner["enum"] = [*inner["enum"], None]
                    else:
                        inner = {"anyOf": [inner, {"type": "null"}]}
                return inner
            found = [self.type_schema(a) for a in options]
            if nullable:
                found.append({"type": "null"})
            return {"anyOf": found}
        if origin is Literal:
            return {"enum": list(args)}
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            return {"type": "string", "enum": [member.value for member in kind]}
        if kind is bool:
            return {"type": "boolean"}
        if kind is int:
            return {"type": "integer", "minimum": INT64_MIN, "maximum": INT64_MAX}
        if kind is float:
            return {"type": "number"}
        if kind is str:
            return {"type": "string", "pattern": NO_NUL}
        if kind is datetime:
            return {"type": "string", "format": "date-time"}
        if origin in (list, tuple, set, frozenset, Sequence) or kind in (list, tuple):
            item = args[0] if args else Any
            return {"type": "array", "items": self.type_schema(item)}
        if origin in (dict, Mapping) or kind in (dict,):
            value = args[1] if len(args) == 2 else Any
            return {
                "type": "object",
                "propertyNames": {"pattern": NO_NUL},
                "additionalProperties": self.type_schema(value),
            }
        if attrs.has(kind):
            return self.ref(kind)
        raise TypeError(f"no JSON schema for {kind!r}")


def _bound(target: dict[str, Any], bounds: Bounds) -> None:
    """Write ``bounds`` into the schema they apply to."""
    kind = target.get("type")
    for key, value in (("minimum", bounds.ge), ("maximum", bounds.le)):
        if value is not None:
            target[key] = int(value) if kind == "integer" else value
    length_keys = {"array": ("minItems", "maxItems"), "object": ("minProperties", "maxProperties")}.get(
        str(kind), ("minLength", "maxLength")
    )
    for key, value in zip(length_keys, (bounds.min_length, bounds.max_length), strict=True):
        if value is not None:
            target[key] = value
    if bounds.pattern is not None:
        if "pattern" in target:  # text's own rule (no NUL) stays beside the field's
            target["allOf"] = [{"pattern": bounds.pattern}]
        else:
            target["pattern"] = bounds.pattern
    if bounds.items is not None:
        inner = target.get("items") if kind == "array" else target.get("additionalProperties")
        if isinstance(inner, dict):
            _bound(_innermost(inner), bounds.items)


def _innermost(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema that bounds apply to: the non-null branch of a nullable one."""
    for option in schema.get("anyOf", ()):
        if option.get("type") != "null":
            return _innermost(option)
    return schema


ERROR_SCHEMA: Final = {
    "type": "object",
    "description": "MediaNest's one error shape.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "enum": [code.value for code in ErrorCode]},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}

_PATH_PARAM: Final = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


def openapi_path(path: str) -> str:
    """aiohttp's ``{id:\\d+}`` as OpenAPI's ``{id}``."""
    return _PATH_PARAM.sub(lambda m: "{" + m.group(1) + "}", path)


def _summary(route: Route) -> tuple[str, str | None]:
    doc = inspect.getdoc(route.handler) or ""
    first, _, rest = doc.partition("\n\n")
    summary = " ".join(first.split()) or f"{route.method.upper()} {route.path}"
    return summary, (" ".join(rest.split()) or None)


def error_statuses(route: Route, plugin: str | None) -> set[int]:
    """Every status other than success that the route may answer."""
    found = set(route.errors)
    if route.access is not Access.PUBLIC:
        found.add(401)
    if route.access is Access.ADMIN or route.method.upper() not in ("GET", "HEAD", "OPTIONS"):
        found.add(403)
    if route.path.startswith("/api/"):
        found.add(429)
    if route.body is not None:
        found.update((400, 413, 422))
    if route.query is not None:
        found.add(400)
    if _PATH_PARAM.search(route.path):
        found.add(404)
    if plugin is not None:
        found.add(503)
    return found


def operation(route: Route, plugin: str | None, book: SchemaBook) -> dict[str, Any]:
    summary, description = _summary(route)
    op: dict[str, Any] = {
        "operationId": route.name or f"{route.method.lower()}{route.path}",
        "summary": summary,
        "tags": [plugin or "core"],
        "x-medianest-access": route.access.value,
    }
    if route.refusals:
        rules = "; ".join(f"{name}: {rule}" for name, rule in sorted(route.refusals.items()))
        description = f"{description} " if description else ""
        description += f"Checked beyond the schema (a 400 or 422 names the field): {rules}."
        op["x-medianest-refusals"] = dict(route.refusals)
    if description:
        op["description"] = description
    if route.access is Access.PUBLIC:
        op["security"] = []
    else:
        op["security"] = [{"bearerToken": []}, {"sessionCookie": []}]
    parameters = []
    declared = {a.name: a for a in attrs.fields(attrs.resolve_types(route.params))} if route.params else {}
    for name in _PATH_PARAM.findall(route.path):
        attribute = declared.get(name)
        schema = book.field_schema(attribute) if attribute is not None else {"type": "string", "minLength": 1}
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    if route.query is not None:
        for attribute in attrs.fields(attrs.resolve_types(route.query)):
            schema = book.field_schema(attribute)
            param: dict[str, Any] = {"name": attribute.name, "in": "query", "schema": schema}
            if attribute.default is attrs.NOTHING:
                param["required"] = True
            if "description" in schema:
                param["description"] = schema["description"]
            parameters.append(param)
    if parameters:
        op["parameters"] = parameters
    if route.body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": book.ref(route.body)}}}
    responses: dict[str, Any] = {}
    if route.media == "application/json":
        answer = book.ref(route.answer) if route.answer is not None else {"type": "object"}
        content: dict[str, Any] = {"application/json": {"schema": answer}}
    else:
        content = {route.media: {"schema": {"type": "string"}}}
    responses[str(route.status)] = {"description": REASONS.get(route.status, "Done"), "content": content}
    for status in sorted(error_statuses(route, plugin)):
        response: dict[str, Any] = {
            "description": REASONS.get(status, "Refused"),
            "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
        }
        if status == 429:
            response["headers"] = {
                "Retry-After": {"description": "Seconds to wait", "schema": {"type": "string", "pattern": "^[0-9]+$"}}
            }
        responses[str(status)] = response
    op["responses"] = responses
    return op


def document(routes: Iterable[tuple[Route, str | None]], title: str = "MediaNest") -> dict[str, Any]:
    """The OpenAPI document of ``routes`` (each with the plugin that contributed it, or ``None``)."""
    book = SchemaBook()
    paths: dict[str, dict[str, Any]] = {}
    tags: set[str] = set()
    for route, plugin in sorted(routes, key=lambda item: (item[0].path, item[0].method)):
        item = paths.setdefault(openapi_path(route.path), {})
        item[route.method.lower()] = operation(route, plugin, book)
        tags.add(plugin or "core")
    book.schemas["Error"] = ERROR_SCHEMA
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": f"{title} API",
            "version": __version__,
            "description": "The JSON API of MediaNest, its core and its loaded plugins. Errors share one shape "
            "(the Error schema). Signed-in calls carry an API token (Authorization: Bearer) or the session cookie "
            "with its CSRF token (X-CSRF-Token) for changes; x-medianest-access says who may call each operation.",
        },
        "servers": [{"url": "/"}],
        "tags": [{"name": name} for name in sorted(tags, key=lambda t: (t != "core", t))],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(book.schemas.items())),
            "securitySchemes": {
                "bearerToken": {"type": "http", "scheme": "bearer", "description": "An API token from your profile"},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "medianest_session"},
            },
        },
    }


def routes_of(app: web.Application) -> list[tuple[Route, str | None]]:
    """The declared JSON routes of a running application, with their plugin."""
    plugins = set(app[keys.RUNTIME].plugins.records)
    found: list[tuple[Route, str | None]] = []
    for spec in app[keys.ROUTE_SPECS].values():
        if not is_json_route(spec):
            continue
        parts = spec.path.split("/")
        plugin = parts[3] if len(parts) > 3 and spec.path.startswith("/api/v1/") and parts[3] in plugins else None
        found.append((spec, plugin))
    return found


def is_json_route(spec: Route) -> bool:
    """Whether a route belongs to the API (rather than to the pages and the websocket)."""
    return spec.path.startswith("/api/") or spec.path in ("/health", "/metrics")


async def openapi_view(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document of the JSON API: the core's routes and those of every loaded plugin."""
    made = request.app[keys.OPENAPI]
    if not made:  # made at the first call: the routes do not change while MediaNest runs
        made.update(document(routes_of(request.app)))
    return web.json_response(made)


ROUTES: Final = (Route("GET", "/api/v1/openapi.json", openapi_view, name="openapi", access=Access.ADMIN),)
