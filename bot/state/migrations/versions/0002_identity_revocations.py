"""Identity revocations shared by every process (user_change, tokens_revoked, app_uninstalled).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_revocations",
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_identity_revocations")),
    )


def downgrade() -> None:
    op.drop_table("identity_revocations")
