"""The web shell: templates, the layout's context and navigation, shared by the core's pages and plugins' pages.

Plugins render their pages with :func:`render`; their templates extend ``"base.html"`` and fill the blocks
``title`` and ``content``. A plugin's own ``templates`` folder (the ``web_assets`` hook) is searched before the
core's, so a plugin may also override a core template by name.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, MutableMapping, Sequence, Set
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import aiohttp_jinja2
import attrs
import jinja2
import jinja2.meta
import jinja2.nodes
from aiohttp import hdrs, web
from aiohttp_jinja2.helpers import GLOBAL_HELPERS
from markupsafe import Markup
from sqlalchemy import func, select

from medianest_core import keys
from medianest_core.auth.passwords import MIN_LENGTH
from medianest_core.auth.principal import Principal
from medianest_core.models import Notification
from medianest_core.types import Access, NavLink, WebAssets
from medianest_core.web.assets import ASSETS, Files
from medianest_core.web.kept import KEPT, PageData

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


NAV_TEMPLATE: Final = "_nav_items.html"
"""The ``<li>`` of each entry of a navigation list (its links, ``items``), drawn once for each list."""
SHELL_KEPT: Final = 256
"""How many navigations (a kind of viewer on a path) and tags of files the layout keeps drawn."""


@attrs.frozen
class Navigation:
    """The layout's navigation for a kind of viewer on a path: the entries and their HTML, drawn once."""

    nav: list[NavItem]
    admin_nav: list[NavItem]
    nav_html: Markup
    admin_nav_html: Markup
    bottom_html: Markup


BOTTOM_TEMPLATE: Final = "_bottom_bar.html"
BOTTOM_SHOWN: Final = 4
"""How many destinations the phone's bottom bar shows before "More" (five slots fit a 320 px screen)."""


def _bottom_html(env: jinja2.Environment, nav: Sequence[NavItem], path: str) -> Markup:
    shown, more = nav[:BOTTOM_SHOWN], nav[BOTTOM_SHOWN:]
    me_active = path == "/profile"
    more_active = me_active or any(item.active for item in more)
    html = env.get_template(BOTTOM_TEMPLATE).render(
        shown=shown, more=more, me_active=me_active, more_active=more_active
    )
    return Markup(html.removesuffix("\n"))  # noqa: S704 - autoescaped


def _nav_html(env: jinja2.Environment, items: Sequence[NavItem]) -> Markup:
    # Autoescaped; the fragment ends with a line break, which the layout's own line gives.
    return Markup(env.get_template(NAV_TEMPLATE).render(items=items).removesuffix("\n"))  # noqa: S704


def _navigation(request: web.Request, who: Principal | None, kept: PageData | None) -> Navigation:
    """The navigation for ``who`` on this page. Kept for each kind of viewer (signed out, a person, an admin) and
    path: it is made from the core's entries and what plugins contributed at start-up, which never change, and
    whether a running plugin offers rows for the Discover page, which is part of what it is kept by."""
    contributions = request.config_dict.get(keys.CONTRIBUTIONS)
    offers = contributions is not None and _offers_rows(request)
    key = (
        "nav",
        None if who is None else who.is_admin,
        request.path,
        offers,
        None if contributions is None else (id(contributions.nav_links), len(contributions.nav_links)),
    )
    found: Navigation | None = kept.shell.get(key) if kept is not None else None
    if found is not None:
        return found
    plugin_links = [link for _, link in contributions.nav_links] if contributions is not None else []
    if offers:
        plugin_links.append(DISCOVER_NAV)
    nav = navigation([*CORE_NAV, *plugin_links], who, request.path)
    admin_nav = navigation(ADMIN_NAV, who, request.path) if who is not None and who.is_admin else []
    env = request.config_dict[aiohttp_jinja2.APP_KEY]
    found = Navigation(
        nav, admin_nav, _nav_html(env, nav), _nav_html(env, admin_nav), _bottom_html(env, nav, request.path)
    )
    if kept is not None:
        _keep(kept.shell, key, found)
    return found


def _keep(shell: dict[Any, Any], key: Any, value: Any) -> None:
    while len(shell) >= SHELL_KEPT:
        del shell[next(iter(shell))]
    shell[key] = value


class PageEnvironment(jinja2.Environment):
    """Jinja's environment with one difference: a template without globals of its own uses the environment's
    globals themselves rather than a ``ChainMap`` over them. Each ``{% from … import %}`` compares the importing
    template's globals with the imported one's, key by key; over ``ChainMap`` views that took a sixth of the time
    to draw the dashboard (a card's template imports its macros). Globals are never changed after start-up."""

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        if not d:
            return self.globals
        return super().make_globals(d)


CARD_TEMPLATE: Final = "_card.html"
"""A dashboard card in its frame: the dashboard's cards and a card's fragment are drawn by it."""
FIXED_NAMES: Final = frozenset(
    {"card", "icon", "static", "url", "range", "dict", "namespace", "cycler", "joiner", "password_min_length"}
)
"""What a card's template may read and still draw the same HTML for the same card: the card and functions whose
answer depends on their arguments only."""
CHANGING_FILTERS: Final = frozenset({"ago", "random"})
"""Filters whose answer changes from one moment to the next for the same value."""


def drawn_once(env: jinja2.Environment, name: str, *, wrapper: bool = False) -> bool:
    """Whether the template ``name`` draws the same HTML for the same card, whenever it is drawn: it reads
    nothing but the card and :data:`FIXED_NAMES`, uses none of :data:`CHANGING_FILTERS`, and the templates it
    includes or imports are so too. With ``wrapper``, ``name`` is the card's frame: the core's own
    ``_card.html``, which also reads the moment (``now``), for the ages it shows, and includes the card's own
    template; a frame a plugin put in its place is never trusted. The answer is kept: templates are loaded once."""
    answers: dict[tuple[str, bool], bool] = env.__dict__.setdefault("medianest_drawn_once", {})
    found = answers.get((name, wrapper))
    if found is None:
        found = _fixed(env, name, set(), wrapper=wrapper)
        answers[(name, wrapper)] = found
    return found


def _filters_used(tree: jinja2.nodes.Template) -> set[str | None]:
    """The filters a template applies, by name, with those ``map`` applies (``map("ago")``); ``None`` for a
    ``map`` whose filter is not a constant."""
    used: set[str | None] = set()
    for node in tree.find_all(jinja2.nodes.Filter):
        used.add(node.name)
        if node.name == "map" and node.args:
            first = node.args[0]
            used.add(first.value if isinstance(first, jinja2.nodes.Const) and isinstance(first.value, str) else None)
    return used


def _fixed(env: jinja2.Environment, name: str, seen: set[str], *, wrapper: bool = False) -> bool:
    if name in seen:
        return True
    seen.add(name)
    try:
        source, filename, _ = env.loader.get_source(env, name) if env.loader is not None else ("", None, None)
        tree = env.parse(source)
    except jinja2.TemplateError:
        return False
    referenced: list[str | None]
    if wrapper:
        if filename is None or Path(filename).resolve() != (HERE / "templates" / name).resolve():
            return False
        names_ok = jinja2.meta.find_undeclared_variables(tree) <= FIXED_NAMES | {"now"}
        used = _filters_used(tree)
        filters_ok = None not in used and not used & (CHANGING_FILTERS - {"ago"})
        referenced = [each for each in jinja2.meta.find_referenced_templates(tree) if each is not None]
    else:
        names_ok = jinja2.meta.find_undeclared_variables(tree) <= FIXED_NAMES
        used = _filters_used(tree)
        filters_ok = None not in used and not used & CHANGING_FILTERS
        referenced = list(jinja2.meta.find_referenced_templates(tree))
    if not (names_ok and filters_ok):
        return False
    return all(each is not None and _fixed(env, each, seen) for each in referenced)


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

    drawn_tags: dict[tuple[tuple[str, str], ...], Markup] = {}

    def card_assets(cards: Sequence[Any]) -> Markup:
        """The ``<link>``/``<script>`` elements of the dashboard cards shown (each has ``plugin`` and ``key``);
        drawn once for each set of cards: what cards declared is fixed at start-up."""
        shown = tuple((card.plugin, card.key) for card in cards)
        found = drawn_tags.get(shown)
        if found is None:
            found = files.for_cards(shown).tags()
            _keep(drawn_tags, shown, found)
        return found

    env.globals["card_assets"] = card_assets
    env.globals["password_min_length"] = MIN_LENGTH
    env.filters["period"] = period
    env.filters["sentence"] = sentence
    env.filters["size"] = size
    env.filters["plain"] = plain


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


def plain(value: Any) -> Any:
    """A number as a person types it: ``30.0`` shows as ``30``; anything else unchanged."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


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
    if THEME_COOKIE not in request.headers.get(hdrs.COOKIE, ""):
        return None  # without reading every cookie: the request's cookies are read from this header
    chosen = request.cookies.get(THEME_COOKIE)
    return chosen if chosen in THEMES else None


def _offers_rows(request: web.Request) -> bool:
    """Whether a plugin that is running offers rows for the Discover page."""
    from medianest_core.title_views import rows

    return bool(rows(request))


async def shell_context(request: web.Request) -> dict[str, Any]:
    """What the layout needs on every page: who is signed in, the navigation, the unread count, the theme."""
    who: Principal | None = request.get(keys.PRINCIPAL)
    kept = request.config_dict.get(KEPT)
    nav = _navigation(request, who, kept)
    assets, tags = _plugin_assets(request, kept, signed_in=who is not None)
    return {
        "me": who,
        "csrf_token": who.csrf_token if who is not None and who.csrf_token else "",
        "nav": nav.nav,
        "admin_nav": nav.admin_nav,
        "nav_html": nav.nav_html,
        "admin_nav_html": nav.admin_nav_html,
        "bottom_html": nav.bottom_html,
        "unread": await unread_count(request, who) if who is not None else 0,
        "theme": theme_of(request),
        "path": request.path,
        "path_qs": request.path_qs,
        "query": request.query.get("q", "") if request.path == "/search" else "",
        "request_id": request.get(keys.REQUEST_ID, ""),
        "plugin_assets": assets,
        "plugin_tags": tags,
    }


def _plugin_assets(request: web.Request, kept: PageData | None, *, signed_in: bool) -> tuple[Files, Markup]:
    """The stylesheets and scripts of plugins this page loads, and their tags: for someone signed in, those
    every page loads; then the page's own (``Page.styles``/``scripts``). A dashboard adds its cards' in its
    template (``card_assets``). Kept for each route: what pages and plugins declared is fixed at start-up."""
    files = request.config_dict.get(ASSETS)
    if files is None:
        return Files(), Markup("")
    resource = request.match_info.route.resource
    key = ("assets", resource, signed_in)
    found: tuple[Files, Markup] | None = kept.shell.get(key) if kept is not None and resource is not None else None
    if found is not None:
        return found
    page = files.for_page(request)
    chosen = files.everywhere() + page if signed_in else page
    found = (chosen, chosen.tags())
    if kept is not None and resource is not None:
        _keep(kept.shell, key, found)
    return found


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


LAYOUT: Final = "base.html"
LAYOUT_READS: Final = frozenset(
    {"me", "csrf_token", "theme", "plugin_tags", "nav_html", "admin_nav", "admin_nav_html", "bottom_html", "query"}
    | {"unread", "path"}
)
"""What the core's layout reads of :func:`shell_context` (of ``me``: its ``user_id`` and ``username``, which
:func:`render_kept` compares; one more read of ``me`` in the layout is one more to compare there)."""
_LAYOUT_SHOWN: Final = tuple(sorted(LAYOUT_READS - {"me"}))


async def render_kept(
    request: web.Request, template: str, context: Mapping[str, Any], *, shown: tuple[Any, ...], reads: Set[str]
) -> web.Response:
    """:func:`render` for a page drawn again for a signed-in person only when what it shows changed: its HTML is
    kept, by template and person, with what it was drawn from (compared with ``==``): what the layout reads
    (:data:`LAYOUT_READS`) and ``shown``, the page's own part of ``context`` as its template reads it. ``reads``
    names the variables of ``context`` that ``shown`` stands for; when the template or the core's layout reads
    anything else (besides :data:`FIXED_NAMES` and ``card_assets``), or a plugin put its own template in their
    place, the page is drawn each time, as :func:`render` does."""
    data = await shell_context(request)
    data.update(context)
    who: Principal | None = data["me"]
    kept = request.config_dict.get(KEPT)
    env = request.config_dict[aiohttp_jinja2.APP_KEY]
    if (
        who is None
        or kept is None
        or request.get(aiohttp_jinja2.REQUEST_CONTEXT_KEY)
        or not _reads_only(env, template, LAYOUT_READS | reads)
    ):
        response = aiohttp_jinja2.render_template(template, request, data)
    else:
        key = (template, who.user_id)
        now_shown = (who.user_id, who.username, *(data[name] for name in _LAYOUT_SHOWN), shown)
        body = kept.pages.get(key, now_shown)
        if body is None:
            body = env.get_template(template).render(data).encode()
            kept.pages.keep(key, now_shown, body)
        response = web.Response(body=body, content_type="text/html", charset="utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response


def _reads_only(env: jinja2.Environment, template: str, names: Set[str]) -> bool:
    """Whether ``template`` and the layout it extends are the core's own files and read nothing but ``names``,
    :data:`FIXED_NAMES` and ``card_assets`` (kept: templates are loaded once)."""
    answers: dict[tuple[str, frozenset[str]], bool] = env.__dict__.setdefault("medianest_reads_only", {})
    key = (template, frozenset(names))
    found = answers.get(key)
    if found is None:
        found = True
        for name in (template, LAYOUT):
            try:
                source, filename, _ = env.loader.get_source(env, name) if env.loader is not None else ("", None, None)
                tree = env.parse(source)
            except jinja2.TemplateError:
                found = False
                break
            core_file = filename is not None and Path(filename).resolve() == (HERE / "templates" / name).resolve()
            read = jinja2.meta.find_undeclared_variables(tree)
            extends = [each for each in jinja2.meta.find_referenced_templates(tree) if each != LAYOUT]
            if not core_file or extends or not read <= names | FIXED_NAMES | {"card_assets"}:
                found = False
                break
        answers[key] = found
    return found


def render_fragment(request: web.Request, template: str, context: Mapping[str, Any]) -> str:
    """A piece of HTML (a dashboard card, say) without the layout, for the page's script to swap in."""
    return aiohttp_jinja2.render_string(template, request, context)
