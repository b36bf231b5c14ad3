"""A MediaNest with the Overseerr plugin, a fake Overseerr, and people who signed in with Plex: shared by the
Overseerr plugin's tests.

People "signed in with Plex" are local accounts to which a small test plugin gives a Plex account through the
``linked_accounts`` hook, exactly as the Plex plugin does for real sign-ins: the Overseerr plugin only ever asks
``ctx.accounts``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
from medianest_overseerr import OverseerrPlugin
from medianest_overseerr.fake import FakeOverseerr, FakeUser
from medianest_overseerr.service import Overseerr

from medianest_core import hookimpl, keys
from medianest_core.runtime import Runtime
from medianest_core.testing import SignedIn, entry_point, sign_in
from medianest_core.types import AccountSource, LinkedAccount, PluginContext

WEBHOOK_SECRET = "Bearer hook-secret-0123456789"


class PlexAccounts:
    """A test plugin that says which Plex account (id) each MediaNest user has."""

    name = "plexaccounts"
    version = "0"

    def __init__(self) -> None:
        self.accounts: dict[int, int] = {}

    @hookimpl
    def linked_accounts(self, ctx: PluginContext) -> list[AccountSource]:
        async def lookup(user_id: int) -> LinkedAccount | None:
            plex_id = self.accounts.get(user_id)
            return None if plex_id is None else LinkedAccount("plex", str(plex_id), f"plex{plex_id}")

        return [AccountSource("plex", "Plex", lookup)]


@attrs.define
class Person:
    """Someone signed in on their own client: their MediaNest sign-in and, when they have one, their Overseerr
    user."""

    client: Any
    signed: SignedIn
    overseerr: FakeUser | None = None

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
            import json

            return resp.status, json.loads(text) if text else None
        except ValueError:
            return resp.status, text


@attrs.define
class Setup:
    """The MediaNest under test, its fake Overseerr and its people."""

    client: Any
    fake: FakeOverseerr
    accounts: PlexAccounts
    plugin: OverseerrPlugin
    make_client: Callable[..., Awaitable[Any]]
    people: int = 0

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.client.app[keys.RUNTIME]
        return runtime

    @property
    def service(self) -> Overseerr:
        return self.plugin.service(self.runtime.contexts["overseerr"])

    @property
    def webhook_url(self) -> str:
        return str(self.client.make_url("/api/v1/overseerr/webhook"))

    async def person(
        self,
        username: str,
        *,
        plex_id: int | None = None,
        role: str = "user",
        overseerr: bool = True,
        **overseerr_user: Any,
    ) -> Person:
        """Someone signed in: with a Plex account (``plex_id``) and, when ``overseerr``, a user in Overseerr with
        that Plex id (``overseerr_user`` are :meth:`FakeOverseerr.add_user`'s options)."""
        client = self.client if not self.people else await self.make_client(browser_of=self.client)
        self.people += 1
        signed = await sign_in(client, username, role=role)
        user = None
        if plex_id is not None:
            self.accounts.accounts[signed.user_id] = plex_id
            if overseerr:
                user = self.fake.add_user(username, plex_id=plex_id, **overseerr_user)
        return Person(client, signed, user)

    async def settle(self) -> None:
        """Wait until every webhook the fake sent so far was delivered and handled."""
        await self.fake.settle()
        await asyncio.sleep(0)


async def setup(medianest_client: Any, fake: FakeOverseerr, *, webhook: bool = True, **values: Any) -> Setup:
    """A MediaNest with the Overseerr plugin pointed at ``fake`` (and the fake's webhook agent at MediaNest)."""
    plugin = OverseerrPlugin()
    accounts = PlexAccounts()
    settings = {"url": fake.url, "api_key": fake.api_key, "webhook_secret": WEBHOOK_SECRET} | values
    client = await medianest_client(
        entry_points=[entry_point("overseerr", plugin), entry_point("plexaccounts", accounts)],
        plugins={"overseerr": settings},
        upstream_breaker_failures=1000,
    )
    made = Setup(client, fake, accounts, plugin, medianest_client)
    if webhook:
        fake.configure_webhook(made.webhook_url, WEBHOOK_SECRET)
    return made
