"""The dbt project without the data chain: it parses, compiles for Snowflake with no connection, and a failing
node comes back as one clear FinefinError line naming it."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from finefin.config import Settings
from finefin.errors import FinefinError
from finefin.transform import run_dbt, run_dbt_build


def test_dbt_parse(tmp_path: Path) -> None:
    result = run_dbt(["parse"], target="duckdb", target_path=tmp_path)
    assert result.success
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert {"dim_customers", "dim_accounts", "fct_transactions", "fct_scheduled_transactions",
            "fct_account_balances_daily", "fct_account_months", "fct_customer_months",
            "metricflow_time_spine"} <= set(models)
    assert models["fct_transactions"]["config"]["materialized"] == "incremental"
    assert models["fct_account_balances_daily"]["config"]["materialized"] == "incremental"
    assert models["metricflow_time_spine"]["time_spine"]["standard_granularity_column"] == "date_day"
    assert (tmp_path / "semantic_manifest.json").exists()
    undocumented = [
        f"{name}.{column}" for name, node in models.items() if name.startswith(("fct_", "dim_"))
        for column, spec in node["columns"].items() if not spec.get("description")
    ]
    assert undocumented == []


def test_compile_for_snowflake_needs_no_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"SNOWFLAKE_ACCOUNT": "dummy-account", "SNOWFLAKE_USER": "dummy",
                        "SNOWFLAKE_PASSWORD": "dummy", "SNOWFLAKE_HOST": "127.0.0.1", "SNOWFLAKE_PORT": "9"}.items():
        monkeypatch.setenv(name, value)  # port 9 (discard): any connection attempt fails fast
    result = run_dbt(["compile", "--no-populate-cache"], target="snowflake", target_path=tmp_path)
    assert result.success
    compiled = tmp_path / "compiled" / "finefin" / "models"
    staging = (compiled / "staging" / "stg_raw__transactions.sql").read_text()
    assert "convert_timezone('UTC', booked_at)" in staging and "timestamp_ntz" in staging
    spine = (compiled / "marts" / "metricflow_time_spine.sql").read_text()
    assert "dateadd(" in spine and "generate_series" not in spine
    # without a connection the incremental models render their full-build branch
    balances = (compiled / "marts" / "fct_account_balances_daily.sql").read_text()
    assert "window_start" not in balances and "FINEFIN.analytics.metricflow_time_spine" in balances


def _raw_transactions(warehouse: Path, rows: list[tuple[int, str, str | None]]) -> Settings:
    """A warehouse holding only raw.transactions: (transaction_id, day 'YYYY-MM-DD', transaction_type) per row."""
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(str(warehouse))
    conn.execute("create schema raw")
    conn.execute("""create table raw.transactions (
        transaction_id bigint, account_id bigint, transaction_type varchar, amount decimal(14,2), currency varchar,
        status varchar, booked_at timestamptz, scheduled_for date, counterparty_account_id bigint, loan_id bigint,
        investment_id bigint, description varchar, created_at timestamptz, updated_at timestamptz,
        _dlt_load_id varchar, _dlt_id varchar)""")
    for transaction_id, day, transaction_type in rows:
        at = f"{day} 10:00+00"
        conn.execute("insert into raw.transactions values (?, 10, ?, 5.00, 'EUR', 'booked', ?, null, null, null, "
                     "null, '', ?, ?, 'l', ?)",
                     [transaction_id, transaction_type, at, at, at, f"i{transaction_id}{day}"])
    conn.close()
    return Settings(warehouse=warehouse, data_dir=warehouse.parent)


def _build_staging(settings: Settings, window_days: int | None) -> None:
    run_dbt_build(settings, select="stg_raw__transactions", target_path=settings.data_path / "target", progress=False,
                  data_test_window_days=window_days, extra_args=["--exclude", "test_name:relationships"])


@pytest.mark.parametrize("window_days", [None, 7])
def test_failed_node_is_named(tmp_path: Path, window_days: int | None) -> None:
    """A duplicate transaction id in raw makes the staging unique test fail: the error names that test. With the
    daily windowed tests (data_test_window_days) the duplicate, being recent, is still caught."""
    settings = _raw_transactions(tmp_path / "tiny.duckdb", [(1, "2026-01-01", "deposit"), (1, "2026-01-02", "deposit")])
    with pytest.raises(FinefinError) as caught:
        _build_staging(settings, window_days)
    lines = str(caught.value).splitlines()
    assert lines[0].startswith("dbt build on duckdb failed: 1 node failed, ")
    assert any("unique_stg_raw__transactions_transaction_id" in line and "fail" in line for line in lines[1:])
    # the lock on the warehouse was released: another connection can write
    duckdb.connect(str(settings.warehouse_path)).close()


def test_daily_window_tests_only_recent_rows(tmp_path: Path) -> None:
    """The daily build's window (FINEFIN_DATA_TEST_WINDOW_DAYS, set by data_test_window_days) leaves rows updated
    more than N days before the latest update out of the data tests; without it the same old duplicate fails."""
    rows = [(1, "2026-01-01", "deposit"), (1, "2026-01-02", "deposit"), (2, "2026-01-20", "deposit")]
    windowed = _raw_transactions(tmp_path / "windowed" / "w.duckdb", rows)
    _build_staging(windowed, 7)
    whole = _raw_transactions(tmp_path / "whole" / "w.duckdb", rows)
    with pytest.raises(FinefinError, match="unique_stg_raw__transactions_transaction_id"):
        _build_staging(whole, None)


def test_null_in_a_non_key_column_fails_the_combined_not_null_test(tmp_path: Path) -> None:
    """Non-key columns share one not_null_columns test per model (one node, not one per column): a null
    transaction_type still fails the build, naming that test (accepted_values lets a null through)."""
    settings = _raw_transactions(tmp_path / "tiny.duckdb", [(1, "2026-01-01", "deposit"), (2, "2026-01-02", None)])
    with pytest.raises(FinefinError) as caught:
        _build_staging(settings, None)
    failed = [line for line in str(caught.value).splitlines()[1:] if "fail" in line]
    assert len(failed) == 1 and "not_null_columns_stg_raw__transactions" in failed[0]
