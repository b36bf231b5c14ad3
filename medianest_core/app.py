"""The web application: core routes, one sub-application per plugin, and the lifecycle of the services."""

from __future__ import annotations

import asyncio
import hmac
import re
import signal
from collections.abc import AsyncIterator
from typing import Final

import attrs
import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from medianest_core import content, keys, notifications, openapi, search, service_settings, title_views, ws
from medianest_core.auth import admin_views, setup
from medianest_core.auth import views as auth_views
from medianest_core.auth.cache import AuthCache, CachedSessionStore
from medianest_core.auth.middleware import Gatekeeper
from medianest_core.auth.net import https_rule
from medianest_core.auth.principal import is_admin
from medianest_core.auth.sessions import Sessions, make_store, write_session_cookie
from medianest_core.errors import ApiError, ErrorCode
from medianest_core.health import HealthMonitor
from medianest_core.http import HttpMetrics, answer_headers, request_middleware
from medianest_core.jobs import Scheduler, shutdown_jobs, start_embedded_worker
from medianest_core.plugins import PluginRecord, PluginStatus, describe_exception
from medianest_core.ratelimit import Limits
from medianest_core.runtime import Runtime, prepare_database
from medianest_core.serving import Runner
from medianest_core.types import Access, Handler, Page, Route
from medianest_core.web import admin_pages, pages, shell
from medianest_core.web.assets import ASSETS, CORE, Assets
from medianest_core.web.kept import KEPT, PageData

log = structlog.get_logger("medianest.app")

# First path segments the core keeps for itself; a plugin of such a name cannot mount its pages.
RESERVED_NAMES: Final = frozenset(
    {"api", "static", "health", "metrics", "ws", "login", "logout", "setup", "admin", "profile", "search"}
    | {"notifications", "dashboard", "guide", "faq", "auth", "manifest.webmanifest", "titles", "discover"}
)


async def health_view(request: web.Request) -> web.Response:
    """Liveness: 200 while the process serves requests."""
    return web.json_response({"status": "ok"})


async def api_health_view(request: web.Request) -> web.Response:
    """Readiness, component by component; 503 when the database or the broker is down."""
    admin = is_admin(request)
    status, doc = await request.app[keys.HEALTH].report(admin=admin)
    return web.json_response(doc, status=status)


async def metrics_view(request: web.Request) -> web.Response:
    """Prometheus metrics; with ``metrics_token`` set, only for that bearer token (or an admin)."""
    runtime = request.app[keys.RUNTIME]
    settings = runtime.settings
    if not settings.metrics_enabled:
        raise ApiError(404, ErrorCode.NOT_FOUND, "Metrics are turned off (metrics_enabled = false).")
    token = settings.metrics_token
    if token is not None and not is_admin(request):
        offered = request.headers.get("Authorization", "")
        expected = f"Bearer {token.get_secret_value()}"
        if not hmac.compare_digest(offered.encode(), expected.encode()):
            raise ApiError(
                401,
                ErrorCode.UNAUTHORIZED,
                "The metrics need the bearer token set in metrics_token.",
                headers={"WWW-Authenticate": 'Bearer realm="medianest-metrics"'},
            )
    body = generate_latest(runtime.metrics)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


HEALTH_ROUTES: Final = (
    Route("GET", "/health", health_view, name="health", access=Access.PUBLIC),
    Route("GET", "/api/v1/health", api_health_view, name="api-health", access=Access.PUBLIC, errors=(503,)),
    Route(
        "GET",
        "/metrics",
        metrics_view,
        name="metrics",
        access=Access.PUBLIC,
        errors=(401, 404),
        media="text/plain",
    ),
)


def plugin_gate(record: PluginRecord) -> Middleware:
    """Middleware of a plugin's sub-applications: while the plugin restarts, or once it has failed, its routes
    answer 503."""

    @web.middleware
    async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if record.restarting:
            raise ApiError(
                503,
                ErrorCode.PLUGIN_UNAVAILABLE,
                f"The {record.name} plugin is restarting with new settings; try again in a moment.",
                details={"plugin": record.name, "status": "restarting"},
                headers={"Retry-After": "1"},
            )
        if not record.active:
            raise ApiError(
                503,
                ErrorCode.PLUGIN_UNAVAILABLE,
                f"The {record.name} plugin is unavailable ({record.status.label}).",
                details={"plugin": record.name, "status": record.status.value},
            )
        record.answering += 1  # a restart waits for the answers under way before it shuts the plugin down
        try:
            return await handler(request)
        finally:
            record.answering -= 1

    return gate


SHORT_PATH: Final = re.compile(r"^/[a-z0-9][a-z0-9_-]{0,39}/$")


def _short_path_refusal(short: str, path: str, taken: dict[str, str], plugins: set[str]) -> str | None:
    """Why a page may not have ``short`` as its short path, or ``None`` when it may."""
    if SHORT_PATH.match(short) is None:
        return "a short path is one segment of a-z, 0-9, - and _ between slashes"
    if "{" in path:
        return "a page with parameters has no short path"
    segment = short.strip("/")
    if segment in RESERVED_NAMES:
        return "the core keeps that name"
    if segment in plugins:
        return "a plugin has that name"
    if short in taken:
        return f"the {taken[short]} plugin has it"
    return None


def _short_path_view(target: str) -> Handler:
    async def view(request: web.Request) -> web.StreamResponse:
        query = request.rel_url.query_string
        raise web.HTTPFound(f"{target}?{query}" if query else target)

    return view


def _mount_plugin(app: web.Application, runtime: Runtime, record: PluginRecord, taken: dict[str, str]) -> None:
    ctx = runtime.context(record)
    routes = list(runtime.plugins.call(record, "api_routes", ctx=ctx) or ())
    pages = list(runtime.plugins.call(record, "pages", ctx=ctx) or ())
    access = app[keys.ROUTE_ACCESS]
    for prefix, items in ((f"/api/v1/{record.name}/", routes), (f"/{record.name}/", pages)):
        if not items:
            continue
        if prefix == f"/{record.name}/" and record.name in RESERVED_NAMES:
            raise ValueError(f"the name {record.name!r} is kept by the core; its pages cannot be mounted")
        sub = web.Application(middlewares=[plugin_gate(record)])
        sub[keys.PLUGIN_NAME] = record.name
        for item in items:
            if isinstance(item, Route):
                method, level = item.method.upper(), item.access
            elif isinstance(item, Page):
                method, level = "GET", item.access
            else:
                raise TypeError(f"expected Route or Page, got {type(item).__name__}")
            path = "/" + item.path.lstrip("/")
            if method == "GET":
                route = sub.router.add_get(path, item.handler, name=item.name)  # HEAD answers too
                for extra in route.resource or ():
                    access[extra] = level
            else:
                route = sub.router.add_route(method, path, item.handler, name=item.name)
            access[route] = level
            if isinstance(item, Page):
                app[ASSETS].add_page(route, record.name, item)
            if isinstance(item, Route):
                app[keys.ROUTE_SPECS][route] = attrs.evolve(item, path=prefix.rstrip("/") + path)
            elif item.short_path is not None:
                _add_short_path(app, runtime, record, item, prefix.rstrip("/") + path, taken)
        app.add_subapp(prefix.rstrip("/"), sub)


def _add_short_path(
    app: web.Application, runtime: Runtime, record: PluginRecord, page: Page, target: str, taken: dict[str, str]
) -> None:
    assert page.short_path is not None
    plugins = {other.name for other in runtime.plugins.records.values()}
    refusal = _short_path_refusal(page.short_path, page.path, taken, plugins)
    if refusal is not None:
        log.warning("short_path_refused", plugin=record.name, short_path=page.short_path, reason=refusal)
        return
    taken[page.short_path] = record.name
    route = app.router.add_get(page.short_path, _short_path_view(target))
    for each in route.resource or ():
        app[keys.ROUTE_ACCESS][each] = page.access


def create_app(runtime: Runtime) -> web.Application:
    """The aiohttp application of a runtime whose database is ready (see :func:`prepare_database`)."""
    metrics = HttpMetrics(runtime.metrics)
    app = web.Application(client_max_size=8 * 1024 * 1024)
    # The one middleware: ids, deadline, errors, metrics around the gatekeeper, which decides who may go on.
    app.middlewares.append(request_middleware(Gatekeeper(app), metrics, runtime.settings.upstream_timeout))
    app[keys.RUNTIME] = runtime
    app[keys.HTTP_METRICS] = metrics
    app[keys.ROUTE_ACCESS] = {}
    app[keys.ROUTE_SPECS] = {}
    app[keys.OPENAPI] = {}
    core_routes = (
        *HEALTH_ROUTES,
        *openapi.ROUTES,
        *auth_views.ROUTES,
        *admin_views.ROUTES,
        *setup.ROUTES,
        *notifications.ROUTES,
        *ws.ROUTES,
        *content.ROUTES,
        *search.ROUTES,
        *title_views.API_ROUTES,
        *title_views.PAGE_ROUTES,
        *service_settings.ROUTES,
        *pages.ROUTES,
        *admin_pages.ROUTES,
    )
    for spec in core_routes:
        if spec.method == "GET":
            route = app.router.add_get(spec.path, spec.handler, name=spec.name)  # HEAD answers too
            for extra in route.resource or ():
                app[keys.ROUTE_ACCESS][extra] = spec.access
        else:
            route = app.router.add_route(spec.method, spec.path, spec.handler, name=spec.name)
        app[keys.ROUTE_ACCESS][route] = spec.access
        app[keys.ROUTE_SPECS][route] = spec
    app[ASSETS] = static_files = Assets()
    static_files.add_folder(CORE, shell.STATIC)
    static = app.router.add_get("/static/{owner}/{path:.+}", static_files.handle, name="static")
    for route in static.resource or ():
        app[keys.ROUTE_ACCESS][route] = Access.PUBLIC

    runtime.declare_actors()
    contributions = runtime.collect()
    short_paths: dict[str, str] = {}
    for record in list(runtime.plugins.active):
        try:
            _mount_plugin(app, runtime, record, short_paths)
        except Exception as exc:
            runtime.plugins.fail(record, PluginStatus.STARTUP_FAILED, describe_exception(exc))
    for name, assets in contributions.assets:
        if assets.static is not None and assets.static.is_dir():
            static_files.add_folder(name, assets.static)
            static_files.add_everywhere(name, assets.styles, assets.scripts)
    static_files.add_cards(contributions.cards)
    for plugin, provider in contributions.login_providers:
        if provider.start is not None and runtime.plugins.get(plugin) is not None:
            route = app.router.add_get(f"/auth/{plugin}/{provider.key}", provider.start)
            for public in route.resource or ():
                app[keys.ROUTE_ACCESS][public] = Access.PUBLIC
    app[keys.CONTRIBUTIONS] = contributions
    shell.setup_templates(app, contributions.assets)
    app[keys.LIMITS] = Limits(runtime.settings, contributions.quotas)
    cache = app[keys.AUTH_CACHE] = AuthCache(runtime.sessions, runtime.events)
    app[KEPT] = PageData()
    store = app[keys.SESSION_STORE] = CachedSessionStore(
        make_store(runtime.settings, runtime.sessions), cache, runtime.settings
    )
    app[keys.SESSIONS] = Sessions(store, runtime.settings)
    app[keys.WS_HUB] = ws.Hub(
        {name: command for name, command in contributions.ws_commands.items()}, runtime.settings.ws_queue_size
    )
    app.on_shutdown.append(ws.close_sockets)
    # Every answer's headers, then the session cookie as the request left it (error answers too).
    app.on_response_prepare.append(answer_headers(https_rule(runtime.settings), write_session_cookie))
    app[keys.HEALTH] = HealthMonitor(runtime, contributions.health_checks)
    app[keys.SCHEDULER] = Scheduler(None)
    app[setup.SETUP_TOKEN] = []
    app.cleanup_ctx.extend([_storage_ctx, setup.setup_ctx, _jobs_ctx, _plugins_ctx, ws.hub_ctx, _background_ctx])
    return app


async def _storage_ctx(app: web.Application) -> AsyncIterator[None]:
    stops = [app[keys.AUTH_CACHE].start(), app[KEPT].listen(app[keys.RUNTIME].events)]
    yield
    for stop in stops:
        stop()
    await app[keys.LIMITS].close()
    await app[keys.SESSION_STORE].close()
    await app[keys.RUNTIME].close()


async def _jobs_ctx(app: web.Application) -> AsyncIterator[None]:
    runtime = app[keys.RUNTIME]
    runner = runtime.jobs.runner
    assert runner is not None
    await runner.start()
    # The in-process queue died with the last process: every unfinished job is queued again.
    await runner.recover(everything=not runtime.jobs.external)
    await asyncio.to_thread(start_embedded_worker, runtime.jobs)
    yield
    await asyncio.to_thread(shutdown_jobs, runtime.jobs, runtime.settings.shutdown_timeout)
    await runner.stop()


async def _plugins_ctx(app: web.Application) -> AsyncIterator[None]:
    runtime = app[keys.RUNTIME]
    await runtime.start_plugins()
    for record in runtime.plugins.records.values():
        if record.status not in (PluginStatus.LOADED, PluginStatus.DISABLED):
            await notifications.alert_admins(
                runtime,
                f"The {record.name} plugin is not running",
                f"{record.status.label}: {record.reason}",
                notifications.Level.ERROR,
            )
    contributions = app[keys.CONTRIBUTIONS]
    for name in runtime.started:
        runtime.subscribe(name, (sub for plugin, sub in contributions.event_subscriptions if plugin == name))
    from medianest_core.live_settings import listen

    # Settings saved in the admin pages, here or in another process, restart the plugin here.
    stop_listening = listen(app)
    yield
    stop_listening()
    await runtime.stop_plugins()


async def _background_ctx(app: web.Application) -> AsyncIterator[None]:
    runtime = app[keys.RUNTIME]
    redis = None
    bridge = None
    if runtime.settings.redis_url is not None:
        from redis.asyncio import Redis

        from medianest_core.events import RedisBridge

        redis = Redis.from_url(str(runtime.settings.redis_url))
        bridge = RedisBridge(runtime.events, str(runtime.settings.redis_url))
        await bridge.start()
    scheduler = app[keys.SCHEDULER]
    scheduler.redis = redis
    started = set(runtime.started)
    for name, task in app[keys.CONTRIBUTIONS].periodic_tasks:
        if name in started:
            scheduler.start(name, [task])
    from medianest_core.backup import backup_task

    backup = backup_task(runtime)
    if backup is not None:
        scheduler.start("core", [backup])
    health = app[keys.HEALTH]
    health.start()
    yield
    await health.stop()
    await scheduler.stop()
    if bridge is not None:
        await bridge.stop()
    if redis is not None:
        await redis.aclose()


class ServeError(Exception):
    """``serve`` cannot start; the message is one line."""


async def serve(runtime: Runtime, host: str, port: int, stop: asyncio.Event | None = None) -> None:
    """Run MediaNest until ``stop`` is set or the process gets SIGTERM or SIGINT."""
    from medianest_core import db

    try:
        state = await prepare_database(runtime, apart=True)
    except db.DatabaseError as exc:
        raise ServeError(str(exc)) from None
    app = create_app(runtime)
    runner = Runner(app, handle_signals=False, access_log=None, shutdown_timeout=runtime.settings.shutdown_timeout)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bound = ", ".join(f"http://{addr[0]}:{addr[1]}" for addr in runner.addresses)
    log.info(
        "serving",
        url=bound or f"http://{host}:{port}",
        database="sqlite" if runtime.settings.effective_database_url.is_sqlite else "postgresql",
        revision=state.describe(),
        broker=runtime.jobs.kind,
        plugins={r.name: r.status.value for r in runtime.plugins.records.values()},
    )
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        log.info("stopping")
        await runner.cleanup()
        log.info("stopped")
