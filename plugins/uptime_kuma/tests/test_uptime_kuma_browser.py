"""The card "Services" and the status page in a real browser: Debian's chromium driven by Playwright, against a
real ``medianest serve`` whose Uptime Kuma plugin reads a :class:`FakeUptimeKuma` on 127.0.0.1 every 10 seconds.

A monitor going down in Uptime Kuma shows as down on an open dashboard and an open status page without a reload;
both pages fit a phone's width, in both themes. Screenshots are kept in ``test-artifacts/browser/<test>/`` and
copied to ``/tmp/shots/kuma-*.png``. Without ``/usr/bin/chromium`` these tests are skipped, unless
``MEDIANEST_REQUIRE_BROWSER_TESTS`` is set, when they fail."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_kuma import POLL, Kuma, kuma_thread, serving
from medianest_uptime_kuma.client import MonitorStatus

from medianest_core.testing import PHONE, Browsing, Server, browser_sign_in, require_chromium

require_chromium()

from playwright.sync_api import Locator, Page, expect  # noqa: E402

SHOTS = Path("/tmp/shots")
LIVE = (POLL * 2 + 10) * 1000
"""How long a change in Uptime Kuma may take to show: up to two reads, and the way to the browser."""
PLEX, OVERSEERR, WEBSITE = 1, 2, 3


@pytest.fixture(scope="module")
def kuma() -> Iterator[Kuma]:
    with kuma_thread("fake-uptime-kuma", history=12, show_cert_expiry=True) as made:  # some history for the bars
        yield made


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, kuma: Kuma) -> Iterator[Server]:
    with serving(tmp_path_factory.mktemp("uptime-kuma-browser"), kuma, ["uptime_kuma"]) as srv:
        yield srv


def shot(browsing: Browsing, page: Page, name: str, full_page: bool = True) -> None:
    browsing.snap(page, name, full_page=full_page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"kuma-{name}.png", full_page=full_page)


def no_sideways_scroll(page: Page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"


def card_row(page: Page, name: str) -> Locator:
    return page.locator("#card-uptime_kuma-monitors .uk-card-row").filter(has_text=name)


def page_row(page: Page, name: str) -> Locator:
    return page.locator("#uk-groups .uk-row").filter(has=page.get_by_text(name, exact=True))


def test_a_monitor_going_down_shows_live_on_the_card_and_the_status_page(
    server: Server, kuma: Kuma, medianest_browsing: Browsing
) -> None:
    person = server.new_user("dana")
    dashboard = medianest_browsing.page(color_scheme="light")
    browser_sign_in(dashboard, server, person)
    card = dashboard.locator("#card-uptime_kuma-monitors")
    expect(card.get_by_role("heading", name="Services")).to_be_visible()
    expect(card_row(dashboard, "Overseerr").locator('[data-role="status"]')).to_have_text("Up", timeout=LIVE)
    expect(card.locator(".uk-card-row")).to_have_count(3)
    expect(card_row(dashboard, "Plex").get_by_role("img")).to_have_attribute(
        "aria-label", "up 13 of the last 13 checks"
    )
    expect(card).to_contain_text("Everything is up.")
    shot(medianest_browsing, dashboard, "1-dashboard-all-up")

    status = dashboard.context.new_page()
    status.goto(server.url + "/uptime_kuma/")  # leads to the status page
    expect(status).to_have_url(server.url + "/uptime_kuma/status/")
    expect(status.get_by_role("heading", name="Service status")).to_be_visible()
    expect(status.locator("#live-status")).to_have_attribute("data-state", "live")
    expect(status.get_by_role("heading", name="Media")).to_be_visible()
    expect(status.get_by_role("heading", name="Web")).to_be_visible()
    website = page_row(status, "Family website")
    expect(website.locator('[data-role="cert"]')).to_have_text("Certificate: 20 days left")
    expect(website.locator('[data-role="latency"]')).to_have_text("120 ms")
    overseerr = page_row(status, "Overseerr")
    expect(overseerr.locator('[data-role="status"]')).to_have_text("Up")
    status.evaluate("window.__stillHere = true")
    dashboard.evaluate("window.__stillHere = true")
    shot(medianest_browsing, status, "2-status-all-up")

    # Overseerr stops answering: two down beats in Uptime Kuma.
    kuma.set_status(OVERSEERR, MonitorStatus.DOWN, msg="connect ECONNREFUSED 10.0.0.7:5055")
    kuma.set_status(OVERSEERR, MonitorStatus.DOWN, msg="connect ECONNREFUSED 10.0.0.7:5055")

    expect(overseerr.locator('[data-role="status"]')).to_have_text("Down", timeout=LIVE)
    expect(overseerr).to_have_class("uk-row uk-is-down")
    expect(overseerr.get_by_role("img")).to_have_attribute("aria-label", "up 13 of the last 15 checks")
    expect(status.locator("#uk-summary")).to_have_text(
        re.compile(r"^1 of 3 are down\. Checked (now|\d+ seconds ago)\.$")
    )
    expect(status.get_by_text("ECONNREFUSED")).to_have_count(0)  # the message is for admins only
    expect(card_row(dashboard, "Overseerr").locator('[data-role="status"]')).to_have_text("Down", timeout=LIVE)
    expect(card.locator(".uk-card-row").first).to_contain_text("Overseerr")  # down ones first
    expect(card).to_contain_text("1 of 3 are down.")
    assert status.evaluate("window.__stillHere") is True
    assert dashboard.evaluate("window.__stillHere") is True
    shot(medianest_browsing, status, "3-status-overseerr-down")
    shot(medianest_browsing, dashboard, "4-dashboard-overseerr-down")

    drawn_live = overseerr.inner_text()
    status.reload()  # what the page draws from the store is what the live update drew
    again = page_row(status, "Overseerr")
    expect(again.locator('[data-role="status"]')).to_have_text("Down")
    assert again.inner_text().split() == drawn_live.split()


def test_on_a_phone_in_both_themes(server: Server, kuma: Kuma, medianest_browsing: Browsing) -> None:
    person = server.new_user("erin")
    admin_login = server.new_user("chief", "admin")
    kuma.set_status(OVERSEERR, MonitorStatus.DOWN, msg="connect ECONNREFUSED 10.0.0.7:5055")

    page = medianest_browsing.page(PHONE, is_mobile=True, has_touch=True, color_scheme="dark")
    browser_sign_in(page, server, person)
    expect(card_row(page, "Overseerr").locator('[data-role="status"]')).to_have_text("Down", timeout=LIVE)
    no_sideways_scroll(page)
    shot(medianest_browsing, page, "5-phone-dashboard-dark")

    page.goto(server.url + "/uptime_kuma/status/")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    for row in page.locator("#uk-groups .uk-row").all():
        box = row.bounding_box()
        assert box is not None
        assert box["x"] + box["width"] <= PHONE["width"], box
    no_sideways_scroll(page)
    shot(medianest_browsing, page, "6-phone-status-dark")

    # An admin's page and a person's both see it come back, live.
    admin = medianest_browsing.page(PHONE, is_mobile=True, has_touch=True, color_scheme="light")
    browser_sign_in(admin, server, admin_login, "/uptime_kuma/status/")
    expect(page_row(admin, "Overseerr").locator('[data-role="status"]')).to_have_text("Down")
    no_sideways_scroll(admin)
    shot(medianest_browsing, admin, "7-phone-status-admin-light")

    kuma.set_status(OVERSEERR, MonitorStatus.UP)
    for each in (page, admin):
        row = page_row(each, "Overseerr")
        expect(row.locator('[data-role="status"]')).to_have_text("Up", timeout=LIVE)
        expect(row.locator('[data-role="message"]')).to_be_hidden()
    expect(page.locator("#uk-summary")).to_contain_text("Everything is up.")
    page.get_by_role("button", name="Use the light theme").tap()
    shot(medianest_browsing, page, "8-phone-status-back-up-light")
