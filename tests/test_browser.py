"""MediaNest in a real browser: Debian's chromium driven by Playwright, against a real ``medianest serve``.

A failing test leaves a screenshot and the HTML of each page it opened in ``test-artifacts/browser/<test>/``.
Chromium is never downloaded: without ``/usr/bin/chromium`` these tests are skipped, unless
``MEDIANEST_REQUIRE_BROWSER_TESTS`` is set (as CI does), when they fail.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import install_fake_distribution

from medianest_core.testing import PHONE, Browsing, Server, browser_sign_in, require_chromium, run_cli, serve_env

ADMIN = ("root", "root-password-123")

require_chromium()

from playwright.sync_api import WebSocketRoute, expect  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One ``medianest serve`` for the module, with example plugins: one spends a quota on its page, one has
    settings and a connection test."""
    root = tmp_path_factory.mktemp("browser")
    site = root / "site"
    install_fake_distribution(
        site,
        "medianest-examples",
        {"rationed": "rationed_plugin:plugin", "greeter": "greeter_plugin:plugin"},
        {
            "rationed_plugin": "from example_plugins import Rationed\nplugin = Rationed()\n",
            "greeter_plugin": "from example_plugins import Greeter\nplugin = Greeter()\n",
        },
    )
    env = serve_env(
        root / "data",
        {
            # Every test signs in from 127.0.0.1; the per-address limit on sign-in attempts is tested elsewhere.
            "MEDIANEST_LOGIN_RATE_LIMIT": "1000/minute",
            "PYTHONPATH": os.pathsep.join([str(site), str(Path(__file__).parent)]),
        },
    )
    done = run_cli("user", "create-admin", ADMIN[0], env=env, stdin=ADMIN[1] + "\n")
    assert done.returncode == 0, done.stderr
    with Server(env, root / "serve.log") as srv:
        yield srv


def test_sign_in_shows_the_dashboard(server: Server, medianest_browsing: Browsing) -> None:
    who = server.new_user()
    page = medianest_browsing.page()
    page.goto(server.url + "/profile")
    expect(page).to_have_url(re.compile(r"/login\?next=(%2F|/)profile$"))

    page.get_by_label("Username").fill(who[0])
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    expect(page.get_by_label("Username")).to_have_value(who[0])  # what was typed stays

    page.get_by_label("Password").fill(who[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(server.url + "/profile")  # back where they were going
    page.get_by_role("link", name="Home").first.click()
    expect(page.get_by_role("heading", name=f"Hello, {who[0]}")).to_be_visible()
    expect(page.locator("section.card", has=page.get_by_role("heading", name="Connections"))).to_be_visible()
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    expect(page.get_by_role("navigation", name="Main", exact=True).get_by_role("link", name="Admin")).to_have_count(0)


@pytest.mark.parametrize("asked", ["/%5Cevil.example/", "/%09/evil.example/", "/%2F%2Fevil.example/"])
def test_signing_in_never_leads_to_another_site(server: Server, medianest_browsing: Browsing, asked: str) -> None:
    who = server.new_user()
    page = medianest_browsing.page()
    left: list[str] = []
    page.on("request", lambda request: left.append(request.url) if urlsplit(request.url).port != server.port else None)
    page.goto(server.url + "/login?next=" + asked)
    page.get_by_label("Username").fill(who[0])
    page.get_by_label("Password").fill(who[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(server.url + "/")
    assert left == []


def test_a_notification_arrives_without_reload(server: Server, medianest_browsing: Browsing) -> None:
    who = server.new_user()
    page = medianest_browsing.page()
    browser_sign_in(page, server, who)
    page.evaluate("window.__stillHere = true")
    expect(page.locator("#unread-badge")).to_be_hidden()

    admin = medianest_browsing.page()
    browser_sign_in(admin, server, ADMIN)
    admin.goto(server.url + "/admin")
    admin.get_by_label("Title").fill("Movie night on Friday")
    admin.get_by_label("Message").fill("Bring snacks.")
    admin.get_by_role("button", name="Send to everyone").click()
    expect(admin.locator("#announced")).to_be_visible()

    toast = page.locator("#toasts .toast")
    expect(toast).to_contain_text("Movie night on Friday")
    expect(toast).to_contain_text("Bring snacks.")
    expect(page.locator("#unread-badge")).to_have_text("1")
    assert page.evaluate("window.__stillHere") is True

    page.get_by_role("link", name=re.compile(r"^Notifications, 1 unread")).click()
    item = page.locator("#notification-list li.unread")
    expect(item).to_contain_text("Movie night on Friday")
    item.get_by_role("button", name="Mark as read").click()
    expect(page.locator("#notification-list li.unread")).to_have_count(0)
    expect(page.locator("#unread-badge")).to_be_hidden()


def test_admin_changes_a_role_and_it_takes_effect(server: Server, medianest_browsing: Browsing) -> None:
    who = server.new_user()
    person = medianest_browsing.page()
    browser_sign_in(person, server, who)
    person.goto(server.url + "/admin/users")
    expect(person.get_by_role("heading", name="You do not have access to this page")).to_be_visible()

    admin = medianest_browsing.page()
    browser_sign_in(admin, server, ADMIN)
    admin.goto(server.url + "/admin/users?q=" + who[0])
    admin.get_by_role("link", name=who[0], exact=True).click()
    admin.get_by_label("Role").select_option("admin")
    with admin.expect_navigation():  # saved, and the page shows what is stored now
        admin.get_by_role("button", name="Save", exact=True).click()
    expect(admin.get_by_label("Role")).to_have_value("admin")
    admin.goto(server.url + "/admin/audit?action=user.updated")
    entry = admin.locator("tbody tr").first
    expect(entry).to_contain_text("user.updated")
    expect(entry).to_contain_text("role: user → admin")

    person.reload()
    expect(person.get_by_role("heading", name=re.compile(r"^Users"))).to_be_visible()
    expect(person.get_by_role("navigation", name="Main", exact=True).get_by_role("link", name="Admin")).to_be_visible()


def test_revoking_a_session_signs_that_browser_out(server: Server, medianest_browsing: Browsing) -> None:
    who = server.new_user()
    laptop = medianest_browsing.page()
    browser_sign_in(laptop, server, who)
    phone = medianest_browsing.page(PHONE, is_mobile=True, has_touch=True)
    browser_sign_in(phone, server, who)

    laptop.goto(server.url + "/profile")
    rows = laptop.locator("tr[data-session]")
    expect(rows).to_have_count(2)
    other = rows.filter(has_not=laptop.get_by_text("This device"))
    other.get_by_role("button", name="End session").click()
    expect(laptop.locator("tr[data-session]")).to_have_count(1)

    # The phone is told over its live connection and goes to the sign-in page by itself.
    expect(phone).to_have_url(re.compile(r"/login\?signed_out=1"))
    expect(phone.get_by_text("You are signed out.")).to_be_visible()
    phone.goto(server.url + "/")
    expect(phone).to_have_url(re.compile(r"/login"))


def test_notices_on_a_phone_leave_the_page_usable(server: Server, medianest_browsing: Browsing) -> None:
    who = server.new_user()
    page = medianest_browsing.page(PHONE, is_mobile=True, has_touch=True)
    browser_sign_in(page, server, who)
    long = "Cannot connect to host 127.0.0.1:1 ssl:default [Connect call failed ('127.0.0.1', 1)]. " * 3
    for n in range(1, 6):
        page.evaluate("([title, body]) => window.MediaNest.toast({title, body, level: 'error'})", [f"Notice {n}", long])

    # Three at most, the newest; each two lines of its text at most, together well under half the screen.
    toasts = page.locator("#toasts .toast")
    expect(toasts).to_have_count(3)
    expect(toasts.first).to_contain_text("Notice 3")
    holder = page.locator("#toasts").bounding_box()
    assert holder is not None
    assert holder["height"] < PHONE["height"] / 3, holder
    # One tap closes one.
    toasts.first.tap()
    expect(toasts).to_have_count(2)
    expect(toasts.first).to_contain_text("Notice 4")


def test_phone_layout_navigates_with_the_bottom_bar(server: Server, medianest_browsing: Browsing) -> None:
    who = server.new_user()
    page = medianest_browsing.page(PHONE, is_mobile=True, has_touch=True)
    browser_sign_in(page, server, who)
    expect(page.get_by_role("navigation", name="Main", exact=True)).to_be_hidden()
    bar = page.get_by_role("navigation", name="Main (compact)")
    expect(bar).to_be_visible()

    more = bar.get_by_text("More", exact=True)
    more.click()
    bar.get_by_role("link", name="Guide").click()
    expect(page).to_have_url(server.url + "/guide")
    expect(page.get_by_role("heading", name="Welcome!")).to_be_visible()
    expect(bar.locator("a[href='/guide']")).to_have_attribute("aria-current", "page")
    expect(bar.locator("summary")).to_have_class(re.compile(r"\bcurrent\b"))
    more.click()
    bar.get_by_role("link", name="Me", exact=True).click()
    expect(page.get_by_role("heading", name="Where you are signed in")).to_be_visible()
    box = page.get_by_role("heading", name="Where you are signed in").bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= PHONE["width"]
    page.get_by_role("searchbox", name="Search the library and more").fill("alien")
    page.keyboard.press("Enter")
    expect(page).to_have_url(server.url + "/search?q=alien")
    expect(bar.get_by_role("link", name="Search")).to_have_attribute("aria-current", "page")


def test_admin_saves_a_persons_allowance(server: Server, medianest_browsing: Browsing) -> None:
    """A quota's name holds a dot ("rationed.things"): the allowance is saved under it, not split into parts."""
    who = server.new_user()
    admin = medianest_browsing.page()
    browser_sign_in(admin, server, ADMIN)
    admin.goto(server.url + "/admin/users?q=" + who[0])
    admin.get_by_role("link", name=who[0], exact=True).click()
    admin.get_by_label("Things per hour").fill("5")
    with admin.expect_navigation():  # saved, and the page shows what is stored now
        admin.get_by_role("button", name="Save allowances").click()
    expect(admin.get_by_label("Things per hour")).to_have_value("5")
    expect(admin.get_by_role("alert")).to_be_hidden()

    person = medianest_browsing.page()
    browser_sign_in(person, server, who)
    person.goto(server.url + "/profile")
    expect(person.locator("[data-quota='rationed.things']")).to_contain_text("5 of 5 left")


def test_a_user_added_by_the_admin_is_an_ordinary_person_unless_chosen(
    server: Server, medianest_browsing: Browsing
) -> None:
    admin = medianest_browsing.page()
    browser_sign_in(admin, server, ADMIN)
    admin.goto(server.url + "/admin/users")
    form = admin.locator("form", has=admin.get_by_role("button", name="Add user"))
    expect(form.get_by_label("Role")).to_have_value("user")
    name = f"added{os.getpid()}"
    form.get_by_label("Username").fill(name)
    form.get_by_label("Password").fill("added-password-123")
    with admin.expect_navigation():
        form.get_by_role("button", name="Add user").click()
    admin.goto(server.url + "/admin/users?q=" + name)
    expect(admin.get_by_role("row", name=re.compile(name))).to_contain_text("user")
    expect(admin.get_by_role("row", name=re.compile(name))).not_to_contain_text("admin")


@pytest.mark.parametrize("width", [320, 390])
def test_the_phones_bottom_bar_fits_and_reaches_everything(
    server: Server, medianest_browsing: Browsing, width: int
) -> None:
    """At 320 and 390 px, as an admin (the most destinations), the bar fits the screen, every destination of the
    desktop's navigation is one tap away, and the place of the page shown is highlighted where it can be seen."""
    desk = medianest_browsing.page()
    browser_sign_in(desk, server, ADMIN)
    wanted = (
        desk.get_by_role("navigation", name="Main", exact=True)
        .locator("a")
        .evaluate_all(
            "links => links.map(a => a.getAttribute('href')).filter(h => h.startsWith('/') && !h.startsWith('/admin/'))"
        )
    )
    assert "/admin" in wanted

    page = medianest_browsing.page({"width": width, "height": 740}, is_mobile=True, has_touch=True)
    browser_sign_in(page, server, ADMIN)
    bar = page.get_by_role("navigation", name="Main (compact)")
    expect(bar).to_be_visible()
    assert bar.evaluate("nav => nav.scrollWidth <= nav.clientWidth")
    for item in bar.locator(":scope > ul > li").all():
        box = item.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= width
    more = bar.get_by_text("More", exact=True)
    more.click()
    reached = bar.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert set(wanted) | {"/profile"} <= set(reached)
    for link in bar.locator("a").all():
        expect(link).to_be_visible()  # the list opened above the bar, on the screen
        box = link.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= width

    bar.get_by_role("link", name="Admin").click()
    expect(page).to_have_url(server.url + "/admin")
    expect(bar.locator("summary")).to_have_class(re.compile(r"\bcurrent\b"))  # "More" holds the page shown
    expect(bar.locator("summary")).to_be_in_viewport()
    page.goto(server.url + "/")
    expect(bar.get_by_role("link", name="Home")).to_have_attribute("aria-current", "page")
    expect(bar.get_by_role("link", name="Home")).to_be_in_viewport()


def test_a_quota_exceeded_page(server: Server, medianest_browsing: Browsing) -> None:
    who = server.new_user()
    page = medianest_browsing.page()
    browser_sign_in(page, server, who)
    for _ in range(2):
        page.goto(server.url + "/rationed/thing")
        expect(page.get_by_role("heading", name="A thing")).to_be_visible()
    response = page.goto(server.url + "/rationed/thing")
    assert response is not None
    assert response.status == 429
    expect(page.get_by_role("heading", name="Slow down a little")).to_be_visible()
    expect(page.get_by_text(re.compile(r"You can try again in \d+ (min|h)"))).to_be_visible()
    expect(page.get_by_role("navigation", name="Main", exact=True)).to_be_visible()  # still in the layout

    page.goto(server.url + "/profile")
    quota = page.locator("[data-quota='rationed.things']")
    expect(quota).to_contain_text("0 of 2 left")
    expect(quota.get_by_role("meter")).to_have_attribute("aria-valuenow", "2")


def test_friendly_pages_and_the_theme(server: Server, medianest_browsing: Browsing) -> None:
    page = medianest_browsing.page(color_scheme="dark")
    response = page.goto(server.url + "/no/such/page")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()

    browser_sign_in(page, server, server.new_user())
    html = page.locator("html")
    expect(html).not_to_have_attribute("data-theme", re.compile(".*"))
    page.get_by_role("button", name="Use the light theme").click()
    expect(html).to_have_attribute("data-theme", "light")
    page.reload()
    expect(html).to_have_attribute("data-theme", "light")  # the choice is kept
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(246, 247, 249)"


def test_admin_tests_and_saves_a_services_settings(server: Server, medianest_browsing: Browsing) -> None:
    page = medianest_browsing.page()
    browser_sign_in(page, server, ADMIN)
    page.goto(server.url + "/admin/services")
    section = page.locator("#service-greeter")
    key = section.get_by_label("API key")
    expect(key).to_have_attribute("type", "password")
    expect(key).to_have_attribute("placeholder", "not set")
    key.fill("wrong")
    section.get_by_role("button", name="Test connection").click()
    expect(section.locator(".test-result")).to_have_text(re.compile(r"^down · \d+ ms · the greeter refused the key$"))
    key.fill("open-sesame")
    section.get_by_label("Retries").fill("4")
    section.get_by_role("button", name="Test connection").click()
    expect(section.locator(".test-result")).to_have_text(re.compile(r"^up · \d+ ms · greeter says hello$"))
    with page.expect_navigation():
        section.get_by_role("button", name="Save Greeter").click()
    section = page.locator("#service-greeter")
    expect(section.get_by_label("API key")).to_have_value("")  # a secret is never shown again
    expect(section.get_by_label("API key")).to_have_attribute("placeholder", re.compile("^•+ \\(set"))
    expect(section.get_by_label("Retries")).to_have_value("4")
    expect(section.locator(".page-head .state")).to_have_text("loaded")  # restarted with them, nothing waits
    expect(section.get_by_text("wait for a restart")).to_have_count(0)


def test_the_live_connection_comes_back_and_the_page_catches_up(server: Server, medianest_browsing: Browsing) -> None:
    page = medianest_browsing.page()
    live: list[WebSocketRoute] = []
    reachable = [True]

    def route(ws: WebSocketRoute) -> None:
        if reachable[0]:
            ws.connect_to_server()
            live.append(ws)
        else:
            ws.close(code=1013, reason="try again later")

    page.route_web_socket(re.compile(r"/ws$"), route)
    browser_sign_in(page, server, server.new_user())
    expect(page.locator("#unread-badge")).to_be_hidden()

    # The connection drops (as when MediaNest restarts) and cannot come back for a while.
    reachable[0] = False
    live[-1].close(code=1001, reason="going away")
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-state", "reconnecting")
    expect(status).to_contain_text("Reconnecting")

    # Meanwhile something happens that the page cannot hear about.
    admin = medianest_browsing.page()
    browser_sign_in(admin, server, ADMIN)
    admin.goto(server.url + "/admin")
    admin.get_by_label("Title").fill("Missed while away")
    admin.get_by_role("button", name="Send to everyone").click()
    expect(admin.locator("#announced")).to_be_visible()
    expect(page.locator("#unread-badge")).to_be_hidden()

    # Back again: the page reconnects by itself and reads what it missed.
    reachable[0] = True
    expect(status).to_have_attribute("data-state", "live", timeout=20_000)
    expect(page.locator("#unread-badge")).to_have_text("1")
    expect(page.locator("#toasts .toast")).to_have_count(0)  # events in the gap are not replayed
