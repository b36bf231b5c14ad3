"""The uptime_kuma plugin is installed, found through its entry point, and configured from ``[plugins.uptime_kuma]``."""

from __future__ import annotations

from importlib import metadata
from typing import Any

from medianest_core.plugins import PluginStatus
from medianest_core.testing import installed_plugin


def test_loads_with_defaults(medianest_settings: Any) -> None:
    record = installed_plugin("uptime_kuma", medianest_settings())
    assert record.status is PluginStatus.LOADED
    assert record.version == metadata.version("medianest-uptime-kuma")
    settings = record.settings
    assert settings.url is None
    assert settings.status_pages == []
    assert settings.api_key is None
    assert not settings.configured


def test_a_bad_value_marks_it_bad_settings(medianest_settings: Any) -> None:
    loaded = medianest_settings(plugins={"uptime_kuma": {"statuspages": ["home"]}})
    record = installed_plugin("uptime_kuma", loaded)
    assert record.status is PluginStatus.BAD_SETTINGS
    assert (
        record.reason
        == f"plugins.uptime_kuma.statuspages: unknown key (did you mean 'status_pages'?) (from {loaded.config_path})"
    )


def test_settings_from_the_environment(medianest_settings: Any) -> None:
    record = installed_plugin(
        "uptime_kuma",
        medianest_settings(
            env={"MEDIANEST_UPTIME_KUMA_URL": "http://127.0.0.1:3001", "MEDIANEST_UPTIME_KUMA_API_KEY": "uk1_key"},
            plugins={"uptime_kuma": {}},
        ),
    )
    settings = record.settings
    assert settings.api_key.get_secret_value() == "uk1_key"
    assert settings.configured


def test_can_be_disabled(medianest_settings: Any) -> None:
    record = installed_plugin("uptime_kuma", medianest_settings(plugins={"uptime_kuma": {"enabled": False}}))
    assert record.status is PluginStatus.DISABLED
