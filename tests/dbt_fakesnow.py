"""Test helper: a fakesnow server (Snowflake API emulated on DuckDB) on loopback, seeded with the raw tables.

fakesnow transpiles Snowflake SQL onto DuckDB with sqlglot: it proves the Snowflake path of the dbt project runs
(dialect switches, cross-db macros, incremental materializations), not Snowflake's exact semantics.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ingestion.source import SOURCE_TABLES

DATABASE = "FINEFIN"
WAREHOUSE = "WH"
SCHEMA = "analytics"

# DuckDB column type -> Snowflake column type for the raw tables dlt writes.
_TYPE_MAP = {
    "BIGINT": "NUMBER(19,0)",
    "INTEGER": "NUMBER(10,0)",
    "VARCHAR": "VARCHAR",
    "DATE": "DATE",
    "BOOLEAN": "BOOLEAN",
    "DOUBLE": "FLOAT",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMP_TZ",
    "TIMESTAMP": "TIMESTAMP_NTZ",
}


@dataclass(frozen=True)
class FakeSnowflake:
    host: str
    port: int

    def env(self) -> dict[str, str]:
        """Environment for the `snowflake` output of dbt/profiles.yml."""
        return {
            "SNOWFLAKE_ACCOUNT": "fakesnow",
            "SNOWFLAKE_USER": "finefin",
            "SNOWFLAKE_PASSWORD": "unused",
            "SNOWFLAKE_ROLE": "PUBLIC",
            "SNOWFLAKE_WAREHOUSE": WAREHOUSE,
            "SNOWFLAKE_DATABASE": DATABASE,
            "SNOWFLAKE_SCHEMA": SCHEMA,
            "SNOWFLAKE_HOST": self.host,
            "SNOWFLAKE_PORT": str(self.port),
            "SNOWFLAKE_PROTOCOL": "http",
        }

    def connect(self, **kwargs: object):  # type: ignore[no-untyped-def]
        import snowflake.connector

        return snowflake.connector.connect(
            account="fakesnow", user="finefin", password="unused", host=self.host, port=self.port,
            protocol="http", database=DATABASE, warehouse=WAREHOUSE, **kwargs,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def fakesnow_server(db_dir: Path, timeout: float = 60.0) -> Iterator[FakeSnowflake]:
    """Start `fakesnow -s -p PORT -d DIR` on 127.0.0.1 and stop it (by its own pid) afterwards."""
    db_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_file = (db_dir.parent / "fakesnow.log").open("w")
    exe = Path(sys.executable).with_name("fakesnow")
    proc = subprocess.Popen([str(exe), "-s", "-p", str(port), "-d", str(db_dir)], stdout=log_file,
                            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"fakesnow did not start; see {log_file.name}")
            time.sleep(0.2)
        yield FakeSnowflake(host="127.0.0.1", port=port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log_file.close()


def seed_raw(fake: FakeSnowflake, warehouse_path: Path, batch: int = 2000) -> dict[str, int]:
    """Copy the DuckDB `raw` tables (as ingested) into FINEFIN.RAW through the Snowflake connector."""
    counts: dict[str, int] = {}
    source = duckdb.connect(str(warehouse_path), read_only=True)
    try:
        conn = fake.connect()
        try:
            cur = conn.cursor()
            cur.execute(f"create database if not exists {DATABASE}")
            cur.execute(f"create schema if not exists {DATABASE}.raw")
            for table in SOURCE_TABLES:
                columns = source.execute(
                    "select column_name, data_type from information_schema.columns "
                    "where table_schema = 'raw' and table_name = ? order by ordinal_position", [table]
                ).fetchall()
                ddl = ", ".join(f"{name} {_snowflake_type(dtype)}" for name, dtype in columns)
                cur.execute(f"create or replace table {DATABASE}.raw.{table} ({ddl})")
                names = ", ".join(name for name, _ in columns)
                rows = source.execute(f"select {names} from raw.{table}").fetchall()
                marks = ", ".join(["%s"] * len(columns))
                for start in range(0, len(rows), batch):
                    cur.executemany(f"insert into {DATABASE}.raw.{table} ({names}) values ({marks})",
                                    rows[start:start + batch])
                counts[table] = len(rows)
        finally:
            conn.close()
    finally:
        source.close()
    return counts


def _snowflake_type(duckdb_type: str) -> str:
    if duckdb_type.startswith("DECIMAL"):
        return duckdb_type.replace("DECIMAL", "NUMBER")
    if duckdb_type in _TYPE_MAP:
        return _TYPE_MAP[duckdb_type]
    raise ValueError(f"no Snowflake type for DuckDB type {duckdb_type}")
