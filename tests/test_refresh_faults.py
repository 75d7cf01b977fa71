"""Issue 18: a refresh that never wedges, on the real PostgreSQL. Two refreshes at once, a writer committing between
table reads, a locked table with a short timeout, a killed source connection, a killed publish, dlt's packages."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from finefin import refresh_lock
from finefin.errors import SourceUnavailableError
from ingestion import pipeline
from ingestion.generator import generate
from ingestion.pipeline import SourceTimeouts, pipeline_name, run_ingest
from ingestion.source import apply_schema
from semantic_layer import snapshots
from tests.dbt_chain import END_DATE, make_chain, query

FINEFIN = str(Path(sys.executable).with_name("finefin"))
LATE_ID = 9_000_001


def small_source(make_database: Callable[[], str]) -> str:
    dsn = make_database()
    apply_schema(dsn)
    generate(dsn, customers=30, months=3, seed=7, end_date=END_DATE)
    return dsn


def cli_env(dsn: str, data_dir: Path, warehouse: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINEFIN_")}
    return env | {"FINEFIN_SOURCE_URL": dsn, "FINEFIN_DATA_DIR": str(data_dir), "FINEFIN_WAREHOUSE": str(warehouse),
                  "FINEFIN_INGEST_MODE": "dlt", **extra}


def error_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    return [line for line in proc.stderr.splitlines() if line.strip()]


def ingest_runs(warehouse: Path) -> list[tuple[Any, ...]]:
    return query(warehouse, "SELECT run_id, table_name, status, error FROM ops.ingest_runs ORDER BY loaded_at")


def commit_late_customer(dsn: str) -> None:
    """A customer, their account and a transaction, committed together (as the operational app does)."""
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO customers (customer_id, email, full_name, country, birth_date, created_at, "
                     "updated_at) VALUES (%s, 'late@example.com', 'Late Comer', 'FR', '1990-01-01', now(), now())",
                     (LATE_ID,))
        conn.execute("INSERT INTO accounts (account_id, customer_id, account_type, currency, status, "
                     "overdraft_limit, opened_at, updated_at, iban) VALUES (%s, %s, 'current', 'EUR', 'active', 0, "
                     "now(), now(), 'FR7699999000019000001000142')", (LATE_ID, LATE_ID))
        conn.execute("INSERT INTO transactions (transaction_id, account_id, transaction_type, amount, status, "
                     "booked_at, created_at, updated_at) VALUES (%s, %s, 'deposit', 100.00, 'booked', now(), now(), "
                     "now())", (LATE_ID, LATE_ID))


def orphans(warehouse: Path) -> dict[str, int]:
    checks = {
        "accounts": "SELECT count(*) FROM raw.accounts a LEFT JOIN raw.customers c USING (customer_id) "
                    "WHERE c.customer_id IS NULL",
        "transactions": "SELECT count(*) FROM raw.transactions t LEFT JOIN raw.accounts a USING (account_id) "
                        "WHERE a.account_id IS NULL",
    }
    return {table: int(query(warehouse, sql)[0][0]) for table, sql in checks.items()}


@contextmanager
def table_locked(dsn: str, table: str) -> Iterator[psycopg.Connection]:
    """Another session holding an ACCESS EXCLUSIVE lock on `table` (a migration, a long maintenance)."""
    conn = psycopg.connect(dsn)
    conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")  # type: ignore[arg-type]
    try:
        yield conn
    finally:
        conn.rollback()
        conn.close()


# ------------------------------------------------------------------------------------------------- one snapshot


def test_a_writer_between_table_reads_leaves_no_orphans(make_database: Callable[[], str], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    dsn = small_source(make_database)
    committed: list[str] = []

    def writer(table: str) -> None:  # customers is being read: commit a whole new customer before the others
        if table == "customers" and not committed:
            commit_late_customer(dsn)
            committed.append(table)

    # control: without the shared snapshot the same writer leaves orphans (so this test can see them)
    @contextmanager
    def no_snapshot(dsn: str, timeouts: SourceTimeouts) -> Iterator[list[str]]:
        yield []

    with monkeypatch.context() as patch:
        patch.setattr(pipeline, "_source_snapshot", no_snapshot)
        control = tmp_path / "control.duckdb"
        run_ingest(dsn, control, tmp_path / "control-data", on_table_started=writer)
    assert committed and orphans(control)["accounts"] == 1  # the account (and its transaction) without its customer
    assert query(control, "SELECT count(*) FROM raw.transactions WHERE transaction_id = ?", [LATE_ID]) == [(1,)]

    with psycopg.connect(dsn) as conn:  # the same situation again, now read in one snapshot
        for table, key in (("transactions", "transaction_id"), ("accounts", "account_id"),
                           ("customers", "customer_id")):
            conn.execute(f"DELETE FROM {table} WHERE {key} = %s", (LATE_ID,))  # type: ignore[arg-type]
    committed.clear()
    warehouse, data_dir = tmp_path / "warehouse.duckdb", tmp_path / "data"
    run_ingest(dsn, warehouse, data_dir, on_table_started=writer)
    assert committed
    assert orphans(warehouse) == {"accounts": 0, "transactions": 0}
    assert query(warehouse, "SELECT count(*) FROM raw.customers WHERE customer_id = ?", [LATE_ID]) == [(0,)]

    # the next run brings the three rows together, and dbt's relationships tests pass on the result
    run_ingest(dsn, warehouse, data_dir)
    assert orphans(warehouse) == {"accounts": 0, "transactions": 0}
    assert query(warehouse, "SELECT count(*) FROM raw.transactions WHERE transaction_id = ?", [LATE_ID]) == [(1,)]
    from finefin.config import Settings
    from finefin.transform import run_dbt_build

    built = run_dbt_build(Settings(data_dir=data_dir, warehouse=warehouse), target_path=tmp_path / "target",
                          progress=False)
    relationships = [n for n in built.nodes if n.name.startswith("relationships_")]
    assert relationships and all(n.status == "pass" for n in relationships), relationships


# ----------------------------------------------------------------------------------------- timeouts and outages


def test_a_locked_table_fails_fast_with_one_line_and_a_failed_row(make_database: Callable[[], str],
                                                                  tmp_path: Path) -> None:
    dsn = small_source(make_database)
    warehouse, data_dir = tmp_path / "warehouse.duckdb", tmp_path / "data"
    run_ingest(dsn, warehouse, data_dir)
    with table_locked(dsn, "transactions"):
        started = time.monotonic()
        with pytest.raises(SourceUnavailableError) as info:
            run_ingest(dsn, warehouse, data_dir, timeouts=SourceTimeouts(connect_s=5, statement_s=1))
        elapsed = time.monotonic() - started
    message = str(info.value)
    assert message.startswith("the source PostgreSQL did not answer within 1 s") and "\n" not in message
    assert elapsed < 30, elapsed  # not the 240 s+ of issue 18
    runs = ingest_runs(warehouse)
    failed = [r for r in runs if r[2] == "failed"]
    assert {r[1] for r in failed} == {"customers", "accounts", "loans", "investments", "transactions"}
    assert all("did not answer" in r[3] for r in failed)
    assert run_ingest(dsn, warehouse, data_dir).rows_loaded == 0  # the lock gone, the next run succeeds


def test_a_killed_source_connection_is_one_line_on_stderr_and_a_failed_row(make_database: Callable[[], str],
                                                                         tmp_path: Path) -> None:
    dsn = small_source(make_database)
    warehouse, data_dir = tmp_path / "warehouse.duckdb", tmp_path / "data"
    run_ingest(dsn, warehouse, data_dir)
    killed: list[int] = []

    def kill_the_waiting_reader() -> None:
        deadline = time.monotonic() + 120
        with psycopg.connect(dsn, autocommit=True) as admin:
            while not killed and time.monotonic() < deadline:
                rows = admin.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
                ).fetchall()
                for (pid,) in rows:
                    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                    killed.append(pid)
                time.sleep(0.1)

    with table_locked(dsn, "transactions"):
        killer = threading.Thread(target=kill_the_waiting_reader)
        killer.start()
        env = cli_env(dsn, data_dir, warehouse, FINEFIN_SOURCE_STATEMENT_TIMEOUT_S="120")
        proc = subprocess.run([FINEFIN, "ingest"], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
        killer.join()
    assert killed
    assert proc.returncode == 1
    lines = error_lines(proc)
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: lost the connection to the source PostgreSQL")
    failed = [r for r in ingest_runs(warehouse) if r[2] == "failed"]
    assert len(failed) == 5 and all("lost the connection" in r[3] for r in failed)
    assert run_ingest(dsn, warehouse, data_dir).rows_loaded == 0  # nothing wedged


def test_a_source_outage_is_not_a_configuration_error(tmp_path: Path) -> None:
    proc = subprocess.run([FINEFIN, "ingest"], env=cli_env("postgresql://postgres@127.0.0.1:1/nowhere",
                                                          tmp_path / "data", tmp_path / "wh.duckdb"),
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    lines = error_lines(proc)
    assert proc.returncode == 1 and len(lines) == 1 and "cannot connect to the source" in lines[0]
    from finefin.errors import ConfigurationError

    with pytest.raises(SourceUnavailableError) as info:
        run_ingest("postgresql://postgres@127.0.0.1:1/nowhere", tmp_path / "wh.duckdb", tmp_path / "data")
    assert not isinstance(info.value, ConfigurationError)


# ---------------------------------------------------------------------------------------------- one at a time


def test_a_second_refresh_fails_at_once_naming_the_running_one(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with refresh_lock.refresh_lock(data_dir):
        with refresh_lock.refresh_lock(data_dir):  # re-entrant in the holding process (dag.test runs every task)
            pass
        proc = subprocess.run([sys.executable, "-c", "from pathlib import Path; from finefin import refresh_lock; "
                               f"refresh_lock.acquire(Path({str(data_dir)!r}))"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode != 0
        assert f"a refresh is already running (pid {os.getpid()}, since " in proc.stderr
        started = time.monotonic()  # a bounded wait gives up after its timeout, with the same line
        waited = subprocess.run([sys.executable, "-c", "from pathlib import Path; from finefin import refresh_lock; "
                                 f"refresh_lock.acquire(Path({str(data_dir)!r}), 1.0)"],
                                capture_output=True, text=True, timeout=60)
        assert waited.returncode != 0 and "RefreshRunningError" in waited.stderr and "(waited 1 s)" in waited.stderr
        assert 1.0 <= time.monotonic() - started < 30
    refresh_lock.acquire(data_dir)  # released: free again
    refresh_lock.release(data_dir)


@pytest.mark.slow
def test_two_concurrent_refreshes_leave_the_data_dir_usable(make_database: Callable[[], str],
                                                            tmp_path: Path) -> None:
    chain = make_chain(make_database, tmp_path / "chain", customers=40, months=3)
    env = cli_env(chain.dsn, chain.data_dir, chain.warehouse)
    subprocess.run([FINEFIN, "source", "simulate-day", "--days", "1"], env=env, check=True, capture_output=True,
                   timeout=300)
    command = [FINEFIN, "refresh", "--skip-freshness"]
    first = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    time.sleep(0.5)
    second = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    outputs = [p.communicate(timeout=900) for p in (first, second)]
    codes = sorted(p.returncode for p in (first, second))
    assert codes == [0, 1], outputs
    loser = outputs[[first.returncode, second.returncode].index(1)][1]
    lines = [line for line in loser.splitlines() if line.strip()]
    assert len(lines) == 1 and "a refresh is already running (pid " in lines[0], lines

    subprocess.run([FINEFIN, "source", "simulate-day", "--days", "1"], env=env, check=True, capture_output=True,
                   timeout=300)
    again = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert query(chain.warehouse, "SELECT count(*) FROM ops.ingest_runs WHERE status = 'failed'") == [(0,)]


# -------------------------------------------------------------------------------------------------- bounded disk


def test_a_killed_publish_leaves_no_tmp_and_dlt_packages_stay_bounded(make_database: Callable[[], str],
                                                                      tmp_path: Path) -> None:
    chain = make_chain(make_database, tmp_path / "chain", customers=20, months=2)
    serving = snapshots.serving_dir(chain.data_dir)
    serving.mkdir(parents=True)
    dead = serving / ".20260101T000000000000Z.tmp"  # what a publish killed while copying leaves
    dead.mkdir()
    (dead / chain.warehouse.name).write_bytes(b"\0" * 1_000_000)
    os.symlink("20260101T000000000000Z", serving / ".current.20260101T000000000000Z")

    snapshots.publish(chain.warehouse, chain.data_dir)
    assert sorted(p.name for p in serving.iterdir() if p.name.startswith(".")) == []
    assert (serving / "current").is_symlink()

    for _ in range(pipeline.KEEP_LOADED_PACKAGES + 3):
        run_ingest(chain.dsn, chain.warehouse, chain.data_dir)
    loaded = chain.data_dir / "dlt" / pipeline_name(chain.warehouse) / "load" / "loaded"
    assert 1 <= len([p for p in loaded.iterdir() if p.is_dir()]) <= pipeline.KEEP_LOADED_PACKAGES


# ------------------------------------------------------------------------------------------------ bad settings


@pytest.mark.parametrize("command", [["ask", "--as", "UDEMOADVISOR", "watchlist"], ["bot", "post-digest"],
                                     ["refresh"]])
def test_an_invalid_setting_is_one_line_on_stderr(tmp_path: Path, command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINEFIN_", "SLACK_"))}
    bad = {"refresh": "FINEFIN_SOURCE_STATEMENT_TIMEOUT_S"}.get(command[0], "FINEFIN_FRESHNESS_SLA_HOURS")
    env |= {"FINEFIN_DATA_DIR": str(tmp_path / "data"), bad: "0"}
    proc = subprocess.run([FINEFIN, *command], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    lines = error_lines(proc)
    assert proc.returncode == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: invalid setting ") and f"{bad}=0" in lines[0], lines


def test_the_failure_callback_logs_the_alert_when_the_settings_are_invalid(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from types import SimpleNamespace

    from bot.settings import get_bot_settings
    from finefin.alerts import on_task_failure

    monkeypatch.setenv("FINEFIN_FRESHNESS_SLA_HOURS", "0")
    get_bot_settings.cache_clear()
    ti = SimpleNamespace(dag_id="finefin_refresh", task_id="ingest", run_id="manual__1", try_number=1, max_tries=3,
                         log_url=None)
    with caplog.at_level("ERROR", logger="finefin.alerts"):
        on_task_failure({"ti": ti, "exception": RuntimeError("the source is down")})  # never raises
    alert = [r.getMessage() for r in caplog.records if "could not post the failure alert" in r.getMessage()]
    assert len(alert) == 1
    assert "FINEFIN_FRESHNESS_SLA_HOURS=0" in alert[0]
    assert "finefin_refresh.ingest failed (try 1 of 4), run manual__1" in alert[0]
    assert "RuntimeError: the source is down" in alert[0]


def test_a_dbt_lock_conflict_is_summarised_in_one_line(tmp_path: Path) -> None:
    import duckdb

    from finefin.config import Settings
    from finefin.transform import DbtError, run_dbt_build

    warehouse = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(warehouse)).close()
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; "
                               f"con = duckdb.connect({str(warehouse)!r}); print('open', flush=True); "
                               "time.sleep(120)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(DbtError) as info:
            run_dbt_build(Settings(data_dir=tmp_path / "data", warehouse=warehouse), target_path=tmp_path / "target",
                          progress=False)
    finally:
        holder.kill()
        holder.wait()
    message = str(info.value)
    assert "\n" not in message, message
    assert "the warehouse is locked by python" in message and f"(pid {holder.pid})" in message, message


def test_a_connectorx_panic_mid_read_is_one_clean_error(make_database: Callable[[], str], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capfd: pytest.CaptureFixture[str]) -> None:
    """connectorx reports a connection reset mid-stream as a Rust panic: a BaseException (not Exception) whose
    backtrace Rust writes straight to fd 2. Here a stand-in does both, as the real one does."""
    import connectorx

    class PanicException(BaseException):  # pyo3_runtime.PanicException derives from BaseException too
        pass

    dsn = small_source(make_database)
    warehouse, data_dir = tmp_path / "warehouse.duckdb", tmp_path / "data"
    run_ingest(dsn, warehouse, data_dir)
    real_read = connectorx.read_sql

    def panicking_read(conn: str, query: str, **kwargs: Any) -> Any:
        if "loans" in query:
            os.write(2, b"thread '<unnamed>' panicked at connectorx/src/arrow_batch_iter.rs:162:39:\n"
                        b"stack backtrace:\n   0: rust_begin_unwind\n" * 20)
            raise PanicException('cx writer failed: Source(PostgresError(Error { kind: Io, cause: Some(Os { code: '
                                 '104, kind: ConnectionReset, message: "Connection reset by peer" }) }))')
        return real_read(conn, query, **kwargs)

    monkeypatch.setattr(connectorx, "read_sql", panicking_read)
    capfd.readouterr()
    with pytest.raises(SourceUnavailableError, match="lost the connection to the source PostgreSQL"):
        run_ingest(dsn, warehouse, data_dir)
    assert "panicked" not in capfd.readouterr().err  # the backtrace went to the debug log, not the terminal
    failed = [r for r in ingest_runs(warehouse) if r[2] == "failed"]
    assert len(failed) == 5 and all("lost the connection" in r[3] for r in failed)
    monkeypatch.setattr(connectorx, "read_sql", real_read)
    assert run_ingest(dsn, warehouse, data_dir).rows_loaded == 0
