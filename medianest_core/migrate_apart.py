"""Apply the database's pending revisions in a process of their own: ``serve`` runs for months, and Alembic, Mako
and what they bring (some 12 MB) would stay in its memory after a few seconds of use.

``python -m medianest_core.migrate_apart`` reads ``{"url": …, "plugins": {name: folder}}`` on standard input (the
URL may hold a password: never on the command line), migrates, and exits 0; on failure it prints one line to
standard error and exits 1. :func:`upgrade_apart` runs it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Mapping
from pathlib import Path

from medianest_core import db


async def upgrade_apart(url: str, plugin_locations: Mapping[str, Path]) -> None:
    """Migrate the database at ``url`` in a child process; raises :class:`~medianest_core.db.DatabaseError` with
    the child's one line when it fails."""
    order = json.dumps({"url": url, "plugins": {name: str(path) for name, path in plugin_locations.items()}})
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "medianest_core.migrate_apart",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await child.communicate(order.encode())
    if child.returncode != 0:
        lines = err.decode("utf-8", "replace").strip().splitlines()
        raise db.DatabaseError(lines[-1] if lines else f"the migration process ended with {child.returncode}")


async def _migrate(order: Mapping[str, object]) -> None:
    url = str(order["url"])
    plugins = order.get("plugins")
    locations = {str(k): Path(str(v)) for k, v in plugins.items()} if isinstance(plugins, dict) else {}
    engine = db.create_engine(url)
    try:
        await db.upgrade(engine, locations)
    except db.DatabaseError:
        raise
    except Exception as exc:
        raise db.DatabaseError(db.describe_db_error(exc, url)) from None
    finally:
        await engine.dispose()


def main() -> int:
    try:
        asyncio.run(_migrate(json.loads(sys.stdin.read())))
    except db.DatabaseError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except Exception as exc:  # one line, never a traceback for a person to read
        print(f"cannot migrate the database: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
