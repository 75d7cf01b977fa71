"""The `/finefin` slash command: the ack path parses the subcommand, queues the work and acks; nothing else.

The answer is computed by the answer runtime (bot/runtime.py, worker processes) and delivered from its delivery
threads; `on_answered` runs once per request after that, whatever the outcome.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, Respond

from bot.answer import Answer
from bot.audit_trail import finish_delivery
from bot.dedupe import Delivery, delivery_of
from bot.delivery import deliver
from bot.logs import request_context, request_id_or_new
from bot.runtime import AnswerRuntime
from bot.runtime_worker import AnswerJob

log = logging.getLogger(__name__)

# Slow subcommands get a short ephemeral note in the ack, so the user knows the answer is coming.
PREPARING: dict[str, str] = {
    "statement": "Preparing your statement… it will arrive in your DMs in a moment.",
    "transactions": "Preparing the transactions chart… it will arrive in your DMs in a moment.",
}
BUSY = "Sorry, I'm busy right now: please try again in a minute (reference {request_id})."


def subcommand(text: str) -> str:
    """The first word, lower-cased (the full parse and its errors happen in the worker)."""
    words = text.split(maxsplit=1)
    return words[0].lower() if words else "help"


def job_from_command(body: dict[str, Any], request_id: str | None = None) -> AnswerJob:
    """`request_id`: the delivery's (bot/dedupe.py), so one id runs from the HTTP request to the worker's last line."""
    enterprise = body.get("enterprise_id")
    return AnswerJob(
        request_id=request_id or request_id_or_new(),
        user_id=str(body.get("user_id") or ""),
        text=str(body.get("text") or ""),
        team_id=body.get("team_id"),
        enterprise_id=enterprise if isinstance(enterprise, str) else None,
        channel_id=body.get("channel_id"),
        trigger_id=body.get("trigger_id"),
        received_at=time.monotonic(),
    )


def on_answered(job: AnswerJob, answer: Answer, latency: float, delivered: bool,
                delivery: Delivery | None = None) -> None:
    """Once per request, after the answer was delivered (or could not be; `delivered` False, also when busy).

    The one place for what follows an answer: the delivery claim is completed (or released, so Slack's retry or a
    later try is answered) and the audit row written (bot/audit_trail.py; never raises).
    """
    log.info("request %s: /finefin from %s ok=%s delivered=%s in %.0f ms", job.request_id, job.user_id, answer.ok,
             delivered, latency * 1000)
    finish_delivery(delivery, answer, user_id=job.user_id, team_id=job.team_id, command=job.text,
                    delivered=delivered, latency_ms=round(latency * 1000))


def make_finefin_command(answers: AnswerRuntime, finished: Callable[..., None] = on_answered) -> Callable[..., None]:
    def finefin_command(ack: Ack, body: dict[str, Any], respond: Respond, client: Any, context: Any) -> None:
        delivery = delivery_of(context)  # the claim the dedupe middleware took, finished with the answer
        job = job_from_command(body, delivery.request_id if delivery and delivery.request_id != "-" else None)
        with request_context(job.request_id):
            handle(job, delivery, ack, respond, client)

    def handle(job: AnswerJob, delivery: Delivery | None, ack: Ack, respond: Respond, client: Any) -> None:
        def done(job: AnswerJob, answer: Answer, latency: float, delivered: bool) -> None:
            finished(job, answer, latency, delivered, delivery)

        def send(answer: Answer) -> bool:
            deliver(answer, client=client, respond=respond, user_id=job.user_id)
            return True

        # the delivery's claim is taken by the runtime before the work starts, not here: the ack never waits on it
        if answers.submit(job, send, done, admit=delivery.take if delivery is not None else None):
            note = PREPARING.get(subcommand(job.text))
            if note:
                ack(text=note, response_type="ephemeral")
            else:
                ack()
            return
        ack(text=BUSY.format(request_id=job.request_id), response_type="ephemeral")
        done(job, Answer(text=BUSY.format(request_id=job.request_id), blocks=[], ok=False,
                 request_id=job.request_id), 0.0, False)

    return finefin_command
