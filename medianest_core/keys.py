"""Every :class:`aiohttp.web.AppKey` and :class:`aiohttp.web.RequestKey` of MediaNest, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute

if TYPE_CHECKING:
    from medianest_core.auth.cache import AuthCache
    from medianest_core.auth.principal import Principal
    from medianest_core.auth.sessions import CookieChange, Sessions, SessionStore
    from medianest_core.health import HealthMonitor
    from medianest_core.http import HttpMetrics
    from medianest_core.jobs import Scheduler
    from medianest_core.ratelimit import Limits
    from medianest_core.runtime import Contributions, Runtime
    from medianest_core.types import Access, Route
    from medianest_core.ws import Hub

RUNTIME: web.AppKey[Runtime] = web.AppKey("medianest.runtime")
CONTRIBUTIONS: web.AppKey[Contributions] = web.AppKey("medianest.contributions")
HEALTH: web.AppKey[HealthMonitor] = web.AppKey("medianest.health")
SCHEDULER: web.AppKey[Scheduler] = web.AppKey("medianest.scheduler")
LIMITS: web.AppKey[Limits] = web.AppKey("medianest.limits")
SESSION_STORE: web.AppKey[SessionStore] = web.AppKey("medianest.session_store")
# The sessions behind cookies, signing in and out (over SESSION_STORE).
SESSIONS: web.AppKey[Sessions] = web.AppKey("medianest.sessions")
# The users, API tokens and sessions requests used, kept in memory (medianest_core.auth.cache).
AUTH_CACHE: web.AppKey[AuthCache] = web.AppKey("medianest.auth_cache")
WS_HUB: web.AppKey[Hub] = web.AppKey("medianest.ws_hub")
HTTP_METRICS: web.AppKey[HttpMetrics] = web.AppKey("medianest.http_metrics")
# Who may call each route: core and plugin routes alike. The authentication middleware reads it.
ROUTE_ACCESS: web.AppKey[dict[AbstractRoute, Access]] = web.AppKey("medianest.route_access")
# What each JSON route declared (body, query, path parameters, answers): read_body checks against it, and the
# OpenAPI document is made from it.
ROUTE_SPECS: web.AppKey[dict[AbstractRoute, Route]] = web.AppKey("medianest.route_specs")
# The OpenAPI document, made at its first request.
OPENAPI: web.AppKey[dict[str, Any]] = web.AppKey("medianest.openapi")
PLUGIN_NAME: web.AppKey[str] = web.AppKey("medianest.plugin_name", str)

REQUEST_ID: web.RequestKey[str] = web.RequestKey("medianest.request_id", str)
# When the request middleware took the request (time.perf_counter()), for Server-Timing.
REQUEST_STARTED: web.RequestKey[float] = web.RequestKey("medianest.request_started", float)
# The signed-in user, set by the authentication middleware; absent for anonymous requests.
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("medianest.principal")
# What the answer does to the session cookie (set when signing in, cleared when signing out or when it names no
# live session); absent when it stays as it is.
SESSION_COOKIE: web.RequestKey[CookieChange] = web.RequestKey("medianest.session_cookie")
