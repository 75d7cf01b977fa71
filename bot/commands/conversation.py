"""Conversation state for follow-ups in threads (bot.state conversations): what each threaded answer was read as.

The query is kept in its compact form (semantic_layer/query_codec.py) and read back through the codec's strict
checks; a row written before (long keys: `{"metrics": […], "group_by": […], "grain": …, "filters": […], "period":
{"kind": …, "first": …, "last": …, "count": …}, "order": [[by, true]], "limit": …}`) is read as the same query.
Light on purpose: the web process (which posts answers and remembers them) does not load the semantic layer.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.answer import Answer
from semantic_layer.query import MetricAnswer, MetricQuery, PeriodKind
from semantic_layer.query_codec import RANGE, int_directions, query_from_data, query_to_data

log = logging.getLogger(__name__)
_LONG_KEYS = {"metrics": "m", "group_by": "g", "grain": "t", "filters": "f", "period": "p", "order": "o", "limit": "l"}


def recall(thread: tuple[str, str], user_id: str) -> MetricQuery | None:
    """The query the thread's last answer was read as, if this user asked it (a thread is continued by its asker
    only: the key is user-controlled text). None without the state database or a usable record."""
    try:
        from bot.state import shared_state

        found = shared_state().conversations.recall(*thread)
        if found is None or found[0] != user_id:
            return None
        return query_from_data(compact_record(found[1]))
    except Exception:
        log.warning("conversation %s unavailable: read as a new question", thread, exc_info=True)
        return None


def remember(thread: tuple[str, str], user_id: str, answer: Answer) -> None:
    """After an answer was posted in a thread: what it was read as, for the follow-ups. Never raises."""
    if not isinstance(answer.data, MetricAnswer):
        return
    try:
        from bot.state import shared_state

        shared_state().conversations.remember(*thread, user_id, query_to_data(answer.data.query))
    except Exception:
        log.warning("conversation %s not saved: follow-ups there read as new questions", thread, exc_info=True)


def compact_record(record: Any) -> Any:
    """A stored record in the compact form: a row with long keys (written before the compact form) converted, any
    other record as it is (the codec checks it)."""
    if not isinstance(record, dict) or "metrics" not in record:
        return record
    data = {short: record[long] for long, short in _LONG_KEYS.items() if record.get(long) not in (None, [])}
    period = data.get("p")
    if isinstance(period, dict):
        data["p"] = ([RANGE, period.get("first"), period.get("last")] if period.get("kind") == PeriodKind.RANGE.value
                     else [period.get("kind"), period.get("count")])
    if "o" in data:
        data["o"] = int_directions(data["o"])
    return data
