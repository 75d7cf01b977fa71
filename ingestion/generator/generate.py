"""`generate`: fill an empty operational schema with a deterministic synthetic history, bulk-loaded with COPY."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any

import numpy as np
import pyarrow as pa
from psycopg import sql

from finefin.errors import ConfigurationError, FinefinError
from ingestion.generator import arrow_rows as ar
from ingestion.generator import pg_binary
from ingestion.generator.bulk_load import copy_csv, keys_and_indexes_dropped
from ingestion.generator.calendar import HistoryCalendar
from ingestion.generator.identity import identity_rng
from ingestion.generator.ledger import COLUMNS, Ledger, TxRows
from ingestion.generator.population import account_columns, build_population, customer_columns
from ingestion.generator.products import plan_investments, plan_loans
from ingestion.generator.summary import GenerateSummary
from ingestion.generator.vocab import DESCRIPTIONS, STATUSES, TX_TYPES
from ingestion.source import SOURCE_TABLES, connect

log = logging.getLogger(__name__)

ENCODE_SLICE = 200_000
"""Transactions encoded per COPY piece."""


class SourceNotEmptyError(FinefinError):
    """The source tables already hold rows and the caller did not ask to replace them."""


class GeneratorArgumentError(FinefinError):
    """An argument of generate/simulate_days is out of range."""


def transaction_columns(rows: TxRows) -> dict[str, pa.Array]:
    return {
        "transaction_id": ar.ids(rows.transaction_id),
        "account_id": ar.ids(rows.account_id),
        "transaction_type": ar.labels(rows.transaction_type, TX_TYPES),
        "amount": ar.money(rows.amount),
        "status": ar.labels(rows.status, STATUSES),
        "booked_at": ar.timestamps(rows.booked_at, null_below_zero=True),
        "scheduled_for": ar.dates(rows.scheduled_for, nullable=True),
        "counterparty_account_id": ar.ids(rows.counterparty_account_id, nullable=True),
        "loan_id": ar.ids(rows.loan_id, nullable=True),
        "investment_id": ar.ids(rows.investment_id, nullable=True),
        "description": ar.labels(rows.description, DESCRIPTIONS),
        "created_at": ar.timestamps(rows.created_at),
        "updated_at": ar.timestamps(rows.updated_at),
    }


def transaction_binary(rows: TxRows) -> bytes:
    """The same rows as `transaction_columns`, as binary COPY tuples (column order: COLUMNS)."""
    null = pg_binary.Col
    return pg_binary.encode([
        null("int8", rows.transaction_id),
        null("int8", rows.account_id),
        null("text", rows.transaction_type, vocabulary=TX_TYPES),
        null("money", rows.amount),
        null("text", rows.status, vocabulary=STATUSES),
        null("timestamptz", rows.booked_at, rows.booked_at < 0),
        null("date", rows.scheduled_for, rows.scheduled_for < 0),
        null("int8", rows.counterparty_account_id, rows.counterparty_account_id < 0),
        null("int8", rows.loan_id, rows.loan_id < 0),
        null("int8", rows.investment_id, rows.investment_id < 0),
        null("text", rows.description, vocabulary=DESCRIPTIONS),
        null("timestamptz", rows.created_at),
        null("timestamptz", rows.updated_at),
    ])


def _in_background(chunks: Iterator[bytes], depth: int = 2) -> Iterator[bytes]:
    """Run a chunk producer in a thread so numpy/arrow work overlaps PostgreSQL parsing the previous chunk."""
    q: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)

    def produce() -> None:
        try:
            for chunk in chunks:
                q.put(("chunk", chunk))
            q.put(("done", None))
        except BaseException as exc:  # handed to the consumer, re-raised there
            q.put(("error", exc))

    worker = threading.Thread(target=produce, name="generator-producer", daemon=True)
    worker.start()
    while True:
        kind, value = q.get()
        if kind == "chunk":
            yield value  # type: ignore[misc]
        elif kind == "error":
            raise value  # type: ignore[misc]
        else:
            break
    worker.join()


def _end_history_at(conn: Any, end_date: date, now: datetime) -> None:
    """Squeeze end_date's timestamps into [midnight, now): the same order and the same day, none in the future.

    Every timestamptz column of the source tables is mapped linearly, so a row's created_at <= booked_at <= updated_at
    order holds and every booking keeps its date. Scheduled transactions keep their due dates (a date column)."""
    midnight = datetime.combine(end_date, dtime(0), tzinfo=UTC)
    now = now.astimezone(UTC)
    if now.date() != end_date:
        return
    share = (now - midnight) / timedelta(days=1)  # of the day elapsed
    columns = conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
        " AND data_type = 'timestamp with time zone' AND table_name = ANY(%s) ORDER BY table_name, column_name",
        (list(SOURCE_TABLES),)).fetchall()
    by_table: dict[str, list[str]] = {}
    for table, column in columns:
        by_table.setdefault(table, []).append(column)
    for table, cols in by_table.items():
        sets = sql.SQL(", ").join(
            sql.SQL("{c} = CASE WHEN {c} >= %(midnight)s THEN %(midnight)s + ({c} - %(midnight)s) * %(share)s"
                    " ELSE {c} END").format(c=sql.Identifier(c)) for c in cols)
        where = sql.SQL(" OR ").join(sql.SQL("{} >= %(midnight)s").format(sql.Identifier(c)) for c in cols)
        conn.execute(sql.SQL("UPDATE {} SET {} WHERE {}").format(sql.Identifier(table), sets, where),
                     {"midnight": midnight, "share": share})


def _check_args(customers: int, months: int) -> None:
    if customers < 1:
        raise GeneratorArgumentError(f"customers must be at least 1, got {customers}")
    if not 1 <= months <= 120:
        raise GeneratorArgumentError(f"months must be between 1 and 120, got {months}")


def generate(dsn: str, *, customers: int, months: int, seed: int, end_date: date,
             replace: bool = False, now: datetime | None = None) -> GenerateSummary:
    """Fill the (existing, empty) operational schema; same arguments and seed give identical rows.

    History covers `months` calendar months ending with end_date; scheduled transactions fall in
    (end_date, end_date + 30 days]. With replace=True existing rows are truncated first, otherwise a non-empty source
    raises SourceNotEmptyError. Everything happens in one transaction.

    `now` is the moment the rows are written (the CLI passes the wall clock). When end_date is now's day, that day's
    history ends at `now` instead of midnight: no row is created, updated or booked in the future, so an `updated_at`
    cursor taken after the load never skips an edit made later that day. Without `now` the rows depend on the
    arguments alone (tests pin end_date).
    """
    _check_args(customers, months)
    if now is not None and now.tzinfo is None:
        raise GeneratorArgumentError("now must be timezone-aware")
    if now is not None and end_date > now.astimezone(UTC).date():
        raise GeneratorArgumentError(f"end date {end_date} is after today ({now.astimezone(UTC).date()}): "
                                     "a source cannot hold bookings from the future")
    started = time.perf_counter()
    cal = HistoryCalendar(end_date=end_date, months=months)
    rng = np.random.default_rng(seed)
    counts: dict[str, int] = {}
    with connect(dsn) as conn:
        missing = [t for t in SOURCE_TABLES
                   if conn.execute("SELECT to_regclass(%s)", (t,)).fetchone()[0] is None]  # type: ignore[index]
        if missing:
            raise ConfigurationError(f"the source has no {', '.join(missing)} table: run `finefin source init` first")
        filled = [t for t in SOURCE_TABLES
                  if conn.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(t))).fetchone()[0]]  # type: ignore[index]
        if filled and not replace:
            raise SourceNotEmptyError(
                f"the source already holds rows (in {', '.join(filled)}); pass replace=True (--replace) to empty it "
                "first")
        # TRUNCATE in this transaction also lets COPY FREEZE skip later hint-bit writes
        conn.execute(sql.SQL("TRUNCATE {} CASCADE").format(sql.SQL(", ").join(map(sql.Identifier, SOURCE_TABLES))))
        pop = build_population(rng, customers, cal)
        loans = plan_loans(rng, pop, cal)
        investments = plan_investments(rng, pop, cal)
        ledger = Ledger(rng, pop, cal, loans, investments)
        counts["transactions"] = 0

        def transaction_tuples() -> Iterator[bytes]:
            for rows in ledger.chunks():
                counts["transactions"] += len(rows)
                for start in range(0, len(rows), ENCODE_SLICE):  # small pieces in flight keep memory flat
                    yield transaction_binary(rows.slice(start, start + ENCODE_SLICE))

        with keys_and_indexes_dropped(conn, SOURCE_TABLES):
            copy_csv(conn, "transactions", COLUMNS, _in_background(transaction_tuples()), freeze=True, binary=True)
            # parents after the children: their final state (frozen, closed, outstanding) is known only now
            identity = identity_rng(seed)  # addresses and IBANs: their own stream, the rest of the data unchanged
            for table, columns in (
                ("customers", customer_columns(pop, identity)),
                ("accounts", account_columns(pop, ledger.frozen_at, ledger.savings_closed_at, identity)),
                ("loans", loans.columns(pop)),
                ("investments", investments.columns(pop)),
            ):
                copy_csv(conn, table, list(columns), [ar.to_csv(columns)], freeze=True)
                counts[table] = len(next(iter(columns.values())))
            if now is not None:
                _end_history_at(conn, end_date, now)
            log.info("loaded %s; rebuilding keys and indexes", counts)
        conn.commit()
        conn.autocommit = True
        conn.execute(sql.SQL("ANALYZE {}").format(sql.SQL(", ").join(map(sql.Identifier, SOURCE_TABLES))))
    ordered = {t: counts[t] for t in SOURCE_TABLES}
    months_start = _month_start(end_date, months)
    return GenerateSummary(rows=ordered, seconds=time.perf_counter() - started, seed=seed,
                           start_date=months_start, end_date=end_date)


def _month_start(end_date: date, months: int) -> date:
    first = np.datetime64(end_date, "M") - (months - 1)
    return date.fromisoformat(str(first.astype("datetime64[D]")))
