"""Quotas: per-person limits the admin sets.

Revision ID: 0003_quotas
Revises: 0002_auth
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_quotas"
down_revision: str | Sequence[str] | None = "0002_auth"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "quota_overrides",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("quota", sa.String(length=128), nullable=False),
        sa.Column("limit", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_quota_overrides_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "quota", name=op.f("pk_quota_overrides")),
    )


def downgrade() -> None:
    op.drop_table("quota_overrides")
