"""What every signed-in page shows, kept in memory between requests: the dashboard's cards, the count of unread
notifications in the top bar, and the quick links.

Each is a :class:`~medianest_core.kept.Kept`, owned by the application (:data:`KEPT`), and forgotten by the event
that says it changed, which reaches every process: ``card.updated`` and ``service.status`` for a plugin's cards,
``notification.created`` and ``notification.read`` for a person's unread count, ``links.changed`` for the quick
links, and ``user.deleted``. Cards are also kept for :data:`CARD_SECONDS` at most, for plugins whose cards change
without saying so. A card's own fragment (``/dashboard/cards/…``, which open dashboards load again when they are
told it changed) is always loaded afresh.

Beside them, :class:`Drawn` keeps each card's HTML as the dashboard last drew it, with what it showed; it is drawn
again as soon as what it shows is not the same (a card's data is forgotten by the events above, and data loaded
again is another object), so it is never older than the data kept.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Final, Generic, TypeVar

import attrs
from aiohttp import web
from markupsafe import Markup

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

V = TypeVar("V")

CARD_SECONDS: Final = 5.0
"""The longest a card's data is kept, for cards whose plugin does not publish ``card.updated``."""


CardKey = tuple[str, str, Any]
"""A card's plugin, its key, and whom it was loaded for (``None`` for a card that is the same for everyone)."""


class Drawn(Generic[V]):
    """HTML drawn for a key, kept with what it showed (any value compared with ``==``; in a tuple, an element that
    is the very object kept compares equal at once): asked again with what it shows now, it is the kept HTML only
    when that is the same. At most ``size`` of them, the oldest going first. (A card's HTML, a whole page's
    body.)"""

    def __init__(self, *, size: int) -> None:
        self.size = size
        self._drawn: dict[Hashable, tuple[object, V]] = {}

    def get(self, key: Hashable, shown: object) -> V | None:
        found = self._drawn.get(key)
        if found is None or found[0] != shown:
            return None
        return found[1]

    def keep(self, key: Hashable, shown: object, html: V) -> None:
        self._drawn.pop(key, None)
        while len(self._drawn) >= self.size:
            del self._drawn[next(iter(self._drawn))]
        self._drawn[key] = (shown, html)

    def forget(self, which: Callable[[Any], bool] | None = None) -> None:
        """Forget the HTML of the keys ``which`` accepts, or all of it."""
        if which is None:
            self._drawn.clear()
            return
        for key in [k for k in self._drawn if which(k)]:
            del self._drawn[key]

    def __len__(self) -> int:
        return len(self._drawn)


@attrs.define
class PageData:
    """The kept answers of one application, and the subscriptions that forget them."""

    cards: Kept[CardKey, CardData] = attrs.field(factory=lambda: Kept(size=2000, seconds=CARD_SECONDS))
    unread: Kept[int, int] = attrs.field(factory=lambda: Kept(size=5000))
    links: Kept[bool, list[Any]] = attrs.field(factory=lambda: Kept(size=2))
    drawn: Drawn[Markup] = attrs.field(factory=lambda: Drawn(size=1000))
    """The dashboard's cards as last drawn, by plugin, card key and the viewer's user id."""
    pages: Drawn[bytes] = attrs.field(factory=lambda: Drawn(size=200))
    """Pages as last drawn (the dashboard), by template and the viewer's user id: ``shell.render_kept``."""
    shell: dict[Hashable, Any] = attrs.field(factory=dict)
    """What the layout draws the same for many requests (the navigation for a kind of viewer and a path, the
    tags of files): made from what is fixed at start-up, never from what a person or an event changes."""

    def listen(self, events: EventBus) -> Callable[[], None]:
        """Subscribe to what makes each answer out of date; returns the function that unsubscribes."""

        async def card_changed(event: CardUpdated) -> None:
            self.cards.forget(lambda key, _: key[:2] == (event.plugin, event.key))
            self.drawn.forget(lambda key: key[:2] == (event.plugin, event.key))

        async def service_changed(event: ServiceStatusChanged) -> None:
            self.cards.forget(lambda key, _: key[0] == event.plugin)
            self.drawn.forget(lambda key: key[0] == event.plugin)

        async def read_or_new(event: NotificationCreated | NotificationsRead) -> None:
            self.unread.forget(lambda user_id, _: user_id == event.user_id)

        async def user_gone(event: UserDeleted) -> None:
            self.unread.forget(lambda user_id, _: user_id == event.user_id)
            self.drawn.forget(lambda key: key[2] == event.user_id)
            self.pages.forget(lambda key: key[1] == event.user_id)

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
