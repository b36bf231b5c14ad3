"""The plex plugin is installed, found through its entry point, and configured from ``[plugins.plex]``."""

from __future__ import annotations

from importlib import metadata
from typing import Any

from medianest_core.plugins import PluginStatus
from medianest_core.testing import installed_plugin


def test_loads_with_defaults(medianest_settings: Any) -> None:
    record = installed_plugin("plex", medianest_settings())
    assert record.status is PluginStatus.LOADED
    assert record.version == metadata.version("medianest-plex")
    settings = record.settings
    assert settings.url is None
    assert settings.token is None
    assert settings.plextv_url == "https://plex.tv"
    assert settings.product == "MediaNest"


def test_a_bad_value_marks_it_bad_settings(medianest_settings: Any) -> None:
    loaded = medianest_settings(plugins={"plex": {"url": "plex.local:32400"}})
    record = installed_plugin("plex", loaded)
    assert record.status is PluginStatus.BAD_SETTINGS
    assert record.reason == (
        f"plugins.plex.url: expected an http:// or https:// URL with a host, "
        f"got 'plex.local:32400' (from {loaded.config_path})"
    )


def test_settings_from_the_environment(medianest_settings: Any) -> None:
    record = installed_plugin("plex", medianest_settings(env={"MEDIANEST_PLEX_TOKEN": "tok-abc"}, plugins={"plex": {}}))
    settings = record.settings
    assert settings.token.get_secret_value() == "tok-abc"


def test_can_be_disabled(medianest_settings: Any) -> None:
    record = installed_plugin("plex", medianest_settings(plugins={"plex": {"enabled": False}}))
    assert record.status is PluginStatus.DISABLED
