"""Alembic environment for MediaNest: runs on the connection that ``medianest_core.db`` hands it."""

from __future__ import annotations

from alembic import context

from medianest_core.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("MediaNest migrations run through `medianest db upgrade`.")

context.configure(
    connection=connection,
    version_table=context.config.attributes.get("version_table", "alembic_version"),
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
