"""MediaNest core: the daemon, and the types and hook marker its plugins use."""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Any

import pluggy

from medianest_core.events import TitleChanged
from medianest_core.types import (
    Access,
    AccountSource,
    ActionChoice,
    ActorSpec,
    Card,
    CardData,
    CardState,
    CastMember,
    DiscoveryQuery,
    DiscoveryRow,
    Event,
    EventSubscription,
    ExternalIds,
    FactsQuery,
    HealthCheck,
    HealthResult,
    HealthState,
    ImportResult,
    LibraryImport,
    LinkedAccount,
    LoginProvider,
    MediaLibrary,
    Migrations,
    NavLink,
    Page,
    PeriodicTask,
    PluginContext,
    Presence,
    Quota,
    Route,
    SearchProvider,
    SearchQuery,
    SeasonInfo,
    Title,
    TitleAction,
    TitleFacts,
    TitleFactSource,
    TitleKind,
    TitleQuery,
    TitleSource,
    TitleStatus,
    Viewer,
    WebAssets,
    WsCommand,
)

if TYPE_CHECKING:
    from medianest_core.jobrunner import JobCancelled, JobContext, JobInfo, JobState

PROJECT = "medianest"
hookimpl = pluggy.HookimplMarker(PROJECT)

try:
    __version__ = metadata.version("medianest-core")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0.0.0"

__all__ = [
    "PROJECT",
    "Access",
    "AccountSource",
    "ActionChoice",
    "ActorSpec",
    "Card",
    "CardData",
    "CardState",
    "CastMember",
    "DiscoveryQuery",
    "DiscoveryRow",
    "Event",
    "EventSubscription",
    "ExternalIds",
    "FactsQuery",
    "HealthCheck",
    "HealthResult",
    "HealthState",
    "ImportResult",
    "JobCancelled",
    "JobContext",
    "JobInfo",
    "JobState",
    "LibraryImport",
    "LinkedAccount",
    "LoginProvider",
    "MediaLibrary",
    "Migrations",
    "NavLink",
    "Page",
    "PeriodicTask",
    "PluginContext",
    "Presence",
    "Quota",
    "Route",
    "SearchProvider",
    "SearchQuery",
    "SeasonInfo",
    "Title",
    "TitleAction",
    "TitleChanged",
    "TitleFactSource",
    "TitleFacts",
    "TitleKind",
    "TitleQuery",
    "TitleSource",
    "TitleStatus",
    "Viewer",
    "WebAssets",
    "WsCommand",
    "__version__",
    "hookimpl",
]


_JOB_NAMES = frozenset({"JobCancelled", "JobContext", "JobInfo", "JobState"})


def __getattr__(name: str) -> Any:
    """The job classes, imported when first asked for: the job runner needs the database layer, which a plugin
    that only imports ``hookimpl`` should not pay for."""
    if name in _JOB_NAMES:
        from medianest_core import jobrunner

        return getattr(jobrunner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
