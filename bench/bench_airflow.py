"""Benchmark: finefin_refresh under a real Airflow scheduler against `finefin refresh` on the same data, and the
end-to-end freshness of each: from a commit in the source to an answer that includes it.

Run: `python -m bench.bench_airflow` (1,000 customers x 6 months, ~54 k transactions). Environment:
- BENCH_AIRFLOW_CUSTOMERS, BENCH_AIRFLOW_MONTHS: the generated source (PostgreSQL, FINEFIN_BENCH_PG_URL or the local
  server postgresql://postgres@127.0.0.1:5432/postgres; a database created and dropped by the bench). ~1 M
  transactions: 9,700 x 12; ~10 M: 96,500 x 12;
- BENCH_AIRFLOW_MODES: comma-separated FINEFIN_DBT_TASKS values to measure (default `build`; also `watcher`, `node`);
- BENCH_AIRFLOW_RUNS: runs per variant (default 2: the first, full build, then a daily incremental build);
- BENCH_AIRFLOW_FRESHNESS=0: skip the freshness measure;
- BENCH_AIRFLOW_MANIFEST=0: no FINEFIN_DBT_MANIFEST (the DAG parses the project once, or cosmos runs `dbt ls`).

Each variant starts its own `airflow standalone` (scheduler, dag-processor, triggerer, api-server, LocalExecutor,
SQLite metadata DB) on loopback under a temp AIRFLOW_HOME and a fresh data dir, waits for the DAG to be parsed,
creates runs of `finefin_refresh` through the REST API (as the scheduler would at a slot) and follows them in the
metadata DB; Airflow is stopped at the end. The baseline is `finefin refresh` (a subprocess, its own fresh data
dir) on the same source, run the same number of times. "DagRun" = the run's queued_at -> end_date (what the
scheduler's own runs take); "published" = queued_at -> the end of publish_warehouse (the bot sees the new data).

Freshness: a deposit is committed to the source; then `finefin refresh` runs (or a DAG run is created) at once,
and the bench asks the semantic layer for that customer's balance on the published snapshots until it includes the
deposit. A scheduled run adds the wait for its slot (FINEFIN_REFRESH_SCHEDULE, hourly by default).
Prints one markdown section on stdout, progress on stderr.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
from psycopg import sql

from bench.airflow_scheduler import DagRunResult, running
from finefin.config import DBT_PROJECT_DIR
from finefin.dbt_status import cached_manifest

DAG_ID = "finefin_refresh"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
FINEFIN = Path(sys.executable).with_name("finefin")


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"


@contextmanager
def source_database(server_url: str, customers: int, months: int) -> Iterator[tuple[str, int]]:
    """A generated operational source ending now; dropped at the end."""
    from ingestion.generator import generate
    from ingestion.source import PRIMARY_KEYS, apply_schema

    name = f"finefin_bench_airflow_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = psycopg.conninfo.make_conninfo(server_url, dbname=name)
    try:
        apply_schema(dsn)
        now = datetime.now(UTC)
        generate(dsn, customers=customers, months=months, seed=7, end_date=now.date(), now=now)
        with psycopg.connect(dsn) as pg:  # a live source: the newest row of every table was touched just now
            for table, key in PRIMARY_KEYS.items():
                pg.execute(f"UPDATE {table} SET updated_at = greatest(updated_at, now()) "
                           f"WHERE {key} = (SELECT max({key}) FROM {table})")
            counted = pg.execute("SELECT count(*) FROM transactions").fetchone()
        transactions = int(counted[0]) if counted else 0
        log(f"source {name}: {customers} customers x {months} months, {transactions} transactions")
        yield dsn, transactions
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def finefin_env(dsn: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("FINEFIN_")}
    env.update({"FINEFIN_SOURCE_URL": dsn, "FINEFIN_DATA_DIR": str(data_dir),
                "FINEFIN_WAREHOUSE": str(data_dir / "warehouse.duckdb"), "FINEFIN_TASK_RETRIES": "0",
                "FINEFIN_REFRESH_SCHEDULE": "none", **extra})
    return env


def cli_refresh(dsn: str, data_dir: Path) -> float:
    started = time.monotonic()
    result = subprocess.run([str(FINEFIN), "refresh"], env=finefin_env(dsn, data_dir), capture_output=True,
                            text=True, timeout=3600)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"finefin refresh failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return elapsed


def dbt_parse(target: Path) -> Path:
    """The manifest the DAG reads its graph from (as at install time), parsed under `target`."""
    return cached_manifest(DBT_PROJECT_DIR, target)


@dataclass
class Variant:
    mode: str
    parse_seconds: float
    runs: list[DagRunResult]
    loads: list[str]
    freshness: float | None = None


@dataclass(frozen=True)
class Deposit:
    customer_id: int
    amount: Decimal
    committed: float  # time.monotonic() at the commit


def balance_reader(data_dir: Path) -> Callable[[int], Decimal | None]:
    """A customer's balance from the published snapshots of `data_dir` (None before any is published)."""
    from semantic_layer.engine import DuckDbSnapshotEngine
    from semantic_layer.service import MetricFlowSemanticLayer
    from semantic_layer.types import CustomerId

    layer: list[MetricFlowSemanticLayer] = []

    def read(customer_id: int) -> Decimal | None:
        if not layer:
            if not (data_dir / "serving" / "current").exists():
                return None
            layer.append(MetricFlowSemanticLayer(DuckDbSnapshotEngine(data_dir, "warehouse.duckdb")))
        return layer[0].balance(CustomerId(customer_id)).total

    return read


def commit_deposit(dsn: str, amount: Decimal = Decimal("1234.56")) -> Deposit:
    """Book a deposit on the first active account, committed now."""
    with psycopg.connect(dsn) as pg:
        row = pg.execute("SELECT account_id, customer_id FROM accounts WHERE status = 'active' "
                         "ORDER BY account_id LIMIT 1").fetchone()
        assert row is not None
        account_id, customer_id = row
        pg.execute(
            "INSERT INTO transactions (transaction_id, account_id, transaction_type, amount, status, booked_at, "
            "description, created_at, updated_at) SELECT coalesce(max(transaction_id), 0) + 1, %s, 'deposit', %s, "
            "'booked', now(), 'bench freshness', now(), now() FROM transactions", (account_id, amount))
    return Deposit(int(customer_id), amount, time.monotonic())


def wait_for_answer(read: Callable[[int], Decimal | None], deposit: Deposit, before: Decimal | None,
                    timeout: float = 3600) -> float:
    """Seconds from the deposit's commit to the first answer that includes it."""
    expected = (before or Decimal(0)) + deposit.amount
    while time.monotonic() - deposit.committed < timeout:
        if read(deposit.customer_id) == expected:
            return time.monotonic() - deposit.committed
        time.sleep(0.25)
    raise RuntimeError(f"no answer with the deposit within {timeout:.0f} s")


def dag_runs(mode: str, dsn: str, root: Path, runs: int, manifest: Path | None, freshness: bool) -> Variant:
    data_dir = root / f"data-{mode}"
    extra = {"FINEFIN_DBT_TASKS": mode}
    if manifest is not None:
        extra["FINEFIN_DBT_MANIFEST"] = str(manifest)
    with running(root / f"airflow-{mode}", finefin_env(dsn, data_dir, **extra)) as airflow:
        parsed = airflow.wait_for_dag(DAG_ID, timeout=600)
        log(f"{mode}: DAG parsed {parsed:.1f} s after start (load {load()})")
        results: list[DagRunResult] = []
        loads: list[str] = []
        for index in range(runs):
            loads.append(load())
            result = airflow.trigger_and_wait(DAG_ID, f"bench_{mode}_{index}", timeout=7200)
            failed = {task: state for task, state in result.task_states.items() if state != "success"}
            path = {t: f"{s:.1f}-{e:.1f}" for t, (s, e) in sorted(result.task_times.items(), key=lambda i: i[1])
                    if not t.startswith(("dbt.", "dbt_build."))}
            log(f"{mode} run {index + 1}: {result.state}, DagRun {result.run_seconds:.1f} s, published at "
                f"{result.ended('publish_warehouse'):.1f} s, {len(result.task_states)} tasks, tasks (s from queued): "
                f"{path}, not successful: {failed} (load {load()})")
            if result.state != "success":
                for task in list(failed)[:3]:
                    log(airflow.task_log(DAG_ID, result.run_id, task))
                raise RuntimeError(f"{mode}: run {index + 1} {result.state}: {failed}")
            results.append(result)
        seconds = None
        if freshness:
            read = balance_reader(data_dir)
            deposit_before = read(commit_target(dsn))
            deposit = commit_deposit(dsn)
            airflow.trigger(DAG_ID, f"bench_{mode}_freshness")
            seconds = wait_for_answer(read, deposit, deposit_before)
            airflow.wait(DAG_ID, f"bench_{mode}_freshness", timeout=7200)
            log(f"{mode}: commit -> answer {seconds:.1f} s")
        return Variant(mode, parsed, results, loads, seconds)


def commit_target(dsn: str) -> int:
    with psycopg.connect(dsn) as pg:
        row = pg.execute("SELECT customer_id FROM accounts WHERE status = 'active' ORDER BY account_id LIMIT 1"
                         ).fetchone()
    assert row is not None
    return int(row[0])


def cli_freshness(dsn: str, data_dir: Path) -> float:
    read = balance_reader(data_dir)
    before = read(commit_target(dsn))
    deposit = commit_deposit(dsn)
    cli_refresh(dsn, data_dir)
    return wait_for_answer(read, deposit, before)


def main() -> None:
    # a SIGTERM (timeout, kill) unwinds like Ctrl-C, so Airflow and the source database are stopped and dropped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    customers = int(os.environ.get("BENCH_AIRFLOW_CUSTOMERS", "1000"))
    months = int(os.environ.get("BENCH_AIRFLOW_MONTHS", "6"))
    modes = [m.strip() for m in os.environ.get("BENCH_AIRFLOW_MODES", "build").split(",") if m.strip()]
    runs = int(os.environ.get("BENCH_AIRFLOW_RUNS", "2"))
    freshness = os.environ.get("BENCH_AIRFLOW_FRESHNESS", "1") != "0"
    use_manifest = os.environ.get("BENCH_AIRFLOW_MANIFEST", "1") != "0"
    server = os.environ.get("FINEFIN_BENCH_PG_URL", DEFAULT_PG)
    started_at = datetime.now(UTC)
    load_start = Path("/proc/loadavg").read_text().strip() if Path("/proc/loadavg").exists() else "?"
    with tempfile.TemporaryDirectory(prefix="bench_airflow_") as tmp, \
            source_database(server, customers, months) as (dsn, transactions):
        root = Path(tmp)
        manifest = dbt_parse(root / "dbt-manifest") if use_manifest else None
        cli: list[tuple[float, str]] = []
        for index in range(runs):
            before = load()
            seconds = cli_refresh(dsn, root / "data-cli")
            cli.append((seconds, before))
            log(f"finefin refresh run {index + 1}: {seconds:.1f} s (load {before})")
        cli_fresh = cli_freshness(dsn, root / "data-cli") if freshness else None
        if cli_fresh is not None:
            log(f"finefin refresh: commit -> answer {cli_fresh:.1f} s")
        variants = []
        for mode in modes:
            try:
                variants.append(dag_runs(mode, dsn, root, runs, manifest, freshness))
            except Exception as exc:  # one failing variant is reported, the others still measured
                log(f"{mode}: FAILED: {exc}")
                variants.append(Variant(mode, float("nan"), [], []))
    load_end = Path("/proc/loadavg").read_text().strip() if Path("/proc/loadavg").exists() else "?"
    print(report(customers, months, transactions, runs, cli, cli_fresh, variants, started_at, load_start, load_end,
                 use_manifest))


def report(customers: int, months: int, transactions: int, runs: int, cli: list[tuple[float, str]],
           cli_fresh: float | None, variants: list[Variant], started_at: datetime, load_start: str, load_end: str,
           use_manifest: bool) -> str:
    kinds = ["first (full) build", *["daily build"] * (runs - 1)]
    lines = [
        "<!-- bench: bench.bench_airflow -->",
        f"## finefin_refresh under a real Airflow scheduler vs `finefin refresh` ({transactions:,} transactions: "
        f"{customers:,} customers x {months} months)",
        "",
        f"_Measured {started_at:%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, Python "
        f"{sys.version.split()[0]}; Airflow 3.3.2 standalone (LocalExecutor, SQLite), cosmos 1.15.1; graph from "
        f"{'a `dbt parse` manifest' if use_manifest else 'the project (parsed once, or `dbt ls` cached)'}._",
        "",
        f"Command: `BENCH_AIRFLOW_CUSTOMERS={customers} BENCH_AIRFLOW_MONTHS={months} BENCH_AIRFLOW_RUNS={runs} "
        f"BENCH_AIRFLOW_MODES={','.join(v.mode for v in variants)} python -m bench.bench_airflow`. "
        f"Load average (1 / 5 / 15 min) at the start: {' / '.join(load_start.split()[:3])}, at the end: "
        f"{' / '.join(load_end.split()[:3])}.",
        "",
        "| what | run | tasks | DagRun s | published s | `finefin refresh` s | DagRun / CLI | load (1 min) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for index, (seconds, before) in enumerate(cli):
        lines.append(f"| `finefin refresh` (baseline) | {kinds[index]} | - | - | {seconds:.1f} | {seconds:.1f} | "
                     f"1.00 | {before} |")
    for variant in variants:
        if not variant.runs:
            lines.append(f"| FINEFIN_DBT_TASKS={variant.mode} | failed | - | - | - | - | - | - |")
            continue
        for index, result in enumerate(variant.runs):
            baseline = cli[index][0]
            lines.append(
                f"| FINEFIN_DBT_TASKS={variant.mode} | {kinds[index]} | {len(result.task_states)} | "
                f"{result.run_seconds:.1f} | {result.ended('publish_warehouse'):.1f} | {baseline:.1f} | "
                f"{result.run_seconds / baseline:.2f} | {variant.loads[index]} |")
    parsed = ", ".join(f"{v.mode} {v.parse_seconds:.0f} s" for v in variants if v.runs)
    lines += ["", f"From `airflow standalone` starting to the DAG parsed and unpaused: {parsed}.", ""]
    fresh = [f"`finefin refresh` {cli_fresh:.1f} s"] if cli_fresh is not None else []
    fresh += [f"FINEFIN_DBT_TASKS={v.mode} {v.freshness:.1f} s" for v in variants if v.freshness is not None]
    if fresh:
        lines += [f"Freshness, from a deposit committed in the source to the first answer (the customer's balance "
                  f"through the semantic layer) that includes it, the refresh started at the commit: "
                  f"{', '.join(fresh)}. A scheduled run adds the wait for its slot.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
