"""Airflow for tests: one AIRFLOW_HOME (SQLite, migrated once per session), DagBag parsing with a given environment,
and `dag.test()` runs. Airflow reads its configuration when first imported, so nothing here imports it at module
level: the session fixture sets the environment first.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DAGS_DIR = PROJECT_ROOT / "dags"

# Variables a test may set through `parse_dags(..., env=...)`; all are cleared first so the developer's shell
# cannot change what the tests see.
FINEFIN_VARS = (
    "FINEFIN_DATA_DIR", "FINEFIN_SOURCE_URL", "FINEFIN_WAREHOUSE", "FINEFIN_TARGET", "FINEFIN_INGEST_MODE",
    "FINEFIN_REFRESH_SCHEDULE", "FINEFIN_TIMEZONE", "FINEFIN_WATCHLIST_CRON", "FINEFIN_WATCHLIST_TRIGGER",
    "FINEFIN_DIGEST_CRON", "FINEFIN_TASK_RETRIES", "FINEFIN_RETRY_DELAY_SECONDS", "FINEFIN_MAX_RETRY_DELAY_SECONDS",
    "FINEFIN_ADVISOR_CHANNEL", "FINEFIN_DIRECTOR_CHANNEL", "FINEFIN_ALERTS_CHANNEL", "FINEFIN_SLACK_API_URL",
    "FINEFIN_FRESHNESS_SLA_HOURS", "FINEFIN_ADVISOR_ASSIGNMENTS", "SLACK_BOT_TOKEN", "FINEFIN_DBT_TASKS",
    "FINEFIN_DBT_MANIFEST",
)


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A migrated Airflow metadata DB (SQLite) and the configuration pointing at the project's dags/."""
    if "airflow" in sys.modules:
        pytest.fail("airflow was imported before the test Airflow environment was set up")
    home = tmp_path_factory.mktemp("airflow_home")
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        # cosmos runs `dbt ls` while parsing finefin_refresh: 5-10 s alone, over 30 s (the default) on 2 busy cores
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "300",
        "AIRFLOW__COSMOS__ENABLE_CACHE": "True",
        "DO_NOT_TRACK": "1",
    }
    previous = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    result = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True,
                            env=os.environ.copy(), timeout=300)
    if result.returncode != 0:
        pytest.fail(f"airflow db migrate failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    yield home
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@functools.cache
def graph_manifest() -> Path:
    """One `dbt parse` manifest of the project per test process, for FINEFIN_DBT_MANIFEST (as at install time)."""
    from finefin.config import DBT_PROJECT_DIR
    from finefin.dbt_status import cached_manifest

    return cached_manifest(DBT_PROJECT_DIR, Path(tempfile.mkdtemp(prefix="finefin_graph_")))


def parse_dags(monkeypatch: pytest.MonkeyPatch, data_dir: Path, **env: str) -> Any:
    """Set FINEFIN_* (`env`; data dir, retries=0, the default FINEFIN_DBT_TASKS and a manifest parsed once per test
    process by default) then parse dags/ as the DAG processor would.

    Returns the DagBag; fails the test on any import error. Cached settings and the process's semantic layer are
    dropped so the DAG files and the tasks read this environment.
    """
    from airflow.dag_processing.dagbag import DagBag

    from finefin.config import get_settings
    from semantic_layer import reset_semantic_layer

    for name in FINEFIN_VARS:
        monkeypatch.delenv(name, raising=False)
    # `dag.test()` runs one task at a time in no set order: in the default mode the status tasks come after
    # dbt_build; a cosmos watcher sensor picked before its producer would wait forever (watcher mode is measured
    # under a real scheduler by bench/bench_airflow.py; its DAG shape is checked in test_airflow_dbt_tasks.py)
    values = {"FINEFIN_DATA_DIR": str(data_dir), "FINEFIN_TASK_RETRIES": "0",
              "FINEFIN_DBT_MANIFEST": str(graph_manifest()), **env}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    reset_semantic_layer()
    bag = DagBag(dag_folder=str(DAGS_DIR))
    assert bag.import_errors == {}, bag.import_errors
    return bag


def run_dag(bag: Any, dag_id: str, logical_date: datetime) -> Any:
    """`dag.test()` one run; returns the DagRun (its task instances via `task_states`)."""
    return bag.get_dag(dag_id).test(logical_date=logical_date)


def task_states(dag_run: Any) -> dict[str, str]:
    from airflow.utils.session import create_session

    with create_session() as session:
        return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances(session=session)}


# --- a scripted Airbyte API (httpx.MockTransport) for the airbyte ingest mode

AIRBYTE_URL = "https://api.example.test/v1"


def airbyte_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINEFIN_AIRBYTE_URL", AIRBYTE_URL)
    monkeypatch.setenv("FINEFIN_AIRBYTE_CONNECTION_ID", "9f1c6a4e-1111-4c2b-9d3e-000000000001")
    monkeypatch.setenv("FINEFIN_AIRBYTE_TOKEN", "tok-test")
    monkeypatch.setenv("FINEFIN_AIRBYTE_POLL_INTERVAL_SECONDS", "0.01")
    monkeypatch.setenv("FINEFIN_AIRBYTE_MAX_POLL_INTERVAL_SECONDS", "0.01")


def scripted_airbyte(final_status: str, requests: list[httpx.Request]) -> httpx.Client:
    statuses = iter(["running", final_status])

    def job(status: str) -> dict[str, Any]:
        return {"jobId": 42, "connectionId": "9f1c6a4e-1111-4c2b-9d3e-000000000001", "jobType": "sync",
                "startTime": "2026-11-24T13:00:00Z", "status": status, "rowsSynced": 1234, "duration": "PT1M"}

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.method == "POST" and request.url.path == "/v1/jobs":
            return httpx.Response(200, json=job("pending"))
        if request.method == "GET" and request.url.path == "/v1/jobs/42":
            return httpx.Response(200, json=job(next(statuses)))
        return httpx.Response(404, json={"message": "unscripted"})

    return httpx.Client(transport=httpx.MockTransport(handler))
