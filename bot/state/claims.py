"""Claim / complete / release on a key table (delivery keys, post ledger): exactly once across processes.

`claim(key)` is one atomic INSERT … ON CONFLICT: it wins if the key is new, or if an earlier claim is still pending
after `timeout` seconds (its process died). The winner does the work, then `complete(key)` (a later claim of the
key loses for good) or, on failure, `release(key)` (the row goes, so Slack's retry or a later run can redo it).
Times are the database's clock, one for every machine.
"""

from __future__ import annotations

import uuid

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


def seconds(n: float) -> ColumnElement[object]:
    return func.make_interval(0, 0, 0, 0, 0, 0, cast(literal(n), Float))


def days(n: int) -> ColumnElement[object]:
    return func.make_interval(0, 0, 0, cast(literal(n), Integer))


def unbounded(conn: Connection) -> None:
    """Lift the request path's statement timeout for this transaction (maintenance: pruning a large table)."""
    conn.execute(text("SET LOCAL statement_timeout = 0"))


class ClaimKeys:
    def __init__(self, engine: Engine, table: Table, timeout: float, owner: str | None = None) -> None:
        self.engine, self.table, self.timeout = engine, table, timeout
        self.owner = owner or uuid.uuid4().hex  # one per process: a late complete/release never touches a re-claim

    def claim(self, key: str) -> bool:
        """True if this caller now holds `key` and must do the work; False if it is done or in hand elsewhere."""
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
        t = self.table
        stmt = (update(t).where(t.c.key.in_(keys), t.c.owner == self.owner, t.c.state == "pending")
                .values(state="done", completed_at=func.now()))
        with self.engine.begin() as conn:
            return conn.execute(stmt).rowcount

    def complete(self, key: str) -> bool:
        """Mark the work done; False if this process no longer held the claim (it went stale and was re-claimed)."""
        t = self.table
        stmt = (update(t).where(t.c.key == key, t.c.owner == self.owner, t.c.state == "pending")
                .values(state="done", completed_at=func.now()))
        with self.engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def release(self, key: str) -> bool:
        """Give the key back after a failure, so a retry can claim it."""
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
