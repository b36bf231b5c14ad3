"""A sign-in with Plex started by someone already signed in (with a password) links the Plex account to theirs.

Revision ID: p0004_plex_login_user
Revises: p0003_plex_titles
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "p0004_plex_login_user"
down_revision = "p0003_plex_titles"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("plex_logins") as batch:
        batch.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_plex_logins_user_id_users", "users", ["user_id"], ["id"], ondelete="CASCADE")


def downgrade() -> None:
    with op.batch_alter_table("plex_logins") as batch:
        batch.drop_constraint("fk_plex_logins_user_id_users", type_="foreignkey")
        batch.drop_column("user_id")
