"""Record Airbyte syncs in the warehouse's `ops.ingest_runs`, the table freshness is read from.

The dlt pipeline logs its own runs there; in production the refresh triggers an Airbyte sync instead, and without
this record the data would always look stale to the bot and the posting DAGs.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from finefin.config import Settings, snowflake_connect_kwargs
from ingestion.airbyte import SyncResult

SNOWFLAKE_DDL = (
    "CREATE SCHEMA IF NOT EXISTS ops",
    "CREATE TABLE IF NOT EXISTS ops.ingest_runs (run_id VARCHAR NOT NULL, table_name VARCHAR NOT NULL,"
    " rows_loaded BIGINT NOT NULL, high_water_mark TIMESTAMP_TZ, started_at TIMESTAMP_TZ NOT NULL,"
    " finished_at TIMESTAMP_TZ NOT NULL, duration_seconds DOUBLE NOT NULL, status VARCHAR NOT NULL,"
    " loaded_at TIMESTAMP_TZ NOT NULL DEFAULT current_timestamp(), error VARCHAR,"
    " PRIMARY KEY (run_id, table_name))",
)


def record_sync(settings: Settings, result: SyncResult | None, started_at: dt.datetime, *,
                connection_id: str, error: str | None = None) -> str:
    """One row for the sync (table_name `airbyte:<connection id>`): success, or failed with the error."""
    finished_at = dt.datetime.now(dt.UTC)
    run_id = f"airbyte-{result.job_id}" if result is not None else f"airbyte-failed-{uuid.uuid4().hex[:12]}"
    row: dict[str, Any] = {
        "run_id": run_id,
        "table_name": f"airbyte:{connection_id}",
        "rows_loaded": int((result.rows_synced if result is not None else 0) or 0),
        "started_at": started_at,
        "finished_at": finished_at,
        "duration_seconds": (finished_at - started_at).total_seconds(),
        "status": "success" if error is None else "failed",
        "error": error,
    }
    if settings.target == "snowflake":
        _write_snowflake(row)
    else:
        _write_duckdb(settings, row)
    return run_id


def _write_duckdb(settings: Settings, row: dict[str, Any]) -> None:
    import duckdb

    from ingestion.load_log import INGEST_RUNS_DDL, RunRow, write_runs

    con = duckdb.connect(str(settings.warehouse_path))
    try:
        # one row per job: a retried task that follows the same job replaces its record
        con.execute(INGEST_RUNS_DDL)
        con.execute("DELETE FROM ops.ingest_runs WHERE run_id = ? AND table_name = ?",
                    [row["run_id"], row["table_name"]])
        write_runs(con, [RunRow(run_id=row["run_id"], table_name=row["table_name"], rows_loaded=row["rows_loaded"],
                                high_water_mark=None, started_at=row["started_at"], finished_at=row["finished_at"],
                                status=row["status"], error=row["error"])])
    finally:
        con.close()


def _write_snowflake(row: dict[str, Any]) -> None:
    import snowflake.connector

    conn = snowflake.connector.connect(**snowflake_connect_kwargs())
    try:
        cur = conn.cursor()
        for statement in SNOWFLAKE_DDL:
            cur.execute(statement)
        cur.execute("DELETE FROM ops.ingest_runs WHERE run_id = ? AND table_name = ?",
                    [row["run_id"], row["table_name"]])
        cur.execute(
            "INSERT INTO ops.ingest_runs (run_id, table_name, rows_loaded, started_at, finished_at,"
            " duration_seconds, status, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [row["run_id"], row["table_name"], row["rows_loaded"], row["started_at"].replace(tzinfo=None),
             row["finished_at"].replace(tzinfo=None), row["duration_seconds"], row["status"], row["error"]],
        )
    finally:
        conn.close()
