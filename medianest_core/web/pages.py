"""The core's pages: signing in, first-run setup, the dashboard, search, notifications, the profile, the guide.

Pages render what is stored; changes go through the JSON API (the page's forms post to it with the session's
CSRF token), so the browser and scripts share one set of rules and errors.
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import unquote

import aiohttp_jinja2
import attrs
import structlog
from aiohttp import web
from markupsafe import Markup
from sqlalchemy import select

from medianest_core import content, keys
from medianest_core.auth import views as auth_views
from medianest_core.auth.passwords import MIN_LENGTH as PASSWORD_MIN_LENGTH
from medianest_core.auth.principal import require
from medianest_core.auth.setup import SetupBody, admin_exists, count_attempt, create_first_admin
from medianest_core.errors import ApiError, ErrorCode
from medianest_core.health import HealthMonitor, ServiceLine, worst
from medianest_core.models import ApiToken, User
from medianest_core.notifications import notifications_of
from medianest_core.plugins import PluginRecord, PluginStatus, default_title
from medianest_core.schema import CONVERTER, MAX_PAGE, bad_text, field, read_form, structure_query
from medianest_core.types import Access, Card, CardData, CardState, HealthState, Route, Viewer
from medianest_core.web.assets import ASSETS
from medianest_core.web.kept import KEPT
from medianest_core.web.shell import CARD_TEMPLATE, ago, drawn_once, render, render_fragment, render_kept

log = structlog.get_logger("medianest.web")

CARD_TIMEOUT: Final = 2.0
NOTIFICATIONS_PER_PAGE: Final = 20


_CONTROL_OR_BACKSLASH: Final = re.compile(r"[\x00-\x1f\x7f\\]")


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path of this site only, never another site; anything else is ``/``.

    It is judged as a browser reads a ``Location``: browsers drop tabs and line breaks, read a backslash as a
    slash and a leading ``//`` as another host. So a control character or a backslash anywhere is refused, and
    the path must start with one slash, also once percent-decoded (``/%2F/host``), at every level of encoding."""
    if not value or len(value) > 2000:
        return "/"
    text = value
    for _ in range(4):
        if _CONTROL_OR_BACKSLASH.search(text) or not text.startswith("/") or text.startswith("//"):
            return "/"
        decoded = unquote(text)
        if decoded == text:
            return value
        text = decoded
    return "/"


# ---- Signing in ---------------------------------------------------------------------------------------------


async def login_page(request: web.Request) -> web.StreamResponse:
    if request.get(keys.PRINCIPAL) is not None:
        raise web.HTTPFound(safe_next(request.query.get("next")))
    return await _login_form(request)


async def _login_form(request: web.Request, *, username: str = "", error: ApiError | None = None) -> web.StreamResponse:
    found = [("core", auth_views.PASSWORD_PROVIDER), *request.config_dict[keys.CONTRIBUTIONS].login_providers]
    found.sort(key=lambda item: (item[1].order, item[1].title))
    runtime = request.config_dict[keys.RUNTIME]
    buttons = [
        {"title": provider.title, "href": f"/auth/{plugin}/{provider.key}"}
        for plugin, provider in found
        if provider.start is not None and (record := runtime.plugins.get(plugin)) is not None and record.active
    ]
    password = any(provider.start is None for _, provider in found)
    return await render(
        request,
        "login.html",
        {
            "buttons": buttons,
            "password": password,
            "signed_out": "signed_out" in request.query,
            "needs_setup": not await admin_exists(request),
            "username": username,
            "next": safe_next(request.query.get("next")),
            "error": error.message if error is not None else None,
        },
        status=error.status if error is not None else 200,
        headers=error.headers if error is not None else None,
    )


async def login_form_post(request: web.Request) -> web.StreamResponse:
    """The sign-in form without script: the same checks as the API, then on to where the person was going, or
    the form again with the error and the username they typed."""
    form = await read_form(request)
    username = str(form.get("username", ""))
    typed = {"username": username, "password": str(form.get("password", "")), "remember": form.get("remember") == "on"}
    try:
        body = CONVERTER.structure(typed, auth_views.LoginBody)
    except Exception:
        refused = ApiError(422, ErrorCode.VALIDATION_FAILED, "Enter your username and your password.")
        shown = username if bad_text(username, "") is None else ""
        return await _login_form(request, username=shown, error=refused)
    try:
        await auth_views.sign_in_with_password(request, body)
    except ApiError as exc:
        return await _login_form(request, username=username, error=exc)
    raise web.HTTPFound(safe_next(request.query.get("next")))


async def logout_page(request: web.Request) -> web.StreamResponse:
    """The sign-out button's form: end the session, then show the sign-in page."""
    await auth_views.logout(request)
    raise web.HTTPFound("/login?signed_out=1")


async def setup_page(request: web.Request) -> web.StreamResponse:
    if await admin_exists(request):
        raise web.HTTPFound("/login")
    return await _setup_form(request)


async def _setup_form(request: web.Request, *, username: str = "", error: ApiError | None = None) -> web.StreamResponse:
    return await render(
        request,
        "setup.html",
        {"username": username, "error": error.message if error is not None else None},
        status=error.status if error is not None else 200,
        headers=error.headers if error is not None else None,
    )


async def setup_form_post(request: web.Request) -> web.StreamResponse:
    """The setup form without script: the same checks as the API, then the dashboard, signed in as the new admin;
    or the form again with the error and the username typed."""
    if await admin_exists(request):
        raise web.HTTPFound("/login")
    await count_attempt(request)
    form = await read_form(request)
    username = str(form.get("username", ""))
    typed = {key: str(form.get(key, "")) for key in ("token", "username", "password")}
    shown = username if bad_text(username, "") is None else ""
    try:
        body = CONVERTER.structure(typed, SetupBody)
    except Exception:
        refused = ApiError(
            422,
            ErrorCode.VALIDATION_FAILED,
            f"Enter the setup token, a username (letters, digits, . _ -) and a password of at least "
            f"{PASSWORD_MIN_LENGTH} characters.",
        )
        return await _setup_form(request, username=shown, error=refused)
    try:
        await create_first_admin(request, body)
    except ApiError as exc:
        return await _setup_form(request, username=shown, error=exc)
    raise web.HTTPFound("/")


# ---- Dashboard ----------------------------------------------------------------------------------------------


@attrs.frozen
class ServiceDown:
    """A service a card depends on that its health check finds down: its name and when it was last checked."""

    name: str
    checked_at: datetime | None


@attrs.frozen
class CardView:
    plugin: str
    key: str
    title: str
    data: CardData
    template: str | None
    down: ServiceDown | None = None
    services: tuple[ServiceLine, ...] = ()
    """The services card's lines (for the core's services card only)."""

    @property
    def dom_id(self) -> str:
        return f"card-{self.plugin}-{self.key}"

    @property
    def src(self) -> str:
        return f"/dashboard/cards/{self.plugin}/{self.key}"


def _visible_cards(request: web.Request) -> list[tuple[str, Card]]:
    who = require(request)
    cards = [
        (plugin, card)
        for plugin, card in request.config_dict[keys.CONTRIBUTIONS].cards
        if card.access is not Access.ADMIN or who.is_admin
    ]
    return sorted(cards, key=lambda item: (item[1].order, item[1].title))


def service_down(request: web.Request, plugin: str) -> ServiceDown | None:
    """Whether one of ``plugin``'s health checks found its service down, as the background polling stored it. A
    service that is not set up is never down: its checks do not run."""
    return _service_down(request.config_dict[keys.HEALTH], plugin)


def _service_down(monitor: HealthMonitor, plugin: str) -> ServiceDown | None:
    if not monitor.set_up(plugin):
        return None
    down = [state for state in monitor.states if state.plugin == plugin and state.result.state is HealthState.DOWN]
    if not down:
        return None
    checked = [state.checked_at for state in down if state.checked_at is not None]
    return ServiceDown(monitor.title(plugin), max(checked) if checked else None)


async def _loaded(request: web.Request, plugin: str, card: Card, fresh: bool) -> CardData:
    load: Callable[[], Awaitable[CardData]]
    key = _card_key(request, plugin, card)
    if card.load_for is not None:
        viewer = key[2]
        assert viewer is not None
        load_for = card.load_for

        async def load() -> CardData:
            return await load_for(viewer)
    elif card.load is not None:
        load = card.load
    else:
        raise TypeError(f"the card {card.key!r} has no loader")
    if fresh:
        return await load()
    return await request.config_dict[KEPT].cards.get(key, load)


def _card_key(request: web.Request, plugin: str, card: Card) -> tuple[str, str, Viewer | None]:
    """How a card's data is kept (``web.kept``): by plugin, key and, for a card with ``load_for``, viewer."""
    if card.load_for is None:
        return (plugin, card.key, None)
    who = require(request)
    return (plugin, card.key, Viewer(who.user_id, who.is_admin))


def kept_cards(request: web.Request, cards: Sequence[tuple[str, Card]]) -> list[CardView | None]:
    """Each card as :func:`load_card` gives it, when that needs no loading: its data is kept, or its plugin is not
    running; else ``None``."""
    config = request.config_dict
    plugins = config[keys.RUNTIME].plugins
    kept = config[KEPT].cards
    monitor = config[keys.HEALTH]
    found: list[CardView | None] = []
    for plugin, card in cards:
        record = plugins.get(plugin)
        if record is None or not record.active:
            found.append(_not_running(plugin, card, record))
            continue
        loads = card.load is not None or card.load_for is not None
        data = kept.peek(_card_key(request, plugin, card)) if loads else None
        found.append(_with_outage(monitor, plugin, card, data) if isinstance(data, CardData) else None)
    return found


def _not_running(plugin: str, card: Card, record: PluginRecord | None) -> CardView:
    label = record.status.label if record is not None else PluginStatus.DISABLED.label
    title = record.title if record is not None else default_title(plugin)
    data = CardData(CardState.UNAVAILABLE, message=f"The {title} plugin is not running ({label}).")
    return CardView(plugin, card.key, card.title, data, card.template)


def _with_outage(monitor: HealthMonitor, plugin: str, card: Card, data: CardData) -> CardView:
    down = _service_down(monitor, plugin) if data.state is not CardState.UNAVAILABLE else None
    if down is not None:
        data = attrs.evolve(data, state=CardState.UNAVAILABLE)
    return CardView(plugin, card.key, card.title, data, card.template, down)


async def load_card(request: web.Request, plugin: str, card: Card, *, fresh: bool = False) -> CardView:
    """A card's data from its plugin (the viewer's own, for a card with ``load_for``), or the reason it has none:
    a plugin that is not running, a loader that fails or is slow. A card never breaks the dashboard. Its data is
    kept a few seconds, and until the plugin says it changed (``web.kept``); ``fresh`` loads it anyway.

    While one of the plugin's health checks finds its service down, the card is greyed out (``unavailable``)
    and says so with the check's age, above its own figures, which may be out of date. A card that already
    says it is unavailable keeps its own words."""
    record = request.config_dict[keys.RUNTIME].plugins.get(plugin)
    if record is None or not record.active:
        return _not_running(plugin, card, record)
    try:
        async with asyncio.timeout(CARD_TIMEOUT):
            data = await _loaded(request, plugin, card, fresh)
        if not isinstance(data, CardData):
            raise TypeError(f"its loader returned {type(data).__name__}, not CardData")
    except TimeoutError:
        data = CardData(CardState.UNKNOWN, message="Its data is taking too long to load.")
    except Exception:
        log.exception("card_failed", plugin=plugin, card=card.key)
        data = CardData(CardState.UNKNOWN, message="Its data could not be loaded.")
    return _with_outage(request.config_dict[keys.HEALTH], plugin, card, data)


_CARD_STATE: Final = {
    HealthState.UP: CardState.OK,
    HealthState.DEGRADED: CardState.DEGRADED,
    HealthState.UNKNOWN: CardState.DEGRADED,
    HealthState.DOWN: CardState.UNAVAILABLE,
}


def _as_now(line: ServiceLine) -> ServiceLine:
    """The line with copies of its checks' states as they are now: polling changes a check's state in place, and
    the card drawn from the lines is kept until they are not the same (``_drawn_cards``)."""
    if not line.checks and not line.details:
        return line
    now = {id(check): copy.copy(check) for check in line.checks}
    return ServiceLine(
        line.plugin,
        line.title,
        line.state,
        tuple(now[id(check)] for check in line.checks),
        line.settings_page,
        tuple(now.get(id(check)) or copy.copy(check) for check in line.details),
    )


async def _services_card(request: web.Request) -> CardView:
    """The core's own card "Connections": MediaNest's connections to the services of its plugins (Plex,
    Overseerr, …), one line per service, by the name people know it, with the worst state its checks last found,
    as the background polling stored it. Services that are not set up are listed for admins only
    ("Not set up", with a link to their settings) and count neither as up nor as down."""
    who = require(request)
    lines = [_as_now(line) for line in request.config_dict[keys.HEALTH].services(admin=who.is_admin)]
    watched = [line for line in lines if line.state is not HealthState.NOT_SET_UP]
    state = _CARD_STATE[worst(line.state for line in watched)] if watched else CardState.UNKNOWN
    checked = [check.checked_at for line in watched for check in line.checks if check.checked_at is not None]
    data = CardData(
        state,
        figures={"Up": sum(line.state is HealthState.UP for line in watched), "Connections": len(watched)},
        message=None if watched else "No service is set up yet.",
        updated_at=min(checked) if checked else None,
    )
    return CardView("core", "services", "Connections", data, "cards/services.html", services=tuple(lines))


_FIXED_VALUES: Final = (str, int, float, bool, datetime, type(None))


def _as_shown(data: CardData) -> tuple[Any, ...] | None:
    """What a plugin's card shows of its data, by value (with each figure's type: 1 and 1.0 read differently),
    or ``None`` when a figure is of a kind that could change in place. The data's own object is not enough: a
    plugin may hand back the same object with its figures changed in place."""
    if not all(isinstance(value, _FIXED_VALUES) for value in data.figures.values()):
        return None
    figures = tuple(
        (name, type(value), value.isoformat() if isinstance(value, datetime) else value)
        for name, value in data.figures.items()
    )
    return (data.state, data.message, data.updated_at, figures)


def _drawn_cards(request: web.Request, cards: list[CardView], now: datetime) -> list[Markup]:
    """Each card's HTML, as ``card_fragment`` draws it (``_card.html`` with the card, ``now`` and the health
    monitor). A plugin's card whose templates read nothing but the card and the ages it shows (``shell.drawn_once``)
    is drawn again only when what it shows changed: its data, compared by value (``_as_shown``; a card with a
    figure of a kind that could change in place is drawn each time), its outage, or its ages. The core's own card
    is made afresh each time, of values (``_as_now``): it is compared by value too."""
    env = request.config_dict[aiohttp_jinja2.APP_KEY]
    config = request.config_dict
    drawn = config[KEPT].drawn
    monitor = config[keys.HEALTH]
    template = env.get_template(CARD_TEMPLATE)
    wrapper_fixed = drawn_once(env, CARD_TEMPLATE, wrapper=True)
    who = require(request)
    found: list[Markup] = []
    for view in cards:
        if not (wrapper_fixed and (view.template is None or drawn_once(env, view.template))):
            found.append(Markup(template.render(card=view, now=now, monitor=monitor)))  # noqa: S704 - autoescaped
            continue
        data = view.data
        ages = (
            ago(data.updated_at, now) if data.updated_at is not None else None,
            ago(view.down.checked_at, now) if view.down is not None and view.down.checked_at is not None else None,
        )
        # A plugin's data by value, each figure with its type (1 and 1.0 read differently); the core's card by value.
        same = (0, view) if view.plugin == "core" else _as_shown(data)
        if same is None:  # a figure of a kind that may change in place: drawn each time
            found.append(Markup(template.render(card=view, now=now, monitor=monitor)))  # noqa: S704 - autoescaped
            continue
        shown = (same, view.title, view.template, view.down, ages)
        key = (view.plugin, view.key, who.user_id)
        html = drawn.get(key, shown)
        if html is None:
            html = Markup(template.render(card=view, now=now, monitor=monitor))  # noqa: S704 - autoescaped
            drawn.keep(key, shown, html)
        found.append(html)
    return found


async def dashboard(request: web.Request) -> web.StreamResponse:
    who = require(request)
    visible = _visible_cards(request)
    # Cards whose data is kept are drawn from it at once; the others load side by side.
    views = kept_cards(request, visible)
    missing = [index for index, view in enumerate(views) if view is None]
    if missing:
        loaded = await asyncio.gather(*(load_card(request, *visible[index]) for index in missing))
        for index, view in zip(missing, loaded, strict=True):
            views[index] = view
    services = await _services_card(request)
    links = await content.visible_links(request, who)
    now = datetime.now(UTC)
    cards = [services, *(view for view in views if view is not None)]
    drawn = _drawn_cards(request, cards, now)
    # What dashboard.html reads: the cards' HTML, the quick links, and the cards' plugins and keys (their files).
    shown = (tuple(drawn), links, tuple((card.plugin, card.key) for card in cards))
    return await render_kept(
        request,
        "dashboard.html",
        {
            "cards": cards,
            "drawn": drawn,
            "monitor": request.config_dict[keys.HEALTH],
            "links": links,
            "now": now,
        },
        shown=shown,
        reads={"cards", "drawn", "links"},
    )


async def card_fragment(request: web.Request) -> web.StreamResponse:
    plugin, key = request.match_info["plugin"], request.match_info["key"]
    if (plugin, key) == ("core", "services"):
        view = await _services_card(request)
    else:
        found = next(((p, c) for p, c in _visible_cards(request) if (p, c.key) == (plugin, key)), None)
        if found is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, "No such card.")
        view = await load_card(request, *found, fresh=True)  # asked for because it changed
    now = datetime.now(UTC)  # after loading: a card stamped while it loaded is not "in the future"
    html = render_fragment(
        request, CARD_TEMPLATE, {"card": view, "now": now, "monitor": request.config_dict[keys.HEALTH]}
    )
    return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})


# ---- Search, notifications, profile, guide ----------------------------------------------------------------


async def search_page(request: web.Request) -> web.StreamResponse:
    from medianest_core.search import provider_id, providers
    from medianest_core.title_views import rows

    sources = [{"id": provider_id(p, sp), "title": sp.title} for p, sp in providers(request)]
    q = request.query.get("q", "").strip()[:200]
    return await render(request, "search.html", {"q": q, "sources": sources, "discover": bool(rows(request))})


def page_number(request: web.Request) -> int:
    """The ``page`` of a paged page, from 1 to :data:`~medianest_core.schema.MAX_PAGE`; anything else is a 400."""
    return structure_query(request.query, PageNumber).page


@attrs.frozen
class PageNumber:
    page: int = field(default=1, ge=1, le=MAX_PAGE)


async def notifications_page(request: web.Request) -> web.StreamResponse:
    who = require(request)
    page = page_number(request)
    runtime = request.config_dict[keys.RUNTIME]
    total, _, rows = await notifications_of(runtime, who.user_id, page, NOTIFICATIONS_PER_PAGE)
    return await render(
        request,
        "notifications.html",
        {
            "notifications": rows,
            "page": page,
            "pages": max(1, math.ceil(total / NOTIFICATIONS_PER_PAGE)),
            "total": total,
            "now": datetime.now(UTC),
        },
    )


def describe_agent(agent: str | None) -> str:
    """ "Firefox on Linux": a session's browser in words, from its user agent."""
    if not agent:
        return "Unknown device"
    text = agent.lower()
    browser = next(
        (
            name
            for needle, name in (
                ("edg/", "Edge"),
                ("firefox/", "Firefox"),
                ("chrome/", "Chrome"),
                ("chromium/", "Chromium"),
                ("safari/", "Safari"),
                ("curl/", "curl"),
                ("python", "a script"),
            )
            if needle in text
        ),
        "A browser",
    )
    system = next(
        (
            name
            for needle, name in (
                ("android", "Android"),
                ("iphone", "iPhone"),
                ("ipad", "iPad"),
                ("windows", "Windows"),
                ("mac os", "macOS"),
                ("cros", "ChromeOS"),
                ("linux", "Linux"),
            )
            if needle in text
        ),
        None,
    )
    return f"{browser} on {system}" if system else browser


async def profile_page(request: web.Request) -> web.StreamResponse:
    who = require(request)
    runtime = request.config_dict[keys.RUNTIME]
    records = await request.config_dict[keys.SESSION_STORE].list_for_user(who.user_id)
    sessions = sorted(
        (
            {**r.doc(who.session_id), "device": describe_agent(r.user_agent), "last_seen": r.last_seen_at}
            for r in records
        ),
        key=lambda s: (not s["current"], -s["last_seen"].timestamp()),
    )
    async with runtime.sessions() as db:
        user = await db.get(User, who.user_id)
        tokens = (
            await db.scalars(
                select(ApiToken)
                .where(ApiToken.user_id == who.user_id, ApiToken.revoked_at.is_(None))
                .order_by(ApiToken.created_at.desc())
            )
        ).all()
    quotas = await request.config_dict[keys.LIMITS].usage(request, who.user_id, who.role)
    return await render(
        request,
        "profile.html",
        {"user": user, "sessions": sessions, "tokens": tokens, "quotas": quotas, "now": datetime.now(UTC)},
    )


async def text_page(request: web.Request) -> web.StreamResponse:
    key = content.TextKey.GUIDE if request.path == "/guide" else content.TextKey.FAQ
    view = await content.read_text(request.config_dict[keys.RUNTIME], key)
    other = content.TextKey.FAQ if key is content.TextKey.GUIDE else content.TextKey.GUIDE
    return await render(
        request,
        "text.html",
        {
            "text": view,
            "html": content.render_markdown(view.markdown),
            "other": {"href": f"/{other.value}", "title": content.TITLES[other]},
        },
    )


# ---- Installing on a phone ------------------------------------------------------------------------------------


async def manifest(request: web.Request) -> web.StreamResponse:
    static = request.config_dict[ASSETS].url  # content-named: cached for good, like the pages' own files
    doc: dict[str, Any] = {
        "name": "MediaNest",
        "short_name": "MediaNest",
        "description": "Your friends' Plex server: what's on, what's up, and asking for more.",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#0f1216",
        "theme_color": "#14171c",
        "icons": [
            {"src": static("icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": static("icon-512.png"), "sizes": "512x512", "type": "image/png"},
            {"src": static("icon.svg"), "sizes": "any", "type": "image/svg+xml"},
        ],
    }
    return web.Response(
        text=json.dumps(doc),
        content_type="application/manifest+json",
        headers={"Cache-Control": "public, max-age=86400"},
    )


ROUTES = (
    Route("GET", "/login", login_page, name="page-login", access=Access.PUBLIC),
    Route("POST", "/login", login_form_post, name="page-login-post", access=Access.PUBLIC),
    Route("POST", "/logout", logout_page, name="page-logout"),
    Route("GET", "/setup", setup_page, name="page-setup", access=Access.PUBLIC),
    Route("POST", "/setup", setup_form_post, name="page-setup-post", access=Access.PUBLIC),
    Route("GET", "/", dashboard, name="page-dashboard"),
    Route("GET", "/dashboard/cards/{plugin}/{key}", card_fragment, name="page-card"),
    Route("GET", "/search", search_page, name="page-search"),
    Route("GET", "/notifications", notifications_page, name="page-notifications"),
    Route("GET", "/profile", profile_page, name="page-profile"),
    Route("GET", "/guide", text_page, name="page-guide"),
    Route("GET", "/faq", text_page, name="page-faq"),
    Route("GET", "/manifest.webmanifest", manifest, name="manifest", access=Access.PUBLIC),
)
