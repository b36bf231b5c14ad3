"""The index of the server's films and series by their external ids (TMDB, TheTVDB, IMDb).

Revision ID: p0003_plex_titles
Revises: p0002_plex_login_address
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "p0003_plex_titles"
down_revision = "p0002_plex_login_address"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plex_titles",
        sa.Column("rating_key", sa.String(length=32), nullable=False),
        sa.Column("section_key", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("tmdb_id", sa.Integer(), nullable=True),
        sa.Column("tvdb_id", sa.Integer(), nullable=True),
        sa.Column("imdb_id", sa.String(length=16), nullable=True),
        sa.Column("indexed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("rating_key", name=op.f("pk_plex_titles")),
    )
    op.create_index("ix_plex_titles_kind_tmdb_id", "plex_titles", ["kind", "tmdb_id"])
    op.create_index("ix_plex_titles_kind_tvdb_id", "plex_titles", ["kind", "tvdb_id"])
    op.create_index("ix_plex_titles_imdb_id", "plex_titles", ["imdb_id"])
    op.create_index("ix_plex_titles_section_key", "plex_titles", ["section_key"])


def downgrade() -> None:
    op.drop_index("ix_plex_titles_section_key", table_name="plex_titles")
    op.drop_index("ix_plex_titles_imdb_id", table_name="plex_titles")
    op.drop_index("ix_plex_titles_kind_tvdb_id", table_name="plex_titles")
    op.drop_index("ix_plex_titles_kind_tmdb_id", table_name="plex_titles")
    op.drop_table("plex_titles")
