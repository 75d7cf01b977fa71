"""Ingestion: the operational PostgreSQL -> the DuckDB warehouse schema `raw`, with dlt.

Design (why, not what):
- Backend connectorx (Arrow end to end): ~50x faster than dlt's default SQLAlchemy rows. Column types come from
  SQLAlchemy reflection with precision (`full_with_precision`), so numeric(14,2) lands as DECIMAL(14,2), not DOUBLE.
- Incremental on `updated_at` (inclusive `>=`) + merge (delete-insert) on the primary key: a re-run loads nothing,
  an updated row replaces the old one. Rows sharing the high-water mark are de-duplicated by dlt on a hash of the
  *whole row* (not only the key), so a row re-updated within the same microsecond is still picked up.
- Source columns are checked against the types we can map before anything is read: an unknown type is a clear
  `SourceDataError`, not a connectorx panic. Every table is extracted to local files before the warehouse is
  touched, so bad data fails the run with `raw` unchanged.
- Crash safety: a run killed during load leaves a pending dlt package; the next run loads it first (merge is
  idempotent, and dlt de-duplicates staging by key, so a Parquet file copied twice does no harm). After a run that
  failed before loading, the local state is dropped and restored from the warehouse, which only holds the state of
  completed loads.
- One consistent snapshot: every table is read in one REPEATABLE READ snapshot exported by a coordinating
  connection (`pg_export_snapshot`) and imported by each connectorx read, so a customer, its account and its
  transactions committed while the tables are read are all in this run or all in the next: `raw` has no orphans.
- Timeouts: every source connection has a connect timeout and a statement timeout (FINEFIN_SOURCE_*_TIMEOUT_S); a
  lock held by another session or a dropped connection fails the run with one line and a `failed` row in
  ops.ingest_runs (connectorx panics, a BaseException, are caught too).
- Warehouse connections are short-lived and always closed: dbt and the bot open the same file.
- dlt state lives under `<data_dir>/dlt/<pipeline>` where the pipeline name hashes the warehouse path; if the
  warehouse holds no dlt state (new or deleted file) the local state is discarded, so a new warehouse gets a full load.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import duckdb
import psycopg

from finefin.config import (
    DEFAULT_INGEST_LAG_SECONDS,
    DEFAULT_SOURCE_CONNECT_TIMEOUT_S,
    DEFAULT_SOURCE_STATEMENT_TIMEOUT_S,
    Settings,
)
from finefin.errors import ConfigurationError, FinefinError, SourceDataError, SourceUnavailableError
from finefin.text import plural
from ingestion.lag_window import Seen, drop_already_loaded, loaded_in_window
from ingestion.load_log import RunRow, last_successful_load, write_runs
from ingestion.native_stderr import captured_native_stderr
from ingestion.source import PRIMARY_KEYS, SOURCE_TABLES, connect, redact

__all__ = ["IngestReport", "TableLoad", "last_successful_load", "run_ingest"]

log = logging.getLogger(__name__)

KEEP_LOADED_PACKAGES = 5
"""dlt keeps every loaded package (~0.3 MB each) for inspection: the newest few are enough."""

DATASET = "raw"
CURSOR = "updated_at"
LOAD_ID_COLUMN = "_dlt_load_id"
MERGE: dict[str, str] = {"disposition": "merge", "strategy": "delete-insert"}

SUPPORTED_TYPES: frozenset[str] = frozenset({
    "smallint", "integer", "bigint", "numeric", "real", "double precision", "boolean",
    "text", "character", "character varying", "date", "timestamp with time zone", "uuid",
})
"""PostgreSQL types (information_schema.columns.data_type) that connectorx + dlt map exactly to DuckDB."""


@dataclass(frozen=True)
class TableLoad:
    """What one run did to one table. `duration_seconds` is the time spent reading it from the source into local
    files; normalizing and loading are shared by all tables (see IngestReport.duration_seconds)."""

    table: str
    rows_loaded: int
    duration_seconds: float
    high_water_mark: datetime | None


@dataclass
class IngestReport:
    """Result of `run_ingest`; `str()` renders a readable table."""

    run_id: str
    warehouse_path: Path
    started_at: datetime
    finished_at: datetime
    tables: list[TableLoad] = field(default_factory=list)
    recovered_packages: int = 0
    phase_seconds: dict[str, float] = field(default_factory=dict)
    """Wall time per phase: checks, recover, extract, normalize, load, bookkeeping."""

    @property
    def rows_loaded(self) -> int:
        return sum(t.rows_loaded for t in self.tables)

    @property
    def duration_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    def table(self, name: str) -> TableLoad:
        return next(t for t in self.tables if t.table == name)

    def __str__(self) -> str:
        header = f"{'table':<14} {'rows loaded':>12} {'extract s':>9}  high-water mark (updated_at, UTC)"
        lines = [
            f"ingest run {self.run_id} -> {self.warehouse_path} (schema {DATASET}): "
            f"{plural(self.rows_loaded, 'row')} in {self.duration_seconds:.2f} s",
            header,
            "-" * len(header),
        ]
        for t in self.tables:
            hwm = t.high_water_mark.astimezone(UTC).isoformat(sep=" ") if t.high_water_mark else "-"
            lines.append(f"{t.table:<14} {t.rows_loaded:>12,} {t.duration_seconds:>9.2f}  {hwm}")
        if self.recovered_packages:
            lines.append(f"(first finished {plural(self.recovered_packages, 'load package')} left by an interrupted "
                         "run)")
        if self.phase_seconds:
            lines.append("phases: " + ", ".join(f"{k} {v:.2f} s" for k, v in self.phase_seconds.items()))
        return "\n".join(lines)

    def __rich__(self) -> Any:
        """A rich table for the CLI (rich would otherwise pretty-print the dataclass repr)."""
        from rich.table import Table

        table = Table(title=f"ingest run {self.run_id}: {plural(self.rows_loaded, 'row')} in "
                            f"{self.duration_seconds:.2f} s -> {self.warehouse_path} (schema {DATASET})",
                      title_justify="left")
        table.add_column("table")
        table.add_column("rows loaded", justify="right")
        table.add_column("extract s", justify="right")
        table.add_column("high-water mark (updated_at, UTC)")
        for t in self.tables:
            hwm = t.high_water_mark.astimezone(UTC).isoformat(sep=" ") if t.high_water_mark else "-"
            table.add_row(t.table, f"{t.rows_loaded:,}", f"{t.duration_seconds:.2f}", hwm)
        notes = [f"first finished {self.recovered_packages} load package(s) left by an interrupted run"
                 ] if self.recovered_packages else []
        if self.phase_seconds:
            notes.append("phases: " + ", ".join(f"{k} {v:.2f} s" for k, v in self.phase_seconds.items()))
        table.caption = "\n".join(notes) or None
        return table


def pipeline_name(warehouse_path: Path) -> str:
    """A dlt pipeline name unique to one warehouse file, so two warehouses never share incremental state."""
    digest = hashlib.sha256(str(Path(warehouse_path).expanduser().resolve()).encode()).hexdigest()[:12]
    return f"finefin_ingest_{digest}"


@dataclass(frozen=True)
class SourceTimeouts:
    """Connect and statement timeouts of every source connection (FINEFIN_SOURCE_{CONNECT,STATEMENT}_TIMEOUT_S)."""

    connect_s: float = DEFAULT_SOURCE_CONNECT_TIMEOUT_S
    statement_s: float = DEFAULT_SOURCE_STATEMENT_TIMEOUT_S

    @classmethod
    def from_settings(cls, settings: Settings) -> SourceTimeouts:
        return cls(settings.source_connect_timeout_s, settings.source_statement_timeout_s)


def connectorx_url(dsn: str, timeouts: SourceTimeouts | None = None) -> str:
    """The DSN as a URL connectorx accepts. It rejects an empty host and ignores `?host=`: a unix-socket directory
    must be the percent-encoded host (`postgresql://user@%2Fpath%2Fpgdata/db`). With `timeouts`, the URL carries
    the connect timeout and a session statement timeout (`options=-c statement_timeout=…`), which covers every
    query connectorx runs, its schema probe included."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise ConfigurationError(f"the source DSN is not valid: {exc}") from exc
    host = str(info.pop("host", "") or "")
    port = info.pop("port", None)
    user = quote(str(info.pop("user", "") or ""), safe="")
    password = info.pop("password", None)
    dbname = quote(str(info.pop("dbname", "") or ""), safe="")
    query: dict[str, str] = {k: str(v) for k, v in info.items() if k not in {"connect_timeout"}}
    if timeouts is not None:
        query["connect_timeout"] = str(max(1, round(timeouts.connect_s)))
        options = f"-c statement_timeout={int(timeouts.statement_s * 1000)}"
        query["options"] = f"{query['options']} {options}" if query.get("options") else options
    auth = user + (f":{quote(str(password), safe='')}" if password else "")
    netloc = (f"{auth}@" if auth else "") + quote(host or "localhost", safe="") + (f":{port}" if port else "")
    return f"postgresql://{netloc}/{dbname}" + (f"?{urlencode(query, quote_via=quote)}" if query else "")


# --- checks before any work -------------------------------------------------------------------------------------


def _check_warehouse(warehouse_path: Path) -> None:
    if warehouse_path.is_dir():
        raise ConfigurationError(f"the warehouse path {warehouse_path} is a directory, not a DuckDB file")
    try:
        warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot create the warehouse folder {warehouse_path.parent}: {exc.strerror}") from exc
    if not os.access(warehouse_path.parent, os.W_OK) or (
        warehouse_path.exists() and not os.access(warehouse_path, os.W_OK)
    ):
        raise ConfigurationError(f"the warehouse {warehouse_path} is not writable")
    if warehouse_path.exists():
        try:
            duckdb.connect(str(warehouse_path)).close()
        except duckdb.Error as exc:
            raise ConfigurationError(f"cannot open the warehouse {warehouse_path}: {_duckdb_reason(exc)}") from exc


def _duckdb_reason(exc: BaseException) -> str:
    """DuckDB's open errors repeat the path over several lines: keep the reason only."""
    text = " ".join(str(exc).split())
    if "not a valid DuckDB database" in text:
        return "the file exists but is not a DuckDB database"
    if "lock" in text.lower():
        return "another process holds it open (a running dbt, bot or ingest?)"
    return text[:200]


def _check_data_dir(data_dir: Path) -> Path:
    dlt_dir = data_dir / "dlt"
    try:
        dlt_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot create the state folder {dlt_dir}: {exc.strerror}") from exc
    if not os.access(dlt_dir, os.W_OK):
        raise ConfigurationError(f"the state folder {dlt_dir} is not writable")
    return dlt_dir


def check_source(
    dsn: str, tables: Sequence[str], timeouts: SourceTimeouts | None = None
) -> tuple[dict[str, dict[str, tuple[int, int]]], dict[str, dict[str, int]]]:
    """Fail early and clearly: missing tables (ConfigurationError), unmappable column types (SourceDataError).

    Returns per table the numeric columns' (precision, scale) and the integer columns' bit widths."""
    timeouts = timeouts or SourceTimeouts()
    with connect(dsn, connect_timeout_s=timeouts.connect_s, statement_timeout_s=timeouts.statement_s) as conn:
        rows = conn.execute(
            """SELECT table_name, column_name, data_type, numeric_precision, numeric_scale
               FROM information_schema.columns
               WHERE table_schema = current_schema() AND table_name = ANY(%s)
               ORDER BY table_name, ordinal_position""",
            (list(tables),),
        ).fetchall()
    found = {r[0] for r in rows}
    missing = [t for t in tables if t not in found]
    if missing:
        raise ConfigurationError(
            f"the source {redact(dsn)} has no table {', '.join(missing)}: run `finefin source init` first"
        )
    for table, column, data_type, precision, _scale in rows:
        if data_type not in SUPPORTED_TYPES:
            raise SourceDataError(
                f"source column {table}.{column} has type {data_type}, which the ingestion cannot map to DuckDB"
            )
        if data_type == "numeric" and precision is None:
            raise SourceDataError(
                f"source column {table}.{column} is numeric without precision and scale, which cannot land as an "
                "exact DECIMAL: declare it numeric(p,s)"
            )
    for table in tables:
        if not any(r[0] == table and r[1] == CURSOR for r in rows):
            raise SourceDataError(f"source table {table} has no {CURSOR} column to load incrementally")
    decimals: dict[str, dict[str, tuple[int, int]]] = {t: {} for t in tables}
    widths: dict[str, dict[str, int]] = {t: {} for t in tables}
    for table, column, data_type, precision, scale in rows:
        if data_type == "numeric":
            decimals[table][column] = (int(precision), int(scale or 0))
        elif data_type in {"integer", "smallint"}:
            widths[table][column] = int(precision)  # information_schema: 32 / 16 (binary precision)
    return decimals, widths


# --- dlt ----------------------------------------------------------------------------------------------------------


def _configure_dlt() -> None:
    """Process-wide dlt settings: no telemetry, the load id on every row (lineage, per-run row counts)."""
    # dlt reads secrets from Airflow Variables whenever Airflow is importable (it is, in the airflow extra): that
    # imports Airflow (seconds) and queries its metadata DB on every config lookup. All our config is in code.
    os.environ.setdefault("PROVIDERS__ENABLE_AIRFLOW_SECRETS", "false")
    import dlt

    dlt.config["runtime.dlthub_telemetry"] = False
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
    dlt.config["load.truncate_staging_dataset"] = True  # raw_staging would otherwise keep a copy of each load
    dlt.config["extract.next_item_mode"] = "fifo"  # one table after the other: per-table extract times are exact


def _make_pipeline(warehouse_path: Path, dlt_dir: Path) -> Any:
    import dlt

    pipeline = dlt.pipeline(
        pipeline_name=pipeline_name(warehouse_path),
        pipelines_dir=str(dlt_dir),
        destination=dlt.destinations.duckdb(str(warehouse_path)),
        dataset_name=DATASET,
        progress="log" if log.isEnabledFor(logging.DEBUG) else None,
    )
    # dlt warns on every run that Arrow's decimal128(38,10) differs from the reflected numeric(14,2) (expected: the
    # reflected type wins) and logs job tracebacks itself; our errors carry the message, details stay at debug level
    logging.getLogger("dlt").setLevel(logging.DEBUG if log.isEnabledFor(logging.DEBUG) else logging.CRITICAL)
    return pipeline


def _whole_row(item: Any) -> list[str]:
    """Boundary de-duplication key for dlt's incremental: every column, so a changed row is never skipped."""
    return [n for n in item.schema.names if n != "_dlt_index"] if hasattr(item, "schema") else list(item)


class _ExtractClock:
    """Times each table's extraction: a map step stamps every item as it leaves its resource. Resources are read one
    after another (connectorx yields a table or large batches), so a table's time runs from the previous table's
    last item to its own last item."""

    def __init__(self, tables: Sequence[str]) -> None:
        self.tables = list(tables)
        self.last_item: dict[str, float] = {}
        self.start = time.perf_counter()
        self.start_at = datetime.now(UTC)

    def stamp(self, table: str, decimals: dict[str, tuple[int, int]]) -> Any:
        """Map step: cast numerics to their declared precision, then stamp the time."""
        def _step(item: Any) -> Any:
            item = _cast_decimals(table, item, decimals)
            _check_dates_in_range(table, item)
            self.last_item[table] = time.perf_counter()
            return item

        return _step

    def seconds(self) -> dict[str, float]:
        out, previous = {}, self.start
        for table in sorted(self.tables, key=lambda t: self.last_item.get(t, self.start)):
            end = self.last_item.get(table)
            out[table] = 0.0 if end is None else end - previous
            previous = end if end is not None else previous
        return out

    def started_at(self) -> dict[str, datetime]:
        """Wall-clock start of each table's extraction."""
        out, offset = {}, 0.0
        ordered = sorted(self.tables, key=lambda t: self.last_item.get(t, self.start))
        durations = self.seconds()
        for table in ordered:
            out[table] = datetime.fromtimestamp(self.start_at.timestamp() + offset, UTC)
            offset += durations[table]
        return out


_DATE_RANGE: dict[str, tuple[int, int]] = {  # years 1 to 9999, what Python, Parquet readers and DuckDB agree on
    "timestamp": (-62_135_596_800_000_000, 253_402_300_799_999_999),  # microseconds since 1970
    "date": (-719_162, 2_932_896),  # days since 1970
}


def _check_dates_in_range(table: str, item: Any) -> None:
    """PostgreSQL's +-infinity reaches Arrow as a far-away instant; refuse it rather than load a wrong date."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not isinstance(item, pa.Table | pa.RecordBatch) or item.num_rows == 0:
        return
    for f in item.schema:
        kind = "timestamp" if pa.types.is_timestamp(f.type) else "date" if pa.types.is_date32(f.type) else None
        if kind is None:
            continue
        storage = item.column(f.name).cast(pa.int64() if kind == "timestamp" else pa.int32())
        bounds = pc.min_max(storage).as_py()
        low, high = _DATE_RANGE[kind]
        if bounds["min"] is not None and (bounds["min"] < low or bounds["max"] > high):
            raise SourceDataError(f"source column {table}.{f.name} holds a value the ingestion cannot load: "
                                  f"a {kind} outside the years 1-9999 (PostgreSQL's infinity?)")


def _cast_decimals(table: str, item: Any, decimals: dict[str, tuple[int, int]]) -> Any:
    """connectorx returns every numeric as decimal128(38,10); cast to the declared numeric(p,s). DuckDB then reads
    DECIMAL(14,2) natively (the 38-digit form halves its Parquet load speed), and a value that would lose digits
    raises instead of being rounded."""
    import pyarrow as pa

    if not decimals or not isinstance(item, pa.Table | pa.RecordBatch):
        return item
    fields = [
        f.with_type(pa.decimal128(*decimals[f.name])) if f.name in decimals and pa.types.is_decimal(f.type) else f
        for f in item.schema
    ]
    try:
        return item.cast(pa.schema(fields, metadata=item.schema.metadata))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise SourceDataError(f"source table {table} holds a numeric value outside its declared precision: "
                              f"{str(exc).splitlines()[0]}") from exc


def _source(
    engine: Any, tables: Sequence[str], cx_url: str, chunk_size: int, clock: _ExtractClock,
    decimals: dict[str, dict[str, tuple[int, int]]], integer_widths: dict[str, dict[str, int]],
    empty_tables: set[str], lag_seconds: float, seen: dict[str, Seen], snapshot_queries: Sequence[str] = (),
    on_table_started: Callable[[str], None] | None = None,
) -> Any:
    """One dlt source over `tables`: connectorx, precise types, incremental on updated_at, merge on the key.

    A table that is empty or missing in `raw` is appended instead: merging into nothing would cost a copy into
    staging, a de-duplication and a second copy (~40 % of a first load). The one risk of append, a kill after a
    copy committed but before dlt recorded it, is repaired by `_remove_duplicate_keys` after a resumed load."""
    import dlt
    from dlt.sources.sql_database import sql_database

    with warnings.catch_warnings():  # dlt's own default for a deprecated argument warns on every call
        warnings.filterwarnings("ignore", message=".*detect_precision_hints.*", category=DeprecationWarning)
        source = sql_database(
            credentials=engine,
            table_names=list(tables),
            backend="connectorx",
            backend_kwargs={"conn": cx_url, "return_type": "arrow_stream", "batch_size": chunk_size,
                            # every read joins the run's exported snapshot (see _source_snapshot)
                            **({"pre_execution_query": list(snapshot_queries)} if snapshot_queries else {})},
            reflection_level="full_with_precision",
            chunk_size=chunk_size,
        )
    for table in tables:
        resource = source.resources[table]
        # SQLAlchemy reflection reports int4/int2 as bigint: keep their width in DuckDB (INTEGER / SMALLINT)
        widths = integer_widths.get(table, {})
        resource.apply_hints(
            columns=[{"name": c, "data_type": "bigint", "precision": w} for c, w in widths.items()] or None,
            primary_key=PRIMARY_KEYS[table],
            # no "deduplicated": True: a load resumed after a kill can copy a Parquet file into staging twice, and
            # dlt's de-duplication of staging by primary key is what keeps raw free of duplicates (tested)
            write_disposition="append" if table in empty_tables else MERGE,
            # the cursor re-reads `lag_seconds` before its last value: a row committed late with an older updated_at
            # (a long transaction, a writer's clock behind) is still loaded; re-read rows merge on the primary key
            incremental=dlt.sources.incremental(CURSOR, primary_key=_whole_row, lag=lag_seconds or None),
        )
        resource.add_map(clock.stamp(table, decimals.get(table, {})))
        if on_table_started is not None:
            resource.add_map(_first_item_calls(on_table_started, table))
        if seen.get(table):
            resource.add_map(drop_already_loaded(PRIMARY_KEYS[table], seen[table]))
    return source


def _first_item_calls(callback: Callable[[str], None], table: str) -> Callable[[Any], Any]:
    """Map step calling `callback(table)` once, when the table's first rows arrive (its read has begun)."""
    called = False

    def _step(item: Any) -> Any:
        nonlocal called
        if not called:
            called = True
            callback(table)
        return item

    return _step


@contextmanager
def _source_snapshot(dsn: str, timeouts: SourceTimeouts) -> Iterator[list[str]]:
    """Open a REPEATABLE READ, READ ONLY transaction on the source and export its snapshot; yield the statements that
    make another connection read in that same snapshot. The transaction stays open (so the snapshot stays valid)
    until every table has been read."""
    conn = connect(dsn, connect_timeout_s=timeouts.connect_s, statement_timeout_s=timeouts.statement_s)
    try:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        row = conn.execute("SELECT pg_export_snapshot()").fetchone()
        snapshot_id = str(row[0]) if row else ""
        if not snapshot_id.replace("-", "").isalnum():
            raise SourceUnavailableError(f"the source returned an unexpected snapshot id {snapshot_id!r}")
        yield ["BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", f"SET TRANSACTION SNAPSHOT '{snapshot_id}'"]
    except psycopg.Error as exc:
        raise (_source_failure(exc, None, timeouts) or SourceUnavailableError(
            f"the source PostgreSQL could not export a snapshot: {str(exc).strip()[:200]}")) from exc
    finally:
        try:
            conn.rollback()
            conn.close()
        except psycopg.Error:  # the connection may be the thing that failed
            pass


_TIMEOUT_MARKERS = ("statement timeout", "lock timeout", "canceling statement")
_CONNECTION_MARKERS = (
    "terminating connection", "server closed the connection", "connection reset", "connection refused",
    "broken pipe", "connection closed", "unexpected eof", "could not receive data", "could not send data",
    "kind: io", "kind: closed", "connection to server", "timed out", "no connection to the server",
    "consuming input failed",
)


def _source_failure(exc: BaseException, table: str | None, timeouts: SourceTimeouts) -> FinefinError | None:
    """A source outage (timeout, lost connection) as one SourceUnavailableError line; None for anything else."""
    cause: BaseException | None = exc
    texts: list[str] = []
    for _ in range(10):
        if cause is None:
            break
        if isinstance(cause, FinefinError):
            return cause
        texts.append(str(cause))
        cause = getattr(cause, "exception", None) or getattr(cause, "orig", None) or cause.__cause__ or (
            None if cause.__suppress_context__ else cause.__context__)
    text = " ".join(texts).lower()
    where = f" reading table {table}" if table and table != "?" else ""
    if any(marker in text for marker in _TIMEOUT_MARKERS):
        return SourceUnavailableError(
            f"the source PostgreSQL did not answer within {timeouts.statement_s:g} s{where} (a lock held by another "
            "session, or an overloaded server): raise FINEFIN_SOURCE_STATEMENT_TIMEOUT_S or retry later")
    if any(marker in text for marker in _CONNECTION_MARKERS):
        innermost = next((t for t in reversed(texts) if t.strip()), type(exc).__name__)
        detail = " ".join(innermost.split())[:200]
        return SourceUnavailableError(f"lost the connection to the source PostgreSQL{where}: {detail}")
    return None


@contextmanager
def _warehouse(warehouse_path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived DuckDB connection (closed on exit: dbt and the bot need the file); open errors become one
    ConfigurationError line."""
    try:
        con = duckdb.connect(str(warehouse_path), read_only=read_only)
    except duckdb.Error as exc:
        raise ConfigurationError(f"cannot open the warehouse {warehouse_path}: {_duckdb_reason(exc)}") from exc
    try:
        con.execute("SET TimeZone = 'UTC'")
        yield con
    finally:
        con.close()


def _warehouse_has_state(warehouse_path: Path) -> bool:
    if not warehouse_path.exists():
        return False
    with _warehouse(warehouse_path, read_only=True) as con:
        row = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = '_dlt_loads'",
            [DATASET],
        ).fetchone()
        return bool(row and row[0])


def _source_error(table: str, column: str | None, exc: BaseException) -> SourceDataError:
    """One sentence naming the table (and the column when found) from a failed extract."""
    cause: BaseException = exc
    for _ in range(10):  # dlt wraps the driver error in PipelineStepFailed -> ResourceExtractionError
        nxt = getattr(cause, "exception", None) or cause.__cause__
        if nxt is None or nxt is cause:
            break
        cause = nxt
    detail = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    where = f"column {table}.{column}" if column else f"table {table}"
    return SourceDataError(f"source {where} holds a value the ingestion cannot load: {detail}")


def _diagnose_column(dsn: str, cx_url: str, table: str) -> str | None:
    """After a failed read of `table`, name the column holding the bad value (error path, may scan the table)."""
    import connectorx as cx

    with connect(dsn) as conn:
        columns = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = %s ORDER BY ordinal_position", (table,)).fetchall()
        for column, data_type in columns:  # PostgreSQL's +-infinity has no Arrow/DuckDB equivalent
            if data_type in {"date", "timestamp with time zone"}:
                query = f'SELECT 1 FROM "{table}" WHERE NOT isfinite("{column}") LIMIT 1'
                if conn.execute(query).fetchone():  # type: ignore[arg-type]  # names from the catalog
                    return f"{column} (infinite {data_type})"
    for column, _ in columns:
        try:
            cx.read_sql(cx_url, f'SELECT "{column}" FROM "{table}"', return_type="arrow").to_pylist()
        except BaseException:  # connectorx raises RuntimeError, OverflowError or a Rust PanicException
            return column
    return None


# --- the run --------------------------------------------------------------------------------------------------------


def _warehouse_facts(
    warehouse_path: Path, tables: Sequence[str], load_ids: Sequence[str]
) -> dict[str, tuple[int, datetime | None]]:
    """Rows carrying one of `load_ids` and max(updated_at), per raw table."""
    facts: dict[str, tuple[int, datetime | None]] = {}
    with _warehouse(warehouse_path, read_only=True) as con:
        existing = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [DATASET]).fetchall()}
        for table in tables:
            if table not in existing:
                facts[table] = (0, None)
                continue
            row = con.execute(
                f'SELECT count(*) FILTER (WHERE "{LOAD_ID_COLUMN}" IN (SELECT unnest(?::VARCHAR[]))), '
                f'max("{CURSOR}") FROM "{DATASET}"."{table}"',
                [list(load_ids)],
            ).fetchone()
            facts[table] = (int(row[0]), row[1]) if row else (0, None)
    return facts


def _empty_raw_tables(warehouse_path: Path, tables: Sequence[str]) -> set[str]:
    """Tables missing or empty in `raw`: their first load can append (see `_source`)."""
    if not warehouse_path.exists():
        return set(tables)
    with _warehouse(warehouse_path, read_only=True) as con:
        existing = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [DATASET]).fetchall()}
        empty = set()
        for table in tables:
            if table not in existing or con.execute(f'SELECT 1 FROM "{DATASET}"."{table}" LIMIT 1').fetchone() is None:
                empty.add(table)
    return empty


def _remove_duplicate_keys(warehouse_path: Path, tables: Sequence[str]) -> None:
    """After a resumed load: an appended Parquet file may have been copied twice (killed between DuckDB's commit and
    dlt's bookkeeping). Keep one row per primary key (the duplicates are identical rows)."""
    with _warehouse(warehouse_path) as con:
        existing = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [DATASET]).fetchall()}
        for table in tables:
            if table not in existing:
                continue
            pk, qualified = PRIMARY_KEYS[table], f'"{DATASET}"."{table}"'
            row = con.execute(f'SELECT count(*) - count(DISTINCT "{pk}") FROM {qualified}').fetchone()
            if row and row[0]:
                log.warning("removing %d duplicate key(s) from raw.%s left by an interrupted load", row[0], table)
                con.execute(
                    f"""DELETE FROM {qualified} WHERE rowid IN (
                            SELECT rowid FROM (
                                SELECT rowid, row_number() OVER (PARTITION BY "{pk}"
                                                                 ORDER BY "{LOAD_ID_COLUMN}" DESC) AS n
                                FROM {qualified}) WHERE n > 1)"""
                )


def _record(warehouse_path: Path, rows: Sequence[RunRow]) -> None:
    with _warehouse(warehouse_path) as con:
        write_runs(con, rows)


def _record_failure(
    warehouse_path: Path, run_id: str, tables: Sequence[str], started: dict[str, datetime], run_start: datetime,
    load_ids: Sequence[str], error: str,
) -> None:
    """Best effort: a failed run leaves one 'failed' row per table in ops.ingest_runs."""
    try:
        facts = _warehouse_facts(warehouse_path, tables, load_ids)
        now = datetime.now(UTC)
        _record(warehouse_path, [
            RunRow(run_id, t, facts[t][0], facts[t][1], started.get(t, run_start), now, "failed", error)
            for t in tables
        ])
    except Exception:  # the warehouse itself may be the problem: the run's error matters more
        log.warning("could not record the failed run in ops.ingest_runs", exc_info=True)


def run_ingest(
    dsn: str,
    warehouse_path: Path,
    data_dir: Path,
    *,
    tables: Sequence[str] = SOURCE_TABLES,
    chunk_size: int = 100_000,
    lag_seconds: float = DEFAULT_INGEST_LAG_SECONDS,
    timeouts: SourceTimeouts | None = None,
    on_table_started: Callable[[str], None] | None = None,
) -> IngestReport:
    """Load new and changed source rows into `<warehouse>.raw.<table>`; returns what was loaded per table.

    Raises ConfigurationError (bad DSN, unusable warehouse or data dir), SourceUnavailableError (the source is down,
    dropped the connection or hit the statement timeout; a `failed` row is recorded when the warehouse exists) or
    SourceDataError (a column type or value that cannot be loaded; `raw` is left unchanged). `on_table_started` is
    called with each table's name when its first rows arrive (tests commit concurrent writes there).
    """
    import sqlalchemy as sa
    from dlt.pipeline.exceptions import PipelineStepFailed

    warehouse_path = Path(warehouse_path).expanduser().resolve()
    data_dir = Path(data_dir).expanduser().resolve()
    timeouts = timeouts or SourceTimeouts()
    run_id = uuid.uuid4().hex[:12]
    run_start = datetime.now(UTC)
    phases = _Phases()
    _check_warehouse(warehouse_path)
    dlt_dir = _check_data_dir(data_dir)
    load_ids: list[str] = []
    clock = _ExtractClock(tables)

    def record_failure(error: str) -> None:
        if warehouse_path.exists():  # an unreachable source must not create an empty warehouse
            _record_failure(warehouse_path, run_id, tables, clock.started_at(), run_start, load_ids, error)

    try:
        decimals, integer_widths = check_source(dsn, tables, timeouts)
    except SourceUnavailableError as exc:
        record_failure(str(exc))
        raise
    except psycopg.Error as exc:
        error = _source_failure(exc, None, timeouts) or SourceUnavailableError(
            f"the source PostgreSQL failed: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}")
        record_failure(str(error))
        raise error from exc
    cx_url = connectorx_url(dsn, timeouts)
    _configure_dlt()

    name = pipeline_name(warehouse_path)
    if (dlt_dir / name).exists() and not _warehouse_has_state(warehouse_path):
        log.info("warehouse %s holds no dlt state: discarding local state %s", warehouse_path, dlt_dir / name)
        shutil.rmtree(dlt_dir / name)

    pipeline = _make_pipeline(warehouse_path, dlt_dir)
    phases.lap("checks")
    engine = sa.create_engine(
        "postgresql+psycopg://",
        creator=lambda: connect(dsn, connect_timeout_s=timeouts.connect_s, statement_timeout_s=timeouts.statement_s),
    )
    recovered = 0
    loading = False  # past this point a failure may have written raw: keep the local dlt state for the next run
    try:
        # 1. a previous run killed during normalize/load left packages: finish them first (merge is idempotent)
        if pipeline.has_pending_data:
            loading = True
            recovered = len(pipeline.list_extracted_load_packages()) + len(pipeline.list_normalized_load_packages())
            log.warning("finishing %d load package(s) left by an interrupted run", recovered)
            pipeline.normalize()
            load_ids.extend(pipeline.load().loads_ids)
            _remove_duplicate_keys(warehouse_path, tables)
            loading = False
        else:
            pipeline.sync_destination()
        empty_tables = _empty_raw_tables(warehouse_path, tables)
        lagged = [t for t in tables if t not in empty_tables]
        seen: dict[str, Seen] = {}
        if lag_seconds > 0 and lagged:
            with _warehouse(warehouse_path, read_only=True) as con:
                seen = loaded_in_window(con, DATASET, PRIMARY_KEYS, CURSOR, lagged, lag_seconds)
        phases.lap("recover")

        # 2. extract every table, in one source snapshot, to local files (one package); the warehouse is untouched
        clock = _ExtractClock(tables)
        with _source_snapshot(dsn, timeouts) as snapshot_queries, captured_native_stderr():
            source = _source(engine, tables, cx_url, chunk_size, clock, decimals, integer_widths, empty_tables,
                             lag_seconds, seen, snapshot_queries, on_table_started)
            try:
                pipeline.extract(source)
            except PipelineStepFailed as exc:
                own = _find_cause(exc, SourceDataError)
                if own is not None:  # raised by our own map step (numeric outside its declared precision)
                    raise own from exc
                table = _failed_table(exc, tables)
                outage = _source_failure(exc, table, timeouts)
                if outage is not None:
                    raise outage from exc
                column = _diagnose_column(dsn, cx_url, table) if table in tables else None
                raise _source_error(table, column, exc) from exc
        phases.lap("extract")

        # 3. normalize + load into raw (staging tables, then one merge per table)
        loading = True
        pipeline.normalize()
        phases.lap("normalize")
        load_ids.extend(pipeline.load().loads_ids)
        phases.lap("load")
    except FinefinError as exc:
        if not loading:
            _drop_local_state(pipeline)
        record_failure(str(exc))
        raise
    except PipelineStepFailed as exc:
        record_failure(str(exc).splitlines()[0])
        raise _step_error(exc, warehouse_path) from exc
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # SQLAlchemy reflection errors, connectorx's PanicException (a BaseException)
        error = _source_failure(exc, _failed_table(exc, tables, guess=False), timeouts) or FinefinError(
            f"ingestion failed: {type(exc).__name__}: {_one_line(exc)}")
        if not loading:
            _drop_local_state(pipeline)
        record_failure(str(error))
        raise error from exc
    finally:
        engine.dispose()

    finished = datetime.now(UTC)
    facts = _warehouse_facts(warehouse_path, tables, load_ids)
    seconds, started = clock.seconds(), clock.started_at()
    loads = [TableLoad(table, facts[table][0], seconds[table], facts[table][1]) for table in tables]
    _record(warehouse_path, [
        RunRow(run_id, t.table, t.rows_loaded, t.high_water_mark, started[t.table], finished, "success")
        for t in loads
    ])
    _prune_loaded_packages(pipeline)
    phases.lap("bookkeeping")
    report = IngestReport(run_id, warehouse_path, run_start, finished, loads, recovered, phases.seconds)
    log.info("%s", report)
    return report


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def _prune_loaded_packages(pipeline: Any, keep: int = KEEP_LOADED_PACKAGES) -> None:
    """dlt keeps every loaded package under <pipeline>/load/loaded/<load id>: keep the newest `keep`."""
    loaded = Path(pipeline.working_dir) / "load" / "loaded"
    if not loaded.is_dir():
        return
    packages = sorted((p for p in loaded.iterdir() if p.is_dir()), key=lambda p: p.name)  # load ids are timestamps
    for package in packages[:-keep] if keep > 0 else packages:
        shutil.rmtree(package, ignore_errors=True)


def _find_cause(exc: BaseException, kind: type[BaseException]) -> Any:
    """The first exception of `kind` in dlt's wrapping chain (PipelineStepFailed -> ResourceExtractionError -> ...)."""
    cause: BaseException | None = exc
    for _ in range(10):
        if cause is None or isinstance(cause, kind):
            return cause
        cause = getattr(cause, "exception", None) or cause.__cause__
    return None


class _Phases:
    """Wall time per phase of a run, for the report (where does the time go)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self._t
        self._t = now


def _failed_table(exc: BaseException, tables: Sequence[str], *, guess: bool = True) -> str:
    """The source table whose extraction raised (dlt names the pipe in ResourceExtractionError); with `guess`, else
    the first table named in the message."""
    cause: BaseException | None = exc
    for _ in range(10):
        if cause is None:
            break
        name = getattr(cause, "pipe_name", None) or getattr(cause, "resource_name", None)
        if name in tables:
            return str(name)
        cause = getattr(cause, "exception", None) or cause.__cause__
    for table in tables if guess else ():
        if table in str(exc):
            return table
    return "?"


def _drop_local_state(pipeline: Any) -> None:
    """Forget local dlt state and packages (the warehouse is untouched) so the next run restores the state from the
    warehouse, which holds only the state of completed loads. Only called for failures before the load step."""
    try:
        pipeline.drop()
    except Exception:
        log.warning("could not drop the local dlt state of %s", pipeline.pipeline_name, exc_info=True)


def _step_error(exc: Exception, warehouse_path: Path) -> FinefinError:
    """Turn a dlt step failure into one clear sentence."""
    step = getattr(exc, "step", "run")
    cause: BaseException | None = getattr(exc, "exception", None) or exc.__cause__
    detail = str(cause or exc).strip().splitlines()[0]
    if isinstance(cause, duckdb.Error) or "duckdb" in detail.lower():
        return ConfigurationError(f"cannot write the warehouse {warehouse_path} during {step}: {detail}")
    return SourceDataError(f"ingestion failed during {step}: {detail}")
