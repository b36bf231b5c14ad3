from __future__ import annotations

import logging
import math
import os
import typing
from pathlib import Path
from typing import Any

import attrs
import pytest

from medianest_core.settings import (
    Secret,
    Settings,
    SettingsError,
    bounds_of,
    load_settings,
    make_converter,
    structure,
)
from medianest_core.testing import entry_point, sign_in


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "medianest.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_file_live_in_the_data_dir(tmp_path: Path) -> None:
    loaded = load_settings(env={"MEDIANEST_DATA_DIR": str(tmp_path)})
    assert not loaded.config_found
    assert loaded.config_path == tmp_path / "medianest.toml"
    settings = loaded.settings
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.effective_database_url == f"sqlite+aiosqlite:///{tmp_path}/medianest.db"


def test_default_data_dir_follows_xdg(tmp_path: Path) -> None:
    loaded = load_settings(env={"XDG_DATA_HOME": str(tmp_path)})
    assert loaded.settings.data_dir == tmp_path / "medianest"


def test_environment_beats_the_file_and_says_where_values_come_from(tmp_path: Path) -> None:
    path = write(tmp_path, 'port = 9000\nhost = "0.0.0.0"\n[plugins.plex]\nurl = "http://plex:32400"\n')
    loaded = load_settings(
        path,
        env={"MEDIANEST_PORT": "9100", "MEDIANEST_PLEX_TOKEN": "tok", "MEDIANEST_METRICS_ENABLED": "no"},
        plugin_names=["plex"],
    )
    assert loaded.settings.port == 9100
    assert loaded.settings.host == "0.0.0.0"
    assert loaded.settings.metrics_enabled is False
    assert loaded.settings.plugins["plex"] == {"url": "http://plex:32400", "token": "tok"}
    assert str(loaded.source("port")) == "env MEDIANEST_PORT"
    assert str(loaded.source("host")) == f"file {path}"
    assert str(loaded.source("log_level")) == "default"
    assert str(loaded.source("plugins.plex.token")) == "env MEDIANEST_PLEX_TOKEN"


def test_plugin_names_with_underscores_take_env_overrides(tmp_path: Path) -> None:
    loaded = load_settings(
        env={"MEDIANEST_DATA_DIR": str(tmp_path), "MEDIANEST_UPTIME_KUMA_DOWN_AFTER": "3"},
        plugin_names=["uptime_kuma", "plex"],
    )
    assert loaded.settings.plugins["uptime_kuma"] == {"down_after": "3"}


def test_variables_that_are_not_settings_are_left_alone(tmp_path: Path) -> None:
    loaded = load_settings(
        env={"MEDIANEST_DATA_DIR": str(tmp_path), "MEDIANEST_PASSWORD": "x", "MEDIANEST_TEST_REDIS_URL": "y"}
    )
    assert loaded.settings.plugins == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prot = 8080\n", "prot: unknown key (did you mean 'port'?)"),
        ('port = "eighty"\n', "port: expected a whole number, got 'eighty'"),
        ("port = 70000\n", "port: expected 0 to 65535, got 70000"),
        ('public_url = "ftp://example.com"\n', "public_url: expected an http:// or https:// URL with a host"),
        ('database_url = "mysql://db/medianest"\n', "database_url: expected a sqlite:/// or postgresql:// URL"),
        ('broker_url = "kafka://x"\n', "broker_url: expected a redis:// or rediss:// or amqp:// or amqps:// URL"),
        ('log_level = "loud"\n', "log_level: expected one of debug, info, warning, error, got 'loud'"),
        ("metrics_enabled = 3\n", "metrics_enabled: expected true or false, got 3"),
    ],
)
def test_bad_values_name_the_key_and_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SettingsError) as info:
        load_settings(path, env={})
    line = str(info.value)
    assert line.startswith(message)
    assert line.endswith(f"(from {path})")
    assert "\n" not in line


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"^port: expected a whole number, got 'x' \(from MEDIANEST_PORT\)$"):
        load_settings(env={"MEDIANEST_DATA_DIR": str(tmp_path), "MEDIANEST_PORT": "x"})


def test_a_password_in_a_bad_database_url_is_not_repeated(tmp_path: Path) -> None:
    path = write(tmp_path, 'database_url = "mysql://app:hunter2hunter2@db/medianest"\n')
    with pytest.raises(SettingsError) as info:
        load_settings(path, env={})
    assert "hunter2hunter2" not in str(info.value)


def test_a_named_settings_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="settings file not found"):
        load_settings(tmp_path / "missing.toml", env={})


def test_medianest_config_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "port = 9999\n")
    assert load_settings(env={"MEDIANEST_CONFIG": str(path)}).settings.port == 9999


def test_broken_toml_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "port = = 3\n")
    with pytest.raises(SettingsError) as info:
        load_settings(path, env={})
    assert str(info.value).startswith(f"{path}: not valid TOML")
    assert "line 1" in str(info.value)


def test_database_urls_get_their_async_driver(tmp_path: Path) -> None:
    loaded = load_settings(env={"MEDIANEST_DATA_DIR": str(tmp_path), "MEDIANEST_DATABASE_URL": "postgresql://u@h/db"})
    assert loaded.settings.effective_database_url == "postgresql+asyncpg://u@h/db"
    assert not loaded.settings.effective_database_url.is_sqlite


def test_secret_never_prints(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret("s3cr3t-value")
    assert "s3cr3t-value" not in f"{secret} {secret!r} {[secret]} { ({'k': secret}) }"
    logging.getLogger("t").warning("value %s", secret)
    assert "s3cr3t-value" not in caplog.text
    assert secret.get_secret_value() == "s3cr3t-value"


def test_secret_from_settings_is_masked_in_the_settings_repr(tmp_path: Path) -> None:
    loaded = load_settings(env={"MEDIANEST_DATA_DIR": str(tmp_path), "MEDIANEST_METRICS_TOKEN": "tok-123456"})
    assert "tok-123456" not in repr(loaded.settings)
    assert loaded.settings.metrics_token == Secret("tok-123456")


def test_the_example_settings_file_loads_and_names_every_core_key() -> None:
    import attrs

    from medianest_core.settings import Settings

    example = Path(__file__).parents[1] / "contrib" / "medianest.example.toml"
    loaded = load_settings(example, env={"MEDIANEST_DATA_DIR": "/nonexistent/medianest"})
    assert loaded.config_found
    text = example.read_text()
    for field in attrs.fields(Settings):
        if field.name != "plugins":
            assert f"{field.name} =" in text, f"contrib/medianest.example.toml does not show {field.name}"


def test_bad_trusted_proxies_name_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, 'trusted_proxies = ["10.0.0.0/8", "proxy.local"]\n')
    with pytest.raises(SettingsError, match=r"^trusted_proxies: expected IP addresses or networks, got 'proxy.local'"):
        load_settings(path, env={})


# ---- every numeric setting has bounds -----------------------------------------------------------------------


def settings_classes() -> list[tuple[str, type[Any]]]:
    """The core's settings class and that of every installed plugin, each with the prefix of its keys."""
    from medianest_core.plugins import installed_entry_points

    found: list[tuple[str, type[Any]]] = [("", Settings)]
    for ep in sorted(installed_entry_points(), key=lambda e: e.name):
        cls = ep.load().settings_class()
        if cls is not None and attrs.has(cls):
            found.append((f"plugins.{ep.name}.", cls))
    return found


def kinds(cls: type[Any], field: attrs.Attribute[Any]) -> list[Any]:
    """The types a field may hold, ``None`` aside."""
    hint = typing.get_type_hints(cls)[field.name]
    return [t for t in typing.get_args(hint) or (hint,) if t is not type(None)]


def numeric_fields(cls: type[Any]) -> list[attrs.Attribute[Any]]:
    """The fields of ``cls`` that hold a number (or nothing), booleans aside."""
    return [
        field for field in attrs.fields(cls) if kinds(cls, field) and all(t in (int, float) for t in kinds(cls, field))
    ]


NUMERIC = [
    pytest.param(prefix, cls, field, id=f"{prefix}{field.name}")
    for prefix, cls in settings_classes()
    for field in numeric_fields(cls)
]


def test_every_numeric_setting_of_the_core_and_the_plugins_has_bounds() -> None:
    classes = settings_classes()
    plugins = ("overseerr", "plex", "tmdb", "uptime_kuma", "youtube")
    assert {prefix for prefix, _ in classes} >= {"", *(f"plugins.{name}." for name in plugins)}
    numeric = {f"{prefix}{field.name}": field for prefix, cls in classes for field in numeric_fields(cls)}
    assert {"port", "shutdown_timeout", "plugins.plex.refresh_interval", "plugins.youtube.time_limit_hours"} <= set(
        numeric
    )
    unbounded = [key for key, field in numeric.items() if bounds_of(field) is None]
    assert unbounded == [], "declare these with medianest_core.settings.bounded()"


def _build(cls: type[Any], prefix: str, key: str, value: Any) -> Any:
    data: dict[str, Any] = {key: value}
    if cls is Settings:
        data["data_dir"] = "/nonexistent/medianest"
    return structure(make_converter(), data, cls, prefix=prefix.rstrip("."))


@pytest.mark.parametrize(("prefix", "cls", "field"), NUMERIC)
def test_numbers_outside_a_settings_bounds_are_refused(prefix: str, cls: type[Any], field: Any) -> None:
    bounds = bounds_of(field)
    assert bounds is not None
    assert math.isfinite(bounds.ge)
    assert math.isfinite(bounds.le)
    assert bounds.ge <= bounds.le
    if field.default is not None:
        assert bounds.ge <= field.default <= bounds.le
    inside: list[Any]
    outside: list[Any]
    if kinds(cls, field) == [int]:
        inside, outside = [int(bounds.ge), int(bounds.le)], [int(bounds.ge) - 1, int(bounds.le) + 1]
    else:
        inside = [bounds.ge, bounds.le]
        outside = [
            math.nextafter(bounds.ge, -math.inf),
            math.nextafter(bounds.le, math.inf),
            math.nan,
            math.inf,
            -math.inf,
            "nan",
            "-inf",
            "1e400",
        ]
    for value in inside:
        assert getattr(_build(cls, prefix, field.name, value), field.name) == value
    for value in outside:
        with pytest.raises(SettingsError) as info:
            _build(cls, prefix, field.name, value)
        assert str(info.value).startswith(f"{prefix}{field.name}: expected "), (value, str(info.value))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("shutdown_timeout = nan\n", "shutdown_timeout: expected a finite number, got nan"),
        ("upstream_timeout = inf\n", "upstream_timeout: expected a finite number, got inf"),
        ("session_idle_timeout = 1e300\n", "session_idle_timeout: expected 60 to 31536000 seconds, got 1e+300"),
        ("ws_queue_size = 100000000000000000000\n", "ws_queue_size: expected 8 to 65536, got 100000000000000000000"),
        ('host = "not a host!"\n', "host: expected an IP address or a host name, got 'not a host!'"),
        ('login_user_rate_limit = "0/hour"\n', "login_user_rate_limit: expected a rate of at least 1, got '0/hour'"),
    ],
)
def test_impossible_core_numbers_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SettingsError) as info:
        load_settings(path, env={"MEDIANEST_DATA_DIR": str(tmp_path)})
    assert str(info.value) == f"{message} (from {path})"


def test_host_names_and_addresses_are_accepted(tmp_path: Path) -> None:
    for host in ("127.0.0.1", "::", "0.0.0.0", "localhost", "media-box.lan", "example.com."):
        loaded = load_settings(env={"MEDIANEST_DATA_DIR": str(tmp_path), "MEDIANEST_HOST": host})
        assert loaded.settings.host == host


async def test_a_number_saved_in_the_admin_pages_is_checked_against_its_bounds(medianest_client: Any) -> None:
    from medianest_plex import plugin as plex

    client = await medianest_client(entry_points=[entry_point("plex", plex)])
    admin = await sign_in(client, "root", role="admin")
    for value in (-5, 0, 1e-9, "nan", "inf"):
        resp = await client.put(
            "/api/v1/admin/services/plex", json={"values": {"refresh_interval": value}}, headers=admin.headers
        )
        assert resp.status == 422, (value, await resp.text())
        error = (await resp.json())["error"]
        assert error["code"] == "validation_failed"
        assert list(error["details"]["fields"]) == ["values.refresh_interval"], value
    resp = await client.put(
        "/api/v1/admin/services/plex", json={"values": {"refresh_interval": 30}}, headers=admin.headers
    )
    assert resp.status == 200, await resp.text()


# ---- the settings file, the data dir and the environment ----------------------------------------------------


def test_a_settings_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "medianest.toml"
    path.write_bytes(b'product = "caf\xe9"\n')
    with pytest.raises(SettingsError) as info:
        load_settings(path, env={})
    assert str(info.value) == f"{path}: not valid TOML: not UTF-8 text (at line 1)"


def test_a_settings_path_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "medianest.toml"
    folder.mkdir()
    # Named, and at the default place in the data dir, where it used to be passed over in silence.
    for config, env in ((folder, {}), (None, {"MEDIANEST_DATA_DIR": str(tmp_path)})):
        with pytest.raises(SettingsError) as info:
            load_settings(config, env=env)
        assert str(info.value) == f"{folder}: is a directory, not a settings file"


@pytest.mark.parametrize(
    ("data_dir", "message"),
    [
        ("/dev/null", "data_dir: /dev/null is not a directory (from MEDIANEST_DATA_DIR)"),
        ("/dev/null/medianest", "data_dir: /dev/null/medianest is inside /dev/null, which is not a directory"),
    ],
)
def test_a_data_dir_that_cannot_be_a_directory_is_refused(data_dir: str, message: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(env={"MEDIANEST_DATA_DIR": data_dir})
    assert str(info.value).startswith(message)


def test_a_variable_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    value = os.fsdecode(b"http://plex\xff.local")
    with pytest.raises(SettingsError, match=r"^MEDIANEST_PLEX_URL: not valid UTF-8 text$"):
        load_settings(env={"MEDIANEST_DATA_DIR": str(tmp_path), "MEDIANEST_PLEX_URL": value}, plugin_names=["plex"])


# ---- passwords in URLs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["ftp://u:pw@h/", "http://u:pw@/", "ftp://u:p@ss@h/x"])
def test_a_bad_url_is_quoted_with_its_password_masked(tmp_path: Path, url: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(env={"MEDIANEST_DATA_DIR": str(tmp_path), "MEDIANEST_PUBLIC_URL": url})
    assert str(info.value).startswith("public_url: expected an http:// or https:// URL")
    assert "u:********@" in str(info.value)
    assert "pw" not in str(info.value)
    assert "ss@" not in str(info.value)


async def test_the_health_api_masks_a_password_in_a_plugins_reason(medianest_client: Any) -> None:
    from medianest_plex import plugin as plex

    client = await medianest_client(
        entry_points=[entry_point("plex", plex)], plugins={"plex": {"url": "ftp://u:pw@h/"}}
    )
    await sign_in(client, "root", role="admin")
    resp = await client.get("/api/v1/health")
    text = await resp.text()
    plex_doc = {c["name"]: c for c in (await resp.json())["components"]}["plex"]
    assert "got 'ftp://u:********@h/'" in plex_doc["details"]["reason"]
    assert "pw" not in text
