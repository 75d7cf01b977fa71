"""The semantic layer on the Snowflake target: same answers as DuckDB (through the fakesnow emulator on
loopback), and every saved query's SQL rendered for Snowflake with no connection parses as Snowflake SQL."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot

from finefin.transform import run_dbt, run_dbt_build
from semantic_layer.engine import SemanticEngine
from semantic_layer.inputs import CustomerId, Month
from semantic_layer.service import MetricFlowSemanticLayer
from semantic_layer.settings import SemanticLayerSettings
from semantic_layer.snowflake_client import SnowflakeWarehouse, connect_kwargs_from_env
from tests.dbt_chain import Chain, make_chain
from tests.dbt_fakesnow import DATABASE, FakeSnowflake, fakesnow_server, seed_raw

SETTINGS = SemanticLayerSettings(watch_withdrawals_min=Decimal("500"), watch_loans_min=Decimal("1000"),
                                 watch_investments_min=Decimal("1000"))
DUMMY_SNOWFLAKE_ENV = {"SNOWFLAKE_ACCOUNT": "dummy", "SNOWFLAKE_USER": "dummy", "SNOWFLAKE_PASSWORD": "dummy",
                       "SNOWFLAKE_DATABASE": "FINEFIN", "SNOWFLAKE_SCHEMA": "analytics"}


@pytest.fixture()
def restore_env() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_saved_queries_render_as_snowflake_sql_without_a_connection(tmp_path: Path, restore_env: None) -> None:
    from metricflow.engine.metricflow_engine import MetricFlowEngine, MetricFlowQueryRequest
    from metricflow.protocols.sql_client import SqlEngine
    from metricflow.sql.render.snowflake import SnowflakeSqlPlanRenderer
    from metricflow_semantics.model.dbt_manifest_parser import parse_manifest_from_dbt_generated_manifest
    from metricflow_semantics.model.semantic_manifest_lookup import SemanticManifestLookup

    os.environ.update(DUMMY_SNOWFLAKE_ENV)
    result = run_dbt(["parse"], target="snowflake", target_path=tmp_path / "target")
    assert result.success
    manifest = parse_manifest_from_dbt_generated_manifest(
        manifest_json_string=(tmp_path / "target" / "semantic_manifest.json").read_text())

    class RenderOnly:  # a SqlClient that can render but never connects
        sql_engine_type = SqlEngine.SNOWFLAKE
        sql_plan_renderer = SnowflakeSqlPlanRenderer()

        def query(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("no query may run when only rendering")

        execute = dry_run = query

        def close(self) -> None: ...

        def render_bind_parameter_key(self, key: str) -> str:
            return f":{key}"

    engine = MetricFlowEngine(semantic_manifest_lookup=SemanticManifestLookup(manifest), sql_client=RenderOnly())
    names = [q.name for q in manifest.saved_queries]
    assert {"monthly_growth", "customers_per_tier", "transactions_per_month", "advisor_watchlist"} <= set(names)
    for name in names:
        sql = engine.explain(MetricFlowQueryRequest.create(saved_query_name=name)).sql_statement.sql
        parsed = sqlglot.parse(sql, read="snowflake")
        assert parsed and parsed[0] is not None, name
        assert "FINEFIN.analytics." in sql, name  # relations as dbt-snowflake renders them (unquoted)


def _seed_ops(fake: FakeSnowflake, warehouse: Path) -> None:
    """The load log the ingestion writes, copied like the raw tables (freshness reads it)."""
    source = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = source.execute("SELECT run_id, table_name, status, finished_at FROM ops.ingest_runs").fetchall()
    finally:
        source.close()
    conn = fake.connect()
    try:
        cur = conn.cursor()
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {DATABASE}.ops")
        cur.execute(f"CREATE OR REPLACE TABLE {DATABASE}.ops.ingest_runs (run_id VARCHAR, table_name VARCHAR,"
                    " status VARCHAR, finished_at TIMESTAMP_NTZ)")
        cur.executemany(f"INSERT INTO {DATABASE}.ops.ingest_runs VALUES (%s, %s, %s, %s)",
                        [(r, t, s, f.replace(tzinfo=None)) for r, t, s, f in rows])
    finally:
        conn.close()


@pytest.fixture(scope="module")
def both(make_database: Callable[[], str],
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MetricFlowSemanticLayer, MetricFlowSemanticLayer]]:
    root = tmp_path_factory.mktemp("sl_snow")
    chain: Chain = make_chain(make_database, root, customers=120, months=6)
    chain.build()
    chain.publish()
    duck = chain.semantic_layer(SETTINGS)
    saved = dict(os.environ)
    with fakesnow_server(root / "fakesnow") as fake:
        try:
            seed_raw(fake, chain.warehouse)
            _seed_ops(fake, chain.warehouse)
            os.environ.update(fake.env())
            build = run_dbt_build(chain.settings, target="snowflake", target_path=root / "target_snowflake",
                                  progress=False, extra_args=["--exclude", "test_type:unit"])
            assert not build.failed
            source = SnowflakeWarehouse(connect_kwargs_from_env(), root / "target_snowflake" / "semantic_manifest.json")
            snow = MetricFlowSemanticLayer(SemanticEngine(source), SETTINGS)
            yield duck, snow
            snow.engine.close()
        finally:
            os.environ.clear()
            os.environ.update(saved)
            duck.engine.close()


def _plain(value: Any) -> Any:
    """Dataclasses to comparable plain values (timestamps to the second: fakesnow may drop sub-seconds)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "replace") and hasattr(value, "microsecond"):
        return value.replace(microsecond=0, tzinfo=None)
    return value


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The 'insecure_mode' connection property is deprecated:DeprecationWarning")
def test_every_saved_query_and_api_function_agrees_with_duckdb(
        both: tuple[MetricFlowSemanticLayer, MetricFlowSemanticLayer]) -> None:
    duck, snow = both
    for name in ("monthly_growth", "customers_per_tier", "transactions_per_month", "advisor_watchlist"):
        d = {tuple(_round(v) for v in row) for row in duck.engine.query(saved_query=name).rows}
        s = {tuple(_round(v) for v in row) for row in snow.engine.query(saved_query=name).rows}
        assert d == s, name
    customers = [CustomerId(c) for c in (1, 2, 3, 5, 8)]
    calls: list[Callable[[MetricFlowSemanticLayer], Any]] = [
        lambda sl: sl.reporting_dates(),
        lambda sl: sl.monthly_growth(history=4),
        lambda sl: sl.monthly_growth(Month.of(sl.reporting_dates()[0]), history=2),  # the running month, to date
        lambda sl: sl.transactions_per_month(months=3),
        lambda sl: sl.transactions_per_month(months=24),  # starts where the data starts
        lambda sl: sl.watchlist(),
        lambda sl: sl.define("revenue"),
        lambda sl: sl.customer_by_email(duck.customer(CustomerId(2)).email),
        *[lambda sl, c=c: sl.balance(c) for c in customers],
        *[lambda sl, c=c: sl.upcoming(c) for c in customers],
        *[lambda sl, c=c: sl.statement(c) for c in customers],
    ]
    for call in calls:
        assert _plain(call(snow)) == _plain(call(duck))
    assert snow.freshness().last_load_at.replace(tzinfo=None, microsecond=0) == \
        duck.freshness().last_load_at.replace(tzinfo=None, microsecond=0)


def _round(value: Any) -> Any:
    if isinstance(value, float | Decimal):
        return Decimal(str(value)).quantize(Decimal("0.01"))
    if hasattr(value, "replace") and hasattr(value, "microsecond"):
        return value.replace(tzinfo=None)
    return value
