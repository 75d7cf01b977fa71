"""The audit log: one row per request (who, as which role, asked what, whose data was read, how it ended).

A bank must be able to show which advisor looked at which customer's data. Writing a row never breaks the answer:
`record()` logs and returns False on a database error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.exc import SQLAlchemyError

from bot.state.claims import days, unbounded
from bot.state.models import COMMAND_MAX_CHARS, AuditEntry

log = logging.getLogger(__name__)
Outcome = Literal["answered", "clarified", "refused", "error"]
TABLE = AuditEntry.__table__


def bounded(command: str, limit: int = COMMAND_MAX_CHARS) -> str:
    """The command text as stored: at most `limit` characters (a longer one ends with …), no NUL bytes (PG refuses
    them)."""
    command = command.replace("\x00", "")
    return command if len(command) <= limit else command[: limit - 1] + "…"


@dataclass(frozen=True)
class AuditRecord:
    request_id: str
    user_id: str
    command: str
    outcome: Outcome
    team_id: str | None = None
    roles: tuple[str, ...] = ()
    customer_id: int | None = None
    customer_read: int | None = None
    latency_ms: int | None = None
    at: datetime | None = None  # None: the database's now()


@dataclass(frozen=True)
class AuditRow:
    at: datetime
    request_id: str
    team_id: str | None
    user_id: str
    roles: tuple[str, ...]
    customer_id: int | None
    command: str
    customer_read: int | None
    outcome: str
    latency_ms: int | None


@dataclass
class AuditQuery:
    since: datetime | None = None
    until: datetime | None = None
    user_id: str | None = None
    customer: int | None = None  # whose data was read
    limit: int = 100
    newest_first: bool = field(default=False)


class AuditLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, rec: AuditRecord) -> bool:
        values = {
            "request_id": rec.request_id[:64],
            "team_id": (rec.team_id or None) and rec.team_id[:32],
            "user_id": (rec.user_id or "?")[:32],
            "roles": list(rec.roles),
            "customer_id": rec.customer_id,
            "command": bounded(rec.command),
            "customer_read": rec.customer_read,
            "outcome": rec.outcome,
            "latency_ms": rec.latency_ms,
        }
        if rec.at is not None:
            values["at"] = rec.at
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(TABLE).values(**values))
        except SQLAlchemyError:
            log.exception("request %s: the audit row could not be written", rec.request_id)
            return False
        return True

    def rows(self, query: AuditQuery) -> list[AuditRow]:
        t = TABLE.c
        stmt = select(t.at, t.request_id, t.team_id, t.user_id, t.roles, t.customer_id, t.command, t.customer_read,
                      t.outcome, t.latency_ms)
        if query.since is not None:
            stmt = stmt.where(t.at >= query.since)
        if query.until is not None:
            stmt = stmt.where(t.at < query.until)
        if query.user_id is not None:
            stmt = stmt.where(t.user_id == query.user_id)
        if query.customer is not None:
            stmt = stmt.where(t.customer_read == query.customer)
        order = (t.at.desc(), t.id.desc()) if query.newest_first else (t.at, t.id)
        stmt = stmt.order_by(*order).limit(query.limit)
        with self.engine.connect() as conn:
            return [AuditRow(r.at, r.request_id, r.team_id, r.user_id, tuple(r.roles), r.customer_id, r.command,
                             r.customer_read, r.outcome, r.latency_ms) for r in conn.execute(stmt)]

    def prune(self, older_than_days: int) -> int:
        with self.engine.begin() as conn:
            unbounded(conn)
            return conn.execute(delete(TABLE).where(TABLE.c.at < func.now() - days(older_than_days))).rowcount
