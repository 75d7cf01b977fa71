"""The App Home tab: each role's dashboard (bot/home.py), or the polite refusal; published when the tab is opened
and again after a click on one of its buttons (bot/listeners/actions/block_actions.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from bot.answer import Answer
from bot.assistant import new_request_id
from bot.blocks import home_view
from bot.runtime import AnswerRuntime
from bot.runtime_worker import AnswerJob

log = logging.getLogger(__name__)
MAX_NOTICE = 500


def publish_home(answers: AnswerRuntime, client: Any, user_id: str, team_id: str | None, notice: str = "") -> bool:
    """Compute `user_id`'s Home view on the answer runtime (with `notice` on top, e.g. "Alert #3 paused"), then
    publish it with views.publish. False when the runtime is busy (the view is not refreshed)."""
    job = AnswerJob(new_request_id(), user_id, notice[:MAX_NOTICE], kind="home", team_id=team_id,
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
        return False
    return True


def make_app_home_opened(answers: AnswerRuntime) -> Callable[..., None]:
    def app_home_opened(event: dict[str, Any], body: dict[str, Any], client: Any) -> None:
        """Bolt acks events itself; the home view is computed on the answer runtime, then published."""
        if event.get("tab", "home") != "home":
            return
        publish_home(answers, client, event.get("user", ""), body.get("team_id"))

    return app_home_opened
