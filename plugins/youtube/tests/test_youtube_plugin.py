"""The youtube plugin is installed, found through its entry point, and configured from ``[plugins.youtube]``."""

from __future__ import annotations

from importlib import metadata
from typing import Any

from medianest_core.plugins import PluginStatus
from medianest_core.testing import installed_plugin


def test_loads_with_defaults(medianest_settings: Any) -> None:
    record = installed_plugin("youtube", medianest_settings())
    assert record.status is PluginStatus.LOADED
    assert record.version == metadata.version("medianest-youtube")
    settings = record.settings
    assert settings.library_root is None
    assert settings.plex_library == "YouTube"
    assert "youtu.be" in settings.allowed_hosts
    assert settings.default_quality == "best"
    assert settings.concurrent_downloads == 2


def test_a_bad_value_marks_it_bad_settings(medianest_settings: Any) -> None:
    loaded = medianest_settings(plugins={"youtube": {"concurrent_downloads": 99}})
    record = installed_plugin("youtube", loaded)
    assert record.status is PluginStatus.BAD_SETTINGS
    assert (
        record.reason == f"plugins.youtube.concurrent_downloads: expected 1 to 16, got 99 (from {loaded.config_path})"
    )


def test_settings_from_the_environment(medianest_settings: Any) -> None:
    record = installed_plugin(
        "youtube",
        medianest_settings(env={"MEDIANEST_YOUTUBE_ALLOWED_HOSTS": "youtube.com, youtu.be"}, plugins={"youtube": {}}),
    )
    settings = record.settings
    assert settings.allowed_hosts == ["youtube.com", "youtu.be"]


def test_can_be_disabled(medianest_settings: Any) -> None:
    record = installed_plugin("youtube", medianest_settings(plugins={"youtube": {"enabled": False}}))
    assert record.status is PluginStatus.DISABLED
