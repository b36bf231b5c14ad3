"""The overseerr plugin is installed, found through its entry point, and configured from ``[plugins.overseerr]``."""

from __future__ import annotations

from importlib import metadata
from typing import Any

from medianest_core.plugins import ENTRY_POINT_GROUP, PluginHost, PluginStatus


def load(loaded: Any) -> PluginHost:
    eps = [ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == "overseerr"]
    assert len(eps) == 1, "the overseerr entry point is installed once"
    return PluginHost.load(loaded, eps)


def test_loads_with_defaults(medianest_settings: Any) -> None:
    record = load(medianest_settings()).records["overseerr"]
    assert record.status is PluginStatus.LOADED
    assert record.version == metadata.version("medianest-overseerr")
    settings = record.settings
    assert settings.url is None
    assert settings.api_key is None


def test_a_bad_value_marks_it_bad_settings(medianest_settings: Any) -> None:
    loaded = medianest_settings(plugins={"overseerr": {"url": "ftp://overseerr"}})
    record = load(loaded).records["overseerr"]
    assert record.status is PluginStatus.BAD_SETTINGS
    assert record.reason == (
        f"plugins.overseerr.url: expected an http:// or https:// URL with a host, "
        f"got 'ftp://overseerr' (from {loaded.config_path})"
    )


def test_settings_from_the_environment(medianest_settings: Any) -> None:
    record = load(medianest_settings(env={"MEDIANEST_OVERSEERR_API_KEY": "k-1"}, plugins={"overseerr": {}})).records[
        "overseerr"
    ]
    settings = record.settings
    assert settings.api_key.get_secret_value() == "k-1"


def test_can_be_disabled(medianest_settings: Any) -> None:
    record = load(medianest_settings(plugins={"overseerr": {"enabled": False}})).records["overseerr"]
    assert record.status is PluginStatus.DISABLED
