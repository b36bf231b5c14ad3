"""The requests page, the admin's page linking people to Overseerr users, and the dashboard card, as a person's
browser receives them: what each row says, who sees what, and what shows when Overseerr is not set up."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from html import unescape
from html.parser import HTMLParser
from typing import Any

import pytest
from medianest_overseerr import OverseerrPlugin
from medianest_overseerr.fake import FakeOverseerr
from medianest_overseerr.pages import day, time_left
from overseerr_harness import Person, Setup, setup

from medianest_core import keys
from medianest_core.testing import entry_point, sign_in

HTML = {"Accept": "text/html"}
DUNE = 438631
ALIEN = 348
THRONES = 1399


@pytest.fixture
async def fake() -> AsyncIterator[FakeOverseerr]:
    made = FakeOverseerr()
    made.add_movie(DUNE, "Dune", 2021)
    made.add_movie(ALIEN, "Alien", 1979, poster_path=None)
    made.add_tv(THRONES, "Game of Thrones", 2011, seasons={1: 10, 2: 10, 3: 10}, tvdb_id=121361)
    await made.start()
    yield made
    await made.stop()


class Rows(HTMLParser):
    """The rows of the requests list (``li.ov-row``): each one's text, buttons, links and poster."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []
        self._depth = 0
        self._button: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "li" and "ov-row" in (found.get("class") or "").split():
            self.rows.append({"id": found.get("data-id"), "text": [], "buttons": [], "links": [], "images": []})
            self._depth = 1
            return
        if not self._depth:
            return
        if tag == "li":
            self._depth += 1
        row = self.rows[-1]
        if tag == "button":
            self._button = []
        elif tag == "a":
            row["links"].append(found.get("href"))
        elif tag == "img":
            row["images"].append(found.get("src"))

    def handle_endtag(self, tag: str) -> None:
        if not self._depth:
            return
        if tag == "li":
            self._depth -= 1
        elif tag == "button" and self._button is not None:
            self.rows[-1]["buttons"].append(" ".join("".join(self._button).split()))
            self._button = None

    def handle_data(self, data: str) -> None:
        if self._depth:
            self.rows[-1]["text"].append(data)
            if self._button is not None:
                self._button.append(data)


def rows_of(page: str) -> list[dict[str, Any]]:
    parser = Rows()
    parser.feed(page)
    for row in parser.rows:
        row["text"] = " ".join("".join(row["text"]).split())
    return parser.rows


def text_of(page: str) -> str:
    """The page's words, tags left out, spaces collapsed."""
    body = re.sub(r"(?s)<(script|style|head)\b.*?</\1>", " ", page)
    body = re.sub(r"</?time[^>]*>", "", body)  # a <time> is read as part of its sentence
    words = " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())
    return re.sub(r" ([.,])", r"\1", words)


async def get_page(person: Person, path: str) -> tuple[int, str]:
    resp = await person.client.get(path, headers=HTML, allow_redirects=False)
    return resp.status, await resp.text()


async def requested(person: Person, kind: str, tmdb_id: int, **body: Any) -> dict[str, Any]:
    status, answer = await person.call(
        "POST", "/api/v1/overseerr/requests", json={"kind": kind, "tmdb_id": tmdb_id, **body}
    )
    assert status == 201, answer
    doc: dict[str, Any] = answer["request"]
    return doc


async def approve(fake: FakeOverseerr, request_id: int) -> None:
    import aiohttp

    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{fake.api_url}/request/{request_id}/approve", headers={"X-Api-Key": fake.api_key}) as resp,
    ):
        assert resp.status == 200, await resp.text()


async def people(medianest_client: Any, fake: FakeOverseerr) -> tuple[Setup, Person, Person]:
    s = await setup(medianest_client, fake)
    alice = await s.person("alice", plex_id=501)
    bob = await s.person("bob", plex_id=502)
    return s, alice, bob


# ---- one's requests ---------------------------------------------------------------------------------------------


async def test_ones_requests_show_poster_title_seasons_state_and_date_and_only_ones_own(
    medianest_client: Any, fake: FakeOverseerr
) -> None:
    s, alice, bob = await people(medianest_client, fake)
    thrones = await requested(alice, "tv", THRONES, seasons=[1, 2])
    alien = await requested(alice, "movie", ALIEN)
    await requested(bob, "movie", DUNE)
    await s.settle()

    status, page = await get_page(alice, "/overseerr/requests/")
    assert status == 200
    assert "<h1>Your requests</h1>" in page
    rows = rows_of(page)
    assert [row["id"] for row in rows] == [str(alien["id"]), str(thrones["id"])]  # newest first, Bob's not there
    alien_row, thrones_row = rows
    shown_day = day(thrones["created_at"])
    assert thrones_row["text"] == (
        f"Game of Thrones (2011) Pending approval Series · Seasons 1, 2 · Requested {shown_day} Cancel"
    )
    assert thrones_row["buttons"] == ["Cancel"]
    assert f"/titles/tv/{THRONES}" in thrones_row["links"]
    [poster] = thrones_row["images"]
    assert poster.startswith("/api/v1/overseerr/images/w342/p1399")
    assert poster.endswith(".jpg")
    assert alien_row["images"] == []  # no poster: a box instead
    assert 'class="ov-thumb no-poster"' in page
    assert "bob" not in text_of(page).lower()
    assert "Dune" not in page
    assert "Link people to Overseerr users" not in page  # for admins only

    # Only pending requests can be cancelled; an approved one says so without a Cancel button.
    await approve(fake, alien["overseerr_id"])
    await s.settle()
    status, page = await get_page(alice, "/overseerr/requests/")
    alien_row = rows_of(page)[0]
    assert alien_row["text"].startswith("Alien (1979) Approved Film · Requested")
    assert alien_row["buttons"] == []


async def test_downloading_shows_time_left_and_available_offers_watch_in_plex(
    medianest_client: Any, fake: FakeOverseerr
) -> None:
    s, alice, _ = await people(medianest_client, fake)
    dune = await requested(alice, "movie", DUNE)
    await approve(fake, dune["overseerr_id"])
    fake.make_processing("movie", DUNE)
    await s.settle()
    await s.service.refresh(dune["overseerr_id"])

    _, page = await get_page(alice, "/overseerr/requests/")
    [row] = rows_of(page)
    assert "Downloading Film · Requested" in row["text"]
    assert row["text"].endswith("Downloading — 20 min left")
    assert not any(link and link.startswith("https://") for link in row["links"])

    fake.make_available("movie", DUNE)
    await s.settle()
    _, page = await get_page(alice, "/overseerr/requests/")
    [row] = rows_of(page)
    assert row["text"].startswith("Dune (2021) Available Film · Requested")
    assert row["text"].endswith("Watch in Plex")
    [watch] = [link for link in row["links"] if link and link.startswith("https://")]
    assert watch.startswith("https://app.plex.tv/desktop#!/server/")


def test_the_day_of_a_request_as_people_read_it() -> None:
    assert day("2026-01-03T10:00:00+00:00") == "3 Jan 2026"
    assert day("2026-12-25 08:00:00") == "25 Dec 2026"


def test_overseerrs_time_left_in_words() -> None:
    assert time_left("00:20:00") == "20 min"
    assert time_left("02:00:00") == "2 h"
    assert time_left("1.02:00:00") == "1 day"
    assert time_left("00:00:30") == "30 s"
    assert time_left("soon") is None
    assert time_left(None) is None


async def test_filtered_by_state_and_paged(medianest_client: Any, fake: FakeOverseerr) -> None:
    s, alice, _ = await people(medianest_client, fake)
    dune = await requested(alice, "movie", DUNE)
    alien = await requested(alice, "movie", ALIEN)
    await approve(fake, dune["overseerr_id"])
    await s.settle()

    _, page = await get_page(alice, "/overseerr/requests/?state=approved")
    assert [row["id"] for row in rows_of(page)] == [str(dune["id"])]
    assert '<a href="/overseerr/requests/?state=approved" aria-current="page">Approved</a>' in page
    _, page = await get_page(alice, "/overseerr/requests/?state=pending")
    assert [row["id"] for row in rows_of(page)] == [str(alien["id"])]
    _, page = await get_page(alice, "/overseerr/requests/?state=declined")
    assert rows_of(page) == []
    assert "No requests are in this state. Show them all." in text_of(page)

    status, _ = await get_page(alice, "/overseerr/requests/?state=lost")
    assert status == 400
    resp = await alice.client.get("/overseerr/requests/?state=lost", headers={"Accept": "application/json"})
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "bad_request"
    status, _ = await get_page(alice, "/overseerr/requests/?page=0")
    assert status == 400
    _, page = await get_page(alice, "/overseerr/requests/?page=2")
    assert rows_of(page) == []


async def test_no_request_yet_says_how_to_make_one(medianest_client: Any, fake: FakeOverseerr) -> None:
    _, alice, _ = await people(medianest_client, fake)
    status, page = await get_page(alice, "/overseerr/requests/")
    assert status == 200
    assert rows_of(page) == []
    assert "You have not requested anything yet. Find a film or a series in Search and press Request" in text_of(page)
    assert '<a href="/search">Search</a>' in page


async def test_overseerr_redirects_to_the_requests_page(medianest_client: Any, fake: FakeOverseerr) -> None:
    _, alice, _ = await people(medianest_client, fake)
    status, _ = await get_page(alice, "/overseerr/")
    resp = await alice.client.get("/overseerr/", headers=HTML, allow_redirects=False)
    assert (status, resp.headers["Location"]) == (302, "/overseerr/requests/")


# ---- everyone's requests: admins only ---------------------------------------------------------------------------


async def test_everyones_requests_are_for_admins_with_the_askers_name_and_approve_and_decline(
    medianest_client: Any, fake: FakeOverseerr
) -> None:
    s, alice, bob = await people(medianest_client, fake)
    admin = await s.person("root", role="admin")
    alice_dune = await requested(alice, "movie", DUNE)
    bob_alien = await requested(bob, "movie", ALIEN)
    await s.settle()

    _, page = await get_page(admin, "/overseerr/requests/?scope=all")
    assert "<h1>Everyone's requests</h1>" in page
    rows = {row["id"]: row for row in rows_of(page)}
    assert set(rows) == {str(alice_dune["id"]), str(bob_alien["id"])}
    assert "Requested" in rows[str(alice_dune["id"])]["text"]
    assert "by alice" in rows[str(alice_dune["id"])]["text"]
    assert "by bob" in rows[str(bob_alien["id"])]["text"]
    for row in rows.values():
        assert row["buttons"] == ["Approve", "Decline"]  # not theirs to cancel: the asker's
    assert "2 requests wait for approval." in text_of(page)
    assert '<a href="/overseerr/links/">Link people to Overseerr users</a>' in page
    _, own = await get_page(admin, "/overseerr/requests/")
    assert rows_of(own) == []  # an admin's own list is their own

    # Someone who is not an admin asking for everyone's sees their own, and no names.
    _, page = await get_page(bob, "/overseerr/requests/?scope=all")
    assert "<h1>Your requests</h1>" in page
    [row] = rows_of(page)
    assert (row["id"], row["buttons"]) == (str(bob_alien["id"]), ["Cancel"])
    assert "by bob" not in text_of(page)
    assert "wait for approval" not in page


# ---- the admin's links ------------------------------------------------------------------------------------------


async def test_the_links_page_lists_everyone_with_their_overseerr_user_and_how(
    medianest_client: Any, fake: FakeOverseerr
) -> None:
    s, alice, bob = await people(medianest_client, fake)
    admin = await s.person("root", role="admin")
    carol = await s.person("carol")  # a local account, no Plex
    local = fake.add_user("carol-in-overseerr", email="carol@example.org")
    await requested(alice, "movie", DUNE)  # alice is matched by her Plex account when she asks
    status, answer = await admin.call(
        "PUT", f"/api/v1/overseerr/links/{carol.user_id}", json={"overseerr_user_id": local.id}
    )
    assert status == 200, answer

    status, page = await get_page(admin, "/overseerr/links/")
    assert status == 200
    words = text_of(page)
    assert "alice alice Plex account" in words
    assert "bob Not linked —" in words
    assert "carol carol-in-overseerr Set by an admin" in words
    assert f'data-user-id="{carol.user_id}" data-linked="{local.id}"' in page
    assert f'data-user-id="{bob.user_id}" data-linked=""' in page

    for person in (alice, bob):
        status, _ = await get_page(person, "/overseerr/links/")
        assert status == 403


def marked_rows(page: str) -> list[int]:
    """The people whose rows the links page marks (``aria-current``)."""
    return [int(found) for found in re.findall(r'<tr id="ov-link-(\d+)"[^>]*aria-current="true"', page)]


def elsewhere_row(page: str, service: str) -> str:
    """The line of ``service`` in "Accounts elsewhere" on the admin's page of a person (its HTML)."""
    section = re.search(r'(?s)<section[^>]*aria-labelledby="elsewhere-title".*?</section>', page)
    assert section is not None, "the admin's page of a person has no Accounts elsewhere"
    row = re.search(rf'(?s)<tr data-service="{service}">.*?</tr>', section.group(0))
    assert row is not None, f"no line for {service}"
    return row.group(0)


async def test_the_admins_page_of_a_person_shows_their_overseerr_user_and_links_to_their_row(
    medianest_client: Any, fake: FakeOverseerr
) -> None:
    s, alice, bob = await people(medianest_client, fake)
    admin = await s.person("root", role="admin")
    carol = await s.person("carol")  # a local account, no Plex
    local = fake.add_user("carol-in-overseerr", email="carol@example.org")

    status, page = await get_page(admin, f"/admin/users/{carol.user_id}")
    assert status == 200
    row = elsewhere_row(page, "overseerr")
    assert "Overseerr None Link" in text_of(row)
    assert f'href="/overseerr/links/?user={carol.user_id}"' in row

    status, answer = await admin.call(
        "PUT", f"/api/v1/overseerr/links/{carol.user_id}", json={"overseerr_user_id": local.id}
    )
    assert status == 200, answer
    status, page = await get_page(admin, f"/admin/users/{carol.user_id}")
    row = elsewhere_row(page, "overseerr")
    assert f"Overseerr carol-in-overseerr (id {local.id}) Change" in text_of(row)
    assert f'href="/overseerr/links/?user={carol.user_id}"' in row
    assert "Plex None" in text_of(elsewhere_row(page, "plex"))  # the Plex line stays the Plex plugin's

    await requested(alice, "movie", DUNE)  # matched by her Plex account as she asks
    assert alice.overseerr is not None
    status, page = await get_page(admin, f"/admin/users/{alice.user_id}")
    assert f"Overseerr alice (id {alice.overseerr.id}) Change" in text_of(elsewhere_row(page, "overseerr"))

    status, page = await get_page(admin, f"/overseerr/links/?user={carol.user_id}")
    assert status == 200
    assert marked_rows(page) == [carol.user_id]
    assert f'<tr id="ov-link-{bob.user_id}" data-user-id="{bob.user_id}" data-linked="">' in page

    for person in (alice, bob):  # the line is the admin's: a person's own pages never show it
        status, page = await get_page(person, f"/admin/users/{carol.user_id}")
        assert status == 403
        assert "carol-in-overseerr" not in page
        status, page = await get_page(person, "/profile")
        assert status == 200
        assert "Accounts elsewhere" not in page


async def test_the_link_from_a_persons_page_opens_the_page_of_the_links_that_has_their_row(
    medianest_client: Any, fake: FakeOverseerr, monkeypatch: pytest.MonkeyPatch
) -> None:
    from medianest_overseerr import pages

    monkeypatch.setattr(pages, "LINKS_PER_PAGE", 2)
    s, alice, bob = await people(medianest_client, fake)
    admin = await s.person("root", role="admin")
    zed = await s.person("Zed")  # listed by name whatever its case: alice, bob | root, Zed
    status, page = await get_page(admin, f"/overseerr/links/?user={zed.user_id}")
    assert status == 200
    assert marked_rows(page) == [zed.user_id]
    assert "Page 2 of 2" in text_of(page)

    status, page = await get_page(admin, f"/overseerr/links/?user={zed.user_id}&page=1")  # a page asked wins
    assert marked_rows(page) == []
    assert f'data-user-id="{alice.user_id}"' in page
    assert f'data-user-id="{bob.user_id}"' in page

    status, page = await get_page(admin, "/overseerr/links/?user=999999")  # nobody: the first page, nothing marked
    assert status == 200
    assert marked_rows(page) == []
    assert f'data-user-id="{alice.user_id}"' in page

    for bad in ("abc", "0", "-1", "99999999999"):
        resp = await admin.client.get(f"/overseerr/links/?user={bad}", headers={"Accept": "application/json"})
        assert resp.status == 400, bad
        assert set((await resp.json())["error"]) == {"code", "message", "details"}


async def test_without_overseerr_set_up_a_persons_page_has_no_overseerr_line(medianest_client: Any) -> None:
    client = await medianest_client(entry_points=[entry_point("overseerr", OverseerrPlugin())])
    admin = await sign_in(client, "root", role="admin")
    resp = await client.get(f"/admin/users/{admin.user_id}", headers=HTML)
    assert resp.status == 200
    page = await resp.text()
    assert "Accounts elsewhere" in text_of(page)
    assert 'data-service="overseerr"' not in page
    assert "/overseerr/links/" not in page


# ---- not set up ---------------------------------------------------------------------------------------------------


async def test_without_overseerr_the_pages_say_so_and_the_card_is_not_ok(medianest_client: Any) -> None:
    client = await medianest_client(entry_points=[entry_point("overseerr", OverseerrPlugin())])
    await sign_in(client, "alice")
    for path in ("/overseerr/requests/", "/overseerr/requests/?scope=all"):
        resp = await client.get(path, headers=HTML)
        assert resp.status == 200
        assert "Requests are not set up: the admin connects Overseerr in Settings." in text_of(await resp.text())

    resp = await client.get("/dashboard/cards/overseerr/requests", headers=HTML)
    assert resp.status == 200
    card = await resp.text()
    assert 'class="card unknown"' in card
    assert '<span class="state state-unknown">unknown</span>' in card
    assert "Not set up The admin connects Overseerr in Settings." in text_of(card)
    assert "No open requests" not in text_of(card)


# ---- the dashboard card -------------------------------------------------------------------------------------------


async def test_the_card_counts_ones_open_requests_by_state_and_for_admins_those_waiting(
    medianest_client: Any, fake: FakeOverseerr
) -> None:
    s, alice, bob = await people(medianest_client, fake)
    admin = await s.person("root", role="admin")
    await requested(alice, "tv", THRONES, seasons=[1])
    await requested(alice, "movie", ALIEN)
    dune = await requested(alice, "movie", DUNE)
    await requested(bob, "tv", THRONES, seasons=[2])
    await approve(fake, dune["overseerr_id"])
    fake.make_processing("movie", DUNE)
    await s.settle()
    await s.service.refresh(dune["overseerr_id"])

    async def card_lines(person: Person, path: str) -> str:
        """The card's own lines (between its state and its footer), as drawn by the server: no script fills it."""
        status, page = await get_page(person, path)
        assert status == 200
        found = re.search(r'(?s)<section class="card ok" id="card-overseerr-requests".*?</header>(.*?)<footer>', page)
        assert found is not None, page
        return text_of(found.group(1))

    for path in ("/", "/dashboard/cards/overseerr/requests"):
        assert await card_lines(alice, path) == "2 waiting for approval, 1 downloading"
        assert await card_lines(bob, path) == "1 waiting for approval"
        assert await card_lines(admin, path) == (
            "No open requests. Find something to request. 3 requests wait for approval."
        )
    _, page = await get_page(admin, "/dashboard/cards/overseerr/requests")
    assert 'href="/overseerr/requests/?scope=all&amp;state=pending"' in page
    _, page = await get_page(alice, "/dashboard/cards/overseerr/requests")
    assert "scope=all" not in page  # the count of everyone's requests is for admins


async def test_while_overseerr_is_down_the_card_is_greyed_out_and_keeps_its_lines(
    medianest_client: Any, fake: FakeOverseerr
) -> None:
    fake.down = True  # from the first check on
    s = await setup(medianest_client, fake)
    alice = await s.person("alice", plex_id=501)
    [check] = [state for state in s.client.app[keys.HEALTH].states if state.plugin == "overseerr"]
    for _ in range(500):
        if check.checked_at is not None:
            break
        await asyncio.sleep(0.02)

    for path in ("/", "/dashboard/cards/overseerr/requests"):
        status, page = await get_page(alice, path)
        assert status == 200
        found = re.search(r'(?s)<section class="card (\w+)" id="card-overseerr-requests".*?</section>', page)
        assert found is not None
        assert found.group(1) == "unavailable"
        words = text_of(found.group(0))
        assert "Overseerr is not answering (checked just now); what is shown may be out of date." in words
        assert "No open requests. Find something to request." in words  # from the store, as before
