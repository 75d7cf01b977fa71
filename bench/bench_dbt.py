"""Benchmark: a full `dbt build` against the incremental build after ~1 % new data (one more day).

Run: `python -m bench.bench_dbt` (~1 M and ~10 M transactions) or `BENCH_SCALE=small python -m bench.bench_dbt`;
`BENCH_SCALES=30000000 python -m bench.bench_dbt` measures the given sizes (comma-separated) instead.
Prints one markdown section on stdout, progress on stderr.

The raw tables are written straight into a DuckDB file with SQL (same columns and types as the dlt ingestion,
`_dlt_*` columns included), so the benchmark measures dbt only: 365 days of history, one account per customer and
~200 transactions per account (97 % booked, 1 % cancelled, 2 % scheduled). The "new day" adds 1 % more booked
transactions dated the day after the history and cancels a few booked rows of the last 3 days (late changes).
Measured on the same file, each as `finefin refresh` runs it (finefin.refresh.build): the first full build (every
data and unit test on every row), then the daily incremental build after the new day (data tests on the large
incremental facts and the transactions source windowed to the 7 days it rewrote, unit tests left to CI). Also
measured, on copies: the incremental build with every test on every row, incremental models only (`dbt run`), and a
--full-refresh build of the same final data; the incremental and full-refresh marts are checked equal (row counts
and exact sums).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from finefin.config import Settings
from finefin.refresh import build as refresh_build
from finefin.transform import BuildResult, run_dbt, run_dbt_build

HISTORY_DAYS = 365
TX_PER_ACCOUNT = 200

_RAW_SQL = """
create schema if not exists raw;

create or replace table raw.customers as
select g::bigint as customer_id, 'c' || g || '@example.com' as email, 'Customer ' || g as full_name, 'FR' as country,
       date '1980-01-01' + (g % 9000)::integer as birth_date,
       timestamptz '2025-01-01 00:00+00' - interval 40 day + g * interval 1 second as created_at,
       timestamptz '2025-01-01 00:00+00' - interval 40 day + g * interval 1 second as updated_at,
       'bench' as _dlt_load_id, 'c' || g as _dlt_id
from range(1, {accounts} + 1) t(g);

create or replace table raw.accounts as
select g::bigint as account_id, g::bigint as customer_id,
       case when g % 5 = 0 then 'savings' else 'current' end as account_type, 'EUR' as currency,
       'active' as status, ((g % 10) * 100)::decimal(14,2) as overdraft_limit,
       timestamptz '2025-01-01 00:00+00' - interval 30 day + g * interval 1 second as opened_at,
       null::timestamptz as closed_at,
       timestamptz '2025-01-01 00:00+00' - interval 30 day + g * interval 1 second as updated_at,
       'bench' as _dlt_load_id, 'a' || g as _dlt_id
from range(1, {accounts} + 1) t(g);

create or replace table raw.loans (
    loan_id bigint, customer_id bigint, account_id bigint, principal decimal(14,2), annual_rate decimal(6,4),
    term_months bigint, status varchar, outstanding_principal decimal(14,2), disbursed_at timestamptz,
    updated_at timestamptz, _dlt_load_id varchar, _dlt_id varchar);

create or replace table raw.investments (
    investment_id bigint, customer_id bigint, account_id bigint, product varchar, status varchar,
    invested_amount decimal(14,2), opened_at timestamptz, closed_at timestamptz, updated_at timestamptz,
    _dlt_load_id varchar, _dlt_id varchar);

create or replace table raw.transactions as
with base as (
    select g,
           case g % 4 when 0 then 'deposit' when 1 then 'card_payment' when 2 then 'withdrawal' else 'p2p_out' end
               as transaction_type,
           case when g % 100 = 7 then 'cancelled' when g % 100 in (11, 12) then 'scheduled' else 'booked' end
               as status,
           timestamptz '2025-01-01 00:00+00'
               + (g * {history_days} * 86400 // {transactions}) * interval 1 second as event_at
    from range(1, {transactions} + 1) t(g)
)
select g::bigint as transaction_id, (1 + (g * 7919) % {accounts})::bigint as account_id, transaction_type,
       (case when transaction_type = 'deposit' then 3 else -1 end
           * (((g * 7919) % 10000) / 100.0 + 0.01))::decimal(14,2) as amount,
       'EUR' as currency, status,
       case when status = 'booked' then event_at end as booked_at,
       case when status = 'scheduled' then cast(timestamptz '2025-01-01 00:00+00'
           + interval {history_days} day as date) + (g % 30)::integer end as scheduled_for,
       case when transaction_type = 'p2p_out' then (1 + (g * 7919 + 1) % {accounts})::bigint end
           as counterparty_account_id,
       null::bigint as loan_id, null::bigint as investment_id, 'bench' as description,
       event_at as created_at, event_at as updated_at, 'bench' as _dlt_load_id, 't' || g as _dlt_id
from base;
"""

_NEW_DAY_SQL = """
insert into raw.transactions
select ({transactions} + g)::bigint, (1 + (g * 104729) % {accounts})::bigint,
       case when g % 2 = 0 then 'deposit' else 'card_payment' end,
       (case when g % 2 = 0 then 1 else -1 end * ((g % 5000) / 100.0 + 0.01))::decimal(14,2),
       'EUR', 'booked', event_at, null, null, null, null, 'new day', event_at, event_at, 'bench2', 'n' || g
from (select g, timestamptz '2025-01-01 00:00+00' + interval {history_days} day
                + (g * 86400 // {new}) * interval 1 second as event_at
      from range(1, {new} + 1) t(g));

update raw.transactions
set status = 'cancelled', booked_at = null,
    updated_at = timestamptz '2025-01-01 23:59+00' + interval {history_days} day
where status = 'booked' and transaction_id % 997 = 0
  and booked_at >= timestamptz '2025-01-01 00:00+00' + interval ({history_days} - 3) day
  and transaction_id <= {transactions};
"""


@dataclass
class Row:
    transactions: int
    accounts: int
    daily_rows: int
    full_s: float
    new_rows: int
    incr_build_s: float
    incr_run_s: float
    incr_all_tests_s: float
    refresh_s: float
    incr_top: str  # the slowest nodes of the incremental build


def make_raw(warehouse: Path, transactions: int) -> int:
    accounts = max(10, transactions // TX_PER_ACCOUNT)
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(_RAW_SQL.format(accounts=accounts, transactions=transactions, history_days=HISTORY_DAYS))
    finally:
        con.close()
    return accounts


def add_new_day(warehouse: Path, transactions: int, accounts: int) -> int:
    new = max(10, transactions // 100)
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(_NEW_DAY_SQL.format(transactions=transactions, accounts=accounts, new=new,
                                        history_days=HISTORY_DAYS))
    finally:
        con.close()
    return new


def fingerprint(warehouse: Path) -> tuple[object, ...]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return tuple(con.execute("""
            select (select count(*) from analytics.fct_transactions),
                   (select sum(amount) from analytics.fct_transactions),
                   (select count(*) from analytics.fct_account_balances_daily),
                   (select sum(balance) from analytics.fct_account_balances_daily),
                   (select sum(closing_balance) from analytics.fct_customer_months),
                   (select string_agg(tier || count, ',' order by tier)
                    from (select tier, count(*) as count from analytics.dim_customers group by tier))
        """).fetchone())
    finally:
        con.close()


def timed(label: str, action) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    action()
    seconds = time.perf_counter() - start
    print(f"  {label}: {seconds:.1f} s", file=sys.stderr, flush=True)
    return seconds


def measure(transactions: int, work: Path) -> Row:
    warehouse = work / f"bench_{transactions}.duckdb"
    settings = Settings(warehouse=warehouse, data_dir=work)
    target = work / "target"
    accounts = make_raw(warehouse, transactions)
    print(f"raw: {transactions:,} transactions, {accounts:,} accounts", file=sys.stderr, flush=True)

    results: list[BuildResult] = []
    # warm-up, not timed: dbt's imports and the first parse belong to no build
    assert run_dbt(["parse"], settings, target="duckdb", target_path=target).success

    def build(**kwargs: object) -> None:
        results.append(refresh_build(settings, target_path=target, progress=False, **kwargs))  # type: ignore[arg-type]

    full_s = timed("full build (first refresh: every test)", build)
    new_rows = add_new_day(warehouse, transactions, accounts)
    incremental_copy = work / "incremental_models_only.duckdb"
    shutil.copyfile(warehouse, incremental_copy)
    all_tests_copy = work / "incremental_all_tests.duckdb"
    shutil.copyfile(warehouse, all_tests_copy)
    incr_build_s = timed("incremental build (daily refresh)", build)
    nodes = results[-1].nodes
    tests_s = sum(n.seconds for n in nodes if n.resource_type in ("test", "unit_test"))
    models_s = sum(n.seconds for n in nodes if n.resource_type == "model")
    slowest = sorted(nodes, key=lambda n: -n.seconds)[:4]
    incr_top = (f"node time: models {models_s:.1f} s, tests {tests_s:.1f} s; slowest: "
                + ", ".join(f"{n.name} {n.seconds:.1f} s" for n in slowest))
    print(f"  {incr_top}", file=sys.stderr, flush=True)

    def run_models_only() -> None:
        result = run_dbt(["run"], Settings(warehouse=incremental_copy, data_dir=work), target="duckdb",
                         target_path=work / "target_run")
        assert result.success

    incr_run_s = timed("incremental models only (dbt run)", run_models_only)

    def all_tests_build() -> None:
        run_dbt_build(Settings(warehouse=all_tests_copy, data_dir=work), target_path=work / "target_all_tests",
                      progress=False)

    incr_all_tests_s = timed("incremental build, every test on every row", all_tests_build)
    incremental_fp = fingerprint(warehouse)
    assert fingerprint(incremental_copy) == incremental_fp
    assert fingerprint(all_tests_copy) == incremental_fp
    refresh_s = timed("full-refresh build of the same data", lambda: build(full_refresh=True))
    assert fingerprint(warehouse) == incremental_fp, (fingerprint(warehouse), incremental_fp)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        daily_rows = int(con.execute("select count(*) from analytics.fct_account_balances_daily").fetchone()[0])
    finally:
        con.close()
    for path in (warehouse, incremental_copy, all_tests_copy):
        path.unlink()
    return Row(transactions, accounts, daily_rows, full_s, new_rows, incr_build_s, incr_run_s, incr_all_tests_s,
               refresh_s, incr_top)


def main() -> int:
    small = os.environ.get("BENCH_SCALE") == "small"
    chosen = os.environ.get("BENCH_SCALES", "")
    # 20 k first: its daily build is almost only dbt's fixed cost per invocation and per node (the floor)
    scales = [20_000, 100_000] if small else [20_000, 1_000_000, 10_000_000]
    if chosen:
        scales = [int(part.replace("_", "")) for part in chosen.split(",")]
    load_before = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_dbt_") as tmp:
        for n in scales:
            rows.append(measure(n, Path(tmp)))
    print("## dbt build: full vs incremental (bench/bench_dbt.py)\n")
    prefix = f"BENCH_SCALES={chosen} " if chosen else ("BENCH_SCALE=small " if small else "")
    print(f"Command: `{prefix}python -m bench.bench_dbt` (DuckDB target, 2 dbt threads). "
          f"{HISTORY_DAYS} days of history, ~{TX_PER_ACCOUNT} transactions per account; the new day adds 1 % "
          "booked transactions and cancels a few booked rows of the last 3 days. Full and daily builds as `finefin "
          "refresh` runs them (finefin.refresh.build): the first build runs every data and unit test on every row; "
          "the daily incremental build windows the data tests of the large facts to the 7 days it rewrote and leaves "
          "unit tests to CI. Incremental and full-refresh marts checked equal (counts, exact sums, tier counts).\n")
    print("| transactions | accounts | daily balance rows | full build s | new rows | daily incremental build s "
          "| incremental / full | incremental, every test on every row s "
          "| incremental `dbt run` s | full-refresh build of new data s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r.transactions:,} | {r.accounts:,} | {r.daily_rows:,} | {r.full_s:.1f} | {r.new_rows:,} "
              f"| {r.incr_build_s:.1f} | {100 * r.incr_build_s / r.full_s:.1f} % | {r.incr_all_tests_s:.1f} "
              f"| {r.incr_run_s:.1f} | {r.refresh_s:.1f} |")
    print(f"\nLoad average (1 min) before / after the run: {load_before:.2f} / {os.getloadavg()[0]:.2f}.")
    print("\nIncremental build, summed per-node time (2 threads run nodes in parallel):\n")
    for r in rows:
        print(f"- {r.transactions:,} transactions: {r.incr_top}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
