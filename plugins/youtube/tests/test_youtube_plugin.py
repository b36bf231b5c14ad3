"""The youtube plugin is installed, found through its entry point, and configured from ``[plugins.youtube]``."""

from __future__ import annotations

from importlib import metadata
from typing import Any

from medianest_core.plugins import ENTRY_POINT_GROUP, PluginHost, PluginStatus


def load(loaded: Any) -> PluginHost:
    eps = [ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == "youtube"]
    assert len(eps) == 1, "the youtube entry point is installed once"
    return PluginHost.load(loaded, eps)


def test_loads_with_defaults(medianest_settings: Any) -> None:
    record = load(medianest_settings()).records["youtube"]
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
    record = load(loaded).records["youtube"]
    assert record.status is PluginStatus.BAD_SETTINGS
    assert (
        record.reason == f"plugins.youtube.concurrent_downloads: expected 1 to 16, got 99 (from {loaded.config_path})"
    )


def test_settings_from_the_environment(medianest_settings: Any) -> None:
    record = load(
        medianest_settings(env={"MEDIANEST_YOUTUBE_ALLOWED_HOSTS": "youtube.com, youtu.be"}, plugins={"youtube": {}})
    ).records["youtube"]
    settings = record.settings
    assert settings.allowed_hosts == ["youtube.com", "youtu.be"]


def test_can_be_disabled(medianest_settings: Any) -> None:
    record = load(medianest_settings(plugins={"youtube": {"enabled": False}})).records["youtube"]
    assert record.status is PluginStatus.DISABLED
