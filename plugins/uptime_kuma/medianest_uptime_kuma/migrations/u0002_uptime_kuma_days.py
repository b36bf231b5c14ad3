"""The beats MediaNest has counted for each monitor by UTC day, and over how many days a 30-day uptime worked out
from them was measured.

Revision ID: u0002_uptime_kuma_days
Revises: u0001_uptime_kuma
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "u0002_uptime_kuma_days"
down_revision = "u0001_uptime_kuma"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("uptime_kuma_monitors", sa.Column("uptime_30d_days", sa.Integer(), nullable=True))
    op.create_table(
        "uptime_kuma_days",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("up", sa.Integer(), nullable=False),
        sa.Column("counted", sa.Integer(), nullable=False),
        sa.Column("last_beat", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["uptime_kuma_monitors.id"],
            name=op.f("fk_uptime_kuma_days_monitor_id_uptime_kuma_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uptime_kuma_days")),
        sa.UniqueConstraint("monitor_id", "day", name=op.f("uq_uptime_kuma_days_monitor_id")),
    )


def downgrade() -> None:
    op.drop_table("uptime_kuma_days")
    # A plain ALTER TABLE … DROP COLUMN (SQLite 3.35 and later, PostgreSQL): copying the table, as a batch would on
    # SQLite, would drop the old one and with it, by cascade, everyone's watches.
    op.drop_column("uptime_kuma_monitors", "uptime_30d_days")
