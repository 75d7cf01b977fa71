"""Bolt listeners, one folder per kind (after bolt-python-starter-template).

`register(app, answers, …)` rather than `register(app)`: the listeners only ack and queue work on the answer runtime
(bot/runtime.py), which they get by closure, and record identity changes where every process looks (`revocations`).
"""

from collections.abc import Callable

from slack_bolt import App

from bot.identity import Revocations
from bot.listeners import actions, commands, events
from bot.runtime import AnswerRuntime


def register_listeners(app: App, answers: AnswerRuntime, revocations: Revocations,
                       disable_owner: Callable[[str, str], int] | None = None) -> None:
    """`disable_owner(user_id, reason)`: disables a deactivated user's subscriptions and alerts (the state DB)."""
    commands.register(app, answers)
    actions.register(app, answers)
    events.register(app, answers, revocations, disable_owner)
