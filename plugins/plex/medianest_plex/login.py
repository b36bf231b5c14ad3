"""Signing in with Plex: the PIN flow of plex.tv, then admission of the server's owner and of the people the
server is shared with only.

1. ``GET /auth/plex/pin`` (the login provider's start) asks plex.tv for two PINs: a strong one for the Plex app's
   approval page, and a 4-character one to type at plex.tv/link. The browser gets a random token in a cookie that
   ends with the browser session; the database keeps its SHA-256 with the PINs and the address that asked. The
   same browser, from the same address, sees the same codes again while they have a minute or more left and
   nobody has approved them yet (an approved sign-in is never handed to whoever opens the page next). New PINs
   are counted per address with ``login_rate_limit``; past it the page says when to try again and plex.tv is not
   asked.
2. The page polls ``POST /api/v1/plex/login/poll`` about every second and a half; MediaNest asks plex.tv whether
   either PIN was approved, at most once a second for one sign-in however often it is polled.
3. With the person's Plex token, MediaNest reads their account and their resources: the server's owner, or someone
   the server is shared with, gets in (the owner as an admin at the first sign-in); anyone else is refused and no
   account is made. The person's server token is kept sealed, to browse the server as them.

Someone signed in already, whose MediaNest account does not sign in with Plex (a password account), links their
Plex account to it the same way: the sign-in remembers who started it, and once the Plex account is admitted it is
linked to that account, which stays signed in as it was (with its password, role and history). A Plex account
that signs in to another MediaNest account already is refused, with what to do instead.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

import attrs
import structlog
from aiohttp import web
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from medianest_core import audit, keys
from medianest_core.audit import AuditAction
from medianest_core.auth.accounts import create_external_user
from medianest_core.auth.net import client_network, is_https
from medianest_core.auth.principal import current
from medianest_core.auth.sessions import TOKEN_SHAPE
from medianest_core.auth.views import UserDoc, begin_session, user_doc
from medianest_core.errors import ApiError, ErrorCode
from medianest_core.events import CardUpdated
from medianest_core.models import Role, User, UserStatus
from medianest_core.types import PluginContext
from medianest_core.upstream import AuthFailed, UpstreamError
from medianest_core.web import render
from medianest_core.web.pages import safe_next
from medianest_plex.client import Pin, auth_app_url
from medianest_plex.client import PlexAccount as Account
from medianest_plex.models import PlexAccount, PlexLogin
from medianest_plex.service import Plex

if TYPE_CHECKING:
    from limits import RateLimitItem

log = structlog.get_logger("medianest.plugins.plex")
_T = TypeVar("_T")

COOKIE: Final = "medianest_plex_login"
LOGIN_LIFETIME: Final = timedelta(minutes=15)
REUSE_MARGIN: Final = timedelta(minutes=1)
"""A pending sign-in's codes are shown again only while they have at least this long left."""
LINK_URL: Final = "https://plex.tv/link"


@cache
def poll_rate() -> RateLimitItem:
    """How often plex.tv is asked about one pending sign-in, by every process together; polls in between are
    answered ``waiting`` without asking. The page polls every 1.5 s, so a sign-in is never slowed by it. (Made by
    the first poll: ``limits`` is not imported at start.)"""
    from limits import RateLimitItemPerSecond

    return RateLimitItemPerSecond(1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _cookie_token(request: web.Request) -> str | None:
    """The browser's sign-in token; anything that is not shaped like one of ours counts as none."""
    token = request.cookies.get(COOKIE)
    return token if token is not None and TOKEN_SHAPE.fullmatch(token) else None


@attrs.frozen
class PollAnswer:
    """Where a sign-in with Plex stands: ``waiting``; ``signed_in``, going on to ``next``; or ``refused``,
    ``expired`` or ``failed``, with a ``message`` for the person."""

    status: Literal["waiting", "signed_in", "refused", "expired", "failed"]
    message: str | None = None
    next: str | None = None
    user: UserDoc | None = None


class Refused(Exception):
    """This Plex account may not use this server; the message says why, for the person."""


@attrs.frozen
class PinState:
    """What plex.tv says of a sign-in's two PINs: whether either is still alive, and the person's Plex token once
    either was approved."""

    alive: bool
    token: str | None = None


async def _ask(plex: Plex, pending: PlexLogin) -> PinState:
    """Ask plex.tv about the sign-in's PINs (raises UpstreamError when it cannot)."""
    alive = False
    for pin_id in (pending.pin_id, pending.link_pin_id):
        pin = await plex.tv.check_pin(pin_id)
        if pin is not None:
            alive = True
            if pin.authToken:
                return PinState(alive, pin.authToken)
    return PinState(alive)


async def start(ctx: PluginContext, plex: Plex, request: web.Request) -> web.StreamResponse:
    """The sign-in page: the PINs, the link to approve in the Plex app, and the script that waits. A reload shows
    the browser's pending codes again while nobody has approved them; new PINs are limited per address."""
    if not plex.configured:
        raise ApiError(
            503,
            ErrorCode.SERVICE_UNAVAILABLE,
            "Signing in with Plex is not set up yet: the admin sets the Plex server first.",
        )
    place = client_network(request)
    next_path = safe_next(request.query.get("next"))[:500]
    linking = await _linking(ctx, request)
    token = _cookie_token(request)
    pending = await _reusable(ctx, plex, request, token, place, next_path, linking) if token else None
    if token is None or pending is None:
        limits = request.config_dict[keys.LIMITS]
        await limits.hit(limits.login, "plex-pin", "ip", place, what="Plex sign-ins started from your network")
        token = secrets.token_urlsafe(32)
        pending = await _begin(ctx, plex, token, place, next_path, linking)
    return await _page(request, plex, pending, token)


async def _linking(ctx: PluginContext, request: web.Request) -> int | None:
    """The signed-in account a sign-in started now links a Plex account to: one that does not sign in with Plex
    yet. ``None`` for nobody signed in, or for an account that signs in with Plex already (that sign-in signs in
    afresh as whoever approves it)."""
    who = current(request)
    if who is None or await server_token(ctx, who.user_id) is not None:
        return None
    return who.user_id


async def _reusable(
    ctx: PluginContext, plex: Plex, request: web.Request, token: str, place: str, next_path: str, linking: int | None
) -> PlexLogin | None:
    """The browser's sign-in in progress, to show its codes again (going on to ``next_path``), or ``None``.

    Only while its codes are good for a while more, for the place it was started from (a token planted from
    elsewhere finds nothing), and while plex.tv says nobody has approved them. An approved sign-in whose page was
    closed is dropped here: the page cannot tell the person who approved it from the next person at the same
    browser, who must never be signed in as them. These checks of plex.tv are limited per address with
    ``login_rate_limit``, apart from new PINs; past it, or when plex.tv cannot say, the page makes new codes.
    """
    assert ctx.sessions is not None
    async with ctx.sessions() as db:
        pending = await db.get(PlexLogin, _digest(token))
    if pending is None or pending.address != place or pending.expires_at - datetime.now(UTC) < REUSE_MARGIN:
        return None
    if pending.user_id != linking:  # started by someone else at this browser, or before signing in or out
        return None
    limits = request.config_dict[keys.LIMITS]
    if not await limits.allow(limits.login, "plex-pin-reload", "ip", place):
        return None
    try:
        state = await _ask(plex, pending)
    except UpstreamError as exc:
        log.info("plex_pin_check_failed", error=str(exc))
        return None
    if not state.alive or state.token is not None:
        await _forget(ctx, pending.id)
        return None
    async with ctx.sessions.begin() as db:
        await db.execute(update(PlexLogin).where(PlexLogin.id == pending.id).values(next=next_path))
    pending.next = next_path
    return pending


async def _begin(
    ctx: PluginContext, plex: Plex, token: str, place: str, next_path: str, linking: int | None
) -> PlexLogin:
    """Two new PINs at plex.tv, kept with the token's digest until the first of them (or the sign-in) expires."""
    try:
        strong = await plex.tv.create_pin(strong=True)
        short = await plex.tv.create_pin(strong=False)
    except UpstreamError as exc:
        log.warning("plex_pin_failed", error=str(exc))
        raise ApiError(
            503, ErrorCode.SERVICE_UNAVAILABLE, "plex.tv cannot be reached just now; try again in a moment."
        ) from None
    now = datetime.now(UTC)
    pending = PlexLogin(
        id=_digest(token),
        pin_id=strong.id,
        code=strong.code,
        link_pin_id=short.id,
        link_code=short.code,
        address=place,
        next=next_path,
        user_id=linking,
        expires_at=now + _lifetime(strong, short),
    )
    assert ctx.sessions is not None
    async with ctx.sessions.begin() as db:
        await db.execute(delete(PlexLogin).where(PlexLogin.expires_at < now))
        db.add(pending)
    return pending


def _lifetime(*pins: Pin) -> timedelta:
    """How long the sign-in lasts: ``LOGIN_LIFETIME``, or less when plex.tv gives one of its PINs less."""
    return min([LOGIN_LIFETIME, *(timedelta(seconds=pin.expiresIn) for pin in pins if pin.expiresIn > 0)])


async def _page(request: web.Request, plex: Plex, pending: PlexLogin, token: str) -> web.StreamResponse:
    left = int((pending.expires_at - datetime.now(UTC)).total_seconds())
    response = await render(
        request,
        "plex/login.html",
        {
            "app_url": auth_app_url(plex.client_id, pending.code, plex.product),
            "link_code": pending.link_code,
            "link_url": LINK_URL,
            "minutes": max(1, left // 60),
            "linking": pending.user_id is not None,
        },
    )
    response.headers["Cache-Control"] = "no-store"
    # A session cookie: it ends with the browser; the sign-in itself ends at ``expires_at``.
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=is_https(request),
        path="/",
    )
    return response


async def poll(ctx: PluginContext, plex: Plex, request: web.Request) -> web.Response:
    """Where the sign-in stands: ``waiting``, ``signed_in`` (with ``next``), ``refused`` or ``expired``."""
    token = _cookie_token(request)
    assert ctx.sessions is not None
    async with ctx.sessions() as db:
        pending = await db.get(PlexLogin, _digest(token)) if token else None
    if pending is None or pending.expires_at <= datetime.now(UTC):
        return _answer({"status": "expired", "message": "This sign-in has expired. Start again."}, clear=True)
    who = current(request)
    if pending.user_id is not None and (who is None or who.user_id != pending.user_id):
        await _forget(ctx, pending.id)  # the account that started it signed out meanwhile: nothing to link to
        return _answer({"status": "expired", "message": "You signed out meanwhile. Start again."}, clear=True)
    if not await request.config_dict[keys.LIMITS].allow(poll_rate(), "plex-poll", pending.id):
        return _answer({"status": "waiting"})
    try:
        state = await _ask(plex, pending)
    except UpstreamError as exc:
        log.info("plex_pin_poll_failed", error=str(exc))
        return _answer({"status": "waiting", "message": "plex.tv is slow to answer; still waiting."})
    approved = state.token
    if approved is None:
        if not state.alive:
            await _forget(ctx, pending.id)
            return _answer({"status": "expired", "message": "The code has expired. Start again."}, clear=True)
        return _answer({"status": "waiting"})
    await _forget(ctx, pending.id)
    try:
        if pending.user_id is not None:
            user = await link(ctx, plex, approved, request, pending.user_id)
        else:
            user = await admit(ctx, plex, approved, request)
    except Refused as exc:
        return _answer({"status": "refused", "message": str(exc)}, clear=True)
    except UpstreamError as exc:
        log.warning("plex_admission_failed", error=str(exc))
        return _answer(
            {"status": "failed", "message": "Plex could not confirm your access just now; try again."}, clear=True
        )
    if pending.user_id is None:
        await begin_session(request, user["id"])
    else:  # their card shows their libraries now
        assert ctx.events is not None
        await ctx.events.publish(CardUpdated("plex", "server"))
    return _answer({"status": "signed_in", "next": pending.next, "user": user}, clear=True)


def _answer(doc: dict[str, Any], clear: bool = False) -> web.Response:
    response = web.json_response(doc, headers={"Cache-Control": "no-store"})
    if clear:
        response.del_cookie(COOKIE, path="/")
    return response


async def _forget(ctx: PluginContext, login_id: str) -> None:
    assert ctx.sessions is not None
    async with ctx.sessions.begin() as db:
        await db.execute(delete(PlexLogin).where(PlexLogin.id == login_id))


async def admit(ctx: PluginContext, plex: Plex, person_token: str, request: web.Request) -> dict[str, Any]:
    """The MediaNest account of the Plex account behind ``person_token``, made at the first sign-in; raises
    :class:`Refused` for anyone the server is not shared with."""
    account, server_token, is_owner = await _access(ctx, plex, person_token, request)
    return await _account_for(ctx, account, server_token, is_owner, request)


async def _access(ctx: PluginContext, plex: Plex, person_token: str, request: web.Request) -> tuple[Account, str, bool]:
    """The Plex account behind ``person_token``, its token for the owner's server, and whether it is the owner's;
    raises :class:`Refused` for anyone the server is not shared with."""
    try:
        account = await plex.tv.account(person_token)
    except AuthFailed:
        raise Refused("Plex did not accept the sign-in. Start again.") from None
    owner = (await plex.owner()).value
    machine = (await plex.identity()).value.machineIdentifier
    is_owner = account.id == owner.id
    server_token = None
    for resource in await plex.tv.resources(person_token):
        if resource.clientIdentifier == machine and "server" in resource.provides.split(","):
            server_token = resource.accessToken
            break
    if is_owner and server_token is None:
        server_token = plex.owner_token
    if server_token is None:
        await _audit_refusal(ctx, request, account)
        name = (await plex.info()).value.friendlyName or "this Plex server"
        raise Refused(
            f"Your Plex account {account.username} does not have access to {name}. "
            "Ask its owner to share it with you, then sign in again."
        )
    return account, server_token, is_owner


async def link(ctx: PluginContext, plex: Plex, person_token: str, request: web.Request, user_id: int) -> dict[str, Any]:
    """Link the Plex account behind ``person_token`` to the MediaNest account ``user_id`` (one that does not sign
    in with Plex), which keeps its role; raises :class:`Refused` for a Plex account the server is not shared with
    or that belongs to another MediaNest account."""
    account, server_token, is_owner = await _access(ctx, plex, person_token, request)
    assert ctx.sessions is not None
    assert ctx.keyring is not None
    sealed = ctx.keyring.encrypt(server_token, "plex_accounts.server_token")
    return await _unless_raced(lambda: _store_link(ctx, account, sealed, is_owner, request, user_id))


async def _unless_raced(write: Callable[[], Awaitable[_T]]) -> _T:
    """``write()``, and once more when it lost a race with the same write (two browsers finishing the same sign-in
    or link at once, or two processes): the second time it finds what the other made and answers as it then should."""
    try:
        return await write()
    except IntegrityError:
        return await write()


async def _store_link(
    ctx: PluginContext, account: Account, sealed: str, is_owner: bool, request: web.Request, user_id: int
) -> dict[str, Any]:
    assert ctx.sessions is not None
    async with ctx.sessions.begin() as db:
        user = await db.get(User, user_id)
        if user is None or user.status is not UserStatus.ACTIVE:
            raise Refused("This MediaNest account is disabled; ask the admin.")
        taken = await db.scalar(select(PlexAccount).where(PlexAccount.plex_id == account.id))
        if taken is not None and taken.user_id != user_id:
            raise Refused(
                f"Your Plex account {account.username} signs in to another MediaNest account already: sign out and "
                "sign in with Plex to use that one, or ask the admin."
            )
        mine = taken or await db.get(PlexAccount, user_id)
        if mine is None:
            mine = PlexAccount(user_id=user_id, plex_id=account.id, server_token=sealed)
            db.add(mine)
        elif mine.plex_id != account.id:
            raise Refused("Your MediaNest account is linked to another Plex account already; ask the admin.")
        mine.uuid, mine.username, mine.thumb = account.uuid, account.username, account.thumb
        mine.server_token, mine.is_owner = sealed, is_owner
        audit.record(
            db,
            AuditAction.USER_UPDATED,
            actor_id=user_id,
            target=f"user:{user_id}",
            details={"plex_linked": account.username[:150]},
            request=request,
        )
        log.info("plex_account_linked", user_id=user_id)
        return user_doc(user)


async def _audit_refusal(ctx: PluginContext, request: web.Request, account: Account) -> None:
    assert ctx.sessions is not None
    async with ctx.sessions.begin() as db:
        audit.record(
            db,
            AuditAction.LOGIN_FAILED,
            actor_id=None,
            details={"provider": "plex", "plex_username": account.username[:150], "reason": "not shared"},
            request=request,
        )


async def _account_for(
    ctx: PluginContext, account: Account, server_token: str, is_owner: bool, request: web.Request
) -> dict[str, Any]:
    assert ctx.sessions is not None
    assert ctx.keyring is not None
    sealed = ctx.keyring.encrypt(server_token, "plex_accounts.server_token")
    return await _unless_raced(lambda: _store_account(ctx, account, sealed, is_owner, request))


async def _store_account(
    ctx: PluginContext, account: Account, sealed: str, is_owner: bool, request: web.Request
) -> dict[str, Any]:
    assert ctx.sessions is not None
    async with ctx.sessions.begin() as db:
        link = await db.scalar(select(PlexAccount).where(PlexAccount.plex_id == account.id))
        if link is None:
            user = await create_external_user(
                db,
                account.username or account.title or f"plex-{account.id}",
                Role.ADMIN if is_owner else Role.USER,
                provider="plex",
                display_name=account.title or None,
                email=account.email,
                request=request,
            )
            link = PlexAccount(user_id=user.id, plex_id=account.id, server_token=sealed)
            db.add(link)
        else:
            found = await db.get(User, link.user_id)
            assert found is not None
            user = found
        if user.status is not UserStatus.ACTIVE:
            raise Refused("This MediaNest account is disabled; ask the admin.")
        link.uuid, link.username, link.thumb = account.uuid, account.username, account.thumb
        link.server_token, link.is_owner = sealed, is_owner
        user.last_login_at = datetime.now(UTC)
        audit.record(db, AuditAction.LOGIN, actor_id=user.id, details={"provider": "plex"}, request=request)
        return user_doc(user)


async def browse_token(ctx: PluginContext, owner_token: str, user_id: int, is_admin: bool) -> str | None:
    """The token to browse the server with for this person: their own, the owner's for an admin who does not
    sign in with Plex, or ``None`` (they are asked to sign in with Plex)."""
    token = await server_token(ctx, user_id)
    if token is not None:
        return token
    return owner_token if is_admin else None


async def server_token(ctx: PluginContext, user_id: int) -> str | None:
    """The person's own token for the owner's server; ``None`` for an account that does not sign in with Plex."""
    assert ctx.sessions is not None
    assert ctx.keyring is not None
    async with ctx.sessions() as db:
        link = await db.get(PlexAccount, user_id)
    if link is None:
        return None
    return ctx.keyring.decrypt(link.server_token, "plex_accounts.server_token")
