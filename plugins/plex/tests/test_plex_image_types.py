"""The image proxy serves pictures only: what Plex sends as an SVG (a document that may run script, here on
MediaNest's own origin), a page or anything but a raster image is refused with 502, for posters and cast photos
alike, and so is an image larger than the proxy reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from medianest_plex import PlexPlugin
from medianest_plex.fake import POSTER_PNG, FakePlex
from medianest_plex.images import MAX_IMAGE_BYTES, ImageCache

from medianest_core import keys
from medianest_core.testing import entry_point, sign_in

SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'
CAST_PHOTO = "https://metadata-static.plex.tv/people/5d776825151a60001f24a0f2.jpg"
REFUSED = {"error": {"code": "bad_gateway", "message": "Plex did not send an image.", "details": {}}}


@pytest.fixture
async def fake() -> AsyncIterator[FakePlex]:
    plex = FakePlex()
    plex.add_section("1", "Films", "movie")
    plex.add_item("1", "Heat", year=1995, added_at=1_700_000_000)
    await plex.start()
    yield plex
    await plex.stop()


async def admin_client(medianest_client: Any, fake: FakePlex) -> Any:
    section = {"url": fake.url, "plextv_url": fake.url, "token": fake.owner.token}
    client = await medianest_client(
        entry_points=[entry_point("plex", PlexPlugin())], plugins={"plex": section}, api_rate_limit="10000/minute"
    )
    await sign_in(client, "root", role="admin")
    return client


def poster(fake: FakePlex) -> str:
    [heat] = [entry for entry in fake._metadata.values() if entry["title"] == "Heat"]
    return str(heat["thumb"])


def image_cache(client: Any) -> ImageCache:
    cache: ImageCache = client.app[keys.RUNTIME].plugins.get("plex").plugin.plex.images
    return cache


@pytest.mark.parametrize("content_type", ["image/svg+xml", "image/svg+xml; charset=utf-8", "text/html", "image/x-icon"])
async def test_what_is_no_picture_is_refused(medianest_client: Any, fake: FakePlex, content_type: str) -> None:
    client = await admin_client(medianest_client, fake)
    fake.image_answer = (SVG, content_type)
    for path in (poster(fake), CAST_PHOTO):  # a poster of the server; a cast photo through its transcoder
        resp = await client.get("/api/v1/plex/images", params={"path": path})
        body = await resp.read()
        assert (resp.status, resp.content_type, await resp.json()) == (502, "application/json", REFUSED), path
        assert SVG not in body
    assert len(image_cache(client)) == 0


@pytest.mark.parametrize(
    ("sent", "served"),
    [
        ("image/jpeg", "image/jpeg"),
        ("image/png", "image/png"),
        ("image/webp", "image/webp"),
        ("image/gif", "image/gif"),
        ("image/avif", "image/avif"),
        ("Image/JPEG; charset=binary", "image/jpeg"),
    ],
)
async def test_pictures_are_served_as_what_they_are(
    medianest_client: Any, fake: FakePlex, sent: str, served: str
) -> None:
    client = await admin_client(medianest_client, fake)
    fake.image_answer = (POSTER_PNG, sent)
    for path in (poster(fake), CAST_PHOTO, poster(fake)):  # the second poster comes from the cache
        resp = await client.get("/api/v1/plex/images", params={"path": path})
        assert (resp.status, resp.headers["Content-Type"], await resp.read()) == (200, served, POSTER_PNG)


async def test_an_image_larger_than_the_proxy_reads_is_refused(medianest_client: Any, fake: FakePlex) -> None:
    client = await admin_client(medianest_client, fake)
    fake.image_answer = (b"\xff\xd8\xff" + bytes(MAX_IMAGE_BYTES), "image/jpeg")
    resp = await client.get("/api/v1/plex/images", params={"path": poster(fake)})
    assert resp.status == 502
    assert len(image_cache(client)) == 0

    fake.image_answer = (b"\xff\xd8\xff" + bytes(MAX_IMAGE_BYTES - 3), "image/jpeg")  # just fits
    resp = await client.get("/api/v1/plex/images", params={"path": poster(fake)})
    assert (resp.status, len(await resp.read())) == (200, MAX_IMAGE_BYTES)
