"""The fake Uptime Kuma answers as Uptime Kuma 2.x and 1.23 do (external-apis.md section 4; 4.2a where it differs):
status pages and their heartbeats without login, ``/metrics`` with an API key, the cache of the public routes, and
the switches that make it hang or go down."""

from __future__ import annotations

import asyncio
import base64
import itertools
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from medianest_uptime_kuma.client import MonitorStatus
from medianest_uptime_kuma.fake import V1, V2, FakeMonitor, FakeUptimeKuma
from prometheus_client.parser import text_string_to_metric_families
from uptime_kuma_harness import MakeKuma, fake_kumas

CONFIG_2 = {
    "slug",
    "title",
    "description",
    "icon",
    "autoRefreshInterval",
    "theme",
    "published",
    "showTags",
    "customCSS",
    "footerText",
    "showPoweredBy",
    "analyticsId",
    "analyticsScriptUrl",
    "analyticsType",
    "showCertificateExpiry",
    "showOnlyLastHeartbeat",
    "rssTitle",
}
CONFIG_1 = {
    "slug",
    "title",
    "description",
    "icon",
    "theme",
    "published",
    "showTags",
    "customCSS",
    "footerText",
    "showPoweredBy",
    "googleAnalyticsId",
    "showCertificateExpiry",
}
BEAT_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$")


@pytest.fixture
async def make_kuma() -> AsyncIterator[MakeKuma]:
    async with fake_kumas() as make:
        yield make


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get(http: aiohttp.ClientSession, url: str, **headers: str) -> tuple[int, Any, aiohttp.ClientResponse]:
    async with http.get(url, headers=headers) as resp:
        text = await resp.text()
        is_json = resp.content_type == "application/json"
        return resp.status, (await resp.json() if is_json else text), resp


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def home(
    kuma: FakeUptimeKuma, *, show_plex_url: bool = False, **page: Any
) -> tuple[FakeMonitor, FakeMonitor, FakeMonitor]:
    """Plex (https, certificate, tags), a NAS (ping) and a database port, on the status page ``home``."""
    plex = kuma.add_monitor(
        "Plex", url="https://plex.example.org", cert_days=40, tags=[("service", "plex"), "Media box!"], ping=87
    )
    nas = kuma.add_monitor("NAS", type="ping", hostname="nas.lan")
    db = kuma.add_monitor("Database", type="port", hostname="db.lan", port=5432)
    shown = [plex] if show_plex_url else []
    kuma.add_status_page("home", "Home", {"Media": [plex], "Storage": [nas, db]}, show_urls=shown, **page)
    return plex, nas, db


async def test_a_status_page_in_2x(make_kuma: MakeKuma, http: aiohttp.ClientSession) -> None:
    kuma = await make_kuma(V2)
    plex, nas, _ = home(kuma, show_tags=True, show_cert_expiry=True, show_plex_url=True)
    kuma.set_incident("home", "Slow downloads", "The provider is working on it")
    status, page, _ = await get(http, f"{kuma.url}/api/status-page/home")
    assert status == 200
    assert list(page) == ["config", "incidents", "publicGroupList", "maintenanceList"]
    assert set(page["config"]) == CONFIG_2
    assert (page["config"]["slug"], page["config"]["title"], page["config"]["published"]) == ("home", "Home", True)
    assert [(i["title"], i["pin"], i["active"]) for i in page["incidents"]] == [("Slow downloads", True, True)]
    media, storage = page["publicGroupList"]
    assert (media["name"], media["weight"], storage["name"], storage["weight"]) == ("Media", 1, "Storage", 2)
    assert media["monitorList"] == [
        {
            "id": plex.id,
            "name": "Plex",
            "sendUrl": 1,
            "type": "http",
            "url": "https://plex.example.org",
            "tags": [  # rows of monitor_tag with the tag's name and colour, by name
                {"id": 2, "monitor_id": plex.id, "tag_id": 2, "value": "", "name": "Media box!", "color": "#2563EB"},
                {"id": 1, "monitor_id": plex.id, "tag_id": 1, "value": "plex", "name": "service", "color": "#2563EB"},
            ],
            "certExpiryDaysRemaining": 40,
            "validCert": True,
        }
    ]
    # 2.x adds the certificate fields to every monitor, "" and false without a certificate (4.2a).
    first = storage["monitorList"][0]
    assert first == {
        "id": nas.id,
        "name": "NAS",
        "sendUrl": 0,
        "type": "ping",
        "tags": [],
        "certExpiryDaysRemaining": "",
        "validCert": False,
    }


async def test_a_status_page_in_1_23(make_kuma: MakeKuma, http: aiohttp.ClientSession) -> None:
    kuma = await make_kuma(V1)
    plex, nas, _ = home(kuma, show_cert_expiry=True)
    _, page, _ = await get(http, f"{kuma.url}/api/status-page/home")
    assert list(page) == ["config", "incident", "publicGroupList", "maintenanceList"]
    assert set(page["config"]) == CONFIG_1
    assert page["incident"] is None
    media, storage = page["publicGroupList"]
    # 1.23 tells certificate expiry only for https monitors of the http kinds; without showTags, no tags.
    assert media["monitorList"] == [
        {"id": plex.id, "name": "Plex", "sendUrl": 0, "type": "http", "certExpiryDaysRemaining": 40, "validCert": True}
    ]
    assert storage["monitorList"][0] == {"id": nas.id, "name": "NAS", "sendUrl": 0, "type": "ping"}

    kuma.set_incident("home", "Maintenance tonight", "From 22:00")
    _, page, _ = await get(http, f"{kuma.url}/api/status-page/home")
    assert (page["incident"]["title"], page["incident"]["pin"]) == ("Maintenance tonight", 1)


async def test_an_unknown_slug(make_kuma: MakeKuma, http: aiohttp.ClientSession) -> None:
    kuma2 = await make_kuma(V2)
    home(kuma2)
    # 2.x: 404 from sendHttpError; the slug is lower-cased first.
    status, body, _ = await get(http, f"{kuma2.url}/api/status-page/nowhere")
    assert (status, body) == (404, {"status": "fail", "msg": "Status Page Not Found"})
    assert (await get(http, f"{kuma2.url}/api/status-page/HOME"))[0] == 200

    # 1.23 never answers an unknown slug, and does not lower-case it.
    kuma1 = await make_kuma(V1)
    home(kuma1)
    for slug in ("nowhere", "HOME"):
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(get(http, f"{kuma1.url}/api/status-page/{slug}"), 0.3)
    assert (await get(http, f"{kuma1.url}/api/status-page/home"))[0] == 200

    # Both answer the heartbeats of an unknown slug with empty lists.
    for kuma in (kuma1, kuma2):
        status, body, _ = await get(http, f"{kuma.url}/api/status-page/heartbeat/nowhere")
        assert (status, body) == (200, {"heartbeatList": {}, "uptimeList": {}})


async def test_an_unpublished_page_is_answered_all_the_same(make_kuma: MakeKuma, http: aiohttp.ClientSession) -> None:
    # Uptime Kuma's routes never read ``published``: the page is answered, saying it is not published.
    kuma = await make_kuma(V2)
    home(kuma, published=False)
    status, page, _ = await get(http, f"{kuma.url}/api/status-page/home")
    assert (status, page["config"]["published"]) == (200, False)
    status, beats, _ = await get(http, f"{kuma.url}/api/status-page/heartbeat/home")
    assert status == 200
    assert set(beats["heartbeatList"]) == {"1", "2", "3"}


@pytest.mark.parametrize(("version", "kept"), [(V2, 100), (V1, 50)])
async def test_heartbeats(make_kuma: MakeKuma, http: aiohttp.ClientSession, version: str, kept: int) -> None:
    kuma = await make_kuma(version)
    plex, nas, db = home(kuma)
    kuma.advance(minutes=119)  # 120 beats each
    kuma.set_status(nas.id, MonitorStatus.DOWN, msg="connect EHOSTUNREACH 10.0.0.5")
    status, body, _ = await get(http, f"{kuma.url}/api/status-page/heartbeat/home")
    assert status == 200
    assert list(body) == ["heartbeatList", "uptimeList"]
    assert sorted(body["heartbeatList"]) == [str(plex.id), str(nas.id), str(db.id)]
    assert sorted(body["uptimeList"]) == [f"{plex.id}_24", f"{nas.id}_24", f"{db.id}_24"]
    beats = body["heartbeatList"][str(nas.id)]
    assert len(beats) == kept
    assert beats[-1] == {"status": 0, "time": beats[-1]["time"], "msg": "", "ping": None}  # the message is not public
    assert all(set(beat) == {"status", "time", "msg", "ping"} and beat["msg"] == "" for beat in beats)
    assert all(BEAT_TIME.match(beat["time"]) for beat in beats)
    assert [beat["time"] for beat in beats] == sorted(beat["time"] for beat in beats)  # oldest first
    assert body["heartbeatList"][str(plex.id)][-1]["ping"] == 87
    assert body["uptimeList"][f"{plex.id}_24"] == 1


async def test_beat_times_without_milliseconds_on_mariadb(make_kuma: MakeKuma, http: aiohttp.ClientSession) -> None:
    kuma = await make_kuma(V2, mariadb=True)
    home(kuma)
    _, body, _ = await get(http, f"{kuma.url}/api/status-page/heartbeat/home")
    assert re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$", body["heartbeatList"]["1"][0]["time"])


@pytest.mark.parametrize(("version", "expected"), [(V2, 3 / 4), (V1, 50 / 60)])
async def test_uptime_as_each_version_computes_it(
    make_kuma: MakeKuma, http: aiohttp.ClientSession, version: str, expected: float
) -> None:
    # Beats: up, up (10 s later), up (10 s), pending (10 s), maintenance (30 s). 2.x counts beats: 3 up, 1 down
    # (pending), maintenance left out. 1.23 weighs the seconds before each beat: up 20 + maintenance 30 of 60.
    kuma = await make_kuma(version)
    monitor = kuma.add_monitor("API", interval=3600)
    for seconds, status in ((10, MonitorStatus.UP), (10, MonitorStatus.UP), (10, MonitorStatus.PENDING)):
        kuma.advance(seconds)
        kuma.set_status(monitor.id, status)
    kuma.advance(30)
    kuma.set_status(monitor.id, MonitorStatus.MAINTENANCE)
    kuma.add_status_page("api", "API", {"Services": [monitor]})
    _, body, _ = await get(http, f"{kuma.url}/api/status-page/heartbeat/api")
    assert body["uptimeList"][f"{monitor.id}_24"] == pytest.approx(expected)
    assert [beat["status"] for beat in body["heartbeatList"][str(monitor.id)]] == [1, 1, 1, 2, 3]


async def test_the_cache_of_the_public_routes(make_kuma: MakeKuma, http: aiohttp.ClientSession) -> None:
    kuma = await make_kuma(V2)
    _, nas, _ = home(kuma)
    url = f"{kuma.url}/api/status-page/heartbeat/home"

    def last(body: Any) -> int:
        return int(body["heartbeatList"][str(nas.id)][-1]["status"])

    assert last((await get(http, url))[1]) == MonitorStatus.UP
    # Up -> pending is not an important beat: the kept answer stays for its minute (4.2a).
    kuma.set_status(nas.id, MonitorStatus.PENDING)
    assert last((await get(http, url))[1]) == MonitorStatus.UP
    kuma.advance(61)
    assert last((await get(http, url))[1]) == MonitorStatus.PENDING
    # Pending -> down is important: the cache is cleared at once.
    kuma.set_status(nas.id, MonitorStatus.DOWN)
    assert last((await get(http, url))[1]) == MonitorStatus.DOWN

    # The status page is kept 5 minutes, a 404 included.
    assert (await get(http, f"{kuma.url}/api/status-page/later"))[0] == 404
    kuma.caching = False
    assert (await get(http, f"{kuma.url}/api/status-page/later"))[0] == 404


async def test_metrics_ask_for_the_api_key(make_kuma: MakeKuma, http: aiohttp.ClientSession) -> None:
    kuma = await make_kuma(V2, api_key="uk3_s3cret-key")
    home(kuma)
    url = f"{kuma.url}/metrics"
    status, body, resp = await get(http, url)
    assert (status, body, resp.headers["WWW-Authenticate"]) == (401, "", "Basic")
    assert (await get(http, url, Authorization=basic("", "uk3_wrong")))[0] == 401
    assert (await get(http, url, Authorization="Bearer uk3_s3cret-key"))[0] == 401
    for user in ("", "anyone"):  # the user name is not read
        status, _, resp = await get(http, url, Authorization=basic(user, "uk3_s3cret-key"))
        assert (status, resp.headers["Content-Type"]) == (200, "text/plain; version=0.0.4; charset=utf-8")
    kuma.key_active = False
    assert (await get(http, url, Authorization=basic("", "uk3_s3cret-key")))[0] == 401
    kuma.key_active = True
    kuma.key_expires = kuma.now()
    assert (await get(http, url, Authorization=basic("", "uk3_s3cret-key")))[0] == 401
    kuma.disable_auth = True
    assert (await get(http, url))[0] == 200
    with pytest.raises(ValueError, match="uk<id>_<secret>"):
        FakeUptimeKuma(api_key="not-a-kuma-key")


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    return {
        family.name: [(sample.labels, sample.value) for sample in family.samples]
        for family in text_string_to_metric_families(text)
    }


async def test_metrics_of_2x(make_kuma: MakeKuma, http: aiohttp.ClientSession) -> None:
    kuma = await make_kuma(V2)
    _, nas, db = home(kuma)
    paused = kuma.add_monitor("Old box", active=False)
    never = kuma.add_monitor("New box", status=None)
    kuma.set_status(nas.id, MonitorStatus.DOWN)
    status, text, _ = await get(http, f"{kuma.url}/metrics", Authorization=basic("", kuma.api_key))
    assert status == 200
    found = samples(text)
    names = {labels["monitor_name"] for labels, _ in found["monitor_status"]}
    assert names == {"Plex", "NAS", "Database"}  # neither the paused monitor nor one that never beat
    assert {paused.name, never.name}.isdisjoint(names)
    line = next(line for line in text.splitlines() if line.startswith("monitor_status{") and 'name="Plex"' in line)
    # Tags first (sanitised, sorted), then monitor_id first among the monitor's own labels (4.2a).
    assert line == (
        'monitor_status{Mediabox="",service="plex",monitor_id="1",monitor_name="Plex",monitor_type="http",'
        'monitor_url="https://plex.example.org",monitor_hostname="null",monitor_port="null"} 1'
    )
    by_name = {labels["monitor_name"]: (labels, value) for labels, value in found["monitor_status"]}
    assert by_name["NAS"] == (
        {
            "monitor_id": str(nas.id),
            "monitor_name": "NAS",
            "monitor_type": "ping",
            "monitor_url": "https://",  # a monitor without an address keeps the stored default
            "monitor_hostname": "nas.lan",
            "monitor_port": "null",
        },
        0,
    )
    assert by_name["Database"][0]["monitor_id"] == str(db.id)
    assert by_name["Database"][0]["monitor_port"] == "5432"
    response = {labels["monitor_name"]: value for labels, value in found["monitor_response_time"]}
    assert response == {"Plex": 87, "NAS": -1, "Database": 42}
    assert [(labels["monitor_name"], value) for labels, value in found["monitor_cert_days_remaining"]] == [("Plex", 40)]
    assert [(labels["monitor_name"], value) for labels, value in found["monitor_cert_is_valid"]] == [("Plex", 1)]
    ratios = {(labels["monitor_name"], labels["window"]): value for labels, value in found["monitor_uptime_ratio"]}
    assert ratios[("NAS", "1d")] == pytest.approx(1 / 2)
    assert {window for name, window in ratios if name == "Plex"} == {"1d", "30d", "365d"}
    seconds = {(labels["monitor_name"], labels["window"]): v for labels, v in found["monitor_response_time_seconds"]}
    assert seconds[("Plex", "30d")] == pytest.approx(0.087)
    assert found["app_version"][0][0]["version"] == V2


async def test_metrics_of_1_23(make_kuma: MakeKuma, http: aiohttp.ClientSession) -> None:
    kuma = await make_kuma(V1)
    home(kuma)
    _, text, _ = await get(http, f"{kuma.url}/metrics", Authorization=basic("", kuma.api_key))
    found = samples(text)
    assert "monitor_uptime_ratio" not in found
    assert "monitor_response_time_seconds" not in found
    labels = [labels for labels, _ in found["monitor_status"]]
    assert [list(item) for item in labels] == [
        ["monitor_name", "monitor_type", "monitor_url", "monitor_hostname", "monitor_port"]
    ] * 3  # no id, no tags
    assert found["app_version"][0][0]["version"] == V1


async def test_beats_over_time(make_kuma: MakeKuma) -> None:
    kuma = await make_kuma(V2)
    api = kuma.add_monitor("API", interval=60)
    later = kuma.add_monitor("Later", status=None)
    paused = kuma.add_monitor("Paused")
    kuma.set_active(paused.id, False)
    kuma.advance(minutes=5)
    beats = kuma.beats(api.id)
    assert len(beats) == 6
    assert {(b.time - a.time).total_seconds() for a, b in itertools.pairwise(beats)} == {60.0}
    assert [beat.important for beat in beats] == [True, False, False, False, False, False]
    assert kuma.beats(later.id) == []
    assert len(kuma.beats(paused.id)) == 1

    beat = kuma.set_status(api.id, MonitorStatus.DOWN, msg="503 - Service Unavailable")
    assert (beat.status, beat.msg, beat.ping, beat.important) == (
        MonitorStatus.DOWN,
        "503 - Service Unavailable",
        None,
        True,
    )
    kuma.advance(minutes=2)
    assert [beat.status for beat in kuma.beats(api.id)[-3:]] == [MonitorStatus.DOWN] * 3
    assert [beat.important for beat in kuma.beats(api.id)[-3:]] == [True, False, False]

    tls = kuma.add_monitor("Site", url="https://site.example.org", cert_days=30, interval=86400)
    kuma.advance(days=10)
    assert kuma.cert_days(tls) == 20


async def test_hang_down_and_other_paths(make_kuma: MakeKuma, http: aiohttp.ClientSession) -> None:
    kuma = await make_kuma(V2)
    home(kuma)
    status, body, resp = await get(http, f"{kuma.url}/dashboard/1")
    assert (status, resp.content_type) == (200, "text/html")  # the web app answers any other GET
    assert "<!DOCTYPE html>" in body

    kuma.down = True
    assert (await get(http, f"{kuma.url}/api/status-page/home"))[0] == 503
    assert (await get(http, f"{kuma.url}/metrics"))[0] == 503
    kuma.down = False

    kuma.hang = True
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(get(http, f"{kuma.url}/api/status-page/heartbeat/home"), 0.3)
    kuma.hang = False
    assert (await get(http, f"{kuma.url}/api/status-page/heartbeat/home"))[0] == 200
    assert kuma.count("/api/status-page/heartbeat/home") == 2


@pytest.mark.parametrize(
    ("error", "status"),
    [("SQLITE_BUSY: database is locked", 503), ("Cannot read properties of null", 403)],
)
async def test_its_own_errors(make_kuma: MakeKuma, http: aiohttp.ClientSession, error: str, status: int) -> None:
    kuma = await make_kuma(V2)
    home(kuma)
    kuma.error = error
    answer = await get(http, f"{kuma.url}/api/status-page/home")
    assert answer[:2] == (status, {"status": "fail", "msg": error})


# ---- Socket.IO ----------------------------------------------------------------------------------------------------


class Heard:
    """A raw Socket.IO client of the fake that records every event it receives, in order."""

    def __init__(self) -> None:
        import socketio  # type: ignore[import-untyped]

        self.http = aiohttp.ClientSession()
        self.sio = socketio.AsyncClient(reconnection=False, handle_sigint=False, http_session=self.http)
        self.events: list[tuple[str, tuple[Any, ...]]] = []

        async def any_event(event: str, *args: Any) -> None:
            self.events.append((event, args))

        self.sio.on("*", any_event)

    def named(self, event: str) -> list[tuple[Any, ...]]:
        return [args for name, args in self.events if name == event]

    async def settle(self, event: str, count: int) -> None:
        for _ in range(200):
            if len(self.named(event)) >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{event} came {len(self.named(event))} times, not {count}")

    async def close(self) -> None:
        await self.sio.disconnect()
        await self.http.close()


@pytest.fixture
async def heard() -> AsyncIterator[Heard]:
    found = Heard()
    yield found
    await found.close()


def login(kuma: FakeUptimeKuma, **values: Any) -> dict[str, Any]:
    return {"username": kuma.username, "password": kuma.password, "token": ""} | values


@pytest.mark.parametrize("version", [V2, V1])
async def test_socket_io_after_a_login(make_kuma: MakeKuma, heard: Heard, version: str) -> None:
    kuma = await make_kuma(version)
    plex, nas, _ = home(kuma)
    kuma.set_status(nas.id, MonitorStatus.DOWN, msg="Request timed out")
    await heard.sio.connect(kuma.url, transports=["websocket"])
    await heard.settle("loginRequired", 1)
    assert [name for name, _ in heard.events][:2] == ["info", "loginRequired"]
    assert set(heard.named("info")[0][0]) == {"primaryBaseURL", "serverTimezone", "serverTimezoneOffset"}

    answer = await heard.sio.call("login", login(kuma))
    assert answer["ok"] is True
    assert answer["token"]
    await heard.settle("uptime", 3 * (3 if version == V2 else 2))
    (monitors,) = heard.named("monitorList")[0]
    assert sorted(monitors) == ["1", "2", "3"]
    assert monitors["1"]["name"] == "Plex"
    assert monitors["1"]["url"] == "https://plex.example.org"
    assert monitors["1"]["active"] == (True if version == V2 else 1)
    assert {tag["name"] for tag in monitors["1"]["tags"]} == {"service", "Media box!"}

    lists = {args[0]: args for args in heard.named("heartbeatList")}
    _nas_id, rows, overwrite = lists[nas.id]
    assert overwrite is True
    assert rows[-1]["msg"] == "Request timed out"
    assert rows[-1]["status"] == 0
    assert {"id", "monitor_id", "status", "msg", "time", "ping", "important", "duration"} <= set(rows[-1])
    assert BEAT_TIME.match(rows[-1]["time"])
    assert [row["time"] for row in rows] == sorted(row["time"] for row in rows)  # oldest first

    periods = {(args[0], args[1]) for args in heard.named("uptime")}
    assert (plex.id, 24) in periods
    assert (plex.id, 720) in periods
    assert ((plex.id, "1y") in periods) is (version == V2)
    assert bool(heard.named("importantHeartbeatList")) is (version == V1)
    assert heard.named("avgPing")
    (cert,) = [args for args in heard.named("certInfo") if args[0] == plex.id]
    assert '"daysRemaining": 40' in cert[1] or '"daysRemaining": 39' in cert[1]


async def test_socket_io_logins_it_refuses(make_kuma: MakeKuma, heard: Heard) -> None:
    kuma = await make_kuma()
    home(kuma)
    kuma.add_user("guarded", "pw-guarded", two_factor="424242")
    await heard.sio.connect(kuma.url, transports=["websocket"])
    wrong = {"ok": False, "msg": "authIncorrectCreds", "msgi18n": True}
    assert await heard.sio.call("login", login(kuma, password="nope")) == wrong
    assert await heard.sio.call("login", login(kuma, username="nobody")) == wrong
    guarded = {"username": "guarded", "password": "pw-guarded", "token": ""}
    assert await heard.sio.call("login", guarded) == {"tokenRequired": True}
    assert (await heard.sio.call("login", guarded | {"token": "000000"}))["msg"] == "authInvalidToken"
    assert (await heard.sio.call("login", guarded | {"token": "424242"}))["ok"] is True
    kuma.login_limit = 5
    assert await heard.sio.call("login", login(kuma)) == {"ok": False, "msg": "Too frequently, try again later."}
    assert kuma.logins == [kuma.username, "nobody", "guarded", "guarded", "guarded"]
    assert kuma.password not in repr(kuma.users)


async def test_socket_io_origin_hang_and_down(make_kuma: MakeKuma, http: aiohttp.ClientSession) -> None:
    kuma = await make_kuma()
    home(kuma)
    ws_url = kuma.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    host = kuma.url.split("://", 1)[1]
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(ws_url, origin="http://evil.example")
    assert refused.value.status == 403
    async with http.ws_connect(ws_url, origin=f"http://{host}") as ws:  # the same host: let in
        assert (await ws.receive_str()).startswith("0{")
    async with http.ws_connect(ws_url) as ws:  # no Origin: let in
        assert (await ws.receive_str()).startswith("0{")
    polling = kuma.url + "/socket.io/?EIO=4&transport=polling"
    status, body, _ = await get(http, polling, Origin="http://evil.example")  # polling: always
    assert status == 200
    assert str(body).startswith("0{")

    kuma.down = True
    assert (await get(http, polling))[0] == 503
    kuma.down = False
    kuma.hang_socket = True
    with pytest.raises(asyncio.TimeoutError):
        async with asyncio.timeout(0.3):
            await get(http, polling)
    assert (await get(http, kuma.url + "/metrics", Authorization=basic("", kuma.api_key)))[0] == 200
