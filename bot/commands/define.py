"""`/finefin define <metric>`: the governed definition of a metric (directors)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot import blocks as bk
from bot.access import Capability, Identity
from bot.answer import Answer
from bot.commands import Command, Form
from bot.escape import slack_text
from semantic_layer.inputs import metric_name

if TYPE_CHECKING:
    from bot.commands.context import CommandContext

NAME = "define"


def handle(ctx: CommandContext, identity: Identity, args: tuple[str, ...]) -> Answer:
    name = metric_name(args[0], set(ctx.sl.metric_names()))
    definition = ctx.sl.define(name)
    fresh = ctx.freshness()
    return Answer(
        text=f"{slack_text(definition.label)}: {bk.governed(definition.definition)}",
        blocks=bk.define_blocks(definition, fresh),
        data=definition,
    )


FORM = Form(Capability.DEFINE, "define <metric>", "the governed definition of a metric", handle, min_args=1,
            max_args=1)
COMMAND = Command(NAME, FORM.usage, FORM.summary, forms=(FORM,))
