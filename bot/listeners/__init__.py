"""Bolt listeners, one folder per kind (after bolt-python-starter-template).

`register(app, assistant)` rather than `register(app)`: Bolt deep-copies the context for lazy listeners, so the
services (semantic layer, caches) are passed by closure instead of through the context.
"""

from slack_bolt import App

from bot.assistant import Assistant
from bot.listeners import commands, events


def register_listeners(app: App, assistant: Assistant) -> None:
    commands.register(app, assistant)
    events.register(app, assistant)
