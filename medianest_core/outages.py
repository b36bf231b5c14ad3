"""What depends on a service: outages one plugin reports about another, which any plugin can read.

A plugin that watches services (Uptime Kuma, say) reports ``await ctx.outages.report("overseerr", "Overseerr's
monitor is down (since 10:42)")`` and clears it with ``await ctx.outages.report("overseerr", None)``. The plugins
that depend on the service ask ``ctx.outages.reason("overseerr")`` (synchronous, in-process) and grey out what needs
it with that reason. Each report is kept in this process and published as :class:`ServiceOutage`, so every other
MediaNest process (through the Redis bridge) and every open page learns it too.

A service is named by its plugin's name; a report about a name no plugin of this process has is ignored.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import structlog

from medianest_core.events import ServiceOutage

if TYPE_CHECKING:
    from medianest_core.events import EventBus

REASON_CHARS: Final = 300
"""A reason is one short line: longer text is cut."""
REPEAT_SECONDS: Final = 60.0
"""An unchanged report is published again after this long, so a process started since hears of the outage."""

log = structlog.get_logger("medianest.outages")


def _clean(reason: str | None) -> str | None:
    if reason is None:
        return None
    text = " ".join(str(reason).split())[:REASON_CHARS]
    return text or None


class Outages:
    """The services that are down in this process's view, with the reason, by plugin name."""

    def __init__(self, events: EventBus | None = None, known: Callable[[str], bool] | None = None) -> None:
        self._events = events
        self._known = known
        self._reasons: dict[str, str] = {}
        self._published: dict[str, float] = {}
        if events is not None:
            events.subscribe(ServiceOutage, self._heard)

    def reason(self, service: str) -> str | None:
        """Why ``service`` is out just now, or ``None`` when nothing says it is."""
        return self._reasons.get(service)

    def current(self) -> dict[str, str]:
        """Every outage known, by service."""
        return dict(self._reasons)

    async def report(self, service: str, reason: str | None) -> None:
        """Say that ``service`` is out for ``reason`` (``None`` or empty: it is not any more). Kept here at once and
        published to the other processes and to open pages. The same report again is published only once a minute
        (for processes started meanwhile)."""
        if not self._applies(service):
            log.info("outage_ignored", service=service, reason="no such plugin")
            return
        reason = _clean(reason)
        now = time.monotonic()
        if (
            self._reasons.get(service) == reason
            and now - self._published.get(service, -REPEAT_SECONDS) < REPEAT_SECONDS
        ):
            return
        self._set(service, reason)
        self._published[service] = now
        if self._events is not None:
            await self._events.publish(ServiceOutage(service=service, reason=reason))

    def _applies(self, service: str) -> bool:
        if not isinstance(service, str) or not service:
            return False
        return self._known is None or self._known(service)

    def _set(self, service: str, reason: str | None) -> None:
        before = self._reasons.get(service)
        if reason is None:
            self._reasons.pop(service, None)
        else:
            self._reasons[service] = reason
        if before != reason:
            log.info("outage_changed", service=service, outage=reason)

    async def _heard(self, event: ServiceOutage) -> None:
        """An outage reported here or in another process."""
        if self._applies(event.service):
            self._set(event.service, _clean(event.reason))
