"""Home tab refresh and schedules: `home_opens` (who opened the App Home, when), `subscriptions.at_time` (HH:MM) and
`subscriptions.last_members` (event alerts: the keys last seen matching, to fire once per customer entering).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("subscriptions", sa.Column("at_time", sa.String(5), nullable=True))
    op.add_column("subscriptions", sa.Column("last_members", sa.Text(), nullable=True))
    op.create_table(
        "home_opens",
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("team_id", sa.String(32), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_home_opens")),
    )
    op.create_index(op.f("ix_home_opens_opened_at"), "home_opens", ["opened_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_home_opens_opened_at"), table_name="home_opens")
    op.drop_table("home_opens")
    op.drop_column("subscriptions", "last_members")
    op.drop_column("subscriptions", "at_time")
