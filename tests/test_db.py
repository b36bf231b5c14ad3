from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from example_plugins import WithTables
from sqlalchemy import inspect, select, text

from medianest_core import db
from medianest_core.models import Notification, User
from medianest_core.runtime import prepare_database
from medianest_core.testing import entry_point

CORE_TABLES = {"users", "sessions", "service_settings", "service_status", "notifications", "audit_log"} | {
    "jobs",
    "quick_links",
    "site_texts",
}


def tables(conn: Any) -> set[str]:
    return set(inspect(conn).get_table_names())


async def test_upgrade_creates_the_core_tables(medianest_runtime: Any, medianest_database_url: str) -> None:
    runtime = medianest_runtime(database_url=medianest_database_url)
    state = await prepare_database(runtime, migrate=True)
    assert state.up_to_date
    assert state.current["core"] == {"0005_content"}
    async with runtime.engine.connect() as conn:
        assert await conn.run_sync(tables) >= CORE_TABLES


async def test_plugin_migrations_are_applied_with_the_cores(
    medianest_runtime: Any, medianest_database_url: str
) -> None:
    runtime = medianest_runtime(entry_points=[entry_point("tables", WithTables())], database_url=medianest_database_url)
    state = await prepare_database(runtime, migrate=True)
    assert state.up_to_date
    assert state.current == {"core": {"0005_content"}, "tables": {"t0001_tables"}}
    async with runtime.engine.begin() as conn:
        assert "tables_things" in await conn.run_sync(tables)
        await conn.execute(text("INSERT INTO users (username, role, status) VALUES ('u', 'user', 'active')"))
        await conn.execute(text("INSERT INTO tables_things (owner_id, label) SELECT id, 'x' FROM users"))
    # Up to date means up to date: checking again does not ask for another upgrade.
    again = await db.migration_state(runtime.engine, runtime.migration_locations())
    assert again.up_to_date


async def test_a_plugin_that_is_gone_leaves_the_database_usable(
    medianest_runtime: Any, medianest_settings: Any, medianest_database_url: str
) -> None:
    with_plugin = medianest_runtime(
        entry_points=[entry_point("tables", WithTables())], database_url=medianest_database_url
    )
    await prepare_database(with_plugin, migrate=True)
    await with_plugin.close()
    # The plugin is uninstalled: its revisions stay in its own version table, and the core carries on.
    without = medianest_runtime(database_url=medianest_database_url)
    state = await prepare_database(without, migrate=False)
    assert state.up_to_date


async def test_an_out_of_date_database_is_refused_with_one_line(
    medianest_runtime: Any, medianest_database_url: str
) -> None:
    runtime = medianest_runtime(database_url=medianest_database_url)
    with pytest.raises(db.DatabaseError) as info:
        await prepare_database(runtime, migrate=False)
    message = str(info.value)
    assert message == (
        "the database is not up to date (it has core (none); this version needs core 0005_content): "
        "run `medianest db upgrade`"
    )


async def test_sqlite_migrates_itself_by_default(medianest_runtime: Any) -> None:
    runtime = medianest_runtime()
    state = await prepare_database(runtime)
    assert state.up_to_date


async def test_an_unreachable_database_is_one_line_without_its_password(medianest_runtime: Any) -> None:
    runtime = medianest_runtime(database_url="postgresql://medianest:pw-hunter2@127.0.0.1:1/medianest")
    with pytest.raises(db.DatabaseError) as info:
        await prepare_database(runtime, migrate=False)
    message = str(info.value)
    assert message.startswith("cannot use the database postgresql+asyncpg://medianest:********@127.0.0.1:1/")
    assert "pw-hunter2" not in message
    assert "\n" not in message


async def test_times_come_back_in_utc(medianest_runtime: Any, medianest_database_url: str) -> None:
    runtime = medianest_runtime(database_url=medianest_database_url)
    await prepare_database(runtime, migrate=True)
    async with runtime.sessions.begin() as session:
        user = User(username="tz")
        session.add(user)
        await session.flush()
        session.add(Notification(user_id=user.id, title="hi", created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)))
    async with runtime.sessions() as session:
        note = await session.scalar(select(Notification))
        assert note is not None
        assert note.created_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        assert note.created_at.tzinfo is not None
        created = await session.scalar(select(User.created_at))
        assert created is not None
        assert created.tzinfo is not None


@pytest.mark.parametrize("component", ["core", "tables"])
def test_the_quick_head_check_agrees_with_alembic(component: str) -> None:
    from pathlib import Path

    folder = Path(__file__).parent / "example_migrations" if component == "tables" else db.MIGRATIONS_DIR / "versions"
    part = db.Component(component, folder)
    assert db.declared_heads(folder) == db._script_heads(db.alembic_config(part))
    assert db.declared_heads(folder)


def test_the_quick_head_check_steps_aside_for_unusual_files(tmp_path: Any) -> None:
    (tmp_path / "r1.py").write_text("revision = make_id()\ndown_revision = None\n")
    assert db.declared_heads(tmp_path) is None
    (tmp_path / "r1.py").write_text('revision = "a"\ndown_revision = None\n')
    (tmp_path / "r2.py").write_text('revision = "b"\ndown_revision = "a"\n')
    (tmp_path / "r3.py").write_text('revision: str = "c"\ndown_revision: str | None = "a"\n')
    assert db.declared_heads(tmp_path) == frozenset({"b", "c"})
