"""A click on a button of one of the bot's messages (`block_actions`): the ack path reads the action id and value
from the payload, queues an `AnswerJob(kind="action")` and acks; nothing else.

The clicking user's identity is re-resolved by the worker (`Assistant.act`), and the value, which the user controls,
is re-validated there by the action registered for the id's prefix (bot/commands). The answer goes back through the
payload's response_url (`bot.delivery.deliver_click`); a click on the App Home tab re-publishes the clicker's Home
view instead, the click's outcome on top (an answer with files, the Home's statement button, sends them to the
clicker's DM instead and re-publishes nothing): in place of the message, as a new ephemeral message, or to
the channel for a staff member's share. The delivery claim (trigger_id) is completed once the answer is out, or
released so that Slack's retry is answered, and the click is audited, as for a slash command.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, Respond
from slack_sdk.errors import SlackApiError, SlackRequestError

from bot.answer import Answer
from bot.audit_trail import finish_delivery
from bot.dedupe import Delivery, delivery_of
from bot.delivery import deliver_click, open_dm, upload_files
from bot.listeners.events.app_home_opened import publish_home
from bot.logs import request_context, request_id_or_new
from bot.runtime import AnswerRuntime
from bot.runtime_worker import AnswerJob

log = logging.getLogger(__name__)

MAX_ACTION_ID = 255  # Block Kit's limit: anything longer is not the bot's (kept bounded, refused by the registry)
MAX_VALUE = 2000
BUSY = "Sorry, I'm busy right now: please try again in a minute (reference {request_id})."


def _text(value: Any, limit: int) -> str:
    return value[: limit + 1] if isinstance(value, str) else ""  # one more than allowed: still refused, but small


def _id(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def job_from_action(body: dict[str, Any], request_id: str | None = None) -> AnswerJob:
    """`request_id`: the delivery's (bot/dedupe.py), so one id runs from the HTTP request to the worker's last line."""
    actions = body.get("actions")
    action = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
    value = action.get("value")
    if value is None and isinstance(action.get("selected_option"), dict):  # static_select / overflow menus
        value = action["selected_option"].get("value")
    user = body.get("user") if isinstance(body.get("user"), dict) else {}
    team = body.get("team") if isinstance(body.get("team"), dict) else {}
    channel = body.get("channel") if isinstance(body.get("channel"), dict) else {}
    container = body.get("container") if isinstance(body.get("container"), dict) else {}
    enterprise = body.get("enterprise")
    return AnswerJob(
        request_id=request_id or request_id_or_new(),
        user_id=_text(user.get("id"), 31),  # the audit log holds 32 characters
        text="",
        kind="action",
        team_id=_id(team.get("id")) or _id(user.get("team_id")),
        enterprise_id=_id(enterprise.get("id")) if isinstance(enterprise, dict) else None,
        channel_id=_id(channel.get("id")) or _id(container.get("channel_id")),
        trigger_id=_id(body.get("trigger_id")),
        received_at=time.monotonic(),
        action_id=_text(action.get("action_id"), MAX_ACTION_ID),
        value=_text(value, MAX_VALUE),
        message_ts=_id(container.get("message_ts")),
    )


def from_home(body: dict[str, Any]) -> bool:
    """Was the click on the App Home tab (no message, no response_url: the answer is the Home re-published)?"""
    view = body.get("view") if isinstance(body.get("view"), dict) else {}
    container = body.get("container") if isinstance(body.get("container"), dict) else {}
    return view.get("type") == "home" or (container.get("type") == "view" and not body.get("response_url"))


def on_clicked(job: AnswerJob, answer: Answer, latency: float, delivered: bool,
               delivery: Delivery | None = None) -> None:
    log.info("request %s: action %s on message %s from %s ok=%s delivered=%s in %.0f ms", job.request_id,
             job.action_id[:80], job.message_ts, job.user_id, answer.ok, delivered, latency * 1000)
    finish_delivery(delivery, answer, user_id=job.user_id, team_id=job.team_id,
                    command=f"[button] {job.action_id[:80]}", delivered=delivered,
                    latency_ms=round(latency * 1000))


def home_files(answer: Answer, client: Any, job: AnswerJob) -> bool:
    """An answer with files to a Home click (no response_url): the files to the clicker's DM, with the answer's text
    as the comment; nothing is re-published. False when the upload failed (logged; the caller says so on the Home)."""
    try:
        upload_files(client, open_dm(client, job.user_id), answer.files, comment=answer.text)
        return True
    except (SlackApiError, SlackRequestError, OSError):
        log.exception("request %s: upload of %s to %s failed", answer.request_id,
                      [f.filename for f in answer.files], job.user_id)
        return False


def make_block_action(answers: AnswerRuntime, finished: Callable[..., None] = on_clicked) -> Callable[..., None]:
    def block_action(ack: Ack, body: dict[str, Any], respond: Respond, client: Any, context: Any) -> None:
        ack()
        delivery = delivery_of(context)
        job = job_from_action(body, delivery.request_id if delivery and delivery.request_id != "-" else None)
        with request_context(job.request_id):
            handle(job, delivery, respond, client, from_home(body))

    def handle(job: AnswerJob, delivery: Delivery | None, respond: Respond, client: Any, home: bool) -> None:

        def done(job: AnswerJob, answer: Answer, latency: float, delivered: bool) -> None:
            finished(job, answer, latency, delivered, delivery)

        def send(answer: Answer) -> bool:
            if home and answer.ok and answer.files:  # a statement from the Home: the files to the DM, Home unchanged
                if home_files(answer, client, job):
                    return True
                publish_home(answers, client, job.user_id, job.team_id,
                             f"Sorry, I could not send the files to your DMs (reference {answer.request_id}).")
                return False
            if home:  # the Home view again, as the clicker sees it now, with the click's outcome on top
                return publish_home(answers, client, job.user_id, job.team_id, answer.text)
            return deliver_click(answer, client=client, respond=respond, user_id=job.user_id,
                                 channel_id=job.channel_id)

        # the delivery's claim is taken by the runtime before the work starts (bot/dedupe.py), not on the ack path
        if answers.submit(job, send, done, admit=delivery.take if delivery is not None else None):
            return
        busy = Answer(text=BUSY.format(request_id=job.request_id), blocks=[], ok=False, request_id=job.request_id)
        if home:  # no response_url on a Home click: nothing to tell the user through
            done(job, busy, 0.0, False)
            return
        try:
            respond(text=busy.text, response_type="ephemeral", replace_original=False)
        except Exception:
            log.exception("request %s: could not tell %s the bot is busy", job.request_id, job.user_id)
        done(job, busy, 0.0, False)

    return block_action
