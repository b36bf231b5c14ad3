"""Posters of requests through MediaNest: TMDB's poster sizes and file names only, from ``<image_url>/<size>/<file>``,
fetched once for everyone and kept on disk; never anything but a picture of at most 2 MiB, never Overseerr's key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from medianest_overseerr import OverseerrPlugin
from medianest_overseerr.fake import FakeOverseerr
from medianest_tmdb.fake import FakeTmdb, jpeg_bytes, png_bytes
from overseerr_harness import Setup, setup
from yarl import URL

from medianest_core import keys
from medianest_core.testing import entry_point, sign_in

ROUTE = "/api/v1/overseerr/images"
FOREVER = "public, max-age=31536000, immutable"


@pytest.fixture
async def fake() -> AsyncIterator[FakeOverseerr]:
    made = FakeOverseerr()
    await made.start()
    yield made
    await made.stop()


@pytest.fixture
async def tmdb() -> AsyncIterator[FakeTmdb]:
    """TMDB's image host: ``/t/p/<size>/<file>``."""
    made = FakeTmdb()
    made.add_image("dune.jpg")
    made.add_image("arrival.png")
    await made.start()
    yield made
    await made.stop()


async def started(medianest_client: Any, fake: FakeOverseerr, tmdb: FakeTmdb, **values: Any) -> Setup:
    made = await setup(medianest_client, fake, webhook=False, image_url=f"{tmdb.url}/t/p", **values)
    await sign_in(made.client, "alice")
    return made


def image_calls(tmdb: FakeTmdb) -> list[str]:
    return [call.path for call in tmdb.calls if call.path.startswith("/t/p/")]


def kept(client: Any) -> list[str]:
    """The posters on disk, ``<size>/<file>``."""
    data_dir: Path = client.app[keys.RUNTIME].settings.data_dir
    folder = data_dir / "overseerr" / "images"
    return sorted(str(path.relative_to(folder)) for path in folder.glob("*/*") if not path.name.startswith("."))


async def test_a_poster_is_fetched_once_and_kept_for_everyone(
    medianest_client: Any, fake: FakeOverseerr, tmdb: FakeTmdb
) -> None:
    made = await started(medianest_client, fake, tmdb)
    poster = made.service.poster_base() + "/dune.jpg"  # the address request documents give
    assert poster == f"{ROUTE}/w342/dune.jpg"
    bob = await medianest_client(browser_of=made.client)
    await sign_in(bob, "bob")
    for client in (made.client, bob, bob):
        resp = await client.get(poster)
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "image/jpeg"
        assert resp.headers["Cache-Control"] == FOREVER
        assert await resp.read() == jpeg_bytes()
    assert image_calls(tmdb) == ["/t/p/w342/dune.jpg"]  # the second and third came from the disk
    [call] = [call for call in tmdb.calls if call.path.startswith("/t/p/")]
    assert fake.api_key not in str(call.headers) + str(call.query)  # the image host never sees Overseerr's key
    assert kept(made.client) == ["w342/dune.jpg"]

    small = await made.client.get(f"{ROUTE}/w185/arrival.png")
    assert (small.status, small.content_type, await small.read()) == (200, "image/png", png_bytes())


async def test_only_signed_in_people_get_posters(medianest_client: Any, fake: FakeOverseerr, tmdb: FakeTmdb) -> None:
    made = await setup(medianest_client, fake, webhook=False, image_url=f"{tmdb.url}/t/p")
    resp = await made.client.get(f"{ROUTE}/w342/dune.jpg")
    assert resp.status == 401
    assert image_calls(tmdb) == []


NOT_POSTERS = (
    "original/dune.jpg",
    "w500/dune.jpg",
    "W342/dune.jpg",
    "w342/dune.gif",
    "w342/dune.JPG",
    "w342/.jpg",
    "w342/%2e%2e",
    "w342/..%2f..%2fsecret.jpg",
    "%2e%2e/w342/dune.jpg",
    "w342/dune.jpg%00.png",
    "w342/http:%2F%2Fevil.example%2Fx.jpg",
    "w342//evil.example/x.jpg",
    "w342/dune.jpg/extra",
    "w342/" + "a" * 101 + ".jpg",
    "w342/",
)
"""Paths that are not the poster sizes and TMDB's file names: TMDB's other sizes, other extensions, climbs out of
the folder, addresses of other hosts, NUL characters, nothing at all."""


async def test_anything_but_poster_sizes_and_tmdb_file_names_is_404(
    medianest_client: Any, fake: FakeOverseerr, tmdb: FakeTmdb
) -> None:
    made = await started(medianest_client, fake, tmdb)
    for path in NOT_POSTERS:
        resp = await made.client.get(URL(f"{ROUTE}/{path}", encoded=True))
        assert resp.status == 404, path
        assert (await resp.json())["error"]["code"] == "not_found", path
    assert image_calls(tmdb) == []
    assert (await made.client.get(f"{ROUTE}/w342/dune.jpg")).status == 200  # the route itself is there


async def test_a_poster_the_host_does_not_have_is_404(
    medianest_client: Any, fake: FakeOverseerr, tmdb: FakeTmdb
) -> None:
    made = await started(medianest_client, fake, tmdb)
    resp = await made.client.get(f"{ROUTE}/w342/missing.jpg")
    assert resp.status == 404
    assert (await resp.json())["error"]["message"] == "Overseerr has no such image."
    assert image_calls(tmdb) == ["/t/p/w342/missing.jpg"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "image/svg+xml"),
        (b"<html><script>alert(1)</script></html>", "text/html"),
        (b"\xff\xd8" + b"\x00" * (2 * 1024 * 1024 - 1), "image/jpeg"),
    ],
    ids=["svg", "html", "over-2-mib"],
)
async def test_what_is_not_a_picture_of_at_most_2_mib_is_refused(
    medianest_client: Any, fake: FakeOverseerr, tmdb: FakeTmdb, body: bytes, content_type: str
) -> None:
    tmdb.add_image("odd.jpg", body, content_type)
    made = await started(medianest_client, fake, tmdb)
    resp = await made.client.get(f"{ROUTE}/w342/odd.jpg")
    assert resp.status == 502
    assert (await resp.json())["error"]["message"] == "Overseerr did not send an image."
    assert kept(made.client) == []


async def test_no_poster_is_kept_at_zero(medianest_client: Any, fake: FakeOverseerr, tmdb: FakeTmdb) -> None:
    made = await started(medianest_client, fake, tmdb, image_cache_mb=0)
    for _ in range(2):
        resp = await made.client.get(f"{ROUTE}/w342/dune.jpg")
        assert resp.status == 200
    assert len(image_calls(tmdb)) == 2
    assert kept(made.client) == []


async def test_without_overseerr_set_up_posters_are_503(medianest_client: Any, tmdb: FakeTmdb) -> None:
    client = await medianest_client(
        entry_points=[entry_point("overseerr", OverseerrPlugin())],
        plugins={"overseerr": {"image_url": f"{tmdb.url}/t/p"}},
    )
    await sign_in(client, "alice")
    resp = await client.get(f"{ROUTE}/w342/dune.jpg")
    assert resp.status == 503
    body = await resp.json()
    assert body["error"] == {"code": "service_unavailable", "message": "Overseerr is not set up.", "details": {}}
    assert (await client.get(f"{ROUTE}/original/dune.jpg")).status == 404  # no such poster, set up or not
    assert image_calls(tmdb) == []
