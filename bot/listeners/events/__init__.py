from slack_bolt import App

from bot.listeners.events.app_home_opened import make_app_home_opened
from bot.runtime import AnswerRuntime


def register(app: App, answers: AnswerRuntime) -> None:
    app.event("app_home_opened")(make_app_home_opened(answers))
