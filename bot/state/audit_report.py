"""The audit log as text: one line per request (what `finefin audit` prints), or JSON lines."""

from __future__ import annotations

import json
from datetime import UTC

from bot.state.audit import AuditRow

HEADER = ("at (UTC)", "request", "team", "user", "roles", "customer", "read", "outcome", "ms", "command")


def _cells(row: AuditRow) -> tuple[str, ...]:
    return (
        row.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        row.request_id,
        row.team_id or "-",
        row.user_id,
        ",".join(row.roles) or "-",
        "-" if row.customer_id is None else str(row.customer_id),
        "-" if row.customer_read is None else str(row.customer_read),
        row.outcome,
        "-" if row.latency_ms is None else str(row.latency_ms),
        json.dumps(row.command, ensure_ascii=False),  # quoted: one line whatever the user typed
    )


def text_lines(rows: list[AuditRow]) -> list[str]:
    """A header and one aligned line per row; the command (quoted) last, unpadded."""
    table = [HEADER, *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER) - 1)]
    return ["  ".join([*(cell.ljust(w) for cell, w in zip(line[:-1], widths, strict=True)), line[-1]]).rstrip()
            for line in table]


def json_lines(rows: list[AuditRow]) -> list[str]:
    return [
        json.dumps({
            "at": r.at.astimezone(UTC).isoformat(), "request_id": r.request_id, "team_id": r.team_id,
            "user_id": r.user_id, "roles": list(r.roles), "customer_id": r.customer_id, "command": r.command,
            "customer_read": r.customer_read, "outcome": r.outcome, "latency_ms": r.latency_ms,
        }, ensure_ascii=False)
        for r in rows
    ]
