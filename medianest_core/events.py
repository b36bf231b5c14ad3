"""The typed event bus, in-process: publish an :class:`~medianest_core.types.Event`, subscribe by class.

Subscribing returns the function that unsubscribes. A subscriber that raises is logged and never breaks the
publisher or the other subscribers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

import attrs
import structlog

from medianest_core.types import Audience, Event

E = TypeVar("E", bound=Event)


@attrs.frozen
class UserDeleted(Event):
    """An account was removed; plugins delete what they kept for it outside the database (files, caches)."""

    name: ClassVar[str] = "user.deleted"
    user_id: int
    username: str


@attrs.frozen
class NotificationCreated(Event):
    """A notification was stored for one person; their open pages show it at once."""

    name: ClassVar[str] = "notification.created"
    user_id: int
    notification: dict[str, Any]

    def audience(self) -> Audience:
        return Audience.user(self.user_id)


@attrs.frozen
class NotificationsRead(Event):
    """A person marked notifications read (``ids``; empty for all), so their other open pages update."""

    name: ClassVar[str] = "notification.read"
    user_id: int
    ids: list[int]

    def audience(self) -> Audience:
        return Audience.user(self.user_id)


EVENTS: tuple[type[Event], ...] = (UserDeleted, NotificationCreated, NotificationsRead)
"""The core's events; each plugin documents its own."""

Subscriber = Callable[[Any], Awaitable[None]]

log = structlog.get_logger("medianest.events")


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[type[Event], list[Subscriber]] = {}

    def subscribe(self, event: type[E], handler: Callable[[E], Awaitable[None]]) -> Callable[[], None]:
        handlers = self._subscribers.setdefault(event, [])
        handlers.append(handler)

        def unsubscribe() -> None:
            if handler in handlers:
                handlers.remove(handler)

        return unsubscribe

    async def publish(self, event: Event) -> None:
        """Deliver ``event`` to the subscribers of its class and of its base classes, concurrently."""
        targets = [
            handler
            for cls in type(event).__mro__
            if isinstance(cls, type) and issubclass(cls, Event)
            for handler in list(self._subscribers.get(cls, ()))
        ]
        if not targets:
            return
        results = await asyncio.gather(*(h(event) for h in targets), return_exceptions=True)
        for handler, result in zip(targets, results, strict=True):
            if isinstance(result, BaseException):
                log.error(
                    "event_subscriber_failed",
                    event_name=type(event).__name__,
                    subscriber=getattr(handler, "__qualname__", repr(handler)),
                    error=f"{type(result).__name__}: {result}",
                )
