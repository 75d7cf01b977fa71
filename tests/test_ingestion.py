"""Ingestion PostgreSQL -> DuckDB (dlt): real PostgreSQL, real DuckDB file, small hand-written rows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from finefin.errors import ConfigurationError, SourceDataError, SourceUnavailableError
from ingestion.pipeline import connectorx_url, last_successful_load, pipeline_name, run_ingest
from ingestion.source import PRIMARY_KEYS, SOURCE_TABLES, apply_schema, start_embedded

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MONEY_COLUMNS = {
    "accounts": ["overdraft_limit"],
    "loans": ["principal", "outstanding_principal", "annual_rate"],
    "investments": ["invested_amount"],
    "transactions": ["amount"],
}

SEED_SQL = """
INSERT INTO customers VALUES
  (1, 'ada@example.com', 'Ada Lovelace', 'FR', '1990-01-01', '2024-01-01 10:00+02', '2024-01-01 10:00+02',
   '12 rue de l''Église', '75002', 'Paris'),
  (2, 'bob@example.com', 'Bob Martin', 'DE', '1985-05-05', '2024-01-02 00:00+00', '2024-01-02 00:00+00',
   'Hauptstraße 5', '10115', 'Berlin'),
  (3, 'cyd@example.com', 'Cyd Charisse', 'FR', '1970-12-31', '2024-01-03 00:00+00', '2024-01-03 00:00+00',
   NULL, NULL, NULL);
INSERT INTO accounts VALUES
  (10, 1, 'current', 'EUR', 'active', 999999999999.99, '2024-01-01', NULL, '2024-01-01 00:00:00.123456+00',
   'FR7617569104263032441093722'),
  (11, 1, 'savings', 'EUR', 'active', 0, '2024-01-01', NULL, '2024-01-01 00:00+00', 'FR7617569106303346600359030'),
  (20, 2, 'current', 'EUR', 'active', 500.50, '2024-01-02', NULL, '2024-01-02 00:00+00',
   'FR7617569107953660759624341'),
  (30, 3, 'current', 'EUR', 'closed', 0, '2024-01-03', '2024-06-01', '2024-06-01 00:00+00', NULL);
INSERT INTO loans VALUES
  (100, 1, 10, 10000.00, 0.0499, 24, 'active', 7500.01, '2024-02-01', '2024-02-01 00:00+00'),
  (101, 2, 20, 1000.00, 0.1234, 12, 'repaid', 0, '2024-02-01', '2024-03-01 00:00+00');
INSERT INTO investments VALUES
  (200, 1, 11, 'etf_world', 'open', 1234.56, '2024-02-01', NULL, '2024-02-01 00:00+00'),
  (201, 2, 20, 'bond_fund', 'closed', 0, '2024-02-01', '2024-04-01', '2024-04-01 00:00+00');
INSERT INTO transactions (transaction_id, account_id, transaction_type, amount, status, booked_at, scheduled_for,
                          counterparty_account_id, loan_id, investment_id, description, created_at, updated_at) VALUES
  (1000, 10, 'deposit', 0.10, 'booked', '2024-03-01 09:00+00', NULL, NULL, NULL, NULL, 'a', '2024-03-01 09:00+00',
   '2024-03-01 09:00+00'),
  (1001, 10, 'deposit', 0.20, 'booked', '2024-03-01 09:01+00', NULL, NULL, NULL, NULL, 'b', '2024-03-01 09:01+00',
   '2024-03-01 09:01+00'),
  (1002, 10, 'p2p_out', -25.00, 'booked', '2024-03-02 10:00+00', NULL, 20, NULL, NULL, 'rent', '2024-03-02 10:00+00',
   '2024-03-02 10:00+00'),
  (1003, 20, 'p2p_in', 25.00, 'booked', '2024-03-02 10:00+00', NULL, 10, NULL, NULL, 'rent', '2024-03-02 10:00+00',
   '2024-03-02 10:00+00'),
  (1004, 10, 'loan_disbursement', 10000.00, 'booked', '2024-02-01 00:00+00', NULL, NULL, 100, NULL, '',
   '2024-02-01 00:00+00', '2024-02-01 00:00+00'),
  (1005, 10, 'loan_repayment', -450.33, 'scheduled', NULL, '2030-01-01', NULL, 100, NULL, 'instalment',
   '2024-03-03 00:00+00', '2024-03-03 00:00+00'),
  (1006, 11, 'investment_buy', -1234.56, 'booked', '2024-02-01 00:00+00', NULL, NULL, NULL, 200, 'étf ☂',
   '2024-02-01 00:00+00', '2024-02-01 00:00+00'),
  (1007, 20, 'card_payment', -999999999999.99, 'failed', NULL, NULL, NULL, NULL, NULL, 'huge',
   '2024-03-04 00:00+00', '2024-03-04 00:00+00');
"""


# --- helpers ---------------------------------------------------------------------------------------------------------


def execute(dsn: str, statement: str, params: Any = None) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute(statement, params)  # type: ignore[arg-type]


def source_rows(dsn: str, table: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY {PRIMARY_KEYS[table]}").fetchall()  # type: ignore[arg-type]


def source_columns(dsn: str, table: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        cur = conn.execute(f"SELECT * FROM {table} LIMIT 0")  # type: ignore[arg-type]
        return [d.name for d in cur.description or []]


def wh(path: Path, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(query, params).fetchall()
    finally:
        con.close()


def warehouse_rows(path: Path, dsn: str, table: str) -> list[tuple[Any, ...]]:
    columns = ", ".join(f'"{c}"' for c in source_columns(dsn, table))
    return wh(path, f"SELECT {columns} FROM raw.{table} ORDER BY {PRIMARY_KEYS[table]}")


def assert_warehouse_equals_source(path: Path, dsn: str) -> None:
    """Every table row for row (all source columns, ordered by key), and no duplicate keys."""
    for table in SOURCE_TABLES:
        assert warehouse_rows(path, dsn, table) == source_rows(dsn, table), table
        pk = PRIMARY_KEYS[table]
        assert wh(path, f"SELECT count(*) - count(DISTINCT {pk}) FROM raw.{table}") == [(0,)], table


def raw_snapshot(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Full content of every raw table (with dlt's load ids), to prove a failed run changed nothing."""
    return {t: wh(path, f"SELECT * FROM raw.{t} ORDER BY ALL") for t in SOURCE_TABLES}


@pytest.fixture()
def source(empty_source: str) -> str:
    execute(empty_source, SEED_SQL)
    return empty_source


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


# --- full load, types ------------------------------------------------------------------------------------------------


def test_full_load_equals_source(source: str, warehouse_path: Path, data_dir: Path) -> None:
    report = run_ingest(source, warehouse_path, data_dir)

    assert_warehouse_equals_source(warehouse_path, source)
    expected_counts = {"customers": 3, "accounts": 4, "loans": 2, "investments": 2, "transactions": 8}
    assert {t.table: t.rows_loaded for t in report.tables} == expected_counts
    for table, columns in MONEY_COLUMNS.items():
        sums = ", ".join(f"sum({c})" for c in columns)
        with psycopg.connect(source) as conn:
            expected = conn.execute(f"SELECT count(*), {sums} FROM {table}").fetchone()  # type: ignore[arg-type]
        assert wh(warehouse_path, f"SELECT count(*), {sums} FROM raw.{table}") == [expected], table
    assert report.table("transactions").high_water_mark == datetime(2024, 3, 4, tzinfo=UTC)
    assert "transactions" in str(report) and "8" in str(report)
    # a first load appends straight into raw: no staging copy
    assert wh(warehouse_path, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw_staging' "
                              "AND table_name = 'transactions'") == [(0,)]


def test_column_types_decimal_and_timestamptz(source: str, warehouse_path: Path, data_dir: Path) -> None:
    run_ingest(source, warehouse_path, data_dir)
    types = dict(wh(warehouse_path, """SELECT table_name || '.' || column_name, data_type
                                     FROM information_schema.columns WHERE table_schema = 'raw'"""))
    assert types["transactions.amount"] == "DECIMAL(14,2)"
    assert types["accounts.overdraft_limit"] == "DECIMAL(14,2)"
    assert types["loans.annual_rate"] == "DECIMAL(6,4)"
    assert types["transactions.updated_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["transactions.booked_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["transactions.scheduled_for"] == "DATE"
    assert types["transactions.transaction_id"] == "BIGINT"
    assert types["loans.term_months"] == "INTEGER"
    assert types["transactions._dlt_load_id"] == "VARCHAR"


def test_decimals_exact(source: str, warehouse_path: Path, data_dir: Path) -> None:
    run_ingest(source, warehouse_path, data_dir)
    assert wh(warehouse_path, "SELECT sum(amount) FROM raw.transactions WHERE transaction_id IN (1000, 1001)") == [
        (Decimal("0.30"),)]
    assert wh(warehouse_path, "SELECT overdraft_limit FROM raw.accounts WHERE account_id = 10") == [
        (Decimal("999999999999.99"),)]
    assert wh(warehouse_path, "SELECT amount FROM raw.transactions WHERE transaction_id = 1007") == [
        (Decimal("-999999999999.99"),)]
    assert wh(warehouse_path, "SELECT annual_rate FROM raw.loans WHERE loan_id = 101") == [(Decimal("0.1234"),)]


def test_timestamps_keep_the_instant_in_utc(source: str, warehouse_path: Path, data_dir: Path) -> None:
    run_ingest(source, warehouse_path, data_dir)
    (created,) = wh(warehouse_path, "SELECT created_at FROM raw.customers WHERE customer_id = 1")[0]
    assert created == datetime(2024, 1, 1, 8, 0, tzinfo=UTC)  # inserted as 10:00+02
    (micro,) = wh(warehouse_path, "SELECT updated_at FROM raw.accounts WHERE account_id = 10")[0]
    assert micro.microsecond == 123456


def test_columns_added_to_an_existing_source_reach_raw(empty_source: str, warehouse_path: Path,
                                                       data_dir: Path) -> None:
    """A source and warehouse of the first release (no address, no IBAN), then `finefin source init` adds the
    columns: the next run brings them into raw, the accounts' backfilled IBANs included, rows unchanged otherwise."""
    execute(empty_source, "DROP INDEX accounts_iban_key; ALTER TABLE accounts DROP COLUMN iban;"
                          " ALTER TABLE customers DROP COLUMN street, DROP COLUMN postal_code, DROP COLUMN city")
    execute(empty_source, """
        INSERT INTO customers VALUES
          (1, 'ada@example.com', 'Ada', 'FR', '1990-01-01', '2024-01-01', '2024-01-01'),
          (2, 'bob@example.com', 'Bob', 'DE', '1985-05-05', '2024-01-02', '2024-01-02');
        INSERT INTO accounts VALUES
          (10, 1, 'current', 'EUR', 'active', 0, '2024-01-01', NULL, '2024-01-01'),
          (11, 1, 'savings', 'EUR', 'active', 0, '2024-01-01', NULL, '2024-01-01'),
          (20, 2, 'current', 'EUR', 'active', 0, '2024-01-02', NULL, '2024-01-02');""")
    run_ingest(empty_source, warehouse_path, data_dir)
    assert "iban" not in [r[0] for r in wh(warehouse_path, "SELECT column_name FROM information_schema.columns "
                                                          "WHERE table_schema = 'raw' AND table_name = 'accounts'")]
    apply_schema(empty_source)
    report = run_ingest(empty_source, warehouse_path, data_dir)
    assert report.table("accounts").rows_loaded == 3  # customers: only the row at the high-water mark is re-read
    assert_warehouse_equals_source(warehouse_path, empty_source)
    assert wh(warehouse_path, "SELECT count(iban), count(DISTINCT iban) FROM raw.accounts") == [(3, 3)]
    assert wh(warehouse_path, "SELECT count(*) FROM raw.customers WHERE street IS NULL") == [(2,)]


# --- incremental ---------------------------------------------------------------------------------------------------


def test_rerun_loads_zero_rows(source: str, warehouse_path: Path, data_dir: Path) -> None:
    run_ingest(source, warehouse_path, data_dir)
    before = raw_snapshot(warehouse_path)
    again = run_ingest(source, warehouse_path, data_dir)
    assert again.rows_loaded == 0
    assert all(t.rows_loaded == 0 for t in again.tables)
    assert raw_snapshot(warehouse_path) == before


def test_incremental_inserts_and_updates_exact(source: str, warehouse_path: Path, data_dir: Path) -> None:
    run_ingest(source, warehouse_path, data_dir)
    execute(source, """
        INSERT INTO customers VALUES (4, 'dan@example.com', 'Dan', 'ES', '2000-02-02', '2024-09-01', '2024-09-01');
        INSERT INTO accounts VALUES (40, 4, 'current', 'EUR', 'active', 10.00, '2024-09-01', NULL, '2024-09-01');
        UPDATE accounts SET status = 'frozen', updated_at = '2024-09-02' WHERE account_id = 20;
        UPDATE loans SET outstanding_principal = 7000.00, updated_at = '2024-09-02' WHERE loan_id = 100;
        UPDATE transactions SET status = 'booked', booked_at = '2024-09-03', updated_at = '2024-09-03'
            WHERE transaction_id = 1005;
        INSERT INTO transactions (transaction_id, account_id, transaction_type, amount, status, booked_at,
                                  description, created_at, updated_at)
            VALUES (1008, 40, 'deposit', 0.01, 'booked', '2024-09-04', 'new', '2024-09-04', '2024-09-04'),
                   (1009, 40, 'fee', -0.99, 'booked', '2024-09-04', 'new', '2024-09-04', '2024-09-04');
    """)
    report = run_ingest(source, warehouse_path, data_dir)

    assert {t.table: t.rows_loaded for t in report.tables} == {
        "customers": 1, "accounts": 2, "loans": 1, "investments": 0, "transactions": 3}
    assert_warehouse_equals_source(warehouse_path, source)
    assert wh(warehouse_path, "SELECT status, booked_at FROM raw.transactions WHERE transaction_id = 1005") == [
        ("booked", datetime(2024, 9, 3, tzinfo=UTC))]
    assert report.table("transactions").high_water_mark == datetime(2024, 9, 4, tzinfo=UTC)
    # merges go through raw_staging, which is emptied after the load (no second copy of the data in the file)
    assert wh(warehouse_path, "SELECT count(*) FROM raw_staging.transactions") == [(0,)]
    assert run_ingest(source, warehouse_path, data_dir).rows_loaded == 0


def test_rows_sharing_the_high_water_mark_are_not_lost(source: str, warehouse_path: Path, data_dir: Path) -> None:
    """dlt reads `updated_at >= last value`: rows at the boundary come back and are de-duplicated on the whole row,
    so a late row with the same timestamp, or a row changed without moving updated_at, is still loaded."""
    run_ingest(source, warehouse_path, data_dir)
    hwm = "2024-03-04 00:00+00"  # transactions' current high-water mark (row 1007)
    execute(source, """
        INSERT INTO transactions (transaction_id, account_id, transaction_type, amount, status, booked_at,
                                  description, created_at, updated_at)
            VALUES (1010, 20, 'deposit', 5.00, 'booked', %(t)s, 'late', %(t)s, %(t)s);
        UPDATE transactions SET description = 'changed, same timestamp' WHERE transaction_id = 1007;
    """.replace("%(t)s", f"'{hwm}'"))
    report = run_ingest(source, warehouse_path, data_dir)

    assert report.table("transactions").rows_loaded == 2
    assert_warehouse_equals_source(warehouse_path, source)
    assert run_ingest(source, warehouse_path, data_dir).rows_loaded == 0


def test_new_warehouse_with_same_data_dir_gets_a_full_load(
    source: str, warehouse_path: Path, data_dir: Path, tmp_path: Path
) -> None:
    run_ingest(source, warehouse_path, data_dir)
    warehouse_path.unlink()  # the warehouse is gone, the local dlt state is not
    report = run_ingest(source, warehouse_path, data_dir)
    assert report.rows_loaded == 19
    assert_warehouse_equals_source(warehouse_path, source)
    other = tmp_path / "other.duckdb"
    assert pipeline_name(other) != pipeline_name(warehouse_path)
    assert run_ingest(source, other, data_dir).rows_loaded == 19


# --- interruptions ---------------------------------------------------------------------------------------------------

_HANG_IN_LOAD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from dlt.destinations.impl.duckdb import duck
    from ingestion.pipeline import run_ingest

    dsn, warehouse, data_dir, marker, table, when = sys.argv[1:7]
    real_run = duck.DuckDbCopyJob.run

    def hang():  # this copy job never finishes: the parent kills us here
        Path(marker).write_text(table)
        time.sleep(600)

    def run(self):
        if self._load_table["name"] == table and when == "before":
            hang()
        real_run(self)
        if self._load_table["name"] == table and when == "after":  # committed, but dlt has not recorded it
            hang()

    duck.DuckDbCopyJob.run = run
    run_ingest(dsn, Path(warehouse), Path(data_dir))
""")


@pytest.mark.parametrize("when", ["before", "after"])
def test_sigkill_during_load_then_rerun_is_exact(
    source: str, warehouse_path: Path, data_dir: Path, tmp_path: Path, when: str
) -> None:
    """SIGKILL inside the copy of transactions into staging, before or after it committed; the re-run finishes the
    pending package (dlt re-runs the unfinished job) and the warehouse equals the source, with no duplicates."""
    run_ingest(source, warehouse_path, data_dir)
    execute(source, """
        UPDATE transactions SET description = 'second run', updated_at = '2024-06-01' WHERE transaction_id <= 1003;
        UPDATE accounts SET overdraft_limit = 1.10, updated_at = '2024-06-01' WHERE account_id = 11;
        UPDATE customers SET full_name = 'Ada King', updated_at = '2024-06-01' WHERE customer_id = 1;
    """)
    script = tmp_path / "hang.py"
    script.write_text(_HANG_IN_LOAD)
    marker = tmp_path / "marker"
    proc = subprocess.Popen(
        [sys.executable, str(script), source, str(warehouse_path), str(data_dir), str(marker), "transactions", when],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline, "the load never reached the hang point"
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # killed half-way: the transactions' changes are not in raw yet
    assert wh(warehouse_path, "SELECT count(*) FROM raw.transactions WHERE description = 'second run'") == [(0,)]

    report = run_ingest(source, warehouse_path, data_dir)
    assert report.recovered_packages == 1
    assert_warehouse_equals_source(warehouse_path, source)
    assert report.table("transactions").rows_loaded == 4
    assert run_ingest(source, warehouse_path, data_dir).rows_loaded == 0


def test_sigkill_during_first_load_then_rerun_is_exact(
    source: str, warehouse_path: Path, data_dir: Path, tmp_path: Path
) -> None:
    script = tmp_path / "hang.py"
    script.write_text(_HANG_IN_LOAD)
    marker = tmp_path / "marker"
    proc = subprocess.Popen(
        [sys.executable, str(script), source, str(warehouse_path), str(data_dir), str(marker), "transactions", "after"],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline, "the load never reached the hang point"
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    report = run_ingest(source, warehouse_path, data_dir)
    assert report.recovered_packages == 1
    assert_warehouse_equals_source(warehouse_path, source)
    assert run_ingest(source, warehouse_path, data_dir).rows_loaded == 0


def test_exception_inside_load_then_rerun_is_exact(
    source: str, warehouse_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dlt.destinations.impl.duckdb import duck

    run_ingest(source, warehouse_path, data_dir)
    execute(source, "UPDATE transactions SET amount = 0.15, updated_at = '2024-06-01' WHERE transaction_id = 1000")
    execute(source, "UPDATE customers SET email = 'ada@new.example.com', updated_at = '2024-06-01' "
                    "WHERE customer_id = 1")
    real_run = duck.DuckDbCopyJob.run

    def failing_run(self: Any) -> None:
        if self._load_table["name"] == "transactions":
            raise RuntimeError("disk on fire")
        real_run(self)

    monkeypatch.setattr(duck.DuckDbCopyJob, "run", failing_run)
    with pytest.raises(Exception, match=r"disk on fire|transactions|load"):
        run_ingest(source, warehouse_path, data_dir)
    assert wh(warehouse_path, "SELECT amount FROM raw.transactions WHERE transaction_id = 1000") == [
        (Decimal("0.10"),)]
    assert wh(warehouse_path, "SELECT status, count(*) FROM ops.ingest_runs GROUP BY ALL ORDER BY ALL") == [
        ("failed", len(SOURCE_TABLES)), ("success", len(SOURCE_TABLES))]

    monkeypatch.setattr(duck.DuckDbCopyJob, "run", real_run)
    run_ingest(source, warehouse_path, data_dir)
    assert_warehouse_equals_source(warehouse_path, source)
    assert run_ingest(source, warehouse_path, data_dir).rows_loaded == 0


def test_exception_inside_extract_leaves_raw_unchanged_then_rerun_is_exact(
    source: str, warehouse_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import connectorx

    run_ingest(source, warehouse_path, data_dir)
    before = raw_snapshot(warehouse_path)
    execute(source, "UPDATE customers SET full_name = 'Robert', updated_at = '2024-06-01' WHERE customer_id = 2")
    execute(source, "UPDATE loans SET outstanding_principal = 1.00, updated_at = '2024-06-01' WHERE loan_id = 100")
    real_read = connectorx.read_sql

    def failing_read(conn: str, query: str, **kwargs: Any) -> Any:
        if "loans" in query:
            raise RuntimeError("connection reset by peer")
        return real_read(conn, query, **kwargs)

    monkeypatch.setattr(connectorx, "read_sql", failing_read)
    with pytest.raises(SourceUnavailableError, match=r"lost the connection .* reading table loans"):
        run_ingest(source, warehouse_path, data_dir)  # an outage, not bad data
    assert raw_snapshot(warehouse_path) == before  # customers was extracted but never loaded

    monkeypatch.setattr(connectorx, "read_sql", real_read)
    report = run_ingest(source, warehouse_path, data_dir)
    assert report.table("customers").rows_loaded == 1 and report.table("loans").rows_loaded == 1
    assert_warehouse_equals_source(warehouse_path, source)


# --- bad data, bad configuration -------------------------------------------------------------------------------------


def test_unknown_column_type_is_a_clear_error_and_raw_is_unchanged(
    source: str, warehouse_path: Path, data_dir: Path
) -> None:
    run_ingest(source, warehouse_path, data_dir)
    before = raw_snapshot(warehouse_path)
    execute(source, "ALTER TABLE customers ADD COLUMN search tsvector")
    execute(source, "UPDATE customers SET search = 'ada lovelace', updated_at = '2024-07-01' WHERE customer_id = 1")
    with pytest.raises(SourceDataError) as info:
        run_ingest(source, warehouse_path, data_dir)
    message = str(info.value)
    assert "customers.search" in message and "tsvector" in message and "\n" not in message
    assert raw_snapshot(warehouse_path) == before


def test_value_that_cannot_load_is_a_clear_error_and_raw_is_unchanged(
    source: str, warehouse_path: Path, data_dir: Path
) -> None:
    run_ingest(source, warehouse_path, data_dir)
    before = raw_snapshot(warehouse_path)
    # PostgreSQL accepts an infinite timestamp; Arrow and DuckDB's TIMESTAMPTZ cannot hold it
    execute(source, "UPDATE accounts SET status = 'closed', closed_at = 'infinity', updated_at = '2024-07-01' "
                    "WHERE account_id = 20")
    execute(source, "UPDATE transactions SET description = 'x', updated_at = '2024-07-01' WHERE transaction_id = 1000")
    with pytest.raises(SourceDataError) as info:
        run_ingest(source, warehouse_path, data_dir)
    message = str(info.value)
    assert "accounts.closed_at" in message and "\n" not in message
    assert raw_snapshot(warehouse_path) == before
    runs = wh(warehouse_path, "SELECT table_name, status, error FROM ops.ingest_runs ORDER BY loaded_at, table_name")
    failed = [r for r in runs if r[1] == "failed"]
    assert sorted(r[0] for r in failed) == sorted(SOURCE_TABLES)
    assert all("accounts.closed_at" in r[2] for r in failed)

    # once the source is fixed, the next run catches up exactly
    execute(source, "UPDATE accounts SET closed_at = '2024-07-01', updated_at = '2024-07-02' WHERE account_id = 20")
    run_ingest(source, warehouse_path, data_dir)
    assert_warehouse_equals_source(warehouse_path, source)


def test_unreachable_source_is_an_outage_not_a_configuration_error(warehouse_path: Path, data_dir: Path) -> None:
    with pytest.raises(SourceUnavailableError, match="cannot connect"):
        run_ingest("postgresql://postgres@127.0.0.1:1/nowhere", warehouse_path, data_dir)
    assert not warehouse_path.exists()


@pytest.mark.parametrize("kind", ["directory", "under_a_file", "not_duckdb"])
def test_bad_warehouse_path_is_a_configuration_error(source: str, tmp_path: Path, data_dir: Path, kind: str) -> None:
    if kind == "directory":
        path = tmp_path / "adir"
        path.mkdir()
    elif kind == "under_a_file":
        (tmp_path / "afile").write_text("x")
        path = tmp_path / "afile" / "warehouse.duckdb"
    else:
        path = tmp_path / "garbage.duckdb"
        path.write_bytes(b"this is not a duckdb file" * 100)
    with pytest.raises(ConfigurationError) as info:
        run_ingest(source, path, data_dir)
    assert "\n" not in str(info.value) and "warehouse" in str(info.value)


def test_missing_source_tables_is_a_configuration_error(
    make_database: Any, warehouse_path: Path, data_dir: Path
) -> None:
    with pytest.raises(ConfigurationError, match="source init"):
        run_ingest(make_database(), warehouse_path, data_dir)


# --- load metadata ---------------------------------------------------------------------------------------------------


def test_ingest_runs_and_last_successful_load(source: str, warehouse_path: Path, data_dir: Path) -> None:
    assert last_successful_load(warehouse_path) is None
    first = run_ingest(source, warehouse_path, data_dir)
    execute(source, "UPDATE loans SET status = 'defaulted', updated_at = '2024-08-01' WHERE loan_id = 100")
    second = run_ingest(source, warehouse_path, data_dir)

    rows = wh(warehouse_path, """SELECT run_id, table_name, rows_loaded, high_water_mark, started_at, finished_at,
                                        duration_seconds, status, loaded_at FROM ops.ingest_runs
                                 ORDER BY finished_at, table_name""")
    assert len(rows) == 2 * len(SOURCE_TABLES)
    by_run = {(r[0], r[1]): r for r in rows}
    assert by_run[(first.run_id, "transactions")][2] == 8
    assert by_run[(second.run_id, "loans")][2] == 1
    assert by_run[(second.run_id, "transactions")][2] == 0
    assert by_run[(second.run_id, "loans")][3] == datetime(2024, 8, 1, tzinfo=UTC)
    for r in rows:
        assert r[7] == "success"
        assert r[4] <= r[5] <= r[8]
        assert r[6] == pytest.approx((r[5] - r[4]).total_seconds())
    assert last_successful_load(warehouse_path) == second.finished_at
    assert by_run[(second.run_id, "loans")][5] == second.finished_at


# --- sources ---------------------------------------------------------------------------------------------------------


def test_connectorx_url_handles_unix_sockets_and_passwords() -> None:
    assert connectorx_url("postgresql://postgres:@/postgres?host=/tmp/pg%20data") == (
        "postgresql://postgres@%2Ftmp%2Fpg%20data/postgres")
    assert connectorx_url("host=db.example port=6543 user=u password=p@ss dbname=fin sslmode=require") == (
        "postgresql://u:p%40ss@db.example:6543/fin?sslmode=require")


def test_embedded_pgserver_source(tmp_path: Path, warehouse_path: Path, data_dir: Path) -> None:
    dsn = start_embedded(tmp_path / "pgdata")
    assert "host=/" in dsn or "@/" in dsn  # a unix-socket DSN, which connectorx cannot take as is
    apply_schema(dsn)
    execute(dsn, SEED_SQL)
    report = run_ingest(dsn, warehouse_path, data_dir)
    assert report.rows_loaded == 19
    assert_warehouse_equals_source(warehouse_path, dsn)


def test_duckdb_file_is_released_after_a_run(source: str, warehouse_path: Path, data_dir: Path) -> None:
    run_ingest(source, warehouse_path, data_dir)
    # another process can only open the file for writing if this process holds no handle on it any more
    code = "import duckdb, sys; duckdb.connect(sys.argv[1]).close()"
    subprocess.run([sys.executable, "-c", code, str(warehouse_path)], check=True, timeout=60)


def test_warehouse_locked_by_another_process_is_a_configuration_error(
    source: str, warehouse_path: Path, data_dir: Path
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ok', flush=True); "
                               "time.sleep(120)", str(warehouse_path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        with pytest.raises(ConfigurationError, match="another process"):
            run_ingest(source, warehouse_path, data_dir)
    finally:
        holder.kill()
        holder.wait()
    assert run_ingest(source, warehouse_path, data_dir).rows_loaded == 19


def test_generated_history_then_simulated_days_stay_exact(
    empty_source: str, warehouse_path: Path, data_dir: Path
) -> None:
    """End to end with the project's generator: full load, then two simulated days (inserts + updates)."""
    from datetime import date

    from ingestion.generator import generate, simulate_days

    generate(empty_source, customers=40, months=3, seed=7, end_date=date(2025, 3, 31))
    first = run_ingest(empty_source, warehouse_path, data_dir)
    assert first.rows_loaded > 0
    assert_warehouse_equals_source(warehouse_path, empty_source)

    simulate_days(empty_source, days=2, seed=8)
    second = run_ingest(empty_source, warehouse_path, data_dir)
    assert 0 < second.rows_loaded < first.rows_loaded
    assert_warehouse_equals_source(warehouse_path, empty_source)
    assert run_ingest(empty_source, warehouse_path, data_dir).rows_loaded == 0
