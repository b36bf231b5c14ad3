"""Other plugins learn which Plex account a person signs in with through ``ctx.accounts``, never from the Plex
plugin itself: its plex.tv id, username and email after a sign-in with Plex, nothing for a local account."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from medianest_plex import PlexPlugin
from medianest_plex.fake import FakePlex
from test_plex_login_browse import sign_in_with_plex

from medianest_core import LinkedAccount, PluginContext, hookimpl
from medianest_core.testing import entry_point, sign_in


class Requests:
    """Plays a plugin that needs people's Plex accounts (as a requests plugin does): it only has its context."""

    name = "requests"
    version = "0.1"

    def __init__(self) -> None:
        self.ctx: PluginContext | None = None

    @hookimpl
    async def startup(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    async def plex_account(self, user_id: int) -> LinkedAccount | None:
        assert self.ctx is not None
        assert self.ctx.accounts is not None
        return await self.ctx.accounts.find(user_id, "plex")


@pytest.fixture
async def fake() -> AsyncIterator[FakePlex]:
    plex = FakePlex(friendly_name="Alice's Plex")
    plex.add_section("1", "Films", "movie")
    await plex.start()
    yield plex
    await plex.stop()


async def with_requests(medianest_client: Any, fake: FakePlex, requests: Requests, **plex: Any) -> Any:
    section = {"url": fake.url, "plextv_url": fake.url, "token": fake.owner.token, **plex}
    return await medianest_client(
        entry_points=[entry_point("plex", PlexPlugin()), entry_point("requests", requests)],
        plugins={"plex": section},
    )


async def test_a_plex_sign_in_gives_other_plugins_the_plex_account(medianest_client: Any, fake: FakePlex) -> None:
    requests = Requests()
    client = await with_requests(medianest_client, fake, requests)
    bob = fake.add_account("bob", email="bob@example.org")
    fake.share(bob, ["1"])
    answer = await sign_in_with_plex(client, fake, bob)
    assert answer["status"] == "signed_in"

    assert requests.ctx is not None
    assert requests.ctx.accounts is not None
    assert requests.ctx.accounts.services() == ["plex"]
    found = await requests.plex_account(answer["user"]["id"])
    assert found == LinkedAccount("plex", str(bob.id), username="bob", email="bob@example.org")


async def test_a_local_account_has_no_plex_account(medianest_client: Any, fake: FakePlex) -> None:
    requests = Requests()
    client = await with_requests(medianest_client, fake, requests)
    carol = await sign_in(client, "carol")
    assert await requests.plex_account(carol.user_id) is None
    assert await requests.plex_account(999_999) is None  # no such user either


async def test_a_disabled_plex_plugin_offers_no_accounts(medianest_runtime: Any) -> None:
    runtime = medianest_runtime(entry_points=[entry_point("plex", PlexPlugin())], plugins={"plex": {"enabled": False}})
    assert runtime.accounts.services() == []
    assert await runtime.accounts.find(1, "plex") is None
