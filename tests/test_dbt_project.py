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


@pytest.mark.parametrize("window_days", [None, 7])
def test_failed_node_is_named(tmp_path: Path, window_days: int | None) -> None:
    """A duplicate transaction id in raw makes the staging unique test fail: the error names that test. With the
    daily windowed tests (data_test_window_days) the duplicate, being recent, is still caught."""
    warehouse = tmp_path / "tiny.duckdb"
    conn = duckdb.connect(str(warehouse))
    conn.execute("create schema raw")
    conn.execute("""create table raw.transactions (
        transaction_id bigint, account_id bigint, transaction_type varchar, amount decimal(14,2), currency varchar,
        status varchar, booked_at timestamptz, scheduled_for date, counterparty_account_id bigint, loan_id bigint,
        investment_id bigint, description varchar, created_at timestamptz, updated_at timestamptz,
        _dlt_load_id varchar, _dlt_id varchar)""")
    conn.execute("""insert into raw.transactions values
        (1, 10, 'deposit', 5.00, 'EUR', 'booked', '2026-01-01 10:00+00', null, null, null, null, '',
         '2026-01-01 10:00+00', '2026-01-01 10:00+00', 'l', 'a'),
        (1, 10, 'deposit', 6.00, 'EUR', 'booked', '2026-01-02 10:00+00', null, null, null, null, '',
         '2026-01-02 10:00+00', '2026-01-02 10:00+00', 'l', 'b')""")
    conn.close()
    settings = Settings(warehouse=warehouse, data_dir=tmp_path)
    with pytest.raises(FinefinError) as caught:
        run_dbt_build(settings, select="stg_raw__transactions", target_path=tmp_path / "target", progress=False,
                      data_test_window_days=window_days, extra_args=["--exclude", "test_name:relationships"])
    lines = str(caught.value).splitlines()
    assert lines[0].startswith("dbt build on duckdb failed: 1 node(s) failed")
    assert any("unique_stg_raw__transactions_transaction_id" in line and "fail" in line for line in lines[1:])
    # the lock on the warehouse was released: another connection can write
    duckdb.connect(str(warehouse)).close()
