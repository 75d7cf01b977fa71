"""Where the bot's state lives and how long it is kept; every field reads `FINEFIN_<NAME>`."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

STATE_DATABASE = "finefin_state"


class StateSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FINEFIN_", extra="ignore")

    state_url: str | None = Field(
        default=None,
        description="PostgreSQL URL of the bot's state (dedupe keys, post ledger, audit log); unset: a "
        f"`{STATE_DATABASE}` database on the embedded PostgreSQL in FINEFIN_DATA_DIR.",
    )
    audit_retention_days: int = Field(
        default=400, ge=1, description="Audit rows (and post ledger entries) older than this are pruned."
    )
    prune_cron: str = Field(
        default="15 3 * * *", description="When the state_retention DAG prunes the state database (cron, UTC)."
    )
    delivery_key_days: int = Field(
        default=7, ge=1, description="Finished delivery keys older than this are pruned (Slack retries within minutes)."
    )
    timeout_seconds: float = Field(
        default=1.5, gt=0, le=10,
        description="The bot's bound on one state query (and on connecting, at least 2 s): the 3 s ack comes first.",
    )
    ack_pool_size: int = Field(
        default=12, ge=1, le=64,
        description="Connections kept for the delivery claims, per web process (opened on first use): the answer "
        "runtime's 4 admission threads claim, its delivery threads (FINEFIN_DELIVERY_THREADS, 8) complete or "
        "release, the ack threads claim events.",
    )
    claim_timeout_seconds: float = Field(
        default=600.0, gt=0,
        description="A claim still pending after this long counts as free again: the process that held it died.",
    )
