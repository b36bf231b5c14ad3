"""Rate limits and quotas: in memory by default, in Redis when ``redis_url`` is set, so that every process counts
together. Sign-ins and quotas count over exact moving windows, with the ``limits`` library; the requests of the API
and of images, which every call pays for, over sliding window counters (two counters a key, the previous window's
weighted by how much of it still overlaps), which cost the same however high the limit: in this process's memory
(:class:`LocalWindows`) without Redis, and with Redis in memory too, shared every quarter second
(:class:`SharedWindows`).

- the API: ``api_rate_limit`` per signed-in user, per client address (an IPv6 /64 as one) for anonymous requests;
- signing in: ``login_rate_limit`` per client address, and ``login_user_rate_limit`` per username for attempts
  from addresses that have not signed in to that account lately, to which one address adds at most
  ``ADDRESS_SHARE`` (see :meth:`Limits.sign_in_attempt`);
- quotas that plugins declare (``quotas`` hook), per user, with defaults per role and the admin's overrides.

Past a limit: 429 in the JSON error shape with ``Retry-After``.

``limits`` is imported by the first request that counts (its rates are parsed then), not at start.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final

import attrs
import structlog
from aiohttp import web
from sqlalchemy import func, select

from medianest_core import keys
from medianest_core.audit import AuditAction
from medianest_core.auth.net import client_ip, network_of
from medianest_core.errors import ApiError, ErrorCode
from medianest_core.models import AuditEntry, QuotaOverride, Role, User
from medianest_core.settings import Settings
from medianest_core.types import Quota

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.aio.storage import Storage
    from limits.aio.strategies import MovingWindowRateLimiter, RateLimiter
    from redis.asyncio import ConnectionPool

log = structlog.get_logger("medianest.ratelimit")

QUOTA_CEILING = 1_000_000
KNOWN_ADDRESS_DAYS: Final = 30
"""An address from which an account signed in within this many days is that account's own."""
KNOWN_ADDRESSES: Final = 200
"""The most recent of an account's addresses that are looked at; more are not needed to recognise its owner."""
ADDRESS_SHARE: Final = 10
"""The most sign-in attempts an hour that one address adds to a username's shared count of sign-in attempts
(``login_user_rate_limit``); past it that address is refused for that username and the shared count is left
alone, so that spending the shared count needs many addresses."""
SHARE_IPV6_PREFIX: Final = 48
"""For ``ADDRESS_SHARE`` an IPv6 address counts as its /48: anyone can get a /48 (thousands of /64s) for
nothing, and a home connection often has a /56."""
LIMITS_PREFIX: Final = "medianest-limits"
"""The beginning of the Redis keys of the moving windows (sign-ins and other exact limits)."""


@attrs.frozen
class QuotaUse:
    name: str
    title: str
    limit: int | None
    used: int
    remaining: int | None
    period_s: float
    resets_at: datetime | None

    def doc(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "limit": self.limit,
            "used": self.used,
            "remaining": self.remaining,
            "period_s": self.period_s,
            "resets_at": self.resets_at.isoformat() if self.resets_at else None,
        }


def _storage(settings: Settings, pool: ConnectionPool | None) -> Storage:
    """The moving windows' storage: in memory, or in Redis over ``pool`` (which :meth:`Limits.close` closes)."""
    from limits.aio.storage import MemoryStorage, RedisStorage

    if settings.redis_url is None or pool is None:
        return MemoryStorage()
    return RedisStorage(
        f"async+{settings.redis_url}",
        implementation="redispy",
        key_prefix=LIMITS_PREFIX,
        connection_pool=pool,  # type: ignore[arg-type]  # passed on to redis.asyncio.Redis, typed as options
    )


def _retry_after(reset_time: float) -> int:
    return max(1, math.ceil(reset_time - time.time()))


def _refusal(amount: int, length: int, previous: int, current: int, now: float) -> float | None:
    """The sliding window counter's decision for one more hit, with ``previous`` and ``current`` counted in the
    window before and in this one: ``None`` when it fits, else the seconds until one more would."""
    elapsed = (now % length) / length  # the share of this window gone by
    if math.floor(previous * (1 - elapsed)) + current + 1 <= amount:
        return None
    if current >= amount:
        return (1 - elapsed) * length  # not before the next window
    # One more fits once the previous window's weight is below what is left: previous * (1 - e) < room.
    return max((1 - (amount - current) / previous - elapsed) * length, 0.001)


class LocalWindows:
    """Sliding window counters in this process's memory, for the API and image limits when no Redis is shared:
    per key, the count of the current window and of the one before, weighted by how much of it the sliding
    window still covers (as ``limits``' sliding window counter counts). Plain dictionary work, with no task or
    lock per request; windows left behind are dropped every :data:`PRUNE_EVERY` hits."""

    PRUNE_EVERY: Final = 10_000

    def __init__(self) -> None:
        # By limit (its amount and window length), then by key: (window number, previous count, current count).
        self._windows: dict[tuple[int, int], dict[tuple[str, ...], tuple[int, int, int]]] = {}
        self._hits = 0

    def hit(self, item: RateLimitItem, key: tuple[str, ...], now: float | None = None) -> float | None:
        """Count one hit of ``key`` and answer ``None``; past the limit, count nothing and answer the seconds until
        one more hit would be allowed."""
        now = time.time() if now is None else now
        length = item.get_expiry()
        windows = self._windows.setdefault((item.amount, length), {})
        number = int(now // length)
        window, previous, current = windows.get(key, (number, 0, 0))
        if window == number - 1:
            previous, current = current, 0
        elif window < number - 1:
            previous, current = 0, 0
        wait = _refusal(item.amount, length, previous, current, now)
        if wait is not None:
            return wait
        windows[key] = (number, previous, current + 1)
        self._hits += 1
        if self._hits % self.PRUNE_EVERY == 0:
            for found in self._windows.values():
                for gone in [k for k, v in found.items() if v[0] < number - 1]:
                    del found[gone]
        return None


SHARE_EVERY: Final = 0.25
"""How often (seconds) a process adds the requests it counted to the counts in Redis and reads the others' back."""

Slot = tuple[int, int, tuple[str, ...]]
"""A limit (its amount and window length) and a key."""


class SharedWindows:
    """The same sliding window counters, for every process at once through Redis, without a Redis round trip per
    request.

    A process counts a request in its own memory at once and decides with what it knows: each window's total in
    Redis as last read, plus what it counted since. At most every :data:`SHARE_EVERY` seconds it adds what it
    counted to Redis (``INCRBY`` on a key per window, which expires two windows later) and reads the totals back
    in the same round trip. A limit may so be passed by what the other processes counted since the last share: at
    most a quarter of a second of their requests. Sign-ins and quotas, which must be exact, do not count this way.
    When Redis cannot be reached, counting goes on here and what was counted is sent at the next share."""

    PREFIX: Final = "medianest:windows:"
    SWEEP_EVERY: Final = 240

    def __init__(self, url: str, *, every: float = SHARE_EVERY) -> None:
        from redis.asyncio import Redis

        self.redis = Redis.from_url(url)
        self.every = every
        # By slot, then by window number: [the total Redis last gave, hits counted here and not yet sent].
        self._counts: dict[Slot, dict[int, list[int]]] = {}
        self._touched: set[Slot] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._sharing: asyncio.Task[None] | None = None
        self._shares = 0

    async def hit(self, item: RateLimitItem, key: tuple[str, ...], now: float | None = None) -> float | None:
        """As :meth:`LocalWindows.hit`; the hit reaches Redis at the next share. The first hit of a key in this
        process reads its windows' totals from Redis first (one round trip), so that what the other processes
        counted counts from the start."""
        now = time.time() if now is None else now
        length = item.get_expiry()
        slot = (item.amount, length, key)
        number = int(now // length)
        windows = self._counts.get(slot)
        if windows is None:
            read = await self._read(slot, number)
            windows = self._counts.setdefault(slot, read)  # another request may have read it meanwhile
        current = windows.get(number)
        previous = windows.get(number - 1)
        self._touched.add(slot)  # read back at the next share, counted or refused
        if self._timer is None and self._sharing is None:
            self._timer = asyncio.get_running_loop().call_later(self.every, self._share_soon)
        wait = _refusal(item.amount, length, sum(previous) if previous else 0, sum(current) if current else 0, now)
        if wait is None:
            if current is None:
                current = windows[number] = [0, 0]
            current[1] += 1
        return wait

    def _name(self, slot: Slot, number: int) -> str:
        amount, length, key = slot
        return f"{self.PREFIX}{amount}/{length}:{'|'.join(key)}:{number}"

    async def _read(self, slot: Slot, number: int) -> dict[int, list[int]]:
        try:
            found = await self.redis.mget([self._name(slot, number - 1), self._name(slot, number)])
        except Exception as exc:  # counted here alone until Redis answers again
            log.warning("rate_limit_read_failed", error=f"{type(exc).__name__}: {exc}")
            return {}
        return {n: [int(total), 0] for n, total in zip((number - 1, number), found, strict=True) if total is not None}

    def _share_soon(self) -> None:
        self._timer = None
        self._sharing = asyncio.ensure_future(self._share_then_free())

    async def _share_then_free(self) -> None:
        try:
            await self.share()
        finally:
            self._sharing = None

    async def share(self, now: float | None = None) -> None:
        """Add what was counted here to Redis, and read back the totals of the windows used since the last share."""
        now = time.time() if now is None else now
        touched, self._touched = self._touched, set()
        self._shares += 1
        if self._shares % self.SWEEP_EVERY == 0:  # keys no longer used: their windows are let go
            touched |= self._counts.keys()
        sent: list[tuple[list[int], int]] = []
        pipe = self.redis.pipeline(transaction=False)
        for slot in touched:
            number = int(now // slot[1])
            windows = self._counts.get(slot)
            if windows is None:
                continue
            for gone in [n for n in windows if n < number - 1]:
                del windows[gone]
            if not windows:
                del self._counts[slot]
                continue
            for n, entry in windows.items():
                name = self._name(slot, n)
                pipe.incrby(name, entry[1])
                pipe.expire(name, 2 * slot[1])
                sent.append((entry, entry[1]))
        if not sent:
            return
        try:
            answers = await pipe.execute()
        except Exception as exc:  # counted here meanwhile; sent next time
            log.warning("rate_limit_share_failed", error=f"{type(exc).__name__}: {exc}")
            self._touched |= touched
            return
        for (entry, count), total in zip(sent, answers[0::2], strict=True):
            entry[0] = int(total)
            entry[1] -= count  # what was counted during the round trip stays to be sent

    async def close(self) -> None:
        """Send what is left and let go of Redis."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._sharing is not None:
            await self._sharing
        await self.share()
        await self.redis.aclose()


def _too_many(item: RateLimitItem, what: str, wait: int) -> ApiError:
    return ApiError(
        429,
        ErrorCode.RATE_LIMITED,
        f"Too many {what}: try again in {wait} s.",
        details={"limit": str(item), "retry_after": wait},
        headers={"Retry-After": str(wait)},
    )


class Limits:
    def __init__(self, settings: Settings, quotas: Mapping[str, Quota]) -> None:
        self.settings = settings
        # Every request counts in this process's memory; with Redis, shared with the other processes.
        self._pool: ConnectionPool | None = None  # the moving windows' Redis connections, once made
        self.local = LocalWindows() if settings.redis_url is None else None
        self.shared = SharedWindows(str(settings.redis_url)) if settings.redis_url is not None else None
        self.quotas = dict(quotas)

    # The limiters and rates are made when first used: only then is ``limits`` imported.
    @cached_property
    def limiter(self) -> MovingWindowRateLimiter:
        from limits.aio.strategies import MovingWindowRateLimiter

        pool = None
        if self.settings.redis_url is not None:
            from redis.asyncio import ConnectionPool

            pool = self._pool = ConnectionPool.from_url(str(self.settings.redis_url))
        return MovingWindowRateLimiter(_storage(self.settings, pool))

    @cached_property
    def api(self) -> RateLimitItem:
        return _parse(self.settings.api_rate_limit)

    @cached_property
    def images(self) -> RateLimitItem:
        return _parse(self.settings.image_rate_limit)

    @cached_property
    def login(self) -> RateLimitItem:
        return _parse(self.settings.login_rate_limit)

    @cached_property
    def login_user(self) -> RateLimitItem:
        return _parse(self.settings.login_user_rate_limit)

    @cached_property
    def address_share(self) -> RateLimitItem:
        from limits import RateLimitItemPerHour

        return RateLimitItemPerHour(ADDRESS_SHARE)

    async def close(self) -> None:
        """Share what is left of the requests counted here (with Redis) and let go, closing the connections."""
        if self.shared is not None:
            await self.shared.close()
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None

    async def hit(self, item: RateLimitItem, *key: str, what: str) -> None:
        """Count one attempt over an exact moving window; past the limit, a 429 naming ``what``."""
        await self._hit(self.limiter, item, *key, what=what)

    async def hit_request(self, item: RateLimitItem, *key: str, what: str) -> None:
        """Count one request of the API or of images (a sliding window counter); past the limit, a 429."""
        if self.local is not None:
            wait = self.local.hit(item, key)
        else:
            assert self.shared is not None
            wait = await self.shared.hit(item, key)
        if wait is not None:
            raise _too_many(item, what, max(1, math.ceil(wait)))

    @staticmethod
    async def _hit(limiter: RateLimiter, item: RateLimitItem, *key: str, what: str) -> None:
        if await limiter.hit(item, *key):
            return
        stats = await limiter.get_window_stats(item, *key)
        raise _too_many(item, what, _retry_after(stats.reset_time))

    async def allow(self, rate: RateLimitItem, *key: str) -> bool:
        """Count one use of ``rate`` for ``key`` when there is room, and say whether there was; nothing is raised.
        For work that is skipped, not refused, past a limit."""
        return await self.limiter.hit(rate, *key)

    async def sign_in_attempt(self, request: web.Request, username: str) -> None:
        """Count one password attempt for ``username``, or answer 429.

        Every address (for IPv6, its /64) has ``login_rate_limit``. Attempts on one username from addresses it has
        not signed in from lately also share ``login_user_rate_limit``, which slows guessing from many addresses.
        One address (for IPv6, its /48) adds at most ``ADDRESS_SHARE`` to that shared count; past it, that address
        alone is refused for that username. The person's own addresses are left out of both counts, so failing on
        purpose from elsewhere never locks them out at home, and it takes many addresses to hold them back
        elsewhere. An attempt whose address is unknown counts on the username's shared count only.
        """
        address = client_ip(request)
        where = network_of(address) or "unknown"
        name = username.strip().lower()
        await self.hit(self.login, "login", "ip", where, what="sign-in attempts")
        if address is not None:
            if await self._signed_in_from(request, name, where):
                return
            block = network_of(address, SHARE_IPV6_PREFIX) or where
            await self.hit(self.address_share, "login", "ip-user", block, name, what="sign-in attempts")
        await self.hit(self.login_user, "login", "user", name, what="sign-in attempts")

    @staticmethod
    async def _signed_in_from(request: web.Request, username: str, network: str) -> bool:
        """Whether the account ``username`` signed in from ``network`` in the last ``KNOWN_ADDRESS_DAYS`` days."""
        since = datetime.now(UTC) - timedelta(days=KNOWN_ADDRESS_DAYS)
        query = (
            select(AuditEntry.ip)
            .join(User, AuditEntry.actor_id == User.id)
            .where(
                AuditEntry.action == AuditAction.LOGIN.value,
                AuditEntry.at >= since,
                AuditEntry.ip.is_not(None),
                func.lower(User.username) == username,
            )
            .group_by(AuditEntry.ip)
            .order_by(func.max(AuditEntry.at).desc())
            .limit(KNOWN_ADDRESSES)
        )
        async with request.config_dict[keys.RUNTIME].sessions() as db:
            addresses = (await db.scalars(query)).all()
        return any(network_of(ip) == network for ip in addresses)

    async def limit_for(self, request: web.Request, user_id: int, role: Role, name: str) -> int | None:
        quota = self.quotas.get(name)
        if quota is None:
            raise KeyError(f"no quota named {name!r}; plugins declare theirs with the quotas hook")
        async with request.config_dict[keys.RUNTIME].sessions() as db:
            override = await db.scalar(
                select(QuotaOverride).where(QuotaOverride.user_id == user_id, QuotaOverride.quota == name)
            )
        if override is not None:
            return override.limit
        return quota.admin_limit if role is Role.ADMIN else quota.user_limit

    @staticmethod
    def _counter(period: float) -> RateLimitItem:
        from limits import RateLimitItemPerSecond

        # Quotas count with one fixed item per period, so a person's count survives a change of their limit;
        # the limit is compared with the count here.
        return RateLimitItemPerSecond(QUOTA_CEILING, max(1, int(period)))

    async def _used(self, name: str, quota: Quota, user_id: int) -> tuple[int, float]:
        stats = await self.limiter.get_window_stats(self._counter(quota.period), "quota", name, str(user_id))
        return QUOTA_CEILING - stats.remaining, stats.reset_time

    async def spend(self, request: web.Request, name: str, cost: int = 1) -> None:
        from medianest_core.auth.principal import require

        who = require(request)
        limit = await self.limit_for(request, who.user_id, who.role, name)
        if limit is None:
            return
        quota = self.quotas[name]
        used, reset_time = await self._used(name, quota, who.user_id)
        if used + cost <= limit:
            await self.limiter.hit(self._counter(quota.period), "quota", name, str(who.user_id), cost=cost)
            return
        wait = _retry_after(reset_time) if used else int(quota.period)
        raise ApiError(
            429,
            ErrorCode.RATE_LIMITED,
            f"Your {quota.title} quota ({limit} per {_period(quota.period)}) is used up: try again in {wait} s.",
            details={"quota": name, "limit": limit, "retry_after": wait},
            headers={"Retry-After": str(wait)},
        )

    async def usage(self, request: web.Request, user_id: int, role: Role) -> list[QuotaUse]:
        uses = []
        for name, quota in sorted(self.quotas.items()):
            limit = await self.limit_for(request, user_id, role, name)
            used, reset_time = await self._used(name, quota, user_id)
            remaining = None if limit is None else max(limit - used, 0)
            resets = datetime.fromtimestamp(reset_time, UTC) if used else None
            uses.append(QuotaUse(name, quota.title, limit, used, remaining, quota.period, resets))
        return uses


def _parse(rate: str) -> RateLimitItem:
    from limits import parse

    return parse(rate)


def _period(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return unit if count == 1 else f"{count} {unit}s"
    return f"{seconds:g} s"


async def spend(request: web.Request, name: str, cost: int = 1) -> None:
    """Spend ``cost`` of the signed-in user's quota ``name`` (``"<plugin>.<quota>"``), or answer 429."""
    await request.config_dict[keys.LIMITS].spend(request, name, cost)


async def quota_use(request: web.Request, name: str) -> QuotaUse:
    """The signed-in user's use of quota ``name`` (``"<plugin>.<quota>"``): limit, used, remaining, reset."""
    from medianest_core.auth.principal import require

    who = require(request)
    for use in await request.config_dict[keys.LIMITS].usage(request, who.user_id, who.role):
        if use.name == name:
            return use
    raise KeyError(f"no quota named {name!r}")
