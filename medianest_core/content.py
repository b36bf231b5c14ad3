"""What invitees read: the getting-started guide and the FAQ (Markdown the admin writes, rendered safely), and
quick links to the owner's other services.

Markdown is rendered with raw HTML turned off: any ``<script>`` or other markup the admin types is shown as text,
and links or images with a ``javascript:``, ``vbscript:``, ``file:`` or ``data:`` address are not made into links.
"""

from __future__ import annotations

import enum
import functools
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import attrs
from aiohttp import web
from markupsafe import Markup
from sqlalchemy import select

from medianest_core import audit, keys
from medianest_core.audit import AuditAction
from medianest_core.auth.principal import Principal, require
from medianest_core.errors import ApiError, ErrorCode, path_id
from medianest_core.events import LinksChanged
from medianest_core.models import QuickLink, SiteText
from medianest_core.schema import END, NOT_BLANK, Deleted, IdPath, field, read_body
from medianest_core.types import Access, Route

if TYPE_CHECKING:
    from markdown_it import MarkdownIt


class TextKey(enum.StrEnum):
    GUIDE = "guide"
    FAQ = "faq"


TITLES: Final = {TextKey.GUIDE: "Getting started", TextKey.FAQ: "Questions and answers"}
MAX_MARKDOWN: Final = 100_000


class LinkIcon(enum.StrEnum):
    """The icons a quick link may use: the names in the core's icon set."""

    LINK = "link"
    FILM = "film"
    TV = "tv"
    MUSIC = "music"
    PLAY = "play"
    DOWNLOAD = "download"
    BOOK = "book"
    HELP = "help"
    SERVER = "server"
    INBOX = "inbox"
    SETTINGS = "settings"


LINK_ICONS: Final = tuple(icon.value for icon in LinkIcon)
# An http(s) address with a host name, an IPv4 or a bracketed IPv6 address, an optional port, and no spaces or
# control characters.
URL_CHARACTER: Final = "[^\x00-\x20\x7f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
LINK_URL: Final = (
    r"^https?://([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.?|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?([/?#]"
    + URL_CHARACTER
    + "*)?"
    + END
)

# One paragraph per line, so the text reads well in the admin's editor.
DEFAULT_GUIDE: Final = """\
# Welcome!

You have been invited to a Plex server, and MediaNest is its front door: everything about it in one place.

## 1. Watch

Install the **Plex** app on your TV, phone, tablet or computer (or open [app.plex.tv](https://app.plex.tv) in a browser) and sign in with the same Plex account you used here. The shared libraries appear in the app's menu, under the server's name.

## 2. Find something

Use the search box at the top of every page. It looks in the Plex library and beyond: if a film or show is not there yet, you can ask for it, and MediaNest tells you when it has been added.

## 3. Keep an eye on things

- **Home** shows whether the services are up. If Plex is down, it is not your connection.
- The **bell** lists your notifications: requests approved, downloads finished, announcements.
- **Your profile** shows where you are signed in and how much of your allowances you have used.

## Good manners

- Please do not share your account: everyone the owner invites gets their own.
- Streaming at "original" quality uses a lot of the owner's upload; choose a lower quality on mobile data.
- If something looks wrong, tell the owner: they will want to know.
"""

DEFAULT_FAQ: Final = """\
# Questions and answers

## Why can I not see a library?
The owner chooses which libraries are shared with each person. Ask them if one is missing.

## A title buffers or stops.
Lower the quality in the Plex app (Settings → Quality). Several people watching at once, or a weak upload at the owner's end, can slow things down; the Home page shows whether a service is having trouble.

## I asked for a title. When will it arrive?
Its status is pushed to you as it changes, first approved, then available in Plex. Big files can take a while to download.

## How do I sign out everywhere?
Open your profile and end the sessions you no longer use.

## Who runs this?
A friend of yours, on their own machine, for free: be kind to it.
"""

DEFAULTS: Final = {TextKey.GUIDE: DEFAULT_GUIDE, TextKey.FAQ: DEFAULT_FAQ}


@functools.cache
def _markdown() -> MarkdownIt:
    """The one Markdown renderer, made on first use: markdown-it is imported only when a text is rendered."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table")
    md.enable("strikethrough")
    return md


def render_markdown(text: str) -> Markup:
    """Markdown to HTML that is safe to put in a page: raw HTML is escaped, unsafe link schemes are dropped."""
    return Markup(_markdown().render(text))  # noqa: S704 - markdown-it escapes raw HTML (html=False) and vets link schemes


@attrs.frozen
class SiteTextView:
    key: TextKey
    title: str
    markdown: str
    custom: bool
    updated_at: datetime | None


async def read_text(runtime: Any, key: TextKey) -> SiteTextView:
    async with runtime.sessions() as db:
        row = await db.get(SiteText, key.value)
    if row is None:
        return SiteTextView(key, TITLES[key], DEFAULTS[key], False, None)
    return SiteTextView(key, TITLES[key], row.markdown, True, row.updated_at)


@attrs.frozen
class TextPath:
    key: TextKey


@attrs.frozen
class TextDoc:
    """A text as the admin wrote it (``markdown``) and as pages show it (``html``); ``custom`` is false while
    the default text is in use."""

    key: TextKey
    title: str
    markdown: str
    html: str
    custom: bool
    updated_at: datetime | None


def _text_key(request: web.Request) -> TextKey:
    try:
        return TextKey(request.match_info["key"])
    except ValueError:
        raise ApiError(404, ErrorCode.NOT_FOUND, "No such text; there are 'guide' and 'faq'.") from None


def _text_doc(view: SiteTextView) -> dict[str, Any]:
    return {
        "key": view.key.value,
        "title": view.title,
        "markdown": view.markdown,
        "html": str(render_markdown(view.markdown)),
        "custom": view.custom,
        "updated_at": view.updated_at.isoformat() if view.updated_at else None,
    }


async def get_text(request: web.Request) -> web.Response:
    view = await read_text(request.config_dict[keys.RUNTIME], _text_key(request))
    return web.json_response(_text_doc(view))


@attrs.frozen
class TextBody:
    markdown: str = field(max_length=MAX_MARKDOWN, description="Markdown; empty text goes back to the default")


async def put_text(request: web.Request) -> web.Response:
    """Save the admin's text; an empty text goes back to the default."""
    who = require(request)
    key = _text_key(request)
    body = await read_body(request, TextBody)
    runtime = request.config_dict[keys.RUNTIME]
    async with runtime.sessions.begin() as db:
        row = await db.get(SiteText, key.value)
        if not body.markdown.strip():
            if row is not None:
                await db.delete(row)
        elif row is None:
            db.add(SiteText(key=key.value, markdown=body.markdown, updated_by=who.user_id))
        else:
            row.markdown, row.updated_by = body.markdown, who.user_id
        audit.record(
            db,
            AuditAction.CONTENT_CHANGED,
            actor_id=who.user_id,
            target=f"text:{key.value}",
            details={"reset": not body.markdown.strip(), "length": len(body.markdown)},
            request=request,
        )
    return web.json_response(_text_doc(await read_text(runtime, key)))


# ---- Quick links ---------------------------------------------------------------------------------------------


class LinkAudience(enum.StrEnum):
    EVERYONE = "user"
    ADMINS = "admin"


def link_doc(link: QuickLink) -> dict[str, Any]:
    return {
        "id": link.id,
        "name": link.name,
        "url": link.url,
        "icon": link.icon,
        "audience": link.audience,
        "position": link.position,
    }


async def visible_links(request: web.Request, who: Principal) -> list[QuickLink]:
    """The quick links ``who`` may see, kept until an admin changes them (``links.changed``; ``web.kept``)."""
    from medianest_core.web.kept import KEPT

    runtime = request.config_dict[keys.RUNTIME]

    async def load() -> list[QuickLink]:
        query = select(QuickLink).order_by(QuickLink.position, QuickLink.name, QuickLink.id)
        if not who.is_admin:
            query = query.where(QuickLink.audience == LinkAudience.EVERYONE.value)
        async with runtime.sessions() as db:
            return list((await db.scalars(query)).all())

    found: list[QuickLink] = await request.config_dict[KEPT].links.get(who.is_admin, load)
    return found


async def list_links(request: web.Request) -> web.Response:
    """The quick links the signed-in person may see; admins see all of them."""
    links = await visible_links(request, require(request))
    return web.json_response({"links": [link_doc(link) for link in links]})


LINK_URL_RULE: Final = "A full http:// or https:// address, at most 500 characters"
POSITION_RULE: Final = "Links are shown by position, then name"


@attrs.frozen
class LinkBody:
    name: str = field(min_length=1, max_length=100, pattern=NOT_BLANK)
    url: str = field(max_length=500, pattern=LINK_URL, description=LINK_URL_RULE)
    icon: LinkIcon = LinkIcon.LINK
    audience: LinkAudience = LinkAudience.EVERYONE
    position: int = field(default=0, ge=-1_000_000, le=1_000_000, description=POSITION_RULE)


@attrs.frozen
class LinkChange:
    """What to change of a link; what is left out stays as it is."""

    name: str | None = field(default=None, min_length=1, max_length=100, pattern=NOT_BLANK)
    url: str | None = field(default=None, max_length=500, pattern=LINK_URL, description=LINK_URL_RULE)
    icon: LinkIcon | None = None
    audience: LinkAudience | None = None
    position: int | None = field(default=None, ge=-1_000_000, le=1_000_000, description=POSITION_RULE)


@attrs.frozen
class LinkDoc:
    """A quick link; ``audience`` "user" is everyone signed in, "admin" the admins only."""

    id: int
    name: str
    url: str
    icon: str
    audience: LinkAudience
    position: int


@attrs.frozen
class LinkList:
    links: list[LinkDoc]


def _audit_link(db: Any, request: web.Request, link_id: int, details: dict[str, Any]) -> None:
    audit.record(
        db,
        AuditAction.CONTENT_CHANGED,
        actor_id=require(request).user_id,
        target=f"link:{link_id}",
        details=details,
        request=request,
    )


async def create_link(request: web.Request) -> web.Response:
    body = await read_body(request, LinkBody)
    runtime = request.config_dict[keys.RUNTIME]
    async with runtime.sessions.begin() as db:
        link = QuickLink(
            name=body.name.strip(),
            url=body.url,
            icon=body.icon.value,
            audience=body.audience.value,
            position=body.position,
        )
        db.add(link)
        await db.flush()
        _audit_link(db, request, link.id, {"created": link.name})
        doc = link_doc(link)
    await runtime.events.publish(LinksChanged())
    return web.json_response(doc, status=201)


async def update_link(request: web.Request) -> web.Response:
    link_id = path_id(request, "link")
    body = await read_body(request, LinkChange)
    runtime = request.config_dict[keys.RUNTIME]
    async with runtime.sessions.begin() as db:
        link = await db.get(QuickLink, link_id)
        if link is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, "No such link.")
        if body.name is not None:
            link.name = body.name.strip()
        if body.url is not None:
            link.url = body.url
        if body.icon is not None:
            link.icon = body.icon.value
        if body.audience is not None:
            link.audience = body.audience.value
        if body.position is not None:
            link.position = body.position
        _audit_link(db, request, link.id, {"updated": link.name})
        doc = link_doc(link)
    await runtime.events.publish(LinksChanged())
    return web.json_response(doc)


async def delete_link(request: web.Request) -> web.Response:
    link_id = path_id(request, "link")
    runtime = request.config_dict[keys.RUNTIME]
    async with runtime.sessions.begin() as db:
        link = await db.get(QuickLink, link_id)
        if link is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, "No such link.")
        await db.delete(link)
        _audit_link(db, request, link_id, {"deleted": link.name})
    await runtime.events.publish(LinksChanged())
    return web.json_response({"deleted": True})


ROUTES = (
    Route("GET", "/api/v1/texts/{key}", get_text, name="text", params=TextPath, answer=TextDoc),
    Route(
        "PUT",
        "/api/v1/admin/texts/{key}",
        put_text,
        name="admin-text",
        access=Access.ADMIN,
        params=TextPath,
        body=TextBody,
        answer=TextDoc,
    ),
    Route("GET", "/api/v1/links", list_links, name="links", answer=LinkList),
    Route(
        "POST",
        "/api/v1/admin/links",
        create_link,
        name="admin-links-create",
        access=Access.ADMIN,
        body=LinkBody,
        answer=LinkDoc,
        status=201,
    ),
    Route(
        "PATCH",
        "/api/v1/admin/links/{id}",
        update_link,
        name="admin-link",
        access=Access.ADMIN,
        params=IdPath,
        body=LinkChange,
        answer=LinkDoc,
    ),
    Route(
        "DELETE",
        "/api/v1/admin/links/{id}",
        delete_link,
        name="admin-link-delete",
        access=Access.ADMIN,
        params=IdPath,
        answer=Deleted,
    ),
)
