"""Only the installed workspace is answered: a Bolt middleware comparing each request's team / enterprise with
`auth.test`.

A request signed with our signing secret can still come from elsewhere: the app distributed to (or installed by
mistake in) another workspace, a Slack Connect channel shared with another company, another organisation's grid.
Each request's `team_id` / `enterprise_id` (as Bolt extracts them) must equal the installation's, asked once from
`auth.test` and cached; an org-wide installation is matched on its enterprise. Anything else is refused before any
listener runs: a slash command gets a one-line ephemeral refusal, other payloads an empty 200 (so Slack does not
retry), and the refusal is logged and audited: one row (outcome refused, the team / user ids as sent, what was sent,
the reason) written by a background writer (bot/audit_trail.py `BackgroundAudit`), never on the ack path.
`tokens_revoked` / `app_uninstalled` drop the cached installation (and the
listeners drop the cached identities): the next request asks `auth.test` again, which fails once the token is gone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse

from bot.audit_trail import BackgroundAudit, slack_ids, what_was_sent
from bot.logs import request_id_or_new
from bot.state.audit import AuditRecord, bounded

log = logging.getLogger(__name__)

FOREIGN_WORKSPACE = "Sorry, FineFinance only answers people of the Slack workspace it is installed in."
UNAVAILABLE = "Sorry, FineFinance cannot check where this request comes from right now. Please try again later."
LIFECYCLE_EVENTS = frozenset({"tokens_revoked", "app_uninstalled"})


@dataclass(frozen=True)
class Installation:
    team_id: str | None
    enterprise_id: str | None
    is_enterprise_install: bool

    @classmethod
    def from_auth_test(cls, response: Any) -> Installation:
        return cls(
            team_id=response.get("team_id") or None,
            enterprise_id=response.get("enterprise_id") or None,
            is_enterprise_install=response.get("is_enterprise_install") is True,
        )

    def refuses(self, team_id: str | None, enterprise_id: str | None) -> str | None:
        """Why a request from this team / enterprise is not ours, or None when it is."""
        if self.is_enterprise_install:
            return None if enterprise_id == self.enterprise_id else f"enterprise {enterprise_id!r}"
        if enterprise_id is not None and enterprise_id != self.enterprise_id:
            return f"enterprise {enterprise_id!r}"
        if team_id != self.team_id:
            return f"team {team_id!r}"
        return None


class InstalledWorkspace:
    """`auth.test` once, cached (thread-safe); `forget()` makes the next request ask again."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._installation: Installation | None = None

    def get(self) -> Installation:
        with self._lock:
            if self._installation is None:
                self._installation = Installation.from_auth_test(self.client.auth_test())
                log.info("installed in team %s (enterprise %s)", self._installation.team_id,
                         self._installation.enterprise_id)
            return self._installation

    def forget(self) -> None:
        with self._lock:
            self._installation = None


def _event_type(body: dict[str, Any]) -> str | None:
    event = body.get("event")
    return event.get("type") if isinstance(event, dict) else None


def refusal_record(body: dict[str, Any], why: str, latency_ms: int | None = None) -> AuditRecord:
    """The audit row of a request refused before any listener ran: nobody was resolved, no data read. The table has
    no column for a reason, so it leads the command text: `[refused: foreign team 'T9'] balance 42` (bounded)."""
    team_id, user_id = slack_ids(body)
    return AuditRecord(
        request_id=request_id_or_new(),
        team_id=team_id,
        user_id=user_id or "?",
        command=bounded(f"[refused: {why}] {what_was_sent(body)}"),
        outcome="refused",
        latency_ms=latency_ms,
    )


def workspace_middleware(workspace: InstalledWorkspace, audit: Any | None = None) -> Callable[..., BoltResponse | None]:
    """The middleware; asks `auth.test` now, at start, so the first request's ack does not wait for it (if Slack
    cannot be reached yet, the first request asks again). `audit`: the audit log (`record(AuditRecord)`), written
    through a `BackgroundAudit` so that a refusal's ack never waits for the database."""
    writer = BackgroundAudit(audit) if audit is not None else None

    def refused(body: dict[str, Any], why: str, started: float) -> None:
        if writer is None:
            return
        try:
            writer.record(refusal_record(body, why, round((time.perf_counter() - started) * 1000)))
        except Exception:  # the audit must never break the ack
            log.exception("the refusal could not be audited")

    try:
        workspace.get()
    except Exception:
        log.warning("auth.test failed at start; will ask again on the first request", exc_info=True)

    def middleware(
        req: BoltRequest, context: Any, body: dict[str, Any], next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        if body.get("type") == "url_verification" or body.get("ssl_check"):
            return next()
        started = time.perf_counter()
        is_command = "command" in body
        try:
            installation = workspace.get()
        except Exception:
            log.exception("auth.test failed: request refused, its workspace cannot be checked")
            refused(body, "workspace unchecked (auth.test failed)", started)
            return BoltResponse(status=200, body=UNAVAILABLE if is_command else "")
        why = installation.refuses(context.team_id, context.enterprise_id)
        if why is not None:
            log.warning(
                "refused a request from a foreign %s (installed: team %s, enterprise %s); user %s",
                why, installation.team_id, installation.enterprise_id, context.user_id,
            )
            refused(body, f"foreign {why}", started)
            return BoltResponse(status=200, body=FOREIGN_WORKSPACE if is_command else "")
        response = next()
        if _event_type(body) in LIFECYCLE_EVENTS:
            workspace.forget()
        return response

    return middleware
