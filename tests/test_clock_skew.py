"""No row from the future, no row lost to a late commit: the generator ends its last day at `now`, and the ingestion
cursor re-reads a lag window before its high-water mark."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from ingestion.generator import generate
from ingestion.generator.generate import GeneratorArgumentError
from ingestion.pipeline import run_ingest
from ingestion.source import SOURCE_TABLES, apply_schema
from tests.test_ingestion import SEED_SQL, execute, wh

END = date(2026, 3, 1)  # a 1st: the squeezed day is also the first of a month
NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def _timestamps(dsn: str) -> dict[str, list[str]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND data_type = 'timestamp with time zone' AND table_name = ANY(%s)", (list(SOURCE_TABLES),)).fetchall()
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table, []).append(column)
    return out


def _latest(dsn: str) -> dict[tuple[str, str], datetime | None]:
    with psycopg.connect(dsn) as conn:
        return {(t, c): conn.execute(f'SELECT max("{c}") FROM "{t}"').fetchone()[0]  # type: ignore[index]
                for t, cols in _timestamps(dsn).items() for c in cols}


@pytest.fixture(scope="module")
def squeezed(make_database: Callable[[], str]) -> tuple[str, str]:
    """The same history generated twice: with `now` at 09:30 on its last day, and without `now`."""
    dsns = []
    for now in (NOW, None):
        dsn = make_database()
        apply_schema(dsn)
        generate(dsn, customers=60, months=2, seed=5, end_date=END, now=now)
        dsns.append(dsn)
    return dsns[0], dsns[1]


def test_no_row_is_written_after_now(squeezed: tuple[str, str]) -> None:
    at_now, unbounded = squeezed
    latest = _latest(at_now)
    assert latest[("transactions", "updated_at")] is not None
    assert all(v is None or v <= NOW for v in latest.values()), {k: v for k, v in latest.items() if v and v > NOW}
    # without `now` the last day runs to midnight: the generator did write after 09:30 (the case being fixed)
    assert any(v is not None and v > NOW for v in _latest(unbounded).values())


def test_the_squeeze_keeps_every_row_its_day_and_its_order(squeezed: tuple[str, str]) -> None:
    at_now, unbounded = squeezed
    per_day = ("SELECT booked_at::date AS d, count(*), sum(amount) FROM transactions WHERE status = 'booked' "
               "GROUP BY 1 ORDER BY 1")
    order = ("SELECT transaction_id FROM transactions WHERE booked_at >= %s ORDER BY booked_at, transaction_id")
    with psycopg.connect(at_now) as a, psycopg.connect(unbounded) as b:
        assert a.execute(per_day).fetchall() == b.execute(per_day).fetchall()
        midnight = datetime(2026, 3, 1, tzinfo=UTC)
        assert a.execute(order, (midnight,)).fetchall() == b.execute(order, (midnight,)).fetchall()
        # scheduled transactions keep their due dates; created before now
        due = "SELECT transaction_id, scheduled_for FROM transactions WHERE status = 'scheduled' ORDER BY 1"
        assert a.execute(due).fetchall() == b.execute(due).fetchall()
        assert a.execute("SELECT count(*) FROM transactions WHERE created_at > updated_at").fetchone() == (0,)


def test_an_edit_after_the_load_is_picked_up(squeezed: tuple[str, str], tmp_path: Path) -> None:
    at_now, _ = squeezed
    warehouse, data_dir = tmp_path / "w.duckdb", tmp_path / "data"
    run_ingest(at_now, warehouse, data_dir)
    with psycopg.connect(at_now) as conn:
        customer = conn.execute("SELECT min(customer_id) FROM customers").fetchone()[0]  # type: ignore[index]
        conn.execute("UPDATE customers SET full_name = 'Edited Later', updated_at = %s WHERE customer_id = %s",
                     (NOW + timedelta(minutes=5), customer))
    report = run_ingest(at_now, warehouse, data_dir)
    assert report.table("customers").rows_loaded == 1
    assert wh(warehouse, "SELECT full_name FROM raw.customers WHERE customer_id = ?", [customer]) == [
        ("Edited Later",)]


def test_end_date_after_now_is_refused(empty_source: str) -> None:
    with pytest.raises(GeneratorArgumentError, match="after today"):
        generate(empty_source, customers=5, months=1, seed=1, end_date=END + timedelta(days=1), now=NOW)


# --- the cursor's lag window -----------------------------------------------------------------------------------


@pytest.fixture()
def loaded(empty_source: str, tmp_path: Path) -> tuple[str, Path, Path]:
    execute(empty_source, SEED_SQL)
    warehouse, data_dir = tmp_path / "w.duckdb", tmp_path / "data"
    run_ingest(empty_source, warehouse, data_dir)
    return empty_source, warehouse, data_dir


def test_a_late_commit_with_an_older_updated_at_is_loaded(loaded: tuple[str, Path, Path]) -> None:
    """A writer's transaction stamped 23:58 commits after a load whose high-water mark was 00:00 (customer 3)."""
    dsn, warehouse, data_dir = loaded
    execute(dsn, "UPDATE customers SET full_name = 'Bob M.', updated_at = '2024-01-02 23:58+00' "
                 "WHERE customer_id = 2")  # two minutes before the mark: committed late
    report = run_ingest(dsn, warehouse, data_dir)
    assert report.table("customers").rows_loaded == 1
    assert wh(warehouse, "SELECT customer_id, full_name FROM raw.customers ORDER BY 1") == [
        (1, "Ada Lovelace"), (2, "Bob M."), (3, "Cyd Charisse")]
    # re-reading the window loads nothing twice
    assert run_ingest(dsn, warehouse, data_dir).rows_loaded == 0


def test_without_a_lag_the_late_commit_is_lost(empty_source: str, tmp_path: Path) -> None:
    """The same late commit with lag 0: why the window exists (the cursor alone skips it)."""
    dsn, warehouse, data_dir = empty_source, tmp_path / "w.duckdb", tmp_path / "data"
    execute(dsn, SEED_SQL)
    run_ingest(dsn, warehouse, data_dir, lag_seconds=0)
    execute(dsn, "UPDATE customers SET full_name = 'Bob M.', updated_at = '2024-01-02 23:58+00' "
                 "WHERE customer_id = 2")
    report = run_ingest(dsn, warehouse, data_dir, lag_seconds=0)
    assert report.table("customers").rows_loaded == 0
    assert wh(warehouse, "SELECT full_name FROM raw.customers WHERE customer_id = 2") == [("Bob Martin",)]
