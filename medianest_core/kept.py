"""Answers kept in memory by key: one class for every cache of the core (``auth.cache`` for who asks, ``web.kept``
for what signed-in pages show), so that each keeps its answers the same way and is invalidated the same way."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Kept(Generic[K, V]):
    """Answers kept by key, at most ``size`` of them (the oldest goes first), each for ``seconds`` at most when
    given. An answer read before a :meth:`forget` is not kept after it: readers note :attr:`generation` before they
    read and hand it to :meth:`keep` (:meth:`get` does both). A load that fails keeps nothing."""

    def __init__(self, *, size: int = 1000, seconds: float | None = None) -> None:
        self.size = size
        self.seconds = seconds
        self._values: dict[K, tuple[float, V]] = {}
        self._generation = 0

    @property
    def generation(self) -> int:
        """How many times something was forgotten: what a reader notes before it reads."""
        return self._generation

    def _young(self, key: K) -> tuple[float, V] | None:
        found = self._values.get(key)
        if found is None or (self.seconds is not None and time.monotonic() - found[0] >= self.seconds):
            return None
        return found

    def peek(self, key: K) -> V | None:
        """The kept answer, while it is young enough, else ``None``."""
        found = self._young(key)
        return None if found is None else found[1]

    def keep(self, key: K, value: V, since: int) -> None:
        """Keep ``value``, read when :attr:`generation` was ``since``, unless something was forgotten since."""
        if since != self._generation:
            return
        self._values.pop(key, None)
        while len(self._values) >= self.size:
            del self._values[next(iter(self._values))]
        self._values[key] = (time.monotonic(), value)

    def replace(self, key: K, value: V) -> None:
        """Change a kept answer that this process changed itself (keeping its age); nothing when none is kept."""
        found = self._values.get(key)
        if found is not None:
            self._values[key] = (found[0], value)

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The kept answer, or the one ``load`` gives (then kept)."""
        found = self._young(key)
        if found is not None:
            return found[1]
        since = self._generation
        value = await load()
        self.keep(key, value, since)
        return value

    def forget(self, which: Callable[[K, V], bool] | None = None) -> None:
        """Forget the answers that ``which(key, value)`` accepts, or all of them; answers being read are not kept."""
        self._generation += 1
        if which is None:
            self._values.clear()
            return
        for key in [k for k, (_, v) in self._values.items() if which(k, v)]:
            del self._values[key]

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[K]:
        """The keys kept, oldest first."""
        return iter(list(self._values))
