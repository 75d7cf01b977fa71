"""Incremental builds: after new days (simulate_days) and late changes to recent rows, an incremental `dbt build`
must give exactly the marts a --full-refresh gives on the same raw data."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import psycopg
import pytest

from finefin.config import Settings
from finefin.transform import run_dbt_build
from ingestion.generator import simulate_days
from tests.dbt_chain import MART_TABLES, Chain, make_chain, query


@dataclass
class Late:
    cancelled_id: int
    corrected_id: int
    corrected_amount: object


@dataclass
class Scenario:
    chain: Chain
    full_warehouse: Path
    late: Late
    as_of_before: date


def _late_changes(dsn: str, last_built_day: date) -> Late:
    """Changes to days already built, inside the lookback window (var lookback_days, 7): cancel a booked card payment
    from 5 days before the last built day (its booking date disappears with it, so only the lookback covers it),
    and correct the amount of a booked withdrawal from 3 days before. Both rows get a fresh updated_at so ingestion
    picks them up. With lookback_days 1 the cancellation is missed and the reconciliation test fails the build."""
    with psycopg.connect(dsn) as conn:
        last_day = last_built_day
        stamp = "(select max(updated_at) + interval '1 second' from transactions)"
        (cancelled,) = conn.execute(
            "select min(transaction_id) from transactions where status = 'booked' and transaction_type = "
            "'card_payment' and (booked_at at time zone 'UTC')::date = %s::date - 5", [last_day]).fetchone()
        conn.execute(f"update transactions set status = 'cancelled', booked_at = null, updated_at = {stamp} "
                     "where transaction_id = %s", [cancelled])
        (corrected,) = conn.execute(
            "select min(transaction_id) from transactions where status = 'booked' and transaction_type = "
            "'withdrawal' and (booked_at at time zone 'UTC')::date = %s::date - 3", [last_day]).fetchone()
        (amount,) = conn.execute(f"update transactions set amount = amount - 17.35, updated_at = {stamp} "
                                 "where transaction_id = %s returning amount", [corrected]).fetchone()
    assert cancelled is not None and corrected is not None
    return Late(cancelled_id=cancelled, corrected_id=corrected, corrected_amount=amount)


@pytest.fixture(scope="module")
def scenario(make_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    root = tmp_path_factory.mktemp("dbt_incremental")
    chain = make_chain(make_database, root / "incremental")
    chain.build()
    [(as_of_before,)] = query(chain.warehouse, "select as_of_date from analytics.int_reporting_date_derived")

    simulate_days(chain.dsn, days=3, seed=99)
    late = _late_changes(chain.dsn, as_of_before)
    chain.ingest()
    chain.build()  # incremental

    full_dir = root / "full"
    full_dir.mkdir()
    full_warehouse = full_dir / "warehouse_full.duckdb"
    shutil.copyfile(chain.warehouse, full_warehouse)
    run_dbt_build(Settings(warehouse=full_warehouse, data_dir=full_dir), full_refresh=True,
                  target_path=full_dir / "target", progress=False)
    return Scenario(chain=chain, full_warehouse=full_warehouse, late=late, as_of_before=as_of_before)


def _differences(incremental: Path, full: Path, table: str) -> tuple[int, int, int]:
    """(rows only in the incremental table, rows only in the full refresh, total rows), multiset semantics."""
    conn = duckdb.connect(str(incremental), read_only=True)
    try:
        conn.execute(f"attach '{full}' as full_build (read_only)")
        inc = f"{incremental.stem}.analytics.{table}"
        ful = f"full_build.analytics.{table}"
        def count(sql: str) -> int:
            return int(conn.execute(f"select count(*) from ({sql})").fetchone()[0])

        only_inc = count(f"select * from {inc} except all select * from {ful}")
        only_full = count(f"select * from {ful} except all select * from {inc}")
        return only_inc, only_full, count(f"select * from {inc}")
    finally:
        conn.close()


@pytest.mark.parametrize("table", MART_TABLES)
def test_incremental_equals_full_refresh(scenario: Scenario, table: str) -> None:
    only_incremental, only_full, total = _differences(scenario.chain.warehouse, scenario.full_warehouse, table)
    assert (only_incremental, only_full) == (0, 0)
    assert total > 0


def test_every_table_equals_full_refresh(scenario: Scenario) -> None:
    """Beyond the marts listed above: every table dbt materialised (intermediate ones and any mart added later)."""
    tables = [r[0] for r in query(scenario.chain.warehouse, "select table_name from information_schema.tables "
                                  "where table_schema = 'analytics' and table_type = 'BASE TABLE' order by 1")]
    assert set(MART_TABLES) <= set(tables)
    differences = {t: d[:2] for t in tables
                   if (d := _differences(scenario.chain.warehouse, scenario.full_warehouse, t))[:2] != (0, 0)}
    assert differences == {}


def test_new_days_arrived(scenario: Scenario) -> None:
    [(as_of,)] = query(scenario.chain.warehouse, "select as_of_date from analytics.int_reporting_date_derived")
    assert (as_of - scenario.as_of_before).days == 3
    [(days,)] = query(scenario.chain.warehouse, "select count(distinct balance_date) from "
                                                "analytics.fct_account_balances_daily where balance_date > ?",
                      [scenario.as_of_before])
    assert days == 3


def test_late_changes_applied(scenario: Scenario) -> None:
    rows = query(scenario.chain.warehouse, "select transaction_id, amount from analytics.fct_transactions "
                                           "where transaction_id in (?, ?)",
                 [scenario.late.cancelled_id, scenario.late.corrected_id])
    assert rows == [(scenario.late.corrected_id, scenario.late.corrected_amount)]


def test_second_incremental_run_changes_nothing(scenario: Scenario) -> None:
    scenario.chain.build()
    for table in ("fct_transactions", "fct_account_balances_daily", "fct_customer_months"):
        assert _differences(scenario.chain.warehouse, scenario.full_warehouse, table)[:2] == (0, 0), table
