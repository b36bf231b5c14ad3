"""The tmdb plugin is installed, found through its entry point, and configured from ``[plugins.tmdb]``."""

from __future__ import annotations

from importlib import metadata
from typing import Any

from medianest_core.plugins import PluginStatus
from medianest_core.testing import installed_plugin


def test_loads_with_defaults(medianest_settings: Any) -> None:
    record = installed_plugin("tmdb", medianest_settings())
    assert record.status is PluginStatus.LOADED
    assert record.version == metadata.version("medianest-tmdb")
    settings = record.settings
    assert settings.api_key is None
    assert settings.api_url == "https://api.themoviedb.org/3"
    assert settings.language == "en-US"


def test_a_bad_value_marks_it_bad_settings(medianest_settings: Any) -> None:
    loaded = medianest_settings(plugins={"tmdb": {"language": 5}})
    record = installed_plugin("tmdb", loaded)
    assert record.status is PluginStatus.BAD_SETTINGS
    assert record.reason == f"plugins.tmdb.language: expected a string, got 5 (from {loaded.config_path})"


def test_settings_from_the_environment(medianest_settings: Any) -> None:
    record = installed_plugin(
        "tmdb", medianest_settings(env={"MEDIANEST_TMDB_READ_ACCESS_TOKEN": "eyJ-token"}, plugins={"tmdb": {}})
    )
    settings = record.settings
    assert settings.read_access_token.get_secret_value() == "eyJ-token"


def test_can_be_disabled(medianest_settings: Any) -> None:
    record = installed_plugin("tmdb", medianest_settings(plugins={"tmdb": {"enabled": False}}))
    assert record.status is PluginStatus.DISABLED
