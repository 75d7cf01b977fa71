"""finefin_refresh: ingest → dbt source freshness → plan the build → dbt build (cosmos: a task per model and its
tests) → marts Asset → publish the warehouse snapshot for the bot. Wiring only: the steps live in `finefin.refresh`.

Parsing this file never opens the warehouse: whether a run is a first (full) build or a daily one is decided by the
`plan_build` task at run time, and every dbt task applies that plan. Every step that writes the data dir holds the
refresh lock (`finefin.refresh_lock`), so a `finefin refresh` run by hand during a scheduled run fails at once with a
clear line (or this run's task does, and is retried). Every task has an `execution_timeout`
(FINEFIN_TASK_TIMEOUT_SECONDS).

Configuration (environment, read when the DAG is parsed): FINEFIN_REFRESH_SCHEDULE, FINEFIN_INGEST_MODE,
FINEFIN_TARGET, FINEFIN_WAREHOUSE, FINEFIN_DATA_DIR, FINEFIN_TASK_RETRIES, FINEFIN_RETRY_DELAY_SECONDS,
FINEFIN_MAX_RETRY_DELAY_SECONDS, FINEFIN_TASK_TIMEOUT_SECONDS; alerts go to FINEFIN_ALERTS_CHANNEL.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, task
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

from finefin import airflow_dbt, refresh
from finefin.config import DBT_PROJECT_DIR, get_settings

settings = get_settings()
orchestration = refresh.OrchestrationSettings.from_env()
dbt_tasks = airflow_dbt.dbt_task_mode()  # FINEFIN_DBT_TASKS: watcher (default), node or build
manifest = airflow_dbt.manifest_path()  # FINEFIN_DBT_MANIFEST: read the graph from it, no `dbt ls` when parsing

MARTS = Asset(name=refresh.MARTS_ASSET_NAME, uri=refresh.MARTS_ASSET_URI)
SNAPSHOT = Asset(name=refresh.SNAPSHOT_ASSET_NAME, uri=refresh.SNAPSHOT_ASSET_URI)

with DAG(
    dag_id="finefin_refresh",
    description="Operational PostgreSQL → warehouse → dbt marts → published snapshot",
    schedule=orchestration.refresh_schedule,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # one writer of the warehouse at a time
    # DuckDB: one process may write the file (in watcher mode only the producer writes); Snowflake builds in parallel
    max_active_tasks=airflow_dbt.max_active_tasks(dbt_tasks, settings.target),
    default_args=refresh.default_args(orchestration),
    tags=["finefin", "refresh"],
) as dag:

    @task
    def ingest() -> dict[str, Any]:
        """Load the source into `raw` (FINEFIN_INGEST_MODE: dlt or airbyte)."""
        return refresh.ingest(get_settings(), refresh.OrchestrationSettings.from_env().ingest_mode)

    @task
    def source_freshness() -> dict[str, str]:
        """Stop before building when a raw table is past its dbt `error_after`."""
        return refresh.check_source_freshness(get_settings())

    @task(task_id=refresh.PLAN_TASK_ID)
    def plan_build() -> dict[str, Any]:
        """Full or daily build, decided now (not when the DAG is parsed): the dbt tasks read this plan."""
        return refresh.plan_build(get_settings())

    # each dbt task holds the refresh lock and applies the run's build plan (full or daily test window); in watcher
    # mode only the producer (the one `dbt build`) does: its sensors only read its results
    lock_hooks = {"pre_execute": refresh.dbt_task_pre_execute, "post_execute": refresh.dbt_task_post_execute}
    dbt_build: Any
    if dbt_tasks == "build":

        @task(task_id="dbt_build")
        def dbt_build_all() -> str:
            """One `dbt build` of the whole project, as `finefin refresh` runs it (no per-model status)."""
            return str(refresh.build(get_settings())).splitlines()[0]

        dbt_build = dbt_build_all()
    else:
        watcher = dbt_tasks == "watcher"
        dbt_build = DbtTaskGroup(
            group_id="dbt_build",
            project_config=ProjectConfig(
                DBT_PROJECT_DIR, env_vars=refresh.dbt_env(settings), install_dbt_deps=False,
                manifest_path=manifest),
            profile_config=ProfileConfig(
                profile_name="finefin", target_name=settings.target,
                profiles_yml_filepath=DBT_PROJECT_DIR / "profiles.yml"),
            execution_config=ExecutionConfig(
                # WATCHER: one `dbt build` (dbt's threads) mirrored into a sensor per model; LOCAL: a task per node
                execution_mode=ExecutionMode.WATCHER if watcher else ExecutionMode.LOCAL,
                invocation_mode=InvocationMode.DBT_RUNNER, dbt_executable_path=refresh.dbt_executable(),
                setup_operator_args=lock_hooks if watcher else None),
            render_config=RenderConfig(
                # LOCAL, BUILD: a model's task = its unit tests, the model, its data tests; tests spanning several
                # models (relationships) get their own task after all their parents. WATCHER, AFTER_EACH (it has no
                # BUILD rendering): a sensor for the model, then one for all its tests, those spanning several models
                # included (cosmos 1.15 never reports a detached test's result: its sensor would be green regardless).
                load_method=LoadMode.DBT_MANIFEST if manifest else LoadMode.DBT_LS,
                test_behavior=TestBehavior.AFTER_EACH if watcher else TestBehavior.BUILD,
                should_detach_multiple_parents_tests=not watcher, invocation_mode=InvocationMode.DBT_RUNNER),
            operator_args=airflow_dbt.WATCHER_SENSOR_ARGS if watcher else lock_hooks,
        )

    @task(outlets=[MARTS])
    def marts_ready(*, outlet_events: Any = None) -> None:
        """Every model and test passed: record an event on the marts Asset."""
        if outlet_events is not None:
            current = get_settings()
            outlet_events[MARTS].extra = {"target": current.target, "warehouse": str(current.warehouse_path)}

    @task(outlets=[SNAPSHOT])
    def publish_warehouse() -> dict[str, Any]:
        """Publish the read-only snapshot the bot reads (its caches drop on the new load id)."""
        return refresh.publish(get_settings())

    ingest() >> source_freshness() >> plan_build() >> dbt_build >> marts_ready() >> publish_warehouse()
