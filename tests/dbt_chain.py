"""Test helper: the real chain (PostgreSQL source -> generator -> dlt ingest -> dbt build) in a temp folder,
and small readers for the DuckDB warehouse that never keep the file open."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import yaml

from finefin.config import DBT_PROJECT_DIR, Settings
from finefin.transform import BuildResult, run_dbt_build
from ingestion.generator import generate
from ingestion.pipeline import run_ingest
from ingestion.source import apply_schema
from semantic_layer.service import MetricFlowSemanticLayer
from semantic_layer.settings import SemanticLayerSettings

CUSTOMERS = 200
MONTHS = 8
SEED = 20261124
END_DATE = date(2026, 2, 10)  # a month boundary and a year boundary fall inside the history

MART_TABLES: tuple[str, ...] = (
    "dim_customers", "dim_accounts", "fct_transactions", "fct_scheduled_transactions",
    "fct_account_balances_daily", "fct_account_balances_current", "fct_account_months", "fct_customer_months",
    "metricflow_time_spine",
)


@dataclass
class Chain:
    dsn: str
    root: Path
    warehouse: Path
    data_dir: Path

    @property
    def settings(self) -> Settings:
        return Settings(warehouse=self.warehouse, data_dir=self.data_dir, target="duckdb")

    def ingest(self) -> None:
        run_ingest(self.dsn, self.warehouse, self.data_dir)

    def build(self, *, full_refresh: bool = False, target_path: Path | None = None) -> BuildResult:
        return run_dbt_build(self.settings, full_refresh=full_refresh, target_path=target_path or self.root / "target",
                             progress=False)

    def publish(self) -> None:
        """Publish the built warehouse with the semantic manifest of `build()`, as the refresh does."""
        from semantic_layer.publish import publish_warehouse

        publish_warehouse(self.settings, manifest=self.root / "target" / "semantic_manifest.json")

    def semantic_layer(self, settings: SemanticLayerSettings | None = None) -> MetricFlowSemanticLayer:
        """A semantic layer over the published snapshots (close it with `.engine.close()`)."""
        from semantic_layer.engine import DuckDbSnapshotEngine

        return MetricFlowSemanticLayer(DuckDbSnapshotEngine(self.data_dir, self.warehouse.name), settings)


def make_chain(make_database: Callable[[], str], root: Path, *, customers: int = CUSTOMERS, months: int = MONTHS,
               seed: int = SEED, end_date: date = END_DATE) -> Chain:
    """A fresh source database filled by the generator and ingested into `root/warehouse.duckdb` (not built)."""
    dsn = make_database()
    apply_schema(dsn)
    generate(dsn, customers=customers, months=months, seed=seed, end_date=end_date)
    root.mkdir(parents=True, exist_ok=True)
    chain = Chain(dsn=dsn, root=root, warehouse=root / "warehouse.duckdb", data_dir=root / "data")
    chain.ingest()
    return chain


def query(warehouse: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of one query on the warehouse, opened read-only and closed at once (no lock left behind)."""
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        return conn.execute(sql, list(params)).fetchall()
    finally:
        conn.close()


def columns(warehouse: Path, table: str, schema: str = "analytics") -> list[str]:
    rows = query(warehouse, "select column_name from information_schema.columns where table_schema = ? "
                            "and table_name = ? order by ordinal_position", [schema, table])
    return [r[0] for r in rows]


def project_vars() -> dict[str, Any]:
    """The vars of dbt_project.yml (tier thresholds, lookback), read rather than repeated in tests."""
    return yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
