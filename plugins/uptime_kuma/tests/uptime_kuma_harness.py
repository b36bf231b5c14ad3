"""A MediaNest with the Uptime Kuma plugin pointed at a fake Uptime Kuma, whose poller the test runs by hand, and
people signed in on their own clients: shared by the plugin's poll and API tests."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import attrs
from medianest_uptime_kuma import UptimeKumaPlugin
from medianest_uptime_kuma.fake import V2, FakeUptimeKuma
from medianest_uptime_kuma.service import UptimeKuma

from medianest_core import hookimpl, keys
from medianest_core.events import EventBus
from medianest_core.runtime import Runtime
from medianest_core.testing import SignedIn, entry_point, sign_in
from medianest_core.types import Event, PeriodicTask, PluginContext

MakeKuma = Callable[..., Awaitable[FakeUptimeKuma]]
"""``await make_kuma(version, **options)``: a started fake (see :func:`fake_kumas`)."""


@contextlib.asynccontextmanager
async def fake_kumas() -> AsyncIterator[MakeKuma]:
    """What the tests' ``make_kuma`` fixtures give: a maker of started fakes, all stopped at the end."""
    made: list[FakeUptimeKuma] = []

    async def make(version: str = V2, **options: Any) -> FakeUptimeKuma:
        kuma = FakeUptimeKuma(version, **options)
        made.append(kuma)
        await kuma.start()
        return kuma

    try:
        yield make
    finally:
        for kuma in made:
            await kuma.stop()


async def home(make_kuma: MakeKuma, version: str = V2) -> FakeUptimeKuma:
    """Plex and the NAS on the status page "home"; Backup only in ``/metrics`` (and Socket.IO)."""
    kuma = await make_kuma(version)
    plex = kuma.add_monitor("Plex", url="https://plex.example.org")
    nas = kuma.add_monitor("NAS", type="ping", hostname="nas.lan")
    kuma.add_monitor("Backup", type="port", hostname="backup.lan", port=22)
    kuma.add_status_page("home", "Home", {"Media": [plex], "Storage": [nas]})
    return kuma


class ManualUptimeKuma(UptimeKumaPlugin):
    """The plugin whose poll runs when the test says (``Setup.poll``), not on the scheduler's clock."""

    @hookimpl
    def periodic_tasks(self, ctx: PluginContext) -> list[PeriodicTask]:
        return []


@attrs.define
class Person:
    client: Any
    signed: SignedIn

    @property
    def user_id(self) -> int:
        return self.signed.user_id

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        headers = dict(kwargs.pop("headers", {}) or {})
        if method.upper() != "GET":
            headers.update(self.signed.headers)
        resp = await self.client.request(method, path, headers=headers, **kwargs)
        text = await resp.text()
        try:
            return resp.status, json.loads(text) if text else None
        except ValueError:
            return resp.status, text

    async def monitors(self) -> dict[str, Any]:
        status, body = await self.call("GET", "/api/v1/uptime_kuma/monitors")
        assert status == 200, body
        found: dict[str, Any] = body
        return found

    async def names(self) -> list[str]:
        return [doc["name"] for doc in (await self.monitors())["monitors"]]

    async def notifications(self) -> list[str]:
        status, body = await self.call("GET", "/api/v1/notifications")
        assert status == 200, body
        return [note["title"] for note in reversed(body["notifications"])]


@attrs.define
class Setup:
    client: Any
    kuma: FakeUptimeKuma
    plugin: UptimeKumaPlugin
    make_client: Callable[..., Awaitable[Any]]
    people: int = 0
    events: list[Event] = attrs.field(factory=list)

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.client.app[keys.RUNTIME]
        return runtime

    @property
    def service(self) -> UptimeKuma:
        found = self.plugin.service(self.runtime.contexts["uptime_kuma"])
        assert found is not None
        return found

    async def poll(self) -> bool:
        return await self.service.poll()

    async def person(self, username: str, *, role: str = "user") -> Person:
        client = self.client if not self.people else await self.make_client(browser_of=self.client)
        self.people += 1
        return Person(client, await sign_in(client, username, role=role))

    def listen(self, event: type[Event]) -> None:
        bus: EventBus = self.runtime.events

        async def heard(found: Event) -> None:
            self.events.append(found)

        bus.subscribe(event, heard)


async def setup(medianest_client: Any, kuma: FakeUptimeKuma, **values: Any) -> Setup:
    """A MediaNest with the plugin pointed at ``kuma`` (settings ``values`` over the status page "home" and the
    fake's API key)."""
    plugin = ManualUptimeKuma()
    settings = {"url": kuma.url, "status_pages": ["home"], "api_key": kuma.api_key} | values
    settings = {name: value for name, value in settings.items() if value is not None}
    client = await medianest_client(
        entry_points=[entry_point("uptime_kuma", plugin)],
        plugins={"uptime_kuma": settings},
        upstream_breaker_failures=1000,
    )
    return Setup(client, kuma, plugin, medianest_client)
