"""Semantic layer settings: freshness SLA and the advisor watchlist thresholds (environment, with defaults)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SemanticLayerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FINEFIN_", extra="ignore")

    freshness_sla_hours: float = Field(default=6.0, gt=0, description="Data older than this is flagged stale.")
    watch_withdrawals_min: Decimal = Field(default=Decimal("3000"), description="Monthly withdrawals to flag (EUR).")
    watch_loans_min: Decimal = Field(default=Decimal("20000"), description="Loans outstanding to flag (EUR).")
    watch_investments_min: Decimal = Field(default=Decimal("25000"), description="Investments held to flag (EUR).")
    red_streak_min_months: int = Field(default=3, ge=1, description="Red streak length that puts a customer on watch.")
