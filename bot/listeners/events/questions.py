"""Questions where people talk: an @mention of the bot in a channel, or a direct message to it.

The text (without the mention) takes the same path as `/finefin <text>`: a command, or a plain-English question
(bot/commands/ask.py), answered on the answer runtime with the asker's identity and access. In a channel the
answer is ephemeral to the asker (customer data, and staff figures not every member may see, are never posted
there); in a DM it is a message in that DM. Files go to the asker's DM, as for the slash command.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

from bot.answer import Answer
from bot.audit_trail import finish_delivery_later
from bot.commands.conversation import remember
from bot.dedupe import Delivery, delivery_of
from bot.delivery import fallback_text, open_dm, upload_files
from bot.listeners.commands.finefin_command import BUSY, on_answered
from bot.logs import request_context, request_id_or_new
from bot.runtime import AnswerRuntime
from bot.runtime_worker import AnswerJob

log = logging.getLogger(__name__)
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")


def question_text(text: str | None) -> str:
    """The message without the bot's mention(s); an empty message asks for help."""
    return " ".join(_MENTION.sub(" ", text or "").split()) or "help"


def _handler(answers: AnswerRuntime, private_to_asker: bool) -> Callable[..., None]:
    def handle(event: dict[str, Any], body: dict[str, Any], client: Any, context: Any) -> None:
        user = event.get("user")
        channel = event.get("channel")
        if not user or not channel or event.get("bot_id") or event.get("subtype"):
            return  # the bot's own messages, edits, joins: not questions
        thread = str(event.get("thread_ts") or event.get("ts") or "")
        text = question_text(event.get("text"))
        if event.get("thread_ts") and event.get("thread_ts") != event.get("ts"):
            text = f"ask thread={channel}:{thread} {text}"  # a follow-up: read against the thread's last answer
        delivery = delivery_of(context)
        # the delivery's id (bot/dedupe.py): one id from the HTTP request to the worker's last line
        request_id = delivery.request_id if delivery and delivery.request_id != "-" else request_id_or_new()
        job = AnswerJob(request_id, str(user), text, team_id=body.get("team_id"), channel_id=str(channel),
                        received_at=time.monotonic())
        with request_context(request_id):
            ask(job, delivery, event, client, private_to_asker)

    def ask(job: AnswerJob, delivery: Delivery | None, event: dict[str, Any], client: Any,
            private_to_asker: bool) -> None:
        user, channel = str(event["user"]), str(event["channel"])
        thread = str(event.get("thread_ts") or event.get("ts") or "")

        def post(text: str | None, blocks: list[dict[str, Any]] | None) -> None:
            if private_to_asker:
                client.chat_postEphemeral(channel=channel, user=user, text=fallback_text(text), blocks=blocks,
                                          thread_ts=event.get("thread_ts"))
            else:
                client.chat_postMessage(channel=channel, text=fallback_text(text), blocks=blocks,
                                        thread_ts=thread or None)

        def send(answer: Answer) -> bool:
            post(answer.text, answer.blocks)
            if thread:
                remember((str(channel), thread), str(user), answer)
            if answer.files:
                upload_files(client, open_dm(client, str(user)), answer.files, comment=answer.text)
            return True

        def done(job: AnswerJob, answer: Answer, latency: float, delivered: bool) -> None:
            on_answered(job, answer, latency, delivered, delivery)

        if not answers.submit(job, send, done):
            busy = BUSY.format(request_id=job.request_id)
            post(busy, None)
            # Bolt acks the event only after this listener returns: the row is written in the background
            finish_delivery_later(delivery, Answer(text=busy, blocks=[], ok=False, request_id=job.request_id),
                                  user_id=job.user_id, team_id=job.team_id, command=job.text, delivered=False,
                                  latency_ms=0)

    return handle


def make_app_mention(answers: AnswerRuntime) -> Callable[..., None]:
    return _handler(answers, private_to_asker=True)


def make_direct_message(answers: AnswerRuntime) -> Callable[..., None]:
    direct = _handler(answers, private_to_asker=False)

    def message(event: dict[str, Any], body: dict[str, Any], client: Any, context: Any) -> None:
        if event.get("channel_type") != "im":
            return  # channel messages reach the bot only as @mentions
        direct(event, body, client, context)

    return message
