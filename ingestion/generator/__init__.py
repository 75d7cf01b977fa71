"""Synthetic data for the operational PostgreSQL: a deterministic history (`generate`) and daily activity
(`simulate_days`)."""

from ingestion.generator.generate import GeneratorArgumentError, SourceNotEmptyError, generate
from ingestion.generator.simulate import EmptySourceError, simulate_days
from ingestion.generator.summary import GenerateSummary, SimulateSummary

__all__ = [
    "EmptySourceError", "GenerateSummary", "GeneratorArgumentError", "SimulateSummary", "SourceNotEmptyError",
    "generate", "simulate_days",
]
