"""The core's image proxy as a plugin uses it: a host's pictures under the plugin's ``/images/{size}/{file}``, by
the sizes and file names the plugin declares, kept on disk in the plugin's folder, counted on the image allowance,
and failures told in the plugin's words."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import attrs
import pytest
from aiohttp import web

from medianest_core import PluginContext, Route, hookimpl, keys
from medianest_core.fakes import FakeServer
from medianest_core.images import ImageProxy, ImageStore, image_route, tmdb_file_field
from medianest_core.testing import entry_point, sign_in

ROUTE = "/api/v1/pictures/images"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class ImageHost(FakeServer):
    """An image host: ``/<size>/<file>`` answers what :attr:`images` holds for the file."""

    def __init__(self) -> None:
        super().__init__()
        self.images: dict[str, tuple[bytes, str]] = {"poster.png": (PNG, "IMAGE/PNG; charset=binary")}
        self.asked: list[str] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/{size}/{file}", self._image)

    async def _image(self, request: web.Request) -> web.Response:
        self.asked.append(request.path)
        found = self.images.get(request.match_info["file"])
        if found is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=found[0], headers={"Content-Type": found[1]})


@attrs.frozen
class PicturePath:
    size: Literal["w92"] = attrs.field(metadata={"help": "The only size"})
    file: str = tmdb_file_field("A picture's file name")


class Pictures:
    """A plugin that proxies the images of ``host``, as the TMDB and Overseerr plugins do theirs."""

    name = "pictures"
    version = "1"

    def __init__(self, host: str) -> None:
        self.host = host

    @hookimpl
    def api_routes(self, ctx: PluginContext) -> list[Route]:
        assert ctx.upstreams is not None
        proxy = ImageProxy(
            "Example", ctx.upstreams.client("pictures", self.host), ImageStore.of(ctx, 1.0), sizes={"w92"}
        )

        async def image(request: web.Request) -> web.StreamResponse:
            """A picture."""
            return await proxy.serve(request)

        return [image_route(image, name="pictures-image", params=PicturePath)]


@pytest.fixture
async def host() -> AsyncIterator[ImageHost]:
    made = ImageHost()
    await made.start()
    yield made
    await made.stop()


async def pictures_app(medianest_client: Any, host: ImageHost, **settings: Any) -> Any:
    client = await medianest_client(entry_points=[entry_point("pictures", Pictures(host.url))], **settings)
    await sign_in(client, "ada")
    return client


async def test_a_plugins_pictures_are_served_and_kept_in_its_folder(medianest_client: Any, host: ImageHost) -> None:
    client = await pictures_app(medianest_client, host)
    for _ in range(2):
        resp = await client.get(f"{ROUTE}/w92/poster.png")
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "image/png"  # the host's spelling, cleaned
        assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert await resp.read() == PNG
    assert host.asked == ["/w92/poster.png"]
    data_dir: Path = client.app[keys.RUNTIME].settings.data_dir
    assert (data_dir / "pictures" / "images" / "w92" / "poster.png").is_file()


async def test_failures_are_told_in_the_plugins_words(medianest_client: Any, host: ImageHost) -> None:
    client = await pictures_app(medianest_client, host)

    async def error(path: str) -> tuple[int, str]:
        resp = await client.get(f"{ROUTE}/{path}")
        return resp.status, (await resp.json())["error"]["message"]

    assert await error("w185/poster.png") == (404, "No such Example image.")
    assert await error("w92/missing.png") == (404, "Example has no such image.")
    host.images["script.png"] = (b"<svg onload='alert(1)'/>", "image/svg+xml")
    assert await error("w92/script.png") == (502, "Example did not send an image.")
    await host.stop()
    assert await error("w92/poster.png") == (503, "Example's images are unavailable just now; try again soon.")
    await host.start()
    resp = await client.get(f"{ROUTE}/w92/poster.png")  # a failure is not kept: asked again once the host is back
    assert (resp.status, await resp.read()) == (200, PNG)


async def test_pictures_count_on_the_image_allowance(medianest_client: Any, host: ImageHost) -> None:
    client = await pictures_app(medianest_client, host, api_rate_limit="1000/minute", image_rate_limit="3/minute")
    statuses = [(await client.get(f"{ROUTE}/w92/poster.png")).status for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
