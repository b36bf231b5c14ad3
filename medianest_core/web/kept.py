"""What every signed-in page shows, kept in memory between requests: the dashboard's cards, the count of unread
notifications in the top bar, and the quick links.

Each is a :class:`~medianest_core.kept.Kept`, owned by the application (:data:`KEPT`), and forgotten by the event
that says it changed, which reaches every process: ``card.updated`` and ``service.status`` for a plugin's cards,
``notification.created`` and ``notification.read`` for a person's unread count, ``links.changed`` for the quick
links, and ``user.deleted``. Cards are also kept for :data:`CARD_SECONDS` at most, for plugins whose cards change
without saying so. A card's own fragment (``/dashboard/cards/…``, which open dashboards load again when they are
told it changed) is always loaded afresh.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

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
from medianest_core.kept import Kept
from medianest_core.types import CardData

CARD_SECONDS: Final = 5.0
"""The longest a card's data is kept, for cards whose plugin does not publish ``card.updated``."""


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
            self.cards.forget(lambda key, _: key[:2] == (event.plugin, event.key))

        async def service_changed(event: ServiceStatusChanged) -> None:
            self.cards.forget(lambda key, _: key[0] == event.plugin)

        async def read_or_new(event: NotificationCreated | NotificationsRead) -> None:
            self.unread.forget(lambda user_id, _: user_id == event.user_id)

        async def user_gone(event: UserDeleted) -> None:
            self.unread.forget(lambda user_id, _: user_id == event.user_id)

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
