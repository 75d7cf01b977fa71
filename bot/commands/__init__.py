"""Commands over the query model, one module each (usage, parsing, handler, message), registered in one table.

`bot.assistant` asks `lookup(text)` first: a registered command answers; anything else goes to the assistant's
own commands. Buttons work the same way: an `Action` owns an action_id prefix (`ffq.` the query buttons of
bot/commands/query_actions.py); `Assistant.act` asks `lookup_action(action_id)` and runs its handler with the
clicking user's identity and the (user-controlled) value, which the handler re-validates as if it were typed.

A command handler gets the assistant (semantic layer, settings, freshness), the identity and the words after
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


@dataclass(frozen=True)
class Action:
    """Interactive components whose action_id starts with `prefix` (e.g. "ffq." for the query buttons)."""

    prefix: str
    handler: Callable[[CommandContext, Identity, str, str], Answer]  # (ctx, identity, action_id, value)

    def run(self, ctx: CommandContext, identity: Identity, action_id: str, value: str) -> Answer:
        return self.handler(ctx, identity, action_id, value)


def _registry() -> dict[str, Command]:
    from bot.commands import alert, alerts, ask, metric, metrics, subscribe, subscriptions, why

    return {c.name: c for c in (metric.COMMAND, metrics.COMMAND, why.COMMAND, alert.COMMAND, alerts.COMMAND,
                                subscribe.COMMAND, subscriptions.COMMAND, ask.COMMAND)}


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


def _action_registry() -> dict[str, Action]:
    from bot.commands import manage_actions, query_actions

    return {a.prefix: a for a in (query_actions.ACTION, manage_actions.ACTION)}


_ACTIONS: dict[str, Action] | None = None


def actions() -> dict[str, Action]:
    """Registered actions by prefix (one table; a prefix must not be the start of another)."""
    global _ACTIONS
    if _ACTIONS is None:
        _ACTIONS = _action_registry()
    return _ACTIONS


def lookup_action(action_id: str) -> tuple[Action, str] | None:
    """The action owning `action_id` (by prefix) and the rest of the id after it; None for any other id."""
    if not isinstance(action_id, str):
        return None
    for prefix, action in actions().items():
        if action_id.startswith(prefix) and len(action_id) > len(prefix):
            return action, action_id[len(prefix):]
    return None
