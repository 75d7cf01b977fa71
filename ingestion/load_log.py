"""`ops.ingest_runs` in the warehouse: one row per table per ingest run, read by dbt and the bot for freshness."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from finefin.errors import ConfigurationError

log = logging.getLogger(__name__)

INGEST_RUNS_DDL = """
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.ingest_runs (
    run_id            VARCHAR      NOT NULL,
    table_name        VARCHAR      NOT NULL,
    rows_loaded       BIGINT       NOT NULL,
    high_water_mark   TIMESTAMPTZ,
    started_at        TIMESTAMPTZ  NOT NULL,
    finished_at       TIMESTAMPTZ  NOT NULL,
    duration_seconds  DOUBLE       NOT NULL,
    status            VARCHAR      NOT NULL CHECK (status IN ('success', 'failed')),
    loaded_at         TIMESTAMPTZ  NOT NULL DEFAULT current_timestamp,
    error             VARCHAR,
    PRIMARY KEY (run_id, table_name)
);
"""


@dataclass(frozen=True)
class RunRow:
    """One row of ops.ingest_runs."""

    run_id: str
    table_name: str
    rows_loaded: int
    high_water_mark: datetime | None
    started_at: datetime
    finished_at: datetime
    status: str
    error: str | None = None

    @property
    def duration_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


def write_runs(con: duckdb.DuckDBPyConnection, rows: Sequence[RunRow]) -> None:
    """Append `rows` to ops.ingest_runs (created if missing) in one transaction on an open connection."""
    con.execute("BEGIN")
    try:
        con.execute(INGEST_RUNS_DDL)
        con.executemany(
            "INSERT INTO ops.ingest_runs (run_id, table_name, rows_loaded, high_water_mark, started_at, finished_at,"
            " duration_seconds, status, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(r.run_id, r.table_name, r.rows_loaded, r.high_water_mark, r.started_at, r.finished_at,
              r.duration_seconds, r.status, r.error) for r in rows],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def last_successful_load(warehouse_path: Path) -> datetime | None:
    """When the last ingest run that succeeded for every table finished (UTC), or None if there is none yet."""
    if not Path(warehouse_path).exists():
        return None
    try:
        con = duckdb.connect(str(warehouse_path), read_only=True)
    except duckdb.Error as exc:
        raise ConfigurationError(f"cannot open the warehouse {warehouse_path}: {str(exc).splitlines()[0]}") from exc
    try:
        con.execute("SET TimeZone = 'UTC'")
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'ops' AND table_name = 'ingest_runs'"
        ).fetchone()
        if not exists or not exists[0]:
            return None
        row = con.execute(
            """SELECT max(finished_at) FROM (
                   SELECT run_id, max(finished_at) AS finished_at FROM ops.ingest_runs
                   GROUP BY run_id HAVING bool_and(status = 'success'))"""
        ).fetchone()
    finally:
        con.close()
    return row[0] if row else None
