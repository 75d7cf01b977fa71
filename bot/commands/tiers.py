"""`/finefin tiers`: customers per tier and the change (directors)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot import blocks as bk
from bot.access import Capability, Identity
from bot.answer import Answer
from bot.commands import Command, Form
from bot.escape import slack_text

if TYPE_CHECKING:
    from bot.commands.context import CommandContext

NAME = "tiers"


def handle(ctx: CommandContext, identity: Identity, args: tuple[str, ...]) -> Answer:
    tiers = ctx.sl.customers_per_tier(None)
    fresh = ctx.freshness()
    summary = ", ".join(f"{slack_text(t.tier)} {t.customers}" for t in tiers.tiers)
    return Answer(
        text=f"Customers per tier {tiers.month}: {summary}", blocks=bk.tiers_blocks(tiers, fresh), data=tiers
    )


FORM = Form(Capability.TIERS, NAME, "customers per tier and change", handle)
COMMAND = Command(NAME, FORM.usage, FORM.summary, forms=(FORM,))
