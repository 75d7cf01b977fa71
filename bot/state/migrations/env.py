"""Alembic environment: runs on the connection bot.state.migrate hands over (no alembic.ini, no URL here)."""

from __future__ import annotations

from alembic import context

from bot.state.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable through the alembic CLI, which this project does not use
    raise RuntimeError("run migrations through bot.state.migrate, which passes a connection")

context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True,
                  compare_server_default=True, transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
