"""`finefin ingest` as a user runs it: a subprocess with FINEFIN_* settings in the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import psycopg
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FINEFIN = Path(sys.executable).parent / "finefin"


def run_cli(tmp_path: Path, source_url: str, warehouse: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINEFIN_")}
    env |= {"FINEFIN_SOURCE_URL": source_url, "FINEFIN_WAREHOUSE": str(warehouse),
            "FINEFIN_DATA_DIR": str(tmp_path / "data")}  # no COLUMNS, no terminal: errors still one line
    return subprocess.run([str(FINEFIN), "ingest"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)


def assert_one_error_line(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error:")
    for needle in needles:
        assert needle in lines[0]


def test_cli_ingest_loads_and_prints_the_report(empty_source: str, tmp_path: Path) -> None:
    with psycopg.connect(empty_source) as conn:
        conn.execute("INSERT INTO customers VALUES (1, 'a@example.com', 'A', 'FR', '1990-01-01', "
                     "'2024-01-01 00:00+00', '2024-01-01 00:00+00')")
    warehouse = tmp_path / "wh.duckdb"
    proc = run_cli(tmp_path, empty_source, warehouse)
    assert proc.returncode == 0, proc.stderr
    assert "customers" in proc.stderr and "ingest run" in proc.stderr and "1 row in" in proc.stderr
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM raw.customers").fetchone() == (1,)
    finally:
        con.close()


def test_cli_unreachable_source_is_one_error_line(tmp_path: Path) -> None:
    proc = run_cli(tmp_path, "postgresql://postgres@127.0.0.1:1/nowhere", tmp_path / "wh.duckdb")
    assert_one_error_line(proc, "cannot connect")


@pytest.mark.parametrize("kind", ["directory", "not_duckdb"])
def test_cli_bad_warehouse_is_one_error_line(empty_source: str, tmp_path: Path, kind: str) -> None:
    warehouse = tmp_path / "wh.duckdb"
    if kind == "directory":
        warehouse.mkdir()
    else:
        warehouse.write_bytes(b"not a database" * 1000)
    proc = run_cli(tmp_path, empty_source, warehouse)
    assert_one_error_line(proc, "warehouse")


def test_cli_unknown_column_type_is_one_error_line(empty_source: str, tmp_path: Path) -> None:
    with psycopg.connect(empty_source) as conn:
        conn.execute("ALTER TABLE loans ADD COLUMN schedule int4range[]")
    proc = run_cli(tmp_path, empty_source, tmp_path / "wh.duckdb")
    assert_one_error_line(proc, "loans.schedule")
