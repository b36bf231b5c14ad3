"""The YouTube plugin's tables: downloads and their items.

Revision ID: y0001_youtube
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "y0001_youtube"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "youtube_downloads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.String(length=500), nullable=False),
        sa.Column("source_key", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("quality", sa.String(length=16), nullable=False),
        sa.Column("folder", sa.String(length=1000), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("items_total", sa.Integer(), nullable=False),
        sa.Column("items_done", sa.Integer(), nullable=False),
        sa.Column("items_failed", sa.Integer(), nullable=False),
        sa.Column("bytes_done", sa.BigInteger(), nullable=False),
        sa.Column("progress", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("collection_id", sa.String(length=64), nullable=True),
        sa.Column("import_state", sa.String(length=16), nullable=False),
        sa.Column("import_error", sa.Text(), nullable=True),
        sa.Column("import_attempts", sa.Integer(), nullable=False),
        sa.Column("import_next_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_youtube_downloads_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_youtube_downloads")),
    )
    op.create_index(op.f("ix_youtube_downloads_source_key"), "youtube_downloads", ["source_key"])
    op.create_index(op.f("ix_youtube_downloads_state"), "youtube_downloads", ["state"])
    op.create_index("ix_youtube_downloads_owner_created", "youtube_downloads", ["owner_id", "created_at"])
    op.create_index("ix_youtube_downloads_import", "youtube_downloads", ["import_state", "import_next_at"])
    op.create_table(
        "youtube_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("download_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.String(length=500), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("file", sa.String(length=500), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["download_id"],
            ["youtube_downloads.id"],
            name=op.f("fk_youtube_items_download_id_youtube_downloads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_youtube_items")),
        sa.UniqueConstraint("download_id", "position", name=op.f("uq_youtube_items_download_id")),
    )
    op.create_index(op.f("ix_youtube_items_download_id"), "youtube_items", ["download_id"])


def downgrade() -> None:
    op.drop_table("youtube_items")
    op.drop_table("youtube_downloads")
