"""The web shell as HTTP: pages, their layout and rules, the guide and links, search and dashboard cards.
What a person sees and clicks in a browser is in ``test_browser.py``."""

from __future__ import annotations

import asyncio
import itertools
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from example_plugins import Doorman, FailsAtStartup, Greeter, Showcase

from medianest_core import keys
from medianest_core.events import ServiceStatusChanged
from medianest_core.testing import entry_point, sign_in

HTML = {"Accept": "text/html"}

USER_PAGES = ["/", "/search", "/search?q=alien", "/notifications", "/profile", "/guide", "/faq"]
ADMIN_PAGES = ["/admin", "/admin/users", "/admin/plugins", "/admin/health", "/admin/audit", "/admin/content"]


class Scripts(HTMLParser):
    """Collects the page's scripts and the inline event handlers, which a strict CSP would block."""

    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self.sources: list[str] = []
        self.handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script":
            if found.get("src"):
                self.sources.append(found["src"] or "")
            else:
                self.inline.append(tag)
        self.handlers += [name for name, _ in attrs if name.startswith("on")]


async def test_anonymous_pages_go_to_the_sign_in_page_which_lists_the_ways_in(medianest_client: Any) -> None:
    client = await medianest_client(entry_points=[entry_point("doorman", Doorman())])
    resp = await client.get("/profile", allow_redirects=False, headers=HTML)
    assert resp.status == 302
    assert resp.headers["Location"] == "/login?next=/profile"

    page = await (await client.get("/login", headers=HTML)).text()
    assert 'href="/auth/doorman/knock"' in page
    assert "Knock on the door" in page
    assert 'data-api="/api/v1/auth/login"' in page  # the password form
    assert 'href="/setup"' in page  # no admin yet

    await sign_in(client, "root", role="admin")
    resp = await client.get("/login?next=/profile", allow_redirects=False, headers=HTML)
    assert (resp.status, resp.headers["Location"]) == (302, "/profile")
    resp = await client.get("/login?next=//evil.example/x", allow_redirects=False, headers=HTML)
    assert (resp.status, resp.headers["Location"]) == (302, "/")


async def test_setup_page_only_while_there_is_no_admin(medianest_client: Any) -> None:
    client = await medianest_client()
    page = await (await client.get("/setup", headers=HTML)).text()
    assert "Setup token" in page
    assert 'data-api="/api/v1/setup"' in page
    await sign_in(client, "root", role="admin")
    other = await medianest_client(browser_of=client)
    resp = await other.get("/setup", allow_redirects=False, headers=HTML)
    assert (resp.status, resp.headers["Location"]) == (302, "/login")


@pytest.mark.parametrize("role", ["user", "admin"])
async def test_every_page_renders_in_the_layout_without_inline_script(medianest_client: Any, role: str) -> None:
    client = await medianest_client(entry_points=[entry_point("showcase", Showcase())])
    who = await sign_in(client, "alice", role=role)
    pages = USER_PAGES + ([*ADMIN_PAGES, f"/admin/users/{who.user_id}"] if role == "admin" else [])
    for path in pages:
        resp = await client.get(path, headers=HTML)
        text = await resp.text()
        assert resp.status == 200, (path, text[:2000])
        assert resp.headers["Content-Type"].startswith("text/html")
        assert resp.headers["Cache-Control"] == "no-store"
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
        assert f'<meta name="csrf-token" content="{who.csrf_token}">' in text
        assert 'aria-label="Main"' in text
        assert 'aria-label="Main (compact)"' in text
        scripts = Scripts()
        scripts.feed(text)
        assert scripts.inline == [], path
        assert scripts.handlers == [], path
        assert all(src.startswith("/static/core/") for src in scripts.sources)
    # Plugins' links join the navigation; admin-only entries show only to admins.
    home = await (await client.get("/", headers=HTML)).text()
    assert 'href="/showcase/"' in home
    assert ('href="/admin/users"' in home) is (role == "admin")


async def test_static_files_manifest_and_icons_are_served_to_anyone(medianest_client: Any) -> None:
    client = await medianest_client()
    resp = await client.get("/manifest.webmanifest")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("application/manifest+json")
    doc = await resp.json(content_type=None)
    assert doc["display"] == "standalone"
    assert doc["start_url"] == "/"
    sizes = {icon["sizes"] for icon in doc["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in doc["icons"]:
        got = await client.get(icon["src"])
        assert got.status == 200, icon
        assert "immutable" in got.headers["Cache-Control"]  # content-named: an installed app never asks again
        body = await got.read()
        assert body[:8] == b"\x89PNG\r\n\x1a\n" if icon["type"] == "image/png" else b"<svg" in body
    for name in ("app.css", "app.js", "icons.svg"):
        assert (await client.get(f"/static/core/{name}")).status == 200
    assert (await client.get("/static/core/../../settings.py")).status in (403, 404)


async def test_error_pages_are_friendly_in_the_browser_and_json_for_the_api(medianest_client: Any) -> None:
    client = await medianest_client()
    await sign_in(client, "alice")
    resp = await client.get("/no/such/page", headers=HTML)
    text = await resp.text()
    assert resp.status == 404
    assert "<h1>Page not found</h1>" in text
    assert 'aria-label="Main"' in text  # signed in: the page keeps the layout
    assert resp.headers["X-Request-ID"] in text

    resp = await client.get("/admin/users", headers=HTML)
    assert resp.status == 403
    assert "You do not have access to this page" in await resp.text()

    resp = await client.get("/api/v1/nope")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"

    resp = await client.get("/notifications?page=zero", headers=HTML)
    assert resp.status == 400
    assert "The query parameter page is wrong: expected a whole number." in await resp.text()


async def test_the_guide_is_markdown_rendered_without_any_script(medianest_client: Any) -> None:
    client = await medianest_client()
    admin = await sign_in(client, "root", role="admin")
    default = await (await client.get("/guide", headers=HTML)).text()
    assert "<h1>Welcome!</h1>" in default

    hostile = (
        "# House rules\n\n<script>alert('x')</script>\n\n"
        "[click](javascript:alert(1)) <img src=x onerror=alert(2)> [ok](https://example.org/help)\n\n"
        "![pic](data:text/html;base64,PHNjcmlwdD4=)\n"
    )
    resp = await client.put("/api/v1/admin/texts/guide", json={"markdown": hostile}, headers=admin.headers)
    assert resp.status == 200, await resp.text()
    page = await (await client.get("/guide", headers=HTML)).text()
    article = page[page.index('<article class="prose">') : page.index("</article>")]
    assert "<h1>House rules</h1>" in article
    assert "<script" not in article
    assert "<img src=x" not in article
    assert "&lt;script&gt;" in article
    assert 'href="javascript:' not in article
    assert 'src="data:' not in article
    assert '<a href="https://example.org/help">ok</a>' in article

    user = await medianest_client(browser_of=client)
    await sign_in(user, "alice")
    assert "House rules" in await (await user.get("/guide", headers=HTML)).text()
    assert (await user.put("/api/v1/admin/texts/guide", json={"markdown": "x"})).status == 403

    # An empty text brings the default back.
    resp = await client.put("/api/v1/admin/texts/guide", json={"markdown": "  "}, headers=admin.headers)
    assert (await resp.json())["custom"] is False
    assert "<h1>Welcome!</h1>" in await (await client.get("/guide", headers=HTML)).text()
    assert (await client.get("/api/v1/texts/rules")).status == 404
    entries = (await (await client.get("/api/v1/admin/audit?action=content.changed")).json())["entries"]
    assert [e["target"] for e in entries] == ["text:guide", "text:guide"]


async def test_quick_links_are_checked_and_shown_to_whom_they_are_for(medianest_client: Any) -> None:
    client = await medianest_client()
    admin = await sign_in(client, "root", role="admin")
    bad = await client.post(
        "/api/v1/admin/links", json={"name": "", "url": "javascript:alert(1)", "icon": "rocket"}, headers=admin.headers
    )
    assert bad.status == 422
    fields = (await bad.json())["error"]["details"]["fields"]
    assert set(fields) == {"name", "url", "icon"}

    made = []
    for body in (
        {"name": "Requests", "url": "https://requests.example.org", "icon": "inbox", "position": 2},
        {"name": "Photos", "url": "https://photos.example.org", "position": 1},
        {"name": "Router", "url": "http://192.168.1.1", "audience": "admin", "icon": "server"},
    ):
        resp = await client.post("/api/v1/admin/links", json=body, headers=admin.headers)
        assert resp.status == 201, await resp.text()
        made.append(await resp.json())

    user = await medianest_client(browser_of=client)
    await sign_in(user, "alice")
    names = [link["name"] for link in (await (await user.get("/api/v1/links")).json())["links"]]
    assert names == ["Photos", "Requests"]
    home = await (await user.get("/", headers=HTML)).text()
    assert 'href="https://photos.example.org"' in home
    assert "Router" not in home
    assert "Router" in await (await client.get("/", headers=HTML)).text()

    resp = await client.patch(f"/api/v1/admin/links/{made[0]['id']}", json={"position": 0}, headers=admin.headers)
    assert resp.status == 200
    names = [link["name"] for link in (await (await user.get("/api/v1/links")).json())["links"]]
    assert names == ["Requests", "Photos"]
    resp = await client.delete(f"/api/v1/admin/links/{made[1]['id']}", headers=admin.headers)
    assert resp.status == 200
    assert (await client.delete(f"/api/v1/admin/links/{made[1]['id']}", headers=admin.headers)).status == 404
    assert "Photos" not in await (await user.get("/", headers=HTML)).text()


async def test_search_asks_each_source_on_its_own(medianest_client: Any) -> None:
    client = await medianest_client(entry_points=[entry_point("showcase", Showcase())])
    await sign_in(client, "alice")
    providers = (await (await client.get("/api/v1/search/providers")).json())["providers"]
    assert [p["id"] for p in providers] == ["showcase.quick", "showcase.slow", "showcase.failing"]

    merged = await (await client.get("/api/v1/search?q=alien&limit=2")).json()
    assert [(s["id"], s["state"], s["count"]) for s in merged["sources"]] == [
        ("showcase.quick", "ok", 2),
        ("showcase.slow", "failed", 0),
        ("showcase.failing", "failed", 0),
    ]
    assert [s["message"] for s in merged["sources"]][1:] == [
        "Slow source did not answer.",
        "Failing source could not search just now.",
    ]
    assert [(r["title"], r["year"], [p["service"] for p in r["in_library"]]) for r in merged["results"]] == [
        ("Alien 1", 1980, ["Showcase"]),
        ("Alien 2", 1981, []),
    ]
    assert merged["done"] is True
    assert "corrupt" not in str(merged)
    for bad in ("", "?q=", "?q=x&limit=0", "?q=" + "x" * 201):
        assert (await client.get("/api/v1/search" + bad)).status == 400
        assert (await client.get("/api/v1/search/stream" + bad)).status == 400

    page = await (await client.get("/search?q=alien", headers=HTML)).text()
    assert 'data-q="alien"' in page
    assert "Searching Quick source, Slow source, Failing source" in page


async def test_dashboard_cards_never_break_the_page(medianest_client: Any) -> None:
    showcase = Showcase()
    client = await medianest_client(
        entry_points=[entry_point("showcase", showcase), entry_point("fragile", FailsAtStartup())]
    )
    await sign_in(client, "alice")
    page = await (await client.get("/", headers=HTML)).text()
    films = page[page.index('id="card-showcase-films"') :]
    assert re.search(r"<dt>Films</dt><dd>12</dd>", films)
    assert "Updated" in films
    assert "3 min ago" in films
    broken = page[page.index('id="card-showcase-broken"') :]
    assert "Its data could not be loaded." in broken
    assert "10.0.0.9" not in page
    assert 'id="card-showcase-disk"' not in page  # for admins only

    showcase.films = 13
    resp = await client.get("/dashboard/cards/showcase/films", headers=HTML)
    fragment = await resp.text()
    assert resp.status == 200
    assert fragment.lstrip().startswith('<section class="card ok" id="card-showcase-films"')
    assert "<dd>13</dd>" in fragment
    assert (await client.get("/dashboard/cards/showcase/disk", headers=HTML)).status == 404
    assert (await client.get("/dashboard/cards/showcase/nope", headers=HTML)).status == 404
    assert (await client.get("/dashboard/cards/core/services", headers=HTML)).status == 200

    resp = await client.get("/showcase/broken", headers=HTML)
    page = await resp.text()
    assert resp.status == 500
    assert "<h1>Something went wrong on our side</h1>" in page
    assert resp.headers["X-Request-ID"] in page
    assert "hunter2" not in page
    assert 'aria-label="Main"' in page

    page = await (await client.get("/showcase/", headers=HTML)).text()
    assert '<p id="count">13 films</p>' in page
    assert 'aria-label="Main"' in page


async def test_a_health_change_is_published_for_open_dashboards(medianest_client: Any) -> None:
    greeter = Greeter()
    client = await medianest_client(entry_points=[entry_point("greeter", greeter)])
    runtime = client.app[keys.RUNTIME]
    seen: list[ServiceStatusChanged] = []

    async def keep(event: ServiceStatusChanged) -> None:
        seen.append(event)

    off = runtime.events.subscribe(ServiceStatusChanged, keep)
    await asyncio.sleep(0.2)  # checked every 50 ms: up, and no event while it stays up
    greeter.healthy = False
    await asyncio.sleep(0.2)
    greeter.healthy = True
    await asyncio.sleep(0.2)
    off()
    states = [(e.plugin, e.check, e.state, e.message) for e in seen]
    # (The first "up", from start-up, may arrive after the subscription or before it.)
    assert states[-2:] == [("greeter", "service", "down", "unavailable"), ("greeter", "service", "up", "ok")]
    assert len(states) <= 3
    assert all(a[2] != b[2] for a, b in itertools.pairwise(states))  # once per change, not per check


async def test_signing_in_works_without_script_too(medianest_client: Any) -> None:
    client = await medianest_client()
    await sign_in(client, "alice")
    other = await medianest_client(browser_of=client)
    resp = await other.post(
        "/login?next=/profile", data={"username": "alice", "password": "wrong password"}, headers=HTML
    )
    page = await resp.text()
    assert resp.status == 401
    assert "Wrong username or password." in page
    assert 'name="username" type="text" value="alice"' in page  # what was typed stays
    assert "wrong password" not in page
    resp = await other.post(
        "/login?next=/profile",
        data={"username": "alice", "password": "alice-password-123"},
        headers=HTML,
        allow_redirects=False,
    )
    assert (resp.status, resp.headers["Location"]) == (302, "/profile")
    assert (await other.get("/profile", headers=HTML, allow_redirects=False)).status == 200
