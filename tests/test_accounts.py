"""``ctx.accounts``: which account at an outside service a MediaNest user has, as the plugins that know it say."""

from __future__ import annotations

from typing import Any

import pytest

from medianest_core import AccountSource, LinkedAccount, PluginContext, hookimpl
from medianest_core.testing import entry_point


class Directory:
    """Knows the accounts of one service for some users; ``failure`` is what its lookup raises."""

    version = "0.1"

    def __init__(self, name: str, service: str, known: dict[int, str], failure: Exception | None = None) -> None:
        self.name = name
        self.service = service
        self.known = known
        self.failure = failure
        self.asked: list[int] = []

    async def _lookup(self, user_id: int) -> LinkedAccount | None:
        self.asked.append(user_id)
        if self.failure is not None:
            raise self.failure
        username = self.known.get(user_id)
        if username is None:
            return None
        return LinkedAccount(self.service, f"{self.name}-{user_id}", username=username, email=f"{username}@example.org")

    @hookimpl
    def linked_accounts(self) -> list[AccountSource]:
        return [AccountSource(self.service, self.service.title(), self._lookup)]


class BrokenHook:
    name = "broken"
    version = "0.1"

    @hookimpl
    def linked_accounts(self) -> list[AccountSource]:
        raise RuntimeError("the hook itself fails")


class Asker:
    """A plugin that only asks: it gets ``ctx.accounts`` like any other plugin."""

    name = "asker"
    version = "0.1"

    def __init__(self) -> None:
        self.ctx: PluginContext | None = None

    @hookimpl
    async def startup(self, ctx: PluginContext) -> None:
        self.ctx = ctx


def runtime_with(medianest_runtime: Any, *plugins: Any) -> Any:
    return medianest_runtime(entry_points=[entry_point(p.name, p) for p in plugins])


async def test_a_plugin_finds_the_account_another_plugin_knows(medianest_runtime: Any) -> None:
    asker = Asker()
    plex = Directory("plexish", "plex", {7: "bob"})
    runtime = runtime_with(medianest_runtime, asker, plex, Directory("other", "jellyfin", {7: "robert"}))
    await runtime.start_plugins()
    assert asker.ctx is not None
    assert asker.ctx.accounts is not None
    assert await asker.ctx.accounts.find(7, "plex") == LinkedAccount("plex", "plexish-7", "bob", "bob@example.org")
    assert await asker.ctx.accounts.find(7, "jellyfin") == LinkedAccount(
        "jellyfin", "other-7", "robert", "robert@example.org"
    )
    assert asker.ctx.accounts.services() == ["jellyfin", "plex"]


async def test_a_user_without_an_account_there_has_none(medianest_runtime: Any) -> None:
    plex = Directory("plexish", "plex", {7: "bob"})
    accounts = runtime_with(medianest_runtime, plex).accounts
    assert await accounts.find(8, "plex") is None
    assert plex.asked == [8]


async def test_a_failing_source_is_skipped_and_the_next_one_answers(
    medianest_runtime: Any, caplog: pytest.LogCaptureFixture
) -> None:
    down = Directory("first", "plex", {7: "bob"}, failure=RuntimeError("database is locked"))
    up = Directory("second", "plex", {7: "bob"})
    accounts = runtime_with(medianest_runtime, BrokenHook(), down, up).accounts
    found = await accounts.find(7, "plex")
    assert found is not None
    assert found.account_id == "second-7"
    assert down.asked == [7]
    assert "linked_account_lookup_failed" in caplog.text
    assert "linked_accounts_failed" in caplog.text  # the plugin whose hook raises offers nothing
    assert [plugin for plugin, _ in accounts.sources()] == ["first", "second"]


async def test_the_first_source_that_knows_the_account_wins(medianest_runtime: Any) -> None:
    blank = Directory("first", "plex", {})
    knows = Directory("second", "plex", {7: "bob"})
    later = Directory("third", "plex", {7: "bobby"})
    found = await runtime_with(medianest_runtime, blank, knows, later).accounts.find(7, "plex")
    assert found is not None
    assert found.account_id == "second-7"
    assert (blank.asked, later.asked) == ([7], [])


async def test_a_service_no_plugin_knows_has_no_account(medianest_runtime: Any) -> None:
    plex = Directory("plexish", "plex", {7: "bob"})
    accounts = runtime_with(medianest_runtime, plex).accounts
    assert await accounts.find(7, "emby") is None
    assert plex.asked == []  # a source of another service is not asked
    assert await runtime_with(medianest_runtime).accounts.find(7, "plex") is None
    assert runtime_with(medianest_runtime).accounts.services() == []
