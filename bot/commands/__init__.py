"""Commands over the query model, one module each (usage, parsing, handler, message), registered in one table.

`bot.assistant` asks `lookup(text)` first: a registered command answers; anything else goes to the assistant's
own commands. A handler gets the assistant (semantic layer, settings, freshness), the identity and the words after
the command name, and returns an Answer; the semantic layer applies the access policy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.access import Identity
    from bot.answer import Answer
    from bot.commands.context import CommandContext


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    summary: str
    handler: Callable[[CommandContext, Identity, str], Answer]

    def run(self, ctx: CommandContext, identity: Identity, text: str) -> Answer:
        return self.handler(ctx, identity, text)


def _registry() -> dict[str, Command]:
    from bot.commands import alert, alerts, metric, metrics, subscribe, subscriptions, why

    return {c.name: c for c in (metric.COMMAND, metrics.COMMAND, why.COMMAND, alert.COMMAND, alerts.COMMAND,
                                subscribe.COMMAND, subscriptions.COMMAND)}


_COMMANDS: dict[str, Command] | None = None


def commands() -> dict[str, Command]:
    global _COMMANDS
    if _COMMANDS is None:
        _COMMANDS = _registry()
    return _COMMANDS


def lookup(text: str) -> tuple[Command, str] | None:
    """The registered command `text` starts with, and the rest of the text; None for any other text."""
    stripped = text.strip()
    name, _, rest = stripped.partition(" ")
    command = commands().get(name.lower())
    return None if command is None else (command, rest.strip())
