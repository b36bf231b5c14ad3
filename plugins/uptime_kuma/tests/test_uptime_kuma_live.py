"""The optional Uptime Kuma user, read over Socket.IO (2.x and 1.23): a down monitor's last message for the admins
only, the 30-day uptime on 1.23, one monitor however many sources show it, and a refused or silent sign-in that
fails the poll with a reason a person can act on while the stored monitors stay."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest
from medianest_uptime_kuma import live
from medianest_uptime_kuma.client import MonitorStatus
from medianest_uptime_kuma.fake import SOCKET_PATH, TOO_FREQUENT, V1, V2, FakeUptimeKuma
from medianest_uptime_kuma.service import UptimeKuma, connection_test
from uptime_kuma_harness import MakeKuma, Person, Setup, fake_kumas, home, setup

from medianest_core.settings import Secret
from medianest_core.types import HealthState
from medianest_core.upstream import Unavailable

BASE = "/api/v1/uptime_kuma/monitors"
TEST = "/api/v1/admin/services/uptime_kuma/test"


@pytest.fixture
async def make_kuma() -> AsyncIterator[MakeKuma]:
    async with fake_kumas() as make:
        yield make


async def signed_in(medianest_client: Any, kuma: FakeUptimeKuma, **values: Any) -> Setup:
    return await setup(medianest_client, kuma, username=kuma.username, password=kuma.password, **values)


async def by_name(person: Person) -> dict[str, dict[str, Any]]:
    return {doc["name"]: doc for doc in (await person.monitors())["monitors"]}


@pytest.mark.parametrize("version", [V2, V1])
async def test_a_down_monitors_message_reaches_the_admins_only(
    medianest_client: Any, make_kuma: MakeKuma, version: str
) -> None:
    kuma = await home(make_kuma, version)
    nas = kuma.monitors[1]
    kuma.set_status(nas.id, MonitorStatus.DOWN, msg="Request timed out")
    s = await signed_in(medianest_client, kuma)
    admin = await s.person("root", role="admin")
    alice = await s.person("alice")
    assert await s.poll()
    nas_id = (await by_name(admin))["NAS"]["id"]

    status, body = await admin.call("GET", f"{BASE}/{nas_id}")
    assert status == 200, body
    assert body["monitor"]["status"] == "down"
    assert body["monitor"]["message"] == "Request timed out"

    status, body = await alice.call("GET", f"{BASE}/{nas_id}")
    assert status == 200, body
    assert body["monitor"]["status"] == "down"
    assert "message" not in body["monitor"]
    assert "Request timed out" not in str(await alice.monitors())
    html = {"Accept": "text/html"}
    status, page = await admin.call("GET", "/uptime_kuma/status/", headers=html)
    assert status == 200
    assert "Request timed out" in page  # under the down monitor, for the admins
    status, page = await alice.call("GET", "/uptime_kuma/status/", headers=html)
    assert status == 200
    assert "NAS" in page
    assert "Request timed out" not in page
    assert kuma.logins == [kuma.username]


@pytest.mark.parametrize("version", [V2, V1])
async def test_thirty_day_uptime_and_each_monitor_once(
    medianest_client: Any, make_kuma: MakeKuma, version: str
) -> None:
    kuma = await home(make_kuma, version)
    backup = kuma.monitors[2]
    kuma.advance(hours=2)
    kuma.set_status(backup.id, MonitorStatus.DOWN, msg="connect ECONNREFUSED")
    kuma.advance(minutes=5)  # down for five minutes of the last two hours
    s = await signed_in(medianest_client, kuma)
    admin = await s.person("root", role="admin")
    assert await s.poll()
    listed = await admin.monitors()
    assert sorted(doc["name"] for doc in listed["monitors"]) == ["Backup", "NAS", "Plex"]
    monitors = {doc["name"]: doc for doc in listed["monitors"]}
    assert monitors["Plex"]["uptime_30d"] == pytest.approx(1.0)
    assert monitors["Plex"]["group"] == "Media"  # the status page's group stays
    assert 0 < monitors["Backup"]["uptime_30d"] < 1
    assert monitors["Backup"]["message"] == "connect ECONNREFUSED"
    assert monitors["Backup"]["visible"] is False  # not on a status page: hidden until the admin shows it
    assert await s.poll()  # a second read updates the same rows
    assert sorted(doc["name"] for doc in (await admin.monitors())["monitors"]) == ["Backup", "NAS", "Plex"]


async def test_a_user_alone_is_enough(medianest_client: Any, make_kuma: MakeKuma) -> None:
    kuma = await home(make_kuma, V1)
    s = await signed_in(medianest_client, kuma, status_pages=[], api_key=None)
    admin = await s.person("root", role="admin")
    assert await s.poll()
    assert sorted(await admin.names()) == ["Backup", "NAS", "Plex"]
    assert kuma.count("/metrics") == 0
    sockets = [call for call in kuma.calls if call.path.startswith(SOCKET_PATH)]
    assert sockets
    assert all("Origin" not in call.headers for call in sockets)  # Uptime Kuma's origin check lets it in


@pytest.mark.parametrize("version", [V2, V1])
async def test_a_wrong_password_fails_the_poll_with_the_reason(
    medianest_client: Any, make_kuma: MakeKuma, version: str
) -> None:
    kuma = await home(make_kuma, version)
    s = await setup(medianest_client, kuma, username=kuma.username, password="not-the-password")
    admin = await s.person("root", role="admin")
    alice = await s.person("alice")
    assert not await s.poll()
    answer = await admin.monitors()
    assert answer["error"] == live.BAD_CREDENTIALS
    assert "error" not in await alice.monitors()

    status, body = await admin.call("POST", TEST, json={"values": {}})
    assert status == 200, body
    assert body["state"] == "down"
    assert body["message"] == live.BAD_CREDENTIALS
    right = attrs.evolve(s.service.settings, password=Secret(kuma.password))
    found = await connection_test(s.runtime.contexts["uptime_kuma"], right).check()
    assert (found.state, found.message) == (
        HealthState.UP,
        f"Found 3 monitors on 1 status page and /metrics and Socket.IO as {kuma.username}.",
    )


async def test_a_user_with_two_factor_sign_in_is_named_as_such(medianest_client: Any, make_kuma: MakeKuma) -> None:
    kuma = await home(make_kuma)
    kuma.add_user("guarded", "pass-word-1", two_factor="123456")
    s = await setup(medianest_client, kuma, username="guarded", password="pass-word-1")
    admin = await s.person("root", role="admin")
    assert not await s.poll()
    assert (await admin.monitors())["error"] == live.TWO_FACTOR
    assert "two-factor" in live.TWO_FACTOR


async def test_too_many_sign_ins_show_uptime_kumas_words(medianest_client: Any, make_kuma: MakeKuma) -> None:
    kuma = await home(make_kuma)
    kuma.login_limit = 0
    s = await signed_in(medianest_client, kuma)
    admin = await s.person("root", role="admin")
    assert not await s.poll()
    assert TOO_FREQUENT in (await admin.monitors())["error"]


@pytest.mark.parametrize("switch", ["hang_socket", "login_silent"])
async def test_socket_io_hanging_ends_by_the_deadline_and_keeps_the_rows(
    medianest_client: Any, make_kuma: MakeKuma, switch: str
) -> None:
    kuma = await home(make_kuma)
    nas = kuma.monitors[1]
    s = await signed_in(medianest_client, kuma)
    admin = await s.person("root", role="admin")
    alice = await s.person("alice")
    assert await s.poll()
    before = await alice.monitors()
    setattr(kuma, switch, True)
    kuma.set_status(nas.id, MonitorStatus.DOWN, msg="Request timed out")
    s.service.poll_seconds = 0.5
    started = time.monotonic()
    assert not await s.poll()
    assert time.monotonic() - started < 3.0
    after = await alice.monitors()
    assert after["stale"] is True
    assert after["as_of"] == before["as_of"]
    assert [(doc["name"], doc["status"]) for doc in after["monitors"]] == [
        (doc["name"], doc["status"]) for doc in before["monitors"]
    ]
    assert "did not answer" in (await admin.monitors())["error"]
    setattr(kuma, switch, False)
    s.service.poll_seconds = 10
    assert await s.poll()  # Uptime Kuma is back: the next poll reads it
    assert (await by_name(alice))["NAS"]["status"] == "down"


async def test_uptime_kuma_down_is_unavailable_not_a_refusal(make_kuma: MakeKuma) -> None:
    kuma = await home(make_kuma)
    kuma.down = True
    with pytest.raises(Unavailable) as caught:
        await live.read(kuma.url, live.Login(kuma.username, kuma.password), seconds=5)
    assert not isinstance(caught.value, live.LoginFailed)


def test_user_name_and_password_go_together(medianest_settings: Any) -> None:
    from medianest_core.plugins import PluginStatus
    from medianest_core.testing import installed_plugin

    base = {"url": "http://127.0.0.1:9"}
    for alone in ({"username": "watcher"}, {"password": "secret"}):
        record = installed_plugin("uptime_kuma", medianest_settings(plugins={"uptime_kuma": base | alone}))
        assert record.status is PluginStatus.BAD_SETTINGS, alone
        assert "password" in (record.reason or "")
    record = installed_plugin(
        "uptime_kuma",
        medianest_settings(plugins={"uptime_kuma": base | {"username": "watcher", "password": "s3cret-pass"}}),
    )
    assert record.status is PluginStatus.LOADED
    assert record.settings.configured
    assert record.settings.login == live.Login("watcher", "s3cret-pass")
    assert "s3cret-pass" not in repr(record.settings) + repr(record.settings.login)


async def test_a_monitor_known_by_name_keeps_the_admins_choices_once_its_id_is_known(
    medianest_client: Any, make_kuma: MakeKuma
) -> None:
    """On 1.23, /metrics names a monitor without its id; once a user is set, Socket.IO gives the id. The monitor
    stays one row, with the title and visibility the admin gave it."""
    kuma = await home(make_kuma, V1)
    s = await setup(medianest_client, kuma)
    admin = await s.person("root", role="admin")
    assert await s.poll()
    backup = (await by_name(admin))["Backup"]
    status, body = await admin.call("PATCH", f"{BASE}/{backup['id']}", json={"visible": True, "title": "Nightly"})
    assert status == 200, body

    ctx = s.runtime.contexts["uptime_kuma"]
    signed = attrs.evolve(s.service.settings, username=kuma.username, password=Secret(kuma.password))
    assert await UptimeKuma(ctx, signed).poll()

    monitors = {m["name"]: m for m in (await admin.monitors())["monitors"]}
    assert sorted(monitors) == ["NAS", "Nightly", "Plex"]  # the admin's title, and no second "Backup"
    assert (monitors["Nightly"]["id"], monitors["Nightly"]["visible"]) == (backup["id"], True)
