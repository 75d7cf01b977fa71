"""FINEFIN_DBT_TASKS and FINEFIN_DBT_MANIFEST: the shape of finefin_refresh's dbt step in each mode, parsed as the
dag-processor does, with the graph read from a `dbt parse` manifest (and cosmos forbidden to run `dbt ls`)."""

# ruff: noqa: E402 - assertion rewriting must be registered before the support modules are imported
from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.airflow_support")

from pathlib import Path
from typing import Any

from bench.bench_airflow import dbt_parse
from finefin import airflow_dbt
from finefin.errors import ConfigurationError
from tests.airflow_support import parse_dags

pytest_plugins = ["tests.airflow_support"]

MODELS = ("stg_raw__transactions", "fct_transactions", "dim_customers", "fct_account_balances_daily")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dbt_parse(tmp_path_factory.mktemp("dbt-manifest"))


@pytest.fixture()
def no_dbt_ls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parsing must not run dbt: any `dbt ls` by cosmos fails the parse (so the test)."""
    from cosmos.dbt.graph import DbtGraph

    def refuse(self: Any) -> None:
        raise AssertionError("cosmos ran `dbt ls` while parsing the DAG")

    monkeypatch.setattr(DbtGraph, "load_via_dbt_ls", refuse)
    monkeypatch.setattr(DbtGraph, "load_via_dbt_ls_without_cache", refuse)


def _refresh_dag(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, manifest: Path | None, mode: str,
                 **env: str) -> Any:
    bag = parse_dags(monkeypatch, tmp_path, FINEFIN_DBT_TASKS=mode, FINEFIN_DBT_MANIFEST=str(manifest or ""), **env)
    return bag.get_dag("finefin_refresh")


@pytest.mark.usefixtures("airflow_home", "no_dbt_ls")
def test_watcher_mode_mirrors_each_model_and_its_tests(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                       manifest: Path) -> None:
    dag = _refresh_dag(monkeypatch, tmp_path, manifest, "watcher")
    tasks = {task.task_id: task for task in dag.tasks}
    producer = tasks["dbt_build.dbt_producer_watcher"]
    assert type(producer).__name__ == "DbtProducerWatcherOperator"
    assert sum(type(t).__name__ == "DbtProducerWatcherOperator" for t in dag.tasks) == 1  # one dbt build
    for model in MODELS:
        assert type(tasks[f"dbt_build.{model}.run"]).__name__ == "DbtRunWatcherOperator"
        assert type(tasks[f"dbt_build.{model}.test"]).__name__ == "DbtTestWatcherOperator"
    # no detached multi-parent test tasks: cosmos 1.15 never reports their result (they would always be green);
    # a relationships test counts in each of its parents' `.test` sensor instead
    assert not [task_id for task_id in tasks if task_id.startswith("dbt_build.relationships_")]
    sensor = tasks["dbt_build.fct_transactions.run"]
    assert sensor.poke_interval == airflow_dbt.WATCHER_POKE_SECONDS and sensor.deferrable is False
    # only the producer writes the warehouse, so the sensors may run beside it even on DuckDB
    assert dag.max_active_tasks == 8
    assert "marts_ready" in tasks["dbt_build.dbt_producer_watcher_done"].downstream_task_ids


@pytest.mark.usefixtures("airflow_home", "no_dbt_ls")
def test_node_mode_keeps_a_task_per_model_one_at_a_time_on_duckdb(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                                  manifest: Path) -> None:
    dag = _refresh_dag(monkeypatch, tmp_path, manifest, "node")
    tasks = {task.task_id: task for task in dag.tasks}
    for model in MODELS:
        assert type(tasks[f"dbt_build.{model}_model_build"]).__name__ == "DbtBuildLocalOperator"
    assert dag.max_active_tasks == 1
    snowflake = _refresh_dag(monkeypatch, tmp_path, manifest, "node", FINEFIN_TARGET="snowflake")
    assert snowflake.max_active_tasks == 8
    assert {t.task_id for t in snowflake.tasks} == set(tasks)  # the same DAG shape on Snowflake


@pytest.mark.usefixtures("airflow_home", "no_dbt_ls")
def test_build_mode_is_one_dbt_task_and_no_cosmos(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                  manifest: Path) -> None:
    import os
    import subprocess
    import sys

    dag = _refresh_dag(monkeypatch, tmp_path, manifest, "build")
    assert [task.task_id for task in dag.tasks if task.task_id.startswith("dbt_build")] == ["dbt_build"]
    assert {type(task).__name__ for task in dag.tasks if task.task_id.startswith("dbt.")} == {"DbtStatusOperator"}
    assert dag.max_active_tasks == 8  # one task writes; the status tasks wait in the triggerer
    # every task start parses the DAG file: in build mode that parse does not import dbt (cosmos' DbtTaskGroup
    # would; cosmos itself is imported by its Airflow plugin in every Airflow process anyway)
    probe = ("import runpy, sys; runpy.run_path('dags/finefin_refresh.py'); "
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'dbt', 'duckdb'}))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                            cwd=Path(__file__).resolve().parents[1], env=dict(os.environ), check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.usefixtures("airflow_home")
def test_without_a_manifest_build_mode_parses_the_project_once(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    """No FINEFIN_DBT_MANIFEST: the graph comes from a manifest parsed once per version of the dbt project's files
    (in the data dir), not on every parse of the DAG file."""
    import subprocess

    from finefin import dbt_status

    runs: list[list[str]] = []
    real_run = subprocess.run

    def counted(args: list[str], **kwargs: Any) -> Any:
        runs.append(list(args))
        return real_run(args, **kwargs)

    monkeypatch.setattr(dbt_status.subprocess, "run", counted)
    first = _refresh_dag(monkeypatch, tmp_path, manifest=None, mode="build")
    second = _refresh_dag(monkeypatch, tmp_path, manifest=None, mode="build")
    assert len(runs) == 1 and runs[0][1] == "parse"
    assert set(first.task_dict) == set(second.task_dict)
    assert list((tmp_path / "dbt-target" / "graph").glob("*/manifest.json"))


def test_mode_and_manifest_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FINEFIN_DBT_TASKS", raising=False)
    assert airflow_dbt.dbt_task_mode() == "build"
    monkeypatch.setenv("FINEFIN_DBT_TASKS", " Watcher ")
    assert airflow_dbt.dbt_task_mode() == "watcher"
    monkeypatch.setenv("FINEFIN_DBT_TASKS", "per-model")
    with pytest.raises(ConfigurationError, match="FINEFIN_DBT_TASKS: expected one of build, watcher, node"):
        airflow_dbt.dbt_task_mode()

    monkeypatch.delenv("FINEFIN_DBT_MANIFEST", raising=False)
    assert airflow_dbt.manifest_path() is None
    monkeypatch.setenv("FINEFIN_DBT_MANIFEST", str(tmp_path / "missing.json"))
    with pytest.raises(ConfigurationError, match="FINEFIN_DBT_MANIFEST: no file at"):
        airflow_dbt.manifest_path()
    assert airflow_dbt.max_active_tasks("node", "duckdb") == 1
    assert airflow_dbt.max_active_tasks("watcher", "duckdb") == 8
    assert airflow_dbt.max_active_tasks("node", "snowflake") == 8
