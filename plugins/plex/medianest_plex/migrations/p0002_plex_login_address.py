"""Sign-ins in progress remember the address they were started from.

Sign-ins in progress are dropped: they last minutes, and a browser that had one simply gets new codes.

Revision ID: p0002_plex_login_address
Revises: p0001_plex
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "p0002_plex_login_address"
down_revision = "p0001_plex"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("DELETE FROM plex_logins"))
    with op.batch_alter_table("plex_logins") as batch:
        batch.add_column(sa.Column("address", sa.String(length=64), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("plex_logins") as batch:
        batch.drop_column("address")
