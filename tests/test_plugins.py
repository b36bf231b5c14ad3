from __future__ import annotations

from typing import Any

from example_plugins import FailsAtStartup, Greeter, Misspelt, RaisesInHook

from medianest_core import keys
from medianest_core.plugins import PluginHost, PluginStatus
from medianest_core.testing import entry_point, sign_in


def statuses(host: PluginHost) -> dict[str, tuple[str, str | None]]:
    return {r.name: (r.status.value, r.reason) for r in host.records.values()}


def test_each_plugin_gets_a_status_and_one_broken_plugin_leaves_the_others(medianest_settings: Any) -> None:
    loaded = medianest_settings(plugins={"greeter": {"greeting": "hi"}, "quiet": {"enabled": False}})
    host = PluginHost.load(
        loaded,
        [
            entry_point("greeter", Greeter()),
            entry_point("quiet", Greeter()),
            entry_point("broken", error=ImportError("No module named 'plexapi'")),
            entry_point("misspelt", Misspelt()),
            entry_point("impostor", Greeter()),
        ],
    )
    found = statuses(host)
    assert found["greeter"] == ("loaded", None)
    assert host.records["greeter"].settings.greeting == "hi"
    assert found["quiet"] == ("disabled", "enabled = false in [plugins.quiet]")
    assert found["broken"][0] == "import_failed"
    assert str(found["broken"][1]).startswith("ImportError: No module named 'plexapi'")
    assert found["misspelt"][0] == "import_failed"
    assert "dashbord_cards" in str(found["misspelt"][1])
    assert found["impostor"] == (
        "import_failed",
        "entry point 'impostor' (tests:plugin) loads a plugin named 'greeter'; the names must match",
    )
    assert [r.name for r in host.active] == ["greeter"]


def test_bad_settings_section_marks_only_that_plugin(medianest_settings: Any) -> None:
    loaded = medianest_settings(plugins={"greeter": {"retries": "many", "greting": "x"}})
    host = PluginHost.load(loaded, [entry_point("greeter", Greeter()), entry_point("raiser", RaisesInHook())])
    record = host.records["greeter"]
    assert record.status is PluginStatus.BAD_SETTINGS
    path = loaded.config_path
    assert record.reason == f"plugins.greeter.retries: expected a whole number, got 'many' (and 1 more) (from {path})"
    assert host.records["raiser"].active
    assert not host.pm.is_registered(record.plugin)


def test_unknown_key_in_a_plugin_section_suggests_the_right_one(medianest_settings: Any) -> None:
    loaded = medianest_settings(plugins={"greeter": {"greting": "x"}})
    host = PluginHost.load(loaded, [entry_point("greeter", Greeter())])
    assert host.records["greeter"].reason == (
        f"plugins.greeter.greting: unknown key (did you mean 'greeting'?) (from {loaded.config_path})"
    )


def test_a_bad_enabled_value_marks_only_that_plugin(medianest_settings: Any) -> None:
    loaded = medianest_settings(plugins={"greeter": {"enabled": "sometimes"}})
    host = PluginHost.load(loaded, [entry_point("greeter", Greeter()), entry_point("raiser", RaisesInHook())])
    assert host.records["greeter"].status is PluginStatus.BAD_SETTINGS
    assert host.records["greeter"].reason == (
        f"plugins.greeter.enabled: expected true or false, got 'sometimes' (from {loaded.config_path})"
    )
    assert host.records["raiser"].active


def test_plugin_secret_settings_come_from_the_environment(medianest_settings: Any) -> None:
    loaded = medianest_settings(env={"MEDIANEST_GREETER_API_KEY": "k-1"}, plugins={"greeter": {}})
    host = PluginHost.load(loaded, [entry_point("greeter", Greeter())])
    assert host.records["greeter"].settings.api_key.get_secret_value() == "k-1"


async def test_a_plugin_failing_at_startup_is_reported_and_its_routes_answer_503(medianest_client: Any) -> None:
    greeter = Greeter()
    client = await medianest_client(
        entry_points=[entry_point("greeter", greeter), entry_point("fragile", FailsAtStartup())]
    )
    assert greeter.started
    await sign_in(client)
    resp = await client.get("/api/v1/fragile/ping")
    assert resp.status == 503
    body = await resp.json()
    assert body["error"]["code"] == "plugin_unavailable"
    assert "failed start-up" in body["error"]["message"]
    assert (await client.get("/api/v1/greeter/hello")).status == 200
    health = await (await client.get("/api/v1/health")).json()
    fragile = next(c for c in health["components"] if c["name"] == "fragile")
    assert (fragile["state"], fragile["message"]) == ("down", "failed start-up")
    assert health["status"] == "degraded"


async def test_a_hook_that_raises_marks_its_plugin_failed(medianest_client: Any) -> None:
    client = await medianest_client(entry_points=[entry_point("raiser", RaisesInHook())])
    runtime = client.app[keys.RUNTIME]
    record = runtime.plugins.records["raiser"]
    assert record.status is PluginStatus.STARTUP_FAILED
    assert record.reason.startswith("ValueError: nav exploded")


async def test_shutdown_runs_for_started_plugins(medianest_runtime: Any) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from medianest_core.app import create_app
    from medianest_core.runtime import prepare_database

    greeter = Greeter()
    runtime = medianest_runtime(entry_points=[entry_point("greeter", greeter)])
    await prepare_database(runtime)
    client = TestClient(TestServer(create_app(runtime)))
    await client.start_server()
    assert greeter.started
    assert not greeter.stopped
    await client.close()
    assert greeter.stopped
