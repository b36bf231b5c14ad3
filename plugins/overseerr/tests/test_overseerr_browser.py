"""Requests through Overseerr in a real browser: Debian's chromium driven by Playwright, against a real
``medianest serve`` whose Overseerr plugin talks to a :class:`FakeOverseerr` on 127.0.0.1, and whose webhook agent
calls that ``serve`` back.

The admin links a local account to its Overseerr user on the links page; the person searches, requests two seasons
of a series, and sees on their requests page (and their dashboard card) the approval and then the arrival in Plex,
live, without reloading. Each test keeps screenshots of its key moments in ``test-artifacts/browser/<test>/``; a
failing one also leaves a screenshot and the HTML of every page it had open. Chromium is never downloaded: without
``/usr/bin/chromium`` these tests are skipped, unless ``MEDIANEST_REQUIRE_BROWSER_TESTS`` is set, when they fail.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from medianest_overseerr.fake import FakeOverseerr, FakeUser

from medianest_core.testing import (
    PHONE,
    Browsing,
    LoopThread,
    Server,
    browser_sign_in,
    free_port,
    require_chromium,
    serve_env,
)

require_chromium()

from playwright.sync_api import Locator, Page, expect  # noqa: E402

SECRET = "Bearer browser-hook-secret-0123456789"
THRONES = 1399
DUNE = 438631
ALIEN = 348


class Overseerr(LoopThread):
    """A :class:`FakeOverseerr` on its own event loop in a background thread: the Playwright sync API blocks the
    test's thread, and the fake must keep answering (and sending its webhooks) meanwhile."""

    def __init__(self) -> None:
        super().__init__("fake-overseerr")
        self.fake: FakeOverseerr = self.run(self._start())

    @staticmethod
    async def _start() -> FakeOverseerr:
        fake = FakeOverseerr()
        fake.add_tv(THRONES, "Game of Thrones", 2011, seasons={1: 10, 2: 10}, tvdb_id=121361)
        fake.add_movie(DUNE, "Dune", 2021)
        fake.add_movie(ALIEN, "Alien", 1979)
        for name in ("dana", "erin"):  # MediaNest keeps Overseerr's list of users a minute: they are there first
            fake.add_user(f"{name}-seerr", email=f"{name}@example.org")
        await fake.start()
        return fake

    def api(self, method: str, path: str) -> Any:
        """A call to the fake's API with the admin's key, as the admin does in Overseerr's own pages."""
        request = urllib.request.Request(
            self.fake.api_url + path, method=method, headers={"X-Api-Key": self.fake.api_key}
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.loads(resp.read())

    def user(self, name: str) -> FakeUser:
        return next(user for user in self.fake.users if user.plex_username == name)

    def settle(self) -> None:
        self.run(self.fake.settle())

    def close(self) -> None:
        self.run(self.fake.stop())
        super().close()


@pytest.fixture(scope="module")
def overseerr() -> Iterator[Overseerr]:
    made = Overseerr()
    try:
        yield made
    finally:
        made.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, overseerr: Overseerr) -> Iterator[Server]:
    """One ``medianest serve`` for the module with the Overseerr plugin pointed at the fake, and the fake's webhook
    agent pointed at it; no Plex, no TMDB: Overseerr's own search answers."""
    root = tmp_path_factory.mktemp("overseerr-browser")
    env = serve_env(
        root / "data",
        {
            "MEDIANEST_LOGIN_RATE_LIMIT": "1000/minute",
            "MEDIANEST_OVERSEERR_URL": overseerr.fake.url,
            "MEDIANEST_OVERSEERR_API_KEY": overseerr.fake.api_key,
            "MEDIANEST_OVERSEERR_WEBHOOK_SECRET": SECRET,
            # Posters come from nowhere: every row shows the box in their place.
            "MEDIANEST_OVERSEERR_IMAGE_URL": f"http://127.0.0.1:{free_port()}/t/p",
        },
        plugins=["overseerr"],
    )
    with Server(env, root / "serve.log") as srv:
        overseerr.call(overseerr.fake.configure_webhook, srv.url + "/api/v1/overseerr/webhook", SECRET)
        yield srv


def link_on_the_links_page(page: Page, person: str, user: FakeUser) -> None:
    """The admin, on the links page, links ``person`` to the Overseerr user ``user``."""
    row = page.locator("#ov-links tr", has=page.get_by_role("link", name=person, exact=True))
    choice = row.get_by_label(f"Overseerr user of {person}")
    expect(choice).to_be_enabled()  # Overseerr's users are read once the page is shown
    choice.select_option(label=f"{user.plex_username} ({user.email})")
    row.get_by_role("button", name="Save").click()
    expect(row.locator('[data-role="name"]')).to_have_text(user.plex_username or "")
    expect(row.locator('[data-role="how"]')).to_have_text("Set by an admin")
    expect(row.get_by_role("button", name="Unlink")).to_be_visible()


def no_sideways_scroll(page: Page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"


def search(page: Page, title: str) -> Locator:
    """Search ``title`` from the top bar: its result, once every source has answered."""
    page.get_by_role("searchbox", name="Search the library and more").fill(title)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q="))
    results = page.locator("#search-results")
    expect(results).to_have_attribute("aria-busy", "false")
    heading = page.get_by_role("heading", name=re.compile("^" + re.escape(title) + r"\b"))
    return results.locator(".title-list > li").filter(has=heading)


def request_row(page: Page, title: str) -> Locator:
    return page.locator("#ov-list > li.ov-row").filter(has=page.get_by_role("link", name=title, exact=True))


def test_a_series_two_seasons_requested_then_approved_then_available_live(
    server: Server, overseerr: Overseerr, medianest_browsing: Browsing
) -> None:
    fake = overseerr.fake
    person = server.new_user("dana")
    admin_login = server.new_user("boss", "admin")
    in_overseerr = overseerr.user("dana-seerr")

    # The admin links the local account to its Overseerr user.
    admin = medianest_browsing.page()
    browser_sign_in(admin, server, admin_login, "/overseerr/links/")
    expect(admin.get_by_role("heading", name="Overseerr users")).to_be_visible()
    link_on_the_links_page(admin, person[0], in_overseerr)
    medianest_browsing.snap(admin, "1-admin-linked")
    admin.reload()  # kept
    row = admin.locator("#ov-links tr", has=admin.get_by_role("link", name=person[0], exact=True))
    expect(row.locator('[data-role="name"]')).to_have_text(in_overseerr.plex_username or "")

    # The person has no request yet: the page says how to make one.
    page = medianest_browsing.page()
    browser_sign_in(page, server, person, "/overseerr/requests/")
    expect(page.get_by_role("heading", name="Your requests")).to_be_visible()
    expect(page.locator("#ov-empty")).to_contain_text("You have not requested anything yet.")
    medianest_browsing.snap(page, "2-no-request-yet")

    # Search, request two seasons.
    thrones = search(page, "Game of Thrones")
    thrones.get_by_role("button", name="Request").click()
    chooser = page.get_by_role("dialog", name="Which seasons?")
    expect(chooser).to_be_visible()
    chooser.get_by_role("checkbox", name="Season 1").check()
    chooser.get_by_role("checkbox", name="Season 2").check()
    medianest_browsing.snap(page, "3-seasons-chosen", full_page=False)
    chooser.get_by_role("button", name="Request").click()
    expect(page.locator("#toasts .toast").first).to_contain_text("Game of Thrones")
    [asked] = [r for r in overseerr.call(lambda: fake.requests) if r.requested_by.id == in_overseerr.id]
    assert sorted(asked.season_numbers) == [1, 2]

    # The requests page shows it pending; the dashboard's card counts it.
    page.goto(server.url + "/overseerr/requests/")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    row = request_row(page, "Game of Thrones")
    expect(row.locator('[data-role="state"]')).to_have_text("Pending approval")
    expect(row.locator(".ov-meta")).to_contain_text("Series · Seasons 1, 2 · Requested ")
    expect(row.get_by_role("button", name="Cancel")).to_be_visible()
    expect(row.locator(".ov-thumb.no-poster")).to_be_visible()  # the poster could not be fetched
    page.evaluate("window.__stillHere = true")
    dashboard = page.context.new_page()
    dashboard.goto(server.url + "/")
    card = dashboard.locator("#card-overseerr-requests")
    expect(card).to_contain_text("1 waiting for approval")
    expect(dashboard.locator("#live-status")).to_have_attribute("data-state", "live")
    medianest_browsing.snap(page, "4-pending")

    # Overseerr's admin approves: the row changes in place, and a notification says so.
    overseerr.api("POST", f"/request/{asked.id}/approve")
    overseerr.settle()
    expect(row.locator('[data-role="state"]')).to_have_text("Approved")
    expect(row.get_by_role("button", name="Cancel")).to_have_count(0)
    expect(page.locator("#toasts .toast", has_text="Game of Thrones was approved")).to_be_visible()
    expect(card).to_contain_text("1 approved")
    medianest_browsing.snap(page, "5-approved")

    # Plex gets both seasons: available, with its link to Plex.
    overseerr.call(fake.make_available, "tv", THRONES)
    overseerr.settle()
    expect(row.locator('[data-role="state"]')).to_have_text("Available")
    watch = row.get_by_role("link", name="Watch in Plex")
    expect(watch).to_have_attribute("href", re.compile(r"^https://app\.plex\.tv/desktop#!/server/"))
    expect(page.locator("#toasts .toast", has_text="Game of Thrones is now available in Plex")).to_be_visible()
    expect(page.locator("#ov-list > li")).to_have_count(1)
    assert page.evaluate("window.__stillHere") is True  # all of it without a reload
    expect(card).to_contain_text("No open requests.")
    medianest_browsing.snap(page, "6-available")
    medianest_browsing.snap(dashboard, "7-dashboard")

    drawn_live = row.inner_text()
    page.reload()  # what the page draws from the store is what the live updates drew
    row = request_row(page, "Game of Thrones")
    expect(row.locator('[data-role="state"]')).to_have_text("Available")
    expect(row.get_by_role("link", name="Watch in Plex")).to_be_visible()
    expect(row.locator(".ov-thumb.no-poster")).to_be_visible()
    assert row.inner_text().split() == drawn_live.split()


def test_on_a_phone_an_admin_declines_and_the_asker_cancels(
    server: Server, overseerr: Overseerr, medianest_browsing: Browsing
) -> None:
    person = server.new_user("erin")
    admin_login = server.new_user("chief", "admin")
    in_overseerr = overseerr.user("erin-seerr")

    admin = medianest_browsing.page(PHONE, is_mobile=True, has_touch=True, color_scheme="dark")
    browser_sign_in(admin, server, admin_login, "/overseerr/links/")
    no_sideways_scroll(admin)
    link_on_the_links_page(admin, person[0], in_overseerr)
    no_sideways_scroll(admin)
    medianest_browsing.snap(admin, "1-phone-links")

    page = medianest_browsing.page(PHONE, is_mobile=True, has_touch=True, color_scheme="light")
    browser_sign_in(page, server, person, "/overseerr/requests/")
    for title in ("Dune", "Alien"):
        found = search(page, title)
        found.get_by_role("button", name="Request", exact=True).tap()
        expect(page.locator("#toasts .toast", has_text=title).first).to_be_visible()
    page.goto(server.url + "/overseerr/requests/")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    expect(page.locator("#ov-list > li")).to_have_count(2)
    no_sideways_scroll(page)
    medianest_browsing.snap(page, "2-phone-two-pending")

    # The admin sees both among everyone's, with the asker's name, and declines Dune.
    admin.goto(server.url + "/overseerr/requests/?scope=all")
    expect(admin.get_by_role("heading", name="Everyone's requests")).to_be_visible()
    expect(admin.locator("#live-status")).to_have_attribute("data-state", "live")
    dune = request_row(admin, "Dune")
    expect(dune.locator(".ov-meta")).to_contain_text(f"by {in_overseerr.plex_username}")
    no_sideways_scroll(admin)
    for button in dune.get_by_role("button").all():
        box = button.bounding_box()
        assert box is not None
        assert box["x"] + box["width"] <= PHONE["width"], box
    medianest_browsing.snap(admin, "3-phone-everyones")

    dune.get_by_role("button", name="Decline").tap()
    # Asked in the page, not by the browser: the safe choice first, with the focus.
    question = admin.get_by_role("dialog", name="Decline the request for “Dune”?")
    expect(question.get_by_role("button", name="Cancel")).to_be_focused()
    question.get_by_role("button", name="Decline").tap()
    expect(dune.locator('[data-role="state"]')).to_have_text("Declined")
    expect(dune.get_by_role("button", name="Approve")).to_have_count(0)
    # The asker's open page follows.
    mine = request_row(page, "Dune")
    expect(mine.locator('[data-role="state"]')).to_have_text("Declined")
    expect(page.locator("#toasts .toast", has_text="Your request for Dune was declined")).to_be_visible()

    # The asker cancels Alien, after saying yes.
    alien = request_row(page, "Alien")
    alien.get_by_role("button", name="Cancel").tap()
    page.get_by_role("dialog", name="Cancel your request for “Alien”?").get_by_role(
        "button", name="Cancel request"
    ).tap()
    expect(alien).to_have_count(0)
    expect(request_row(admin, "Alien")).to_have_count(0)  # gone from everyone's too
    no_sideways_scroll(page)
    page.evaluate("document.getElementById('toasts').replaceChildren()")  # they would hide the rows in the picture
    medianest_browsing.snap(page, "4-phone-declined-and-cancelled")
    page.get_by_role("button", name="Use the dark theme").tap()
    medianest_browsing.snap(page, "5-phone-dark")
