"""The App Home tab: the commands this user may run (their roles decide), or the polite refusal."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bot.assistant import Assistant

log = logging.getLogger(__name__)


def home_view(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "home", "blocks": blocks[:100]}  # Home tabs hold up to 100 blocks


def make_app_home_opened(assistant: Assistant) -> Callable[..., None]:
    def app_home_opened(event: dict[str, Any], client: Any) -> None:
        if event.get("tab", "home") != "home":
            return
        user_id = event.get("user", "")
        answer = assistant.answer(user_id, "help")
        try:
            client.views_publish(user_id=user_id, view=home_view(answer.blocks))
        except Exception:
            log.exception("request %s: could not publish the home tab for %s", answer.request_id, user_id)

    return app_home_opened
