"""Configuration from environment variables, with defaults for the embedded mode (nothing to set up)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from finefin.errors import ConfigurationError

SettingsT = TypeVar("SettingsT", bound=BaseSettings)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"
DEFAULT_INGEST_LAG_SECONDS = 600.0
"""How far before its last value the ingestion cursor re-reads (FINEFIN_INGEST_LAG_SECONDS): longer than any source
transaction stays open and any clock skew between the source's writers."""
DEFAULT_SOURCE_CONNECT_TIMEOUT_S = 10.0
DEFAULT_SOURCE_STATEMENT_TIMEOUT_S = 300.0


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
        default=DEFAULT_INGEST_LAG_SECONDS, ge=0,
        description="How far before its high-water mark the updated_at cursor re-reads (late commits, clock skew).",
    )

    source_connect_timeout_s: float = Field(
        default=DEFAULT_SOURCE_CONNECT_TIMEOUT_S, gt=0,
        description="Seconds to wait for a connection to the source PostgreSQL before failing the ingest.",
    )
    source_statement_timeout_s: float = Field(
        default=DEFAULT_SOURCE_STATEMENT_TIMEOUT_S, gt=0,
        description="Longest a single source read may take (a lock held by another session, an overloaded server) "
                    "before the ingest fails with one clear line.",
    )
    refresh_lock_wait_s: float = Field(
        default=0.0, ge=0,
        description="How long a refresh waits for another one on the same data dir; 0 = fail at once.",
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
    """The process's settings; a bad value is a ConfigurationError naming the variable (one line, no traceback)."""
    return load_settings(Settings)


def load_settings(kind: type[SettingsT]) -> SettingsT:
    """Build a settings class from the environment; a pydantic ValidationError becomes one ConfigurationError line
    naming the variable(s), e.g. `FINEFIN_FRESHNESS_SLA_HOURS=0: Input should be greater than 0`."""
    try:
        return kind()
    except ValidationError as exc:
        prefix = str(kind.model_config.get("env_prefix") or "")
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]).upper() if error["loc"] else ""
            # a field read under an alias (SLACK_BOT_TOKEN) is named as set; others carry the prefix
            name = field if field in os.environ else (prefix.upper() + field) if field else kind.__name__
            value = os.environ.get(name)
            shown = f"={value}" if value is not None and "SECRET" not in name and "TOKEN" not in name else ""
            problems.append(f"{name}{shown}: {error['msg']}")
        raise ConfigurationError("invalid setting " + "; ".join(problems)) from None


def default_target_path(target: str) -> Path:
    """Where dbt writes a target's artifacts (manifest, semantic manifest): read by the refresh and the semantic
    layer alike."""
    return DBT_PROJECT_DIR / ("target" if target == "duckdb" else f"target_{target}")


def snowflake_connect_kwargs(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """snowflake.connector.connect() arguments from the same SNOWFLAKE_* variables as the dbt `snowflake` target
    (dbt/profiles.yml): shared by the semantic layer and the Airbyte load log."""
    env = dict(os.environ if env is None else env)
    if not env.get("SNOWFLAKE_ACCOUNT"):
        raise ConfigurationError("SNOWFLAKE_ACCOUNT is not set (needed with FINEFIN_TARGET=snowflake).")
    kwargs: dict[str, Any] = {
        "account": env["SNOWFLAKE_ACCOUNT"],
        "user": env.get("SNOWFLAKE_USER", ""),
        "role": env.get("SNOWFLAKE_ROLE") or None,
        "warehouse": env.get("SNOWFLAKE_WAREHOUSE") or None,
        "database": env.get("SNOWFLAKE_DATABASE", "FINEFIN"),
        "schema": env.get("SNOWFLAKE_SCHEMA", "analytics"),
        "paramstyle": "qmark",
        "client_session_keep_alive": False,
    }
    if env.get("SNOWFLAKE_PRIVATE_KEY_PATH"):
        kwargs["private_key_file"] = env["SNOWFLAKE_PRIVATE_KEY_PATH"]
    else:
        kwargs["password"] = env.get("SNOWFLAKE_PASSWORD", "")
    if env.get("SNOWFLAKE_HOST"):
        kwargs.update(host=env["SNOWFLAKE_HOST"], port=int(env.get("SNOWFLAKE_PORT", "443")),
                      protocol=env.get("SNOWFLAKE_PROTOCOL", "https"))
    return {k: v for k, v in kwargs.items() if v is not None}
