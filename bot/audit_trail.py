"""The end of a `/finefin` request: complete (or release) its delivery claim and write its audit row.

Called once per request by whatever ends it, after the answer was delivered or could not be. It never raises and
costs one small INSERT after the answer is out, so it neither breaks nor slows the answer (the ack came long before).
`finish_request` reads what it needs from the Bolt context and body; `finish_delivery` takes the same facts
explicitly, for an answer path that carries them elsewhere (a queued job).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from bot.answer import Answer, Outcome
from bot.dedupe import Delivery, delivery_of
from bot.state.audit import AuditRecord

log = logging.getLogger(__name__)


def _field(body: dict[str, Any], name: str) -> str | None:
    """`team_id` / `user_id` of a slash command, or `team.id` / `user.id` of an interactive payload."""
    value = body.get(f"{name}_id")
    if not value and isinstance(body.get(name), dict):
        value = body[name].get("id")
    return value if isinstance(value, str) and value else None


def outcome_of(answer: Answer, delivered: bool) -> Outcome:
    """The assistant's outcome; an answer made elsewhere (no outcome set) counts by `ok`; undelivered is an error."""
    if not delivered:
        return "error"
    return answer.outcome or ("answered" if answer.ok else "error")


def audit_record(answer: Answer, *, user_id: str, team_id: str | None, command: str, delivered: bool,
                 latency_ms: int | None) -> AuditRecord:
    """The row for one request: who sent what (from Slack) and the facts the assistant set on the answer."""
    return AuditRecord(
        request_id=answer.request_id or "-",
        team_id=team_id,
        user_id=user_id or "?",
        roles=tuple(answer.roles),
        customer_id=answer.customer_id,
        command=command,
        customer_read=answer.customer_read,
        outcome=outcome_of(answer, delivered),
        latency_ms=latency_ms,
    )


def finish_delivery(delivery: Delivery | None, answer: Answer, *, user_id: str, team_id: str | None, command: str,
                    delivered: bool, latency_ms: int | None = None) -> None:
    """Complete the delivery claim if the answer went out (else release it, so a redelivery is answered); write the
    audit row. `latency_ms` defaults to the time since the claim."""
    if delivery is None:
        log.warning("request %s: no delivery claim in hand, not audited", answer.request_id)
        return
    try:
        if delivered:
            delivery.complete()
        else:
            delivery.release()
        if latency_ms is None:
            latency_ms = round((time.perf_counter() - delivery.received) * 1000)
        if delivery.audit is not None:
            delivery.audit.record(audit_record(answer, user_id=user_id, team_id=team_id, command=command,
                                               delivered=delivered, latency_ms=latency_ms))
    except Exception:  # the audit must never break the answer
        log.exception("request %s: finishing the request failed", answer.request_id)


def finish_request(context: Any, body: dict[str, Any], answer: Answer, delivered: bool) -> None:
    """`finish_delivery` for a Bolt listener: the claim from the context, who and what from the request body.

    Any path that ends a request calls it once — e.g. a refusal before the assistant runs passes an
    `Answer(..., ok=False, outcome="refused")` — so every request leaves its row."""
    finish_delivery(delivery_of(context), answer, user_id=_field(body, "user") or "?", team_id=_field(body, "team"),
                    command=str(body.get("text") or ""), delivered=delivered)
