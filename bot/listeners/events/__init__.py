from collections.abc import Callable

from slack_bolt import App

from bot.identity import Revocations
from bot.listeners.events.app_home_opened import make_app_home_opened
from bot.listeners.events.identity_changes import make_forget_all, make_user_change
from bot.listeners.events.questions import make_app_mention, make_direct_message
from bot.runtime import AnswerRuntime


def register(app: App, answers: AnswerRuntime, revocations: Revocations,
             disable_owner: Callable[[str, str], int] | None = None) -> None:
    """Identities are cached in every answer process: a change is recorded in the shared revocations (state DB),
    which each resolver consults on a cache hit."""
    app.event("app_home_opened")(make_app_home_opened(answers))
    app.event("app_mention")(make_app_mention(answers))  # questions in channels (answered privately)
    app.event("message")(make_direct_message(answers))  # questions in a DM to the bot
    app.event("user_change")(make_user_change(revocations.revoke, disable_owner))
    forget_all = make_forget_all(lambda: revocations.revoke(None))
    app.event("tokens_revoked")(forget_all)
    app.event("app_uninstalled")(forget_all)
