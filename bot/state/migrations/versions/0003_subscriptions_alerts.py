"""Subscriptions and alerts that users set up in Slack (issue 16). Their deliveries use the post ledger's keys.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("owner_user_id", sa.String(32), nullable=False),
        sa.Column("owner_team_id", sa.String(32), nullable=True),
        sa.Column("query", sa.String(1000), nullable=False),
        sa.Column("cadence", sa.String(16), nullable=False),
        sa.Column("condition", sa.String(64), nullable=True),
        sa.Column("target", sa.String(32), nullable=True),
        sa.Column("paused", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("disabled_reason", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_state", sa.String(16), nullable=True),
        sa.Column("last_period", sa.String(32), nullable=True),
        sa.Column("stale_notified", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.CheckConstraint("kind IN ('subscription', 'alert')", name=op.f("ck_subscriptions_kind")),
        sa.CheckConstraint("cadence IN ('daily', 'weekly', 'monthly')", name=op.f("ck_subscriptions_cadence")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
    )
    op.create_index(op.f("ix_subscriptions_owner_user_id"), "subscriptions", ["owner_user_id"])
    op.create_index(op.f("ix_subscriptions_paused_kind"), "subscriptions", ["paused", "kind"])


def downgrade() -> None:
    op.drop_index(op.f("ix_subscriptions_paused_kind"), table_name="subscriptions")
    op.drop_index(op.f("ix_subscriptions_owner_user_id"), table_name="subscriptions")
    op.drop_table("subscriptions")
