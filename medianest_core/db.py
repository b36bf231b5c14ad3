"""Storage: the async engine for SQLite (aiosqlite) or PostgreSQL (asyncpg), and Alembic migrations.

The core's revisions live in ``medianest_core/migrations/versions`` on the branch ``core``; each plugin's live in
its own package on a branch named after it, found through the ``migrations`` hook and applied with the core's.
"""

from __future__ import annotations

import ast
import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import attrs
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from medianest_core.settings import DatabaseUrl

MIGRATIONS_DIR: Final = Path(__file__).parent / "migrations"


class DatabaseError(Exception):
    """The database is unreachable or not in the shape this version needs; the message is one line."""


def sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite"):
        return None
    rest = url.split(":///", 1)[1] if ":///" in url else ""
    if not rest or rest.startswith(":memory:"):
        return None
    return Path(rest.split("?", 1)[0])


def create_engine(url: DatabaseUrl | str, echo: bool = False) -> AsyncEngine:
    """An engine for ``url``. SQLite gets WAL mode, foreign keys and a busy timeout; its folder is created."""
    url = str(url)
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path is not None:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not path.exists():
                # Created private: it will hold sessions and sealed secrets. SQLite gives its -wal and -shm files
                # the same mode.
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _: ConnectionPoolEntry) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_async_engine(url, echo=echo, pool_size=5, max_overflow=10, pool_pre_ping=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def describe_db_error(exc: BaseException, url: str) -> str:
    """One line for a failed connection, without the password of the URL."""
    from medianest_core.logs import redact_text

    message = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0] if str(exc).strip() else ""
    return redact_text(f"cannot use the database {url}: {type(exc).__name__}: {message}")


CORE: Final = "core"


@attrs.frozen
class Component:
    """A set of migrations with its own version table: the core's (``alembic_version``) or one plugin's
    (``alembic_version_<plugin>``). Each upgrades on its own, core first, so a plugin that is disabled or
    uninstalled leaves the others untouched."""

    name: str
    path: Path

    @property
    def version_table(self) -> str:
        return "alembic_version" if self.name == CORE else f"alembic_version_{self.name}"


def components(plugin_locations: Mapping[str, Path] | None = None) -> list[Component]:
    core = Component(CORE, MIGRATIONS_DIR / "versions")
    return [core, *(Component(name, path) for name, path in sorted((plugin_locations or {}).items()))]


def alembic_config(component: Component) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", str(component.path))
    cfg.attributes["version_table"] = component.version_table
    return cfg


@attrs.frozen
class MigrationState:
    """Per component: the revisions the database has, and those this code needs."""

    current: Mapping[str, frozenset[str]]
    wanted: Mapping[str, frozenset[str]]

    @property
    def up_to_date(self) -> bool:
        return all(self.current.get(name, frozenset()) == heads for name, heads in self.wanted.items())

    @property
    def empty(self) -> bool:
        return not self.current.get(CORE)

    def describe(self, which: str = "current") -> str:
        revs = self.current if which == "current" else self.wanted
        parts = [f"{name} {', '.join(sorted(revs.get(name, ()))) or '(none)'}" for name in self.wanted]
        return "; ".join(parts)


def _script_heads(cfg: Any) -> frozenset[str]:
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory.from_config(cfg).get_heads())


def declared_heads(path: Path) -> frozenset[str] | None:
    """The heads of a folder of revisions, read from each file's ``revision`` and ``down_revision`` literals
    without importing Alembic (it costs a good part of a second at every start); ``None`` when a file does not
    declare them plainly, and Alembic then decides."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for file in sorted(path.glob("*.py")):
        found: dict[str, Any] = {}
        try:
            tree = ast.parse(file.read_text("utf-8"))
            for node in tree.body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1:
                    target, value = node.targets[0], node.value
                elif isinstance(node, ast.AnnAssign) and node.value is not None:
                    target, value = node.target, node.value
                else:
                    continue
                if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                    found[target.id] = ast.literal_eval(value)
        except (OSError, SyntaxError, ValueError):
            return None
        revision, down = found.get("revision"), found.get("down_revision")
        if not isinstance(revision, str) or "down_revision" not in found:
            return None
        revisions.add(revision)
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list):
            parents.update(str(d) for d in down)
    return frozenset(revisions - parents)


def _wanted_heads(component: Component) -> frozenset[str]:
    heads = declared_heads(component.path)
    return heads if heads is not None else _script_heads(alembic_config(component))


def _current_heads(conn: Connection, version_table: str) -> frozenset[str]:
    if not inspect(conn).has_table(version_table):
        return frozenset()
    rows = conn.execute(text(f'SELECT version_num FROM "{version_table}"'))  # noqa: S608 - our own table name
    return frozenset(str(row[0]) for row in rows)


async def migration_state(engine: AsyncEngine, plugin_locations: Mapping[str, Path] | None = None) -> MigrationState:
    parts = components(plugin_locations)
    wanted = {c.name: await asyncio.to_thread(_wanted_heads, c) for c in parts}
    current: dict[str, frozenset[str]] = {}
    async with engine.connect() as conn:
        for c in parts:
            current[c.name] = await conn.run_sync(_current_heads, c.version_table)
    return MigrationState(current=current, wanted=wanted)


async def upgrade(engine: AsyncEngine, plugin_locations: Mapping[str, Path] | None = None) -> MigrationState:
    """Apply every pending revision: the core's first, then each plugin's; returns the state afterwards."""
    state = await migration_state(engine, plugin_locations)
    if state.up_to_date:
        return state
    from alembic import command

    for component in components(plugin_locations):
        if state.current.get(component.name) == state.wanted[component.name]:
            continue
        cfg = alembic_config(component)

        def run(conn: Connection, cfg: Any = cfg) -> None:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")

        async with engine.begin() as conn:
            await conn.run_sync(run)
    return await migration_state(engine, plugin_locations)


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
