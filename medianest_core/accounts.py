"""Which accounts at outside services MediaNest users have, offered by plugins through the ``linked_accounts`` hook.

A plugin that must know a person's account at another service (a requests plugin matching them to their
Overseerr user by their Plex account, say) never imports the plugin that knows it: it asks
``await ctx.accounts.find(user_id, "plex")``, and the core asks every active plugin that offers accounts of that
service. The hook is asked when needed, so this works in ``medianest worker`` processes too.

The admin's page of a person lists, under "Accounts elsewhere", what every source knows of them
(:meth:`Accounts.of_person`): each lookup is cut at :data:`LOOKUP_TIMEOUT`, so a slow or failing plugin costs
the page one line, never the page.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Final

import attrs
import structlog

from medianest_core.titles import own_path
from medianest_core.types import AccountSource, LinkedAccount

if TYPE_CHECKING:
    from medianest_core.runtime import Runtime

log = structlog.get_logger("medianest.accounts")

LOOKUP_TIMEOUT: Final = 1.0
"""Seconds the admin's page of a person waits for each source's answer (all are asked at once)."""


@attrs.frozen
class AccountLine:
    """What one source knows of a person, as the admin's page of that person shows it: their ``account`` (or
    ``None``: they have none there), or ``failed`` when the source raised, answered something else or took longer
    than :data:`LOOKUP_TIMEOUT`; ``manage`` is the source's page for changing it, for this person, when it is a
    path of MediaNest."""

    plugin: str
    service: str
    title: str
    account: LinkedAccount | None = None
    failed: bool = False
    manage: str | None = None


def manage_path(template: str | None, user_id: int) -> str | None:
    """A source's ``manage`` page for the user ``user_id`` (``{user_id}`` replaced by the id), or ``None`` when
    there is none or it is not a path of MediaNest itself (an admin's link never leads elsewhere)."""
    if not template:
        return None
    return own_path(template.replace("{user_id}", str(user_id)))


def _forget(task: asyncio.Task[Any]) -> None:
    """Retrieve the outcome of a lookup nobody waits for any more, so that it is not reported as never retrieved."""
    if not task.cancelled():
        task.exception()


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

    async def of_person(self, user_id: int, *, timeout: float = LOOKUP_TIMEOUT) -> list[AccountLine]:
        """One :class:`AccountLine` per source of the active plugins (as :meth:`sources` lists them) for the
        MediaNest user ``user_id``. All sources are asked at once and each answer is awaited for ``timeout``
        seconds at most: a lookup that raises, answers what is not a :class:`LinkedAccount` or is still running
        then gives a line marked ``failed`` (and a log line), so this returns within about ``timeout``."""
        sources = self.sources()

        async def ask(source: AccountSource) -> LinkedAccount | None:
            return await source.lookup(user_id)

        tasks = [asyncio.ensure_future(ask(source)) for _, source in sources]
        try:
            if tasks:
                await asyncio.wait(tasks, timeout=timeout)
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
                    task.add_done_callback(_forget)
        lines: list[AccountLine] = []
        for (plugin, source), task in zip(sources, tasks, strict=True):
            account: LinkedAccount | None = None
            failed = True
            context = {"plugin": plugin, "service": source.service, "user_id": user_id}
            if not task.done() or task.cancelled():
                log.warning("linked_account_lookup_slow", seconds=timeout, **context)
            elif (error := task.exception()) is not None:
                log.error("linked_account_lookup_failed", exc_info=error, **context)
            elif task.result() is None or isinstance(task.result(), LinkedAccount):
                account, failed = task.result(), False
            else:
                log.warning("linked_account_ignored", answered=type(task.result()).__name__, **context)
            lines.append(
                AccountLine(plugin, source.service, source.title, account, failed, manage_path(source.manage, user_id))
            )
        return lines
