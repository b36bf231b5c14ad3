"""Links are checked before yt-dlp sees them, and again where it connects; a preview reads a playlist offline
from a feed served on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from medianest_youtube import YouTubePlugin
from medianest_youtube.urls import UrlRefused, check_url

from medianest_core.testing import entry_point, sign_in

YOUTUBE = ["youtube.com", "www.youtube.com", "youtu.be"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://youtube.com/playlist?list=PL1", "Only http:// and https://"),
        ("file:///etc/passwd", "Only http:// and https://"),
        ("javascript:alert(1)", "Only http:// and https://"),
        ("https://evil.example/watch?v=1", "Only links to these sites"),
        ("https://youtube.com.evil.example/watch?v=1", "Only links to these sites"),
        ("https://user:pw@youtube.com/watch?v=1", "user name or password"),
        ("https://youtube.com:8443/watch?v=1", "Only links to these sites"),
        ("https://youtube.com:notaport/x", "not a web address"),
        ("   ", "Paste the link"),
    ],
)
def test_links_that_are_refused(url: str, reason: str) -> None:
    with pytest.raises(UrlRefused, match=reason):
        check_url(url, YOUTUBE)


def test_links_that_are_accepted() -> None:
    assert check_url(" https://www.youtube.com/playlist?list=PL123 ", YOUTUBE) == (
        "https://www.youtube.com/playlist?list=PL123"
    )
    assert check_url("https://YouTu.be/abc", YOUTUBE) == "https://YouTu.be/abc"
    assert check_url("http://127.0.0.1:8799/feed.xml", ["127.0.0.1:8799"]) == "http://127.0.0.1:8799/feed.xml"


FEED = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>Cooking Basics</title><link>{base}/</link><description>A course</description>
{items}
</channel></rss>"""
ITEM = '<item><title>{title}</title><guid>{guid}</guid><enclosure url="{url}" type="video/mp4" length="1"/></item>'


@pytest.fixture
async def feeds() -> AsyncIterator[str]:
    async def feed(request: web.Request) -> web.Response:
        base = f"http://{request.host}"
        items = "\n".join(
            ITEM.format(title=title, guid=f"vid-{n}", url=f"{base}/media/{n}.mp4")
            for n, title in enumerate(["Knife skills", "Stock", "Sauces"])
        )
        return web.Response(text=FEED.format(base=base, items=items), content_type="application/rss+xml")

    other_app = web.Application()
    other_app.router.add_get("/feed.xml", feed)
    other = TestServer(other_app, host="127.0.0.1")
    await other.start_server()

    async def elsewhere(request: web.Request) -> web.Response:
        # A redirect to a server that is not allowed (another port), which would answer with a good feed.
        raise web.HTTPFound(f"http://127.0.0.1:{other.port}/feed.xml")

    app = web.Application()
    app.router.add_get("/feed.xml", feed)
    app.router.add_get("/away.xml", elsewhere)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield f"127.0.0.1:{server.port}"
    await server.close()
    await other.close()


async def youtube_client(medianest_client: Any, host: str) -> Any:
    section = {"allowed_hosts": [host], "extractors": ["generic"]}
    return await medianest_client(entry_points=[entry_point("youtube", YouTubePlugin())], plugins={"youtube": section})


async def test_a_playlist_is_previewed_without_downloading(medianest_client: Any, feeds: str) -> None:
    client = await youtube_client(medianest_client, feeds)
    who = await sign_in(client, "alice")
    resp = await client.post("/api/v1/youtube/preview", json={"url": f"http://{feeds}/feed.xml"}, headers=who.headers)
    assert resp.status == 200, await resp.text()
    doc = await resp.json()
    assert (doc["kind"], doc["title"], doc["count"]) == ("playlist", "Cooking Basics", 3)
    assert doc["items"] == ["Knife skills", "Stock", "Sauces"]


async def test_refused_and_unreadable_links_get_clear_errors(medianest_client: Any, feeds: str) -> None:
    client = await youtube_client(medianest_client, feeds)
    who = await sign_in(client, "alice")
    resp = await client.post("/api/v1/youtube/preview", json={"url": "https://evil.example/list"}, headers=who.headers)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["details"]["fields"]["url"].startswith("Only links to these sites can be downloaded")

    # Allowed at first, but the server sends yt-dlp elsewhere: refused where it connects.
    resp = await client.post("/api/v1/youtube/preview", json={"url": f"http://{feeds}/away.xml"}, headers=who.headers)
    assert resp.status == 422
    assert "That link could not be read" in (await resp.json())["error"]["message"]

    resp = await client.post(
        "/api/v1/youtube/preview", json={"url": f"http://{feeds}/missing.xml"}, headers=who.headers
    )
    assert resp.status == 422
    assert (await client.post("/api/v1/youtube/preview", json={"link": "x"}, headers=who.headers)).status == 422
