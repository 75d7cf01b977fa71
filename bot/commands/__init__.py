"""Every `/finefin` command, one module each (usage, parsing, handler, message), registered in one table.

`bot.assistant` asks `lookup(text)` first: a command over the query model (metric, metrics, why) answers; anything
else is parsed into a capability-gated command (below). Buttons work the same way: an `Action` owns an action_id
prefix (`ffq.` the query buttons of bot/commands/query_actions.py); `Assistant.act` asks `lookup_action(action_id)`
and runs its handler with the clicking user's identity and the (user-controlled) value, which the handler
re-validates as if it were typed.

A command handler gets the assistant (semantic layer, settings, freshness), the identity and the words after
the command name, and returns an Answer; the semantic layer applies the access policy.

The original commands (help, balance, upcoming, statement, watchlist, red, growth, tiers, transactions, define) are
gated by a bot capability (bot/access.py) instead: each declares its `Form`s (capability, usage line, summary,
argument counts, handler over the already split argument words), and `bot.assistant` parses the text into a
capability, checks access, records the audit facts and only then runs the form's handler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.access import ACCESS, Capability, Role

if TYPE_CHECKING:
    from bot.access import Identity
    from bot.answer import Answer
    from bot.commands.context import CommandContext
    from semantic_layer.inputs import CustomerId


@dataclass(frozen=True)
class Form:
    """One way to write a capability-gated command: `balance` (own) and `balance <customer>` are two forms of one
    command. The handler gets the argument words, already counted against min_args..max_args."""

    capability: Capability
    usage: str
    summary: str
    handler: Callable[[CommandContext, Identity, tuple[str, ...]], Answer]
    min_args: int = 0
    max_args: int = 0


def own_customer_id(identity: Identity) -> CustomerId:
    """The customer id of a command about the user's own accounts, from the verified identity."""
    assert identity.customer is not None  # guaranteed by ACCESS: these capabilities need Role.CUSTOMER
    return identity.customer.customer_id


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    summary: str
    handler: Callable[[CommandContext, Identity, str], Answer] | None = None
    forms: tuple[Form, ...] = ()  # a gated command: the assistant checks the capability, then runs the form
    usage_for: Callable[[Identity], str] | None = None  # the usage this user may write, where it depends on roles

    @property
    def gated(self) -> bool:
        return bool(self.forms)

    def usage_of(self, identity: Identity) -> str:
        """The usage line `help` shows this user (only the forms their roles allow)."""
        return self.usage if self.usage_for is None else self.usage_for(identity)

    def form_for(self, args: tuple[str, ...]) -> Form:
        """The form these arguments are written in: the last one (by min_args) they reach; its max_args is checked
        by the caller, which names this form's usage when the count is wrong."""
        ordered = sorted(self.forms, key=lambda f: f.min_args)
        reached = [f for f in ordered if f.min_args <= len(args)]
        return reached[-1] if reached else ordered[0]

    def run(self, ctx: CommandContext, identity: Identity, text: str) -> Answer:
        if self.handler is None:
            raise TypeError(f"{self.name} is gated by a capability: the assistant runs its forms")
        return self.handler(ctx, identity, text)


@dataclass(frozen=True)
class Action:
    """Interactive components whose action_id starts with `prefix` (e.g. "ffq." for the query buttons)."""

    prefix: str
    handler: Callable[[CommandContext, Identity, str, str], Answer]  # (ctx, identity, action_id, value)

    def run(self, ctx: CommandContext, identity: Identity, action_id: str, value: str) -> Answer:
        return self.handler(ctx, identity, action_id, value)


def _gated() -> dict[str, Command]:
    """The capability-gated commands. Light to import (no MetricFlow, DuckDB or renderers at module level): the
    web process reads their names and usage lines through bot.assistant."""
    from bot.commands import balance, define, growth, help, red, statement, tiers, transactions, upcoming, watchlist

    modules = (help, balance, upcoming, statement, watchlist, red, growth, tiers, transactions, define)
    return {m.COMMAND.name: m.COMMAND for m in modules}


def _over_queries() -> dict[str, Command]:
    """The commands over the query model, imported when first asked for (they load the query service)."""
    from bot.commands import alert, alerts, ask, metric, metrics, subscribe, subscriptions, why

    return {c.name: c for c in (metric.COMMAND, metrics.COMMAND, why.COMMAND, alert.COMMAND, alerts.COMMAND,
                                subscribe.COMMAND, subscriptions.COMMAND, ask.COMMAND)}


_GATED: dict[str, Command] | None = None
_QUERIES: dict[str, Command] | None = None


def gated() -> dict[str, Command]:
    """The capability-gated commands by name, in table order."""
    global _GATED
    if _GATED is None:
        _GATED = _gated()
    return _GATED


def commands() -> dict[str, Command]:
    """The commands over the query model (metric, metrics, why, alert(s), subscribe, subscriptions, ask): open to
    every known user, the semantic layer scoping what each may ask."""
    global _QUERIES
    if _QUERIES is None:
        _QUERIES = _over_queries()
    return _QUERIES


def table() -> dict[str, Command]:
    """Every command by name, in one table: the capability-gated ones, then those over the query model."""
    return {**gated(), **commands()}


def lookup(text: str) -> tuple[Command, str] | None:
    """The command over the query model `text` starts with, and the rest of the text; None for any other text
    (a capability-gated command goes through `bot.assistant.parse` and its access check)."""
    stripped = text.strip()
    name, _, rest = stripped.partition(" ")
    command = commands().get(name.lower())
    return None if command is None else (command, rest.strip())


def gated_names() -> tuple[str, ...]:
    """The capability-gated commands' names, in table order."""
    return tuple(gated())


def forms() -> dict[Capability, Form]:
    """Every gated command's forms by capability."""
    return {f.capability: f for c in gated().values() for f in c.forms}


_ROLE_ORDER = (Role.CUSTOMER, Role.ADVISOR, Role.DIRECTOR)


def help_table() -> dict[Capability, tuple[str, str]]:
    """Usage line and summary per capability, grouped by who may use it (a customer's own commands, then the
    advisors', then the directors'), in table order within a group; `help` itself is not listed."""
    listed = [f for f in forms().values() if f.capability is not Capability.HELP]
    listed.sort(key=lambda f: min(_ROLE_ORDER.index(r) for r in ACCESS[f.capability]))
    return {f.capability: (f.usage, f.summary) for f in listed}


def _action_registry() -> dict[str, Action]:
    from bot.commands import home_actions, manage_actions, query_actions

    return {a.prefix: a for a in (query_actions.ACTION, manage_actions.ACTION, home_actions.ACTION)}


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
