"""The uptime_kuma plugin is installed, found through its entry point, and configured from ``[plugins.uptime_kuma]``."""

from __future__ import annotations

from importlib import metadata
from typing import Any

from medianest_core.plugins import ENTRY_POINT_GROUP, PluginHost, PluginStatus


def load(loaded: Any) -> PluginHost:
    eps = [ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == "uptime_kuma"]
    assert len(eps) == 1, "the uptime_kuma entry point is installed once"
    return PluginHost.load(loaded, eps)


def test_loads_with_defaults(medianest_settings: Any) -> None:
    record = load(medianest_settings()).records["uptime_kuma"]
    assert record.status is PluginStatus.LOADED
    assert record.version == metadata.version("medianest-uptime-kuma")
    settings = record.settings
    assert settings.url is None
    assert settings.status_page is None


def test_a_bad_value_marks_it_bad_settings(medianest_settings: Any) -> None:
    loaded = medianest_settings(plugins={"uptime_kuma": {"statuspage": "home"}})
    record = load(loaded).records["uptime_kuma"]
    assert record.status is PluginStatus.BAD_SETTINGS
    assert (
        record.reason
        == f"plugins.uptime_kuma.statuspage: unknown key (did you mean 'status_page'?) (from {loaded.config_path})"
    )


def test_settings_from_the_environment(medianest_settings: Any) -> None:
    record = load(
        medianest_settings(env={"MEDIANEST_UPTIME_KUMA_STATUS_PAGE": "home"}, plugins={"uptime_kuma": {}})
    ).records["uptime_kuma"]
    settings = record.settings
    assert settings.status_page == "home"


def test_can_be_disabled(medianest_settings: Any) -> None:
    record = load(medianest_settings(plugins={"uptime_kuma": {"enabled": False}})).records["uptime_kuma"]
    assert record.status is PluginStatus.DISABLED
