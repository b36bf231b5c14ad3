"""Plugins' settings in the admin pages: where each value comes from, saving with secrets sealed, the connection
test, and saved values taking effect at the next start."""

from __future__ import annotations

from typing import Any

from example_plugins import Greeter, Showcase
from sqlalchemy import select

from medianest_core import keys
from medianest_core.models import ServiceSetting
from medianest_core.runtime import prepare_database
from medianest_core.testing import entry_point, sign_in

ENV = {"MEDIANEST_GREETER_GREETING": "hi from the environment"}


def greeter_client(medianest_client: Any, greeter: Greeter | None = None, **settings: Any) -> Any:
    return medianest_client(
        entry_points=[entry_point("greeter", greeter or Greeter()), entry_point("showcase", Showcase())],
        **settings,
    )


def by_key(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {field["key"]: field for field in doc["fields"]}


async def service(client: Any, name: str) -> dict[str, Any]:
    docs = (await (await client.get("/api/v1/admin/services")).json())["services"]
    return next(doc for doc in docs if doc["plugin"] == name)


async def test_each_setting_says_where_it_comes_from(medianest_client: Any) -> None:
    client = await greeter_client(medianest_client, plugins={"greeter": {"retries": 5}}, env=ENV)
    await sign_in(client, "root", role="admin")
    doc = await service(client, "greeter")
    fields = by_key(doc)
    assert list(fields) == ["greeting", "retries", "api_key"]
    assert fields["greeting"] | {"help": None} == {
        "key": "greeting",
        "label": "Greeting",
        "kind": "text",
        "optional": False,
        "choices": [],
        "help": None,
        "default": "hello",
        "value": "hi from the environment",
        "is_set": True,
        "source": "env",
        "where": "MEDIANEST_GREETER_GREETING",
        "locked": True,
    }
    retries, key = fields["retries"], fields["api_key"]
    assert (retries["kind"], retries["source"], retries["value"], retries["locked"]) == ("integer", "file", 5, True)
    assert (key["kind"], key["source"], key["is_set"], key["locked"]) == ("secret", "default", False, False)
    assert fields["api_key"]["label"] == "API key"  # made from the key, which declares no label
    assert doc["can_test"] is True
    assert doc["title"] == "Greeter"
    assert (await service(client, "showcase"))["fields"] == []

    page = await (await client.get("/admin/services", headers={"Accept": "text/html"})).text()
    assert "Set by the environment variable <code>MEDIANEST_GREETER_GREETING</code>; change it there" in page
    assert 'name="greeting"' in page
    greeting_input = page[page.index('id="f-greeter-greeting"') :].split(">", 1)[0]
    assert " disabled" in greeting_input
    assert "Test connection" in page


async def test_saving_checks_values_and_seals_secrets(medianest_client: Any) -> None:
    client = await greeter_client(medianest_client, plugins={"greeter": {"retries": 5}}, env=ENV)
    admin = await sign_in(client, "root", role="admin")
    put = "/api/v1/admin/services/greeter"

    resp = await client.put(put, json={"values": {"retries": 1, "colour": "red"}}, headers=admin.headers)
    assert resp.status == 422
    fields = (await resp.json())["error"]["details"]["fields"]
    assert fields == {
        "values.retries": f"set in the settings file ({client.app[keys.RUNTIME].loaded.config_path}); change it there",
        "values.colour": "no such setting",
    }

    resp = await client.put(put, json={"values": {"api_key": "open-sesame"}}, headers=admin.headers)
    assert resp.status == 200, await resp.text()
    doc = await resp.json()
    assert doc["changed"] == ["api_key"]
    key = by_key(doc)["api_key"]
    assert (key["source"], key["is_set"], key["value"]) == ("saved", True, None)
    assert doc["restart_needed"] is False  # the plugin restarted with them
    assert "open-sesame" not in await (await client.get("/api/v1/admin/services")).text()
    runtime = client.app[keys.RUNTIME]
    async with runtime.sessions() as db:
        row = (await db.scalars(select(ServiceSetting).where(ServiceSetting.key == "api_key"))).one()
    assert row.value is None
    assert row.secret is not None
    assert "open-sesame" not in row.secret

    # An empty secret keeps the saved one; null removes it.
    resp = await client.put(put, json={"values": {"api_key": ""}}, headers=admin.headers)
    assert (await resp.json())["changed"] == []
    entries = (await (await client.get("/api/v1/admin/audit?action=settings.changed")).json())["entries"]
    assert [(e["target"], e["details"]) for e in entries] == [("plugin:greeter", {"keys": ["api_key"]})]
    resp = await client.put(put, json={"values": {"api_key": None}}, headers=admin.headers)
    assert by_key(await resp.json())["api_key"]["source"] == "default"

    user = await medianest_client(browser_of=client)
    alice = await sign_in(user, "alice")
    assert (await user.put(put, json={"values": {}}, headers=alice.headers)).status == 403
    resp = await client.put("/api/v1/admin/services/nobody", json={"values": {}}, headers=admin.headers)
    assert resp.status == 404


async def test_wrong_values_are_refused_beside_their_field(medianest_client: Any) -> None:
    client = await greeter_client(medianest_client)
    admin = await sign_in(client, "root", role="admin")
    resp = await client.put(
        "/api/v1/admin/services/greeter", json={"values": {"retries": "many"}}, headers=admin.headers
    )
    assert resp.status == 422
    assert set((await resp.json())["error"]["details"]["fields"]) == {"values.retries"}
    resp = await client.put(
        "/api/v1/admin/services/greeter",
        json={"values": {"retries": 9, "greeting": "good evening"}},
        headers=admin.headers,
    )
    assert resp.status == 200
    fields = by_key(await resp.json())
    assert (fields["retries"]["value"], fields["retries"]["source"]) == (9, "saved")
    assert fields["greeting"]["value"] == "good evening"
    # The page sends the whole form: values equal to their defaults are not pinned as saved.
    resp = await client.put(
        "/api/v1/admin/services/greeter",
        json={"values": {"retries": 3, "greeting": "good evening", "api_key": ""}},
        headers=admin.headers,
    )
    doc = await resp.json()
    assert doc["changed"] == ["retries"]
    assert [(f["key"], f["source"]) for f in doc["fields"]] == [
        ("greeting", "saved"),
        ("retries", "default"),
        ("api_key", "default"),
    ]


async def test_the_connection_test_tries_the_forms_values(medianest_client: Any) -> None:
    client = await greeter_client(medianest_client)
    admin = await sign_in(client, "root", role="admin")
    test = "/api/v1/admin/services/greeter/test"
    resp = await client.post(test, json={"values": {"api_key": "wrong"}}, headers=admin.headers)
    doc = await resp.json()
    assert (resp.status, doc["state"], doc["message"]) == (200, "down", "the greeter refused the key")
    doc = await (
        await client.post(test, json={"values": {"api_key": "open-sesame", "greeting": "yo"}}, headers=admin.headers)
    ).json()
    assert (doc["state"], doc["message"]) == ("up", "greeter says yo")
    assert doc["latency_ms"] >= 0

    # An empty secret field means the saved secret.
    saved = {"values": {"api_key": "open-sesame"}}
    await client.put("/api/v1/admin/services/greeter", json=saved, headers=admin.headers)
    doc = await (await client.post(test, json={"values": {"api_key": ""}}, headers=admin.headers)).json()
    assert doc["state"] == "up"
    resp = await client.post("/api/v1/admin/services/showcase/test", json={"values": {}}, headers=admin.headers)
    assert resp.status == 404


async def test_saved_values_take_effect_at_the_next_start_below_file_and_environment(
    medianest_client: Any, medianest_runtime: Any
) -> None:
    client = await greeter_client(medianest_client)
    admin = await sign_in(client, "root", role="admin")
    resp = await client.put(
        "/api/v1/admin/services/greeter",
        json={"values": {"retries": 9, "api_key": "open-sesame", "greeting": "saved greeting"}},
        headers=admin.headers,
    )
    assert resp.status == 200

    greeter = Greeter()
    again = medianest_runtime(entry_points=[entry_point("greeter", greeter)], plugins={"greeter": {}}, env=ENV)
    await prepare_database(again)
    settings = again.plugins.get("greeter").settings
    assert settings.retries == 9
    assert settings.api_key.get_secret_value() == "open-sesame"
    assert settings.greeting == "hi from the environment"  # the environment still wins

    # The file wins over a saved value too.
    third = medianest_runtime(entry_points=[entry_point("greeter", Greeter())], plugins={"greeter": {"retries": 2}})
    await prepare_database(third)
    assert third.plugins.get("greeter").settings.retries == 2


async def test_saved_values_that_no_longer_fit_put_the_plugin_in_bad_settings(medianest_runtime: Any) -> None:
    runtime = medianest_runtime(entry_points=[entry_point("greeter", Greeter())])
    await prepare_database(runtime)
    async with runtime.sessions.begin() as db:
        db.add(ServiceSetting(plugin="greeter", key="retries", value="many"))
    again = medianest_runtime(entry_points=[entry_point("greeter", Greeter())])
    await prepare_database(again)
    record = again.plugins.get("greeter")
    assert record.status.value == "bad_settings"
    assert "plugins.greeter.retries" in record.reason
    assert record.reason.endswith("(saved in the admin pages)")
