"""The Plex plugin's tables: accounts signed in with Plex, sign-ins in progress, the plugin's state.

Revision ID: p0001_plex
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "p0001_plex"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "plex_accounts",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("plex_id", sa.BigInteger(), nullable=False),
        sa.Column("uuid", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("thumb", sa.String(length=500), nullable=True),
        sa.Column("server_token", sa.Text(), nullable=False),
        sa.Column("is_owner", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_plex_accounts_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_plex_accounts")),
        sa.UniqueConstraint("plex_id", name=op.f("uq_plex_accounts_plex_id")),
    )
    op.create_table(
        "plex_logins",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("pin_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("link_pin_id", sa.Integer(), nullable=False),
        sa.Column("link_code", sa.String(length=16), nullable=False),
        sa.Column("next", sa.String(length=500), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plex_logins")),
    )
    op.create_index(op.f("ix_plex_logins_expires_at"), "plex_logins", ["expires_at"])
    op.create_table(
        "plex_state",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_plex_state")),
    )


def downgrade() -> None:
    op.drop_table("plex_state")
    op.drop_index(op.f("ix_plex_logins_expires_at"), table_name="plex_logins")
    op.drop_table("plex_logins")
    op.drop_table("plex_accounts")
