"""The typed event bus, in-process: publish an :class:`~medianest_core.types.Event`, subscribe by class.

Subscribing returns the function that unsubscribes. A subscriber that raises is logged and never breaks the
publisher or the other subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Final, TypeVar

import attrs
import cattrs
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


@attrs.frozen
class JobUpdated(Event):
    """A job changed state or made progress (throttled to a few a second per job)."""

    name: ClassVar[str] = "job.updated"
    job_id: int
    actor: str
    owner_id: int | None
    state: str
    progress: float
    detail: dict[str, Any]
    error: str | None = None

    def audience(self) -> Audience:
        return Audience.user(self.owner_id) if self.owner_id is not None else Audience.admins()


@attrs.frozen
class ServiceStatusChanged(Event):
    """A plugin's health check changed state (``plugin``/``check``): dashboards grey out or light up its card.
    ``message`` is the public wording of the state, never the error text."""

    name: ClassVar[str] = "service.status"
    plugin: str
    check: str
    state: str
    message: str | None = None

    def audience(self) -> Audience:
        return Audience.everyone()


@attrs.frozen
class ServiceOutage(Event):
    """A plugin reported that a service (named by its plugin, ``"overseerr"``) is out, with the ``reason`` people are
    shown (``None``: it is back). Every process updates ``ctx.outages``; open pages grey out what depends on it."""

    name: ClassVar[str] = "service.outage"
    service: str
    reason: str | None = None

    def audience(self) -> Audience:
        return Audience.everyone()


@attrs.frozen
class CardUpdated(Event):
    """A plugin's dashboard card ``key`` has new data: open dashboards load it again."""

    name: ClassVar[str] = "card.updated"
    plugin: str
    key: str

    def audience(self) -> Audience:
        return Audience.everyone()


@attrs.frozen
class TitleChanged(Event):
    """What a plugin says about a title (``kind`` ``"movie"`` or ``"tv"``, and its TMDB id) changed for one person:
    their request was approved, the title reached a library. Their open pages ask for its facts again
    (``GET /api/v1/titles/{kind}/{tmdb_id}/facts``) and show them in place."""

    name: ClassVar[str] = "title.changed"
    user_id: int
    kind: str
    tmdb_id: int

    def audience(self) -> Audience:
        return Audience.user(self.user_id)


@attrs.frozen
class AuthChanged(Event):
    """Something that decides who a request is changed: a user (their role, status or name, or they were removed,
    which covers their tokens and sessions too), a session (ended, or its data changed), or an API token
    (revoked). Every process forgets what it kept of it (:mod:`medianest_core.auth.cache`); no browser receives it.
    """

    name: ClassVar[str] = "auth.changed"
    confirmed: ClassVar[bool] = True
    user_id: int | None = None
    session_id: str | None = None
    token_id: int | None = None

    def audience(self) -> Audience:
        return Audience.nobody()


@attrs.frozen
class LinksChanged(Event):
    """An admin added, changed or removed a quick link; pages that show the links forget what they kept."""

    name: ClassVar[str] = "links.changed"

    def audience(self) -> Audience:
        return Audience.nobody()


@attrs.frozen
class PluginSettingsSaved(Event):
    """An admin saved (or put back) a plugin's settings: every process restarts the plugin with them
    (:mod:`medianest_core.live_settings`); no browser receives it."""

    name: ClassVar[str] = "plugin.settings_saved"
    plugin: str

    def audience(self) -> Audience:
        return Audience.nobody()


EVENTS: tuple[type[Event], ...] = (
    UserDeleted,
    PluginSettingsSaved,
    AuthChanged,
    LinksChanged,
    NotificationCreated,
    NotificationsRead,
    JobUpdated,
    ServiceStatusChanged,
    ServiceOutage,
    CardUpdated,
    TitleChanged,
)
"""The core's events; each plugin documents its own."""

Subscriber = Callable[[Any], Awaitable[None]]

log = structlog.get_logger("medianest.events")


def event_classes() -> dict[str, type[Event]]:
    """Every event class loaded in this process, by its one name: the core's and the plugins'."""
    found: dict[str, type[Event]] = {}
    pending = list(Event.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.name in found and found[cls.name] is not cls:
            log.warning("event_name_taken", event_name=cls.name, by=found[cls.name].__qualname__)
            continue
        found[cls.name] = cls
    return found


class EventBus:
    """Delivers events to the subscribers of this process, and, with a :class:`RedisBridge` attached, to those
    of every other MediaNest process (a worker's progress reaches the web processes)."""

    def __init__(self) -> None:
        self._subscribers: dict[type[Event], list[Subscriber]] = {}
        self.bridge: RedisBridge | None = None

    def subscribe(self, event: type[E], handler: Callable[[E], Awaitable[None]]) -> Callable[[], None]:
        handlers = self._subscribers.setdefault(event, [])
        handlers.append(handler)

        def unsubscribe() -> None:
            if handler in handlers:
                handlers.remove(handler)

        return unsubscribe

    async def publish(self, event: Event) -> None:
        """Deliver ``event`` here and, through Redis when configured, in every other process."""
        await self.deliver(event)
        if self.bridge is not None:
            await self.bridge.send(event)

    async def deliver(self, event: Event) -> None:
        """Deliver ``event`` to this process's subscribers of its class and base classes, concurrently."""
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


CONFIRM_WITHIN: Final = 2.0
"""How long (seconds) publishing a confirmed event waits for the other processes to deliver it."""


class Confirmations:
    """The other processes that said they delivered a confirmed event, against how many received it."""

    def __init__(self, done: asyncio.Future[None]) -> None:
        self.done = done
        self.count = 0
        self.needed: int | None = None  # known once Redis says how many received it

    def add(self) -> None:
        self.count += 1
        self._check()

    def expect(self, needed: int) -> None:
        self.needed = needed
        self._check()

    def _check(self) -> None:
        if self.needed is not None and self.count >= self.needed and not self.done.done():
            self.done.set_result(None)


class RedisBridge:
    """Carries events between processes over Redis pub/sub. Each process delivers its own events at once and
    skips them when they come back; events of a class this process does not know are ignored. Publishing a
    confirmed event (``Event.confirmed``) returns once every other process has delivered it, or after
    :data:`CONFIRM_WITHIN` seconds.

    What arrives is delivered in the order it arrives, each event without waiting for the one before to be done
    with: a subscriber that takes long (a plugin restarting with new settings) never holds up the events behind
    it, such as a revoked session that must count in this process from the next request."""

    CHANNEL: Final = "medianest:events"
    MAX_DELIVERIES: Final = 1000
    """Events being delivered at once at most; past it, reading waits for one to be done."""

    def __init__(self, bus: EventBus, url: str) -> None:
        from redis.asyncio import Redis

        self.bus = bus
        self.redis = Redis.from_url(url)
        self.origin = uuid.uuid4().hex
        self.classes = event_classes()
        self.converter = cattrs.Converter()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._waiting: dict[str, Confirmations] = {}
        self._deliveries: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="events:redis")
        async with asyncio.timeout(5):
            await self._ready.wait()
        self.bus.bridge = self

    async def stop(self) -> None:
        self.bus.bridge = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for delivery in list(self._deliveries):
            delivery.cancel()
        await asyncio.gather(*self._deliveries, return_exceptions=True)
        await self.redis.aclose()

    async def send(self, event: Event) -> None:
        doc: dict[str, Any] = {"origin": self.origin, "name": event.name, "data": attrs.asdict(event)}
        if not event.confirmed:
            await self._publish(event.name, doc)
            return
        # Every other process says when it has delivered the event: the publisher waits for all of them.
        doc["confirm"] = confirm = uuid.uuid4().hex
        waiting = self._waiting[confirm] = Confirmations(asyncio.get_running_loop().create_future())
        try:
            listening = await self._publish(event.name, doc)
            waiting.expect(listening - 1)  # this process listens too
            async with asyncio.timeout(CONFIRM_WITHIN):
                await waiting.done
        except TimeoutError:
            log.warning("event_not_confirmed", event_name=event.name, confirmed=waiting.count, expected=waiting.needed)
        finally:
            del self._waiting[confirm]

    async def _publish(self, name: str, doc: dict[str, Any]) -> int:
        """Publish ``doc``; the number of listeners that received it (0 when Redis could not be reached)."""
        try:
            return int(await self.redis.publish(self.CHANNEL, json.dumps(doc, default=str)))
        except Exception as exc:
            log.error("event_not_shared", event_name=name, error=f"{type(exc).__name__}: {exc}")
            return 0

    async def _listen(self) -> None:
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.CHANNEL)
                    self._ready.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            if len(self._deliveries) >= self.MAX_DELIVERIES:
                                # A flood waits here, as Redis lets a slow reader wait, instead of piling up tasks.
                                await asyncio.wait(self._deliveries, return_when=asyncio.FIRST_COMPLETED)
                            delivery = asyncio.create_task(self._delivered(message["data"]), name="events:deliver")
                            self._deliveries.add(delivery)
                            delivery.add_done_callback(self._deliveries.discard)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("event_bridge_lost", error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(1)

    async def _delivered(self, raw: bytes | str) -> None:
        try:
            await self._receive(raw)
        except Exception as exc:  # confirming needs Redis, which may have gone meanwhile: the listener says so
            log.error("event_delivery_failed", error=f"{type(exc).__name__}: {exc}")

    async def _receive(self, raw: bytes | str) -> None:
        try:
            doc = json.loads(raw)
            if doc.get("origin") == self.origin:
                return
            if "confirms" in doc:
                waiting = self._waiting.get(str(doc["confirms"]))
                if waiting is not None:
                    waiting.add()
                return
            cls = self.classes.get(str(doc.get("name")))
            if cls is None:
                self.classes = event_classes()
                cls = self.classes.get(str(doc.get("name")))
            if cls is None:
                return
            event = self.converter.structure(doc.get("data") or {}, cls)
        except Exception as exc:
            log.error("event_unreadable", error=f"{type(exc).__name__}: {exc}")
            return
        await self.bus.deliver(event)
        if "confirm" in doc:
            await self._publish(event.name, {"origin": self.origin, "confirms": doc["confirm"]})
