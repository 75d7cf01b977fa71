"""The dbt marts on the real chain (generate -> dlt ingest -> dbt build on DuckDB), compared exactly (Decimal)
with an oracle computed in Python from the source PostgreSQL; then the same project built on Snowflake
(fakesnow on loopback) must give the same marts."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from finefin.transform import BuildResult, run_dbt_build
from tests.dbt_chain import MART_TABLES, Chain, columns, make_chain, project_vars, query
from tests.dbt_fakesnow import fakesnow_server, seed_raw
from tests.dbt_oracle import Oracle, add_months, load_oracle, month_start, sample_days


@pytest.fixture(scope="module")
def built(make_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> tuple[Chain, BuildResult]:
    chain = make_chain(make_database, tmp_path_factory.mktemp("dbt_models"))
    return chain, chain.build()


@pytest.fixture(scope="module")
def chain(built: tuple[Chain, BuildResult]) -> Chain:
    return built[0]


@pytest.fixture(scope="module")
def oracle(chain: Chain) -> Oracle:
    return load_oracle(chain.dsn)


def test_build_runs_models_unit_tests_and_data_tests(built: tuple[Chain, BuildResult]) -> None:
    _, result = built
    kinds = Counter(n.resource_type for n in result.nodes)
    assert not result.failed
    assert kinds["model"] >= 18 and kinds["unit_test"] >= 5 and kinds["test"] >= 85
    names = {n.name for n in result.nodes}
    assert {"assert_account_months_reconcile", "red_streaks_gaps_and_islands",
            "tiers_from_last_three_complete_months"} <= names
    assert any(name.startswith("not_null_columns_fct_account_balances_daily") for name in names)


def test_data_has_enough_variety(oracle: Oracle) -> None:
    """Guards the other tests against vacuous passes: red streaks and several tiers must exist in the data."""
    streaks = oracle.current_red_streaks()
    assert sum(1 for length, _ in streaks.values() if length >= 2) >= 3
    assert oracle.last_complete_month.month == 1  # the history crosses a year boundary
    assert len(oracle.scheduled_ids) > 0 and oracle.booked_count > 1000


def test_as_of_date_comes_from_data(chain: Chain, oracle: Oracle) -> None:
    [(as_of, last_complete)] = query(chain.warehouse, "select as_of_date, last_complete_month "
                                                      "from analytics.int_reporting_date_derived")
    assert (as_of, last_complete) == (oracle.as_of, oracle.last_complete_month)


def test_daily_balances_on_sampled_days(chain: Chain, oracle: Oracle) -> None:
    days = sample_days(oracle)
    expected = oracle.balances_on(days)
    rows = query(chain.warehouse, "select account_id, balance_date, balance from analytics.fct_account_balances_daily "
                                  "where balance_date in (select unnest(?::date[]))", [days])
    actual = {(a, d): b for a, d, b in rows}
    assert len(days) > 30 and len(expected) > 3000
    assert actual == expected
    assert all(isinstance(b, Decimal) for b in actual.values())


def test_daily_balances_are_dense(chain: Chain, oracle: Oracle) -> None:
    [(count, distinct)] = query(chain.warehouse, "select count(*), count(distinct account_day_key) "
                                                 "from analytics.fct_account_balances_daily")
    assert count == distinct == oracle.daily_row_count()


@pytest.mark.parametrize(("table", "column"), [
    ("fct_account_balances_daily", "balance_date"), ("int_account_months_summarized", "month_start"),
    ("fct_account_months", "month_start"), ("int_customer_months_summarized", "month_start"),
    ("int_customer_red_streaks_computed", "month_start"), ("fct_customer_months", "month_start"),
    ("fct_customer_tier_months", "month_start"),
])
def test_full_build_stores_incremental_models_in_date_order(chain: Chain, table: str, column: str) -> None:
    """Clustered on the incremental key (macros/clustered_on_full_build.sql): rowid is DuckDB's storage order."""
    [(out_of_order, rows)] = query(chain.warehouse, f"""
        select count(*) filter (where previous > {column}), count(*)
        from (select {column}, lag({column}) over (order by rowid) as previous from analytics.{table})""")
    assert rows > 0
    assert out_of_order == 0


def test_current_balances_one_row_per_account_at_the_as_of_date(chain: Chain, oracle: Oracle) -> None:
    rows = query(chain.warehouse, "select account_id, customer_id, balance_date, balance, is_overdrawn "
                                  "from analytics.fct_account_balances_current")
    assert {a: (c, d, b, red) for a, c, d, b, red in rows} == {
        a: (oracle.account_owner[a], oracle.as_of, oracle.account_balance(a, oracle.as_of),
            oracle.account_balance(a, oracle.as_of) < 0)
        for a, opened in oracle.account_opened.items() if opened <= oracle.as_of}
    assert len(rows) == len({r[0] for r in rows}) > 100


def test_current_balances_stored_in_customer_order(chain: Chain) -> None:
    """Lookups by customer read one row group (DuckDB zone maps): rowid is the storage order."""
    [(out_of_order, rows)] = query(chain.warehouse, """
        select count(*) filter (where previous > key), count(*)
        from (select (customer_id, account_id) as key, lag((customer_id, account_id)) over (order by rowid) as previous
              from analytics.fct_account_balances_current)""")
    assert rows > 0
    assert out_of_order == 0


def test_red_streaks_every_customer_month(chain: Chain, oracle: Oracle) -> None:
    rows = query(chain.warehouse, "select customer_id, month_start, red_streak_months, red_streak_start_month "
                                  "from analytics.fct_customer_months where is_month_complete")
    actual = {(c, m): (n, s) for c, m, n, s in rows}
    assert actual == oracle.red_streaks()


def test_current_red_streak_per_customer(chain: Chain, oracle: Oracle) -> None:
    rows = query(chain.warehouse, "select customer_id, current_red_streak_months, current_red_streak_start_month "
                                  "from analytics.dim_customers")
    assert {c: (n, s) for c, n, s in rows} == oracle.current_red_streaks()


def test_dims_carry_postal_addresses_and_ibans_from_the_source(built: tuple[Chain, BuildResult]) -> None:
    chain, result = built
    import psycopg

    with psycopg.connect(chain.dsn) as conn:
        addresses = conn.execute("SELECT customer_id, street, postal_code, city, country FROM customers").fetchall()
        ibans = conn.execute("SELECT account_id, iban FROM accounts").fetchall()
    assert addresses and all(a[1] and a[2] and a[3] for a in addresses)
    got = query(chain.warehouse, "select customer_id, street, postal_code, city, country_code "
                                 "from analytics.dim_customers")
    assert sorted(got) == sorted(addresses)
    assert sorted(query(chain.warehouse, "select account_id, iban from analytics.dim_accounts")) == sorted(ibans)
    names = {n.name for n in result.nodes if n.resource_type == "test"}
    assert {"unique_dim_accounts_iban", "not_null_dim_accounts_iban"} <= names


def test_tiers_per_customer_and_counts(chain: Chain, oracle: Oracle) -> None:
    variables = project_vars()
    expected = oracle.tiers(Decimal(str(variables["tier_gold_min"])), Decimal(str(variables["tier_diamond_min"])),
                            window=int(variables["tier_months"]))
    rows = query(chain.warehouse, "select customer_id, tier from analytics.dim_customers")
    assert dict(rows) == expected
    counts = dict(query(chain.warehouse, "select tier, count(*) from analytics.dim_customers group by tier"))
    assert counts == dict(Counter(expected.values()))
    assert len(counts) >= 2


def test_tier_scores_round_half_up_to_the_cent(chain: Chain, oracle: Oracle) -> None:
    """The displayed score is the exact average rounded half-up (as a bank displays money), per customer-month."""
    window = int(project_vars()["tier_months"])
    rows = query(chain.warehouse, "select customer_id, month_start, tier_score, tier_months_counted "
                                  "from analytics.fct_customer_tier_months")
    assert len(rows) > 100
    halves = 0
    for customer_id, month, score, counted in rows:
        first = oracle.first_month(customer_id)
        months = [m for m in (add_months(month, -k) for k in range(window)) if m >= first]
        assert counted == len(months)
        total = sum(oracle.month_end_balance(customer_id, m) + oracle.investments_held(customer_id, m)
                    for m in months)
        assert score == (total / len(months)).quantize(Decimal("0.01"), ROUND_HALF_UP), (customer_id, month)
        halves += (total * 100 / len(months)) % 1 == Decimal("0.5")
    assert halves > 0  # the data holds exact halves, where truncating and rounding differ


def test_monthly_withdrawals_per_customer(chain: Chain, oracle: Oracle) -> None:
    rows = query(chain.warehouse, "select customer_id, month_start, withdrawal_amount "
                                  "from analytics.fct_customer_months")
    nonzero = {(c, m): w for c, m, w in rows if w != 0}
    assert nonzero == oracle.withdrawals
    assert len(nonzero) > 100


def test_customer_month_end_balances(chain: Chain, oracle: Oracle) -> None:
    rows = query(chain.warehouse, "select customer_id, month_start, month_end_date, closing_balance, is_in_red "
                                  "from analytics.fct_customer_months")
    for customer_id, month, month_end_date, closing, is_red in rows:
        expected = oracle.customer_ledgers[customer_id].balance_at(month_end_date) \
            if customer_id in oracle.customer_ledgers else Decimal("0.00")
        assert (closing, is_red) == (expected, expected < 0), (customer_id, month)
    assert {(c, m) for c, m, *_ in rows} == {
        (c, m) for c in oracle.customer_signup for m in _months(oracle.first_month(c), month_start(oracle.as_of))
    }


def test_loans_and_investments_match_source_state(chain: Chain, oracle: Oracle) -> None:
    """Month-end loans outstanding / investments held are derived from booked transactions; in the as-of month they
    must equal the source's current outstanding_principal / invested_amount."""
    rows = query(chain.warehouse, "select customer_id, loans_outstanding, investments_held "
                                  "from analytics.fct_customer_months where month_start = ?",
                 [month_start(oracle.as_of)])
    loans = {c: v for c, v, _ in rows if v != 0}
    invested = {c: v for c, _, v in rows if v != 0}
    assert loans == {c: v for c, v in oracle.loans_outstanding_now.items() if v != 0}
    assert invested == {c: v for c, v in oracle.invested_now.items() if v != 0}
    assert loans and invested


def test_transactions_fact_totals(chain: Chain, oracle: Oracle) -> None:
    [(count, revenue, volume, statuses)] = query(
        chain.warehouse, "select count(*), sum(revenue_amount), sum(absolute_amount), "
                         "count(distinct transaction_status) from analytics.fct_transactions")
    assert (count, revenue, volume, statuses) == (oracle.booked_count, oracle.revenue_total, oracle.volume_total, 1)
    scheduled = {r[0] for r in query(chain.warehouse,
                                     "select transaction_id from analytics.fct_scheduled_transactions")}
    assert scheduled == oracle.scheduled_ids


def test_monthly_statement_reconciles(chain: Chain) -> None:
    """Opening balance + the month's statement lines = closing balance, for every account-month (exact)."""
    rows = query(chain.warehouse, """
        with lines as (
            select account_id, date_trunc('month', booked_date) as month_start, sum(amount) as total
            from analytics.fct_transactions group by all
        )
        select m.account_id, m.month_start, m.opening_balance, coalesce(l.total, 0), m.closing_balance,
               lag(m.closing_balance) over (partition by m.account_id order by m.month_start)
        from analytics.fct_account_months m
        left join lines l on l.account_id = m.account_id and l.month_start = m.month_start""")
    assert rows
    for account_id, month, opening, lines, closing, previous_closing in rows:
        assert opening + lines == closing, (account_id, month)
        assert opening == (previous_closing if previous_closing is not None else Decimal("0.00")), (account_id, month)


# -- Snowflake (fakesnow) ------------------------------------------------------------------------------------------

def _months(first: date, last: date) -> list[date]:
    from tests.dbt_oracle import months_between

    return months_between(first, last)


@pytest.fixture(scope="module")
def snowflake_env() -> Iterator[dict[str, str]]:
    saved = dict(os.environ)
    yield os.environ  # type: ignore[misc]
    os.environ.clear()
    os.environ.update(saved)


def _normalize(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value)).quantize(Decimal("0.01"))
    return value


def _sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((v is None, v if v is not None else 0) for v in row)


def _timestamp_columns(warehouse: Path, table: str) -> set[str]:
    rows = query(warehouse, "select column_name from information_schema.columns where table_schema = 'analytics' "
                            "and table_name = ? and data_type like 'TIMESTAMP%'", [table])
    return {r[0] for r in rows}


def _assert_marts_equal(cur: object, warehouse: Path) -> None:
    """Every mart on fakesnow equals the DuckDB build, row for row."""
    for table in MART_TABLES:
        names = columns(warehouse, table)
        # fakesnow serialises a NULL timestamp as 1970-01-01: fetch an is-null flag beside each timestamp
        stamps = [n for n in names if n in _timestamp_columns(warehouse, table)]
        listed = ", ".join(names + [f"{n} is null" for n in stamps])
        duck = sorted((row[: len(names)] for row in query(warehouse, f"select {listed} from analytics.{table}")),
                      key=_sort_key)
        cur.execute(f"select {listed} from FINEFIN.analytics.{table}")  # type: ignore[attr-defined]
        snow = []
        for row in cur.fetchall():  # type: ignore[attr-defined]
            values = [_normalize(v) for v in row[: len(names)]]
            for i, name in enumerate(stamps):
                if row[len(names) + i]:
                    values[names.index(name)] = None
            snow.append(tuple(values))
        snow.sort(key=_sort_key)
        assert len(snow) == len(duck), table
        assert snow == duck, table


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The 'insecure_mode' connection property is deprecated:DeprecationWarning")
def test_snowflake_build_on_fakesnow_equals_duckdb(chain: Chain, tmp_path: Path,
                                                   snowflake_env: dict[str, str]) -> None:
    """Seed fakesnow with the ingested raw tables, `dbt build --target snowflake`, compare every mart with DuckDB's.

    Unit tests are excluded on fakesnow only: dbt creates their fixtures as temporary tables qualified with a
    database, which fakesnow's DuckDB rejects; they run on DuckDB in the build above."""
    with fakesnow_server(tmp_path / "fakesnow") as fake:
        counts = seed_raw(fake, chain.warehouse)
        assert counts["transactions"] > 1000
        snowflake_env.update(fake.env())
        result = run_dbt_build(chain.settings, target="snowflake", target_path=tmp_path / "target_snowflake",
                               progress=False, extra_args=["--exclude", "test_type:unit"])
        assert not result.failed and any(n.name == "assert_account_months_reconcile" for n in result.nodes)
        conn = fake.connect()
        try:
            _assert_marts_equal(conn.cursor(), chain.warehouse)
            # a second build runs every incremental model's incremental branch (and the windowed daily tests) in
            # Snowflake's dialect; the data did not change, so the marts must not either
            again = run_dbt_build(chain.settings, target="snowflake", target_path=tmp_path / "target_snowflake",
                                  progress=False, data_test_window_days=7, unit_tests=False)
            assert not again.failed
            compiled = tmp_path / "target_snowflake" / "compiled" / "finefin" / "models"
            assert "window_start" in (compiled / "marts" / "fct_account_balances_daily.sql").read_text()
            assert "window_month" in (compiled / "intermediate" / "int_customer_months_summarized.sql").read_text()
            _assert_marts_equal(conn.cursor(), chain.warehouse)
        finally:
            conn.close()
