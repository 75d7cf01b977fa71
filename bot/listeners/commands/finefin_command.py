"""The `/finefin` slash command: an immediate ack, then the answer computed off the request thread."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, Respond

from bot.assistant import Assistant, new_request_id
from bot.audit_trail import finish_request
from bot.delivery import deliver

log = logging.getLogger(__name__)
ACK_HEAD_START_SECONDS = 0.03


def finefin_ack(ack: Ack) -> None:
    """Nothing but the ack: Slack wants it within 3 s, and the answer may take longer."""
    ack()


def make_finefin_answer(assistant: Assistant) -> Callable[..., None]:
    def finefin_answer(body: dict[str, Any], respond: Respond, client: Any, context: Any) -> None:
        # Let the request thread send the ack first: rendering PDFs and charts (fpdf2, matplotlib's Agg in C)
        # holds the GIL for tens of milliseconds, which otherwise lands on the ack's latency.
        time.sleep(ACK_HEAD_START_SECONDS)
        request_id = new_request_id()
        user_id = body.get("user_id", "")
        log.info("request %s: /finefin from %s (trigger %s)", request_id, user_id, body.get("trigger_id"))
        started = time.perf_counter()
        answer = assistant.answer(user_id, body.get("text") or "", request_id=request_id)
        computed = time.perf_counter()
        try:
            deliver(answer, client=client, respond=respond, user_id=user_id)
        except Exception:
            log.exception("request %s: could not deliver the answer to %s", request_id, user_id)
            finish_request(context, body, answer, delivered=False)  # released: a retry may answer it
            return
        finish_request(context, body, answer, delivered=True)  # delivery claim done, audit row written
        log.info(
            "request %s: ok=%s, computed in %.0f ms, delivered in %.0f ms",
            request_id,
            answer.ok,
            (computed - started) * 1000,
            (time.perf_counter() - computed) * 1000,
        )

    return finefin_answer
