"""Search, title pages and Discover in a real browser: Debian's chromium driven by Playwright, against a real
``medianest serve`` whose Plex and TMDB are the fakes, on 127.0.0.1, with an example plugin that requests series
by season (``SeasonRequests`` of ``title_plugins.py``, installed as a distribution of its own).

One browser and one server for the module, a new browser context per case. The cases that look at layout run at a
desktop and a phone width, in the dark and the light theme; each saves a full-page screenshot in ``/tmp/shots/``
(``MEDIANEST_SHOTS`` to put them elsewhere). A failing case also leaves a screenshot and the HTML of each page it
had open in ``test-artifacts/browser/<test>/``. Chromium is never downloaded: without ``/usr/bin/chromium`` these
tests are skipped, unless ``MEDIANEST_REQUIRE_BROWSER_TESTS`` is set, when they fail.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import quote

import attrs
import pytest
from conftest import install_fake_distribution
from medianest_tmdb.fake import FakeSeason, FakeTmdb
from test_api_walk import FakePlexThread
from test_browser import ADMIN

from medianest_core.testing import PHONE, Browsing, Server, require_chromium, run_cli, serve_env

require_chromium()

from playwright.sync_api import Locator, Page, ViewportSize, expect  # noqa: E402

# A shared machine can be slow: what a person would wait a few seconds for may take longer here.
expect.set_options(timeout=15_000)

DESKTOP: ViewportSize = {"width": 1366, "height": 900}
Look = tuple[ViewportSize, str]
"""A window's size and the theme chosen."""


def label(look: Look) -> str:
    return f"{look[0]['width']}-{look[1]}"


LOOKS = [
    pytest.param((viewport, theme), id=label((viewport, theme)))
    for viewport in (DESKTOP, PHONE)
    for theme in ("dark", "light")
]
SHOTS = Path(os.environ.get("MEDIANEST_SHOTS", "/tmp/shots"))
MACHINE = "fake-machine-id"
"""The fake Plex's machine identifier: the Watch in Plex links name the server by it."""
SLOW_HORSES = 95480
ANDOR = 83867
SEASONS_PLUGIN = f"""
from medianest_core import ActionChoice
from title_plugins import SeasonRequests

plugin = SeasonRequests({{
    {SLOW_HORSES}: [
        ActionChoice(1, "Season 1"),
        ActionChoice(2, "Season 2"),
        ActionChoice(3, "Season 3"),
        ActionChoice(4, "Season 4", enabled=False, reason="Not out yet."),
    ],
    {ANDOR}: [
        ActionChoice(1, "Season 1"),
        ActionChoice(2, "Season 2"),
        ActionChoice(3, "Season 3", enabled=False, reason="Not announced yet."),
    ],
}})
"""
"""The example plugin that requests series by season: a "Request" button with seasons to tick on Slow Horses and
Andor (series only TMDB has)."""


# ---- the fakes: Plex has The Matrix, Alien, Aliens and Breaking Bad (some of it); TMDB has its sample ------------


def _png(width: int, height: int, top: bytes, bottom: bytes) -> bytes:
    """A PNG of a vertical gradient from ``top`` to ``bottom`` (RGB), so that screenshots show posters that look
    like pictures rather than flat tiles."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(
        b"\x00" + bytes(a + (b - a) * y // (height - 1) for a, b in zip(top, bottom, strict=True)) * width
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _pictures(tmdb: FakeTmdb) -> None:
    """Every image of the fake TMDB as a gradient of its own colours, in its shape (backdrops are wide)."""
    for name in list(tmdb.images):
        digest = hashlib.sha256(name.encode()).digest()
        size = (60, 40) if name.startswith("b") else (40, 60)
        tmdb.add_image(name, _png(*size, digest[:3], bytes(c // 4 for c in digest[3:6])), "image/png")


def _stock(fakes: FakePlexThread) -> None:
    plex, tmdb = fakes.plex, fakes.tmdb
    plex.add_item(
        "1",
        "The Matrix",
        year=1999,
        summary="A hacker learns what the world is.",
        guids=["tmdb://603", "imdb://tt0133093"],
        genres=["Action", "Science Fiction"],
    )
    plex.add_section("3", "Series", "show")
    show = plex.add_item("3", "Breaking Bad", year=2008, guids=["tmdb://1396", "tvdb://81189"])
    plex.add_season(show["ratingKey"], 1, episodes=7)  # all of season 1
    plex.add_season(show["ratingKey"], 2, episodes=5)  # 5 of 13
    tmdb.add_movie("Aliens", id=679, year=1986, imdb_id="tt0090605", overview="This time it's war.", poster_path=None)
    tmdb.add_tv("Breaking Point", year=2019, seasons=[FakeSeason(1, 8)], popularity=1.0)
    tmdb.add_tv("Slow Horses", id=SLOW_HORSES, year=2022, seasons=4, popularity=0.5, overview="Spies who failed.")
    tmdb.add_tv("Andor", id=ANDOR, year=2022, seasons=2, popularity=0.5, overview="A thief becomes a rebel.")
    _pictures(tmdb)


@pytest.fixture(scope="module")
def fakes() -> Iterator[FakePlexThread]:
    fake = FakePlexThread()
    try:

        async def stock() -> None:  # on the fakes' own loop, like every request they answer
            _stock(fake)

        fake.run(stock())
        yield fake
    finally:
        fake.tmdb.hang = False
        fake.close()


@attrs.frozen
class Site:
    server: Server
    fakes: FakePlexThread
    cookie: tuple[str, str]
    csrf: str

    def call(self, path: str, body: Any = None) -> Any:
        """A JSON call as the admin signed in (the person browsing); the answer, which must be a success."""
        status, answer, _ = _api(self.server, path, body, f"{self.cookie[0]}={self.cookie[1]}", self.csrf)
        assert 200 <= status < 300, (status, answer)
        return answer


def _api(server: Server, path: str, body: Any = None, cookie: str = "", csrf: str = "") -> tuple[int, Any, str]:
    """A JSON call: the status, the answer and the ``Set-Cookie`` header."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.url + path, data=data, method="GET" if body is None else "POST")
    request.add_header("Content-Type", "application/json")
    if cookie:
        request.add_header("Cookie", cookie)
    if csrf:
        request.add_header("X-CSRF-Token", csrf)
    try:
        with urllib.request.urlopen(request, timeout=15) as resp:
            return resp.status, json.loads(resp.read()), resp.headers.get("Set-Cookie", "")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null"), ""


def _wait_for_index(server: Server, cookie: str) -> None:
    """Plex's index of titles is built in the background at start-up: wait until search says Plex has them."""
    wanted = {"matrix": "The Matrix", "breaking": "Breaking Bad"}
    deadline = time.monotonic() + 30
    while wanted and time.monotonic() < deadline:
        for q, name in list(wanted.items()):
            status, answer, _ = _api(server, f"/api/v1/search?q={q}", cookie=cookie)
            assert status == 200, answer
            if any(r["title"] == name and r["in_library"] for r in answer["results"]):
                del wanted[q]
        if wanted:
            time.sleep(0.2)
    assert not wanted, f"Plex's index never listed {sorted(wanted.values())}:\n{server.log.read_text()}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, fakes: FakePlexThread) -> Iterator[Site]:
    """One ``medianest serve`` with Plex and TMDB (the fakes), an admin signed in (an admin who does not sign in
    with Plex browses it as the owner), and Plex's index built."""
    root = tmp_path_factory.mktemp("browser-titles")
    plugins = root / "site"
    install_fake_distribution(
        plugins, "medianest-season-requests", {"seasons": "seasons_plugin:plugin"}, {"seasons_plugin": SEASONS_PLUGIN}
    )
    env = serve_env(
        root / "data",
        {
            "PYTHONPATH": os.pathsep.join([str(plugins), str(Path(__file__).parent)]),
            # Every case here is the same person in a new browser, with nothing cached, so they ask for far more a
            # minute than anyone would.
            "MEDIANEST_API_RATE_LIMIT": "100000/minute",
            # Requests here are the example plugin's: Overseerr, not set up, would only add its own greyed buttons.
            "MEDIANEST_OVERSEERR_ENABLED": "false",
            **fakes.settings(),
        },
    )
    done = run_cli("user", "create-admin", ADMIN[0], env=env, stdin=ADMIN[1] + "\n")
    assert done.returncode == 0, done.stderr
    with Server(env, root / "serve.log") as server:
        status, answer, set_cookie = _api(server, "/api/v1/auth/login", {"username": ADMIN[0], "password": ADMIN[1]})
        assert status == 200, answer
        [(name, morsel)] = [(name, m) for name, m in SimpleCookie(set_cookie).items() if name == "medianest_session"]
        _wait_for_index(server, f"{name}={morsel.value}")
        yield Site(server, fakes, (name, morsel.value), answer["csrf_token"])


# ---- helpers -----------------------------------------------------------------------------------------------------


PageMaker = Callable[[ViewportSize, str], Page]


@pytest.fixture
def new_page(site: Site, medianest_browsing: Browsing) -> PageMaker:
    """``new_page(viewport, theme)``: a page signed in as the admin in a new browser (a phone's at a phone's width)
    with the theme chosen; a failing case keeps a screenshot and the HTML of its pages in
    ``test-artifacts/browser/<test>/``."""

    def make(viewport: ViewportSize, theme: str) -> Page:
        phone = viewport["width"] < 600
        context = medianest_browsing.context(viewport, color_scheme=theme, is_mobile=phone, has_touch=phone)
        context.add_cookies(
            [
                {"name": site.cookie[0], "value": site.cookie[1], "url": site.server.url},
                {"name": "medianest_theme", "value": theme, "url": site.server.url},
            ]
        )
        return context.new_page()

    return make


def search_from_top_bar(page: Page, text: str) -> Locator:
    """Type in the top bar's search box and press Enter; the results, once every source has answered."""
    page.get_by_role("searchbox", name="Search the library and more").fill(text)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q=" + re.escape(quote(text, safe="")).replace("%20", r"(\+|%20)")))
    results = page.locator("#search-results")
    expect(results).to_have_attribute("aria-busy", "false")
    return results


def entry(results: Locator, heading: str) -> Locator:
    """The result whose heading is exactly ``heading``."""
    return results.locator(".title-list > li").filter(has=results.page.get_by_role("heading", name=heading, exact=True))


def expect_picture(image: Locator) -> None:
    """The image is shown: it loaded and has pixels (a broken one is replaced by the placeholder, and fails here)."""
    image.scroll_into_view_if_needed()
    expect(image).to_be_visible()
    image.page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())


def expect_watch_link(link: Locator) -> None:
    """A Watch in Plex link opens Plex's web app on this server's item, and gives nothing away."""
    href = link.get_attribute("href") or ""
    assert href.startswith("https://app.plex.tv/"), href
    assert MACHINE in href, href
    assert "token" not in href.lower(), href
    assert "127.0.0.1" not in href, href  # nor the server's address


def no_sideways_scroll(page: Page, viewport: ViewportSize) -> None:
    """The page itself never scrolls sideways (Discover's rows scroll inside themselves)."""
    width = page.evaluate("document.scrollingElement.scrollWidth")
    wide = page.evaluate(
        """limit => [...document.querySelectorAll('body *')]
            .filter(e => !e.closest('.poster-row') && e.getBoundingClientRect().right > limit + 1)
            .slice(0, 5).map(e => `${e.tagName.toLowerCase()}.${e.className} ${e.getBoundingClientRect().right}`)""",
        viewport["width"],
    )
    assert width <= viewport["width"], f"the page is {width}px wide at {viewport['width']}px; too wide: {wide}"


def shoot(page: Page, name: str) -> None:
    """A screenshot of the whole page in ``SHOTS``, taken with the window as tall as the page, so that the bars
    fixed to the window's edges are where a person sees them."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    viewport = page.viewport_size
    assert viewport is not None
    height = page.evaluate("document.scrollingElement.scrollHeight")
    page.set_viewport_size({"width": viewport["width"], "height": max(height, viewport["height"])})
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    page.set_viewport_size(viewport)


def check_theme(page: Page, theme: str) -> None:
    expect(page.locator("html")).to_have_attribute("data-theme", theme)


# ---- the cases ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("look", LOOKS)
def test_search_shows_one_entry_per_title_with_its_poster_and_where_to_watch(
    site: Site,
    new_page: PageMaker,
    look: Look,
) -> None:
    viewport, theme = look
    page = new_page(viewport, theme)
    page.goto(site.server.url + "/")
    check_theme(page, theme)

    results = search_from_top_bar(page, "matrix")
    expect(results.locator(".search-state")).to_have_text("3 titles.")  # the adult "Matrix Unrated" stays out
    expect(results.locator(".source-notes li")).to_have_count(0)
    # The Matrix is in Plex and at TMDB: one entry, with Plex's poster, "In Plex" and a link to watch it there.
    matrix = entry(results, "The Matrix (1999)")
    expect(matrix).to_have_count(1)
    expect(matrix).to_contain_text("Film · Films")
    expect(matrix).to_contain_text("A hacker learns what the world is.")
    expect_picture(matrix.locator("img.thumb"))
    expect(matrix.locator(".pill", has_text="In Plex")).to_have_text("In Plex")
    watch = matrix.get_by_role("link", name="Watch in Plex")
    expect(watch).to_be_visible()
    expect_watch_link(watch)
    # The series of the same TMDB id is another title, not merged with the film; TMDB-only titles have their poster.
    files = entry(results, "The Matrix Files (2001)")
    expect(files).to_contain_text("Series")
    expect(files.locator(".pill", has_text="In Plex")).to_have_count(0)
    reloaded = entry(results, "The Matrix Reloaded (2003)")
    expect(reloaded).to_have_count(1)
    expect_picture(reloaded.locator("img.thumb"))
    expect(reloaded.get_by_role("link", name=re.compile("Watch"))).to_have_count(0)
    assert site.fakes.plex.owner.token not in page.content()
    no_sideways_scroll(page, viewport)
    shoot(page, f"search-{label(look)}-matrix")

    # A title without a poster shows the placeholder; accents come through the address and onto the page intact.
    results = search_from_top_bar(page, "Amélie")
    amelie = entry(results, "Amélie (2001)")
    expect(amelie).to_have_count(1)
    expect(amelie.locator(".no-poster")).to_be_visible()
    expect(amelie.locator("img")).to_have_count(0)
    expect(page).to_have_title("Amélie · Search · MediaNest")
    expect(page.get_by_role("searchbox", name="Search the library and more")).to_have_value("Amélie")
    no_sideways_scroll(page, viewport)
    shoot(page, f"search-{label(look)}-amelie")

    # A title in another script is found by its original name.
    results = search_from_top_bar(page, "千と千尋")
    spirited = entry(results, "Spirited Away (2001)")
    expect(spirited).to_have_count(1)
    expect_picture(spirited.locator("img.thumb"))
    shoot(page, f"search-{label(look)}-spirited")


@pytest.mark.parametrize("look", LOOKS)
def test_a_result_opens_its_title_page(
    site: Site,
    new_page: PageMaker,
    look: Look,
) -> None:
    viewport, theme = look
    page = new_page(viewport, theme)
    page.goto(site.server.url + "/search?q=matrix")
    check_theme(page, theme)
    expect(page.locator("#search-results")).to_have_attribute("aria-busy", "false")  # every source has answered
    page.get_by_role("link", name="The Matrix (1999)", exact=True).click()
    expect(page).to_have_url(site.server.url + "/titles/movie/603")

    expect(page.get_by_role("heading", level=1)).to_have_text("The Matrix (1999)")
    expect(page).to_have_title("The Matrix (1999) · MediaNest")
    head = page.locator(".title-facts")
    expect(head).to_contain_text("Welcome to the Real World.")
    expect(head).to_contain_text(re.compile(r"Film\s+·\s+2 h 16 min\s+·\s+Action, Science Fiction"))
    expect(page.get_by_role("region", name="About")).to_contain_text("A hacker learns what the world is.")
    expect_picture(page.get_by_role("img", name="Poster of The Matrix"))
    expect(head.locator(".pill", has_text="In Plex")).to_be_visible()
    expect(head).to_contain_text("in Films")
    watch = page.get_by_role("link", name="Watch in Plex")
    expect(watch).to_be_visible()
    expect_watch_link(watch)
    trailer = page.get_by_role("link", name="Watch the trailer")
    expect(trailer).to_have_attribute("href", "https://www.youtube.com/watch?v=official1")  # the official trailer
    cast = page.get_by_role("region", name="Cast").get_by_role("listitem")
    expect(cast).to_have_count(12)
    expect(cast.first).to_contain_text("Actor 01")
    expect(cast.first).to_contain_text("Role 01")
    expect_picture(cast.first.locator("img"))
    expect(page.get_by_text("Traceback")).to_have_count(0)
    assert site.fakes.plex.owner.token not in page.content()
    no_sideways_scroll(page, viewport)
    shoot(page, f"title-{label(look)}-movie")

    # A series: its seasons, and how much of each Plex has.
    page.goto(site.server.url + "/search?q=breaking")
    expect(page.locator("#search-results")).to_have_attribute("aria-busy", "false")
    page.get_by_role("link", name="Breaking Bad (2008)", exact=True).click()
    expect(page).to_have_url(site.server.url + "/titles/tv/1396")
    expect(page.get_by_role("heading", level=1)).to_have_text("Breaking Bad (2008)")
    expect(page.locator(".title-facts")).to_contain_text(
        re.compile(r"Series\s+·\s+47 min an episode\s+·\s+\d seasons\s+·\s+Drama, Crime")
    )
    seasons = page.get_by_role("region", name="Seasons").locator("tbody tr")
    expect(seasons).to_have_count(3)
    expect(seasons.nth(0)).to_contain_text("Specials")
    expect(seasons.nth(0).locator(".pill")).to_have_text("None")
    expect(seasons.nth(1)).to_contain_text("Season 1")
    expect(seasons.nth(1).locator(".pill")).to_have_text("All")
    expect(seasons.nth(2)).to_contain_text("Season 2")
    expect(seasons.nth(2).locator(".pill")).to_have_text("Some")
    expect(seasons.nth(2)).to_contain_text("5 of 13")
    expect_watch_link(page.get_by_role("link", name="Watch in Plex"))
    expect(page.get_by_role("region", name="Cast")).to_contain_text("Bryan Cranston")
    no_sideways_scroll(page, viewport)
    shoot(page, f"title-{label(look)}-series")


@pytest.mark.parametrize("look", LOOKS)
def test_discover_shows_rows_of_posters_that_open_title_pages(
    site: Site,
    new_page: PageMaker,
    look: Look,
) -> None:
    viewport, theme = look
    page = new_page(viewport, theme)
    page.goto(site.server.url + "/")
    check_theme(page, theme)
    nav = "Main" if viewport["width"] >= 600 else "Main (compact)"
    page.get_by_role("navigation", name=nav, exact=True).get_by_role("link", name="Discover").click()
    expect(page).to_have_url(site.server.url + "/discover/")

    rows = page.locator("section.discover-row")
    expect(rows.get_by_role("heading", level=2)).to_have_text(
        ["Trending this week", "Popular films", "Popular series", "Recently added to Plex"]
    )
    for n in range(4):
        expect(rows.nth(n)).to_have_attribute("aria-busy", "false")
        expect(rows.nth(n).locator(".row-state")).to_have_count(0)  # no "Loading…", no failure line
    trending = rows.filter(has=page.get_by_role("heading", name="Trending this week"))
    posters = trending.locator(".poster-row > li")
    expect(posters.first).to_be_visible()
    expect_picture(posters.first.locator("img.thumb"))

    def poster(row: Locator, name: str) -> Locator:
        return row.locator(".poster-row > li").filter(
            has=page.locator(".poster-name", has_text=re.compile(f"^{re.escape(name)}$"))
        )

    matrix = poster(trending, "The Matrix")
    expect(matrix.locator(".badge")).to_have_text("In Plex")
    expect(poster(trending, "The Matrix Reloaded").locator(".badge")).to_have_count(0)
    expect(poster(trending, "The Matrix Files").locator(".badge")).to_have_count(0)  # a series, not the film
    expect(poster(trending, "Amélie").locator(".no-poster")).to_have_count(1)
    recent = rows.filter(has=page.get_by_role("heading", name="Recently added to Plex"))
    expect(poster(recent, "Breaking Bad").locator(".badge")).to_have_text("In Plex")
    expect_picture(poster(recent, "Breaking Bad").locator("img.thumb"))
    no_sideways_scroll(page, viewport)
    shoot(page, f"discover-{label(look)}")

    matrix.get_by_role("link").click()
    expect(page).to_have_url(site.server.url + "/titles/movie/603")
    expect(page.get_by_role("heading", level=1)).to_have_text("The Matrix (1999)")


# ---- what the browser review found ---------------------------------------------------------------------------------


CONTRAST = """e => {
  const rgb = (text) => text.match(/[0-9.]+/g).slice(0, 3).map(Number);
  const lum = (c) => {
    const [r, g, b] = c.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const style = getComputedStyle(e);
  const [a, b] = [lum(rgb(style.color)), lum(rgb(style.backgroundColor))];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


def discover_poster(page: Page, site: Site, row: str, name: str) -> Locator:
    page.goto(site.server.url + "/discover/")
    section = page.locator("section.discover-row").filter(has=page.get_by_role("heading", name=row))
    expect(section).to_have_attribute("aria-busy", "false")
    return section.locator(".poster-row > li").filter(
        has=page.locator(".poster-name", has_text=re.compile(f"^{re.escape(name)}$"))
    )


def test_a_series_counts_its_seasons_without_its_specials(
    site: Site,
    new_page: PageMaker,
) -> None:
    page = new_page(DESKTOP, "dark")
    page.goto(site.server.url + "/titles/tv/1396")
    facts = page.locator(".title-facts > p.muted").first.inner_text()
    assert "2 seasons" in facts, facts


def test_season_names_read_as_names(
    site: Site,
    new_page: PageMaker,
) -> None:
    page = new_page(DESKTOP, "light")
    page.goto(site.server.url + "/titles/tv/1396")
    name = page.locator(".seasons tbody th").first
    expect(name).to_contain_text("Specials")
    assert name.evaluate("e => getComputedStyle(e).textTransform") == "none"


def test_the_in_plex_badge_is_a_label_in_the_posters_corner(
    site: Site,
    new_page: PageMaker,
) -> None:
    page = new_page(DESKTOP, "dark")
    matrix = discover_poster(page, site, "Trending this week", "The Matrix")
    badge, poster = matrix.locator(".badge").bounding_box(), matrix.locator(".thumb").bounding_box()
    assert badge is not None
    assert poster is not None
    assert badge["width"] < poster["width"] / 2, (badge, poster)


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_the_in_plex_badge_is_readable(
    site: Site,
    new_page: PageMaker,
    theme: str,
) -> None:
    page = new_page(DESKTOP, theme)
    badge = discover_poster(page, site, "Trending this week", "The Matrix").locator(".badge")
    expect(badge).to_have_text("In Plex")
    ratio = badge.evaluate(CONTRAST)
    assert ratio >= 4.5, f"contrast {ratio:.2f}:1"


def test_the_placeholder_of_a_missing_poster_is_a_poster_sized_tile_with_its_icon_centred(
    site: Site,
    new_page: PageMaker,
) -> None:
    page = new_page(DESKTOP, "dark")
    in_row = discover_poster(page, site, "Popular films", "Amélie")
    expect(in_row.locator(".no-poster")).to_be_visible()
    boxes = [(in_row.locator(".no-poster").bounding_box(), in_row.locator(".no-poster svg").bounding_box())]
    page.goto(site.server.url + "/search?q=Am%C3%A9lie")
    expect(page.locator("#search-results")).to_have_attribute("aria-busy", "false")  # no later answer moves it
    in_list = entry(page.locator("#search-results"), "Amélie (2001)")
    expect(in_list.locator(".no-poster")).to_be_visible()
    boxes.append((in_list.locator(".no-poster").bounding_box(), in_list.locator(".no-poster svg").bounding_box()))
    for tile, mark in boxes:
        assert tile is not None
        assert mark is not None
        assert abs(tile["height"] - tile["width"] * 1.5) < 2, tile  # the shape of the posters beside it
        off = abs(tile["x"] + tile["width"] / 2 - mark["x"] - mark["width"] / 2)
        off += abs(tile["y"] + tile["height"] / 2 - mark["y"] - mark["height"] / 2)
        assert off < 4, (tile, mark)


def test_every_link_of_the_phones_bottom_bar_is_on_the_screen(
    site: Site,
    new_page: PageMaker,
) -> None:
    page = new_page(PHONE, "dark")
    page.goto(site.server.url + "/discover/")
    bar = page.get_by_role("navigation", name="Main (compact)")
    bar.get_by_text("More", exact=True).click()  # the rest of the destinations, listed above the bar
    links = bar.get_by_role("link")
    expect(links.last).to_have_text("Me")
    for n in range(links.count()):
        box = links.nth(n).bounding_box()
        assert box is not None
        assert box["x"] >= 0, (links.nth(n).inner_text(), box)
        assert box["x"] + box["width"] <= PHONE["width"], (links.nth(n).inner_text(), box)


# ---- buttons with choices, and facts kept live ----------------------------------------------------------------------


def chooser(page: Page) -> Locator:
    return page.get_by_role("dialog", name="Which seasons?")


def test_a_series_request_asks_which_seasons_and_sends_those_ticked(site: Site, new_page: PageMaker) -> None:
    page = new_page(DESKTOP, "dark")
    page.goto(f"{site.server.url}/titles/tv/{SLOW_HORSES}")
    page.evaluate("window.__stillHere = true")
    where = page.locator(".title-where")
    request = where.get_by_role("button", name="Request", exact=True)
    expect(request).to_have_attribute("aria-haspopup", "dialog")
    expect(where.locator(".pill", has_text="Requested")).to_have_count(0)

    # The chooser opens with the focus in it; the season that cannot be asked for is greyed, with its reason.
    request.click()
    dialog = chooser(page)
    expect(dialog).to_be_visible()
    boxes = dialog.get_by_role("checkbox")
    expect(boxes).to_have_count(5)  # All, and four seasons
    every = dialog.get_by_role("checkbox", name="All")
    expect(every).to_be_focused()
    fourth = dialog.get_by_role("checkbox", name="Season 4")
    expect(fourth).to_be_disabled()
    expect(fourth).to_have_accessible_description("Not out yet.")
    expect(dialog.get_by_text("Not out yet.")).to_be_visible()
    grey = dialog.locator(".unavailable .choice-label").evaluate("e => getComputedStyle(e).color")
    plain = dialog.locator("li:not(.unavailable) .choice-label").first.evaluate("e => getComputedStyle(e).color")
    assert grey != plain, (grey, plain)
    send = dialog.get_by_role("button", name="Request", exact=True)
    expect(send).to_be_disabled()  # nothing ticked yet

    # Escape closes it and gives the focus back to the button.
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(request).to_be_focused()

    # By keyboard: open, "All" ticks every season that can be asked for, and unticks them.
    page.keyboard.press("Enter")
    expect(every).to_be_focused()
    page.keyboard.press("Space")
    for n in (1, 2, 3):
        expect(dialog.get_by_role("checkbox", name=f"Season {n}")).to_be_checked()
    expect(fourth).not_to_be_checked()
    expect(send).to_be_enabled()
    page.keyboard.press("Space")
    expect(dialog.get_by_role("checkbox", name="Season 1")).not_to_be_checked()
    expect(send).to_be_disabled()
    dialog.get_by_role("checkbox", name="Season 1").check()
    dialog.get_by_role("checkbox", name="Season 2").check()
    assert every.evaluate("e => e.indeterminate") is True
    shoot(page, "chooser-1366-dark")

    send.click()
    expect(dialog).to_have_count(0)
    expect(page.locator("#toasts .toast")).to_contain_text("Requested 2 seasons.")
    # The page shows what the plugin says now, without a reload, and the focus stays on the button.
    expect(where.locator(".pill", has_text="Requested — pending approval")).to_be_visible()
    expect(request).to_be_focused()
    assert page.evaluate("window.__stillHere") is True
    [received] = [r for r in site.call("/api/v1/seasons/requests")["received"] if r["body"]["tmdb_id"] == SLOW_HORSES]
    assert received["body"] == {"kind": "tv", "tmdb_id": SLOW_HORSES, "seasons": [1, 2]}

    # Asked for already: those seasons are greyed now, and "All" is gone with only one season left.
    request.click()
    expect(dialog.get_by_role("checkbox", name="Season 1")).to_be_disabled()
    expect(dialog.get_by_role("checkbox", name="Season 2")).to_have_accessible_description("Requested already.")
    expect(dialog.get_by_role("checkbox", name="All")).to_have_count(0)
    expect(dialog.get_by_role("checkbox", name="Season 3")).to_be_focused()
    dialog.get_by_role("button", name="Cancel").click()
    expect(request).to_be_focused()


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_the_season_chooser_of_a_search_result_fits_a_phone(site: Site, new_page: PageMaker, theme: str) -> None:
    page = new_page(PHONE, theme)
    page.goto(site.server.url + "/search?q=andor")
    results = page.locator("#search-results")
    expect(results).to_have_attribute("aria-busy", "false")
    andor = entry(results, "Andor (2022)")
    request = andor.get_by_role("button", name="Request", exact=True)
    request.click()
    dialog = chooser(page)
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Andor")  # which title it is about
    dialog.get_by_role("checkbox", name="Season 2").check()
    expect(dialog.get_by_role("checkbox", name="Season 3")).to_be_disabled()
    expect(dialog.get_by_text("Not announced yet.")).to_be_visible()
    box = dialog.bounding_box()
    assert box is not None
    assert box["x"] >= 0, box
    assert box["x"] + box["width"] <= PHONE["width"], box
    assert box["y"] >= 0, box
    assert box["y"] + box["height"] <= PHONE["height"], box
    for target in (dialog.locator(".choice").first, dialog.get_by_role("button", name="Cancel")):
        size = target.bounding_box()
        assert size is not None
        assert size["height"] >= 44, size  # a finger's width
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"chooser-390-{theme}.png"))
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    expect(request).to_be_focused()
    no_sideways_scroll(page, PHONE)


def test_a_titles_status_changes_live_on_the_open_search_and_title_pages(site: Site, new_page: PageMaker) -> None:
    page = new_page(DESKTOP, "light")
    page.goto(site.server.url + "/search?q=andor")
    results = page.locator("#search-results")
    expect(results).to_have_attribute("aria-busy", "false")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    andor = entry(results, "Andor (2022)")
    expect(andor.locator(".pill")).to_have_count(0)
    andor.get_by_role("button", name="Request", exact=True).focus()
    title = page.context.new_page()
    title.goto(f"{site.server.url}/titles/tv/{ANDOR}")
    expect(title.locator("#live-status")).to_have_attribute("data-state", "live")
    for open_page in (page, title):
        open_page.evaluate("window.__stillHere = true")

    # The plugin's word changes, and it says so through MediaNest's events: both pages show it without a reload.
    change = {"kind": "tv", "tmdb_id": ANDOR, "label": "Requested — pending approval", "tone": "info"}
    site.call("/api/v1/seasons/status", change)
    expect(andor.locator(".pill")).to_have_text(["Requested — pending approval"])
    expect(title.locator(".title-where .pill.tone-info")).to_have_text("Requested — pending approval")
    site.call("/api/v1/seasons/status", {**change, "label": "Approved", "tone": "ok"})
    expect(andor.locator(".pill")).to_have_text(["Approved"])
    expect(andor.locator(".pill.tone-ok")).to_be_visible()
    expect(title.locator(".title-where .pill", has_text="Approved")).to_be_visible()
    expect(title.locator(".title-where .pill", has_text="Requested")).to_have_count(0)
    # The focused button was shown again: the focus moved to the new one, not to the top of the page.
    expect(andor.get_by_role("button", name="Request", exact=True)).to_be_focused()
    for open_page in (page, title):
        assert open_page.evaluate("window.__stillHere") is True
    # Another title's change does not touch this one.
    site.call("/api/v1/seasons/status", {**change, "tmdb_id": SLOW_HORSES, "label": "Declined", "tone": "bad"})
    expect(andor.locator(".pill")).to_have_text(["Approved"])
    shoot(page, "search-1366-light-live")


def test_an_outage_greys_the_buttons_on_the_open_search_and_title_pages_and_clearing_it_offers_them_again(
    site: Site, new_page: PageMaker
) -> None:
    page = new_page(DESKTOP, "dark")
    page.goto(site.server.url + "/search?q=andor")
    results = page.locator("#search-results")
    expect(results).to_have_attribute("aria-busy", "false")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    request = entry(results, "Andor (2022)").get_by_role("button", name="Request", exact=True)
    expect(request).to_be_enabled()
    title = page.context.new_page()
    title.goto(f"{site.server.url}/titles/tv/{ANDOR}")
    expect(title.locator("#live-status")).to_have_attribute("data-state", "live")
    on_title = title.locator(".title-where").get_by_role("button", name="Request", exact=True)
    expect(on_title).to_be_enabled()
    for open_page in (page, title):
        open_page.evaluate("window.__stillHere = true")
    asked: list[str] = []
    page.on("request", lambda sent: asked.append(sent.url) if "/facts" in sent.url else None)
    shown = page.evaluate("new Set([...document.querySelectorAll('[data-facts]')].map(h => h.dataset.tmdb)).size")
    assert shown >= 1

    # The service behind the button is reported out (as Uptime Kuma does for a monitor tied to it): both pages grey
    # the button with the reason, without a reload.
    reason = "Season requests' monitor is down (since 10:42 UTC)"
    site.call("/api/v1/seasons/outage", {"reason": reason})
    try:
        expect(request).to_be_disabled()
        expect(request).to_have_attribute("title", f"Requests are paused: {reason}")
        expect(on_title).to_be_disabled()
        expect(title.locator(".title-where")).to_contain_text(f"Requests are paused: {reason}")
        shoot(page, "search-1366-dark-outage")
        assert len(asked) == len(set(asked)) == shown, asked  # each title shown asked once
    finally:
        asked.clear()
        site.call("/api/v1/seasons/outage", {"reason": None})

    # Back: the button is offered again, still without a reload.
    expect(request).to_be_enabled()
    expect(on_title).to_be_enabled()
    expect(title.locator(".title-where")).not_to_contain_text("Requests are paused")
    assert len(asked) == len(set(asked)) == shown, asked
    for open_page in (page, title):
        assert open_page.evaluate("window.__stillHere") is True


# ---- last, as TMDB's client may take a while to trust TMDB again after it hung --------------------------------------


def test_a_search_shows_plex_at_once_and_says_in_one_line_that_tmdb_did_not_answer(
    site: Site,
    new_page: PageMaker,
) -> None:
    page = new_page(DESKTOP, "dark")
    page.goto(site.server.url + "/")
    site.fakes.tmdb.hang = True  # TMDB takes the question and never answers
    try:
        page.get_by_role("searchbox", name="Search the library and more").fill("alien")
        page.keyboard.press("Enter")
        results = page.locator("#search-results")
        alien = entry(results, "Alien (1979)")
        expect(alien).to_be_visible()  # Plex's answer, while TMDB is still being waited for
        expect(results.locator(".search-state")).to_contain_text("still asking TMDB")
        expect(results).to_have_attribute("aria-busy", "true")
        expect(alien.locator(".pill", has_text="In Plex")).to_be_visible()
        expect(entry(results, "Aliens (1986)")).to_be_visible()

        expect(results).to_have_attribute("aria-busy", "false", timeout=15_000)
        notes = results.locator(".source-notes li")
        expect(notes).to_have_text(["TMDB did not answer."])
        lines = notes.evaluate("e => e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight)")
        assert lines < 1.5, f"the note takes {lines:.1f} lines"
        expect(results.locator(".search-state")).to_have_text("2 titles.")
        expect(page.get_by_text(re.compile("Traceback|Exception|Error"))).to_have_count(0)
        shoot(page, "search-1366-dark-tmdb-hangs")
    finally:
        site.fakes.tmdb.hang = False
