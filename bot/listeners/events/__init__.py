from slack_bolt import App

from bot.assistant import Assistant
from bot.listeners.events.app_home_opened import make_app_home_opened


def register(app: App, assistant: Assistant) -> None:
    app.event("app_home_opened")(make_app_home_opened(assistant))
