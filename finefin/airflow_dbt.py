"""How finefin_refresh runs `dbt build` under Airflow (FINEFIN_DBT_TASKS), for dags/finefin_refresh.py. Measured
under a real scheduler in bench/RESULTS.md (bench/bench_airflow.py); `build` is the default because it is the fastest
and still shows every source's and model's status.

- `build` (default): one task, `dbt_build`, runs in one process what `finefin refresh` runs: `dbt source freshness`,
  the `dbt build` (dbt's threads: several nodes at once on Snowflake) and the semantic manifest for publish. A
  status task per source table and per model (`dbt.<name>`, `finefin.airflow_status`) shows that node's result with
  dbt's lineage as edges; status tasks start and end in the triggerer, so they cost no task start-up. A failed build
  retries as a whole (incremental models merge: a re-run is safe); its status tasks wait for its last try.
- `watcher`: cosmos ExecutionMode.WATCHER. One `dbt build` (the producer task) runs the whole project with
  dbt's own threads; a sensor per model mirrors that model's result (its tests included) into Airflow. Each sensor is
  a task start-up on a worker beside the producer: slower on a small machine.
- `node`: cosmos ExecutionMode.LOCAL, a task per model (its unit tests, the model, its data tests) plus a task per
  test spanning several models, each retried alone. Each task pays Airflow's task start-up and dbt's parse: slowest.

The graph is read from a dbt manifest, never by running dbt on every parse: FINEFIN_DBT_MANIFEST when it names one
(written at install time by `dbt parse --target-path <dir>`, see README); otherwise, in `build` mode, a manifest
parsed once per version of the project's files under `<data dir>/dbt-target/graph/`, and in the cosmos modes
`dbt ls`, cached in an Airflow Variable until the project's files change (AIRFLOW__COSMOS__ENABLE_CACHE).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from finefin.config import DBT_PROJECT_DIR
from finefin.dbt_status import StatusNode, cached_manifest, load_graph
from finefin.errors import ConfigurationError

DbtTaskMode = Literal["watcher", "node", "build"]
DBT_TASK_MODES: tuple[DbtTaskMode, ...] = ("build", "watcher", "node")
DEFAULT_DBT_TASK_MODE: DbtTaskMode = "build"
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


def status_nodes(data_dir: Path) -> list[StatusNode]:
    """The status tasks of `build` mode, from FINEFIN_DBT_MANIFEST or a manifest parsed once per project version."""
    manifest = manifest_path() or cached_manifest(DBT_PROJECT_DIR, data_dir / "dbt-target" / "graph")
    return load_graph(manifest)


def max_active_tasks(mode: DbtTaskMode, target: str) -> int:
    """DuckDB has one writer: with a task per node, dbt tasks run one after another. In watcher mode only the
    producer writes (the sensors read its results), so the sensors may run beside it; in build mode one task writes
    and the status tasks wait in the triggerer. Snowflake builds in parallel."""
    if target == "duckdb" and mode == "node":
        return 1
    return 8
