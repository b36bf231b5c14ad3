"""The web shell: templates, the layout's context and navigation, shared by the core's pages and plugins' pages.

Plugins render their pages with :func:`render`; their templates extend ``"base.html"`` and fill the blocks
``title`` and ``content``. A plugin's own ``templates`` folder (the ``web_assets`` hook) is searched before the
core's, so a plugin may also override a core template by name.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, MutableMapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import aiohttp_jinja2
import attrs
import jinja2
from aiohttp import web
from aiohttp_jinja2.helpers import GLOBAL_HELPERS
from markupsafe import Markup
from sqlalchemy import func, select

from medianest_core import keys
from medianest_core.auth.passwords import MIN_LENGTH
from medianest_core.auth.principal import Principal
from medianest_core.models import Notification
from medianest_core.types import Access, NavLink, WebAssets
from medianest_core.web.assets import ASSETS, Files
from medianest_core.web.kept import KEPT

HERE: Final = Path(__file__).parent
STATIC: Final = HERE / "static"
THEME_COOKIE: Final = "medianest_theme"
THEMES: Final = frozenset({"dark", "light"})
FUTURE_SLACK: Final = 5.0
"""Seconds a moment may be ahead of now and still read "just now"."""

# The core's own entries; plugins' links (the ``nav_links`` hook) are merged in by their ``order``.
CORE_NAV: Final = (
    NavLink("Home", "/", icon="home", order=0),
    NavLink("Search", "/search", icon="search", order=10),
    NavLink("Guide", "/guide", icon="book", order=900),
    NavLink("Admin", "/admin", icon="shield", order=1000, access=Access.ADMIN),
)
DISCOVER_NAV: Final = NavLink("Discover", "/discover/", icon="compass", order=15)
"""Shown when a plugin offers rows for the Discover page."""
ADMIN_NAV: Final = (
    NavLink("Users", "/admin/users", icon="users", order=1),
    NavLink("Services", "/admin/services", icon="server", order=2),
    NavLink("Plugins", "/admin/plugins", icon="plug", order=3),
    NavLink("Health", "/admin/health", icon="activity", order=4),
    NavLink("Audit log", "/admin/audit", icon="list", order=5),
    NavLink("Guide, FAQ and links", "/admin/content", icon="book", order=6),
)


@attrs.frozen
class NavItem:
    title: str
    href: str
    icon: str
    active: bool


def _visible(link: NavLink, who: Principal | None) -> bool:
    if link.access is Access.PUBLIC:
        return True
    if who is None:
        return False
    return link.access is Access.USER or who.is_admin


def _is_active(href: str, path: str) -> bool:
    if href == "/":
        return path == "/"
    return path == href or path.startswith(href.rstrip("/") + "/")


def navigation(links: Sequence[NavLink], who: Principal | None, path: str) -> list[NavItem]:
    shown = sorted((link for link in links if _visible(link, who)), key=lambda link: (link.order, link.title))
    return [NavItem(link.title, link.href, link.icon, _is_active(link.href, path)) for link in shown]


class PageEnvironment(jinja2.Environment):
    """Jinja's environment with one difference: a template without globals of its own uses the environment's
    globals themselves rather than a ``ChainMap`` over them. Each ``{% from … import %}`` compares the importing
    template's globals with the imported one's, key by key; over ``ChainMap`` views that took a sixth of the time
    to draw the dashboard (a card's template imports its macros). Globals are never changed after start-up."""

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        if not d:
            return self.globals
        return super().make_globals(d)


def setup_templates(app: web.Application, assets: Sequence[tuple[str, WebAssets]]) -> None:
    """The template environment: plugins' folders first, then the core's; HTML always escaped."""
    loaders: list[jinja2.BaseLoader] = [
        jinja2.FileSystemLoader(str(item.templates))
        for _, item in assets
        if item.templates is not None and item.templates.is_dir()
    ]
    loaders.append(jinja2.FileSystemLoader(str(HERE / "templates")))
    env = PageEnvironment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    # What aiohttp_jinja2.setup does, with this environment.
    env.globals.update(GLOBAL_HELPERS)
    env.globals["app"] = app
    app[aiohttp_jinja2.APP_KEY] = env
    env.filters["ago"] = ago
    env.filters["when"] = when
    env.filters["duration"] = duration
    files = app[ASSETS]
    env.globals["static"] = files.url
    env.globals["icon"] = functools.partial(icon, sprite=files.url("icons.svg"))

    def card_assets(cards: Sequence[Any]) -> Markup:
        """The ``<link>``/``<script>`` elements of the dashboard cards shown (each has ``plugin`` and ``key``)."""
        return files.for_cards((card.plugin, card.key) for card in cards).tags()

    env.globals["card_assets"] = card_assets
    env.globals["password_min_length"] = MIN_LENGTH
    env.filters["period"] = period
    env.filters["sentence"] = sentence
    env.filters["size"] = size


ICONS: Final = frozenset(
    {"logo", "home", "search", "bell", "user", "users", "shield", "server", "plug", "activity", "list", "book"}
    | {"help", "link", "film", "tv", "play", "download", "inbox", "settings", "contrast", "log-out", "music", "circle"}
    | {"compass"}
)


@functools.lru_cache(maxsize=256)  # every page draws the navigation's icons: the same few strings
def icon(name: str, sprite: str = "/static/core/icons.svg") -> Markup:
    """An icon of the core's set (unknown names show a circle), hidden from screen readers: its label is text.
    ``sprite`` is the address of ``icons.svg`` (the templates' ``icon()`` gives its content-named one)."""
    found = name if name in ICONS else "circle"
    href = f"{sprite}#{found}"
    # The name is one of ICONS, never the request's text; the sprite's address is the app's own.
    return Markup(f'<svg class="icon" aria-hidden="true" focusable="false"><use href="{href}"></use></svg>')  # noqa: S704


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """``"3 min ago"``: the age of a moment, in words a person reads at a glance. A moment a few seconds ahead
    (stamped while a page was drawn, or by a server whose clock is a little ahead) is "just now" too."""
    if moment is None:
        return "never"
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    if seconds < -FUTURE_SLACK:
        return "in " + duration(-seconds)
    if seconds < 45:
        return "just now"
    return duration(seconds) + " ago"


def duration(seconds: float) -> str:
    seconds = max(seconds, 0)
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            count = round(seconds / size)
            return f"{count} {unit}{'s' if unit == 'day' and count != 1 else ''}"
    return f"{round(seconds)} s"


def period(seconds: float) -> str:
    """A quota's window in words: "hour", "day", "6 h"."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds == size:
            return unit
    return duration(seconds)


def sentence(text: str) -> str:
    """The first letter in capitals, the rest as written ("YouTube downloads" stays so)."""
    return text[:1].upper() + text[1:]


def size(count: float | None) -> str:
    """A number of bytes as a person reads it: "512 KB", "1.4 GB" (units of 1024)."""
    if count is None:
        return "—"
    value = float(max(count, 0))
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit in ("bytes", "KB") or value >= 100 else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover - the loop returns at TB


def when(moment: datetime | None) -> str:
    """A moment for ``<time datetime=…>``: ISO 8601 in UTC."""
    return moment.astimezone(UTC).isoformat() if moment is not None else ""


async def unread_count(request: web.Request, who: Principal) -> int:
    """How many of the person's notifications are unread (kept until one is added or read: ``web.kept``)."""
    runtime = request.config_dict[keys.RUNTIME]

    async def count() -> int:
        async with runtime.sessions() as db:
            found = await db.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.user_id == who.user_id, Notification.read_at.is_(None))
            )
        return int(found or 0)

    return await request.config_dict[KEPT].unread.get(who.user_id, count)


def theme_of(request: web.Request) -> str | None:
    chosen = request.cookies.get(THEME_COOKIE)
    return chosen if chosen in THEMES else None


def _offers_rows(request: web.Request) -> bool:
    """Whether a plugin that is running offers rows for the Discover page."""
    from medianest_core.title_views import rows

    return bool(rows(request))


async def shell_context(request: web.Request) -> dict[str, Any]:
    """What the layout needs on every page: who is signed in, the navigation, the unread count, the theme."""
    who: Principal | None = request.get(keys.PRINCIPAL)
    contributions = request.config_dict.get(keys.CONTRIBUTIONS)
    plugin_links = [link for _, link in contributions.nav_links] if contributions is not None else []
    if contributions is not None and _offers_rows(request):
        plugin_links.append(DISCOVER_NAV)
    return {
        "me": who,
        "csrf_token": who.csrf_token if who is not None and who.csrf_token else "",
        "nav": navigation([*CORE_NAV, *plugin_links], who, request.path),
        "admin_nav": navigation(ADMIN_NAV, who, request.path) if who is not None and who.is_admin else [],
        "unread": await unread_count(request, who) if who is not None else 0,
        "theme": theme_of(request),
        "path": request.path,
        "path_qs": request.path_qs,
        "query": request.query.get("q", "") if request.path == "/search" else "",
        "request_id": request.get(keys.REQUEST_ID, ""),
        "plugin_assets": _plugin_assets(request, signed_in=who is not None),
    }


def _plugin_assets(request: web.Request, *, signed_in: bool) -> Files:
    """The stylesheets and scripts of plugins this page loads: for someone signed in, those every page loads;
    then the page's own (``Page.styles``/``scripts``). A dashboard adds its cards' in its template
    (``card_assets``)."""
    files = request.config_dict.get(ASSETS)
    if files is None:
        return Files()
    page = files.for_page(request)
    return files.everywhere() + page if signed_in else page


async def render(
    request: web.Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """Render ``template`` in the layout for this request. Pages are never cached by the browser or a proxy:
    they show what one person may see."""
    data = await shell_context(request)
    data.update(context or {})
    response = aiohttp_jinja2.render_template(template, request, data, status=status)
    response.headers["Cache-Control"] = "no-store"
    if headers:
        response.headers.update(headers)
    return response


def render_fragment(request: web.Request, template: str, context: Mapping[str, Any]) -> str:
    """A piece of HTML (a dashboard card, say) without the layout, for the page's script to swap in."""
    return aiohttp_jinja2.render_string(template, request, context)
