"""Conversation state for follow-ups in threads (bot.state conversations): what each threaded answer was read as.

Light on purpose: the web process (which posts answers and remembers them) does not load the semantic layer.
"""

from __future__ import annotations

import logging

from bot.answer import Answer
from semantic_layer.nl.followup import query_from_json, query_to_json
from semantic_layer.query import MetricAnswer, MetricQuery

log = logging.getLogger(__name__)


def recall(thread: tuple[str, str], user_id: str) -> MetricQuery | None:
    """The query the thread's last answer was read as, if this user asked it (a thread is continued by its asker
    only: the key is user-controlled text). None without the state database or a usable record."""
    try:
        from bot.state import shared_state

        found = shared_state().conversations.recall(*thread)
        if found is None or found[0] != user_id:
            return None
        return query_from_json(found[1])
    except Exception:
        log.warning("conversation %s unavailable: read as a new question", thread, exc_info=True)
        return None


def remember(thread: tuple[str, str], user_id: str, answer: Answer) -> None:
    """After an answer was posted in a thread: what it was read as, for the follow-ups. Never raises."""
    if not isinstance(answer.data, MetricAnswer):
        return
    try:
        from bot.state import shared_state

        shared_state().conversations.remember(*thread, user_id, query_to_json(answer.data.query))
    except Exception:
        log.warning("conversation %s not saved: follow-ups there read as new questions", thread, exc_info=True)
