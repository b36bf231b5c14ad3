"""Saved settings apply at once: the plugin restarts with them in every process, its routes say so meanwhile, and
settings that fail can be put back in one click."""

from __future__ import annotations

import asyncio
import inspect
import io
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import pytest
from aiohttp import web
from sqlalchemy import select

from medianest_core import HealthCheck, HealthResult, HealthState, PluginContext, Route, hookimpl, keys, live_settings
from medianest_core.events import PluginSettingsSaved, RedisBridge
from medianest_core.models import ServiceSetting
from medianest_core.secrets import rotate_key
from medianest_core.service_settings import PREVIOUS, saved_values
from medianest_core.settings import Secret
from medianest_core.testing import entry_point, sign_in
from medianest_core.types import PeriodicTask

PUT = "/api/v1/admin/services/relay"
REVERT = "/api/v1/admin/services/relay/revert"


@attrs.frozen
class RelaySettings:
    greeting: str = "hello"
    server: str = "relay.example"


class Relay:
    """A plugin whose start-up reads its settings: it connects to ``server`` (one named ``down…`` refuses) and then
    greets with ``greeting`` at ``GET /api/v1/relay/greeting``; its check and its task say the greeting they were
    made with. ``hold``, when set, keeps its start-up waiting."""

    name = "relay"
    version = "1.0"

    def __init__(self) -> None:
        self.hold: asyncio.Event | None = None
        self.greetings: dict[int, str] = {}  # by id(ctx): what the running start-up connected with
        self.startups = 0
        self.shutdowns = 0
        self.ticks: list[str] = []

    @hookimpl
    def settings_class(self) -> type[Any]:
        return RelaySettings

    @hookimpl
    async def startup(self, ctx: PluginContext) -> None:
        self.startups += 1
        if self.hold is not None:
            await self.hold.wait()
        if ctx.settings.server.startswith("down"):
            raise ConnectionError(f"{ctx.settings.server} refused the connection")
        self.greetings[id(ctx)] = ctx.settings.greeting

    @hookimpl
    async def shutdown(self, ctx: PluginContext) -> None:
        self.shutdowns += 1
        self.greetings.pop(id(ctx), None)

    @hookimpl
    def api_routes(self, ctx: PluginContext) -> list[Route]:
        async def greeting(request: web.Request) -> web.Response:
            return web.json_response({"greeting": self.greetings[id(ctx)]})

        return [Route("GET", "/greeting", greeting)]

    @hookimpl
    def health_checks(self, ctx: PluginContext) -> list[HealthCheck]:
        said = f"the relay says {ctx.settings.greeting}"

        async def check() -> HealthResult:
            return HealthResult(HealthState.UP, said)

        return [HealthCheck("service", check, interval=0.05, timeout=1)]

    @hookimpl
    def periodic_tasks(self, ctx: PluginContext) -> list[PeriodicTask]:
        greeting = ctx.settings.greeting

        async def tick() -> None:
            self.ticks.append(greeting)

        return [PeriodicTask("tick", 0.02, tick)]


async def relay_client(medianest_client: Callable[..., Awaitable[Any]], relay: Relay, **settings: Any) -> Any:
    return await medianest_client(entry_points=[entry_point("relay", relay)], **settings)


async def greeting(client: Any) -> Any:
    resp = await client.get("/api/v1/relay/greeting")
    body = await resp.json()
    return body["greeting"] if resp.status == 200 else (resp.status, body["error"])


async def eventually(condition: Callable[[], Any]) -> None:
    """Wait, up to 5 s, until ``condition()`` (awaited when it gives an awaitable) is true."""
    for _ in range(250):
        found = condition()
        if inspect.isawaitable(found):
            found = await found
        if found:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("still not so after 5 s")


async def test_saved_settings_apply_at_once_without_a_restart(medianest_client: Any) -> None:
    relay = Relay()
    client = await relay_client(medianest_client, relay)
    admin = await sign_in(client, "root", role="admin")
    assert await greeting(client) == "hello"

    resp = await client.put(PUT, json={"values": {"greeting": "good evening"}}, headers=admin.headers)
    assert resp.status == 200, await resp.text()
    doc = await resp.json()
    assert (doc["status"], doc["reason"], doc["restart_needed"], doc["changed"]) == (
        "loaded",
        None,
        False,
        ["greeting"],
    )
    assert await greeting(client) == "good evening"
    assert (relay.startups, relay.shutdowns) == (2, 1)  # one restart, in this process

    # Its health check and its periodic task are the ones made with the new settings.
    async def checked_anew() -> bool:
        components = (await (await client.get("/api/v1/health")).json())["components"]
        return any(c["name"] == "relay/service" and c["message"] == "the relay says good evening" for c in components)

    await eventually(checked_anew)
    relay.ticks.clear()
    await eventually(lambda: len(relay.ticks) >= 3)
    assert set(relay.ticks) == {"good evening"}

    # The services page shows the plugin running, with nothing waiting for a restart.
    page = await (await client.get("/admin/services", headers={"Accept": "text/html"})).text()
    section = page[page.index('id="service-relay"') : page.index("</section>", page.index('id="service-relay"'))]
    assert "state-loaded" in section
    assert "wait for a restart" not in section
    assert "Put back the previous settings" not in section
    assert "Saved values take effect at once" in page


async def test_routes_say_the_plugin_is_restarting_meanwhile(medianest_client: Any) -> None:
    relay = Relay()
    client = await relay_client(medianest_client, relay)
    admin = await sign_in(client, "root", role="admin")
    relay.hold = asyncio.Event()
    saving = asyncio.create_task(client.put(PUT, json={"values": {"greeting": "hi"}}, headers=admin.headers))
    await eventually(lambda: relay.startups == 2)

    resp = await client.get("/api/v1/relay/greeting")
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "1"
    error = (await resp.json())["error"]
    assert error["code"] == "plugin_unavailable"
    assert error["message"] == "The relay plugin is restarting with new settings; try again in a moment."
    assert error["details"] == {"plugin": "relay", "status": "restarting"}

    relay.hold.set()
    resp = await saving
    assert (resp.status, (await resp.json())["status"]) == (200, "loaded")
    assert await greeting(client) == "hi"


class SlowRelay(Relay):
    """The relay with a route that answers once ``go`` is set, with what the running start-up connected with."""

    def __init__(self) -> None:
        super().__init__()
        self.go = asyncio.Event()
        self.asked = asyncio.Event()

    @hookimpl
    def api_routes(self, ctx: PluginContext) -> list[Route]:
        async def slow(request: web.Request) -> web.Response:
            self.asked.set()
            await self.go.wait()
            return web.json_response({"greeting": self.greetings[id(ctx)]})

        return [Route("GET", "/greeting", self.greeting_of(ctx)), Route("GET", "/slow", slow)]

    def greeting_of(self, ctx: PluginContext) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def greeting(request: web.Request) -> web.Response:
            return web.json_response({"greeting": self.greetings[id(ctx)]})

        return greeting


async def test_a_request_under_way_is_answered_before_the_plugin_restarts(medianest_client: Any) -> None:
    relay = SlowRelay()
    client = await relay_client(medianest_client, relay)
    admin = await sign_in(client, "root", role="admin")
    record = client.app[keys.RUNTIME].plugins.get("relay")
    under_way = asyncio.create_task(client.get("/api/v1/relay/slow"))
    await asyncio.wait_for(relay.asked.wait(), 5)

    saving = asyncio.create_task(client.put(PUT, json={"values": {"greeting": "hi"}}, headers=admin.headers))
    await eventually(lambda: record.restarting)
    status, error = await greeting(client)  # a new request waits for nothing: it is told to come back
    assert (status, error["details"]["status"]) == (503, "restarting")
    await asyncio.sleep(0.2)
    assert relay.shutdowns == 0  # the plugin is not shut down under the request it is answering

    relay.go.set()
    answered = await under_way
    assert answered.status == 200
    assert await answered.json() == {"greeting": "hello"}
    assert (await saving).status == 200
    assert relay.shutdowns == 1
    assert await greeting(client) == "hi"


class BusyRelay(Relay):
    """The relay whose periodic task, once, waits for ``release`` in the middle of its round (as a database write
    or a call to a service would) and says whether it got to the end."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = asyncio.Event()
        self.release = asyncio.Event()
        self.ends: list[str] = []

    @hookimpl
    def periodic_tasks(self, ctx: PluginContext) -> list[PeriodicTask]:
        async def round_() -> None:
            if self.inside.is_set():
                return
            self.inside.set()
            try:
                await self.release.wait()
                self.ends.append("finished")
            except asyncio.CancelledError:
                self.ends.append("cut short")
                raise

        return [PeriodicTask("round", 0.02, round_)]


async def test_a_round_of_a_periodic_task_under_way_finishes_before_the_plugin_restarts(
    medianest_client: Any,
) -> None:
    relay = BusyRelay()
    client = await relay_client(medianest_client, relay)
    admin = await sign_in(client, "root", role="admin")
    await asyncio.wait_for(relay.inside.wait(), 5)

    saving = asyncio.create_task(client.put(PUT, json={"values": {"greeting": "hi"}}, headers=admin.headers))
    await asyncio.sleep(0.3)
    assert not saving.done()
    assert relay.shutdowns == 0
    relay.release.set()
    resp = await saving
    assert (resp.status, (await resp.json())["status"]) == (200, "loaded")
    assert relay.ends == ["finished"]
    assert await greeting(client) == "hi"


async def test_settings_that_fail_say_why_and_the_previous_ones_come_back_in_one_click(medianest_client: Any) -> None:
    relay = Relay()
    client = await relay_client(medianest_client, relay)
    admin = await sign_in(client, "root", role="admin")
    ok = await client.put(PUT, json={"values": {"greeting": "good evening"}}, headers=admin.headers)
    assert ok.status == 200

    resp = await client.put(PUT, json={"values": {"server": "down.example"}}, headers=admin.headers)
    assert resp.status == 200, await resp.text()
    doc = await resp.json()
    assert (doc["status"], doc["status_label"], doc["can_put_back"]) == ("startup_failed", "failed start-up", True)
    assert doc["reason"].startswith("ConnectionError: down.example refused the connection")
    status, error = await greeting(client)
    assert (status, error["message"]) == (503, "The relay plugin is unavailable (failed start-up).")
    health = (await (await client.get("/api/v1/health")).json())["components"]
    assert [c["state"] for c in health if c["name"] == "relay"] == ["down"]  # the daemon itself goes on

    page = await (await client.get("/admin/services", headers={"Accept": "text/html"})).text()
    section = page[page.index('id="service-relay"') : page.index("</section>", page.index('id="service-relay"'))]
    assert "Failed start-up: ConnectionError: down.example refused the connection" in section
    assert 'data-api="/api/v1/admin/services/relay/revert"' in section
    assert ">Put back the previous settings</button>" in section
    assert 'data-field="server"' in section  # the settings can still be changed by hand

    resp = await client.post(REVERT, headers=admin.headers)
    assert resp.status == 200, await resp.text()
    doc = await resp.json()
    assert (doc["status"], doc["reason"], doc["can_put_back"], doc["changed"]) == ("loaded", None, False, ["server"])
    fields = {field["key"]: field for field in doc["fields"]}
    assert (fields["server"]["value"], fields["server"]["source"]) == ("relay.example", "default")
    assert (fields["greeting"]["value"], fields["greeting"]["source"]) == ("good evening", "saved")
    assert await greeting(client) == "good evening"

    entries = (await (await client.get("/api/v1/admin/audit?action=settings.changed")).json())["entries"]
    assert [e["details"] for e in entries] == [
        {"keys": ["server"], "put_back": True},
        {"keys": ["server"]},
        {"keys": ["greeting"]},
    ]
    again = await client.post(REVERT, headers=admin.headers)
    assert again.status == 409
    assert (await again.json())["error"]["message"] == "The relay plugin has no previous settings to put back."
    user = await medianest_client(browser_of=client)
    alice = await sign_in(user, "alice")
    assert (await user.post(REVERT, headers=alice.headers)).status == 403


async def test_a_plugin_that_failed_at_start_up_can_still_be_set_and_tried_again(medianest_client: Any) -> None:
    relay = Relay()
    client = await relay_client(medianest_client, relay, plugins={"relay": {"server": "down.example"}})
    admin = await sign_in(client, "root", role="admin")
    assert client.app[keys.RUNTIME].plugins.get("relay").status.value == "startup_failed"
    # Saving again retries the start-up: with the server from the file it still fails, and says why.
    resp = await client.put(PUT, json={"values": {"greeting": "hi"}}, headers=admin.headers)
    doc = await resp.json()
    assert (doc["status"], doc["fields"][0]["value"]) == ("startup_failed", "hi")
    assert "down.example refused the connection" in doc["reason"]


async def test_every_process_applies_the_change(medianest_runtime: Any, medianest_client: Any) -> None:
    here, there = Relay(), Relay()
    first = medianest_runtime(entry_points=[entry_point("relay", here)])
    second = medianest_runtime(settings=first.loaded, entry_points=[entry_point("relay", there)])
    second.events = first.events  # the event bus every process shares (Redis, between real processes)
    saving = await medianest_client(runtime=first)
    serving = await medianest_client(runtime=second)
    admin = await sign_in(saving, "root", role="admin")
    await sign_in(serving, "alice")
    assert await greeting(serving) == "hello"

    resp = await saving.put(PUT, json={"values": {"greeting": "good evening"}}, headers=admin.headers)
    assert resp.status == 200
    assert await greeting(serving) == "good evening"
    assert await greeting(saving) == "good evening"
    assert (here.startups, there.startups) == (2, 2)  # each process restarted the plugin once


async def two_processes_over_redis(
    medianest_runtime: Any, medianest_client: Any, redis_url: str
) -> tuple[Relay, Relay, Any, Any, Any, Any]:
    """Two MediaNest processes with the relay, sharing the database and Redis: each plugin, the second runtime,
    the client where the admin saves (signed in as ``root``), the other client, and the admin."""
    here, there = Relay(), Relay()
    first = medianest_runtime(entry_points=[entry_point("relay", here)], redis_url=redis_url)
    second = medianest_runtime(settings=first.loaded, entry_points=[entry_point("relay", there)])
    saving = await medianest_client(runtime=first)
    serving = await medianest_client(runtime=second)
    admin = await sign_in(saving, "root", role="admin")
    return here, there, second, saving, serving, admin


@pytest.mark.production
async def test_every_process_applies_the_change_through_redis(
    medianest_runtime: Any, medianest_client: Any, medianest_redis_url: str
) -> None:
    here, there, _second, saving, serving, admin = await two_processes_over_redis(
        medianest_runtime, medianest_client, medianest_redis_url
    )
    await sign_in(serving, "alice")

    resp = await saving.put(PUT, json={"values": {"greeting": "good evening"}}, headers=admin.headers)
    assert resp.status == 200
    assert await greeting(saving) == "good evening"

    async def applied_there() -> bool:
        return bool(await greeting(serving) == "good evening")

    await eventually(applied_there)
    assert (here.startups, there.startups) == (2, 2)


# ---- Who may save, what never shows, saves at the same time, restarts that hang or break, forged events, bad input


async def test_only_an_admin_with_the_sessions_csrf_token_from_here_saves_or_puts_back(medianest_client: Any) -> None:
    relay = Relay()
    client = await relay_client(medianest_client, relay)
    admin = await sign_in(client, "root", role="admin")
    body = {"values": {"greeting": "hi"}}
    assert (await client.put(PUT, json=body)).status == 403  # no CSRF token
    assert (await client.put(PUT, json=body, headers={"X-CSRF-Token": "forged"})).status == 403
    evil = {**admin.headers, "Origin": "https://evil.example"}
    assert (await client.put(PUT, json=body, headers=evil)).status == 403
    assert (await client.post(REVERT, headers=evil)).status == 403
    assert (await client.post(REVERT)).status == 403
    token = (await (await client.post("/api/v1/me/tokens", json={"name": "s"}, headers=admin.headers)).json())["token"]

    user = await medianest_client(browser_of=client)
    alice = await sign_in(user, "alice")
    assert (await user.put(PUT, json=body, headers=alice.headers)).status == 403
    created = await user.post("/api/v1/me/tokens", json={"name": "s"}, headers=alice.headers)
    alices_token = {"Authorization": f"Bearer {(await created.json())['token']}"}
    user.session.cookie_jar.clear()
    refused = await user.put(PUT, json=body, headers=alices_token)
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "forbidden"
    assert (await user.post(REVERT, headers=alices_token)).status == 403
    assert await greeting(client) == "hello"
    assert relay.startups == 1  # nothing was saved, nothing restarted

    client.session.cookie_jar.clear()
    bearer = {"Authorization": f"Bearer {token}"}
    resp = await client.put(PUT, json=body, headers=bearer)
    assert resp.status == 200
    assert (await (await client.get("/api/v1/relay/greeting", headers=bearer)).json()) == {"greeting": "hi"}


@attrs.frozen
class VaultSettings:
    password: Secret | None = None
    limit: int = 10
    ratio: float = 1.0
    tags: list[str] = attrs.Factory(list)


class Vault:
    name = "vault"
    version = "1.0"

    @hookimpl
    def settings_class(self) -> type[Any]:
        return VaultSettings

    @hookimpl
    async def startup(self, ctx: Any) -> None:
        if ctx.settings.limit == 13:
            raise ValueError("thirteen is unlucky")


VAULT = "/api/v1/admin/services/vault"


async def test_the_kept_previous_values_never_show_and_are_sealed_under_the_current_key(
    medianest_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    client = await medianest_client(entry_points=[entry_point("vault", Vault())])
    admin = await sign_in(client, "root", role="admin")
    runtime = client.app[keys.RUNTIME]
    sent: list[Any] = []

    async def seen(event: PluginSettingsSaved) -> None:
        sent.append(event)

    runtime.events.subscribe(PluginSettingsSaved, seen)
    first = await client.put(VAULT, json={"values": {"password": "hunter2-first"}}, headers=admin.headers)
    assert first.status == 200
    second = await client.put(
        VAULT, json={"values": {"password": "hunter2-second", "limit": 13}}, headers=admin.headers
    )
    assert (await second.json())["status"] == "startup_failed"
    answers = [await first.text(), await second.text()]
    answers.append(await (await client.get("/api/v1/admin/services")).text())
    answers.append(await (await client.get("/admin/services", headers={"Accept": "text/html"})).text())
    answers.append(await (await client.get("/api/v1/admin/audit")).text())
    reverted = await client.post(VAULT + "/revert", headers=admin.headers)
    assert reverted.status == 200
    answers.append(await reverted.text())
    captured = capsys.readouterr()
    for text in [*answers, captured.out, captured.err, repr(sent)]:
        assert "hunter2" not in text
    assert sent == [PluginSettingsSaved("vault")] * 3
    assert attrs.asdict(sent[0]) == {"plugin": "vault"}

    # The previous values are sealed with the keyring, and a key rotation re-seals them.
    await client.put(VAULT, json={"values": {"limit": 12}}, headers=admin.headers)
    async with runtime.sessions() as db:
        kept = await db.get(ServiceSetting, ("vault", PREVIOUS))
    assert kept is not None
    assert kept.value is None
    assert "hunter2" not in str(kept.secret)
    before = runtime.keyring.current_id
    await rotate_key(runtime)
    assert runtime.keyring.current_id != before
    async with runtime.sessions() as db:
        kept = await db.get(ServiceSetting, ("vault", PREVIOUS))
    assert kept is not None
    assert runtime.keyring.sealed_with(str(kept.secret)) == runtime.keyring.current_id
    previous = (await saved_values(runtime, "vault", previous=True))["vault"]
    assert previous == {"password": "hunter2-first"}  # what was saved before the last change


async def test_a_setting_named_like_the_kept_row_is_refused(medianest_client: Any) -> None:
    client = await medianest_client(entry_points=[entry_point("vault", Vault())])
    admin = await sign_in(client, "root", role="admin")
    resp = await client.put(VAULT, json={"values": {PREVIOUS: "{}"}}, headers=admin.headers)
    assert resp.status == 422
    assert (await resp.json())["error"]["details"]["fields"] == {f"values.{PREVIOUS}": "no such setting"}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b"[1, 2]", 400),
        (b'{"values": [1]}', 422),
        (b'{"values": {"limit": "many"}}', 422),
        (b'{"values": {"limit": {"a": 1}}}', 422),
        (b'{"values": {"limit": 1.5}}', 422),
        (b'{"values": {"ratio": 1e999}}', 400),
        (b'{"values": {"ratio": NaN}}', 400),
        (b'{"values": {"tags": [{"a": 1}]}}', 422),
        (b'{"values": {"limit": 10000000000000000000000000000}}', 422),
        (b'{"values": {"tags": [1, -10000000000000000000000000000]}}', 422),
        (b'{"values": {"nothing": 1}}', 422),
        (b'{"values": {"password": 5}}', 422),
        (b'{"values": {"tags": ["' + b"x" * 3_000_000 + b'"]}}', 413),
    ],
)
async def test_bad_values_get_a_clear_refusal(medianest_client: Any, body: bytes, status: int) -> None:
    client = await medianest_client(entry_points=[entry_point("vault", Vault())])
    admin = await sign_in(client, "root", role="admin")
    resp = await client.put(VAULT, data=io.BytesIO(body), headers={**admin.headers, "Content-Type": "application/json"})
    assert resp.status == status, await resp.text()
    error = (await resp.json())["error"]
    assert error["code"]
    assert error["message"]
    revert = await client.post(
        VAULT + "/revert", data=io.BytesIO(body), headers={**admin.headers, "Content-Type": "application/json"}
    )
    assert revert.status in (409, 413), await revert.text()
    assert (await revert.json())["error"]["message"]


async def test_two_saves_at_once_leave_the_plugin_with_what_is_saved(
    medianest_client: Any, medianest_database_url: str
) -> None:
    relay = Relay()
    client = await relay_client(medianest_client, relay, database_url=medianest_database_url)
    admin = await sign_in(client, "root", role="admin")
    runtime = client.app[keys.RUNTIME]
    for _ in range(5):
        answers = await asyncio.gather(
            client.put(PUT, json={"values": {"greeting": "one", "server": "one.example"}}, headers=admin.headers),
            client.put(PUT, json={"values": {"greeting": "two", "server": "two.example"}}, headers=admin.headers),
        )
        assert [a.status for a in answers] == [200, 200], [await a.text() for a in answers]
        saved = (await saved_values(runtime, "relay"))["relay"]
        assert saved in ({"greeting": "one", "server": "one.example"}, {"greeting": "two", "server": "two.example"})
        assert await greeting(client) == saved["greeting"]
        assert runtime.plugins.get("relay").settings.server == saved["server"]


async def test_a_start_up_that_hangs_ends_in_failed_start_up_within_the_bound(
    medianest_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_settings, "STARTUP_TIMEOUT", 0.5)
    relay = Relay()
    client = await relay_client(medianest_client, relay)
    admin = await sign_in(client, "root", role="admin")
    relay.hold = asyncio.Event()  # never set: the start-up hangs
    started = time.monotonic()
    async with asyncio.timeout(10):
        resp = await client.put(PUT, json={"values": {"greeting": "hi"}}, headers=admin.headers)
    assert time.monotonic() - started < 5
    doc = await resp.json()
    assert (resp.status, doc["status"], doc["can_put_back"]) == (200, "startup_failed", True)
    assert doc["reason"] == "its start-up did not finish within 0.5 s"
    status, error = await greeting(client)
    assert (status, error["message"]) == (503, "The relay plugin is unavailable (failed start-up).")

    # The next save is not kept waiting by the one that hung, and brings the plugin back.
    relay.hold = None
    async with asyncio.timeout(10):
        resp = await client.put(PUT, json={"values": {"greeting": "hello again"}}, headers=admin.headers)
    assert (await resp.json())["status"] == "loaded"
    assert await greeting(client) == "hello again"


async def test_a_restart_that_breaks_in_the_core_leaves_the_plugin_failed_with_the_reason(
    medianest_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    relay = Relay()
    client = await relay_client(medianest_client, relay)
    admin = await sign_in(client, "root", role="admin")

    async def unreadable(*args: Any, **kwargs: Any) -> Any:
        raise OSError("the database is gone")

    monkeypatch.setattr(live_settings, "saved_values", unreadable)
    resp = await client.put(PUT, json={"values": {"greeting": "hi"}}, headers=admin.headers)
    doc = await resp.json()
    assert (resp.status, doc["status"]) == (200, "startup_failed")
    assert doc["reason"].startswith("the restart failed: OSError: the database is gone")
    record = client.app[keys.RUNTIME].plugins.get("relay")
    assert (record.restarting, record.active) == (False, False)
    status, error = await greeting(client)
    assert (status, error["message"]) == (503, "The relay plugin is unavailable (failed start-up).")
    health = (await (await client.get("/api/v1/health")).json())["components"]
    assert [c["state"] for c in health if c["name"] == "relay"] == ["down"]

    monkeypatch.undo()
    resp = await client.put(PUT, json={"values": {"greeting": "hi again"}}, headers=admin.headers)
    assert (await resp.json())["status"] == "loaded"
    assert await greeting(client) == "hi again"


async def test_a_forged_settings_event_from_another_process_does_nothing_harmful(medianest_client: Any) -> None:
    relay = Relay()
    client = await medianest_client(
        entry_points=[entry_point("relay", relay), entry_point("vault", Vault())], plugins={"vault": {"enabled": False}}
    )
    await sign_in(client, "alice")
    runtime = client.app[keys.RUNTIME]
    bridge = RedisBridge(runtime.events, "redis://127.0.0.1:1/0")  # never connected: only what it receives is used
    for data in ({"plugin": "nothing"}, {"plugin": "vault"}, {"plugin": PREVIOUS}, {"plugin": 5}, {"plugin": [1]}, {}):
        await bridge._receive(json.dumps({"origin": "elsewhere", "name": PluginSettingsSaved.name, "data": data}))
    assert runtime.plugins.get("vault").status.value == "disabled"
    assert relay.startups == 1
    assert await greeting(client) == "hello"
    async with runtime.sessions() as db:
        assert (await db.scalars(select(ServiceSetting))).all() == []
    await bridge.redis.aclose()


class PooledRelay(Relay):
    """A relay whose start-up makes a client of the process's pool for its server, and whose route (mounted once
    for the process's life) has a client of its own, as a plugin's image route does."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[Any] = []  # the client each start-up made
        self.mounted: Any = None

    @hookimpl
    async def startup(self, ctx: PluginContext) -> None:
        await super().startup(ctx)
        assert ctx.upstreams is not None
        made = ctx.upstreams.client("relay", f"http://{ctx.settings.server}")
        made.session  # noqa: B018 - opened, as the first call to the service opens it
        self.started.append(made)

    @hookimpl
    def api_routes(self, ctx: PluginContext) -> list[Route]:
        assert ctx.upstreams is not None
        self.mounted = ctx.upstreams.client("relay images", "http://images.relay.example")
        return super().api_routes(ctx)


async def test_a_restart_closes_what_the_plugin_had_open_and_keeps_nothing_of_it(medianest_client: Any) -> None:
    relay = PooledRelay()
    client = await relay_client(medianest_client, relay)
    admin = await sign_in(client, "root", role="admin")
    pool = client.app[keys.RUNTIME].upstreams
    core_client = pool.client("core service", "http://core.example")
    core_session = core_client.session
    mounted_session = relay.mounted.session
    first = relay.started[0]
    first_session = first.session

    resp = await client.put(PUT, json={"values": {"server": "relay2.example"}}, headers=admin.headers)
    assert resp.status == 200, await resp.text()
    assert [made.base_url for made in relay.started] == ["http://relay.example", "http://relay2.example"]

    # The old start-up's client is closed (its connections with it) and the pool holds it no more.
    assert first_session.closed
    assert first not in pool.part("relay").clients
    assert not relay.started[1].session.closed
    # The route's client was closed with the rest; used again, it opens anew and is closed with the pool again.
    assert mounted_session.closed
    assert not relay.mounted.session.closed
    assert relay.mounted in pool.part("relay").clients
    # Another owner's clients are untouched.
    assert not core_session.closed
    assert core_client.session is core_session

    # Closing the process's pool closes every owner's (looked at inside: asking for a session would open one).
    await pool.close()
    assert all(made._session.closed for made in (relay.started[1], relay.mounted, core_client))


class HalfStartedRelay(PooledRelay):
    """A relay that opens its client before it learns its server refuses: its start-up fails half-way."""

    @hookimpl
    async def startup(self, ctx: PluginContext) -> None:
        assert ctx.upstreams is not None
        made = ctx.upstreams.client("relay", f"http://{ctx.settings.server}")
        made.session  # noqa: B018 - opened
        self.started.append(made)
        await Relay.startup(self, ctx)


async def test_a_start_up_that_fails_half_way_leaves_nothing_open(medianest_client: Any) -> None:
    relay = HalfStartedRelay()
    client = await relay_client(medianest_client, relay, plugins={"relay": {"server": "down.relay.example"}})
    runtime = client.app[keys.RUNTIME]
    assert runtime.plugins.get("relay").status.value == "startup_failed"
    assert relay.started[0]._session.closed
    assert relay.started[0] not in runtime.upstreams.part("relay").clients


@pytest.mark.production
async def test_a_restart_from_another_process_never_holds_up_a_revocation_behind_it(
    medianest_runtime: Any, medianest_client: Any, medianest_redis_url: str
) -> None:
    _here, there, second, saving, serving, admin = await two_processes_over_redis(
        medianest_runtime, medianest_client, medianest_redis_url
    )
    alice = await sign_in(serving, "alice")
    assert (await serving.get("/api/v1/auth/session")).status == 200

    # The other process's restart hangs in the plugin's start-up (its service does not answer).
    there.hold = asyncio.Event()
    resp = await saving.put(PUT, json={"values": {"greeting": "good evening"}}, headers=admin.headers)
    assert resp.status == 200
    await eventually(lambda: there.startups == 2)

    # Meanwhile the admin disables alice: the other process refuses her from the next request all the same.
    resp = await saving.patch(
        f"/api/v1/admin/users/{alice.user_id}", json={"status": "disabled"}, headers=admin.headers
    )
    assert resp.status == 200, await resp.text()

    async def refused_there() -> bool:
        return bool((await serving.get("/api/v1/auth/session")).status == 401)

    await eventually(refused_there)
    assert there.startups == 2  # the restart is still under way
    there.hold.set()
    await eventually(lambda: second.plugins.get("relay").status.value == "loaded")


class ReachableRelay(Relay):
    """A relay whose check finds its server down when the server is named ``unreachable…``; its start-up does not
    connect (as a plugin whose service may come and go starts all the same)."""

    @hookimpl
    def health_checks(self, ctx: PluginContext) -> list[HealthCheck]:
        server = ctx.settings.server

        async def check() -> HealthResult:
            if server.startswith("unreachable"):
                return HealthResult(HealthState.DOWN, f"cannot connect to {server}")
            return HealthResult(HealthState.UP, "answering")

        return [HealthCheck("service", check, interval=0.05, timeout=1)]


async def test_the_services_page_says_when_the_saved_service_does_not_answer(medianest_client: Any) -> None:
    relay = ReachableRelay()
    client = await relay_client(medianest_client, relay)
    admin = await sign_in(client, "root", role="admin")

    async def section() -> str:
        page: str = await (await client.get("/admin/services", headers={"Accept": "text/html"})).text()
        start = page.index('id="service-relay"')
        return page[start : page.index("</section>", start)]

    async def checked(state: str) -> bool:
        components = (await (await client.get("/api/v1/health")).json())["components"]
        return any(c["name"] == "relay/service" and c["state"] == state for c in components)

    await eventually(lambda: checked("up"))
    assert "service-health" not in await section()

    resp = await client.put(PUT, json={"values": {"server": "unreachable.example"}}, headers=admin.headers)
    assert resp.status == 200, await resp.text()
    await eventually(lambda: checked("down"))
    shown = await section()
    assert "state-loaded" in shown  # the plugin runs: its service is what does not answer
    assert "Relay is down: cannot connect to unreachable.example." in shown
    # The settings that worked are one click away.
    assert "Put back the previous settings" in shown
    resp = await client.post(REVERT, headers=admin.headers)
    assert resp.status == 200, await resp.text()
    await eventually(lambda: checked("up"))
    shown = await section()
    assert "service-health" not in shown
    assert "Put back the previous settings" not in shown
