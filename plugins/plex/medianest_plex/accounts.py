"""Which Plex account each MediaNest user signs in with, for other plugins (through ``ctx.accounts``): the
``linked_accounts`` hook's source, read from ``plex_accounts``, never from plex.tv."""

from __future__ import annotations

from sqlalchemy import select

from medianest_core.models import User
from medianest_core.types import AccountSource, LinkedAccount, PluginContext
from medianest_plex.models import PlexAccount

SERVICE = "plex"


async def lookup(ctx: PluginContext, user_id: int) -> LinkedAccount | None:
    """The Plex account of the user ``user_id`` (their plex.tv id, username, and the email MediaNest has for them),
    as their last sign-in with Plex left it; ``None`` for an account that does not sign in with Plex."""
    assert ctx.sessions is not None
    query = (
        select(PlexAccount.plex_id, PlexAccount.username, User.email)
        .join(User, User.id == PlexAccount.user_id)
        .where(PlexAccount.user_id == user_id)
    )
    async with ctx.sessions() as db:
        row = (await db.execute(query)).first()
    if row is None:
        return None
    plex_id, username, email = row
    return LinkedAccount(SERVICE, str(plex_id), username=username or None, email=email or None)


def source(ctx: PluginContext) -> AccountSource:
    async def find(user_id: int) -> LinkedAccount | None:
        return await lookup(ctx, user_id)

    return AccountSource(SERVICE, "Plex", find)
