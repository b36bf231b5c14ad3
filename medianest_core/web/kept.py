"""What every signed-in page shows, kept in memory between requests: the dashboard's cards, the count of unread
notifications in the top bar, and the quick links.

Each is a :class:`Kept`, owned by the application (:data:`KEPT`), and forgotten by the event that says it
changed, which reaches every process: ``card.updated`` and ``service.status`` for a plugin's cards,
``notification.created`` and ``notification.read`` for a person's unread count, ``links.changed`` for the quick
links, and ``user.deleted``. Cards are also kept for :data:`CARD_SECONDS` at most, for plugins whose cards change
without saying so. A card's own fragment (``/dashboard/cards/…``, which open dashboards load again when they are
told it changed) is always loaded afresh.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Final, Generic, TypeVar

import attrs
from aiohttp import web

from medianest_core.events import (
    CardUpdated,
    EventBus,
    LinksChanged,
    NotificationCreated,
    NotificationsRead,
    ServiceStatusChanged,
    UserDeleted,
)
from medianest_core.types import CardData

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

CARD_SECONDS: Final = 5.0
"""The longest a card's data is kept, for cards whose plugin does not publish ``card.updated``."""


class Kept(Generic[K, V]):
    """Answers kept by key, at most ``size`` of them (the oldest goes first), each for ``seconds`` at most when
    given. A load that overlaps :meth:`forget` answers its caller and is not kept; a load that fails keeps
    nothing."""

    def __init__(self, *, size: int = 1000, seconds: float | None = None) -> None:
        self.size = size
        self.seconds = seconds
        self._values: dict[K, tuple[float, V]] = {}
        self._generation = 0

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        found = self._values.get(key)
        now = time.monotonic()
        if found is not None and (self.seconds is None or now - found[0] < self.seconds):
            return found[1]
        generation = self._generation
        value = await load()
        if generation == self._generation:
            self._values.pop(key, None)
            while len(self._values) >= self.size:
                del self._values[next(iter(self._values))]
            self._values[key] = (now, value)
        return value

    def forget(self, which: Callable[[K], bool] | None = None) -> None:
        """Forget the answers whose key ``which`` accepts, or all of them."""
        self._generation += 1
        if which is None:
            self._values.clear()
            return
        for key in [k for k in self._values if which(k)]:
            del self._values[key]


CardKey = tuple[str, str, Any]
"""A card's plugin, its key, and whom it was loaded for (``None`` for a card that is the same for everyone)."""


@attrs.define
class PageData:
    """The kept answers of one application, and the subscriptions that forget them."""

    cards: Kept[CardKey, CardData] = attrs.field(factory=lambda: Kept(size=2000, seconds=CARD_SECONDS))
    unread: Kept[int, int] = attrs.field(factory=lambda: Kept(size=5000))
    links: Kept[bool, list[Any]] = attrs.field(factory=lambda: Kept(size=2))

    def listen(self, events: EventBus) -> Callable[[], None]:
        """Subscribe to what makes each answer out of date; returns the function that unsubscribes."""

        async def card_changed(event: CardUpdated) -> None:
            self.cards.forget(lambda key: key[:2] == (event.plugin, event.key))

        async def service_changed(event: ServiceStatusChanged) -> None:
            self.cards.forget(lambda key: key[0] == event.plugin)

        async def read_or_new(event: NotificationCreated | NotificationsRead) -> None:
            self.unread.forget(lambda user_id: user_id == event.user_id)

        async def user_gone(event: UserDeleted) -> None:
            self.unread.forget(lambda user_id: user_id == event.user_id)

        async def links_changed(event: LinksChanged) -> None:
            self.links.forget()

        stops = [
            events.subscribe(CardUpdated, card_changed),
            events.subscribe(ServiceStatusChanged, service_changed),
            events.subscribe(NotificationCreated, read_or_new),
            events.subscribe(NotificationsRead, read_or_new),
            events.subscribe(UserDeleted, user_gone),
            events.subscribe(LinksChanged, links_changed),
        ]

        def stop() -> None:
            for each in stops:
                each()

        return stop


KEPT: Final = web.AppKey("medianest.kept", PageData)
