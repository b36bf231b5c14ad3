"""Someone whose MediaNest account signs in with a password, in a real browser (Debian's chromium driven by
Playwright) against a real ``medianest serve`` whose Plex is the fake: the dashboard asks nothing it is refused,
the Library page says how to browse and links their Plex account, search says Plex is not theirs to search.

Screenshots of the dashboard, the Library page and search are kept in ``test-artifacts/browser/<test>/``.
Chromium is never downloaded: without ``/usr/bin/chromium`` these tests are skipped, unless
``MEDIANEST_REQUIRE_BROWSER_TESTS`` is set, when they fail.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

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

from playwright.sync_api import Page, Response, expect  # noqa: E402

ADMIN = ("root", "root-password-123")


class Fakes(LoopThread):
    """The fake Plex on its own loop: two libraries, films and the YouTube one."""

    def __init__(self) -> None:
        super().__init__("fake-plex")
        self.plex = FakePlex(friendly_name="Alice's Plex")

        async def start() -> None:
            self.plex.add_section("1", "Films", "movie")
            self.plex.add_section("2", "YouTube", "movie")
            self.plex.add_item("1", "Alien", year=1979, guids=["tmdb://348"])
            self.plex.add_item("1", "Aliens", year=1986, guids=["tmdb://679"])
            self.plex.add_item("2", "Cooking with Ann")
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
    root = tmp_path_factory.mktemp("plex-people")
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
        plugins=["plex"],
    )
    done = run_cli("user", "create-admin", ADMIN[0], env=env, stdin=ADMIN[1] + "\n")
    assert done.returncode == 0, done.stderr
    with Server(env, root / "serve.log") as srv:
        yield srv


def refusals(responses: list[Response]) -> list[str]:
    return [f"{r.status} {r.url}" for r in responses if r.status >= 400]


def settle(page: Page) -> None:
    """Wait until the page's own requests, made as it starts, have been answered. Not "network idle": the cards of
    a dashboard are fetched again whenever their service is refreshed (every half second here)."""
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    page.wait_for_timeout(1_500)


def test_a_password_account_sees_how_to_browse_and_links_its_plex_account(
    server: Server, fakes: Fakes, medianest_browsing: Browsing
) -> None:
    who = server.new_user("carol")
    page = medianest_browsing.page()
    seen: list[Response] = []
    page.on("response", lambda response: seen.append(response))
    browser_sign_in(page, server, who)

    # The dashboard: the Plex card says how to browse, and nothing on the page is refused.
    card = page.locator("#card-plex-server")
    expect(card).to_contain_text("The library opens with a Plex account: Library, in the menu, says how.")
    settle(page)
    page.reload()
    expect(card).to_contain_text("The library opens with a Plex account")
    settle(page)
    assert refusals(seen) == []
    expect(card.get_by_role("link", name="Browse the library")).to_have_count(0)
    medianest_browsing.snap(page, "dashboard")

    # Library: what browsing needs, once, and the way to it.
    page.get_by_role("navigation", name="Main", exact=True).get_by_role("link", name="Library").click()
    expect(page.get_by_role("heading", name="Browse with your Plex account")).to_be_visible()
    expect(page.get_by_text("Sign in with Plex")).to_have_count(1)
    assert refusals(seen) == []
    medianest_browsing.snap(page, "library")

    phone = medianest_browsing.page(PHONE, is_mobile=True, has_touch=True)
    browser_sign_in(phone, server, who, then="/plex/")
    expect(phone.get_by_role("link", name="Sign in with Plex")).to_be_in_viewport()
    medianest_browsing.snap(phone, "library-phone")

    # Search: Plex is not theirs to search, which is no fault.
    page.goto(server.url + "/search?q=alien")
    notes = page.locator("#search-results .source-notes")
    expect(notes).to_have_text(
        "Plex: not available to you: sign in with Plex, on the Library page, to search the library."
    )
    expect(page.get_by_text("could not search")).to_have_count(0)
    medianest_browsing.snap(page, "search")

    # Linking their Plex account, from the Library page, brings them back to it, signed in as themselves.
    plex_carol = fakes.call(fakes.plex.add_account, "carol.plex")
    fakes.call(fakes.plex.share, plex_carol, ["1"])
    page.goto(server.url + "/plex/")
    page.get_by_role("link", name="Sign in with Plex").click()
    expect(page.get_by_role("heading", name="Link your Plex account")).to_be_visible()
    approve = page.get_by_role("link", name="Open Plex to approve").get_attribute("href") or ""
    code = re.search(r"code=([^&]+)", approve)
    assert code is not None, approve
    strong = fakes.call(lambda: next(pid for pid, pin in fakes.plex.pins.items() if pin["code"] == code[1]))
    fakes.call(fakes.plex.approve_pin, strong, plex_carol)
    expect(page).to_have_url(server.url + "/plex/", timeout=15_000)
    expect(page.get_by_role("link", name="Films")).to_be_visible()
    expect(page.get_by_role("link", name="YouTube")).to_have_count(0)
    page.goto(server.url + "/")
    expect(card.locator("dl.figures")).to_contain_text("Films")
    expect(card.locator("dl.figures")).not_to_contain_text("YouTube")
    expect(page.get_by_role("heading", name=re.compile(rf"Hello, {who[0]}"))).to_be_visible()
    settle(page)
    assert refusals(seen) == []
    medianest_browsing.snap(page, "dashboard-linked")
    assert Path(medianest_browsing.folder, "library.png").exists()
