"""The end of a `/finefin` request: complete (or release) its delivery claim and write its audit row.

Called once per request by whatever ends it, after the answer was delivered or could not be. It never raises and
costs one small INSERT after the answer is out, so it neither breaks nor slows the answer (the ack came long before).
`finish_request` reads what it needs from the Bolt context and body; `finish_delivery` takes the same facts
explicitly, for an answer path that carries them elsewhere (a queued job).
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from bot.answer import Answer, Outcome
from bot.dedupe import Delivery, delivery_of
from bot.logs import request_context
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


def slack_ids(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """(team id, user id) as the payload sent them: slash command, interactive payload or event callback."""
    event = body.get("event") if isinstance(body.get("event"), dict) else {}
    user = _field(body, "user") or (event.get("user") if isinstance(event.get("user"), str) else None)
    return _field(body, "team"), user


def what_was_sent(body: dict[str, Any]) -> str:
    """What a request asked, for its audit row: a command's text, a click's action id, an event's type."""
    if "command" in body:
        return str(body.get("text") or "")
    actions = body.get("actions")
    if isinstance(actions, list) and actions and isinstance(actions[0], dict):
        return f"action {actions[0].get('action_id', '?')}"
    event = body.get("event")
    if isinstance(event, dict):
        return f"event {event.get('type', '?')}"
    return str(body.get("type") or "?")


class BackgroundWriter:
    """Runs small audit writes on one daemon thread, for a path that must not wait for the database: the ack of a
    request refused by a middleware (no answer runtime behind it), or refused as busy by a listener that Bolt runs
    before its ack is sent (`process_before_response`).

    `submit` never blocks and never raises: the write is queued (bounded, `max_pending`) and run by the thread; when
    the queue is full (a flood with the database slow) it is dropped and logged, so memory stays bounded and the
    acks keep going out. When the process exits normally (a stop, SIGTERM through the server's shutdown), the writes
    still queued are run first, for `drain_seconds` at most; what is left then is logged, not silently lost."""

    def __init__(self, max_pending: int = 1000, name: str = "audit-writer", drain_seconds: float = 10.0) -> None:
        self._queue: queue.Queue[tuple[str, Callable[[], Any]]] = queue.Queue(maxsize=max_pending)
        self._name = name
        self._thread: threading.Thread | None = None  # started by the first write (most apps never refuse one)
        self._lock = threading.Lock()
        self.drain_seconds = drain_seconds

    def submit(self, request_id: str, write: Callable[[], Any]) -> bool:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
                atexit.register(self.drain)
        try:
            self._queue.put_nowait((request_id, write))
            return True
        except queue.Full:
            log.error("request %s: audit queue full, its row is dropped", request_id)
            return False

    def _run(self) -> None:
        while True:
            request_id, write = self._queue.get()
            try:
                with request_context(request_id):
                    write()
            except Exception:  # AuditLog.record itself only returns False
                log.exception("request %s: audit row could not be written", request_id)
            finally:
                self._queue.task_done()

    def join(self) -> None:
        """Wait until every queued write ran (tests, shutdown)."""
        self._queue.join()

    def drain(self) -> int:
        """Wait up to `drain_seconds` for the queued writes (at exit); returns how many were left unwritten."""
        deadline = time.monotonic() + self.drain_seconds
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        left = self._queue.unfinished_tasks
        if left:
            log.error("%s: %d audit writes still queued at exit after %.0f s: their rows are lost", self._name, left,
                      self.drain_seconds)
        return left


class BackgroundAudit:
    """An audit sink whose `record` returns at once: the row is written by a `BackgroundWriter`."""

    def __init__(self, sink: Any, writer: BackgroundWriter | None = None) -> None:
        self.sink = sink
        self.writer = writer or BackgroundWriter()

    def record(self, rec: AuditRecord) -> bool:
        return self.writer.submit(rec.request_id, lambda: self.sink.record(rec))

    def join(self) -> None:
        self.writer.join()


_later: BackgroundWriter | None = None
_later_lock = threading.Lock()


def finish_delivery_later(delivery: Delivery | None, answer: Answer, **facts: Any) -> None:
    """`finish_delivery` on the shared background writer: for a listener that must end a request (e.g. refused as
    busy) on the thread whose return Bolt's ack waits for."""
    global _later
    with _later_lock:
        if _later is None:
            _later = BackgroundWriter(name="audit-later")
        writer = _later
    writer.submit(answer.request_id or "-", lambda: finish_delivery(delivery, answer, **facts))
