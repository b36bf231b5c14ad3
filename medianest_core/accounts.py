"""Which accounts at outside services MediaNest users have, offered by plugins through the ``linked_accounts`` hook.

A plugin that must know a person's account at another service (a requests plugin matching them to their
Overseerr user by their Plex account, say) never imports the plugin that knows it: it asks
``await ctx.accounts.find(user_id, "plex")``, and the core asks every active plugin that offers accounts of that
service. The hook is asked when needed, so this works in ``medianest worker`` processes too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from medianest_core.types import AccountSource, LinkedAccount

if TYPE_CHECKING:
    from medianest_core.runtime import Runtime

log = structlog.get_logger("medianest.accounts")


class Accounts:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def sources(self) -> list[tuple[str, AccountSource]]:
        """The account sources of the active plugins, by plugin name, in the plugins' order (by name); a plugin
        whose hook fails offers none, and what is not an :class:`AccountSource` is left out."""
        found: list[tuple[str, AccountSource]] = []
        for record in self.runtime.plugins.active:
            try:
                offered = self.runtime.plugins.call(record, "linked_accounts", ctx=self.runtime.context(record))
            except Exception:
                log.exception("linked_accounts_failed", plugin=record.name)
                continue
            for source in offered or ():
                if isinstance(source, AccountSource):
                    found.append((record.name, source))
                else:
                    log.warning("linked_accounts_ignored", plugin=record.name, offered=type(source).__name__)
        return found

    def services(self) -> list[str]:
        """The services whose accounts some active plugin knows ("plex"), each once, sorted."""
        return sorted({source.service for _, source in self.sources()})

    async def find(self, user_id: int, service: str) -> LinkedAccount | None:
        """The account at ``service`` of the MediaNest user ``user_id``: the answer of the first source of that
        service that knows one, or ``None`` (no source knows one, or no active plugin knows that service).

        A source that raises is logged and counts as knowing none, so the next one is asked."""
        for plugin, source in self.sources():
            if source.service != service:
                continue
            try:
                account = await source.lookup(user_id)
            except Exception:
                log.exception("linked_account_lookup_failed", plugin=plugin, service=service, user_id=user_id)
                continue
            if account is None:
                continue
            if not isinstance(account, LinkedAccount):
                log.warning("linked_account_ignored", plugin=plugin, service=service, answered=type(account).__name__)
                continue
            return account
        return None
