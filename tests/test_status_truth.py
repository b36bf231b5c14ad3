"""A status that never lies: a service that is not set up says "Not set up" (never up, never down) in the health
API, the dashboard's services card (for admins only) and ``medianest plugins``; services are named as people know
them."""

from __future__ import annotations

import asyncio
import json
import re
from html import unescape
from pathlib import Path
from typing import Any

import attrs
from conftest import run_cli

from medianest_core import hookimpl, keys
from medianest_core.settings import HttpUrl
from medianest_core.testing import entry_point, sign_in
from medianest_core.types import Card, CardData, CardState, HealthCheck, HealthResult, HealthState

HTML = {"Accept": "text/html"}
UNSET = ("overseerr", "plex", "tmdb", "uptime_kuma")
TITLES = {
    "overseerr": "Overseerr",
    "plex": "Plex",
    "tmdb": "TMDB",
    "uptime_kuma": "Uptime Kuma",
    "youtube": "YouTube downloads",
}


def bundled() -> list[Any]:
    """The five bundled plugins, as a fresh install has them."""
    from medianest_overseerr import plugin as overseerr
    from medianest_plex import plugin as plex
    from medianest_tmdb import plugin as tmdb
    from medianest_uptime_kuma import plugin as uptime_kuma
    from medianest_youtube import plugin as youtube

    found = {"overseerr": overseerr, "plex": plex, "tmdb": tmdb, "uptime_kuma": uptime_kuma, "youtube": youtube}
    return [entry_point(name, obj) for name, obj in found.items()]


def card_of(page: str, dom_id: str) -> tuple[str, str, str]:
    """The state (the card's class), the words and the HTML of one card of a page."""
    found = re.search(rf'(?s)<section class="card (\w+)" id="{dom_id}".*?</section>', page)
    assert found is not None, f"no card {dom_id} in the page"
    words = " ".join(unescape(re.sub(r"<[^>]+>", " ", found.group(0))).split())
    return found.group(1), words, found.group(0)


async def get(client: Any, path: str) -> str:
    resp = await client.get(path, headers=HTML)
    text: str = await resp.text()
    assert resp.status == 200, text
    return text


async def until(condition: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def youtube_checked(client: Any) -> None:
    """Wait for the one service set up on a fresh install, YouTube downloads, to be checked."""
    monitor = client.app[keys.HEALTH]
    await until(lambda: all(s.checked_at is not None for s in monitor.states if s.plugin == "youtube"))


async def test_a_fresh_install_says_not_set_up_in_the_health_api(medianest_client: Any) -> None:
    client = await medianest_client(entry_points=bundled())
    await youtube_checked(client)
    await asyncio.sleep(0.3)  # time for any check that wrongly runs (Plex's, without settings) to answer

    resp = await client.get("/api/v1/health")
    doc = await resp.json()
    assert resp.status == 200
    assert doc["status"] == "ok"  # nothing is down: four services are simply not set up
    parts = {c["name"]: c for c in doc["components"]}
    for name in UNSET:
        assert (parts[name]["state"], parts[name]["message"]) == ("not_set_up", "not set up"), name
    assert parts["youtube"]["state"] == "up"
    assert {name: parts[name]["title"] for name in TITLES} == TITLES
    # Plex's check is not run without settings: it is not "down", it is not set up.
    assert (parts["plex/server"]["state"], parts["plex/server"]["title"]) == ("not_set_up", "Plex")
    [plex_check] = [s for s in client.app[keys.HEALTH].states if s.plugin == "plex"]
    assert plex_check.checked_at is None
    assert not [c for c in doc["components"] if c["name"].split("/")[0] in UNSET and c["state"] != "not_set_up"]
    assert all("details" not in c for c in doc["components"])

    await sign_in(client, "root", role="admin")
    admin = {c["name"]: c for c in (await (await client.get("/api/v1/health")).json())["components"]}
    assert admin["plex"]["state"] == "not_set_up"
    assert admin["plex"]["details"]["settings_page"] == "/admin/services#service-plex"
    assert "settings_page" not in admin["youtube"]["details"]


async def test_the_services_card_leaves_out_what_is_not_set_up_for_people_and_shows_it_to_admins(
    medianest_client: Any,
) -> None:
    client = await medianest_client(entry_points=bundled())
    await sign_in(client, "alice")
    admin = await medianest_client(browser_of=client)
    await sign_in(admin, "root", role="admin")
    await youtube_checked(client)

    for path in ("/", "/dashboard/cards/core/services"):
        state, words, html = card_of(await get(client, path), "card-core-services")
        assert state == "ok"
        assert "YouTube downloads up" in words
        for title in ("Plex", "Overseerr", "TMDB", "Uptime Kuma"):
            assert title not in words, (path, words)
        assert "Not set up" not in words
        assert "/admin/services" not in html
        assert "plex" not in words.lower()  # neither "Plex" nor the old "plex · server"

        state, words, html = card_of(await get(admin, path), "card-core-services")
        assert state == "ok"  # a service not set up is not down
        assert "YouTube downloads up" in words
        for name in UNSET:
            assert f"{TITLES[name]} Not set up" in words, (name, words)
            assert f'href="/admin/services#service-{name}"' in html
        assert html.count('class="state state-up"') == 1  # only YouTube downloads is up

    # The admin's health page says the same, by the names people know.
    page = await get(admin, "/admin/health")
    row = re.search(r'(?s)<tr data-component="plex">.*?</tr>', page)
    assert row is not None
    assert "Not set up" in row.group(0)
    assert 'href="/admin/services#service-plex"' in row.group(0)
    assert "Plex" in row.group(0)


@attrs.frozen
class KettleSettings:
    url: HttpUrl | None = None

    @property
    def configured(self) -> bool:
        return self.url is not None


class Kettle:
    """A service that needs an address, whose check always finds it down, and a card that is fine by itself."""

    name = "kettle"
    title = "Electric kettle"
    version = "1"

    def __init__(self) -> None:
        self.checked = 0

    @hookimpl
    def settings_class(self) -> type[Any]:
        return KettleSettings

    @hookimpl
    def health_checks(self) -> list[HealthCheck]:
        async def check() -> HealthResult:
            self.checked += 1
            raise ConnectionError("the kettle at 10.0.0.8 refused the connection")

        return [HealthCheck("service", check, interval=0.05, timeout=1)]

    @hookimpl
    def dashboard_cards(self) -> list[Card]:
        async def load() -> CardData:
            return CardData(CardState.OK, figures={"Cups": 2})

        return [Card("cups", "Cups", load)]


async def test_the_core_card_is_connections_and_only_the_monitors_card_is_services(medianest_client: Any) -> None:
    client = await medianest_client(entry_points=bundled())
    await sign_in(client, "alice")
    page = await get(client, "/")
    titles = re.findall(r'<h3 id="card-[^"]+-title">([^<]*)</h3>', page)
    assert re.search(r'<h3 id="card-core-services-title">Connections</h3>', page), titles
    assert titles.count("Services") == 1, titles  # the Uptime Kuma monitors' card
    assert re.search(r'<h3 id="card-uptime_kuma-monitors-title">Services</h3>', page), titles
    fragment = await get(client, "/dashboard/cards/core/services")
    assert card_of(fragment, "card-core-services")[1].startswith("Connections "), fragment


async def test_a_service_not_set_up_is_never_checked_nor_greyed_out(medianest_client: Any) -> None:
    kettle = Kettle()
    client = await medianest_client(entry_points=[entry_point("kettle", kettle)])
    await sign_in(client, "root", role="admin")
    await asyncio.sleep(0.3)  # six intervals of its check

    assert kettle.checked == 0
    doc = await (await client.get("/api/v1/health")).json()
    assert doc["status"] == "ok"
    parts = {c["name"]: c for c in doc["components"]}
    assert (parts["kettle"]["state"], parts["kettle"]["title"]) == ("not_set_up", "Electric kettle")
    assert parts["kettle/service"]["state"] == "not_set_up"
    page = await get(client, "/")
    state, words, _ = card_of(page, "card-kettle-cups")
    assert (state, "not answering" in words) == ("ok", False)
    assert "Electric kettle Not set up" in card_of(page, "card-core-services")[1]


async def test_a_service_set_up_but_down_is_down_by_its_title(medianest_client: Any) -> None:
    kettle = Kettle()
    client = await medianest_client(
        entry_points=[entry_point("kettle", kettle)], plugins={"kettle": {"url": "http://10.0.0.8"}}
    )
    await sign_in(client, "alice")
    monitor = client.app[keys.HEALTH]
    await until(lambda: monitor.states[0].checked_at is not None)

    doc = await (await client.get("/api/v1/health")).json()
    assert doc["status"] == "degraded"
    parts = {c["name"]: c for c in doc["components"]}
    assert parts["kettle"]["state"] == "up"
    assert (parts["kettle/service"]["state"], parts["kettle/service"]["title"]) == ("down", "Electric kettle")
    page = await get(client, "/")
    state, words, _ = card_of(page, "card-kettle-cups")
    assert state == "unavailable"
    assert "Electric kettle is not answering" in words
    state, words, _ = card_of(page, "card-core-services")
    assert state == "unavailable"
    assert "Electric kettle down" in words


class TeaPot:
    """A plugin without a title, with two checks."""

    name = "tea_pot"
    version = "1"

    @hookimpl
    def health_checks(self) -> list[HealthCheck]:
        async def fine() -> HealthResult:
            return HealthResult(HealthState.UP, "brewing")

        async def cracked() -> HealthResult:
            raise OSError("the lid at 10.0.0.9 is cracked")

        return [HealthCheck("brew", fine, interval=0.05), HealthCheck("lid", cracked, interval=0.05)]


async def test_a_plugin_without_a_title_is_named_in_words_and_admins_see_each_of_several_checks(
    medianest_client: Any,
) -> None:
    client = await medianest_client(entry_points=[entry_point("tea_pot", TeaPot())])
    await sign_in(client, "alice")
    admin = await medianest_client(browser_of=client)
    await sign_in(admin, "root", role="admin")
    monitor = client.app[keys.HEALTH]
    await until(lambda: all(s.checked_at is not None for s in monitor.states))

    parts = {c["name"]: c for c in (await (await client.get("/api/v1/health")).json())["components"]}
    assert parts["tea_pot"]["title"] == "Tea pot"
    assert parts["tea_pot/lid"]["title"] == "Tea pot (lid)"

    _, words, _ = card_of(await get(client, "/"), "card-core-services")
    assert "Tea pot down" in words  # one line, its worst state
    assert "lid" not in words
    assert "10.0.0.9" not in words
    _, words, _ = card_of(await get(admin, "/"), "card-core-services")
    assert "Tea pot down" in words
    assert "brew: brewing up" in words
    assert "lid: OSError: the lid at 10.0.0.9 is cracked down" in words


def plugin_rows(stdout: str) -> dict[str, str]:
    rows = {}
    for line in stdout.splitlines()[1:]:
        name, _version, rest = line.split(None, 2)
        rows[name] = rest
    return rows


def test_medianest_plugins_says_not_set_up_on_a_fresh_install(cli_env: dict[str, str], tmp_path: Path) -> None:
    listing = run_cli("plugins", env=cli_env)
    assert listing.returncode == 0, listing.stderr
    rows = plugin_rows(listing.stdout)
    for name in UNSET:
        assert rows[name] == f"not set up  set it up in [plugins.{name}] or on the admin's Services page", rows
    assert rows["youtube"] == "loaded"
    assert listing.stderr == ""

    as_json = run_cli("plugins", "--json", env=cli_env)
    assert as_json.returncode == 0, as_json.stderr
    found = {p["name"]: p for p in json.loads(as_json.stdout)}
    assert {name: (found[name]["status"], found[name]["set_up"]) for name in TITLES} == {
        name: ("loaded", name == "youtube") for name in TITLES
    }
    assert {name: found[name]["title"] for name in TITLES} == TITLES
    data = tmp_path / "data"
    assert not (data / "medianest.db").exists()  # the command makes neither the database
    assert not (data / "secret.key").exists()  # nor the key


async def test_medianest_plugins_counts_the_values_saved_in_the_admin_pages(
    medianest_client: Any, cli_env: dict[str, str]
) -> None:
    from medianest_overseerr import plugin as overseerr

    client = await medianest_client(entry_points=[entry_point("overseerr", overseerr)])
    admin = await sign_in(client, "root", role="admin")
    assert plugin_rows(run_cli("plugins", env=cli_env).stdout)["overseerr"].startswith("not set up")

    values = {"url": "http://127.0.0.1:9", "api_key": "a-key-of-overseerr"}
    resp = await client.put("/api/v1/admin/services/overseerr", json={"values": values}, headers=admin.headers)
    assert resp.status == 200, await resp.text()

    listing = run_cli("plugins", env=cli_env)
    assert listing.returncode == 0, listing.stderr
    rows = plugin_rows(listing.stdout)
    assert rows["overseerr"] == "loaded"
    assert rows["plex"].startswith("not set up")
    assert "a-key-of-overseerr" not in listing.stdout + listing.stderr
