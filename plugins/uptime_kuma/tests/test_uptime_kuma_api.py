"""The JSON API of the monitors: what each person may see (a hidden monitor never reaches someone who is not an
admin), the admin's changes and their validation, and watching a monitor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from medianest_uptime_kuma.fake import V2, FakeUptimeKuma
from uptime_kuma_harness import Person, Setup, setup

BASE = "/api/v1/uptime_kuma/monitors"


@pytest.fixture
async def kuma() -> AsyncIterator[FakeUptimeKuma]:
    """Plex and the NAS on the status page "home"; Backup only in ``/metrics``."""
    made = FakeUptimeKuma(V2)
    plex = made.add_monitor("Plex", url="https://plex.example.org")
    nas = made.add_monitor("NAS", type="ping", hostname="nas.lan")
    made.add_monitor("Backup", type="port", hostname="backup.lan", port=22)
    made.add_status_page("home", "Home", {"Media": [plex], "Storage": [nas]})
    await made.start()
    yield made
    await made.stop()


async def ready(medianest_client: Any, kuma: FakeUptimeKuma) -> tuple[Setup, Person, Person, dict[str, int]]:
    s = await setup(medianest_client, kuma)
    admin = await s.person("root", role="admin")
    alice = await s.person("alice")
    assert await s.poll()
    ids = {doc["name"]: doc["id"] for doc in (await admin.monitors())["monitors"]}
    return s, admin, alice, ids


async def test_nothing_read_yet_is_stale_without_an_age(medianest_client: Any, kuma: FakeUptimeKuma) -> None:
    s = await setup(medianest_client, kuma)
    alice = await s.person("alice")
    assert await alice.monitors() == {"monitors": [], "as_of": None, "stale": True}


async def test_a_metrics_only_monitor_is_hidden_until_the_admin_shows_it(
    medianest_client: Any, kuma: FakeUptimeKuma
) -> None:
    _, admin, alice, ids = await ready(medianest_client, kuma)
    assert "Backup" not in await alice.names()
    assert (await alice.call("GET", f"{BASE}/{ids['Backup']}"))[0] == 404
    assert (await alice.call("PUT", f"{BASE}/{ids['Backup']}/watch"))[0] == 404

    status, body = await admin.call("PATCH", f"{BASE}/{ids['Backup']}", json={"visible": True})
    assert status == 200
    assert body["monitor"]["visible"] is True
    assert "Backup" in await alice.names()
    status, body = await alice.call("GET", f"{BASE}/{ids['Backup']}")
    assert status == 200
    assert body["monitor"]["name"] == "Backup"
    assert body["watching"] is False

    status, body = await admin.call("PATCH", f"{BASE}/{ids['Backup']}", json={"visible": None})
    assert status == 200
    assert body["monitor"]["visible"] is False
    assert "Backup" not in await alice.names()


async def test_a_hidden_monitor_never_reaches_a_person(medianest_client: Any, kuma: FakeUptimeKuma) -> None:
    s, admin, alice, ids = await ready(medianest_client, kuma)
    status, _ = await admin.call("PATCH", f"{BASE}/{ids['Plex']}", json={"visible": False})
    assert status == 200
    assert await alice.names() == ["NAS"]
    assert (await alice.call("GET", f"{BASE}/{ids['Plex']}"))[0] == 404
    assert (await alice.call("PUT", f"{BASE}/{ids['Plex']}/watch"))[0] == 404
    assert (await alice.call("DELETE", f"{BASE}/{ids['Plex']}/watch"))[0] == 404
    assert await s.poll()  # a new read keeps the admin's choice
    assert await alice.names() == ["NAS"]
    assert sorted(await admin.names()) == ["Backup", "NAS", "Plex"]


async def test_admins_fields_stay_with_admins(medianest_client: Any, kuma: FakeUptimeKuma) -> None:
    _, admin, alice, ids = await ready(medianest_client, kuma)
    _, mine = await alice.call("GET", f"{BASE}/{ids['Plex']}")
    assert "message" not in mine["monitor"]
    assert "visible" not in mine["monitor"]
    assert "error" not in await alice.monitors()
    _, theirs = await admin.call("GET", f"{BASE}/{ids['Plex']}")
    assert "message" in theirs["monitor"]
    assert theirs["monitor"]["visible"] is True


async def test_rename_and_reorder(medianest_client: Any, kuma: FakeUptimeKuma) -> None:
    _, admin, alice, ids = await ready(medianest_client, kuma)
    assert await alice.names() == ["NAS", "Plex"]
    status, _ = await admin.call("PATCH", f"{BASE}/{ids['Plex']}", json={"title": "Plex Media Server", "position": 1})
    assert status == 200
    assert await alice.names() == ["Plex Media Server", "NAS"]
    status, _ = await admin.call("PATCH", f"{BASE}/{ids['Plex']}", json={"title": "", "position": None})
    assert status == 200
    assert await alice.names() == ["NAS", "Plex"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "x" * 101}, "title"),
        ({"position": -1}, "position"),
        ({"position": 10_001}, "position"),
        ({"position": "first"}, "position"),
        ({"visible": "yes"}, "visible"),
        ({"service": "nothing-like-it"}, "service"),
        ({"service": "uptime_kuma"}, "service"),
    ],
)
async def test_patch_refuses_bad_values(
    medianest_client: Any, kuma: FakeUptimeKuma, body: dict[str, Any], field: str
) -> None:
    _, admin, _, ids = await ready(medianest_client, kuma)
    status, answer = await admin.call("PATCH", f"{BASE}/{ids['Plex']}", json=body)
    assert status == 422, answer
    assert answer["error"]["code"] == "validation_failed"
    assert field in answer["error"]["details"]["fields"]
    _, after = await admin.call("GET", f"{BASE}/{ids['Plex']}")
    assert after["monitor"]["name"] == "Plex"
    assert after["monitor"]["position"] is None


async def test_patch_other_refusals(medianest_client: Any, kuma: FakeUptimeKuma) -> None:
    _, admin, alice, ids = await ready(medianest_client, kuma)
    status, answer = await admin.call("PATCH", f"{BASE}/{ids['Plex']}", json={})
    assert status == 200  # nothing to change: the monitor as it is
    assert answer["monitor"]["name"] == "Plex"
    status, answer = await admin.call("PATCH", f"{BASE}/999999", json={})
    assert status == 404
    status, answer = await admin.call(
        "PATCH", f"{BASE}/{ids['Plex']}", data="not json", headers={"Content-Type": "application/json"}
    )
    assert status == 400
    assert answer["error"]["code"] == "bad_request"
    status, answer = await admin.call("PATCH", f"{BASE}/{ids['Plex']}", json={"colour": "red"})
    assert status == 422
    status, answer = await admin.call("PATCH", f"{BASE}/999999", json={"title": "x"})
    assert status == 404
    assert answer["error"]["code"] == "not_found"
    status, answer = await admin.call("PATCH", f"{BASE}/nope", json={"title": "x"})
    assert status == 404
    status, answer = await alice.call("PATCH", f"{BASE}/{ids['Plex']}", json={"title": "Mine"})
    assert status == 403
    assert answer["error"]["code"] == "forbidden"
    assert "Mine" not in await alice.names()


async def test_watch_and_stop_watching(medianest_client: Any, kuma: FakeUptimeKuma) -> None:
    _, _, alice, ids = await ready(medianest_client, kuma)
    for _ in range(2):
        status, body = await alice.call("PUT", f"{BASE}/{ids['Plex']}/watch")
        assert status == 200
        assert body["watching"] is True
    _, body = await alice.call("GET", f"{BASE}/{ids['Plex']}")
    assert body["watching"] is True
    status, body = await alice.call("DELETE", f"{BASE}/{ids['Plex']}/watch")
    assert status == 200
    assert body["watching"] is False
    _, body = await alice.call("GET", f"{BASE}/{ids['Plex']}")
    assert body["watching"] is False
