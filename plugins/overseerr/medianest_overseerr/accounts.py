"""Which Overseerr user each MediaNest user asks as, for the core (the ``linked_accounts`` hook): read from the
stored links, never from Overseerr. The admin's page of a person shows it, with a link to the row of that person
on the page where links are set (``/overseerr/links/?user=<id>``)."""

from __future__ import annotations

from typing import Final

from medianest_core.types import AccountSource, LinkedAccount, PluginContext
from medianest_overseerr import store

SERVICE: Final = "overseerr"
MANAGE: Final = "/overseerr/links/?user={user_id}"


async def lookup(ctx: PluginContext, user_id: int) -> LinkedAccount | None:
    """The Overseerr user that the MediaNest user ``user_id`` is linked to (its id, and its name as last seen), or
    ``None`` while they have none."""
    assert ctx.sessions is not None
    async with ctx.sessions() as db:
        link = await store.link_of(db, user_id)
    if link is None:
        return None
    return LinkedAccount(SERVICE, str(link.overseerr_user_id), username=link.overseerr_name or None)


def source(ctx: PluginContext) -> AccountSource:
    async def find(user_id: int) -> LinkedAccount | None:
        return await lookup(ctx, user_id)

    return AccountSource(SERVICE, "Overseerr", find, manage=MANAGE)
