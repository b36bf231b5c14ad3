"""The Overseerr plugin's tables: links to Overseerr users, requests followed, watches.

Revision ID: o0001_overseerr
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "o0001_overseerr"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "overseerr_links",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("overseerr_user_id", sa.Integer(), nullable=False),
        sa.Column("overseerr_name", sa.String(length=200), nullable=True),
        sa.Column("how", sa.String(length=16), nullable=False),
        sa.Column("linked_by", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_overseerr_links_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["linked_by"], ["users.id"], name=op.f("fk_overseerr_links_linked_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_overseerr_links")),
    )
    op.create_index("ix_overseerr_links_overseerr_user_id", "overseerr_links", ["overseerr_user_id"])
    op.create_table(
        "overseerr_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("overseerr_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("overseerr_user_id", sa.Integer(), nullable=True),
        sa.Column("requested_by", sa.String(length=200), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("tmdb_id", sa.Integer(), nullable=False),
        sa.Column("tvdb_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("poster_path", sa.String(length=300), nullable=True),
        sa.Column("seasons", sa.JSON(), nullable=False),
        sa.Column("seasons_available", sa.JSON(), nullable=False),
        sa.Column("is4k", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("watch_url", sa.String(length=500), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("version", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_overseerr_requests_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_overseerr_requests")),
        sa.UniqueConstraint("overseerr_id", name=op.f("uq_overseerr_requests_overseerr_id")),
    )
    op.create_index("ix_overseerr_requests_user_created", "overseerr_requests", ["user_id", "created_at"])
    op.create_index("ix_overseerr_requests_title", "overseerr_requests", ["kind", "tmdb_id"])
    op.create_index("ix_overseerr_requests_state", "overseerr_requests", ["state"])
    op.create_table(
        "overseerr_watches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("tmdb_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_overseerr_watches_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_overseerr_watches")),
        sa.UniqueConstraint("user_id", "kind", "tmdb_id", name=op.f("uq_overseerr_watches_user_id")),
    )
    op.create_index("ix_overseerr_watches_title", "overseerr_watches", ["kind", "tmdb_id"])


def downgrade() -> None:
    op.drop_index("ix_overseerr_watches_title", table_name="overseerr_watches")
    op.drop_table("overseerr_watches")
    op.drop_index("ix_overseerr_requests_state", table_name="overseerr_requests")
    op.drop_index("ix_overseerr_requests_title", table_name="overseerr_requests")
    op.drop_index("ix_overseerr_requests_user_created", table_name="overseerr_requests")
    op.drop_table("overseerr_requests")
    op.drop_index("ix_overseerr_links_overseerr_user_id", table_name="overseerr_links")
    op.drop_table("overseerr_links")
