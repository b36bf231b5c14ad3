"""The image proxy: TMDB's pictures by TMDB's sizes and file names only, fetched once for everyone and kept on disk
within ``image_cache_mb``; never a damaged file, never anything but a picture, never the key to the image host."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from medianest_tmdb.fake import FakeTmdb, Sample, jpeg_bytes, png_bytes
from yarl import URL

from medianest_core import keys
from medianest_core.images import ImageStore, StoredImage, encode
from medianest_core.testing import sign_in

ROUTE = "/api/v1/tmdb/images"
FOREVER = "public, max-age=31536000, immutable"
STORED = len(encode(StoredImage(jpeg_bytes(), "image/jpeg")))
"""The bytes one poster of the fake takes on disk."""

TmdbApp = Callable[..., Awaitable[Any]]
"""The ``tmdb_app`` fixture: ``await tmdb_app(**tmdb_settings)``."""


def poster_of(fake: FakeTmdb, tmdb_id: int = Sample.MATRIX) -> str:
    """The image route's address of a film's poster."""
    return f"{ROUTE}/w342{fake.movie(tmdb_id)['poster_path']}"


def image_calls(fake: FakeTmdb) -> list[str]:
    return [call.path for call in fake.calls if call.path.startswith("/t/p/")]


def cache_dir(client: Any) -> Path:
    data_dir: Path = client.app[keys.RUNTIME].settings.data_dir
    return data_dir / "tmdb" / "images"


def held(folder: Path) -> int:
    """The bytes of images on disk, as a person looking at the folder counts them."""
    return sum(path.stat().st_size for path in folder.glob("*/*") if not path.name.startswith("."))


async def get_image(client: Any, path: str) -> bytes:
    resp = await client.get(path)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Cache-Control"] == FOREVER
    assert resp.content_type == "image/jpeg"
    return bytes(await resp.read())


async def test_an_image_is_fetched_once_and_kept_for_everyone(
    medianest_client: Any, tmdb_app: TmdbApp, fake: FakeTmdb
) -> None:
    client = await tmdb_app(read_access_token=fake.token)
    await sign_in(client, "alice")
    poster = poster_of(fake)
    assert await get_image(client, poster) == jpeg_bytes()
    bob = await medianest_client(browser_of=client)
    await sign_in(bob, "bob")
    assert await get_image(bob, poster) == jpeg_bytes()
    assert await get_image(bob, poster) == jpeg_bytes()
    assert len(image_calls(fake)) == 1
    [call] = [call for call in fake.calls if call.path.startswith("/t/p/")]
    assert call.path == f"/t/p/w342{fake.movie(Sample.MATRIX)['poster_path']}"
    assert call.query == {}  # the image host never sees the key nor the token
    assert "Authorization" not in call.headers
    assert held(cache_dir(client)) == STORED

    png = await client.get(f"{ROUTE}/w185/s1poster.jpg")  # a season's poster the fake serves
    assert png.status == 200
    fake.add_image("logo.png")
    logo = await client.get(f"{ROUTE}/w1280/logo.png")
    assert (logo.status, logo.content_type, await logo.read()) == (200, "image/png", png_bytes())


async def test_concurrent_requests_for_one_image_are_one_fetch(tmdb_app: TmdbApp, fake: FakeTmdb) -> None:
    client = await tmdb_app()
    await sign_in(client, "alice")
    bodies = await asyncio.gather(*(get_image(client, poster_of(fake)) for _ in range(20)))
    assert set(bodies) == {jpeg_bytes()}
    assert len(image_calls(fake)) == 1


async def test_only_signed_in_people_get_images(tmdb_app: TmdbApp, fake: FakeTmdb) -> None:
    client = await tmdb_app()
    resp = await client.get(poster_of(fake))
    assert resp.status == 401
    assert image_calls(fake) == []


NOT_IMAGES = (
    "original/abc.jpg",
    "w500/abc.jpg",
    "w780/abc.jpg",
    "w92/abc.jpg",
    "h632/abc.jpg",
    "w343/abc.jpg",
    "w342/abc.jpg%0A",
    "w342%0A/abc.jpg",
    "W342/abc.jpg",
    "w342/abc.gif",
    "w342/abc.jpeg",
    "w342/abc.jpg.exe",
    "w342/abc.JPG",
    "w342/.jpg",
    "w342/..",
    "w342/%2e%2e",
    "w342/%2e%2e.jpg",
    "w342/%2E%2E%2F%2E%2E%2Fsecret.jpg",
    "w342/..%2f..%2fsecret.jpg",
    "w342/..%5c..%5csecret.jpg",
    "%2e%2e/w342/abc.jpg",
    "w342/abc.jpg%00.png",
    "w342/abc%20def.jpg",
    "w342/http:%2F%2Fevil.example%2Fx.jpg",
    "w342/http://evil.example/x.jpg",
    "w342//evil.example/x.jpg",
    "w342/abc.jpg/extra",
    "w342/" + "a" * 101 + ".jpg",
    "w342",
    "w342/",
)
"""Paths under the image route that are not the sizes titles link to and TMDB's file names: TMDB's other sizes
(``original`` above all: megabytes a picture), other extensions, trailing line breaks, climbs out of the folder
spelt in every way, addresses of other hosts, NUL characters, and nothing at all."""


async def test_anything_but_the_sizes_titles_use_and_tmdb_file_names_is_404(tmdb_app: TmdbApp, fake: FakeTmdb) -> None:
    client = await tmdb_app()
    await sign_in(client, "alice")
    for path in NOT_IMAGES:
        resp = await client.get(URL(f"{ROUTE}/{path}", encoded=True))
        assert resp.status == 404, path
        body = await resp.json()
        assert body["error"]["code"] == "not_found", path
    assert image_calls(fake) == []


async def test_an_image_tmdb_does_not_have_is_404(tmdb_app: TmdbApp, fake: FakeTmdb) -> None:
    client = await tmdb_app()
    await sign_in(client, "alice")
    resp = await client.get(f"{ROUTE}/w342/missing.jpg")
    assert resp.status == 404
    assert (await resp.json())["error"]["message"] == "TMDB has no such image."
    assert image_calls(fake) == ["/t/p/w342/missing.jpg"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "image/svg+xml"),
        (b"<html><script>alert(1)</script></html>", "text/html"),
        (b"\xff\xd8" + b"\x00" * (2 * 1024 * 1024 - 1), "image/jpeg"),
    ],
)
async def test_what_is_not_a_picture_of_at_most_2_mib_is_refused(
    tmdb_app: TmdbApp, fake: FakeTmdb, body: bytes, content_type: str
) -> None:
    fake.add_image("odd.jpg", body, content_type)
    client = await tmdb_app()
    await sign_in(client, "alice")
    resp = await client.get(f"{ROUTE}/w1280/odd.jpg")
    assert resp.status == 502
    assert (await resp.json())["error"]["message"] == "TMDB did not send an image."
    assert held(cache_dir(client)) == 0


async def test_a_picture_of_2_mib_is_served(tmdb_app: TmdbApp, fake: FakeTmdb) -> None:
    body = b"\xff\xd8" + b"\x00" * (2 * 1024 * 1024 - 2)
    fake.add_image("big.jpg", body)
    client = await tmdb_app()
    await sign_in(client, "alice")
    assert await get_image(client, f"{ROUTE}/w1280/big.jpg") == body


async def test_at_most_four_images_are_fetched_from_tmdb_at_once(tmdb_app: TmdbApp, fake: FakeTmdb) -> None:
    films = [fake.add_movie(f"Film {n}", popularity=1.0)["id"] for n in range(10)]
    client = await tmdb_app()
    await sign_in(client, "alice")
    fake.hold_images = True
    asked = [asyncio.create_task(get_image(client, poster_of(fake, film))) for film in films]
    await fake.wait_for_held_images(4)
    with contextlib.suppress(TimeoutError):  # a fifth would arrive meanwhile if there were no bound
        await asyncio.wait_for(fake.wait_for_held_images(5), 0.5)
    fake.release_images()
    assert set(await asyncio.gather(*asked)) == {jpeg_bytes()}  # the others waited their turn
    assert fake.most_images_held == 4
    assert len(image_calls(fake)) == 10


async def test_a_damaged_file_is_never_served(tmdb_app: TmdbApp, fake: FakeTmdb) -> None:
    client = await tmdb_app()
    await sign_in(client, "alice")
    poster = poster_of(fake)
    await get_image(client, poster)
    [kept] = cache_dir(client).glob("w342/*.jpg")
    whole = kept.read_bytes()
    for damaged in (whole[:-10], whole[:-1] + b"\x00", b"", whole[:20]):
        kept.write_bytes(damaged)
        assert await get_image(client, poster) == jpeg_bytes()
        assert kept.read_bytes() == whole  # fetched again and kept whole
    assert len(image_calls(fake)) == 5


async def test_the_cache_stays_within_its_bytes_least_recently_used_out(tmdb_app: TmdbApp, fake: FakeTmdb) -> None:
    films = [fake.add_movie(f"Film {n}", popularity=1.0)["id"] for n in range(30)]
    budget = 10 * STORED + STORED // 2
    client = await tmdb_app(image_cache_mb=budget / 1_000_000)
    await sign_in(client, "alice")
    folder = cache_dir(client)
    for film in films[:10]:
        await get_image(client, poster_of(fake, film))
    assert held(folder) == 10 * STORED
    await get_image(client, poster_of(fake, films[0]))  # used again: now the most recent
    for film in films[10:]:
        await get_image(client, poster_of(fake, film))
        assert held(folder) <= budget
    assert held(folder) >= 5 * STORED

    asked = len(image_calls(fake))
    await get_image(client, poster_of(fake, films[-1]))  # the most recent are kept
    await get_image(client, poster_of(fake, films[-2]))
    assert len(image_calls(fake)) == asked
    await get_image(client, poster_of(fake, films[1]))  # the oldest are not
    assert len(image_calls(fake)) == asked + 1
    assert held(folder) <= budget


async def test_a_lowered_bound_is_kept_from_the_first_use(
    tmdb_app: TmdbApp, fake: FakeTmdb, medianest_data_dir: Path
) -> None:
    folder = medianest_data_dir / "tmdb" / "images"
    roomy = ImageStore(folder, 100 * STORED)
    for n in range(20):
        await roomy.put("w342", f"old{n}.jpg", StoredImage(jpeg_bytes(), "image/jpeg"))
    assert held(folder) == 20 * STORED
    client = await tmdb_app(image_cache_mb=5 * STORED / 1_000_000)
    await sign_in(client, "alice")
    await get_image(client, poster_of(fake))
    assert held(folder) <= 5 * STORED


async def test_no_cache_at_zero(tmdb_app: TmdbApp, fake: FakeTmdb) -> None:
    client = await tmdb_app(image_cache_mb=0)
    await sign_in(client, "alice")
    for _ in range(3):
        await get_image(client, poster_of(fake))
    assert len(image_calls(fake)) == 3
    assert not cache_dir(client).exists()


async def test_processes_sharing_the_folder_keep_its_bound(tmp_path: Path) -> None:
    """Two stores on one folder, as two MediaNest processes on one machine: each sees what the other kept, and
    together they never hold more than the bound."""
    bound = 12 * STORED
    first, second = ImageStore(tmp_path, bound), ImageStore(tmp_path, bound)
    image = StoredImage(jpeg_bytes(), "image/jpeg")
    await first.put("w342", "shared.jpg", image)
    assert await second.get("w342", "shared.jpg") == image
    await asyncio.gather(
        *(store.put("w342", f"p{n}-{k}.jpg", image) for n, store in enumerate((first, second)) for k in range(40))
    )
    assert held(tmp_path) <= bound
    assert first.held() == held(tmp_path)
    assert int((tmp_path / ".size").read_text()) == held(tmp_path)


async def test_an_image_larger_than_the_cache_is_served_not_kept(tmdb_app: TmdbApp, fake: FakeTmdb) -> None:
    client = await tmdb_app(image_cache_mb=STORED / 2 / 1_000_000)
    await sign_in(client, "alice")
    await get_image(client, poster_of(fake))
    assert held(cache_dir(client)) == 0


async def test_without_a_key_there_are_no_images(tmdb_app: TmdbApp, fake: FakeTmdb) -> None:
    client = await tmdb_app(keyless=True, image_url=fake.image_url)
    await sign_in(client, "alice")
    resp = await client.get(poster_of(fake))
    assert resp.status == 503  # the route is there for when the admin sets TMDB up, and says it is not
    assert (await resp.json())["error"]["message"] == "TMDB is not set up."
    assert image_calls(fake) == []


async def test_a_hung_image_host_is_a_503_by_the_deadline(medianest_client: Any, fake: FakeTmdb) -> None:
    from medianest_tmdb import TMDBPlugin

    from medianest_core.testing import entry_point

    client = await medianest_client(
        entry_points=[entry_point("tmdb", TMDBPlugin())],
        plugins={"tmdb": {"api_key": fake.api_key, "api_url": fake.api_url, "image_url": fake.image_url}},
        upstream_timeout=0.5,
    )
    await sign_in(client, "alice")
    fake.hang = True
    resp = await client.get(poster_of(fake))
    assert resp.status == 503
    assert (await resp.json())["error"]["message"] == "TMDB did not answer within 0.5 s."


async def test_a_disk_that_refuses_still_serves_the_image(
    tmdb_app: TmdbApp, fake: FakeTmdb, medianest_data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (medianest_data_dir / "tmdb").write_text("a file where the cache's folder would be")
    client = await tmdb_app()
    await sign_in(client, "alice")
    for _ in range(2):
        assert await get_image(client, poster_of(fake)) == jpeg_bytes()
    assert len(image_calls(fake)) == 2  # nothing kept: asked again
    assert "tmdb_image_cache_unwritable" in caplog.text
