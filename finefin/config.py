"""Configuration from environment variables, with defaults for the embedded mode (nothing to set up)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"


class Settings(BaseSettings):
    """finefin settings; every field reads `FINEFIN_<NAME>` (see README.md, Configuration)."""

    model_config = SettingsConfigDict(env_prefix="FINEFIN_", extra="ignore")

    data_dir: Path = Field(
        default=Path(".finefin"),
        description="Folder for the embedded PostgreSQL, the DuckDB warehouse and local state.",
    )
    source_url: str | None = Field(
        default=None,
        description="PostgreSQL DSN of the operational database; unset starts an embedded PostgreSQL.",
    )
    warehouse: Path | None = Field(
        default=None, description="DuckDB warehouse file; default <data_dir>/warehouse.duckdb."
    )
    target: Literal["duckdb", "snowflake"] = Field(default="duckdb", description="dbt target.")
    ingest_lag_seconds: float = Field(
        default=600.0, ge=0,
        description="How far before its high-water mark the updated_at cursor re-reads (late commits, clock skew).",
    )

    @property
    def data_path(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def warehouse_path(self) -> Path:
        path = self.warehouse if self.warehouse is not None else self.data_path / "warehouse.duckdb"
        return path.expanduser().resolve()

    @property
    def embedded_pgdata(self) -> Path:
        return self.data_path / "pgdata"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
