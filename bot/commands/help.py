"""`/finefin help`: the commands this user may run (by capability), then the commands over the query model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot import blocks as bk
from bot import commands as registry
from bot.access import Capability, Identity, allowed
from bot.answer import Answer
from bot.commands import Command, Form

if TYPE_CHECKING:
    from bot.commands.context import CommandContext

NAME = "help"


def handle(ctx: CommandContext, identity: Identity, args: tuple[str, ...]) -> Answer:
    commands = [usage for cap, usage in registry.help_table().items() if allowed(identity, cap)]
    commands += [(c.usage_of(identity), c.summary) for c in registry.commands().values()]
    roles = ", ".join(sorted(identity.roles))
    intro = f"*FineFinance bot* — you are recognised as: {roles}. Commands:"
    lines = [f"/finefin {usage} — {what}" for usage, what in commands]
    return Answer(text="\n".join([intro, *lines]), blocks=bk.help_blocks(commands, intro))


FORM = Form(Capability.HELP, NAME, "the commands you can use", handle, max_args=1)
COMMAND = Command(NAME, NAME, FORM.summary, forms=(FORM,))
