"""The admin's page of a person lists their accounts elsewhere, as the plugins' ``linked_accounts`` sources know
them: each with a link to where it is changed, and a lookup that fails or hangs costs one line, never the page."""

from __future__ import annotations

import asyncio
import re
from html import unescape
from typing import Any

from medianest_core import AccountSource, LinkedAccount, hookimpl
from medianest_core.testing import SignedIn, entry_point, sign_in

HTML = {"Accept": "text/html"}


class Directory:
    """Knows accounts of one service for some users. ``hang`` makes its lookup wait forever, ``failure`` raise."""

    version = "0.1"

    def __init__(
        self,
        name: str,
        service: str,
        title: str,
        known: dict[str, tuple[str, str | None]] | None = None,
        *,
        manage: str | None = None,
        failure: Exception | None = None,
        hang: bool = False,
    ) -> None:
        self.name = name
        self.service = service
        self.title = title
        self.known = known or {}  # by MediaNest username, filled in once the ids are known
        self.by_id: dict[int, tuple[str, str | None]] = {}
        self.manage = manage
        self.failure = failure
        self.hang = hang
        self.asked: list[int] = []

    async def _lookup(self, user_id: int) -> LinkedAccount | None:
        self.asked.append(user_id)
        if self.hang:
            await asyncio.Event().wait()
        if self.failure is not None:
            raise self.failure
        found = self.by_id.get(user_id)
        if found is None:
            return None
        account_id, username = found
        return LinkedAccount(self.service, account_id, username=username)

    @hookimpl
    def linked_accounts(self) -> list[AccountSource]:
        return [AccountSource(self.service, self.title, self._lookup, manage=self.manage)]


def text_of(page: str) -> str:
    body = re.sub(r"(?s)<(script|style|head)\b.*?</\1>", " ", page)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


def section_of(page: str) -> str:
    """The "Accounts elsewhere" section of the page's HTML."""
    found = re.search(r'(?s)<section[^>]*aria-labelledby="elsewhere-title".*?</section>', page)
    assert found is not None, "the page has no section Accounts elsewhere"
    return found.group(0)


def row_of(section: str, service: str) -> str:
    found = re.search(rf'(?s)<tr data-service="{service}">.*?</tr>', section)
    assert found is not None, f"no line for {service}"
    return found.group(0)


class People:
    """The admin's browser, and dana, a user, signed in on her own."""

    def __init__(self, client: Any, admin: SignedIn, dana: SignedIn, danas_browser: Any) -> None:
        self.client, self.admin, self.dana, self.danas_browser = client, admin, dana, danas_browser


async def admin_and(medianest_client: Any, *plugins: Directory) -> People:
    client = await medianest_client(entry_points=[entry_point(p.name, p) for p in plugins])
    admin = await sign_in(client, "root", role="admin")
    danas_browser = await medianest_client(browser_of=client)
    dana = await sign_in(danas_browser, "dana")
    for plugin in plugins:
        plugin.by_id = {dana.user_id: plugin.known["dana"]} if "dana" in plugin.known else {}
    return People(client, admin, dana, danas_browser)


async def test_the_admin_sees_a_persons_accounts_elsewhere_with_where_to_change_them(medianest_client: Any) -> None:
    requests = Directory(
        "requestor", "requestor", "Requestor", {"dana": ("42", "dana-r")}, manage="/requestor/links/?user={user_id}"
    )
    media = Directory("mediaplace", "mediaplace", "Media Place", manage="/mediaplace/people/{user_id}/account")
    plain = Directory("plainplex", "plex", "Plex", {"dana": ("9001", None)})  # no page to change it
    elsewhere = Directory(
        "sneaky", "sneaky", "Sneaky", {"dana": ("1", "d")}, manage="//evil.example/take?user={user_id}"
    )
    people = await admin_and(medianest_client, requests, media, plain, elsewhere)
    client, dana = people.client, people.dana

    resp = await client.get(f"/admin/users/{dana.user_id}", headers=HTML)
    assert resp.status == 200
    section = section_of(await resp.text())
    assert text_of(section).startswith("Accounts elsewhere")

    row = row_of(section, "requestor")
    assert "Requestor dana-r (id 42) Change" in text_of(row)
    assert f'href="/requestor/links/?user={dana.user_id}"' in row

    row = row_of(section, "mediaplace")
    assert "Media Place None Link" in text_of(row)  # no account there yet: the link says so
    assert f'href="/mediaplace/people/{dana.user_id}/account"' in row

    row = row_of(section, "plex")
    assert "Plex id 9001" in text_of(row)
    assert "<a " not in row

    row = row_of(section, "sneaky")  # a manage page that is not MediaNest's own is never linked
    assert "Sneaky d (id 1)" in text_of(row)
    assert "evil.example" not in row
    assert "<a " not in row

    assert requests.asked == [dana.user_id]


async def test_a_failing_or_hanging_lookup_reads_could_not_be_read_and_the_page_comes_at_once(
    medianest_client: Any,
) -> None:
    broken = Directory("broken", "broken", "Broken", failure=RuntimeError("database is locked"), manage="/b/{user_id}")
    stuck = Directory("stuck", "stuck", "Stuck", hang=True)
    fine = Directory("fine", "fine", "Fine", {"dana": ("7", "dana-f")})
    people = await admin_and(medianest_client, broken, stuck, fine)
    client, dana = people.client, people.dana

    async def fetch() -> tuple[int, str]:
        resp = await client.get(f"/admin/users/{dana.user_id}", headers=HTML)
        return resp.status, await resp.text()

    status, page = await asyncio.wait_for(fetch(), 10)  # the stuck lookup never answers
    assert status == 200
    section = section_of(page)
    assert "Broken Could not be read just now. Change" in text_of(row_of(section, "broken"))
    assert f'href="/b/{dana.user_id}"' in row_of(section, "broken")  # the admin can still go and fix it
    assert "Stuck Could not be read just now." in text_of(row_of(section, "stuck"))
    assert "Fine dana-f (id 7)" in text_of(row_of(section, "fine"))
    assert "Allowances" in text_of(page)  # the rest of the page is there
    assert stuck.asked == [dana.user_id]


async def test_without_sources_the_section_says_so(medianest_client: Any) -> None:
    people = await admin_and(medianest_client)
    resp = await people.client.get(f"/admin/users/{people.dana.user_id}", headers=HTML)
    assert resp.status == 200
    assert "No plugin knows people's accounts at other services." in text_of(section_of(await resp.text()))


async def test_only_admins_see_accounts_elsewhere(medianest_client: Any) -> None:
    requests = Directory(
        "requestor", "requestor", "Requestor", {"dana": ("42", "dana-r")}, manage="/requestor/links/?user={user_id}"
    )
    people = await admin_and(medianest_client, requests)
    dana = people.dana
    for path in (f"/admin/users/{dana.user_id}", f"/admin/users/{people.admin.user_id}", "/profile", "/"):
        resp = await people.danas_browser.get(path, headers=HTML)
        page = await resp.text()
        assert resp.status == (403 if path.startswith("/admin/") else 200), path
        assert "Accounts elsewhere" not in page, path
        assert "dana-r" not in page, path
        assert "/requestor/links/" not in page, path


def test_a_manage_page_is_linked_only_when_it_is_a_path_of_medianest() -> None:
    from medianest_core.accounts import manage_path

    assert manage_path("/requestor/links/?user={user_id}", 7) == "/requestor/links/?user=7"
    assert manage_path("/people/{user_id}/{user_id}", 7) == "/people/7/7"
    assert manage_path("/requestor/links/", 7) == "/requestor/links/"  # one page for everyone is fine
    for elsewhere in (None, "", "https://evil.example/{user_id}", "//evil.example/", "/\t/evil.example", "/\\evil"):
        assert manage_path(elsewhere, 7) is None, elsewhere
