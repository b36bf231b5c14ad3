"""The card "Services" and the status page, as a person's browser receives them: which monitors each person sees,
in what order, with which figures and beats, how old figures say their age, and what shows when Uptime Kuma is not
set up. Monitors are written to the store as the poller would; the poller itself does not run here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from medianest_uptime_kuma import UptimeKumaPlugin
from medianest_uptime_kuma.models import MonitorRow
from medianest_uptime_kuma.pages import beats_view, percent
from medianest_uptime_kuma.store import POLL_ERROR, POLLED_AT, set_state

from medianest_core import hookimpl, keys
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

    page = await text_of(client, "/uptime_kuma/status/")
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
