"""The overseerr plugin is installed, found through its entry point, and configured from ``[plugins.overseerr]``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib import metadata
from typing import Any

import pytest
from medianest_overseerr import OverseerrPlugin
from medianest_overseerr.fake import FakeOverseerr

from medianest_core import HealthCheck, HealthState, keys
from medianest_core.health import run_check
from medianest_core.plugins import PluginStatus
from medianest_core.testing import entry_point, installed_plugin, sign_in


def test_loads_with_defaults(medianest_settings: Any) -> None:
    record = installed_plugin("overseerr", medianest_settings())
    assert record.status is PluginStatus.LOADED
    assert record.version == metadata.version("medianest-overseerr")
    settings = record.settings
    assert settings.url is None
    assert settings.api_key is None


def test_a_bad_value_marks_it_bad_settings(medianest_settings: Any) -> None:
    loaded = medianest_settings(plugins={"overseerr": {"url": "ftp://overseerr"}})
    record = installed_plugin("overseerr", loaded)
    assert record.status is PluginStatus.BAD_SETTINGS
    assert record.reason == (
        f"plugins.overseerr.url: expected an http:// or https:// URL with a host, "
        f"got 'ftp://overseerr' (from {loaded.config_path})"
    )


def test_settings_from_the_environment(medianest_settings: Any) -> None:
    record = installed_plugin(
        "overseerr", medianest_settings(env={"MEDIANEST_OVERSEERR_API_KEY": "k-1"}, plugins={"overseerr": {}})
    )
    settings = record.settings
    assert settings.api_key.get_secret_value() == "k-1"


def test_can_be_disabled(medianest_settings: Any) -> None:
    record = installed_plugin("overseerr", medianest_settings(plugins={"overseerr": {"enabled": False}}))
    assert record.status is PluginStatus.DISABLED


# ---- Overseerr answers and takes the key: the health check and the admin's "Test connection" -------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeOverseerr]:
    made = FakeOverseerr()
    await made.start()
    yield made
    await made.stop()


async def overseerr_app(medianest_client: Any, **values: Any) -> Any:
    return await medianest_client(
        entry_points=[entry_point("overseerr", OverseerrPlugin())],
        plugins={"overseerr": values},
        upstream_breaker_failures=1000,
    )


def health_checks(client: Any) -> list[HealthCheck]:
    return [check for plugin, check in client.app[keys.CONTRIBUTIONS].health_checks if plugin == "overseerr"]


async def test_without_an_address_and_a_key_there_is_nothing_to_check(medianest_client: Any) -> None:
    assert health_checks(await overseerr_app(medianest_client)) == []


async def test_the_health_check_says_whether_overseerr_answers_and_takes_the_key(
    medianest_client: Any, fake: FakeOverseerr
) -> None:
    [check] = health_checks(await overseerr_app(medianest_client, url=fake.url, api_key=fake.api_key))
    result = await run_check(check)
    assert (result.state, result.message) == (HealthState.UP, "Overseerr 1.34.0 accepted the API key.")

    [refused] = health_checks(await overseerr_app(medianest_client, url=fake.url, api_key="not-the-key"))
    result = await run_check(refused)
    assert result.state is HealthState.DOWN
    assert result.message == "Overseerr refused the API key: copy it again from Overseerr's Settings, General."

    await fake.stop()
    result = await run_check(check)
    assert result.state is HealthState.DOWN
    assert result.message is not None
    assert result.message.startswith("Overseerr did not answer: ")
    assert fake.api_key not in result.message


async def test_the_connection_test_tries_the_admins_values(medianest_client: Any, fake: FakeOverseerr) -> None:
    client = await overseerr_app(medianest_client)
    admin = await sign_in(client, "root", role="admin")

    async def test(values: dict[str, Any]) -> tuple[str, str]:
        resp = await client.post(
            "/api/v1/admin/services/overseerr/test", json={"values": values}, headers=admin.headers
        )
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        return body["state"], body["message"]

    assert await test({}) == ("down", "Set Overseerr's address and its API key (Settings, General).")
    assert await test({"url": fake.url, "api_key": "not-the-key"}) == (
        "down",
        "Overseerr refused the API key: copy it again from Overseerr's Settings, General.",
    )
    assert await test({"url": fake.url + "/elsewhere", "api_key": fake.api_key}) == (
        "down",
        "Overseerr was not found: the address answers, but not as Overseerr, Jellyseerr or Seerr does.",
    )
    assert await test({"url": fake.url, "api_key": fake.api_key}) == ("up", "Overseerr 1.34.0 accepted the API key.")
    await fake.stop()
    state, message = await test({"url": fake.url, "api_key": fake.api_key})
    assert state == "down"
    assert message.startswith("Overseerr did not answer: ")
    assert fake.api_key not in message
