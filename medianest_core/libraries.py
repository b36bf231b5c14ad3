"""Media libraries other plugins can put media into, offered by plugins through the ``media_libraries`` hook.

A plugin that downloads media (YouTube, say) never imports the plugin of the media server: it asks
``ctx.libraries.import_folder(LibraryImport(...))``, and the core hands the request to whichever active plugin
offers a library; later ``ctx.libraries.remove_collection(collection_id)`` removes the collection it made. The hook
is asked when needed, so this works in ``medianest worker`` processes too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from medianest_core.types import ImportResult, LibraryImport, MediaLibrary
from medianest_core.upstream import NotFound

if TYPE_CHECKING:
    from medianest_core.runtime import Runtime

log = structlog.get_logger("medianest.libraries")


class NoLibrary(LookupError):
    """No active plugin offers a media library."""


class Libraries:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def available(self) -> list[tuple[str, MediaLibrary]]:
        """The libraries of the active plugins, by plugin name; a plugin whose hook fails offers none."""
        found: list[tuple[str, MediaLibrary]] = []
        for record in self.runtime.plugins.active:
            try:
                offered = self.runtime.plugins.call(record, "media_libraries", ctx=self.runtime.context(record))
            except Exception:
                log.exception("media_libraries_failed", plugin=record.name)
                continue
            found += [(record.name, lib) for lib in offered or () if isinstance(lib, MediaLibrary)]
        return found

    async def import_folder(self, request: LibraryImport) -> ImportResult:
        """Put ``request.path`` into the first library offered and gather it as ``request.collection``.

        Raises :class:`NoLibrary` when no plugin offers one; the library's own errors (its service is down, say)
        pass through, so the caller can try again later."""
        offered = self.available()
        if not offered:
            raise NoLibrary("no media library is available: install and enable a plugin such as medianest-plex")
        plugin, library = offered[0]
        log.info("library_import", plugin=plugin, library=request.library, collection=request.collection)
        return await library.import_folder(request)

    async def remove_collection(self, collection_id: str) -> bool:
        """Remove the collection ``import_folder`` returned, from the library that made it (the first offered).

        True when it is gone, a collection the library does not know included; False when no library offers
        removal. The library's other errors pass through, so the caller can say so or try again later."""
        offered = self.available()
        remove = offered[0][1].remove_collection if offered else None
        if remove is None:
            return False
        plugin = offered[0][0]
        try:
            await remove(collection_id)
        except NotFound:
            log.info("library_collection_already_gone", plugin=plugin, collection_id=collection_id)
        else:
            log.info("library_collection_removed", plugin=plugin, collection_id=collection_id)
        return True
