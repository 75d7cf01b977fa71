"""The App Home tab: each role's dashboard (bot/home.py), or the polite refusal."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from bot.answer import Answer
from bot.assistant import new_request_id
from bot.runtime import AnswerRuntime
from bot.runtime_worker import AnswerJob

log = logging.getLogger(__name__)


def home_view(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "home", "blocks": blocks[:100]}  # Home tabs hold up to 100 blocks


def make_app_home_opened(answers: AnswerRuntime) -> Callable[..., None]:
    def app_home_opened(event: dict[str, Any], body: dict[str, Any], client: Any) -> None:
        """Bolt acks events itself; the home view is computed on the answer runtime, then published."""
        if event.get("tab", "home") != "home":
            return
        user_id = event.get("user", "")
        job = AnswerJob(new_request_id(), user_id, "help", kind="home", team_id=body.get("team_id"),
                        received_at=time.monotonic())

        def publish(answer: Answer) -> bool:
            try:
                client.views_publish(user_id=user_id, view=home_view(answer.blocks))
                return True
            except Exception:
                log.exception("request %s: could not publish the home tab for %s", answer.request_id, user_id)
                return False

        if not answers.submit(job, publish):
            log.warning("request %s: home tab for %s skipped, the bot is busy", job.request_id, user_id)

    return app_home_opened
