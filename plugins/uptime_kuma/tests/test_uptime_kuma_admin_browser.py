"""The admin's controls on the status page and watching a monitor, in a real browser (Debian's chromium driven by
Playwright) against a real ``medianest serve`` whose Uptime Kuma plugin reads a :class:`FakeUptimeKuma`.

An admin hides a monitor, renames one, ties one to a MediaNest service and moves one up with the keyboard; a person's
open status page and dashboard card follow each change without a reload, and the hidden monitor leaves them. A
person asks to be told when a monitor changes. Screenshots are copied to ``/tmp/shots/kuma-admin-*.png`` (a desktop
and a 390 px phone). Without ``/usr/bin/chromium`` these tests are skipped, unless
``MEDIANEST_REQUIRE_BROWSER_TESTS`` is set, when they fail."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_kuma import POLL, Kuma, kuma_thread, serving

from medianest_core.testing import PHONE, Browsing, Server, browser_sign_in, require_chromium

require_chromium()

from playwright.sync_api import Locator, Page, expect  # noqa: E402

SHOTS = Path("/tmp/shots")
FIRST_READ = (POLL * 2 + 10) * 1000
"""How long the first read of Uptime Kuma may take to show."""
LIVE = 10_000
"""How long an admin's change may take to reach another person's open page."""


@pytest.fixture(scope="module")
def kuma() -> Iterator[Kuma]:
    with kuma_thread("fake-uptime-kuma-admin", history=6) as made:
        yield made


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, kuma: Kuma) -> Iterator[Server]:
    # Overseerr, not set up, is a service a monitor can be tied to.
    with serving(tmp_path_factory.mktemp("uptime-kuma-admin-browser"), kuma, ["uptime_kuma", "overseerr"]) as srv:
        yield srv


def shot(browsing: Browsing, page: Page, name: str) -> None:
    browsing.snap(page, name)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"kuma-admin-{name}.png", full_page=True)


def row(page: Page, name: str) -> Locator:
    """A monitor's row on the status page, by the name it shows."""
    named = page.locator('[data-role="name"]', has_text=re.compile(f"^{re.escape(name)}$"))
    return page.locator("#uk-groups .uk-row").filter(has=named)


def card_names(page: Page) -> Locator:
    return page.locator("#card-uptime_kuma-monitors .uk-card-name")


def names(page: Page) -> Locator:
    return page.locator('#uk-groups .uk-row [data-role="name"]')


def no_sideways_scroll(page: Page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"


def test_the_admin_hides_renames_ties_and_moves_monitors_and_people_follow_live(
    server: Server, medianest_browsing: Browsing
) -> None:
    person = server.new_user("dana")
    chief = server.new_user("chief", "admin")

    # Dana has the dashboard open in one tab and the status page in another.
    dashboard = medianest_browsing.page()
    browser_sign_in(dashboard, server, person)
    expect(card_names(dashboard)).to_have_count(3, timeout=FIRST_READ)
    status = dashboard.context.new_page()
    status.goto(server.url + "/uptime_kuma/status/")
    expect(status.locator("#live-status")).to_have_attribute("data-state", "live")
    expect(names(status)).to_have_text(["Family website", "Overseerr", "Plex"])  # groups by their first monitor
    expect(status.get_by_role("button", name="Edit")).to_have_count(0)  # people get no controls
    for each in (dashboard, status):
        each.evaluate("window.__stillHere = true")

    admin = medianest_browsing.page()
    browser_sign_in(admin, server, chief, "/uptime_kuma/status/")
    website = row(admin, "Family website")
    expect(website.locator('[data-role="hidden"]')).to_be_hidden()
    shot(medianest_browsing, admin, "1-desktop-controls")

    # Hide the family website from people.
    website.locator("summary").click()
    expect(website.get_by_label("Shown to people")).to_be_checked()
    website.get_by_label("Shown to people").uncheck()
    website.get_by_role("button", name="Save").click()
    expect(admin.locator(".toast")).to_contain_text("Saved: Family website (hidden from people).")
    expect(website.locator('[data-role="hidden"]')).to_have_text("Hidden from people")
    expect(website.locator("details")).not_to_have_attribute("open", "")
    expect(names(admin)).to_have_count(3)  # admins keep it, marked

    expect(row(status, "Family website")).to_have_count(0, timeout=LIVE)
    expect(status.get_by_role("heading", name="Web")).to_have_count(0)  # its group went with it
    expect(status.locator("#uk-summary")).to_contain_text("Everything is up.")
    expect(card_names(dashboard)).to_have_text(["Overseerr", "Plex"], timeout=LIVE)
    expect(dashboard.locator("#card-uptime_kuma-monitors")).not_to_contain_text("Family website")

    # Rename Plex; a name that is too long is refused beside its field, and what was typed stays.
    plex = row(admin, "Plex")
    plex.locator("summary").click()
    title = plex.get_by_label("Name people read")
    plex.evaluate("row => row.querySelector('input[name=title]').removeAttribute('maxlength')")
    title.fill("P" * 101)
    plex.get_by_role("button", name="Save").click()
    expect(plex.locator('[data-field="title"] .error')).to_contain_text("100")
    expect(title).to_have_attribute("aria-invalid", "true")
    expect(title).to_be_focused()
    shot(medianest_browsing, admin, "2-desktop-refused")
    title.fill("Plex Media Server")
    plex.get_by_label("MediaNest service that depends on it").select_option(label="Overseerr")
    plex.get_by_role("button", name="Save").click()
    renamed = row(admin, "Plex Media Server")
    expect(renamed.locator('[data-role="service"]')).to_have_text("Tied to Overseerr")
    expect(renamed.locator('[data-field="title"] .error')).to_be_empty()
    expect(admin.locator(".toast").last).to_contain_text("Saved: Plex Media Server.")

    expect(row(status, "Plex Media Server")).to_have_count(1, timeout=LIVE)
    expect(card_names(dashboard)).to_have_text(["Overseerr", "Plex Media Server"], timeout=LIVE)
    expect(status.get_by_text("Tied to")).to_have_count(0)  # what the admin tied it to is for admins

    # Move Plex Media Server up with the keyboard: people's page follows.
    up = renamed.get_by_role("button", name="Move Plex Media Server up")
    up.focus()
    admin.keyboard.press("Enter")
    expect(names(admin)).to_have_text(["Family website", "Plex Media Server", "Overseerr"])
    expect(renamed.get_by_role("button", name="Move Plex Media Server down")).to_be_focused()  # up is now off
    expect(up).to_be_disabled()
    expect(names(status)).to_have_text(["Plex Media Server", "Overseerr"], timeout=LIVE)
    shot(medianest_browsing, admin, "3-desktop-after-changes")
    shot(medianest_browsing, status, "4-desktop-person-status")
    expect(dashboard.get_by_role("heading", name="Connections")).to_be_visible()  # the core's card, renamed
    shot(medianest_browsing, dashboard, "4b-desktop-person-dashboard")

    for each in (dashboard, status):
        assert each.evaluate("window.__stillHere") is True  # all of it live, no reload
    status.reload()  # and what the page draws from the store is the same
    expect(names(status)).to_have_text(["Plex Media Server", "Overseerr"])
    admin.reload()
    expect(names(admin)).to_have_text(["Family website", "Plex Media Server", "Overseerr"])
    expect(row(admin, "Family website").locator('[data-role="hidden"]')).to_be_visible()
    expect(row(admin, "Plex Media Server").get_by_label("Name people read")).to_have_value("Plex Media Server")

    # Showing it again brings it back to people's open page.
    website = row(admin, "Family website")
    website.locator("summary").click()
    website.get_by_label("Shown to people").check()
    website.get_by_role("button", name="Save").click()
    expect(website.locator('[data-role="hidden"]')).to_be_hidden()
    expect(row(status, "Family website")).to_have_count(1, timeout=LIVE)
    expect(row(status, "Family website").locator('[data-role="latency"]')).to_have_text("120 ms")


def test_a_person_watches_a_monitor_and_the_admin_page_fits_a_phone(
    server: Server, medianest_browsing: Browsing
) -> None:
    person = server.new_user("erin")
    chief = server.new_user("boss", "admin")

    page = medianest_browsing.page(PHONE, is_mobile=True, has_touch=True, color_scheme="dark")
    browser_sign_in(page, server, person, "/uptime_kuma/status/")
    overseerr = row(page, "Overseerr")
    expect(overseerr).to_have_count(1, timeout=FIRST_READ)
    watch = overseerr.get_by_role("button", name="Tell me when it changes")
    watch.tap()
    expect(overseerr.get_by_role("button", name="Stop telling me")).to_be_focused()
    expect(page.locator(".toast")).to_contain_text("You will be told when Overseerr goes down and when it is back.")
    no_sideways_scroll(page)
    shot(medianest_browsing, page, "5-phone-person-watching")
    page.reload()  # the server remembers
    expect(row(page, "Overseerr").get_by_role("button", name="Stop telling me")).to_be_visible()
    row(page, "Overseerr").get_by_role("button", name="Stop telling me").tap()
    expect(row(page, "Overseerr").get_by_role("button", name="Tell me when it changes")).to_be_visible()

    admin = medianest_browsing.page(PHONE, is_mobile=True, has_touch=True, color_scheme="light")
    browser_sign_in(admin, server, chief, "/uptime_kuma/status/")
    expect(names(admin).first).to_be_visible()
    no_sideways_scroll(admin)
    shot(medianest_browsing, admin, "6-phone-admin")
    first = admin.locator("#uk-groups .uk-row").first
    first.locator("summary").tap()
    expect(first.get_by_label("Name people read")).to_be_visible()
    for control in (first.get_by_label("Name people read"), first.get_by_role("button", name="Save")):
        box = control.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= PHONE["width"], box
    no_sideways_scroll(admin)
    shot(medianest_browsing, admin, "7-phone-admin-edit-open")
