"""Static files: content-named addresses cached for good, plain names revalidated with ETags, compressed bodies,
no way out of a static folder, and each plugin's files only on the pages that use them."""

from __future__ import annotations

import gzip
import re
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import brotli  # type: ignore[import-untyped]
import pytest
from aiohttp import web
from yarl import URL

from medianest_core import hookimpl
from medianest_core.testing import Browsing, Server, browser_sign_in, entry_point, run_cli, serve_env, sign_in
from medianest_core.types import Access, Page, WebAssets
from medianest_core.web.assets import ASSETS, IMMUTABLE
from medianest_core.web.shell import STATIC

HTML = {"Accept": "text/html"}
CONTENT_NAMED = re.compile(r"^/static/[a-z_]+/[\w./-]+\.[0-9a-f]{10}(\.\w+)?$")


class Loads(HTMLParser):
    """The stylesheets, scripts and icon sprites a page loads."""

    def __init__(self) -> None:
        super().__init__()
        self.styles: list[str] = []
        self.scripts: list[str] = []
        self.uses: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "link" and found.get("rel") == "stylesheet":
            self.styles.append(found["href"] or "")
        elif tag == "script" and found.get("src"):
            self.scripts.append(found["src"] or "")
        elif tag == "use" and found.get("href"):
            self.uses.add((found["href"] or "").partition("#")[0])
        elif tag == "meta" and found.get("name") == "icon-sprite":
            self.uses.add(found["content"] or "")

    @property
    def files(self) -> list[str]:
        return [*self.styles, *self.scripts, *sorted(self.uses)]


async def loads(client: Any, path: str) -> Loads:
    resp = await client.get(path, headers=HTML)
    assert resp.status == 200, path
    found = Loads()
    found.feed(await resp.text())
    return found


def bundled() -> list[Any]:
    from medianest_overseerr import plugin as overseerr
    from medianest_plex import plugin as plex
    from medianest_tmdb import plugin as tmdb
    from medianest_uptime_kuma import plugin as uptime_kuma
    from medianest_youtube import plugin as youtube

    found = {"overseerr": overseerr, "plex": plex, "tmdb": tmdb, "uptime_kuma": uptime_kuma, "youtube": youtube}
    return [entry_point(name, obj) for name, obj in found.items()]


async def bundled_client(medianest_client: Any, tmp_path: Path) -> Any:
    plugins = {"youtube": {"library_root": str(tmp_path / "library"), "free_space_floor_mb": 0}}
    return await medianest_client(entry_points=bundled(), plugins=plugins)


@attrs.define
class Kit:
    """A plugin with a static folder of its own and pages that load its stylesheet."""

    folder: Path
    name: str = "kit"
    version: str = "1.0"

    @hookimpl
    def web_assets(self) -> WebAssets:
        templates = self.folder.parent / "templates"
        templates.mkdir(exist_ok=True)
        (templates / "kit.html").write_text('{% extends "base.html" %}{% block content %}<h1>Kit</h1>{% endblock %}')
        return WebAssets(templates=templates, static=self.folder)

    @hookimpl
    def pages(self) -> list[Page]:
        async def home(request: web.Request) -> web.StreamResponse:
            from medianest_core.web import render

            return await render(request, "kit.html")

        return [
            Page("/", home, "Kit", styles=["kit.css"]),
            Page("/open", home, "Kit for anyone", access=Access.PUBLIC, styles=["kit.css"]),
        ]


def raw_session() -> aiohttp.ClientSession:
    """A client that keeps bodies as they came (no decompression)."""
    return aiohttp.ClientSession(auto_decompress=False)


# ---- addresses and caching ---------------------------------------------------------------------------------


async def test_pages_load_content_named_files_that_are_cached_for_good(medianest_client: Any, tmp_path: Path) -> None:
    client = await bundled_client(medianest_client, tmp_path)
    await sign_in(client)
    seen: set[str] = set()
    for path in ("/", "/search?q=dune", "/profile", "/youtube/", "/overseerr/requests/", "/status/"):
        page = await loads(client, path)
        assert page.styles, path
        assert page.scripts, path
        for href in page.files:
            assert CONTENT_NAMED.match(href), (path, href)
        seen.update(page.files)
    assert any("/static/core/icons." in href for href in seen)  # the icon sprite too
    for href in sorted(seen):
        resp = await client.get(href)
        assert resp.status == 200, href
        assert resp.headers["Cache-Control"] == IMMUTABLE, href
        assert resp.headers["ETag"], href


async def test_a_plain_name_is_revalidated_with_its_etag(medianest_client: Any) -> None:
    client = await medianest_client()
    plain = await client.get("/static/core/app.css", headers={"Accept-Encoding": "identity"})
    assert plain.status == 200
    assert plain.headers["Cache-Control"] == "no-cache"
    assert await plain.read() == (STATIC / "app.css").read_bytes()
    tag = plain.headers["ETag"]

    again = await client.get("/static/core/app.css", headers={"If-None-Match": tag})
    assert again.status == 304
    assert again.headers["ETag"]
    assert await again.read() == b""

    named = client.app[ASSETS].url("app.css")
    assert named != "/static/core/app.css"
    resp = await client.get(named, headers={"If-None-Match": tag})
    assert resp.status == 304
    assert resp.headers["Cache-Control"] == IMMUTABLE
    assert (await client.get(named, headers={"If-None-Match": '"something-else"'})).status == 200


async def test_a_changed_file_gets_a_new_address(medianest_client: Any, tmp_path: Path) -> None:
    folder = tmp_path / "kit"
    folder.mkdir()
    (folder / "kit.css").write_text("body { color: red; }\n")
    first = await medianest_client(entry_points=[entry_point("kit", Kit(folder))])
    await sign_in(first)
    [old] = [href for href in (await loads(first, "/kit/")).styles if "/static/kit/" in href]
    assert CONTENT_NAMED.match(old)
    assert await (await first.get(old)).text() == "body { color: red; }\n"

    (folder / "kit.css").write_text("body { color: blue; }\n")
    second = await medianest_client(entry_points=[entry_point("kit", Kit(folder))])
    await sign_in(second, "bob")
    [new] = [href for href in (await loads(second, "/kit/")).styles if "/static/kit/" in href]
    assert new != old
    assert await (await second.get(new)).text() == "body { color: blue; }\n"
    assert (await second.get(old)).status == 404  # the old content is gone: never served under its name
    assert await (await second.get("/static/kit/kit.css")).text() == "body { color: blue; }\n"


async def test_a_public_page_loads_its_files_for_anyone(medianest_client: Any, tmp_path: Path) -> None:
    folder = tmp_path / "kit"
    folder.mkdir()
    (folder / "kit.css").write_text("p {}\n")
    client = await medianest_client(entry_points=[entry_point("kit", Kit(folder))])
    styles = (await loads(client, "/kit/open")).styles  # nobody signed in
    assert [href for href in styles if href.startswith("/static/kit/")] == [client.app[ASSETS].url("kit.css", "kit")]
    assert (await client.get("/kit/", headers=HTML, allow_redirects=False)).status == 302  # the other asks to sign in


# ---- compression -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "encoding"),
    [
        ("gzip, deflate, br", "br"),
        ("br", "br"),
        ("gzip", "gzip"),
        ("br;q=0, gzip", "gzip"),
        ("identity", None),
        ("", None),
    ],
)
async def test_text_files_come_compressed_as_the_browser_takes_them(
    medianest_client: Any, accept: str, encoding: str | None
) -> None:
    client = await medianest_client()
    original = (STATIC / "app.js").read_bytes()
    async with raw_session() as session:
        for path in ("/static/core/app.js", client.app[ASSETS].url("app.js")):
            async with session.get(client.make_url(path), headers={"Accept-Encoding": accept}) as resp:
                body = await resp.read()
                assert resp.status == 200
                assert resp.headers["Vary"] == "Accept-Encoding"
                assert resp.headers["Content-Type"].startswith("text/javascript")
                assert resp.headers.get("Content-Encoding") == encoding
                decoded = {"br": brotli.decompress, "gzip": gzip.decompress, None: bytes}[encoding](body)
                assert decoded == original
                if encoding is not None:
                    assert len(body) < len(original) / 2
                    assert encoding in resp.headers["ETag"]


async def test_images_are_sent_as_they_are(medianest_client: Any) -> None:
    client = await medianest_client()
    async with raw_session() as session:
        url = client.make_url(client.app[ASSETS].url("icon-192.png"))
        async with session.get(url, headers={"Accept-Encoding": "gzip, br"}) as resp:
            assert resp.status == 200
            assert "Content-Encoding" not in resp.headers
            assert resp.headers["Content-Type"] == "image/png"
            assert await resp.read() == (STATIC / "icon-192.png").read_bytes()


# ---- no way out ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/static/core/..%2F..%2Fapp.py",
        "/static/core/%2e%2e/%2e%2e/app.py",
        "/static/core/%2E%2E%2F%2E%2E%2Fsettings.py",
        "/static/core/..%5C..%5Capp.py",
        "/static/core/..\\..\\app.py",
        "/static/core//etc/passwd",
        "/static/core/%2Fetc%2Fpasswd",
        "/static/core/C:%5CWindows%5Cwin.ini",
        "/static/core/missing.css",
        "/static/core/app.0000000000.css",
        "/static/nobody/app.css",
        "/static/kit/outside.txt",
        "/static/kit/.secret",
    ],
)
async def test_nothing_outside_the_static_folders_is_served(medianest_client: Any, tmp_path: Path, path: str) -> None:
    folder = tmp_path / "kit"
    folder.mkdir()
    (folder / "kit.css").write_text("p {}\n")
    (folder / ".secret").write_text("hidden")
    (tmp_path / "outside.txt").write_text("not for you")
    (folder / "outside.txt").symlink_to(tmp_path / "outside.txt")
    client = await medianest_client(entry_points=[entry_point("kit", Kit(folder))])
    async with aiohttp.ClientSession() as session:
        url = URL(str(client.make_url("/")).rstrip("/") + path, encoded=True)
        async with session.get(url, headers={"Accept": "application/json"}) as resp:
            assert resp.status == 404, path
            if path.startswith("/static/") and "//" not in path.removeprefix("/"):
                doc = await resp.json()
                assert doc["error"]["code"] == "not_found"
    assert (await client.get("/static/kit/kit.css")).status == 200


# ---- which page loads what -----------------------------------------------------------------------------------


def owners(page: Loads) -> set[str]:
    """The names of the static files a page loads, as ``owner/stem`` (``youtube/youtube``)."""
    found = set()
    for href in page.files:
        owner, _, name = href.removeprefix("/static/").partition("/")
        found.add(f"{owner}/{name.split('.')[0]}")
    return found


async def test_a_plugins_files_load_only_on_the_pages_that_use_them(medianest_client: Any, tmp_path: Path) -> None:
    client = await bundled_client(medianest_client, tmp_path)
    await sign_in(client)
    plugin_files = {
        "plex/plex",
        "plex/card",
        "plex/login",
        "overseerr/overseerr",
        "uptime_kuma/uptime_kuma",
        "youtube/youtube",
    }
    expected = {
        "/profile": set(),
        "/search?q=dune": set(),
        "/notifications": set(),
        "/": {"plex/plex", "plex/card", "overseerr/overseerr", "uptime_kuma/uptime_kuma"},  # the cards' own
        "/youtube/": {"youtube/youtube"},
        "/overseerr/requests/": {"overseerr/overseerr"},
        "/status/": {"uptime_kuma/uptime_kuma"},
    }
    for path, files in expected.items():
        page = await loads(client, path)
        assert owners(page) & plugin_files == files, path
        assert len(page.files) == len(set(page.files)), path  # each file once
    # The requests page and the status page run their scripts; the dashboard does not load them.
    assert any("/static/overseerr/overseerr." in src for src in (await loads(client, "/overseerr/requests/")).scripts)
    assert any("/static/uptime_kuma/uptime_kuma." in src for src in (await loads(client, "/status/")).scripts)
    dashboard = await loads(client, "/")
    assert not any("/static/overseerr/" in src or "/static/uptime_kuma/" in src for src in dashboard.scripts)

    # A title's status pill keeps its colour on the core's pages: the rule is in a stylesheet they load.
    search = await loads(client, "/search?q=dune")
    styles = [await (await client.get(href)).text() for href in search.styles]
    assert any(".pill.tone-info" in text for text in styles)


# ---- in a browser ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("static")
    env = serve_env(
        root / "data",
        {
            "MEDIANEST_LOGIN_RATE_LIMIT": "1000/minute",
            "MEDIANEST_METRICS_TOKEN": "static-metrics-token-123",
            "MEDIANEST_YOUTUBE_LIBRARY_ROOT": str(root / "library"),
        },
    )
    done = run_cli("user", "create-admin", "root", env=env, stdin="root-password-123\n")
    assert done.returncode == 0, done.stderr
    with Server(env, root / "serve.log") as srv:
        yield srv


def requests_by_route(server: Server) -> dict[str, int]:
    """How many requests ``serve`` has answered, by route template (its Prometheus counter)."""
    request = urllib.request.Request(
        server.url + "/metrics", headers={"Authorization": "Bearer static-metrics-token-123"}
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        text = resp.read().decode()
    counts: dict[str, int] = {}
    for line in text.splitlines():
        found = re.match(r"medianest_http_requests_total\{(.*)\} ([\d.e+]+)$", line)
        if found:
            route = re.search(r'route="([^"]*)"', found.group(1))
            assert route is not None
            counts[route.group(1)] = counts.get(route.group(1), 0) + int(float(found.group(2)))
    return counts


def test_a_warm_reload_of_the_dashboard_asks_for_no_static_file(server: Server, medianest_browsing: Browsing) -> None:
    from playwright.sync_api import expect

    page = medianest_browsing.page()
    browser_sign_in(page, server, server.new_user())
    expect(page.locator("section.card").first).to_be_visible()
    page.wait_for_load_state("networkidle")
    before = requests_by_route(server)

    page.reload()
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    page.wait_for_load_state("networkidle")
    after = requests_by_route(server)

    answered = {route: after.get(route, 0) - before.get(route, 0) for route in after}
    answered = {route: count for route, count in answered.items() if count}
    static = {route: count for route, count in answered.items() if route.startswith("/static")}
    assert static == {}, answered  # every css, js and svg came from the browser's cache
    assert answered.get("/", 0) == 1  # the document itself
