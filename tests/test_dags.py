"""The Airflow DAGs: import cleanly, the task graphs, schedules and retries, and `dag.test()` runs of the posting
DAGs against the fake Slack server (stale data blocked with the reason, failures alerted)."""

# ruff: noqa: E402 - assertion rewriting must be registered before the support modules are imported
from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.bot_support", "tests.airflow_support")

import functools
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bot.blocks import money
from finefin import refresh
from tests.airflow_support import airbyte_env, parse_dags, run_dag, scripted_airbyte, task_states
from tests.bot_support import NOW, build_double
from tests.clock import frozen_at
from tests.fake_slack import FakeSlack

pytest_plugins = ["tests.airflow_support"]

MODELS = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "dbt" / "models").rglob("*.sql"))
RUN_AT = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)


@pytest.fixture()
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


def slack_env(fake: FakeSlack, **extra: str) -> dict[str, str]:
    return {"SLACK_BOT_TOKEN": "xoxb-test", "FINEFIN_SLACK_API_URL": fake.api_url,
            "FINEFIN_ADVISOR_CHANNEL": "CADV", "FINEFIN_DIRECTOR_CHANNEL": "CDIR",
            "FINEFIN_ALERTS_CHANNEL": "CALERT", **extra}


def posts_to(fake: FakeSlack, channel: str) -> list[dict[str, Any]]:
    return [c.params for c in fake.calls_to("chat.postMessage") if c.params.get("channel") == channel]


def text_of(post: dict[str, Any]) -> str:
    blocks = post.get("blocks")
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    return post.get("text", "") + json.dumps(blocks, ensure_ascii=False)


# --------------------------------------------------------------------------------------------------- structure


def test_dagbag_imports_the_dags(airflow_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bag = parse_dags(monkeypatch, tmp_path)
    assert sorted(bag.dag_ids) == ["advisor_watchlist", "director_digest", "finefin_deliveries", "finefin_refresh",
                                   "state_retention"]


def test_refresh_graph(airflow_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The default (FINEFIN_DBT_TASKS=build): ingest → dbt_build → publish_warehouse, as `finefin refresh` runs them,
    and a status task per source table and model beside dbt_build."""
    from finefin.alerts import on_task_failure

    monkeypatch.delenv("FINEFIN_TASK_RETRIES", raising=False)
    dag = parse_dags(monkeypatch, tmp_path, FINEFIN_TASK_RETRIES="3").get_dag("finefin_refresh")
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.timetable.expression == "0 * * * *"  # @hourly by default
    tasks = dag.task_dict
    statuses = {t for t in tasks if t.startswith("dbt.")}
    assert set(tasks) - statuses == {"ingest", refresh.BUILD_TASK_ID, "publish_warehouse"}
    assert tasks["ingest"].downstream_task_ids == {refresh.BUILD_TASK_ID} | statuses
    assert tasks[refresh.BUILD_TASK_ID].downstream_task_ids == {"publish_warehouse"}
    # the status tasks wait beside the build, each on its own (no scheduler round per level of the lineage)
    assert all(tasks[t].upstream_task_ids == {"ingest"} and not tasks[t].downstream_task_ids for t in statuses)
    assert {f"dbt.{m}" for m in MODELS} | {"dbt.raw_transactions", "dbt.raw_customers"} <= statuses
    assert [a.name for a in tasks[refresh.BUILD_TASK_ID].outlets] == [refresh.MARTS_ASSET_NAME]
    assert [a.name for a in tasks["publish_warehouse"].outlets] == [refresh.SNAPSHOT_ASSET_NAME]
    for task in dag.tasks:
        assert task.retries == (0 if task.task_id in statuses else 3), task.task_id  # dbt_build retries for them
        assert task.execution_timeout == timedelta(hours=1), task.task_id  # FINEFIN_TASK_TIMEOUT_SECONDS default
        assert on_task_failure in (task.on_failure_callback or [])


def test_refresh_graph_with_a_task_per_node(airflow_home: Path, monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    from finefin.alerts import on_task_failure

    monkeypatch.delenv("FINEFIN_TASK_RETRIES", raising=False)
    bag = parse_dags(monkeypatch, tmp_path, FINEFIN_TASK_RETRIES="3", FINEFIN_DBT_TASKS="node")
    dag = bag.get_dag("finefin_refresh")
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.max_active_tasks == 1  # one DuckDB writer at a time
    assert dag.timetable.expression == "0 * * * *"  # @hourly by default

    tasks = dag.task_dict
    assert tasks["ingest"].upstream_task_ids == set()
    assert tasks["ingest"].downstream_task_ids == {"source_freshness"}
    dbt_ids = {t for t in tasks if t.startswith("dbt_build.")}
    # one `dbt build --select <model>` task per model of the dbt project (its unit and data tests included);
    # the tests spanning several models (relationships, singular tests) each run after all their parents
    model_tasks = {t for t in dbt_ids if t.endswith("_model_build")}
    assert model_tasks == {f"dbt_build.{m}_model_build" for m in MODELS}
    for test_task in dbt_ids - model_tasks:
        assert test_task.endswith("_test") and len(tasks[test_task].upstream_task_ids) >= 2, test_task
    assert any("relationships_dim_accounts_customer_id" in t for t in dbt_ids)
    roots = {t for t in dbt_ids if not tasks[t].upstream_task_ids & dbt_ids}
    leaves = {t for t in dbt_ids if not tasks[t].downstream_task_ids & dbt_ids}
    assert tasks["source_freshness"].downstream_task_ids == {refresh.PLAN_TASK_ID}
    assert roots and all(tasks[t].upstream_task_ids == {refresh.PLAN_TASK_ID} for t in roots)
    assert tasks[refresh.PLAN_TASK_ID].downstream_task_ids == roots
    assert tasks["marts_ready"].upstream_task_ids == leaves
    assert tasks["marts_ready"].downstream_task_ids == {"publish_warehouse"}
    assert tasks["publish_warehouse"].downstream_task_ids == set()
    # a model waits for the models it selects from: the customer mart after its staging model
    upstream = dag.get_task("dbt_build.dim_customers_model_build").get_flat_relative_ids(upstream=True)
    assert {"dbt_build.stg_raw__customers_model_build", "ingest"} <= upstream

    assert [a.name for a in tasks["marts_ready"].outlets] == [refresh.MARTS_ASSET_NAME]
    assert [a.name for a in tasks["publish_warehouse"].outlets] == [refresh.SNAPSHOT_ASSET_NAME]
    for task in dag.tasks:
        assert task.retries == 3, task.task_id
        assert task.retry_exponential_backoff == 2.0
        assert task.max_retry_delay == timedelta(minutes=30)
        assert on_task_failure in (task.on_failure_callback or [])
        assert task.execution_timeout == timedelta(hours=1), task.task_id  # FINEFIN_TASK_TIMEOUT_SECONDS default
    for dbt_task in dbt_ids:  # every dbt task holds the refresh lock and applies the run's build plan
        assert tasks[dbt_task]._pre_execute_hook is refresh.dbt_task_pre_execute
        assert tasks[dbt_task]._post_execute_hook is refresh.dbt_task_post_execute


def _shape(dag: Any) -> dict[str, Any]:
    """What a DAG version is made of: its tasks, their edges, and the environment each dbt task runs with."""
    return {
        "edges": {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks},
        "env": {t.task_id: dict(getattr(t, "env", None) or {}) for t in dag.tasks},
        "max_active_tasks": dag.max_active_tasks,
    }


def test_parsing_the_refresh_dag_never_opens_the_warehouse(
    airflow_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The DAG's definition must not depend on warehouse state (a parse flipping with a first build's progress made
    23 versions in an hour and could hold a lock a dbt task needed): same DAG with no warehouse and a built one, and
    DuckDB is never opened while parsing."""
    import duckdb

    opened: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        opened.append(str(args[0] if args else kwargs.get("database")))
        raise AssertionError("the DAG parse opened DuckDB")

    warehouse = tmp_path / "warehouse.duckdb"
    with monkeypatch.context() as patch:
        patch.setattr(duckdb, "connect", refuse)
        empty = _shape(parse_dags(monkeypatch, tmp_path, FINEFIN_WAREHOUSE=str(warehouse)).get_dag("finefin_refresh"))
    with duckdb.connect(str(warehouse)) as con:  # a built warehouse, as the old parse-time check recognised it
        con.execute("CREATE TABLE fct_account_balances_daily (account_id INTEGER)")
    with monkeypatch.context() as patch:
        patch.setattr(duckdb, "connect", refuse)
        built = _shape(parse_dags(monkeypatch, tmp_path, FINEFIN_WAREHOUSE=str(warehouse)).get_dag("finefin_refresh"))
    assert opened == []
    assert built == empty
    assert all("FINEFIN_DATA_TEST_WINDOW_DAYS" not in env for env in built["env"].values())


def test_the_build_plan_is_decided_at_run_time(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """plan_build: full before the marts exist, daily after; each dbt task applies the plan it is given."""
    import duckdb

    from finefin.config import Settings

    settings = Settings(data_dir=tmp_path, warehouse=tmp_path / "wh.duckdb")
    assert refresh.plan_build(settings) == {"daily": False, "data_test_window_days": None}
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("CREATE TABLE fct_account_balances_daily (account_id INTEGER)")
    plan = refresh.plan_build(settings)
    assert plan == {"daily": True, "data_test_window_days": refresh.daily_test_window_days()}
    monkeypatch.setenv(refresh.WINDOW_ENV, "999")
    refresh.apply_build_plan(plan)
    assert os.environ[refresh.WINDOW_ENV] == str(refresh.daily_test_window_days())
    refresh.apply_build_plan({"daily": False, "data_test_window_days": None})
    assert os.environ[refresh.WINDOW_ENV] == ""  # dbt's macro reads '' as "every row"


def test_refresh_parses_for_production(airflow_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Snowflake target + Airbyte ingest: same graph, dbt tasks on the snowflake output, built in parallel."""
    duckdb_tasks = set(parse_dags(monkeypatch, tmp_path).get_dag("finefin_refresh").task_dict)
    bag = parse_dags(monkeypatch, tmp_path, FINEFIN_TARGET="snowflake", FINEFIN_INGEST_MODE="airbyte")
    dag = bag.get_dag("finefin_refresh")
    assert dag.max_active_tasks == 8
    assert set(dag.task_dict) == duckdb_tasks  # the same DAG shape; dbt's threads build several nodes at once
    bag = parse_dags(monkeypatch, tmp_path, FINEFIN_TARGET="snowflake", FINEFIN_INGEST_MODE="airbyte",
                     FINEFIN_DBT_TASKS="node")
    dag = bag.get_dag("finefin_refresh")
    assert dag.max_active_tasks == 8
    build = dag.get_task("dbt_build.fct_transactions_model_build")
    assert build.profile_config.target_name == "snowflake"
    assert build.env["FINEFIN_TARGET"] == "snowflake"


def test_posting_graphs_and_local_schedules(airflow_home: Path, monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    bag = parse_dags(monkeypatch, tmp_path, FINEFIN_TIMEZONE="Europe/Paris", FINEFIN_WATCHLIST_CRON="30 6 * * 1-5",
                     FINEFIN_REFRESH_SCHEDULE="*/20 * * * *")
    watchlist, digest = bag.get_dag("advisor_watchlist"), bag.get_dag("director_digest")
    for dag, post in ((watchlist, "post_watchlist"), (digest, "post_digest")):
        assert dag.catchup is False
        assert set(dag.task_dict) == {"freshness_gate", post}
        assert dag.get_task("freshness_gate").downstream_task_ids == {post}
        assert dag.get_task(post).upstream_task_ids == {"freshness_gate"}
        assert all(t.retries == 0 for t in dag.tasks)  # FINEFIN_TASK_RETRIES=0 from parse_dags
    assert watchlist.timetable.expression == "30 6 * * 1-5"
    assert getattr(watchlist.timetable.timezone, "name", watchlist.timetable.timezone) == "Europe/Paris"
    assert digest.timetable.expression == "0 8 1 * *"  # monthly, on the 1st
    # catchup=False timetables look at "now": the clock is pinned to just after the last run. 06:30 Paris is 05:30 UTC
    # in winter and 04:30 UTC in summer; weekends are skipped; the digest runs on the 1st at 08:00 Paris.
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import DataInterval, TimeRestriction

    def next_run(dag: Any, last_run: datetime, now: datetime) -> datetime:
        with frozen_at(now):
            info = coerce_to_core_timetable(dag.timetable).next_dagrun_info(
                last_automated_data_interval=DataInterval.exact(last_run),
                restriction=TimeRestriction(earliest=None, latest=None, catchup=False))
        return info.run_after

    utc = functools.partial(datetime, tzinfo=UTC)
    # Monday 2026-11-23 -> Tuesday
    assert next_run(watchlist, utc(2026, 11, 23, 5, 30), utc(2026, 11, 23, 7)) == utc(2026, 11, 24, 5, 30)
    # Friday 2026-05-29 (summer time), now Sunday the 31st -> Monday 1 June
    assert next_run(watchlist, utc(2026, 5, 29, 4, 30), utc(2026, 5, 31, 7)) == utc(2026, 6, 1, 4, 30)
    # Thursday 31 December -> Friday 1 January, across the year
    assert next_run(watchlist, utc(2026, 12, 31, 5, 30), utc(2026, 12, 31, 7)) == utc(2027, 1, 1, 5, 30)
    # Friday 2028-02-25 -> Monday 28 February, then Tuesday 29 February (leap year)
    assert next_run(watchlist, utc(2028, 2, 25, 5, 30), utc(2028, 2, 27, 7)) == utc(2028, 2, 28, 5, 30)
    assert next_run(watchlist, utc(2028, 2, 28, 5, 30), utc(2028, 2, 28, 7)) == utc(2028, 2, 29, 5, 30)
    # the digest: 1 December 08:00 Paris -> 1 January; 1 February -> 1 March in a leap year
    assert next_run(digest, utc(2026, 12, 1, 7), utc(2026, 12, 31, 7)) == utc(2027, 1, 1, 7)
    assert next_run(digest, utc(2028, 2, 1, 7), utc(2028, 2, 29, 7)) == utc(2028, 3, 1, 7)
    assert bag.get_dag("finefin_refresh").timetable.expression == "*/20 * * * *"


def test_watchlist_can_follow_the_snapshot_asset(airflow_home: Path, monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    bag = parse_dags(monkeypatch, tmp_path, FINEFIN_WATCHLIST_TRIGGER="asset", FINEFIN_REFRESH_SCHEDULE="none")
    assert type(bag.get_dag("finefin_refresh").timetable).__name__ == "NullTimetable"  # manual only
    schedule = bag.get_dag("advisor_watchlist").timetable
    assert refresh.SNAPSHOT_ASSET_NAME in repr(schedule.asset_condition)


# ------------------------------------------------------------------------------------------- posting DAG runs


def test_watchlist_dag_posts_the_watchlist(airflow_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                           slack: FakeSlack) -> None:
    sl = build_double()
    monkeypatch.setattr(refresh, "semantic_layer", lambda: sl)
    bag = parse_dags(monkeypatch, tmp_path, **slack_env(slack))
    run = run_dag(bag, "advisor_watchlist", RUN_AT)
    assert run.state == "success", task_states(run)
    [post] = posts_to(slack, "CADV")
    text = text_of(post)
    for entry in sl.watch.entries:
        assert f"(#{entry.customer_id})" in text and money(entry.value) in text
    assert "months in the red since" in text
    assert posts_to(slack, "CALERT") == []
    # the ledger: a second run of the same day posts nothing more
    run = run_dag(bag, "advisor_watchlist", RUN_AT)
    assert run.state == "success"
    assert len(posts_to(slack, "CADV")) == 1


def test_digest_dag_posts_the_digest(airflow_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                     slack: FakeSlack) -> None:
    sl = build_double()
    monkeypatch.setattr(refresh, "semantic_layer", lambda: sl)
    bag = parse_dags(monkeypatch, tmp_path, **slack_env(slack))
    run = run_dag(bag, "director_digest", datetime(2026, 11, 1, 8, 0, tzinfo=UTC))
    assert run.state == "success", task_states(run)
    [post] = posts_to(slack, "CDIR")
    text = text_of(post)
    growth = sl.monthly_growth(None, 6)
    assert f"Revenue: *{money(growth.current.revenue)}*" in text
    for tier in sl.tiers.tiers:
        assert f"{tier.tier}: *{tier.customers:,d}*" in text
    assert "transactions.png" in slack.uploaded()


def test_stale_warehouse_blocks_the_digest_and_alerts_why(airflow_home: Path, monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path, slack: FakeSlack) -> None:
    sl = build_double()
    sl.last_load_at = NOW - timedelta(days=3)
    monkeypatch.setattr(refresh, "semantic_layer", lambda: sl)
    bag = parse_dags(monkeypatch, tmp_path, **slack_env(slack))
    run = run_dag(bag, "director_digest", datetime(2026, 11, 1, 8, 0, tzinfo=UTC))
    assert run.state == "failed"
    assert task_states(run) == {"freshness_gate": "failed", "post_digest": "upstream_failed"}
    assert posts_to(slack, "CDIR") == []
    [alert] = posts_to(slack, "CALERT")
    text = text_of(alert)
    assert "director_digest.freshness_gate failed" in text
    assert "Refusing to post from stale data: last load 3 days, 0:00:00 ago" in text
    assert "monthly_growth" not in [name for name, _ in sl.calls]  # nothing was queried for the post


def test_failing_post_task_alerts(airflow_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                  slack: FakeSlack) -> None:
    sl = build_double()
    monkeypatch.setattr(refresh, "semantic_layer", lambda: sl)
    slack.error_for("chat.postMessage", "channel_not_found")  # every post fails, the alert too
    bag = parse_dags(monkeypatch, tmp_path, **slack_env(slack))
    run = run_dag(bag, "advisor_watchlist", RUN_AT)
    assert run.state == "failed"
    assert task_states(run) == {"freshness_gate": "success", "post_watchlist": "failed"}
    # the alert was attempted (and failed in turn: logged, the callback does not raise)
    attempts = [c for c in slack.calls if c.method == "chat.postMessage" and c.params.get("channel") == "CALERT"]
    assert len(attempts) == 1
    assert "advisor_watchlist.post_watchlist failed" in attempts[0].params["text"]
    assert "channel_not_found" in attempts[0].params["text"]


def test_missing_channel_fails_the_task_with_a_clear_alert(airflow_home: Path, monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path, slack: FakeSlack) -> None:
    sl = build_double()
    monkeypatch.setattr(refresh, "semantic_layer", lambda: sl)
    env = slack_env(slack)
    del env["FINEFIN_DIRECTOR_CHANNEL"]
    bag = parse_dags(monkeypatch, tmp_path, **env)
    run = run_dag(bag, "director_digest", datetime(2026, 11, 1, 8, 0, tzinfo=UTC))
    assert run.state == "failed"
    [alert] = posts_to(slack, "CALERT")
    assert "FINEFIN_DIRECTOR_CHANNEL is not set" in text_of(alert)


# ------------------------------------------------------------------------------ the refresh DAG in Airbyte mode


@pytest.mark.parametrize("final_status", ["succeeded", "failed"])
def test_refresh_ingest_task_in_airbyte_mode(airflow_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                             slack: FakeSlack, final_status: str) -> None:
    """FINEFIN_INGEST_MODE=airbyte: the ingest task triggers the sync (HTTP scripted); a failed job fails the task
    and the alert names the job and its status. The other tasks are marked success, not run."""
    requests: list[httpx.Request] = []
    client = scripted_airbyte(final_status, requests)
    monkeypatch.setattr(refresh, "ingest", functools.partial(refresh.ingest, airbyte_http=client))
    airbyte_env(monkeypatch)
    bag = parse_dags(monkeypatch, tmp_path, FINEFIN_INGEST_MODE="airbyte", **slack_env(slack))
    run = bag.get_dag("finefin_refresh").test(logical_date=RUN_AT, mark_success_pattern=r"(?!ingest$).*")
    assert [(r.method, r.url.path) for r in requests] == [("POST", "/v1/jobs"), ("GET", "/v1/jobs/42"),
                                                          ("GET", "/v1/jobs/42")]
    states = task_states(run)
    if final_status == "succeeded":
        assert run.state == "success" and states["ingest"] == "success"
        assert posts_to(slack, "CALERT") == []
    else:
        assert run.state == "failed" and states["ingest"] == "failed"
        [alert] = posts_to(slack, "CALERT")
        assert "finefin_refresh.ingest failed" in alert["text"]
        assert "job 42 status failed" in alert["text"]
