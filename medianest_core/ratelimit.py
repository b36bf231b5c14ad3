"""Rate limits and quotas, counted with the ``limits`` library over moving windows: in memory by default, in
Redis when ``redis_url`` is set, so that every process counts together.

- the API: ``api_rate_limit`` per signed-in user, per client address for anonymous requests;
- signing in: ``login_rate_limit`` per client address and per username;
- quotas that plugins declare (``quotas`` hook), per user, with defaults per role and the admin's overrides.

Past a limit: 429 in the JSON error shape with ``Retry-After``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs
from aiohttp import web
from limits import RateLimitItem, RateLimitItemPerSecond, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from sqlalchemy import select

from medianest_core import keys
from medianest_core.errors import ApiError, ErrorCode
from medianest_core.models import QuotaOverride, Role
from medianest_core.settings import Settings
from medianest_core.types import Quota

QUOTA_CEILING = 1_000_000


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


def _storage(settings: Settings) -> Storage:
    if settings.redis_url is None:
        return MemoryStorage()
    return RedisStorage(f"async+{settings.redis_url}", implementation="redispy", key_prefix="medianest-limits")


def _retry_after(reset_time: float) -> int:
    return max(1, math.ceil(reset_time - time.time()))


class Limits:
    def __init__(self, settings: Settings, quotas: Mapping[str, Quota]) -> None:
        self.limiter = MovingWindowRateLimiter(_storage(settings))
        self.api = parse(settings.api_rate_limit)
        self.login = parse(settings.login_rate_limit)
        self.quotas = dict(quotas)

    async def hit(self, item: RateLimitItem, *key: str, what: str) -> None:
        """Count one request; past the limit, a 429 naming ``what``."""
        if await self.limiter.hit(item, *key):
            return
        stats = await self.limiter.get_window_stats(item, *key)
        wait = _retry_after(stats.reset_time)
        raise ApiError(
            429,
            ErrorCode.RATE_LIMITED,
            f"Too many {what}: try again in {wait} s.",
            details={"limit": str(item), "retry_after": wait},
            headers={"Retry-After": str(wait)},
        )

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
