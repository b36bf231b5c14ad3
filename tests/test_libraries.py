"""``ctx.libraries``: which library a request goes to, and what removing a collection reports."""

from __future__ import annotations

from typing import Any

import pytest

from medianest_core import ImportResult, LibraryImport, MediaLibrary, hookimpl
from medianest_core.testing import entry_point
from medianest_core.upstream import NotFound, Unavailable


class Library:
    """Offers one library; ``removable`` decides whether it offers ``remove_collection``, ``failure`` what that
    raises."""

    version = "0.1"

    def __init__(self, name: str, *, removable: bool = True, failure: Exception | None = None) -> None:
        self.name = name
        self.removable = removable
        self.failure = failure
        self.collections = {"7"}
        self.asked: list[str] = []

    async def _import(self, request: LibraryImport) -> ImportResult:
        return ImportResult(collection_id="7", items=1, missing=0)

    async def _remove(self, collection_id: str) -> None:
        self.asked.append(collection_id)
        if self.failure is not None:
            raise self.failure
        if collection_id not in self.collections:
            raise NotFound(self.name, "no such collection")
        self.collections.remove(collection_id)

    @hookimpl
    def media_libraries(self) -> list[MediaLibrary]:
        return [MediaLibrary(self.name, self.name.title(), self._import, self._remove if self.removable else None)]


def libraries(medianest_runtime: Any, *plugins: Library) -> Any:
    return medianest_runtime(entry_points=[entry_point(p.name, p) for p in plugins]).libraries


async def test_nothing_is_removed_when_no_library_offers_removal(medianest_runtime: Any) -> None:
    assert await libraries(medianest_runtime).remove_collection("7") is False
    import_only, other = Library("importer", removable=False), Library("other")
    assert await libraries(medianest_runtime, import_only, other).remove_collection("7") is False
    assert other.asked == []  # the collection was made by the first library, so no other one is asked


async def test_the_library_that_imports_removes_and_a_missing_collection_counts_as_removed(
    medianest_runtime: Any,
) -> None:
    plex = Library("plex")
    found = libraries(medianest_runtime, plex)
    made = await found.import_folder(LibraryImport("YouTube", "/media/youtube/bob/Cooking", "Cooking"))
    assert await found.remove_collection(made.collection_id) is True
    assert plex.collections == set()
    assert await found.remove_collection(made.collection_id) is True
    assert await found.remove_collection("404") is True
    assert plex.asked == ["7", "7", "404"]


async def test_a_library_that_fails_lets_the_caller_know(medianest_runtime: Any) -> None:
    down = Library("plex", failure=Unavailable("plex", "not answering"))
    with pytest.raises(Unavailable):
        await libraries(medianest_runtime, down).remove_collection("7")
