"""finefin_refresh under a real Airflow (`airflow standalone`: scheduler, dag-processor, triggerer, api-server,
LocalExecutor) rather than `dag.test()`: a triggered run on a small generated source succeeds, every task succeeds
(the status task of each source table and model included: they start and end in the triggerer), and the snapshot is
published with the source's rows. The DAG's graph is read from a `dbt parse` manifest (FINEFIN_DBT_MANIFEST), so
parsing runs no dbt."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import duckdb
import psycopg
import pytest

from bench.airflow_scheduler import running
from bench.bench_airflow import dbt_parse
from ingestion.source import PRIMARY_KEYS, apply_schema
from semantic_layer.snapshots import current
from tests.clock import TODAY

pytestmark = pytest.mark.slow

CUSTOMERS, MONTHS = 30, 2


def _live_source(make_database: Callable[[], str]) -> str:
    """Generated rows ending on the pinned day; the newest row of each table touched now (dbt source freshness
    compares with the warehouse's real clock)."""
    from ingestion.generator import generate

    dsn = make_database()
    apply_schema(dsn)
    generate(dsn, customers=CUSTOMERS, months=MONTHS, seed=5, end_date=TODAY)
    with psycopg.connect(dsn) as pg:
        for table, key in PRIMARY_KEYS.items():
            pg.execute(f"UPDATE {table} SET updated_at = greatest(updated_at, now()) "
                       f"WHERE {key} = (SELECT max({key}) FROM {table})")
    return dsn


def test_refresh_dag_runs_under_a_real_scheduler(make_database: Callable[[], str], tmp_path: Path) -> None:
    dsn = _live_source(make_database)
    data_dir = tmp_path / "data"
    manifest = dbt_parse(tmp_path / "dbt-manifest")
    env = {name: value for name, value in os.environ.items() if not name.startswith("FINEFIN_")}
    env.update({"FINEFIN_SOURCE_URL": dsn, "FINEFIN_DATA_DIR": str(data_dir),
                "FINEFIN_WAREHOUSE": str(data_dir / "warehouse.duckdb"), "FINEFIN_TASK_RETRIES": "0",
                "FINEFIN_REFRESH_SCHEDULE": "none",
                "FINEFIN_DBT_MANIFEST": str(manifest)})
    with running(tmp_path / "airflow", env) as airflow:
        airflow.wait_for_dag("finefin_refresh", timeout=600)
        result = airflow.trigger_and_wait("finefin_refresh", "scheduler_test", timeout=1200)
        failed = {task: state for task, state in result.task_states.items() if state != "success"}
        logs = {task: airflow.task_log("finefin_refresh", result.run_id, task)
                for task, state in failed.items() if state == "failed"}
    assert result.state == "success", (failed, logs)
    assert not failed, (failed, logs)
    tasks = set(result.task_states)
    # ingest, the one dbt task, publish; each source table's and model's status is its own task, from the one build
    models = {p.stem for p in (Path(__file__).resolve().parents[1] / "dbt" / "models").rglob("*.sql")}
    statuses = {f"dbt.{name}" for name in models | {f"raw_{table}" for table in PRIMARY_KEYS}}
    assert tasks == {"ingest", "dbt_build", "publish_warehouse", *statuses}, sorted(tasks)
    # a status task's log says what dbt did for its model (the triggerer writes it)
    assert "model fct_transactions: success" in airflow.task_log("finefin_refresh", result.run_id,
                                                                 "dbt.fct_transactions")

    snapshot = current(data_dir, "warehouse.duckdb")
    assert snapshot.manifest is not None  # the semantic manifest is published with it
    with psycopg.connect(dsn) as pg:
        customers = pg.execute("SELECT count(*) FROM customers").fetchone()
        booked = pg.execute("SELECT count(*), sum(amount) FROM transactions WHERE status = 'booked'").fetchone()
    with duckdb.connect(str(snapshot.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM analytics.dim_customers").fetchone() == customers
        assert con.execute("SELECT count(*), sum(amount) FROM analytics.fct_transactions").fetchone() == booked
