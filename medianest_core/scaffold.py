"""``medianest plugin new NAME``: a new plugin's distribution, ready to install and to test.

The files come from the folder ``scaffold_files`` of this package: every ``*.tmpl`` file is copied without its
suffix, with ``NAME`` in its path and the markers ``__NAME__``, ``__DIST__``, ``__TITLE__``, ``__CLASS__``,
``__CORE_MIN__`` and ``__CORE_NEXT__`` in its text replaced.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from medianest_core import __version__

FILES: Final = Path(__file__).parent / "scaffold_files"
NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,39}")
"""A plugin's name: a lowercase identifier, as it appears in URLs, settings sections and table names."""


class ScaffoldError(ValueError):
    """A name or a folder the scaffold refuses; the message is one line for the person at the terminal."""


def check_name(name: str) -> str:
    """``name`` if it can name a plugin, else :class:`ScaffoldError` saying why."""
    if not NAME.fullmatch(name) or name.endswith("_") or "__" in name:
        raise ScaffoldError(
            f"{name!r} is not a plugin name: use a lowercase identifier, such as 'weather' or 'home_assistant' "
            "(a letter, then up to 39 letters, digits or single underscores)"
        )
    from medianest_core.app import RESERVED_NAMES

    if name in RESERVED_NAMES or name == "core":  # the core's own paths, and its static files and cards
        raise ScaffoldError(f"{name!r} is a name MediaNest keeps for itself: choose another")
    return name


def _markers(name: str) -> dict[str, str]:
    major, minor = (int(part) for part in __version__.split(".")[:2])
    return {
        "__NAME__": name,
        "__DIST__": name.replace("_", "-"),
        "__TITLE__": name.replace("_", " ").capitalize(),
        "__CLASS__": "".join(part.capitalize() for part in name.split("_")),
        "__CORE_MIN__": f"{major}.{minor}",
        "__CORE_NEXT__": f"{major}.{minor + 1}",
    }


def create(name: str, parent: Path) -> Path:
    """Write the distribution ``medianest-<name>/`` into ``parent`` and answer its folder.

    Refuses a bad name, and a folder that exists and is not empty, with :class:`ScaffoldError`; writes nothing then.
    """
    check_name(name)
    markers = _markers(name)
    target = parent / f"medianest-{markers['__DIST__']}"
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ScaffoldError(f"{target} already exists and is not empty: choose another --dir or remove it")
    if parent.exists() and not parent.is_dir():
        raise ScaffoldError(f"{parent} is not a folder")
    for source in sorted(FILES.rglob("*.tmpl")):
        relative = source.relative_to(FILES).with_suffix("")
        path = target.joinpath(*(part.replace("NAME", name) for part in relative.parts))
        text = source.read_text(encoding="utf-8")
        for marker, value in markers.items():
            text = text.replace(marker, value)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target
