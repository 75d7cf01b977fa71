import re

from slack_bolt import App

from bot.listeners.actions.block_actions import make_block_action
from bot.runtime import AnswerRuntime

EVERY_ACTION = re.compile(r".*", re.DOTALL)


def register(app: App, answers: AnswerRuntime) -> None:
    """Every `block_actions` click: ack, queue the work on the answer runtime; the registry of bot/commands decides
    what the action id means (an unknown or forged one gets a polite refusal, not Bolt's 404)."""
    app.block_action(EVERY_ACTION)(make_block_action(answers))
