"""Every action confirms itself in the page: a question before a destructive one is a dialog of the page (never the
browser's own), a save says "Saved.", and a failure is shown beside the button that caused it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from medianest_core.testing import Browsing, Server, browser_sign_in, require_chromium, run_cli, serve_env

require_chromium()

from playwright.sync_api import Dialog, Page, Route, expect  # noqa: E402

ADMIN = ("root", "root-password-123")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("feedback")
    env = serve_env(root / "data", {"MEDIANEST_LOGIN_RATE_LIMIT": "1000/minute"})
    done = run_cli("user", "create-admin", ADMIN[0], env=env, stdin=ADMIN[1] + "\n")
    assert done.returncode == 0, done.stderr
    with Server(env, root / "serve.log") as srv:
        yield srv


def no_browser_dialogs(page: Page) -> list[str]:
    """What the browser's own alert/confirm asked; a dialog of the page never lands here."""
    seen: list[str] = []

    def record(dialog: Dialog) -> None:
        seen.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    return seen


def create_token(page: Page, name: str) -> None:
    page.get_by_label("Name of a new token").fill(name)
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token")).to_be_visible()
    page.goto(page.url)


def test_revoking_asks_in_the_page_and_says_it_is_done(server: Server, medianest_browsing: Browsing) -> None:
    who = server.new_user()
    page = medianest_browsing.page()
    browsers = no_browser_dialogs(page)
    browser_sign_in(page, server, who, then="/profile")
    create_token(page, "backup-script")
    row = page.get_by_role("row", name="backup-script")
    expect(row).to_be_visible()

    row.get_by_role("button", name="Revoke").click()
    question = page.get_by_role("dialog", name="Revoke the token backup-script? Scripts using it stop working.")
    expect(question).to_be_visible()
    buttons = question.get_by_role("button")
    expect(buttons).to_have_text(["Cancel", "Revoke"])  # the safe choice first
    expect(question.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Escape")
    expect(question).to_have_count(0)
    expect(row).to_be_visible()  # nothing happened
    expect(row.get_by_role("button", name="Revoke")).to_be_focused()  # focus back where it was

    row.get_by_role("button", name="Revoke").click()
    question.get_by_role("button", name="Revoke").click()
    expect(page.locator("#toasts .toast", has_text="Removed.")).to_be_visible()
    expect(page.get_by_role("row", name="backup-script")).to_have_count(0)
    assert browsers == []


def test_an_admin_save_says_saved(server: Server, medianest_browsing: Browsing) -> None:
    who = server.new_user("saved")
    page = medianest_browsing.page()
    browser_sign_in(page, server, ADMIN, then="/admin/users")
    page.get_by_role("link", name=who[0]).click()
    expect(page.get_by_role("heading", name=who[0])).to_be_visible()
    page.get_by_label("Display name").fill("Sam Saved")
    page.get_by_role("button", name="Save").first.click()
    expect(page.locator("#toasts .toast", has_text="Saved.")).to_be_visible()
    expect(page.get_by_label("Display name")).to_have_value("Sam Saved")
    page.reload()  # said once, not on every later visit
    expect(page.get_by_label("Display name")).to_have_value("Sam Saved")
    expect(page.locator("#toasts .toast")).to_have_count(0)


def test_a_failed_action_is_shown_beside_its_button(server: Server, medianest_browsing: Browsing) -> None:
    who = server.new_user()
    page = medianest_browsing.page()
    browsers = no_browser_dialogs(page)
    browser_sign_in(page, server, who, then="/profile")
    create_token(page, "flaky")

    def refuse(route: Route) -> None:
        body = {"error": {"code": "conflict", "message": "That token is in use right now; try again.", "details": {}}}
        route.fulfill(status=409, content_type="application/json", body=json.dumps(body))

    page.route("**/api/v1/me/tokens/*", refuse)
    row = page.get_by_role("row", name="flaky")
    row.get_by_role("button", name="Revoke").click()
    page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
    alert = page.get_by_role("alert").filter(has_text="That token is in use right now; try again.")
    expect(alert).to_be_visible()
    box, button = alert.bounding_box(), row.get_by_role("button", name="Revoke").bounding_box()
    assert box is not None
    assert button is not None
    assert abs(box["y"] - button["y"]) < 400, (box, button)  # in the tokens' section, not somewhere else
    expect(row).to_be_visible()
    assert browsers == []


def test_times_are_in_the_persons_language_and_time_zone(server: Server, medianest_browsing: Browsing) -> None:
    who = server.new_user("zone")
    page = medianest_browsing.context(locale="de-DE", timezone_id="Asia/Tokyo").new_page()
    browser_sign_in(page, server, who, then="/profile")
    # A token that expires on a day chosen in Tokyo comes back as that day, in German, with the hour on hover.
    page.get_by_label("Name of a new token").fill("quarterly")
    page.get_by_label("Expires (optional)").fill("2030-03-15T10:00")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token")).to_be_visible()
    page.goto(server.url + "/profile")
    expires = page.get_by_role("row", name="quarterly").locator("time")
    expect(expires).to_have_text("15.03.2030")
    expect(expires).to_have_attribute("title", "Freitag, 15. März 2030 um 10:00:00 GMT+9")
    # What happened a moment ago reads as such, in the same language.
    seen = page.locator("table time").first
    expect(seen).to_have_text(re.compile(r"^(jetzt|vor \d+ Sekunden)$"))
    expect(seen).to_have_attribute("title", re.compile(r"GMT\+9$"))
