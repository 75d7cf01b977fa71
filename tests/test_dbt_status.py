"""finefin_refresh's status tasks (FINEFIN_DBT_TASKS=build): the status graph read from the dbt manifest, each node's
verdict from the one build's report, the trigger that waits for that report (and for a dbt task that dies without
one), and a `dag.test()` run whose build stops on a stale source: the stale table's task fails with the reason,
what depends on it is upstream_failed, what the build never reached is skipped."""

# ruff: noqa: E402 - assertion rewriting must be registered before the support modules are imported
from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.airflow_support")

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg

from finefin import refresh
from finefin.dbt_status import StatusNode, report, status_graph, verdict
from ingestion.source import PRIMARY_KEYS, apply_schema
from tests.airflow_support import graph_manifest, parse_dags, run_dag, task_states
from tests.clock import TODAY, at

pytest_plugins = ["tests.airflow_support"]

PROJECT = Path(__file__).resolve().parents[1] / "dbt"


@pytest.fixture(scope="module")
def graph() -> dict[str, StatusNode]:
    return {node.name: node for node in status_graph(json.loads(graph_manifest().read_text()))}


def test_one_status_node_per_source_table_and_model(graph: dict[str, StatusNode]) -> None:
    models = {p.stem for p in (PROJECT / "models").rglob("*.sql")}
    assert set(graph) == models | {f"raw_{table}" for table in PRIMARY_KEYS}
    assert graph["raw_transactions"].kind == "source" and graph["raw_transactions"].upstream == ()
    # dbt's lineage: a model after the models and source tables it selects from
    assert graph["stg_raw__transactions"].upstream == ("raw_transactions",)
    assert "stg_raw__customers" in graph["dim_customers"].upstream
    order = list(graph)
    assert all(order.index(up) < order.index(name) for name, node in graph.items() for up in node.upstream)


def test_each_test_counts_for_one_node(graph: dict[str, StatusNode]) -> None:
    members = [uid for node in graph.values() for uid in node.members[1:]]
    assert len(members) == len(set(members))  # no test counted twice
    manifest = json.loads(graph_manifest().read_text())
    tests = {uid for uid, node in manifest["nodes"].items() if node["resource_type"] == "test"}
    assert set(members) == tests | set(manifest["unit_tests"])  # and none left out
    tier_months = graph["fct_customer_tier_months"].members
    # a relationships test counts for the model it is declared on, not the model it points at
    assert any(m.startswith("test.finefin.relationships_fct_customer_tier_months_customer_id") for m in tier_months)
    assert any(m.startswith("unit_test.finefin.fct_customer_tier_months.") for m in tier_months)
    # a singular test on several models counts for the one furthest down the lineage
    assert "test.finefin.assert_account_months_reconcile" in graph["fct_account_months"].members
    assert any(m.startswith("test.finefin.source_unique_raw_transactions_transaction_id")
               for m in graph["raw_transactions"].members)


MODEL = StatusNode("fct_x", "model", "model.finefin.fct_x", ("stg_x",),
                   ("model.finefin.fct_x", "test.finefin.unique_fct_x_id", "unit_test.finefin.fct_x.logic"))
SOURCE = StatusNode("raw_x", "source", "source.finefin.raw.x", (), ("source.finefin.raw.x", "test.finefin.src_x"))


@pytest.mark.parametrize(("results", "error", "expected"), [
    ([("model.finefin.fct_x", "success", "OK", 1.0), ("test.finefin.unique_fct_x_id", "pass", "", 0.1)], None,
     "success"),
    ([("model.finefin.fct_x", "success", "OK", 1.0), ("test.finefin.unique_fct_x_id", "warn", "Got 1", 0.1)], None,
     "success"),
    ([("model.finefin.fct_x", "success", "OK", 1.0), ("test.finefin.unique_fct_x_id", "fail", "Got 3", 0.1)], None,
     "failed"),
    ([("model.finefin.fct_x", "error", "Binder Error", 1.0)], "dbt build failed", "failed"),
    ([("model.finefin.fct_x", "skipped", "", 0.0)], "dbt build failed", "skipped"),
    ([], "dbt source freshness failed: raw.transactions: error", "skipped"),
])
def test_a_model_verdict(results: list[tuple[str, str, str, float]], error: str | None, expected: str) -> None:
    state, lines = verdict(MODEL, report(results, final=True, error=error))
    assert state == expected
    assert len(lines) >= len(results)
    if expected == "failed":
        assert any(message in " ".join(lines) for _, status, message, _ in results if status in {"fail", "error"})
    if not results:
        assert lines[-1] == f"not built by this run: the build stopped: {error}"


def test_a_source_verdict() -> None:
    fresh = report([("source.finefin.raw.x", "pass", "newest row 0:10:00 old", 0.2)], final=True)
    assert verdict(SOURCE, fresh)[0] == "success"
    stale = report([("source.finefin.raw.x", "error", "newest row 5 days old", 0.2)], final=True, error="stale")
    state, lines = verdict(SOURCE, stale)
    assert state == "failed" and "freshness raw.x: error" in lines[0] and "5 days old" in lines[0]
    assert verdict(SOURCE, report([], final=True)) == ("success", ["no freshness threshold and no test on this source"])
    failing_test = report([("test.finefin.src_x", "fail", "Got 2 results", 0.1)], final=True)
    assert verdict(SOURCE, failing_test)[0] == "failed"


# ------------------------------------------------------------------------------------------------- the trigger


def _events(trigger: Any, reports: list[Any], states: list[str | None], monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Run the trigger to its event, XCom reads answered in turn by `reports`, the dbt task's states by `states`."""
    from airflow.sdk.execution_time import xcom

    from finefin import airflow_status

    reads = iter(reports)
    monkeypatch.setattr(xcom.XCom, "get_one", classmethod(lambda cls, **kw: next(reads, reports[-1])))
    looks = iter(states)
    monkeypatch.setattr(airflow_status, "producer_state", lambda dag_id, run_id, task: next(looks, states[-1]))
    monkeypatch.setattr(airflow_status, "SHARED", airflow_status._SharedReads())

    async def collect() -> list[Any]:
        return [event async for event in trigger.run()]

    return asyncio.run(collect())


def _trigger() -> Any:
    from dataclasses import asdict

    from finefin.airflow_status import DbtStatusTrigger

    return DbtStatusTrigger(asdict(MODEL), refresh.BUILD_TASK_ID, dag_id="finefin_refresh", run_id="r1",
                            poll_seconds=0.001)


@pytest.mark.usefixtures("airflow_home")
def test_the_trigger_waits_for_the_final_report(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.triggers.base import TaskFailedEvent, TaskSuccessEvent

    passed = report([("model.finefin.fct_x", "success", "OK", 1.0)], final=True)
    not_final = report([("model.finefin.fct_x", "error", "lock held", 1.0)], final=False, error="lock held")
    # a failed try with a retry left is not the last word: the retry's report is
    events = _events(_trigger(), [None, not_final, None, passed], ["running"], monkeypatch)
    assert len(events) == 1 and isinstance(events[0], TaskSuccessEvent)
    failed = report([("model.finefin.fct_x", "error", "Binder Error", 1.0)], final=True, error="dbt build failed")
    assert isinstance(_events(_trigger(), [failed], ["failed"], monkeypatch)[0], TaskFailedEvent)


def test_what_a_status_task_decides() -> None:
    from finefin.airflow_status import decide

    failed = report([("model.finefin.fct_x", "error", "Binder Error", 1.0)], final=True, error="dbt build failed")
    state, lines = decide(MODEL, failed, "failed", "dbt_build") or ("", [])
    assert state == "failed" and "Binder Error" in lines[0]
    assert decide(MODEL, None, "running", "dbt_build") is None  # keeps waiting
    assert decide(MODEL, report([], final=False, error="lock"), "up_for_retry", "dbt_build") is None
    # killed or timed out without a report: failed, and the log says to look at the dbt task
    state, lines = decide(MODEL, None, "failed", "dbt_build") or ("", [])
    assert state == "failed" and "ended without reporting" in lines[0]
    assert decide(MODEL, None, "upstream_failed", "dbt_build") == (
        "skipped", ["dbt_build did not run (upstream_failed)"])


@pytest.mark.usefixtures("airflow_home")
def test_the_trigger_does_not_wait_for_a_dbt_task_that_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.triggers.base import TaskFailedEvent, TaskSkippedEvent

    assert isinstance(_events(_trigger(), [None], ["running", "failed"], monkeypatch)[0], TaskFailedEvent)
    assert isinstance(_events(_trigger(), [None], ["upstream_failed"], monkeypatch)[0], TaskSkippedEvent)


@pytest.mark.usefixtures("airflow_home")
def test_status_tasks_start_and_end_in_the_triggerer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    dag = parse_dags(monkeypatch, tmp_path).get_dag("finefin_refresh")
    statuses = [task for task in dag.tasks if task.task_id.startswith("dbt.")]
    assert statuses and all(task.start_from_trigger and task.retries == 0 for task in statuses)
    kwargs = statuses[0].start_trigger_args.trigger_kwargs
    assert kwargs["producer_task_id"] == refresh.BUILD_TASK_ID
    # they wait for dbt_build's last try: 1 h per try (FINEFIN_TASK_TIMEOUT_SECONDS), 1 try, no retry delay
    assert statuses[0].start_trigger_args.timeout == timedelta(hours=1)
    retried = parse_dags(monkeypatch, tmp_path, FINEFIN_TASK_RETRIES="2").get_dag("finefin_refresh")
    assert retried.get_task(statuses[0].task_id).start_trigger_args.timeout == timedelta(hours=3, minutes=60)


# --------------------------------------------------------------------------- a build that stops, under dag.test()


@pytest.mark.usefixtures("airflow_home")
def test_a_stale_source_fails_its_status_task_and_stops_the_rest(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, make_database: Callable[[], str]) -> None:
    from ingestion.generator import generate

    dsn = make_database()
    apply_schema(dsn)
    generate(dsn, customers=5, months=1, seed=3, end_date=TODAY)
    with psycopg.connect(dsn) as pg:  # the newest transaction is 5 days older than the real clock (error_after: 3)
        pg.execute("UPDATE transactions SET updated_at = now() - interval '5 days'")
        for table, key in PRIMARY_KEYS.items():
            if table != "transactions":
                pg.execute(f"UPDATE {table} SET updated_at = greatest(updated_at, now()) "
                           f"WHERE {key} = (SELECT max({key}) FROM {table})")
    bag = parse_dags(monkeypatch, tmp_path, FINEFIN_SOURCE_URL=dsn, FINEFIN_WAREHOUSE=str(tmp_path / "wh.duckdb"))
    run = run_dag(bag, "finefin_refresh", at(TODAY, 6))
    states = task_states(run)
    assert str(run.state) == "failed"
    assert states["ingest"] == "success" and states[refresh.BUILD_TASK_ID] == "failed"
    assert states["publish_warehouse"] == "upstream_failed"  # nothing stale is published
    assert states["dbt.raw_transactions"] == "failed"
    assert states["dbt.raw_customers"] == "success"
    # not reached by the stopped build: skipped, not failed (the failure is the stale table's)
    assert states["dbt.stg_raw__transactions"] == "skipped" and states["dbt.metricflow_time_spine"] == "skipped"
    assert "failed" not in {state for task, state in states.items()
                            if task.startswith("dbt.") and task != "dbt.raw_transactions"}
