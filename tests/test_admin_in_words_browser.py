"""The admin's Services and Audit log pages in a real browser: locked settings look locked and are never sent, labels
are words, and the audit log's details read as text."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import install_fake_distribution

from medianest_core.testing import (
    DESKTOP,
    PHONE,
    Browsing,
    Server,
    browser_sign_in,
    require_chromium,
    run_cli,
    serve_env,
)

ADMIN = ("root", "root-password-123")

require_chromium()

from playwright.sync_api import Request, ViewportSize, expect  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One ``medianest serve`` with the bundled plugins and a greeter whose greeting (and TMDB's language) the
    environment sets."""
    root = tmp_path_factory.mktemp("browser-c")
    site = root / "site"
    install_fake_distribution(
        site,
        "medianest-examples",
        {"greeter": "greeter_plugin:plugin"},
        {"greeter_plugin": "from example_plugins import Greeter\nplugin = Greeter()\n"},
    )
    env = serve_env(
        root / "data",
        {
            "MEDIANEST_LOGIN_RATE_LIMIT": "1000/minute",
            "MEDIANEST_GREETER_GREETING": "hi from the environment",
            "MEDIANEST_TMDB_LANGUAGE": "de-DE",
            "PYTHONPATH": os.pathsep.join([str(site), str(Path(__file__).parent)]),
        },
    )
    done = run_cli("user", "create-admin", ADMIN[0], env=env, stdin=ADMIN[1] + "\n")
    assert done.returncode == 0, done.stderr
    with Server(env, root / "serve.log") as srv:
        yield srv


@pytest.mark.parametrize(("viewport", "theme"), [(DESKTOP, "dark"), (PHONE, "light")], ids=["desktop", "phone"])
def test_locked_settings_look_locked_say_why_and_are_never_sent(
    server: Server, medianest_browsing: Browsing, viewport: ViewportSize, theme: str
) -> None:
    page = medianest_browsing.page(viewport, color_scheme=theme)
    browser_sign_in(page, server, ADMIN)
    page.goto(server.url + "/admin/services")
    expect(page.get_by_role("heading", name="Uptime Kuma", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="uptime_kuma", exact=True)).to_have_count(0)

    language = page.locator("#service-tmdb").get_by_label("Language")
    expect(language).to_be_disabled()
    tmdb_field = page.locator('#service-tmdb [data-field="language"]')
    expect(tmdb_field.get_by_text("Locked", exact=True)).to_be_visible()
    expect(tmdb_field).to_contain_text(
        "Set by the environment variable MEDIANEST_TMDB_LANGUAGE; change it there and restart MediaNest."
    )

    section = page.locator("#service-greeter")
    greeting = section.get_by_label("Greeting")
    retries = section.get_by_label("Retries")
    expect(greeting).to_be_disabled()
    expect(greeting).to_have_value("hi from the environment")
    expect(greeting).to_have_accessible_description(
        "Set by the environment variable MEDIANEST_GREETER_GREETING; change it there and restart MediaNest."
    )
    expect(section.locator('[data-field="greeting"]').get_by_text("Locked", exact=True)).to_be_visible()
    expect(section.locator('[data-field="retries"]').get_by_text("Locked", exact=True)).to_have_count(0)
    # Greyed out: a locked field is drawn unlike one that can be edited.
    style = "el => [getComputedStyle(el).backgroundColor, getComputedStyle(el).borderStyle]"
    assert greeting.evaluate(style) != retries.evaluate(style)
    # The reason stands right beside the field, not somewhere else on the page.
    box, why = greeting.bounding_box(), section.locator("#w-f-greeter-greeting").bounding_box()
    assert box is not None
    assert why is not None
    assert 0 <= why["y"] - (box["y"] + box["height"]) < 40
    medianest_browsing.snap(page, f"services-{theme}")

    retries.fill("4")
    saving = page.expect_request(lambda r: r.method == "PUT" and r.url.endswith("/api/v1/admin/services/greeter"))
    with saving as put, page.expect_navigation():
        section.get_by_role("button", name="Save Greeter").click()
    request: Request = put.value
    sent = json.loads(request.post_data or "{}")["values"]
    assert "greeting" not in sent
    assert sent["retries"] == 4
    expect(page.locator("#service-greeter").get_by_label("Retries")).to_have_value("4")

    page.goto(server.url + "/admin/audit?action=settings.changed")
    expect(page.locator("tbody tr").first.locator("td").nth(4)).to_have_text("keys: retries")
    medianest_browsing.snap(page, f"audit-{theme}")
    # Back to the default for the next run.
    page.goto(server.url + "/admin/services")
    page.locator("#service-greeter").get_by_label("Retries").fill("3")
    with page.expect_navigation():
        page.locator("#service-greeter").get_by_role("button", name="Save Greeter").click()


def test_the_audit_log_shows_a_role_change_as_words(server: Server, medianest_browsing: Browsing) -> None:
    who = server.new_user()
    page = medianest_browsing.page()
    browser_sign_in(page, server, ADMIN)
    page.goto(server.url + "/admin/users?q=" + who[0])
    page.get_by_role("link", name=who[0], exact=True).click()
    page.get_by_label("Role").select_option("admin")
    with page.expect_navigation():
        page.get_by_role("button", name="Save", exact=True).click()
    page.goto(server.url + "/admin/audit?action=user.updated")
    details = page.locator("tbody tr").first.locator("td").nth(4)  # Details
    expect(details).to_contain_text("role: user → admin")
    expect(details).not_to_contain_text("{")
    expect(details).not_to_contain_text("'")
