"""Delivery keys, post ledger, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _claim_table(name: str) -> None:
    op.create_table(
        name,
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('pending', 'done')", name=op.f(f"ck_{name}_state")),
        sa.PrimaryKeyConstraint("key", name=op.f(f"pk_{name}")),
    )
    op.create_index(op.f(f"ix_{name}_claimed_at"), name, ["claimed_at"])


def upgrade() -> None:
    _claim_table("delivery_keys")
    _claim_table("post_ledger")
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("team_id", sa.String(32), nullable=True),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("roles", postgresql.ARRAY(sa.String(32)), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("command", sa.String(500), nullable=False),
        sa.Column("customer_read", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.CheckConstraint("outcome IN ('answered', 'refused', 'error')", name=op.f("ck_audit_log_outcome")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_index(op.f("ix_audit_log_user_id_at"), "audit_log", ["user_id", "at"])
    op.create_index(op.f("ix_audit_log_customer_read_at"), "audit_log", ["customer_read", "at"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("post_ledger")
    op.drop_table("delivery_keys")
