"""The App Home tab: each role's dashboard (bot/home.py), or the polite refusal; published when the tab is opened
and again after a click on one of its buttons (bot/listeners/actions/block_actions.py).

An open reads the user's data (a customer's Home shows their balance, an advisor's their watchlist), so it is a
request like a command: it runs under the delivery's request id (bot/dedupe.py) from the ack to the answer, and
leaves one audit row (`home`, with the roles and whose data was read), written after the view was published (or
could not be) on the answer runtime's delivery thread; refused as busy, on the background writer; never on the ack
path (with `process_before_response`, Bolt acks an event only after its listener returned). A refresh after a
click is part of that click's request (its id, its row), so it writes none of its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from bot.answer import Answer
from bot.audit_trail import finish_delivery, finish_delivery_later
from bot.blocks import home_view
from bot.dedupe import Delivery, delivery_of
from bot.logs import request_context, request_id_or_new
from bot.runtime import AnswerRuntime
from bot.runtime_worker import AnswerJob

log = logging.getLogger(__name__)
MAX_NOTICE = 500
HOME_COMMAND = "home"  # what an open asked, in the audit row


def publish_home(answers: AnswerRuntime, client: Any, user_id: str, team_id: str | None, notice: str = "",
                 *, request_id: str | None = None, delivery: Delivery | None = None) -> bool:
    """Compute `user_id`'s Home view on the answer runtime (with `notice` on top, e.g. "Alert #3 paused"), then
    publish it with views.publish. False when the runtime is busy (the view is not refreshed).

    `request_id`: default the current request's (a click's refresh runs under the click's id). `delivery`: the
    open's delivery: the open is audited with it (one row, after the publish); None for a click's refresh."""
    job = AnswerJob(request_id or request_id_or_new(), user_id, notice[:MAX_NOTICE], kind="home", team_id=team_id,
                    received_at=time.monotonic())

    def publish(answer: Answer) -> bool:
        try:
            client.views_publish(user_id=user_id, view=home_view(answer.blocks))
            return True
        except Exception:
            log.exception("request %s: could not publish the home tab for %s", answer.request_id, user_id)
            return False

    def audited(job: AnswerJob, answer: Answer, latency: float, delivered: bool) -> None:
        log.info("request %s: home tab of %s ok=%s delivered=%s in %.0f ms", job.request_id, user_id, answer.ok,
                 delivered, latency * 1000)
        finish_delivery(delivery, answer, user_id=user_id, team_id=team_id, command=HOME_COMMAND,
                        delivered=delivered, latency_ms=round(latency * 1000))

    finished = audited if delivery is not None else None
    if not answers.submit(job, publish, finished):
        log.warning("request %s: home tab for %s skipped, the bot is busy", job.request_id, user_id)
        if delivery is not None:  # Bolt sends the event's ack after this listener returns: written in the background
            finish_delivery_later(delivery, Answer(text="busy", blocks=[], ok=False, request_id=job.request_id),
                                  user_id=user_id, team_id=team_id, command=HOME_COMMAND, delivered=False,
                                  latency_ms=0)
        return False
    return True


def make_app_home_opened(answers: AnswerRuntime) -> Callable[..., None]:
    def app_home_opened(event: dict[str, Any], body: dict[str, Any], client: Any, context: Any) -> None:
        """Bolt acks events itself; the home view is computed on the answer runtime, then published."""
        if event.get("tab", "home") != "home":
            return
        delivery = delivery_of(context)
        request_id = delivery.request_id if delivery and delivery.request_id != "-" else request_id_or_new()
        with request_context(request_id):
            publish_home(answers, client, event.get("user", ""), body.get("team_id"), request_id=request_id,
                         delivery=delivery)

    return app_home_opened
