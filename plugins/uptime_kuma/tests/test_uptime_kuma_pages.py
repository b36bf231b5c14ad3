"""The card "Services" and the status page, as a person's browser receives them: which monitors each person sees,
in what order, with which figures and beats, how old figures say their age, and what shows when Uptime Kuma is not
set up. Monitors are written to the store as the poller would; the poller itself does not run here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import attrs
import pytest
from medianest_uptime_kuma import UptimeKumaPlugin
from medianest_uptime_kuma.api import MonitorEdited, MonitorHidden
from medianest_uptime_kuma.fake import FakeUptimeKuma
from medianest_uptime_kuma.models import MonitorRow, MonitorWatch
from medianest_uptime_kuma.pages import beats_view, percent
from medianest_uptime_kuma.store import POLL_ERROR, POLLED_AT, MonitorChanged, set_state
from sqlalchemy import select
from uptime_kuma_harness import setup

from medianest_core import hookimpl, keys
from medianest_core.events import CardUpdated
from medianest_core.testing import entry_point, sign_in
from medianest_core.types import HealthCheck, PeriodicTask, PluginContext

HTML = {"Accept": "text/html"}
CARD = "/dashboard/cards/uptime_kuma/monitors"
SETTINGS = {"url": "http://127.0.0.1:9", "status_pages": ["home"]}


class QuietUptimeKuma(UptimeKumaPlugin):
    """The plugin without its poller and health check: what the store holds is what the test wrote."""

    @hookimpl
    def periodic_tasks(self, ctx: PluginContext) -> list[PeriodicTask]:
        return []

    @hookimpl
    def health_checks(self, ctx: PluginContext) -> list[HealthCheck]:
        return []


def beats(*statuses: str, end: datetime | None = None) -> list[dict[str, Any]]:
    end = end or datetime.now(UTC)
    return [
        {"status": status, "time": (end - timedelta(minutes=len(statuses) - i)).isoformat(), "ping": 40 + i}
        for i, status in enumerate(statuses)
    ]


def monitor(key: str, name: str, **values: Any) -> MonitorRow:
    fields: dict[str, Any] = {
        "key": key,
        "name": name,
        "status": "up",
        "type": "http",
        "from_status_page": True,
        "beats": beats(*["up"] * 24),
        "uptime_24h": 1.0,
        "uptime_30d": 0.9995,
        "latency_ms": 41.6,
    }
    return MonitorRow(**(fields | values))


async def make(medianest_client: Callable[..., Any], settings: Mapping[str, Any] | None = None) -> Any:
    return await medianest_client(
        entry_points=[entry_point("uptime_kuma", QuietUptimeKuma())],
        plugins={"uptime_kuma": dict(SETTINGS if settings is None else settings)},
    )


async def store(client: Any, *rows: MonitorRow, polled: datetime | None = None, error: str | None = None) -> None:
    runtime = client.app[keys.RUNTIME]
    async with runtime.sessions() as db:
        db.add_all(rows)
        await set_state(db, POLLED_AT, (polled or datetime.now(UTC)).isoformat())
        if error is not None:
            await set_state(db, POLL_ERROR, error)
        await db.commit()


async def text_of(client: Any, path: str) -> str:
    resp = await client.get(path, headers=HTML)
    assert resp.status == 200, await resp.text()
    return unescape(await resp.text())


def order_of(html: str, *names: str) -> list[int]:
    return [html.index(name) for name in names]


def house() -> tuple[MonitorRow, ...]:
    """Five monitors: two of a group "Media" (one down), two of "Home" (one in maintenance, one known from
    /metrics only), and one without a group."""
    return (
        monitor("id:1", "Plex", group="Media", beats=beats(*["up"] * 23, "down"), uptime_24h=0.99996),
        monitor(
            "id:2",
            "Overseerr",
            group="Media",
            status="down",
            message="ECONNREFUSED 10.0.0.7:5055",
            beats=beats(*["up"] * 22, "down", "down"),
            uptime_24h=0.9583,
        ),
        monitor("id:3", "Backups", group="Home", status="maintenance", beats=beats("up", "maintenance")),
        monitor("id:4", "Router admin", group="Home", from_status_page=False, latency_ms=3.0),
        monitor("id:5", "Website", cert_days=12, uptime_30d=None),
    )


async def test_the_card_lists_what_a_person_may_see_down_ones_first(medianest_client: Callable[..., Any]) -> None:
    client = await make(medianest_client)
    await store(client, *house())
    await sign_in(client, "dana")

    html = await text_of(client, CARD)
    assert 'class="card degraded"' in html  # one of them is down
    assert "Router admin" not in html  # known from /metrics only: hidden from people
    assert "ECONNREFUSED" not in html  # a down monitor's message is for admins
    assert order_of(html, "Overseerr", "Backups", "Plex", "Website") == sorted(
        order_of(html, "Overseerr", "Backups", "Plex", "Website")
    )
    assert "Maintenance" in html
    assert 'aria-label="up 23 of the last 24 checks"' in html  # Plex's bar, read out
    assert 'aria-label="up 22 of the last 24 checks"' in html
    assert "99.99%" in html  # never rounded up to 100%
    assert "95.83%" in html
    assert "1 of 4 are down." in html
    assert "as of" not in html  # fresh figures


async def test_an_admin_sees_the_hidden_monitors_too(medianest_client: Callable[..., Any]) -> None:
    client = await make(medianest_client)
    await store(client, *house())
    await sign_in(client, "boss", role="admin")

    html = await text_of(client, CARD)
    assert "Router admin" in html
    assert "1 of 5 are down." in html
    page = await text_of(client, "/uptime_kuma/status/")
    assert "Router admin" in page
    assert "Hidden from people" in page
    assert "ECONNREFUSED 10.0.0.7:5055" in page


async def test_old_figures_say_their_age(medianest_client: Callable[..., Any]) -> None:
    client = await make(medianest_client)
    await store(client, *house()[:2], polled=datetime.now(UTC) - timedelta(minutes=4))
    await sign_in(client, "dana")

    assert "Uptime Kuma is not answering: as of 4 min ago." in await text_of(client, CARD)
    assert "Uptime Kuma is not answering: as of 4 min ago." in await text_of(client, "/uptime_kuma/status/")


async def test_a_failed_poll_says_the_age_of_the_last_good_one(medianest_client: Callable[..., Any]) -> None:
    client = await make(medianest_client)
    await store(client, *house()[:2], polled=datetime.now(UTC) - timedelta(seconds=20), error="timed out")
    await sign_in(client, "dana")

    assert "as of just now" in await text_of(client, CARD)


async def test_not_set_up(medianest_client: Callable[..., Any]) -> None:
    client = await make(medianest_client, {})
    await sign_in(client, "boss", role="admin")

    html = await text_of(client, CARD)
    assert 'class="card unknown"' in html
    assert "Not set up" in html
    page = await text_of(client, "/uptime_kuma/status/")
    assert "Service monitors are not set up" in page
    assert 'href="/admin/services#service-uptime_kuma"' in page


async def test_the_status_page_groups_every_visible_monitor(medianest_client: Callable[..., Any]) -> None:
    client = await make(medianest_client)
    await store(client, *house())
    await sign_in(client, "dana")

    resp = await client.get("/uptime_kuma/", headers=HTML, allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == "/uptime_kuma/status/"
    typed = await client.get("/status/", headers=HTML, allow_redirects=False)  # the address people can type
    assert typed.headers["Location"] == "/uptime_kuma/status/"

    page = await text_of(client, "/status/")
    page = page[page.index('id="uk-summary"') :]  # the shell's navigation names services too
    assert "Router admin" not in page
    assert "ECONNREFUSED" not in page
    assert "Hidden from people" not in page
    media, home, other = page.index(">Media</h2>"), page.index(">Home</h2>"), page.index(">Other</h2>")
    # Groups in the admin's order of their first monitor (here by name: Backups first), ungrouped ones last.
    assert home < page.index("Backups") < media < page.index("Overseerr") < page.index("Plex") < other
    assert other < page.index("Website")
    assert "Certificate: 12 days left" in page
    assert "99.95%" in page  # 30 days
    assert "42 ms" in page  # latency, rounded
    assert "1 of 4 are down." in page
    assert page.count('class="uk-beat uk-beat-') == 24 + 24 + 2 + 24
    assert 'aria-label="up 1 of the last 2 checks"' in page  # Backups


async def test_a_person_sees_no_monitor_row_of_a_hidden_one_even_by_id(medianest_client: Callable[..., Any]) -> None:
    client = await make(medianest_client)
    await store(client, monitor("id:9", "Secret box", from_status_page=True, visible=False))
    await sign_in(client, "dana")
    assert "Secret box" not in await text_of(client, "/uptime_kuma/status/")
    assert "Secret box" not in await text_of(client, CARD)


@pytest.mark.parametrize(
    ("ratio", "words"),
    [(1, "100%"), (0.99996, "99.99%"), (0.9995, "99.95%"), (0.5, "50%"), (0.123, "12.3%"), (None, "—"), (2, "100%")],
)
def test_uptime_in_words(ratio: float | None, words: str) -> None:
    assert percent(ratio) == words


def test_a_beat_bar_keeps_the_last_beats_and_names_them() -> None:
    bar = beats_view(beats(*["down"] * 10, *["up"] * 50), 50)
    assert len(bar["beats"]) == 50
    assert bar["label"] == "up 50 of the last 50 checks"
    assert beats_view([], 20)["label"] == "No checks yet"
    assert beats_view([{"status": 0}], 20)["label"] == "down at the last check"


# ---- The admin's controls and watching, on the status page ---------------------------------------------------------


class Kettle:
    """A running plugin with a title, for the list of services a monitor can be tied to."""

    name = "kettle"
    title = "Electric kettle"
    version = "1.0"


def rows_of(page: str) -> dict[str, str]:
    """Each monitor's row of the status page, by its name."""
    found: dict[str, str] = {}
    for chunk in page.split('<li class="uk-row')[1:]:
        name = chunk.split('data-role="name">', 1)[1].split("<", 1)[0]
        found[name] = chunk.split("</li>", 1)[0]
    return found


async def test_people_get_a_watch_button_and_admins_the_controls_too(medianest_client: Callable[..., Any]) -> None:
    client = await medianest_client(
        entry_points=[entry_point("uptime_kuma", QuietUptimeKuma()), entry_point("kettle", Kettle())],
        plugins={"uptime_kuma": SETTINGS},
    )
    await store(client, *house(), monitor("id:6", "Kettle plug", service="kettle", title="Tea"))
    dana = await sign_in(client, "dana")
    runtime = client.app[keys.RUNTIME]
    async with runtime.sessions() as db:
        plex = (await db.scalars(select(MonitorRow).where(MonitorRow.name == "Plex"))).one()
        db.add(MonitorWatch(user_id=dana.user_id, monitor_id=plex.id))
        await db.commit()

    page = await text_of(client, "/uptime_kuma/status/")
    rows = rows_of(page)
    assert sorted(rows) == ["Backups", "Overseerr", "Plex", "Tea", "Website"]
    assert "Stop telling me" in rows["Plex"]  # what the watches table says, for this person
    for name in ("Backups", "Overseerr", "Tea", "Website"):
        assert "Tell me when it changes" in rows[name], name
    for control in ('data-role="edit"', 'data-role="up"', 'name="service"', "Hidden from people", "Tied to"):
        assert control not in page, control
    assert "uk-admin-blank" not in page

    admin = await medianest_client(browser_of=client)
    await sign_in(admin, "boss", role="admin")
    rows = rows_of(await text_of(admin, "/uptime_kuma/status/"))
    assert sorted(rows) == ["Backups", "Overseerr", "Plex", "Router admin", "Tea", "Website"]
    for name, row in rows.items():
        assert "Tell me when it changes" in row, name  # the admin watches none
        assert f'aria-label="Move {name} up"' in row
        assert f'aria-label="Move {name} down"' in row
        assert '<form class="uk-edit" data-role="edit"' in row
        assert '<option value="">None</option>' in row
        assert '<option value="kettle"' in row
        assert ">Electric kettle</option>" in row
        assert 'value="uptime_kuma"' not in row  # a monitor is not tied to Uptime Kuma itself
    assert '<span class="uk-hidden-tag" data-role="hidden">Hidden from people</span>' in rows["Router admin"]
    assert '<span class="uk-hidden-tag" data-role="hidden" hidden>' in rows["Plex"]
    assert 'name="visible" checked' in rows["Plex"]
    assert 'name="visible" checked' not in rows["Router admin"]
    assert 'data-role="service">Tied to Electric kettle</span>' in rows["Tea"]
    assert '<option value="kettle" selected>Electric kettle</option>' in rows["Tea"]
    assert 'name="title" maxlength="100" value="Tea"' in rows["Tea"]  # the admin's own name, to edit
    assert 'name="title" maxlength="100" value=""' in rows["Plex"]


async def test_hiding_a_monitor_tells_people_only_its_id(medianest_client: Callable[..., Any]) -> None:
    kuma = FakeUptimeKuma()
    plex = kuma.add_monitor("Plex", url="http://plex.lan:32400")
    kuma.add_status_page("home", "Home", {"Media": [plex]})
    await kuma.start()
    try:
        s = await setup(medianest_client, kuma)
        admin = await s.person("root", role="admin")
        alice = await s.person("alice")
        assert await s.poll()
        (doc,) = (await alice.monitors())["monitors"]
        for event in (MonitorChanged, MonitorHidden, MonitorEdited, CardUpdated):
            s.listen(event)

        def heard_by_alice() -> list[Any]:
            return [e for e in s.events if e.audience().includes(alice.user_id, False)]

        status, _ = await admin.call("PATCH", f"/api/v1/uptime_kuma/monitors/{doc['id']}", json={"title": "Films"})
        assert status == 200
        changed = [e for e in heard_by_alice() if isinstance(e, MonitorChanged)]
        assert [e.monitor["name"] for e in changed] == ["Films"]
        assert "visible" not in changed[0].monitor
        assert any(isinstance(e, CardUpdated) for e in heard_by_alice())
        edited = [e for e in s.events if isinstance(e, MonitorEdited)]
        assert [e.monitor["visible"] for e in edited] == [True]
        assert not edited[0].audience().includes(alice.user_id, False)

        s.events.clear()
        status, _ = await admin.call("PATCH", f"/api/v1/uptime_kuma/monitors/{doc['id']}", json={"visible": False})
        assert status == 200
        reached = heard_by_alice()
        assert [type(e) for e in reached] == [MonitorHidden, CardUpdated]
        assert attrs.asdict(reached[0]) == {"id": doc["id"]}  # nothing else of it reaches her
        assert [e.monitor["visible"] for e in s.events if isinstance(e, MonitorEdited)] == [False]

        s.events.clear()  # renaming it while hidden says nothing to people
        status, _ = await admin.call("PATCH", f"/api/v1/uptime_kuma/monitors/{doc['id']}", json={"title": "Secret"})
        assert status == 200
        assert [type(e) for e in heard_by_alice()] == [CardUpdated]
    finally:
        await kuma.stop()
