"""An Airbyte sync recorded by the refresh makes the data fresh for the semantic layer, on DuckDB and Snowflake."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from finefin.config import Settings
from ingestion.airbyte import SyncResult, SyncStatus
from ingestion.airbyte_load_log import record_sync
from semantic_layer.service import LAST_SUCCESSFUL_LOAD_SQL
from tests.dbt_fakesnow import fakesnow_server

STARTED = dt.datetime(2026, 11, 24, 6, 0, tzinfo=dt.UTC)


def _result(job_id: int, status: SyncStatus) -> SyncResult:
    return SyncResult(job_id=job_id, status=status, airbyte_status=status.value, rows_synced=1234, bytes_synced=None,
                      duration_seconds=12.0, waited_seconds=15.0)


def test_duckdb_success_counts_and_failure_does_not(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, warehouse=tmp_path / "warehouse.duckdb", target="duckdb")
    record_sync(settings, _result(7, SyncStatus.SUCCEEDED), STARTED, connection_id="conn-1")
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    (first,) = con.execute(LAST_SUCCESSFUL_LOAD_SQL).fetchone()
    con.close()
    assert first is not None and first > STARTED
    record_sync(settings, _result(8, SyncStatus.FAILED), STARTED, connection_id="conn-1", error="job 8 failed")
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    (after,) = con.execute(LAST_SUCCESSFUL_LOAD_SQL).fetchone()
    rows = con.execute("SELECT run_id, status, rows_loaded, error FROM ops.ingest_runs ORDER BY run_id").fetchall()
    con.close()
    assert after == first  # a failed sync does not make the data look fresh
    assert rows == [("airbyte-7", "success", 1234, None), ("airbyte-8", "failed", 1234, "job 8 failed")]
    # a retried task that follows the same job records it once
    record_sync(settings, _result(8, SyncStatus.FAILED), STARTED, connection_id="conn-1", error="job 8 failed")
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    assert con.execute("SELECT count(*) FROM ops.ingest_runs WHERE run_id = 'airbyte-8'").fetchone() == (1,)
    con.close()


@pytest.fixture()
def restore_env() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.mark.filterwarnings("ignore:The 'insecure_mode' connection property is deprecated:DeprecationWarning")
def test_snowflake_record_is_read_by_the_semantic_layer_client(tmp_path: Path, restore_env: None) -> None:
    from semantic_layer.snowflake_client import SnowflakeClient, connect_kwargs_from_env

    with fakesnow_server(tmp_path / "fakesnow") as fake:
        os.environ.update(fake.env())
        conn = fake.connect()
        conn.cursor().execute("CREATE DATABASE IF NOT EXISTS FINEFIN")
        conn.close()
        settings = Settings(data_dir=tmp_path, target="snowflake")
        record_sync(settings, _result(41, SyncStatus.SUCCEEDED), STARTED, connection_id="conn-9")
        client = SnowflakeClient(connect_kwargs_from_env())
        try:
            _, rows = client.fetch(LAST_SUCCESSFUL_LOAD_SQL)
        finally:
            client.close()
    assert rows[0][0] is not None and rows[0][0].replace(tzinfo=None) > STARTED.replace(tzinfo=None)
