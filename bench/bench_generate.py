"""Synthetic source generation: `ingestion.generator.generate` at ~1 M and ~10 M transactions.

Subject: generate() into an empty operational schema (12 months; keys/indexes dropped during COPY, then recreated and
validated), timed end to end, with the peak RSS of the process that ran it (each size runs in its own child process).
Baselines in the same run, on the same server and database, for the same number of transaction rows:
  - `INSERT INTO ... SELECT ... FROM generate_series` into an unconstrained table shaped like `transactions`
    (PostgreSQL making trivial rows itself: no client, no parsing);
  - a raw binary COPY of pre-built bytes (the generated transactions dumped with COPY TO, then loaded again into an
    unconstrained table): the floor for loading exactly these rows.
A dedicated database on FINEFIN_BENCH_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres) is created and
dropped for each size. `BENCH_SCALE=small` runs ~50 k and ~200 k transactions instead.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import psycopg
from psycopg import sql

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
MONTHS = 12
END_DATE = date(2026, 10, 31)
TX_PER_CUSTOMER = 103.6  # measured: 12 months of history give ~104 transactions per customer (growth included)
COMMAND = "python -m bench.bench_generate"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def with_dbname(url: str, dbname: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**info)


def child(dsn: str, customers: int) -> None:
    """Run one generate() in this process; print its figures as one JSON line."""
    from ingestion.generator import generate
    from ingestion.source import apply_schema

    apply_schema(dsn)
    summary = generate(dsn, customers=customers, months=MONTHS, seed=42, end_date=END_DATE)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rows": summary.rows, "seconds": summary.seconds, "peak_mb": peak_kb / 1024}))


BASELINE_INSERT = """
INSERT INTO tx_baseline (transaction_id, account_id, transaction_type, amount, currency, status, booked_at,
                         description, created_at, updated_at)
SELECT g, 1 + g %% 100000, CASE WHEN g %% 2 = 0 THEN 'deposit' ELSE 'card_payment' END,
       CASE WHEN g %% 2 = 0 THEN 1 ELSE -1 END * (((g * 7919) %% 100000) / 100.0 + 0.01), 'EUR', 'booked',
       TIMESTAMPTZ '2026-01-01 00:00+00' + g * INTERVAL '1 second', 'Card payment Carrefour',
       TIMESTAMPTZ '2026-01-01 00:00+00' + g * INTERVAL '1 second',
       TIMESTAMPTZ '2026-01-01 00:00+00' + g * INTERVAL '1 second'
FROM generate_series(1::bigint, %s) g
"""


def baselines(dsn: str, n: int) -> dict[str, float]:
    out: dict[str, float] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE tx_baseline (LIKE transactions INCLUDING DEFAULTS)")
        started = time.perf_counter()
        conn.execute(BASELINE_INSERT, (n,))  # type: ignore[arg-type]
        out["insert_select"] = time.perf_counter() - started
        conn.execute("TRUNCATE tx_baseline")
        with tempfile.TemporaryFile(dir=os.environ.get("TMPDIR")) as dump:
            with conn.cursor().copy("COPY transactions TO STDOUT (FORMAT binary)") as copy:
                for block in copy:
                    dump.write(block)
            dump.seek(0)
            started = time.perf_counter()
            with conn.transaction():
                conn.execute("TRUNCATE tx_baseline")
                with conn.cursor().copy("COPY tx_baseline FROM STDIN (FORMAT binary, FREEZE true)") as copy:
                    while block := dump.read(8 * 1024 * 1024):
                        copy.write(block)
            out["raw_copy"] = time.perf_counter() - started
        conn.execute("DROP TABLE tx_baseline")
    return out


def measure(server: str, label: str, customers: int) -> dict[str, object]:
    name = f"finefin_bench_generate_{os.getpid()}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = with_dbname(server, name)
    try:
        log(f"{label}: generate(customers={customers:,}, months={MONTHS})")
        proc = subprocess.run([sys.executable, "-m", "bench.bench_generate", "--child", dsn, str(customers)],
                              cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, text=True, check=True)
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        n = int(result["rows"]["transactions"])
        log(f"{label}: {n:,} transactions in {result['seconds']:.1f} s; baselines")
        result["baselines"] = baselines(dsn, n)
        log(f"{label}: baselines {result['baselines']}")
        result["label"] = label
        result["customers"] = customers
        return result
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        child(argv[1], int(argv[2]))
        return 0
    server = os.environ.get("FINEFIN_BENCH_PG_URL", DEFAULT_URL)
    small = os.environ.get("BENCH_SCALE") == "small"
    targets = [("~50 k", 50_000), ("~200 k", 200_000)] if small else [("~1 M", 1_000_000), ("~10 M", 10_000_000)]
    results = [measure(server, label, round(target / TX_PER_CUSTOMER)) for label, target in targets]
    with psycopg.connect(server) as conn:
        major = conn.info.server_version // 10000

    lines = [
        "## Synthetic source generation (ingestion.generator.generate)",
        "",
        f"Command: `{COMMAND}`{' with `BENCH_SCALE=small`' if small else ''}; PostgreSQL "
        f"{major} on the same machine; {MONTHS} months of history, "
        "seed 42. *generate* = all five tables, keys/indexes dropped during COPY then rebuilt and validated, one "
        "transaction. Baselines load the same number of transaction rows into an unconstrained copy of "
        "`transactions`: *INSERT … SELECT generate_series* (server-made trivial rows) and *raw binary COPY* of the "
        "generated rows dumped beforehand (the load floor, no generation, no indexes).",
        "",
        "| size | customers | transactions | all rows | generate s | rows/s (all) | tx/s | peak RSS MB "
        "| INSERT…generate_series s (tx/s) | raw binary COPY s (tx/s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rows: dict[str, int] = r["rows"]  # type: ignore[assignment]
        n, total, secs = rows["transactions"], sum(rows.values()), float(r["seconds"])  # type: ignore[arg-type]
        base: dict[str, float] = r["baselines"]  # type: ignore[assignment]
        lines.append(
            f"| {r['label']} | {r['customers']:,} | {n:,} | {total:,} | {secs:.1f} | {total / secs:,.0f} "
            f"| {n / secs:,.0f} | {float(r['peak_mb']):,.0f} "  # type: ignore[arg-type]
            f"| {base['insert_select']:.1f} ({n / base['insert_select']:,.0f}) "
            f"| {base['raw_copy']:.1f} ({n / base['raw_copy']:,.0f}) |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
