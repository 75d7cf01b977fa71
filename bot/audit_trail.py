"""The end of a `/finefin` request: complete (or release) its delivery claim and write its audit row.

Called by the answer path once the answer was delivered or failed. It never raises and costs one small INSERT after
the answer is out, so it neither breaks nor slows the answer (and the ack came long before).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from bot.answer import Answer
from bot.dedupe import delivery_of
from bot.state.audit import AuditRecord

log = logging.getLogger(__name__)


def _field(body: dict[str, Any], name: str) -> str | None:
    """`team_id` / `user_id` of a slash command, or `team.id` / `user.id` of an interactive payload."""
    value = body.get(f"{name}_id")
    if not value and isinstance(body.get(name), dict):
        value = body[name].get("id")
    return value if isinstance(value, str) and value else None


def audit_record(body: dict[str, Any], answer: Answer, latency_ms: int | None, delivered: bool = True) -> AuditRecord:
    """The row for one slash command: the Slack fields of its body and the facts the assistant set on the answer."""
    return AuditRecord(
        request_id=answer.request_id or "-",
        team_id=_field(body, "team"),
        user_id=_field(body, "user") or "?",
        roles=tuple(answer.roles),
        customer_id=answer.customer_id,
        command=str(body.get("text") or ""),
        customer_read=answer.customer_read,
        outcome=answer.outcome if delivered else "error",
        latency_ms=latency_ms,
    )


def finish_request(context: Any, body: dict[str, Any], answer: Answer, delivered: bool) -> None:
    """Complete the delivery claim if the answer went out (else release it for Slack's retry); write the audit row.

    Any path that ends a request calls it once — e.g. a refusal before the assistant runs passes an
    `Answer(..., ok=False, outcome="refused")` — so every request leaves its row."""
    delivery = delivery_of(context)
    if delivery is None:
        log.warning("request %s: no delivery in the context, not audited", answer.request_id)
        return
    try:
        if delivered:
            delivery.complete()
        else:
            delivery.release()
        latency = round((time.perf_counter() - delivery.received) * 1000)
        if delivery.audit is not None:
            delivery.audit.record(audit_record(body, answer, latency, delivered))
    except Exception:  # the audit must never break the answer
        log.exception("request %s: finishing the request failed", answer.request_id)
