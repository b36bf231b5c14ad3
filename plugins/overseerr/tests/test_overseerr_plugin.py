"""The overseerr plugin is installed, found through its entry point, and configured from ``[plugins.overseerr]``."""

from __future__ import annotations

from importlib import metadata
from typing import Any

from medianest_core.plugins import PluginStatus
from medianest_core.testing import installed_plugin


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
