"""Operational alerts to Slack (`FINEFIN_ALERTS_CHANNEL`): the Airflow failure callback of every finefin task.

The callback never raises: a Slack outage must not hide the task's own error, so a failed alert is logged instead.
The message says which task failed, on which try, why (the exception's message, which for finefin errors is a
complete sentence, e.g. the stale-data refusal with the warehouse's age and the SLA), and links the log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from finefin.errors import ConfigurationError

if TYPE_CHECKING:
    from bot.settings import BotSettings

log = logging.getLogger(__name__)

_MAX_REASON_CHARS = 1500  # a section block holds 3,000 characters; leave room for the rest


@dataclass(frozen=True)
class TaskFailure:
    dag_id: str
    task_id: str
    run_id: str
    try_number: int | None
    max_tries: int | None
    reason: str
    log_url: str | None = None

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> TaskFailure:
        """Read an Airflow callback context (Airflow 3: `ti`, `exception`, `dag_run`), tolerating missing keys."""
        ti = context.get("ti") or context.get("task_instance")
        exception = context.get("exception")
        reason = (f"{type(exception).__name__}: {exception}" if exception is not None
                  else str(context.get("reason") or "no exception recorded"))
        dag_run = context.get("dag_run")
        return cls(
            dag_id=str(getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", "?")),
            task_id=str(getattr(ti, "task_id", "?")),
            run_id=str(getattr(ti, "run_id", None) or context.get("run_id") or "?"),
            try_number=getattr(ti, "try_number", None),
            max_tries=getattr(ti, "max_tries", None),
            reason=reason,
            log_url=_safe_log_url(ti),
        )


def _safe_log_url(ti: Any) -> str | None:
    try:
        url = getattr(ti, "log_url", None)
    except Exception:  # the property builds the URL from config; an alert must not fail on it
        return None
    return str(url) if url else None


def failure_text(failure: TaskFailure) -> str:
    """One readable alert in plain text (the bot escapes it): what failed, which try, why, where the log is."""
    tries = ""
    if failure.try_number is not None:
        total = (failure.max_tries + 1) if failure.max_tries is not None else "?"
        tries = f" (try {failure.try_number} of {total})"
    reason = failure.reason.strip()
    if len(reason) > _MAX_REASON_CHARS:
        reason = reason[: _MAX_REASON_CHARS - 1] + "…"
    lines = [f"{failure.dag_id}.{failure.task_id} failed{tries}, run {failure.run_id}", reason]
    if failure.log_url:
        lines.append(f"log: {failure.log_url}")
    return "\n".join(lines)


def post_alert(text: str, settings: BotSettings | None = None) -> None:
    """Post `text` to FINEFIN_ALERTS_CHANNEL through the bot (`bot.scheduled.post_alert`); raises on failure."""
    from bot.app import make_client
    from bot.scheduled import post_alert as bot_post_alert
    from bot.settings import BotSettings
    from finefin.config import load_settings

    settings = settings or load_settings(BotSettings)
    bot_post_alert(make_client(settings), settings, text)
    log.info("alert posted to %s", settings.alerts_channel)


def on_task_failure(context: Mapping[str, Any]) -> None:
    """Airflow `on_failure_callback`: post the failure to the alerts channel; never raises."""
    text = None
    try:
        failure = TaskFailure.from_context(context)
        log.error("task failed: %s.%s: %s", failure.dag_id, failure.task_id, failure.reason)
        text = failure_text(failure)
        post_alert(text)
    except ConfigurationError as exc:  # a bad setting must not swallow the alert: log it whole instead
        log.error("could not post the failure alert to Slack (%s); the alert was:\n%s", exc,
                  text or context.get("exception"))
    except Exception:
        log.exception("could not post the failure alert to Slack; the alert was:\n%s", text or context.get("exception"))
