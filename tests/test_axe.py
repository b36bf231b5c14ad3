"""Every page a person reaches from the navigation, checked by axe-core in a real browser: Debian's chromium driven
by Playwright, against a real ``medianest serve`` whose Plex, TMDB, Overseerr and Uptime Kuma are the fakes, on
127.0.0.1, with the YouTube plugin on and a plugin whose service is down; an announcement is unread, a request made
and a monitor down, so that the pages show what they show on a lived-in site.

axe-core is a test asset (``tests/assets/axe-core/``, see its README), never fetched at run time. Each case is one
kind of viewer (the admin, an ordinary person) in one theme (dark, light): one browser context opens every page in
turn on a desktop, another the navigation's destinations on a phone; a case fails listing each rule broken with its
element and the pages where it is. A failing case also leaves a screenshot and the HTML of the pages it had open in
``test-artifacts/browser/<test>/``. Chromium is never downloaded: without ``/usr/bin/chromium`` these tests are
skipped, unless ``MEDIANEST_REQUIRE_BROWSER_TESTS`` is set, when they fail.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import attrs
import pytest
from conftest import install_fake_distribution
from medianest_overseerr.fake import FakeUser
from medianest_uptime_kuma.client import MonitorStatus
from medianest_uptime_kuma.fake import FakeUptimeKuma
from test_api_walk import FakePlexThread
from test_browser import ADMIN

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

from playwright.sync_api import Page, expect  # noqa: E402

AXE = Path(__file__).parent / "assets" / "axe-core" / "axe.min.js"
RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
THEMES = ["dark", "light"]
ROLES = ["admin", "user"]
EXTRA = ["/search?q=alien", "/no/such/page"]
"""Pages checked besides those the navigation leads to: a search with results, and a page that is not there."""
SKIPPED = ("/api/", "/static/", "/logout")
"""Links that do not lead to pages."""

RUN_AXE = """async rules => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: rules}, resultTypes: ['violations']});
  return result.violations.map(v => ({id: v.id, help: v.help, targets: v.nodes.map(n => n.target.join(' '))}));
}"""


class Kuma(LoopThread):
    """A fake Uptime Kuma on its own event loop, with a status page "home" of two monitors."""

    def __init__(self) -> None:
        super().__init__("fake-kuma")
        self.fake: FakeUptimeKuma = self.run(self._start())

    @staticmethod
    async def _start() -> FakeUptimeKuma:
        fake = FakeUptimeKuma()
        plex = fake.add_monitor("Plex", url="http://plex.lan:32400", ping=18)
        website = fake.add_monitor("Family website", url="https://example.org", ping=120, cert_days=20)
        backups = fake.add_monitor("Backups", url="http://nas.lan:8080", ping=40)
        for _ in range(30):
            fake.advance(minutes=1)
        fake.set_status(backups.id, MonitorStatus.DOWN, msg="connection refused")
        fake.advance(minutes=1)
        fake.add_status_page("home", "Home", {"Media": [plex], "Web": [website, backups]})
        await fake.start()
        return fake

    def close(self) -> None:
        self.run(self.fake.stop())
        super().close()


@attrs.frozen
class Site:
    server: Server
    people: dict[str, tuple[str, str]]


OUTAGE_PLUGIN = """
from medianest_core import Card, CardData, CardState, HealthCheck, HealthResult, hookimpl


class Backups:
    name = "backups"
    version = "1.0"

    @hookimpl
    def dashboard_cards(self):
        async def load():
            return CardData(CardState.OK, figures={"Copies": 3})

        return [Card("copies", "Backups", load)]

    @hookimpl
    def health_checks(self):
        async def check():
            raise ConnectionError("the backup server refused the connection")

        return [HealthCheck("service", check, interval=0.2, timeout=1)]


plugin = Backups()
"""
"""A plugin whose service is down: its card on the dashboard is greyed out."""


def call(
    server: Server, path: str, body: Any = None, session: tuple[str, str] | None = None, method: str = "POST"
) -> Any:
    """A JSON call (as ``session``: its cookie and CSRF token); the answer, which must be a success."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if session is not None:
        request.add_header("Cookie", session[0])
        request.add_header("X-CSRF-Token", session[1])
    try:
        resp = urllib.request.urlopen(request, timeout=15)
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{path}: {exc.code} {exc.read()!r}") from None
    with resp:
        cookie = SimpleCookie(resp.headers.get("Set-Cookie", ""))
        answer = json.loads(resp.read() or b"null")
    if "medianest_session" in cookie:
        answer["cookie"] = f"medianest_session={cookie['medianest_session'].value}"
    return answer


def signed_in(server: Server, who: tuple[str, str]) -> tuple[tuple[str, str], int]:
    """A session of ``who`` (its cookie and CSRF token), and their id."""
    answer = call(server, "/api/v1/auth/login", {"username": who[0], "password": who[1]})
    return (answer["cookie"], answer["csrf_token"]), answer["user"]["id"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One ``medianest serve`` with every plugin set up against the fakes and one whose service is down, an admin
    and an ordinary person, something for each page to show: an announcement unread, a request, a monitor down."""
    root = tmp_path_factory.mktemp("axe")
    install_fake_distribution(
        root / "site", "medianest-backups", {"backups": "backups_plugin:plugin"}, {"backups_plugin": OUTAGE_PLUGIN}
    )
    fakes = FakePlexThread()
    kuma = Kuma()

    async def add_overseerr_user() -> FakeUser:  # on the fakes' own loop, like every request they answer
        return fakes.overseerr.add_user("friend", email="friend@example.org")

    overseerr_user = fakes.run(add_overseerr_user())
    try:
        env = serve_env(
            root / "data",
            {
                "PYTHONPATH": os.pathsep.join([str(root / "site"), str(Path(__file__).parent)]),
                "MEDIANEST_LOGIN_RATE_LIMIT": "1000/minute",
                "MEDIANEST_API_RATE_LIMIT": "100000/minute",
                "MEDIANEST_UPTIME_KUMA_URL": kuma.fake.url,
                "MEDIANEST_UPTIME_KUMA_STATUS_PAGES": "home",
                "MEDIANEST_YOUTUBE_LIBRARY_ROOT": str(root / "library"),
                "MEDIANEST_YOUTUBE_FREE_SPACE_FLOOR_MB": "0",
                **fakes.settings(),
            },
        )
        done = run_cli("user", "create-admin", ADMIN[0], env=env, stdin=ADMIN[1] + "\n")
        assert done.returncode == 0, done.stderr
        with Server(env, root / "serve.log") as server:
            person = server.new_user()
            admin, _ = signed_in(server, ADMIN)
            call(server, "/api/v1/admin/announcements", {"title": "Movie night", "body": "On Friday."}, admin)
            session, person_id = signed_in(server, person)
            link = {"overseerr_user_id": overseerr_user.id}
            call(server, f"/api/v1/overseerr/links/{person_id}", link, admin, method="PUT")
            call(server, "/api/v1/overseerr/requests", {"kind": "movie", "tmdb_id": 348}, session)
            yield Site(server, {"admin": ADMIN, "user": person})
    finally:
        kuma.close()
        fakes.close()


def links(page: Page, where: str) -> list[str]:
    """The paths of this site that the links in ``where`` (CSS selectors, separated by commas) lead to, in order,
    once each."""
    within = ", ".join(f"{part} a[href^='/']:not([href^='//'])" for part in where.split(","))
    found: list[str] = page.locator(within).evaluate_all("links => links.map(a => a.getAttribute('href'))")
    return list(dict.fromkeys(found))


def shape(path: str) -> str:
    """A path with its numbers and ids made alike, so that one page of each kind is checked."""
    return re.sub(r"[0-9][^/?#]*|[^/?#]*[0-9][^/?#]*", "#", path.split("?")[0].split("#")[0])


def settle(page: Page) -> None:
    """Wait until what the page loads after it is drawn has arrived and nothing moves but what always does."""
    page.wait_for_load_state("networkidle")
    page.evaluate(
        """() => Promise.all(document.getAnimations()
            .filter(a => a.effect && a.effect.getComputedTiming().endTime !== Infinity)
            .map(a => a.finished.catch(() => null)))"""
    )


def violations(page: Page) -> list[dict[str, Any]]:
    settle(page)
    found: list[dict[str, Any]] = page.evaluate(RUN_AXE, RULES)
    return found


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("role", ROLES)
def test_every_page_passes_axe(site: Site, medianest_browsing: Browsing, role: str, theme: str) -> None:
    """No page breaks a rule of axe-core (WCAG 2.1 A and AA, and its best practices), for the admin and for an
    ordinary person, in the dark and in the light theme: signing in (and a wrong password), every destination of the
    navigation, one page of each kind that these link to, a page that is not there; on a phone, every destination
    again, with the bottom bar's "More" open once."""
    context = medianest_browsing.context(color_scheme=theme)
    context.add_cookies([{"name": "medianest_theme", "value": theme, "url": site.server.url}])
    context.add_init_script(path=AXE)
    page = context.new_page()
    broken: dict[tuple[str, str], list[str]] = {}

    def check(path: str, where: Page = page, what: str = "") -> None:
        if path:
            response = where.goto(site.server.url + path)
            assert response is not None
            assert response.status < 500, f"{path}: {response.status}"
        expect(where.locator("html")).to_have_attribute("data-theme", theme)
        shown = (path or where.url.removeprefix(site.server.url)) + what
        for found in violations(where):
            for target in found["targets"]:
                broken.setdefault((f"{found['id']} ({found['help']})", target), []).append(shown)

    check("/login?signed_out=1")
    page.get_by_label("Username").fill(site.people[role][0])
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    check("", what=" (a wrong password)")
    browser_sign_in(page, site.server, site.people[role])
    wanted = [path for path in links(page, "nav.sidebar, header.topbar, nav.bottombar") if path != "/login"]
    assert "/" in wanted
    assert ("/admin" in wanted) == (role == "admin")
    seen = {shape(path) for path in wanted}
    further: list[str] = []
    for path in wanted:
        check(path)
        for link in links(page, "main"):
            if shape(link) not in seen and not link.startswith(SKIPPED):
                seen.add(shape(link))
                further.append(link)
    for path in [*further, *EXTRA]:
        check(path)

    phone = medianest_browsing.context(
        PHONE, color_scheme=theme, is_mobile=True, has_touch=True, storage_state=context.storage_state()
    )
    phone.add_init_script(path=AXE)
    small = phone.new_page()
    for path in wanted:
        check(path, small, " (phone)")
    small.goto(site.server.url + "/")
    small.get_by_role("navigation", name="Main (compact)").get_by_text("More", exact=True).click()
    check("", small, " (phone, More open)")

    report = [f"{rule}: {target} on {', '.join(paths)}" for (rule, target), paths in sorted(broken.items())]
    assert not report, f"{len(report)} violations as {role} in the {theme} theme:\n" + "\n".join(report)


PALETTE = ["--bg", "--surface", "--surface-2", "--border", "--text", "--muted", "--accent", "--link", "--ok", "--warn"]


def theme_colours(page: Page) -> list[tuple[str, str | None]]:
    """The page's ``<meta name="theme-color">``: each one's colour and the media it applies to."""
    found: list[tuple[str, str | None]] = page.locator('meta[name="theme-color"]').evaluate_all(
        "metas => metas.map(m => [m.getAttribute('content'), m.getAttribute('media')])"
    )
    return [(colour, media) for colour, media in found]


def test_the_browsers_bars_take_the_colour_of_the_theme(site: Site, medianest_browsing: Browsing) -> None:
    """Until the person chooses, the browser's bars follow the system's theme, as the page does (with the same
    colours as the light theme when chosen); choosing a theme with the button colours them at once, and after."""
    page = medianest_browsing.page(color_scheme="light")
    browser_sign_in(page, site.server, site.people["user"])
    html = page.locator("html")
    expect(html).not_to_have_attribute("data-theme", re.compile(".*"))
    assert theme_colours(page) == [
        ("#14171c", "(prefers-color-scheme: dark)"),
        ("#f6f7f9", "(prefers-color-scheme: light)"),
    ]
    read = "names => names.map(n => getComputedStyle(document.documentElement).getPropertyValue(n).trim())"
    by_system = page.evaluate(read, PALETTE)
    page.evaluate("document.documentElement.setAttribute('data-theme', 'light')")
    assert page.evaluate(read, PALETTE) == by_system
    page.reload()

    page.get_by_role("button", name="Use the dark theme").click()
    expect(html).to_have_attribute("data-theme", "dark")
    assert theme_colours(page) == [("#14171c", None)]
    page.get_by_role("button", name="Use the light theme").click()
    expect(html).to_have_attribute("data-theme", "light")
    assert theme_colours(page) == [("#f6f7f9", None)]
    page.reload()
    assert theme_colours(page) == [("#f6f7f9", None)]
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(246, 247, 249)"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A ``medianest serve`` just installed: no admin yet, so it asks for its setup."""
    root = tmp_path_factory.mktemp("axe-fresh")
    with Server(
        serve_env(root / "data", {"MEDIANEST_LOGIN_RATE_LIMIT": "1000/minute"}, plugins=[]), root / "log"
    ) as srv:
        yield srv


@pytest.mark.parametrize("theme", THEMES)
def test_the_first_run_setup_passes_axe(fresh: Server, medianest_browsing: Browsing, theme: str) -> None:
    """Before there is an admin, the sign-in page (or where it leads) and the setup page break no rule of axe-core,
    as they open and once the setup page says what was wrong."""
    context = medianest_browsing.context(color_scheme=theme)
    context.add_cookies([{"name": "medianest_theme", "value": theme, "url": fresh.url}])
    context.add_init_script(path=AXE)
    page = context.new_page()
    page.goto(fresh.url + "/login")
    report = [f"{v['id']}: {', '.join(v['targets'])} ({page.url})" for v in violations(page)]
    page.goto(fresh.url + "/setup")
    expect(page.get_by_role("heading", name="Welcome! Create the admin account")).to_be_visible()
    report += [f"{v['id']}: {', '.join(v['targets'])}" for v in violations(page)]
    page.get_by_label("Setup token").fill("not the token")
    page.get_by_label("Admin username").fill("owner")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create the admin and sign in").click()
    expect(page.locator("#e-password")).to_have_text(re.compile(r"\d+ characters"))
    report += [f"{v['id']}: {', '.join(v['targets'])} (after a mistake)" for v in violations(page)]
    assert not report, "\n".join(report)


def contrast(foreground: str, background: str) -> float:
    """The contrast ratio of two colours given as ``rgb(r, g, b)``, as WCAG 2 defines it."""

    def luminance(colour: str) -> float:
        red, green, blue = (int(part) / 255 for part in re.findall(r"\d+", colour)[:3])
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (red, green, blue)]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("theme", THEMES)
def test_the_unread_count_is_readable(site: Site, medianest_browsing: Browsing, theme: str) -> None:
    """The count of unread notifications on the bell, which axe-core leaves undecided (one character), is
    4.5:1 or more against its badge."""
    context = medianest_browsing.context(color_scheme=theme)
    context.add_cookies([{"name": "medianest_theme", "value": theme, "url": site.server.url}])
    page = context.new_page()
    browser_sign_in(page, site.server, site.people["user"])
    badge = page.locator("#unread-badge")
    expect(badge).to_be_visible()
    colours = badge.evaluate("b => [getComputedStyle(b).color, getComputedStyle(b).backgroundColor]")
    assert contrast(*colours) >= 4.5, colours
