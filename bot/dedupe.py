"""Drop repeated deliveries: Slack resends a request it thinks timed out (`X-Slack-Retry-Num`).

Each delivery's key is claimed in the state database (`bot.state`, shared by every web process and machine) before
any work is done for it; a key already claimed — done, or in hand elsewhere — is dropped. The key is marked done only
after the work succeeded: the `/finefin` answer path calls `finish_delivery`, which completes the claim (or releases
it on failure, so Slack's next retry is answered) and writes the audit row.

Where the claim is taken:
- Slash commands and button clicks (`block_actions`, keyed on their trigger_id): NOT on the ack path. The
  middleware hands the listener a *deferred* Delivery; the listener queues
  the job and acks at once, and the answer runtime takes the claim (`Delivery.take`) on one of its threads before
  the job may start (bot/runtime.py `submit(..., admit=…)`). Exactly once still holds: the claim is the same single
  atomic INSERT … ON CONFLICT, taken before any work and any message, so of two deliveries of one request — in one
  process or two — one does the work and the other is dropped without a word; what the duplicate loses is only an
  empty ack (it gets the normal one: "Preparing…" or nothing). What the ack gains: it never waits for PostgreSQL.
  Measured (bench/bench_ack.py, 100 concurrent acks, 2 cores shared with PostgreSQL): with the claim before the ack
  the burst ack p99 was 1.2-3.9x that of the same app with no database on its path, however cheap the claim was
  made (one prepared statement: bot/state/claims.py), because 100 claims queue on the database's CPU.
- Events (the Home tab): claimed here and marked done at once (their listeners are quick and idempotent).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse

from bot.logs import request_context, request_id_or_new
from bot.state.audit import AuditRecord

log = logging.getLogger(__name__)
CONTEXT_KEY = "finefin_delivery"


class Claims(Protocol):
    def claim(self, key: str) -> bool: ...
    def complete(self, key: str) -> bool: ...
    def release(self, key: str) -> bool: ...


class AuditSink(Protocol):
    def record(self, rec: AuditRecord) -> bool: ...


class MemoryClaims:
    """The same semantics in one process's memory, for unit tests and the console: never for a deployed bot."""

    def __init__(self, timeout: float = 600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout, self.clock = timeout, clock
        self._keys: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def claim(self, key: str) -> bool:
        now = self.clock()
        with self._lock:
            state = self._keys.get(key)
            if state is not None and (state[0] == "done" or state[1] > now - self.timeout):
                return False
            self._keys[key] = ("pending", now)
            return True

    def complete(self, key: str) -> bool:
        with self._lock:
            if self._keys.get(key, ("",))[0] != "pending":
                return False
            self._keys[key] = ("done", self.clock())
            return True

    def release(self, key: str) -> bool:
        with self._lock:
            if self._keys.get(key, ("",))[0] != "pending":
                return False
            del self._keys[key]
            return True


@dataclass
class Delivery:
    """One claimed delivery, carried in the Bolt context to the listener that finishes it.

    Bolt deep-copies the context for lazy listeners; a Delivery is passed on as itself (it holds the shared claims
    table, not data), so the answer thread completes the very claim the middleware took.
    """

    claims: Claims | None  # None: the claim itself failed (state DB down), nothing to complete
    key: str
    audit: AuditSink | None = None
    received: float = field(default_factory=time.perf_counter)
    finished: bool = False
    request_id: str = "-"  # the request's id for the logs: the HTTP guard's, or one made here (Socket Mode)
    deferred: bool = False  # not claimed yet: `take` claims it, off the ack path
    retry: str = "-"  # X-Slack-Retry-Num / -Reason, for the log line of a dropped duplicate

    def __deepcopy__(self, memo: dict[int, Any]) -> Delivery:
        return self

    def take(self) -> bool:
        """Claim a deferred delivery now: True when this process must do the work, False for a duplicate (done or in
        hand elsewhere: drop it, say nothing). A failing claim (state DB down) answers anyway: twice beats never."""
        if not self.deferred:
            return True
        self.deferred = False
        if self.claims is None:
            return True
        try:
            won = self.claims.claim(self.key)
        except Exception:
            log.exception("delivery %s: the claim failed; handling it without de-duplication", self.key)
            self.claims = None
            return True
        if not won:
            self.finished = True  # nothing of ours to complete or release
            log.info("duplicate delivery ignored (%s)", self.retry)
        return won

    def complete(self) -> None:
        self._finish("complete")

    def release(self) -> None:
        self._finish("release")

    def _finish(self, name: str) -> None:
        if self.finished or self.claims is None or self.deferred:  # deferred: never claimed (e.g. refused as busy)
            return
        self.finished = True
        action: Callable[[str], bool] = getattr(self.claims, name)
        try:
            if not action(self.key):
                log.warning("delivery %s: could not %s the claim (it was taken over after a timeout)", self.key, name)
        except Exception:  # the state DB is down: the claim expires by itself after FINEFIN_CLAIM_TIMEOUT_SECONDS
            log.exception("delivery %s: could not %s the claim", self.key, name)


def delivery_key(body: dict[str, Any], raw_body: str) -> str:
    """trigger_id (slash commands, actions) or event_id (events); else the body's hash (a retry resends it)."""
    for name in ("trigger_id", "event_id"):
        value = body.get(name)
        if isinstance(value, str) and value:
            return f"{name}:{value[:250]}"
    return "sha256:" + hashlib.sha256(raw_body.encode()).hexdigest()


def dedupe_middleware(claims: Claims, audit: AuditSink | None = None) -> Callable[..., BoltResponse | None]:
    def middleware(
        req: BoltRequest, body: dict[str, Any], context: Any, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        if body.get("type") == "url_verification" or body.get("ssl_check"):
            return next()
        # Bolt runs the listeners after this middleware returns, so the id travels in the Delivery (the listener
        # logs under it and hands it to the AnswerJob); HTTP mode already has the guard's id in this thread
        request_id = request_id_or_new()
        with request_context(request_id):
            return claim_then_next(req, body, context, next, request_id)

    def claim_then_next(
        req: BoltRequest, body: dict[str, Any], context: Any, next: Callable[[], BoltResponse], request_id: str
    ) -> BoltResponse | None:
        key = delivery_key(body, req.raw_body)
        if "command" in body or body.get("type") == "block_actions":
            # a slash command or a button click: claimed by the answer runtime, off the ack path (module docstring)
            retry = "retry {}, reason {}".format((req.headers.get("x-slack-retry-num") or ["-"])[0],
                                                 (req.headers.get("x-slack-retry-reason") or ["-"])[0])
            context[CONTEXT_KEY] = Delivery(claims, key, audit, request_id=request_id, deferred=True, retry=retry)
            return next()
        try:
            claimed = claims.claim(key)
        except Exception:  # no state DB: answering twice beats not answering
            log.exception("delivery %s: the claim failed; handling it without de-duplication", key)
            context[CONTEXT_KEY] = Delivery(None, key, audit, request_id=request_id)
            return next()
        if not claimed:
            log.info(
                "duplicate delivery ignored (retry %s, reason %s)",
                (req.headers.get("x-slack-retry-num") or ["-"])[0],
                (req.headers.get("x-slack-retry-reason") or ["-"])[0],
            )
            return BoltResponse(status=200, body="")
        delivery = Delivery(claims, key, audit, request_id=request_id)
        context[CONTEXT_KEY] = delivery
        # Events: Bolt runs listeners after every middleware (next() returns before them), and their
        # listeners are quick and idempotent (the Home tab), so the claim is done at once.
        delivery.complete()
        return next()

    return middleware


def delivery_of(context: Any) -> Delivery | None:
    value = context.get(CONTEXT_KEY) if context is not None else None
    return value if isinstance(value, Delivery) else None
