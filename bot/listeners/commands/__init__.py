from slack_bolt import App

from bot.assistant import Assistant
from bot.listeners.commands.finefin_command import finefin_ack, make_finefin_answer


def register(app: App, assistant: Assistant) -> None:
    """`/finefin …`: ack at once, compute in Bolt's lazy-listener thread pool."""
    app.command("/finefin")(ack=finefin_ack, lazy=[make_finefin_answer(assistant)])
