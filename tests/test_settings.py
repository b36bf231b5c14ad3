from __future__ import annotations

import logging
from pathlib import Path

import pytest

from medianest_core.settings import Secret, SettingsError, load_settings


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
        env={"MEDIANEST_DATA_DIR": str(tmp_path), "MEDIANEST_UPTIME_KUMA_STATUS_PAGE": "home"},
        plugin_names=["uptime_kuma", "plex"],
    )
    assert loaded.settings.plugins["uptime_kuma"] == {"status_page": "home"}


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
        ("port = 70000\n", "port: expected a port between 0 and 65535, got 70000"),
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
