"""finefin_refresh: ingest → dbt (source freshness, build) → marts Asset → publish the warehouse snapshot for the
bot. Wiring only: the steps live in `finefin.refresh`, the dbt task modes in `finefin.airflow_dbt`.

FINEFIN_DBT_TASKS=build (default): ingest → dbt_build → publish_warehouse, the same steps as `finefin refresh` in
three tasks, plus a status task per source table and model (`dbt.<name>`, in dbt's lineage) that shows its result of
the one build and costs no worker (it starts and ends in the triggerer). `watcher` and `node` render the build with
cosmos instead (a sensor, or a task, per model; slower: see bench/RESULTS.md).

Parsing this file never opens the warehouse and never runs dbt on every parse (the graph comes from a manifest):
whether a run is a first (full) build or a daily one is decided at run time. Every step that writes the data dir
holds the refresh lock (`finefin.refresh_lock`), so a `finefin refresh` run by hand during a scheduled run fails at
once with a clear line (or this run's task does, and is retried). Every task has an `execution_timeout`
(FINEFIN_TASK_TIMEOUT_SECONDS).

Configuration (environment, read when the DAG is parsed): FINEFIN_REFRESH_SCHEDULE, FINEFIN_INGEST_MODE,
FINEFIN_TARGET, FINEFIN_WAREHOUSE, FINEFIN_DATA_DIR, FINEFIN_DBT_TASKS, FINEFIN_DBT_MANIFEST, FINEFIN_TASK_RETRIES,
FINEFIN_RETRY_DELAY_SECONDS, FINEFIN_MAX_RETRY_DELAY_SECONDS, FINEFIN_TASK_TIMEOUT_SECONDS; alerts go to
FINEFIN_ALERTS_CHANNEL.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, TaskGroup, task

from finefin import airflow_dbt, refresh
from finefin.config import DBT_PROJECT_DIR, get_settings

settings = get_settings()
orchestration = refresh.OrchestrationSettings.from_env()
dbt_tasks = airflow_dbt.dbt_task_mode()  # FINEFIN_DBT_TASKS: build (default), watcher or node
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
    # DuckDB: one process may write the file (only dbt_build, or the watcher's producer, writes); Snowflake: parallel
    max_active_tasks=airflow_dbt.max_active_tasks(dbt_tasks, settings.target),
    default_args=refresh.default_args(orchestration),
    tags=["finefin", "refresh"],
) as dag:

    @task
    def ingest() -> dict[str, Any]:
        """Load the source into `raw` (FINEFIN_INGEST_MODE: dlt or airbyte)."""
        return refresh.ingest(get_settings(), refresh.OrchestrationSettings.from_env().ingest_mode)

    @task(outlets=[SNAPSHOT])
    def publish_warehouse() -> dict[str, Any]:
        """Publish the read-only snapshot the bot reads (its caches drop on the new load id)."""
        return refresh.publish(get_settings(), parse=dbt_tasks != "build")

    if dbt_tasks == "build":
        from finefin.airflow_status import REPORT_KEY, DbtStatusOperator

        @task(task_id=refresh.BUILD_TASK_ID, outlets=[MARTS])
        def dbt_build(*, ti: Any = None, outlet_events: Any = None) -> dict[str, Any]:
            """`dbt source freshness` + `dbt build` + the semantic manifest, in one process as `finefin refresh`;
            every node's result goes to the status tasks (XCom `dbt_status`)."""
            current = get_settings()
            built = refresh.build_and_report(
                current, lambda report: ti.xcom_push(key=REPORT_KEY, value=report),
                last_try=ti.try_number > (ti.task.retries or 0))
            if outlet_events is not None:
                outlet_events[MARTS].extra = {"target": current.target, "warehouse": str(current.warehouse_path)}
            return built

        loaded = ingest()
        loaded >> dbt_build() >> publish_warehouse()
        # beside dbt_build, waiting in the triggerer: each ends within a second of the build's report. No edges
        # between them (each would wait for the one before, a scheduler round each): a model whose parent failed
        # shows dbt's `skipped`, and its task log lists its parents.
        with TaskGroup("dbt", tooltip="each source table's and model's result in dbt_build (no worker of their own)"):
            statuses = [DbtStatusOperator(task_id=node.name, node=node, producer_task_id=refresh.BUILD_TASK_ID,
                                          wait=orchestration.task_with_retries)
                        for node in airflow_dbt.status_nodes(settings.data_path)]
        loaded >> statuses
    else:
        from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
        from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

        @task
        def source_freshness() -> dict[str, str]:
            """Stop before building when a raw table is past its dbt `error_after`."""
            return refresh.check_source_freshness(get_settings())

        @task(task_id=refresh.PLAN_TASK_ID)
        def plan_build() -> dict[str, Any]:
            """Full or daily build, decided now (not when the DAG is parsed): the dbt tasks read this plan."""
            return refresh.plan_build(get_settings())

        # each dbt task holds the refresh lock and applies the run's build plan (full or daily test window); in
        # watcher mode only the producer (the one `dbt build`) does: its sensors only read its results
        lock_hooks = {"pre_execute": refresh.dbt_task_pre_execute, "post_execute": refresh.dbt_task_post_execute}
        watcher = dbt_tasks == "watcher"
        cosmos_build = DbtTaskGroup(
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
                # BUILD rendering): a sensor for the model, then one for all its tests, those spanning several
                # models included (cosmos 1.15 never reports a detached test's result: its sensor would be green).
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

        (ingest() >> source_freshness() >> plan_build() >> cosmos_build >> marts_ready()
         >> publish_warehouse())
