"""The library worth browsing and the dashboard that uses the screen, in a real browser (Debian's chromium driven by
Playwright) against a real ``medianest serve`` with every bundled plugin, whose Plex is the fake.

- Collections show as posters; an item's page has its backdrop, runtime, genres, cast and "Open in Plex"; posters
  are one size on every page.
- The dashboard's "Recently added" strip shows whole posters at a readable size, in a place kept before it fills.
- The dashboard's cards fill the row of a desktop screen; the Connections card is a compact list.
- A library's filter and sort apply as they change, the address keeps them (back, forward, reload); without script
  the form's button still shows them.

Screenshots are kept in ``test-artifacts/browser/<test>/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from medianest_plex.fake import FakePlex

from medianest_core.testing import (
    PHONE,
    Browsing,
    LoopThread,
    Server,
    browser_sign_in,
    require_chromium,
    run_cli,
    serve_env,
)

require_chromium()

from playwright.sync_api import Page, Route, ViewportSize, expect  # noqa: E402

ADMIN = ("root", "root-password-123")
LAPTOP: ViewportSize = {"width": 1366, "height": 768}
WIDE: ViewportSize = {"width": 1920, "height": 1080}
FILMS = [
    ("Alien", 1979, ["Horror", "Science Fiction"]),
    ("Aliens", 1986, ["Action", "Science Fiction"]),
    ("Blade Runner", 1982, ["Science Fiction"]),
    ("Heat", 1995, ["Crime"]),
    ("Jaws", 1975, ["Thriller"]),
    ("Le Samouraï", 1967, ["Crime"]),
    ("Moon", 2009, ["Science Fiction"]),
    ("Ran", 1985, ["Drama"]),
    ("Stalker", 1979, ["Drama"]),
    ("Zodiac", 2007, ["Crime"]),
]


class Fakes(LoopThread):
    """The fake Plex on its own loop: films with their detail, a series, and a collection."""

    def __init__(self) -> None:
        super().__init__("fake-plex-f")
        self.plex = FakePlex(friendly_name="Alice's Plex", machine_identifier="0123456789abcdef")
        self.keys: dict[str, str] = {}

        async def start() -> None:
            self.plex.add_section("1", "Films", "movie")
            self.plex.add_section("2", "Shows", "show")
            for number, (title, year, genres) in enumerate(FILMS):
                item = self.plex.add_item(
                    "1",
                    title,
                    year=year,
                    added_at=1_700_000_000 + number,
                    summary=f"{title}, a film of {year}.",
                    genres=genres,
                    roles=[("Sigourney Weaver", "Ripley"), ("Tom Skerritt", "Dallas")] if title == "Alien" else [],
                    duration=117 * 60_000 if title == "Alien" else None,
                )
                self.keys[title] = item["ratingKey"]
            self.plex.add_item("2", "Andor", year=2022, added_at=1_700_000_100)
            collection = self.plex.add_collection("1", "Alien films", [self.keys["Alien"], self.keys["Aliens"]])
            self.keys["Alien films"] = collection["ratingKey"]
            await self.plex.start()

        self.run(start())

    def close(self) -> None:
        self.run(self.plex.stop())
        super().close()


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    made = Fakes()
    try:
        yield made
    finally:
        made.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fakes: Fakes) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("library-f")
    plex = fakes.plex
    env = serve_env(
        root / "data",
        {
            "MEDIANEST_LOGIN_RATE_LIMIT": "1000/minute",
            "MEDIANEST_PLEX_URL": plex.url,
            "MEDIANEST_PLEX_PLEXTV_URL": plex.url,
            "MEDIANEST_PLEX_TOKEN": plex.owner.token,
            "MEDIANEST_PLEX_REFRESH_INTERVAL": "0.5",
        },
    )
    done = run_cli("user", "create-admin", ADMIN[0], env=env, stdin=ADMIN[1] + "\n")
    assert done.returncode == 0, done.stderr
    with Server(env, root / "serve.log") as srv:
        yield srv


def box(page: Page, selector: str) -> dict[str, float]:
    found = page.locator(selector).first.bounding_box()
    assert found is not None, f"{selector} is not shown"
    return {name: found[name] for name in ("x", "y", "width", "height")}


def poster_width(page: Page, selector: str) -> float:
    expect(page.locator(selector).first).to_be_visible()
    page.wait_for_function(
        "s => [...document.querySelectorAll(s)].every(i => i.complete && i.naturalWidth > 0)", arg=selector
    )
    return box(page, selector)["width"]


def test_collections_are_posters_and_an_item_shows_its_detail(
    server: Server, fakes: Fakes, medianest_browsing: Browsing
) -> None:
    page = medianest_browsing.page(LAPTOP)
    browser_sign_in(page, server, ADMIN, then="/plex/")

    # The collection is a poster (Plex's own mosaic of it), a link to the collection.
    collections = page.get_by_role("region", name="Collections")
    link = collections.get_by_role("link", name=re.compile("Alien films"))
    expect(link).to_be_visible()
    expect(link.locator("img")).to_have_attribute("src", re.compile(r"/api/v1/plex/images\?path=.*composite"))
    home_poster = poster_width(page, "#plex-collections .posters img")
    recent_poster = poster_width(page, "#plex-recent .posters img")
    medianest_browsing.snap(page, "library-home")
    link.click()
    expect(page.get_by_role("heading", name=re.compile("Alien films"))).to_be_visible()
    expect(page.locator(".collection-backdrop img")).to_have_attribute("src", re.compile(r"%2Fart%2F"))
    collection_poster = poster_width(page, ".posters img")
    medianest_browsing.snap(page, "collection")

    page.goto(server.url + "/plex/libraries/1")
    library_poster = poster_width(page, ".posters img")
    # One poster size on every page.
    assert home_poster == recent_poster == collection_poster == library_poster
    assert 120 <= library_poster <= 200

    page.goto(server.url + f"/plex/items/{fakes.keys['Alien']}")
    expect(page.get_by_role("heading", name=re.compile("^Alien"))).to_be_visible()
    backdrop = page.locator(".item-backdrop img")
    art = re.compile(r"/api/v1/plex/images\?path=%2Flibrary%2Fmetadata%2F\d+%2Fart")
    expect(backdrop).to_have_attribute("src", art)
    page.wait_for_function("() => document.querySelector('.item-backdrop img').naturalWidth > 0")
    detail = page.locator(".item-detail")
    expect(detail).to_contain_text("1 h 57 min")
    expect(detail.get_by_role("list", name="Genres")).to_have_text(re.compile(r"Horror\s*Science Fiction"))
    cast = detail.get_by_role("list", name="Cast")
    expect(cast.get_by_role("listitem")).to_have_count(2)
    expect(cast.get_by_role("listitem").first).to_contain_text("Sigourney Weaver")
    expect(cast.get_by_role("listitem").first).to_contain_text("Ripley")
    expect(cast.locator("img").first).to_have_attribute("src", re.compile(r"^/api/v1/plex/images\?path=https"))
    open_in_plex = page.get_by_role("link", name="Open in Plex")
    expect(open_in_plex).to_have_attribute(
        "href",
        "https://app.plex.tv/desktop/#!/server/0123456789abcdef/details?key=%2Flibrary%2Fmetadata%2F"
        + fakes.keys["Alien"],
    )
    medianest_browsing.snap(page, "item")

    phone = medianest_browsing.page(PHONE, is_mobile=True, has_touch=True)
    browser_sign_in(phone, server, ADMIN, then=f"/plex/items/{fakes.keys['Alien']}")
    expect(phone.get_by_role("link", name="Open in Plex")).to_be_visible()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the item's page is wider than the phone"
    medianest_browsing.snap(phone, "item-phone")


def strip_and_card(page: Page) -> dict[str, Any]:
    """The strip's and its card's places, measured at one moment (the card may be drawn again at any time)."""
    found: dict[str, Any] = page.evaluate(
        """() => {
        const place = (el) => { const r = el.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; };
        const card = document.querySelector('#card-plex-server');
        const strip = card.querySelector('.recent-strip');
        return {strip: place(strip), card: place(card), images: strip.querySelectorAll('img').length};
    }"""
    )
    return found


def test_the_recently_added_strip_shows_whole_posters_in_a_place_kept_for_it(
    server: Server, medianest_browsing: Browsing
) -> None:
    page = medianest_browsing.page(LAPTOP)
    browser_sign_in(page, server, ADMIN, then="/profile")
    held: list[Route] = []
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url) if "/plex/recently-added" in request.url else None)
    holding = [True]
    page.route(
        "**/api/v1/plex/recently-added*",
        lambda route: held.append(route) if holding[0] else route.continue_(),
    )
    page.goto(server.url + "/")
    expect(page.locator("#card-plex-server .recent-strip")).to_be_attached()
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the strip did not ask for what was recently added"
    before = strip_and_card(page)
    assert before["images"] == 0
    holding[0] = False
    for route in held:
        route.continue_()
    strip = page.locator("#card-plex-server .recent-strip")
    expect(strip.locator("img")).to_have_count(8)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#card-plex-server .recent-strip img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    after = strip_and_card(page)
    # Its place was kept: filling it moves nothing.
    assert before["strip"][3] > 100
    assert after["strip"] == before["strip"]
    assert after["card"] == before["card"]
    # Whole posters (their own shape, nothing cut off), at a readable size.
    shape: dict[str, Any] = strip.locator("img").first.evaluate(
        "i => ({w: i.getBoundingClientRect().width, h: i.getBoundingClientRect().height,"
        " nw: i.naturalWidth, nh: i.naturalHeight, fit: getComputedStyle(i).objectFit})"
    )
    assert shape["w"] >= 80, shape
    assert shape["fit"] == "contain" or abs(shape["w"] / shape["h"] - shape["nw"] / shape["nh"]) < 0.02, shape
    medianest_browsing.snap(page, "dashboard")

    # The card is drawn again as its figures are gathered (every half second here): the posters stay, and the
    # list is not asked for again each time.
    count = len(asked)
    for _ in range(6):
        page.wait_for_timeout(250)
        assert strip_and_card(page)["images"] == 8
    assert len(asked) == count


def row_gaps(page: Page) -> dict[str, Any]:
    """The cards grid's width, and how much of each row its cards leave empty."""
    found: dict[str, Any] = page.evaluate(
        """() => {
        const grid = document.querySelector('.cards').getBoundingClientRect();
        const rows = new Map();
        for (const card of document.querySelectorAll('.cards > .card')) {
            const r = card.getBoundingClientRect();
            const top = Math.round(r.top);
            rows.set(top, Math.max(rows.get(top) || 0, r.right));
        }
        const tops = [...rows.keys()].sort((a, b) => a - b);
        return {width: grid.width, empty: tops.map(t => grid.right - rows.get(t)), rows: tops.length,
                scroll: document.documentElement.scrollWidth};
    }"""
    )
    return found


@pytest.mark.parametrize("viewport", [LAPTOP, WIDE, PHONE], ids=["1366", "1920", "390"])
def test_the_dashboard_uses_the_width_of_the_screen(
    server: Server, medianest_browsing: Browsing, viewport: ViewportSize
) -> None:
    phone = viewport == PHONE
    page = medianest_browsing.page(viewport, **({"is_mobile": True, "has_touch": True} if phone else {}))
    browser_sign_in(page, server, ADMIN)
    expect(page.locator("#card-plex-server .recent-strip img")).to_have_count(8)
    gaps = row_gaps(page)
    medianest_browsing.snap(page, "dashboard")
    assert gaps["scroll"] <= viewport["width"], gaps
    if not phone:
        # Every row is full: what it leaves empty is less than one narrow card.
        assert max(gaps["empty"]) < 200, gaps
        main = box(page, "main")
        assert box(page, ".cards")["width"] >= min(main["width"] - 64, 1500), (gaps, main)
    # The Connections card: a compact list of services with their state, no tall empty space.
    services = page.locator("#card-core-services")
    expect(services.get_by_role("list", name="Services")).to_be_visible()
    fill: float = services.evaluate(
        """card => {
        const r = card.getBoundingClientRect();
        const used = [...card.children].reduce((sum, el) => sum + el.getBoundingClientRect().height, 0);
        return used / r.height;
    }"""
    )
    assert fill > 0.6, f"the Connections card is mostly empty ({fill:.0%} used)"


def test_library_filters_apply_as_they_change_and_the_address_keeps_them(
    server: Server, medianest_browsing: Browsing
) -> None:
    page = medianest_browsing.page(LAPTOP)
    browser_sign_in(page, server, ADMIN, then="/plex/libraries/1")
    posters = page.locator(".posters .poster-title")
    expect(posters.first).to_have_text("Alien")
    expect(page.get_by_role("button", name="Show")).to_be_hidden()

    page.get_by_label("Sort by").select_option("added")
    expect(page).to_have_url(re.compile(r"/plex/libraries/1\?.*sort=added"))
    expect(posters.first).to_have_text("Zodiac")

    page.get_by_label("Filter by title").fill("ali")
    expect(page).to_have_url(re.compile(r"title=ali"))
    expect(posters).to_have_text(["Aliens", "Alien"])
    expect(page.get_by_label("Filter by title")).to_be_focused()
    medianest_browsing.snap(page, "filtered")

    page.reload()
    expect(posters).to_have_text(["Aliens", "Alien"])
    phone = medianest_browsing.page(PHONE, is_mobile=True, has_touch=True)
    browser_sign_in(phone, server, ADMIN, then="/plex/libraries/1?sort=year")
    expect(phone.locator(".posters .poster-title").first).to_have_text("Le Samouraï")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    medianest_browsing.snap(phone, "library-phone")
    expect(page.get_by_label("Filter by title")).to_have_value("ali")
    expect(page.get_by_label("Sort by")).to_have_value("added")

    page.go_back()
    expect(page).not_to_have_url(re.compile(r"title=ali"))
    expect(posters.first).to_have_text("Zodiac")
    expect(page.get_by_label("Filter by title")).to_have_value("")
    page.go_back()
    expect(posters.first).to_have_text("Alien")
    expect(page.get_by_label("Sort by")).to_have_value("title")
    page.go_forward()
    expect(posters.first).to_have_text("Zodiac")
    expect(page.get_by_label("Sort by")).to_have_value("added")

    # Without script the form still works, with its button.
    context = medianest_browsing.context(LAPTOP, java_script_enabled=False)
    bare = context.new_page()
    bare.goto(server.url + "/login?next=/plex/libraries/1")
    bare.get_by_label("Username").fill(ADMIN[0])
    bare.get_by_label("Password").fill(ADMIN[1])
    bare.get_by_role("button", name="Sign in").click()
    expect(bare).to_have_url(server.url + "/plex/libraries/1")
    bare.get_by_label("Sort by").select_option("year")
    bare.get_by_role("button", name="Show").click()
    expect(bare).to_have_url(re.compile(r"sort=year"))
    expect(bare.locator(".posters .poster-title").first).to_have_text("Le Samouraï")
