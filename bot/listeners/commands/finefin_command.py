"""The `/finefin` slash command: an immediate ack, then the answer computed off the request thread."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, Respond

from bot.assistant import Assistant, new_request_id
from bot.delivery import deliver

log = logging.getLogger(__name__)


def finefin_ack(ack: Ack) -> None:
    """Nothing but the ack: Slack wants it within 3 s, and the answer may take longer."""
    ack()


def make_finefin_answer(assistant: Assistant) -> Callable[..., None]:
    def finefin_answer(body: dict[str, Any], respond: Respond, client: Any) -> None:
        request_id = new_request_id()
        user_id = body.get("user_id", "")
        log.info("request %s: /finefin from %s (trigger %s)", request_id, user_id, body.get("trigger_id"))
        answer = assistant.answer(user_id, body.get("text") or "", request_id=request_id)
        try:
            deliver(answer, client=client, respond=respond, user_id=user_id)
        except Exception:
            log.exception("request %s: could not deliver the answer to %s", request_id, user_id)

    return finefin_answer
