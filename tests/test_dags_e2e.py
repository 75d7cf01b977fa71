"""`dag.test()` of finefin_refresh end to end on a small generated data set: PostgreSQL → dlt → DuckDB → cosmos dbt
build → marts Asset → published snapshot; then the posting DAGs on that warehouse through the fake Slack server.
Also the refresh steps on their own: source freshness gate, Airbyte ingest mode (HTTP mocked)."""

# ruff: noqa: E402 - assertion rewriting must be registered before the support modules are imported
from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.airflow_support")

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import psycopg

from finefin import refresh
from finefin.config import Settings
from finefin.errors import ConfigurationError
from ingestion.source import PRIMARY_KEYS, apply_schema
from semantic_layer.inputs import Month
from tests.airflow_support import airbyte_env, parse_dags, run_dag, scripted_airbyte, task_states
from tests.clock import TODAY, at
from tests.dbt_oracle import load_oracle
from tests.fake_slack import FakeSlack

pytest_plugins = ["tests.airflow_support"]

CUSTOMERS, MONTHS = 50, 3
RUN_DATES = (TODAY, date(2027, 1, 1))  # the pinned day, and a 1st of January (digest day, across a year)


@dataclass
class Refreshed:
    """One finefin_refresh run on generated data, shared by the tests of this module."""

    data_dir: Path
    warehouse: Path
    dsn: str
    states: dict[str, str]
    run_state: str
    env: dict[str, str]
    day: date


@pytest.fixture(scope="module", params=RUN_DATES, ids=str)
def refreshed(request: pytest.FixtureRequest, airflow_home: Path, make_database: Callable[[], str],
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Refreshed]:
    """The data ends on the run's day (a pinned date, never the wall clock), the DAG runs on that day."""
    from ingestion.generator import generate

    day: date = request.param
    dsn = make_database()
    apply_schema(dsn)
    generate(dsn, customers=CUSTOMERS, months=MONTHS, seed=11, end_date=day)
    # A live source: dbt's source freshness compares the newest updated_at with the warehouse's clock, which is the
    # real one: one row of every table is touched now (its data unchanged), as a running application would.
    with psycopg.connect(dsn) as pg:
        for table, key in PRIMARY_KEYS.items():
            pg.execute(f"UPDATE {table} SET updated_at = greatest(updated_at, now()) "
                       f"WHERE {key} = (SELECT max({key}) FROM {table})")
    data_dir = tmp_path_factory.mktemp("refresh")
    env = {"FINEFIN_SOURCE_URL": dsn, "FINEFIN_WAREHOUSE": str(data_dir / "warehouse.duckdb"),
           # low enough that 50 customers put someone on the watchlist whatever the pinned day
           "FINEFIN_WATCH_WITHDRAWALS_MIN": "500"}
    with pytest.MonkeyPatch.context() as mp:
        bag = parse_dags(mp, data_dir, **env)
        run = run_dag(bag, "finefin_refresh", at(day, 6))
        yield Refreshed(data_dir, data_dir / "warehouse.duckdb", dsn, task_states(run), str(run.state), env, day)


def test_refresh_runs_end_to_end(refreshed: Refreshed) -> None:
    assert refreshed.run_state == "success", {k: v for k, v in refreshed.states.items() if v != "success"}
    assert set(refreshed.states.values()) == {"success"}
    # ingest, the one dbt task, publish, and a status task per source table and per model of the dbt project
    models = {p.stem for p in (Path(__file__).resolve().parents[1] / "dbt" / "models").rglob("*.sql")}
    sources = {f"raw_{table}" for table in PRIMARY_KEYS}
    assert set(refreshed.states) == {"ingest", refresh.BUILD_TASK_ID, "publish_warehouse",
                                     *(f"dbt.{name}" for name in models | sources)}


def test_refresh_loaded_and_built_the_source(refreshed: Refreshed) -> None:
    with psycopg.connect(refreshed.dsn) as pg:
        customers = pg.execute("SELECT count(*) FROM customers").fetchone()[0]
        booked = pg.execute("SELECT count(*), sum(amount) FROM transactions WHERE status = 'booked'").fetchone()
    snapshot = refreshed.data_dir / "serving" / "current" / "warehouse.duckdb"
    assert snapshot.exists()  # published for the bot
    with duckdb.connect(str(snapshot), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM analytics.dim_customers").fetchone()[0] == customers
        count, total = con.execute("SELECT count(*), sum(amount) FROM analytics.fct_transactions").fetchone()
    assert (count, total) == (booked[0], booked[1])
    assert (refreshed.data_dir / "serving" / "current" / "semantic_manifest.json").exists()


def test_refresh_recorded_the_asset_events(refreshed: Refreshed) -> None:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        names = [name for (name,) in session.query(AssetModel.name).join(
            AssetEvent, AssetEvent.asset_id == AssetModel.id).all()]
        marts = (session.query(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                 .filter(AssetModel.name == refresh.MARTS_ASSET_NAME).all())
        # one event per refresh run in this Airflow database (one per pinned day): this run's names its warehouse
        assert [e.extra["warehouse"] for e in marts].count(str(refreshed.warehouse)) == 1
    assert {refresh.MARTS_ASSET_NAME, refresh.SNAPSHOT_ASSET_NAME} <= set(names)


@pytest.fixture()
def posting(refreshed: Refreshed, airflow_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    """The posting DAGs parsed against the refreshed warehouse and the fake Slack; yields (bag, fake)."""
    try:
        from semantic_layer import get_semantic_layer  # type: ignore[attr-defined]  # noqa: F401
    except ImportError:
        pytest.skip("semantic_layer.get_semantic_layer() has not landed yet")
    fake = FakeSlack().start()
    env = {**refreshed.env, "SLACK_BOT_TOKEN": "xoxb-test", "FINEFIN_SLACK_API_URL": fake.api_url,
           "FINEFIN_ADVISOR_CHANNEL": "CADV", "FINEFIN_DIRECTOR_CHANNEL": "CDIR", "FINEFIN_ALERTS_CHANNEL": "CALERT"}
    try:
        yield parse_dags(monkeypatch, refreshed.data_dir, **env), fake
    finally:
        fake.stop()


def _posts(fake: FakeSlack) -> dict[str, list[dict[str, Any]]]:
    posts: dict[str, list[dict[str, Any]]] = {}
    for call in fake.calls_to("chat.postMessage"):
        posts.setdefault(call.params["channel"], []).append(call.params)
    return posts


def test_watchlist_dag_on_the_refreshed_warehouse(refreshed: Refreshed, posting: tuple[Any, Any]) -> None:
    from bot.blocks import money

    bag, fake = posting
    run = run_dag(bag, "advisor_watchlist", at(refreshed.day, 7))
    posts = _posts(fake)
    assert run.state == "success", (task_states(run), posts.get("CALERT"))
    assert set(posts) == {"CADV"}  # nothing to the alerts channel
    text = json.dumps(posts["CADV"][0]["blocks"], ensure_ascii=False)
    watchlist = refresh.semantic_layer().watchlist(None)
    assert watchlist.entries  # 50 customers over 3 months, withdrawals over 500 in a month put someone on the list
    assert watchlist.month == _last_complete_month(refreshed)
    for entry in watchlist.entries[:5]:
        assert f"(#{entry.customer_id})" in text and money(entry.value) in text


def test_digest_dag_on_the_refreshed_warehouse(refreshed: Refreshed, posting: tuple[Any, Any]) -> None:
    from bot.blocks import money

    bag, fake = posting
    run = run_dag(bag, "director_digest", at(refreshed.day, 8))
    posts = _posts(fake)
    assert run.state == "success", (task_states(run), posts.get("CALERT"))
    assert set(posts) == {"CDIR"}
    text = json.dumps(posts["CDIR"][0]["blocks"], ensure_ascii=False)
    growth = refresh.semantic_layer().monthly_growth(None, 6)
    assert growth.month == _last_complete_month(refreshed)
    assert f"Revenue: *{money(growth.current.revenue)}*" in text
    # the month's transaction count straight from the published warehouse, outside the semantic layer
    snapshot = refreshed.data_dir / "serving" / "current" / "warehouse.duckdb"
    start = date(growth.month.year, growth.month.month, 1)
    end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    with duckdb.connect(str(snapshot), read_only=True) as con:
        count = con.execute("SELECT count(*) FROM analytics.fct_transactions "
                            "WHERE booked_date >= ? AND booked_date < ?", [start, end]).fetchone()[0]
    assert growth.current.transaction_count == count
    assert f"{count:,d}" in text


def _last_complete_month(refreshed: Refreshed) -> Month:
    """The source oracle's last complete month (tests/dbt_oracle.py: the as-of date is the latest booking or account
    opening in UTC; its month is complete only on its last day)."""
    oracle = load_oracle(refreshed.dsn)
    assert oracle.as_of <= refreshed.day
    return Month.of(oracle.last_complete_month)


# ------------------------------------------------------------------------------------ the steps on their own


def _raw_tables(warehouse: Path, transactions_updated_at: datetime) -> None:
    old = datetime.now(UTC) - timedelta(days=10)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE SCHEMA raw")
        for table in ("customers", "accounts", "loans", "investments", "transactions"):
            con.execute(f"CREATE TABLE raw.{table} (id INTEGER, updated_at TIMESTAMPTZ)")
            con.execute(f"INSERT INTO raw.{table} VALUES (1, ?)", [old])
        con.execute("UPDATE raw.transactions SET updated_at = ?", [transactions_updated_at])


def test_source_freshness_fails_on_old_transactions(tmp_path: Path) -> None:
    """Transactions whose newest row is past error_after (3 days) stop the refresh before the build."""
    warehouse = tmp_path / "warehouse.duckdb"
    _raw_tables(warehouse, datetime.now(UTC) - timedelta(days=5))
    settings = Settings(data_dir=tmp_path, warehouse=warehouse)
    with pytest.raises(refresh.SourceFreshnessError) as info:
        refresh.check_source_freshness(settings)
    assert "raw.transactions: error" in str(info.value)


def test_slow_changing_tables_carry_no_freshness_threshold(tmp_path: Path) -> None:
    """Customers, accounts, loans and investments can go 10 days without a change: only transactions count."""
    warehouse = tmp_path / "warehouse.duckdb"
    _raw_tables(warehouse, datetime.now(UTC))
    statuses = refresh.check_source_freshness(Settings(data_dir=tmp_path, warehouse=warehouse))
    assert statuses == {"raw.transactions": "pass"}


# --- Airbyte mode, HTTP mocked


def test_airbyte_ingest_succeeds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    airbyte_env(monkeypatch)
    requests: list[httpx.Request] = []
    client = scripted_airbyte("succeeded", requests)
    result = refresh.ingest(Settings(data_dir=tmp_path), "airbyte", airbyte_http=client)
    assert result == {"mode": "airbyte", "job_id": 42, "status": "succeeded", "rows_synced": 1234}
    assert [(r.method, r.url.path) for r in requests] == [("POST", "/v1/jobs"), ("GET", "/v1/jobs/42"),
                                                          ("GET", "/v1/jobs/42")]
    assert requests[0].headers["authorization"] == "Bearer tok-test"


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_airbyte_ingest_failure_names_job_and_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     status: str) -> None:
    airbyte_env(monkeypatch)
    with pytest.raises(refresh.IngestError) as info:
        refresh.ingest(Settings(data_dir=tmp_path), "airbyte", airbyte_http=scripted_airbyte(status, []))
    assert f"job 42 status {status}" in str(info.value)


def test_airbyte_mode_without_settings_is_a_configuration_error(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("URL", "CONNECTION_ID", "TOKEN", "CLIENT_ID", "CLIENT_SECRET"):
        monkeypatch.delenv(f"FINEFIN_AIRBYTE_{name}", raising=False)
    with pytest.raises(ConfigurationError, match="FINEFIN_AIRBYTE_URL"):
        refresh.ingest(Settings(data_dir=tmp_path), "airbyte")
    with pytest.raises(ConfigurationError, match="dlt or airbyte"):
        refresh.ingest(Settings(data_dir=tmp_path), "fivetran")
