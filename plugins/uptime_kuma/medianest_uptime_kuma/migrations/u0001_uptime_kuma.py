"""The Uptime Kuma plugin's tables: monitors, the poller's state, watches.

Revision ID: u0001_uptime_kuma
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "u0001_uptime_kuma"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "uptime_kuma_monitors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("uk_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=True),
        sa.Column("group", sa.String(length=200), nullable=True),
        sa.Column("type", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("uptime_24h", sa.Float(), nullable=True),
        sa.Column("uptime_30d", sa.Float(), nullable=True),
        sa.Column("cert_days", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("beats", sa.JSON(), nullable=False),
        sa.Column("from_status_page", sa.Boolean(), nullable=False),
        sa.Column("visible", sa.Boolean(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("service", sa.String(length=64), nullable=True),
        sa.Column("down_beats", sa.Integer(), nullable=False),
        sa.Column("alerted", sa.Boolean(), nullable=False),
        sa.Column("seen_at", TS, nullable=False),
        sa.Column("down_since", TS, nullable=True),
        sa.Column("changed_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uptime_kuma_monitors")),
        sa.UniqueConstraint("key", name=op.f("uq_uptime_kuma_monitors_key")),
    )
    op.create_table(
        "uptime_kuma_state",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_uptime_kuma_state")),
    )
    op.create_table(
        "uptime_kuma_watches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_uptime_kuma_watches_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["uptime_kuma_monitors.id"],
            name=op.f("fk_uptime_kuma_watches_monitor_id_uptime_kuma_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uptime_kuma_watches")),
        sa.UniqueConstraint("user_id", "monitor_id", name=op.f("uq_uptime_kuma_watches_user_id")),
    )
    op.create_index("ix_uptime_kuma_watches_monitor_id", "uptime_kuma_watches", ["monitor_id"])


def downgrade() -> None:
    op.drop_index("ix_uptime_kuma_watches_monitor_id", table_name="uptime_kuma_watches")
    op.drop_table("uptime_kuma_watches")
    op.drop_table("uptime_kuma_state")
    op.drop_table("uptime_kuma_monitors")
