"""The audit log's outcome may be `clarified`: a plain-English question answered with a clarifying question.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OLD = "outcome IN ('answered', 'refused', 'error')"
NEW = "outcome IN ('answered', 'clarified', 'refused', 'error')"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_audit_log_outcome"), "audit_log", type_="check")
    op.create_check_constraint(op.f("ck_audit_log_outcome"), "audit_log", NEW)


def downgrade() -> None:
    op.execute("UPDATE audit_log SET outcome = 'refused' WHERE outcome = 'clarified'")
    op.drop_constraint(op.f("ck_audit_log_outcome"), "audit_log", type_="check")
    op.create_check_constraint(op.f("ck_audit_log_outcome"), "audit_log", OLD)
