"""Storage: the async engine for SQLite (aiosqlite) or PostgreSQL (asyncpg), and Alembic migrations.

The core's revisions live in ``medianest_core/migrations/versions`` on the branch ``core``; each plugin's live in
its own package on a branch named after it, found through the ``migrations`` hook and applied with the core's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import attrs
from sqlalchemy import event, text
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
            path.parent.mkdir(parents=True, exist_ok=True)
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


def alembic_config(plugin_locations: Sequence[Path] = ()) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    locations = [MIGRATIONS_DIR / "versions", *plugin_locations]
    cfg.set_main_option("version_locations", ":".join(str(p) for p in locations))
    return cfg


@attrs.frozen
class MigrationState:
    current: frozenset[str]
    wanted: frozenset[str]

    @property
    def up_to_date(self) -> bool:
        return self.current == self.wanted

    @property
    def empty(self) -> bool:
        return not self.current


def _script_heads(cfg: Any) -> frozenset[str]:
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory.from_config(cfg).get_heads())


def _current_heads(conn: Connection) -> frozenset[str]:
    from alembic.runtime.migration import MigrationContext

    return frozenset(MigrationContext.configure(conn).get_current_heads())


async def migration_state(engine: AsyncEngine, plugin_locations: Sequence[Path] = ()) -> MigrationState:
    cfg = alembic_config(plugin_locations)
    wanted = await asyncio.to_thread(_script_heads, cfg)
    async with engine.connect() as conn:
        current = await conn.run_sync(_current_heads)
    return MigrationState(current=current, wanted=wanted)


async def upgrade(engine: AsyncEngine, plugin_locations: Sequence[Path] = ()) -> MigrationState:
    """Apply every pending revision of the core and the given plugins; returns the state afterwards."""
    from alembic import command

    state = await migration_state(engine, plugin_locations)
    if state.up_to_date:
        return state
    cfg = alembic_config(plugin_locations)

    def run(conn: Connection) -> None:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")

    async with engine.begin() as conn:
        await conn.run_sync(run)
    return await migration_state(engine, plugin_locations)


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
