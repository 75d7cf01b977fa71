"""Bulk load into PostgreSQL: keys and indexes off during COPY, then rebuilt and validated from their own definitions.

The definitions are read from the catalog before they are dropped (`pg_get_constraintdef`, `pg_get_indexdef`), so what
is recreated is exactly what the DDL file created.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql

from ingestion.generator import pg_binary

log = logging.getLogger(__name__)

COPY_BLOCK = 8 * 1024 * 1024


@dataclass(frozen=True)
class _Saved:
    table: str
    name: str
    definition: str
    kind: str  # 'p' primary key, 'f' foreign key, 'i' plain index


def _saved_definitions(conn: psycopg.Connection, tables: Iterable[str]) -> list[_Saved]:
    tables = list(tables)
    rows = conn.execute(
        """
        SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.contype::text
        FROM pg_constraint c
        WHERE c.conrelid = ANY(%s::regclass[]) AND c.contype IN ('p', 'f')
        ORDER BY c.contype, c.conrelid::regclass::text, c.conname
        """,
        (tables,),
    ).fetchall()
    saved = [_Saved(t, n, d, k) for t, n, d, k in rows]
    rows = conn.execute(
        """
        SELECT i.indrelid::regclass::text, ci.relname, pg_get_indexdef(i.indexrelid)
        FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid
        WHERE i.indrelid = ANY(%s::regclass[])
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        ORDER BY 1, 2
        """,
        (tables,),
    ).fetchall()
    saved += [_Saved(t, n, d, "i") for t, n, d in rows]
    return saved


@contextmanager
def keys_and_indexes_dropped(conn: psycopg.Connection, tables: Iterable[str]) -> Iterator[None]:
    """Drop foreign keys, primary keys and secondary indexes of `tables`; recreate (and validate) them on exit.

    Runs inside the caller's transaction: if loading fails, the rollback brings the originals back.
    """
    saved = _saved_definitions(conn, tables)
    for item in saved:  # foreign keys first (they depend on primary keys), then primary keys, then indexes
        if item.kind in ("f", "p"):
            conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                sql.Identifier(item.table), sql.Identifier(item.name)))
        else:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(item.name)))
    log.info("dropped %d keys/indexes for the load", len(saved))
    yield
    conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
    for kind in ("p", "i", "f"):  # keys before the foreign keys that need them; ADD FOREIGN KEY validates
        for item in (s for s in saved if s.kind == kind):
            if kind == "i":
                conn.execute(sql.SQL(item.definition))  # type: ignore[arg-type]  # catalog text, not user input
            else:
                conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                    sql.Identifier(item.table), sql.Identifier(item.name), sql.SQL(item.definition)))  # type: ignore[arg-type]
            log.debug("recreated %s on %s", item.name, item.table)
    log.info("recreated %d keys/indexes", len(saved))


def copy_csv(conn: psycopg.Connection, table: str, columns: Iterable[str], chunks: Iterable[bytes],
             freeze: bool = False, binary: bool = False) -> None:
    """COPY `chunks` (CSV, or binary tuples when binary=True) into `table` in one COPY statement.

    Bytes go to the server in blocks of a few MB. Timestamps in CSV carry no offset: the transaction's TimeZone is set
    to UTC so they are read as UTC. For binary, the caller's chunks hold tuples only; header and trailer are added here.
    """
    conn.execute("SELECT set_config('TimeZone', 'UTC', true)")
    stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT {}{})").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        sql.SQL("binary" if binary else "csv"), sql.SQL(", FREEZE true" if freeze else ""))
    if binary:
        chunks = itertools.chain([pg_binary.HEADER], chunks, [pg_binary.TRAILER])
    with conn.cursor() as cur, cur.copy(stmt) as copy:
        for chunk in chunks:
            view = memoryview(chunk)
            for start in range(0, len(view), COPY_BLOCK):
                copy.write(view[start:start + COPY_BLOCK])
