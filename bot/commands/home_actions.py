"""Buttons on the App Home tab (action_id prefix `ffh.`): `ffh.statement` sends the clicker's statement (PDF + CSV)
to their DM, exactly as `/finefin statement` does.

The value is user-controlled and carries nothing about who is asking: `last` (the default month, as the command
without an argument) or a `YYYY-MM` month, parsed as if typed. The clicker is the identity `Assistant.act` resolved;
the statement is theirs because the statement command reads only the verified identity's customer id, and the same
capability check as the typed command applies (staff are refused, nothing is read).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.access import Capability, Identity, allowed
from bot.answer import Answer
from bot.commands import Action
from bot.commands import statement as statement_command
from bot.commands.errors import AccessDenied
from semantic_layer.errors import InvalidInputError
from semantic_layer.inputs import Month

if TYPE_CHECKING:
    from bot.commands.context import CommandContext

ACTION_PREFIX = "ffh."
STATEMENT = f"{ACTION_PREFIX}statement"
LAST = "last"
REFUSAL = ("Sorry, statements are a customer's own, and your Slack email is not linked to a FineFinance account.")


def statement_button() -> dict[str, object]:
    """The Home's "last statement" button: the month is the command's default, so the value names no month."""
    return {"type": "button", "action_id": STATEMENT, "value": LAST, "style": "primary",
            "text": {"type": "plain_text", "text": "Send me my last statement"}}


def handle(ctx: CommandContext, identity: Identity, action_id: str, value: str) -> Answer:
    """`ffh.statement` with value `last` or `YYYY-MM`: the clicker's statement, files to their DM."""
    if action_id != STATEMENT:
        raise InvalidInputError("Unknown action.")
    if not allowed(identity, Capability.STATEMENT) or identity.customer is None:
        raise AccessDenied(REFUSAL)
    text = (value or "").strip()
    args = () if text == LAST else (str(Month.parse(text)),)
    return statement_command.handle(ctx, identity, args)


ACTION = Action(ACTION_PREFIX, handle)
