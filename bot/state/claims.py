"""Claim / complete / release on a key table (delivery keys, post ledger): exactly once across processes.

`claim(key)` is one atomic INSERT … ON CONFLICT: it wins if the key is new, or if an earlier claim is still pending
after `timeout` seconds (its process died). The winner does the work, then `complete(key)` (a later claim of the
key loses for good) or, on failure, `release(key)` (the row goes, so Slack's retry or a later run can redo it).
Times are the database's clock, one for every machine.

The claim runs 100 at a time in a burst, in the web process whose GIL the acks share (on the answer runtime's
threads for slash commands, on the ack path for events: bot/dedupe.py), so it must cost one round trip and little
Python. With `ack_engine` (bot/state/store.py: an autocommit pool of its own, no pre-ping) it is one prepared
INSERT … ON CONFLICT … RETURNING sent on the psycopg connection itself: no BEGIN / COMMIT round trips (the statement
is its own transaction), no `SELECT 1` pre-ping, no SQLAlchemy statement execution; `complete` and `release` the
same way. Measured on this machine: 95 µs of client CPU per claim against 490-630 µs through SQLAlchemy Core (1,000
claims, one thread); under a burst of 100 concurrent acks (bench/bench_ack.py) the claim went from p50 26 ms / p99
125 ms (BEGIN, pre-ping, COMMIT, a 10+10 pool) to p50 4-9 ms (bench/RESULTS.md).
A connection the server dropped (restart, idle timeout) shows as a failing statement instead of a failed pre-ping:
that connection is discarded and the claim tried once more on a fresh one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Float,
    Integer,
    Table,
    and_,
    cast,
    delete,
    func,
    literal,
    literal_column,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert

CLAIM_SQL = (
    "INSERT INTO {table} (key, state, owner, claimed_at) VALUES (%s, 'pending', %s, now()) "
    "ON CONFLICT (key) DO UPDATE SET owner = EXCLUDED.owner, claimed_at = now(), state = 'pending', "
    "completed_at = NULL "
    "WHERE {table}.state = 'pending' AND {table}.claimed_at < now() - make_interval(secs => %s) RETURNING 1"
)
COMPLETE_SQL = ("UPDATE {table} SET state = 'done', completed_at = now() "
                "WHERE key = %s AND owner = %s AND state = 'pending'")
RELEASE_SQL = "DELETE FROM {table} WHERE key = %s AND owner = %s AND state = 'pending'"


def seconds(n: float) -> ColumnElement[object]:
    return func.make_interval(0, 0, 0, 0, 0, 0, cast(literal(n), Float))


def days(n: int) -> ColumnElement[object]:
    return func.make_interval(0, 0, 0, cast(literal(n), Integer))


def unbounded(conn: Connection) -> None:
    """Lift the request path's statement timeout for this transaction (maintenance: pruning a large table)."""
    conn.execute(text("SET LOCAL statement_timeout = 0"))


class ClaimKeys:
    def __init__(self, engine: Engine, table: Table, timeout: float, owner: str | None = None,
                 ack_engine: Engine | None = None) -> None:
        self.engine, self.table, self.timeout = engine, table, timeout
        self.ack_engine = ack_engine  # autocommit, no pre-ping: the claim in one round trip (module docstring)
        self.owner = owner or uuid.uuid4().hex  # one per process: a late complete/release never touches a re-claim
        from psycopg import sql

        name = sql.Identifier(table.name)  # our table, never user text
        self._claim_sql = sql.SQL(CLAIM_SQL).format(table=name)
        self._complete_sql = sql.SQL(COMPLETE_SQL).format(table=name)
        self._release_sql = sql.SQL(RELEASE_SQL).format(table=name)

    def claim(self, key: str) -> bool:
        """True if this caller now holds `key` and must do the work; False if it is done or in hand elsewhere."""
        if self.ack_engine is not None:
            return self._prepared(self._claim_sql, (key, self.owner, float(self.timeout)),
                                  lambda cur: cur.fetchone() is not None)
        t = self.table
        stale = and_(t.c.state == "pending", t.c.claimed_at < func.now() - seconds(self.timeout))
        stmt = (
            insert(t)
            .values(key=key, state="pending", owner=self.owner, claimed_at=func.now())
            .on_conflict_do_update(
                index_elements=[t.c.key],
                set_={"owner": self.owner, "claimed_at": func.now(), "state": "pending", "completed_at": None},
                where=stale,
            )
            .returning(literal_column("1"))
        )
        with self.engine.begin() as conn:
            return conn.execute(stmt).first() is not None

    def claim_many(self, keys: list[str]) -> set[str]:
        """`claim` for several keys in one statement: the keys this caller now holds."""
        if not keys:
            return set()
        t = self.table
        stale = and_(t.c.state == "pending", t.c.claimed_at < func.now() - seconds(self.timeout))
        stmt = (
            insert(t)
            .values([{"key": k, "state": "pending", "owner": self.owner} for k in dict.fromkeys(keys)])
            .on_conflict_do_update(
                index_elements=[t.c.key],
                set_={"owner": self.owner, "claimed_at": func.now(), "state": "pending", "completed_at": None},
                where=stale,
            )
            .returning(t.c.key)
        )
        with self.engine.begin() as conn:
            return {row[0] for row in conn.execute(stmt)}

    def complete_many(self, keys: list[str]) -> int:
        """`complete` for several keys in one statement; how many this process still held."""
        if not keys:
            return 0
        t = self.table
        stmt = (update(t).where(t.c.key.in_(keys), t.c.owner == self.owner, t.c.state == "pending")
                .values(state="done", completed_at=func.now()))
        with self.engine.begin() as conn:
            return conn.execute(stmt).rowcount

    def release_many(self, keys: list[str]) -> int:
        """`release` for several keys in one statement; how many this process still held."""
        if not keys:
            return 0
        t = self.table
        with self.engine.begin() as conn:
            return conn.execute(delete(t).where(t.c.key.in_(keys), t.c.owner == self.owner, t.c.state == "pending")
                                ).rowcount

    def _prepared(self, statement: Any, params: tuple[Any, ...], result: Callable[[Any], bool]) -> bool:
        """One prepared statement on the claim pool's psycopg connection (the same SQL as the Core statements)."""
        import psycopg

        assert self.ack_engine is not None
        for attempt in (1, 2):
            raw = self.ack_engine.raw_connection()
            try:
                return result(raw.driver_connection.execute(statement, params, prepare=True))  # type: ignore[union-attr]
            except psycopg.OperationalError:
                if not raw.driver_connection.broken or attempt == 2:  # type: ignore[union-attr]
                    raise  # the server answered with an error (e.g. the statement timeout): the caller decides
                # a dead connection (no pre-ping on this pool), so probably all of them (a server restart): a new
                # pool, as SQLAlchemy does on a disconnect, and once more on a fresh connection
                raw.invalidate()
                self.ack_engine.dispose()
            finally:
                raw.close()
        raise AssertionError("unreachable")

    def complete(self, key: str) -> bool:
        """Mark the work done; False if this process no longer held the claim (it went stale and was re-claimed)."""
        if self.ack_engine is not None:
            return self._prepared(self._complete_sql, (key, self.owner), lambda cur: cur.rowcount == 1)
        t = self.table
        stmt = (update(t).where(t.c.key == key, t.c.owner == self.owner, t.c.state == "pending")
                .values(state="done", completed_at=func.now()))
        with self.engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def release(self, key: str) -> bool:
        """Give the key back after a failure, so a retry can claim it."""
        if self.ack_engine is not None:
            return self._prepared(self._release_sql, (key, self.owner), lambda cur: cur.rowcount == 1)
        t = self.table
        with self.engine.begin() as conn:
            return conn.execute(delete(t).where(t.c.key == key, t.c.owner == self.owner, t.c.state == "pending")
                                ).rowcount == 1

    def is_done(self, key: str) -> bool:
        t = self.table
        with self.engine.connect() as conn:
            return conn.execute(t.select().where(t.c.key == key, t.c.state == "done")).first() is not None

    def prune(self, older_than_days: int) -> int:
        """Forget keys claimed more than `older_than_days` ago; returns how many."""
        t = self.table
        with self.engine.begin() as conn:
            unbounded(conn)
            return conn.execute(delete(t).where(t.c.claimed_at < func.now() - days(older_than_days))).rowcount
