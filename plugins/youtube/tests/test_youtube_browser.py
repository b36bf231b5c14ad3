"""The YouTube page in a real browser: Debian's chromium driven by Playwright, against a real ``medianest serve``
whose downloads run yt-dlp, offline, on short videos made with ffmpeg and served as feeds from 127.0.0.1.

Each test keeps screenshots of its key moments in ``test-artifacts/browser/<test>/``; a failing one also leaves a
screenshot and the HTML of every page it had open. Chromium is never downloaded: without ``/usr/bin/chromium`` these
tests are skipped, unless ``MEDIANEST_REQUIRE_BROWSER_TESTS`` is set, when they fail; likewise without ffmpeg and
``MEDIANEST_REQUIRE_MEDIA_TESTS``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
from medianest_youtube.fake import FeedItem, FeedServer, ffmpeg_available, make_media

from medianest_core.testing import PHONE, Browsing, LoopThread, Server, browser_sign_in, require_chromium, serve_env

require_chromium()
if not ffmpeg_available():
    if os.environ.get("MEDIANEST_REQUIRE_MEDIA_TESTS"):
        raise RuntimeError("media tests need ffmpeg on PATH (apt-get install ffmpeg)")
    pytest.skip("no ffmpeg on PATH (apt-get install ffmpeg)", allow_module_level=True)

from playwright.sync_api import FloatRect, Locator, Page, expect  # noqa: E402

COURSE = [
    FeedItem("Knife skills", "vid-1", "knife"),
    FeedItem("Stock", "vid-2", "stock"),
    FeedItem("Sauces", "vid-3", "sauce"),
]
PASTRY = [
    FeedItem("Crust", "vid-p1", "crust"),
    FeedItem("Filling", "vid-p2", "filling"),
    FeedItem("Glaze", "vid-p3", "glaze"),
]
LONG_TITLE = "Slow-cooked Sunday roasts, gravies and everything that goes with them — the complete series"


class Feeds(LoopThread):
    """A :class:`FeedServer` on its own event loop in a background thread: the Playwright sync API blocks the
    test's thread, and the server must keep answering yt-dlp meanwhile."""

    def __init__(self) -> None:
        super().__init__("feed-server")
        self.server: FeedServer = self.run(self._start())

    @staticmethod
    async def _start() -> FeedServer:
        server = FeedServer()
        await server.start()
        return server

    def close(self) -> None:
        self.run(self.server.stop())
        super().close()


@pytest.fixture(scope="module")
def feeds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Feeds]:
    """The videos, and feeds of them: ``course`` and ``pastry`` run a few seconds (each item is throttled),
    ``roast`` runs long enough to be cancelled, ``quick`` is done at once."""
    folder = tmp_path_factory.mktemp("clips")
    feeds = Feeds()
    try:
        for name in ("knife", "stock", "sauce", "crust", "filling", "glaze"):
            # About 17 kB each, at 12 kB/s: the download takes a few seconds, with progress every half second.
            feeds.call(feeds.server.add_media, name, make_media(folder, name, seconds=1.0), rate=12_000)
        feeds.call(feeds.server.add_media, "roast", make_media(folder, "roast", seconds=2.0), rate=2_000)
        feeds.call(feeds.server.add_media, "bite", make_media(folder, "bite", seconds=0.5))
        feeds.call(feeds.server.add_feed, "course", "Cooking Basics", COURSE)
        feeds.call(feeds.server.add_feed, "pastry", "Pastry Basics", PASTRY)
        feeds.call(feeds.server.add_media, "gone-1", make_media(folder, "gone-1", seconds=0.5), status=403)
        feeds.call(feeds.server.add_feed, "gone", "Lost lessons", [FeedItem("Gone for good", "gone-1", "gone-1")])
        feeds.call(feeds.server.add_feed, "roast", "Sunday Roast", [FeedItem("The roast", "vid-r", "roast")])
        feeds.call(feeds.server.add_feed, "quick", LONG_TITLE, [FeedItem("A quick bite", "vid-q", "bite")])
        yield feeds
    finally:
        feeds.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, feeds: Feeds) -> Iterator[Server]:
    """One ``medianest serve`` for the module with the youtube plugin, which may read the feeds; no Plex."""
    root = tmp_path_factory.mktemp("youtube-browser")
    env = serve_env(
        root / "data",
        {
            "MEDIANEST_LOGIN_RATE_LIMIT": "1000/minute",
            "MEDIANEST_YOUTUBE_LIBRARY_ROOT": str(root / "library"),
            "MEDIANEST_YOUTUBE_ALLOWED_HOSTS": feeds.server.base_url.removeprefix("http://"),
            "MEDIANEST_YOUTUBE_EXTRACTORS": "generic",
            "MEDIANEST_YOUTUBE_FREE_SPACE_FLOOR_MB": "0",
        },
        plugins=["youtube"],
    )
    with Server(env, root / "serve.log") as srv:
        yield srv


def open_youtube(page: Page, server: Server) -> None:
    """Sign in as a new person and open the YouTube page, its live connection up."""
    browser_sign_in(page, server, server.new_user("cook"), "/youtube/")
    expect(page.get_by_role("heading", name="YouTube", exact=True)).to_be_visible()


def box_of(element: Locator) -> FloatRect:
    box = element.bounding_box()
    assert box is not None, f"{element} is not shown"
    return box


def edges(field: Locator) -> tuple[int, int]:
    """Where ``field`` starts and ends, top to bottom, in whole pixels."""
    box = box_of(field)
    return round(box["y"]), round(box["y"] + box["height"])


def within_phone_width(element: Locator) -> None:
    box = box_of(element)
    assert box["x"] >= 0, box
    assert box["x"] + box["width"] <= PHONE["width"], box


def preview(page: Page, url: str) -> None:
    page.get_by_label("Link").fill(url)
    page.get_by_role("button", name="Preview").click()


def test_a_playlist_is_previewed_downloaded_and_followed_live(
    server: Server, feeds: Feeds, medianest_browsing: Browsing
) -> None:
    page = medianest_browsing.page()
    open_youtube(page, server)
    page.evaluate("window.__stillHere = true")
    expect(page.get_by_text("No downloads yet.")).to_be_visible()
    medianest_browsing.snap(page, "1-empty")

    preview(page, feeds.server.base_url + "/feeds/course.xml")
    shown = page.locator("#yt-preview")
    expect(shown.get_by_role("heading", name="Cooking Basics")).to_be_visible()
    expect(shown).to_contain_text("3 videos")
    expect(shown.get_by_role("listitem")).to_have_text(["Knife skills", "Stock", "Sauces"])
    expect(page.get_by_role("button", name="Download")).to_be_focused()
    medianest_browsing.snap(page, "2-preview")

    page.get_by_role("button", name="Download").click()
    toast = page.locator("#toasts .toast")
    expect(toast).to_contain_text("Download queued")
    expect(toast).to_contain_text("Cooking Basics")
    expect(shown).to_be_hidden()
    expect(page.get_by_label("Link")).to_have_value("")
    rows = page.locator("#yt-list > li")
    expect(rows).to_have_count(1)
    row = rows.first
    expect(row.get_by_role("heading")).to_have_text("Cooking Basics")
    expect(page.get_by_text("No downloads yet.")).to_be_hidden()

    # The bar and the figures follow the download as it goes from one video to the next.
    bar = row.get_by_role("progressbar", name="Progress of Cooking Basics")
    figures = row.locator('[data-role="figures"]')
    expect(row.locator('[data-role="state"]')).to_have_text("Downloading")
    expect(figures).to_contain_text(re.compile(r"Item 2 of 3: Stock · \d+"))
    at_stock = float(bar.evaluate("bar => bar.value"))
    medianest_browsing.snap(page, "3-downloading")
    expect(figures).to_contain_text(re.compile(r"Item 3 of 3: Sauces · \d+"), timeout=15_000)
    at_sauces = float(bar.evaluate("bar => bar.value"))
    assert round(1 / 3, 4) <= at_stock < round(2 / 3, 4) <= at_sauces <= 1, (at_stock, at_sauces)

    # There is no Plex here: the videos are downloaded and wait for it.
    expect(row.locator('[data-role="state"]')).to_have_text("Waiting for Plex", timeout=15_000)
    expect(row).to_contain_text("Plex could not take it yet; MediaNest tries again by itself")
    expect(bar).to_have_count(0)
    expect(row.get_by_role("button", name="Cancel")).to_be_visible()
    expect(row.get_by_role("button", name="Try Plex now")).to_be_visible()
    assert page.evaluate("window.__stillHere") is True  # all of it without a reload
    medianest_browsing.snap(page, "4-waiting")

    page.reload()
    row = page.locator("#yt-list > li").first
    expect(row.get_by_role("heading")).to_have_text("Cooking Basics")
    expect(row.locator('[data-role="state"]')).to_have_text("Waiting for Plex")
    expect(row.locator('[data-role="figures"]')).to_contain_text("3 of 3 downloaded")
    row.get_by_role("button", name="Items").click()
    expect(row.locator('[data-role="items"] li')).to_have_text(
        [re.compile(rf"^{title} — downloaded \(\d+ KB\)$") for title in ("Knife skills", "Stock", "Sauces")]
    )
    medianest_browsing.snap(page, "5-reloaded-with-items")


def test_a_refused_link_and_a_cancelled_download(server: Server, feeds: Feeds, medianest_browsing: Browsing) -> None:
    context = medianest_browsing.context()
    page = context.new_page()
    open_youtube(page, server)

    link = page.get_by_label("Link")
    row_of_fields = [link, page.get_by_label("Quality"), page.get_by_role("button", name="Preview")]
    before = [edges(field) for field in row_of_fields]
    assert len(set(before)) == 1, f"the link, the quality and the button are not level: {before}"

    preview(page, "https://evil.example/playlist?list=PL123")
    expect(page.locator("#e-url")).to_have_text(re.compile(r"^Only links to these sites can be downloaded"))
    expect(link).to_have_attribute("aria-invalid", "true")
    expect(link).to_be_focused()
    assert [edges(field) for field in row_of_fields] == before, "the error under the link moved the other fields"
    expect(page.locator("#yt-preview")).to_be_hidden()
    expect(page.locator("#yt-list > li")).to_have_count(0)
    expect(page.get_by_text("No downloads yet.")).to_be_visible()
    medianest_browsing.snap(page, "1-refused")

    preview(page, feeds.server.base_url + "/feeds/roast.xml")
    expect(page.locator("#e-url")).to_be_hidden()  # the error goes with a good link
    expect(link).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#yt-preview")).to_contain_text("1 video")
    page.get_by_role("button", name="Download").click()
    row = page.locator("#yt-list > li").first
    expect(row.locator('[data-role="figures"]')).to_contain_text("Item 1 of 1: The roast")

    # The same person has the page open in another tab: it hears of the cancel over its live connection.
    other = context.new_page()
    other.goto(server.url + "/youtube/")
    expect(other.locator("#live-status")).to_have_attribute("data-state", "live")
    elsewhere = other.locator("#yt-list > li").first
    expect(elsewhere.locator('[data-role="state"]')).to_have_text("Downloading")
    medianest_browsing.snap(page, "2-running")

    row.get_by_role("button", name="Cancel").click()
    expect(row.locator('[data-role="state"]')).to_have_text("Cancelled")
    expect(row.get_by_role("progressbar")).to_have_count(0)
    expect(row.get_by_role("button", name="Resume")).to_be_visible()
    expect(row.get_by_role("button", name="Delete")).to_be_visible()
    expect(elsewhere.locator('[data-role="state"]')).to_have_text("Cancelled")
    expect(elsewhere.get_by_role("button", name="Resume")).to_be_visible()
    medianest_browsing.snap(page, "3-cancelled")

    # Stopping takes the worker a moment; what it reports meanwhile does not bring the row back.
    page.wait_for_timeout(1_000)
    expect(row.locator('[data-role="state"]')).to_have_text("Cancelled")
    expect(page.locator("#yt-list > li")).to_have_count(1)

    # Deleting asks first, in the page; "Delete" is never the first of the row's buttons.
    expect(row.locator(".yt-actions button").first).not_to_have_text("Delete")
    row.get_by_role("button", name="Delete").click()
    question = page.get_by_role("dialog")
    expect(question).to_contain_text("and its files?")
    question.get_by_role("button", name="Cancel").click()
    expect(page.locator("#yt-list > li")).to_have_count(1)
    row.get_by_role("button", name="Delete").click()
    question.get_by_role("button", name="Delete").click()
    expect(page.locator("#yt-list > li")).to_have_count(0)


def test_the_page_on_a_phone_in_both_themes(server: Server, feeds: Feeds, medianest_browsing: Browsing) -> None:
    page = medianest_browsing.page(PHONE, is_mobile=True, has_touch=True, color_scheme="dark")
    open_youtube(page, server)

    def fits() -> None:
        widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"

    fits()
    link, quality = page.get_by_label("Link"), page.get_by_label("Quality")
    preview_button = page.get_by_role("button", name="Preview")
    for field in (link, quality, preview_button):
        within_phone_width(field)
    medianest_browsing.snap(page, "1-dark-empty")

    link.tap()
    link.fill(feeds.server.base_url + "/feeds/quick.xml")
    quality.select_option(label="Audio only")
    preview_button.tap()
    expect(page.locator("#yt-preview")).to_contain_text(LONG_TITLE)
    fits()
    medianest_browsing.snap(page, "2-dark-preview")
    page.get_by_role("button", name="Download").tap()
    row = page.locator("#yt-list > li").first
    expect(row.locator('[data-role="state"]')).to_have_text("Waiting for Plex", timeout=20_000)
    expect(row.locator(".yt-meta")).to_contain_text("audio")
    fits()
    title, state = box_of(row.get_by_role("heading")), box_of(row.locator('[data-role="state"]'))
    assert title["x"] + title["width"] <= state["x"], f"the long title runs into the state: {title}, {state}"
    for button in row.get_by_role("button").all():
        within_phone_width(button)
    page.evaluate("document.getElementById('toasts').replaceChildren()")  # they would hide the row in the picture
    row.get_by_role("button", name="Items").scroll_into_view_if_needed()
    medianest_browsing.snap(page, "3-dark-row", full_page=False)

    page.get_by_role("button", name="Use the light theme").tap()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    fits()
    medianest_browsing.snap(page, "4-light-row", full_page=False)


def test_one_click_on_download_fetches_its_row_once(server: Server, feeds: Feeds, medianest_browsing: Browsing) -> None:
    page = medianest_browsing.page()
    open_youtube(page, server)
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url) if "/youtube/rows/" in request.url else None)

    preview(page, feeds.server.base_url + "/feeds/pastry.xml")
    expect(page.locator("#yt-preview")).to_contain_text("3 videos")
    page.get_by_role("button", name="Download").click()
    row = page.locator("#yt-list > li").first
    figures = row.locator('[data-role="figures"]')
    # Many progress reports arrive while the three videos come in, each changing the bar in place.
    expect(figures).to_contain_text(re.compile(r"Item 3 of 3: Glaze · \d+"), timeout=15_000)
    expect(row.locator('[data-role="state"]')).to_have_text("Downloading")
    assert len(fetched) == 1, fetched
    medianest_browsing.snap(page, "1-downloading")

    # Past the download, the row is fetched again only when what it shows changes: added to Plex, then waiting.
    expect(row.locator('[data-role="state"]')).to_have_text("Waiting for Plex", timeout=15_000)
    page.wait_for_timeout(1_000)
    assert len(fetched) <= 3, fetched
    assert len(set(fetched)) == 1, fetched


@pytest.mark.parametrize("viewport", [{"width": 1366, "height": 900}, PHONE], ids=["desktop", "phone"])
def test_a_refused_video_reads_as_a_sentence(
    server: Server, feeds: Feeds, medianest_browsing: Browsing, viewport: Any
) -> None:
    page = medianest_browsing.page(viewport)
    open_youtube(page, server)
    preview(page, feeds.server.base_url + "/feeds/gone.xml")
    expect(page.locator("#yt-preview")).to_contain_text("1 video")
    page.get_by_role("button", name="Download").click()
    row = page.locator("#yt-list > li").first
    expect(row.locator('[data-role="state"]')).to_have_text("Failed", timeout=15_000)
    said = "The video could not be downloaded. YouTube refused this video (HTTP 403). It may be private or removed"
    expect(row.locator(".yt-error")).to_contain_text(said)
    row.get_by_role("button", name="Items", exact=True).click()
    expect(row.locator('[data-role="items"] li')).to_contain_text("Gone for good — failed: YouTube refused this video")
    for raw in ("[generic]", "caused by", "HTTPError", "Forbidden"):
        expect(page.locator("#yt-list")).not_to_contain_text(raw)
    page.evaluate("document.getElementById('toasts').replaceChildren()")
    medianest_browsing.snap(page, "1-refused")
