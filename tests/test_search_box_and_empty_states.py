"""One search box, a top bar that fits a phone, empty places that say what they are for, and a search page that does
not jump while its sources answer: in a real browser (Debian's chromium) against a real ``medianest serve`` whose
Plex, TMDB and Overseerr are the fakes, with the YouTube plugin. Screenshots of the top bar at 320, 390 and 1366 px
are kept in ``test-artifacts/browser/<test>/``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_api_walk import FakePlexThread
from test_browser import ADMIN

from medianest_core.testing import Browsing, Server, browser_sign_in, require_chromium, run_cli, serve_env

require_chromium()

from playwright.sync_api import FloatRect, Locator, Page, Route, ViewportSize, expect  # noqa: E402

expect.set_options(timeout=15_000)

WIDE: ViewportSize = {"width": 1366, "height": 900}
PHONES = [pytest.param({"width": w, "height": 740}, id=f"{w}px") for w in (320, 390)]
HEISTS = [
    ("The Long Heist", 1974, "A crew of old friends plans to rob the bank where three of them once worked."),
    ("Heist at Dawn", 2009, "Gold leaves the city by train each morning; this morning, four people are waiting."),
    ("The Quiet Heist", 2019, "A museum guard finds out that the painting on her wall was replaced last night."),
]
"""Three films only TMDB has, each found by "heist"; their names and overviews are as long as most are (a name and
its year take two lines on the narrowest phone)."""
MORE = (
    " Nobody trusts anybody, the plan changes twice before it starts, and by the time the last door opens every one"
    " of them has a reason to walk away with more than their share, or with nothing at all."
)


@pytest.fixture(scope="module")
def fakes() -> Iterator[FakePlexThread]:
    fake = FakePlexThread()
    try:

        async def stock() -> None:
            for number, (title, year, overview) in enumerate(HEISTS):
                fake.tmdb.add_movie(title, id=990_001 + number, year=year, overview=overview + MORE)

        fake.run(stock())
        yield fake
    finally:
        fake.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fakes: FakePlexThread) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("browser-e")
    env = serve_env(
        root / "data",
        {
            "MEDIANEST_LOGIN_RATE_LIMIT": "1000/minute",
            "MEDIANEST_API_RATE_LIMIT": "100000/minute",
            "MEDIANEST_YOUTUBE_LIBRARY_ROOT": str(root / "library"),
            "MEDIANEST_YOUTUBE_FREE_SPACE_FLOOR_MB": "0",
            "PYTHONPATH": str(Path(__file__).parent),
            **fakes.settings(),
        },
    )
    done = run_cli("user", "create-admin", ADMIN[0], env=env, stdin=ADMIN[1] + "\n")
    assert done.returncode == 0, done.stderr
    with Server(env, root / "serve.log") as srv:
        yield srv


def signed_in(browsing: Browsing, server: Server, viewport: ViewportSize = WIDE, then: str | None = None) -> Page:
    """A new person, signed in, in a browser of ``viewport`` (a phone's below 600 px)."""
    phone = viewport["width"] < 600
    page = browsing.page(viewport, is_mobile=phone, has_touch=phone)
    browser_sign_in(page, server, server.new_user(), then)
    return page


def box(element: Locator) -> FloatRect:
    found = element.bounding_box()
    assert found is not None, f"{element} is not shown"
    return found


# ---- one search box --------------------------------------------------------------------------------------------


def test_the_search_page_has_one_search_box_the_top_bars_holding_the_words(
    server: Server, medianest_browsing: Browsing
) -> None:
    page = signed_in(medianest_browsing, server)
    page.get_by_role("searchbox", name="Search the library and more").fill("Amélie")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q=Am%C3%A9lie$"))
    expect(page.locator("#search-results")).to_have_attribute("aria-busy", "false")
    boxes = page.get_by_role("searchbox")
    expect(boxes).to_have_count(1)
    expect(boxes).to_have_accessible_name("Search the library and more")
    expect(boxes).to_have_value("Amélie")
    assert box(boxes)["y"] < box(page.get_by_role("heading", name="Search", exact=True))["y"]  # in the top bar
    medianest_browsing.snap(page, "search-amelie-1366")

    # Searching again starts from the same box, which shows the new words.
    boxes.fill("Alien")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q=Alien$"))
    expect(page.get_by_role("searchbox")).to_have_count(1)
    expect(page.get_by_role("searchbox")).to_have_value("Alien")


@pytest.mark.parametrize("viewport", [pytest.param(WIDE, id="1366px"), *PHONES])
def test_the_search_page_before_a_search_says_what_it_is_for_and_offers_a_first_step(
    server: Server, medianest_browsing: Browsing, viewport: ViewportSize
) -> None:
    page = signed_in(medianest_browsing, server, viewport, then="/search")
    main = page.get_by_role("main")
    expect(
        main.get_by_text("Search for a film or series to see whether it is on Plex, and request it if not")
    ).to_be_visible()
    expect(page.get_by_role("searchbox")).to_have_count(1)  # the top bar's, where the words go
    expect(main.get_by_role("link", name="Discover")).to_have_attribute("href", "/discover/")
    expect(main.locator("ol.title-list")).to_have_count(0)  # no empty list of results
    medianest_browsing.snap(page, f"search-start-{viewport['width']}")
    main.get_by_role("link", name="Breaking Bad").click()
    expect(page).to_have_url(re.compile(r"/search\?q=Breaking(\+|%20)Bad$"))
    expect(page.get_by_role("searchbox")).to_have_value("Breaking Bad")
    expect(page.locator("#search-results .title-list > li").first).to_contain_text("Breaking Bad")


# ---- the top bar on a phone --------------------------------------------------------------------------------------


@pytest.mark.parametrize("viewport", PHONES)
def test_on_a_phone_the_search_field_shows_a_title_and_sign_out_is_away_from_the_bell(
    server: Server, medianest_browsing: Browsing, viewport: ViewportSize
) -> None:
    page = signed_in(medianest_browsing, server, viewport)
    bar = page.locator("header.topbar")
    field = page.get_by_role("searchbox", name="Search the library and more")
    field.fill("Terminator")  # ten letters, all in view
    fits = field.evaluate("e => e.scrollWidth <= e.clientWidth")
    width = box(field)["width"]
    assert fits, f"the search field is {width:.0f} px wide at {viewport['width']} px: 'Terminator' does not fit"
    assert bar.evaluate("e => e.scrollWidth <= e.clientWidth")
    bell = bar.get_by_role("link", name=re.compile(r"^Notifications"))
    expect(bell).to_be_in_viewport(ratio=1)
    medianest_browsing.snap(page, f"topbar-{viewport['width']}", full_page=False)

    # Signing out is not a tap beside the bell: it is in the bottom bar's "More", with "Me".
    expect(bar.get_by_role("button", name="Sign out")).to_be_hidden()
    nav = page.get_by_role("navigation", name="Main (compact)")
    nav.get_by_text("More", exact=True).click()
    sign_out = nav.get_by_role("button", name="Sign out")
    expect(sign_out).to_be_in_viewport(ratio=1)
    expect(nav.get_by_role("link", name="Me", exact=True)).to_be_visible()
    bell_box, out_box = box(bell), box(sign_out)
    assert out_box["y"] - (bell_box["y"] + bell_box["height"]) > 100  # the other end of the screen
    medianest_browsing.snap(page, f"more-{viewport['width']}", full_page=False)
    sign_out.click()
    expect(page).to_have_url(re.compile(r"/login\?signed_out=1(&|$)"))
    page.goto(server.url + "/profile")
    expect(page).to_have_url(re.compile(r"/login\?next="))  # signed out indeed


def test_on_a_desktop_the_top_bar_keeps_sign_out_apart_from_the_bell(
    server: Server, medianest_browsing: Browsing
) -> None:
    page = signed_in(medianest_browsing, server)
    bar = page.locator("header.topbar")
    sign_out = bar.get_by_role("button", name="Sign out")
    expect(sign_out).to_be_visible()
    bell = bar.get_by_role("link", name=re.compile(r"^Notifications"))
    between = box(sign_out)["x"] - (box(bell)["x"] + box(bell)["width"])
    assert between > 40, f"sign-out is {between:.0f} px from the bell"
    assert box(page.get_by_role("searchbox"))["width"] > 300
    medianest_browsing.snap(page, "topbar-1366", full_page=False)


# ---- empty places say what they are for -----------------------------------------------------------------------------


def test_an_empty_notifications_page_says_what_will_come_there(server: Server, medianest_browsing: Browsing) -> None:
    page = signed_in(medianest_browsing, server, then="/notifications")
    expect(page.get_by_role("main")).to_contain_text(
        "No notifications yet. You will hear here when a request is approved or a download finishes."
    )
    medianest_browsing.snap(page, "notifications-empty")


def test_the_profile_without_tokens_says_what_one_is_for_and_how_to_make_one(
    server: Server, medianest_browsing: Browsing
) -> None:
    page = signed_in(medianest_browsing, server, then="/profile")
    tokens = page.locator("section", has=page.get_by_role("heading", name="API tokens"))
    expect(tokens).to_contain_text("You have no API tokens yet.")
    medianest_browsing.snap(page, "profile-no-tokens")
    tokens.get_by_role("link", name="Create one").click()
    expect(tokens.get_by_label("Name of a new token")).to_be_focused()

    tokens.get_by_label("Name of a new token").fill("home-assistant")
    tokens.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token")).to_be_visible()
    page.goto(server.url + "/profile")
    expect(tokens).not_to_contain_text("You have no API tokens yet.")
    expect(tokens.get_by_role("cell", name="home-assistant")).to_be_visible()


def test_no_requests_yet_leads_to_search(server: Server, medianest_browsing: Browsing) -> None:
    page = signed_in(medianest_browsing, server, then="/overseerr/requests/")
    empty = page.locator("#ov-empty")
    expect(empty).to_contain_text("You have not requested anything yet")
    medianest_browsing.snap(page, "requests-empty")
    empty.get_by_role("link", name="Search").click()
    expect(page).to_have_url(server.url + "/search")
    expect(page.get_by_role("searchbox")).to_be_focused()


def test_no_downloads_yet_says_to_paste_a_playlist_address(server: Server, medianest_browsing: Browsing) -> None:
    page = signed_in(medianest_browsing, server, then="/youtube/")
    empty = page.locator("#yt-empty")
    expect(empty).to_contain_text("No downloads yet.")
    expect(empty).to_contain_text("Paste a playlist address")
    medianest_browsing.snap(page, "youtube-empty")
    empty.get_by_role("link", name="Paste a playlist address").click()
    expect(page.get_by_label("Link")).to_be_focused()


# ---- the search page does not jump while its sources answer ------------------------------------------------------


@pytest.mark.parametrize("viewport", [pytest.param(WIDE, id="1366px"), *PHONES])
def test_search_results_take_the_place_kept_for_them(
    server: Server, medianest_browsing: Browsing, viewport: ViewportSize
) -> None:
    page = signed_in(medianest_browsing, server, viewport)
    held: list[Route] = []
    page.route("**/api/v1/search/stream?*", lambda route: held.append(route))  # answered once let through
    page.goto(server.url + "/search?q=heist")
    results = page.locator("#search-results")
    rows = results.locator(".title-list > li")
    expect(results).to_have_attribute("aria-busy", "true")
    page.wait_for_function("() => document.querySelectorAll('#search-results .title-list > li').length > 0")
    assert held, "the search never asked its sources"
    expect(rows).to_have_count(3)  # rows of a result's size hold the place
    waiting = box(results.locator(".title-list"))
    state = box(results.locator(".search-state"))
    medianest_browsing.snap(page, f"search-loading-{viewport['width']}")

    held[0].continue_()
    expect(results).to_have_attribute("aria-busy", "false")
    expect(results.locator(".search-state")).to_have_text("3 titles.")
    expect(rows).to_have_count(3)
    for title, year, _ in HEISTS:
        expect(rows.filter(has_text=f"{title} ({year})")).to_have_count(1)
    shown = box(results.locator(".title-list"))
    medianest_browsing.snap(page, f"search-loaded-{viewport['width']}")
    assert abs(box(results.locator(".search-state"))["y"] - state["y"]) <= 1
    assert abs(shown["y"] - waiting["y"]) <= 2, (waiting, shown)
    assert abs(shown["height"] - waiting["height"]) <= 12, (
        f"the results are {shown['height']:.0f} px tall, the place kept for them {waiting['height']:.0f} px"
    )


def test_discover_rows_take_the_place_kept_for_them(server: Server, medianest_browsing: Browsing) -> None:
    page = signed_in(medianest_browsing, server)
    held: list[Route] = []
    page.route("**/api/v1/discover/*", lambda route: held.append(route))
    page.goto(server.url + "/discover/")
    rows = page.locator("section.discover-row")
    expect(rows.first).to_be_visible()
    count = rows.count()
    page.wait_for_function(f"() => document.querySelectorAll('section.discover-row').length === {count}")
    expect(rows.first.locator(".poster-row > li").first).to_be_visible()  # posters to come hold the place
    state = rows.first.locator(".row-state")
    expect(state).to_have_text("Loading…")  # said to screen readers, not a line that goes away
    assert state.evaluate("e => e.getBoundingClientRect().height") <= 1
    waiting = [box(rows.nth(n)) for n in range(count)]
    medianest_browsing.snap(page, "discover-loading")
    for _ in range(50):
        if len(held) >= count:
            break
        page.wait_for_timeout(100)
    assert len(held) == count, f"{len(held)} of {count} rows asked for their titles"
    for route in held:
        route.continue_()
    for n in range(count):
        expect(rows.nth(n)).to_have_attribute("aria-busy", "false")
    medianest_browsing.snap(page, "discover-loaded")
    # The rows with posters (one that has nothing to show says so in a line) are where they were, as tall as they were.
    full = [n for n in range(count) if rows.nth(n).locator(".poster-row img.thumb").count()]
    assert len(full) >= 2, f"only rows {full} of {count} have posters"
    assert full == list(range(len(full))), full
    for n in full:
        expect(rows.nth(n).locator(".row-state")).to_have_count(0)
        shown = box(rows.nth(n))
        assert abs(shown["y"] - waiting[n]["y"]) <= 8, (n, waiting[n], shown)
        assert abs(shown["height"] - waiting[n]["height"]) <= 8, (n, waiting[n], shown)


def test_a_search_that_finds_nothing_says_what_to_try(server: Server, medianest_browsing: Browsing) -> None:
    page = signed_in(medianest_browsing, server, then="/search?q=zzqx")
    results = page.locator("#search-results")
    expect(results).to_have_attribute("aria-busy", "false")
    expect(results.locator(".search-state")).to_have_text(
        "Nothing found for “zzqx”. Check the spelling, or try fewer words or the title in its original language."
    )
    expect(results.locator(".title-list > li")).to_have_count(0)
