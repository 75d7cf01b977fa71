from slack_bolt import App

from bot.assistant import Assistant
from bot.listeners.events.app_home_opened import make_app_home_opened
from bot.listeners.events.identity_changes import make_forget_all, make_user_change


def register(app: App, assistant: Assistant) -> None:
    app.event("app_home_opened")(make_app_home_opened(assistant))
    app.event("user_change")(make_user_change(assistant.resolver.forget))
    app.event("tokens_revoked")(make_forget_all(assistant.resolver.forget_all))
    app.event("app_uninstalled")(make_forget_all(assistant.resolver.forget_all))
