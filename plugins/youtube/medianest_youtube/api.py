"""The YouTube plugin's JSON API."""

from __future__ import annotations

import attrs
from aiohttp import web

from medianest_core.auth.views import read_body
from medianest_core.errors import ApiError, ErrorCode
from medianest_core.types import PluginContext, Route
from medianest_youtube.preview import PreviewFailed, preview
from medianest_youtube.urls import UrlRefused


@attrs.frozen
class PreviewBody:
    url: str


def routes(ctx: PluginContext) -> list[Route]:
    async def show_preview(request: web.Request) -> web.Response:
        """What a link holds (title, number of items, the first titles), read without downloading."""
        body = await read_body(request, PreviewBody)
        settings = ctx.settings
        try:
            found = await preview(body.url, settings.allowed_hosts, settings.extractors or None)
        except UrlRefused as exc:
            # A host that is not allowed is a 400: the request is refused, not merely mistyped.
            raise ApiError(400, ErrorCode.BAD_REQUEST, str(exc), details={"fields": {"url": str(exc)}}) from None
        except PreviewFailed as exc:
            raise ApiError(422, ErrorCode.VALIDATION_FAILED, str(exc), details={"fields": {"url": str(exc)}}) from None
        return web.json_response(found.doc())

    return [Route("POST", "/preview", show_preview, name="youtube-preview")]
