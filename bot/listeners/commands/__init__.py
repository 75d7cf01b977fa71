from slack_bolt import App

from bot.listeners.commands.finefin_command import make_finefin_command
from bot.runtime import AnswerRuntime


def register(app: App, answers: AnswerRuntime) -> None:
    """`/finefin …`: parse, queue the work on the answer runtime, ack; the answer follows via response_url."""
    app.command("/finefin")(make_finefin_command(answers))
