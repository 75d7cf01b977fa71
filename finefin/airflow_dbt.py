"""How finefin_refresh runs `dbt build` under Airflow (FINEFIN_DBT_TASKS), for dags/finefin_refresh.py.

- `watcher`: cosmos ExecutionMode.WATCHER. One `dbt build` (the producer task) runs the whole project with
  dbt's own threads; a sensor per model mirrors that model's result (its tests included) into Airflow, so the graph
  and each model's status stay visible. A failed model's sensor retries by running `dbt build` for that model alone
  (the producer itself is never retried: its retry is skipped).
- `node` (default until watcher mode has run under the refresh lock in production-like runs; see README): cosmos
  ExecutionMode.LOCAL, a task per model (its unit tests, the model, its data tests) plus a task per
  test spanning several models. Each task pays Airflow's task start-up and dbt's parse: slowest.
- `build`: one plain task running the same build as `finefin refresh` (no per-model status in Airflow).

The graph is read from a dbt manifest (LoadMode.DBT_MANIFEST) when FINEFIN_DBT_MANIFEST names one (written at install
time by `dbt parse --target-path <dir>`, see README), so parsing the DAG file runs no dbt at all; otherwise cosmos runs
`dbt ls`, cached in an Airflow Variable until the project's files change (AIRFLOW__COSMOS__ENABLE_CACHE, on by
default).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from finefin.errors import ConfigurationError

DbtTaskMode = Literal["watcher", "node", "build"]
DBT_TASK_MODES: tuple[DbtTaskMode, ...] = ("watcher", "node", "build")
DEFAULT_DBT_TASK_MODE: DbtTaskMode = "node"
# How often a watcher sensor looks at the producer's results (cosmos' default is 10 s: up to 10 s lost per level).
# The sensors poke in their worker slot instead of deferring to the triggerer: a trigger that fires at once (the
# producer already reported the node) races the scheduler, which then marks the sensor failed although its node
# passed ("finished with state success, but the task instance's state attribute is queued"; seen under load).
WATCHER_POKE_SECONDS = 2
WATCHER_SENSOR_ARGS: dict[str, object] = {"poke_interval": WATCHER_POKE_SECONDS, "deferrable": False}


def dbt_task_mode() -> DbtTaskMode:
    """FINEFIN_DBT_TASKS; an unknown value is a ConfigurationError naming the variable and the choices."""
    value = os.environ.get("FINEFIN_DBT_TASKS", "").strip().lower() or DEFAULT_DBT_TASK_MODE
    for mode in DBT_TASK_MODES:
        if value == mode:
            return mode
    raise ConfigurationError(f"FINEFIN_DBT_TASKS: expected one of {', '.join(DBT_TASK_MODES)}, got {value!r}")


def manifest_path() -> Path | None:
    """The dbt manifest the DAG's graph is read from, or None (then cosmos runs `dbt ls`, cached)."""
    configured = os.environ.get("FINEFIN_DBT_MANIFEST", "").strip()
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise ConfigurationError(f"FINEFIN_DBT_MANIFEST: no file at {path} (write it with `dbt parse`)")
        return path
    return None


def max_active_tasks(mode: DbtTaskMode, target: str) -> int:
    """DuckDB has one writer: with a task per node, dbt tasks run one after another. In watcher mode only the
    producer writes (the sensors read its results), so the sensors may run beside it. Snowflake builds in parallel."""
    if target == "duckdb" and mode == "node":
        return 1
    return 8
