"""`/finefin growth [YYYY-MM]`: revenue, volume and new customers month over month (directors)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot import blocks as bk
from bot.access import Capability, Identity
from bot.answer import Answer
from bot.commands import Command, Form
from semantic_layer.inputs import Month

if TYPE_CHECKING:
    from bot.commands.context import CommandContext

NAME = "growth"
MONTHS = 6


def handle(ctx: CommandContext, identity: Identity, args: tuple[str, ...]) -> Answer:
    month = Month.parse(args[0]) if args else None
    growth = ctx.sl.monthly_growth(month, MONTHS)
    fresh = ctx.freshness()
    c = growth.current
    period = f" {bk.growth_period(c)}" if c.is_month_to_date else ""
    return Answer(
        text=(
            f"Growth {growth.month}{period}: revenue {bk.money(c.revenue)} "
            f"({bk.pct(c.revenue_mom_pct)} {bk.growth_compared(c)}), new customers {c.new_customers}"
        ),
        blocks=bk.growth_blocks(growth, fresh),
        data=growth,
    )


FORM = Form(Capability.GROWTH, "growth [YYYY-MM]", "revenue, volume, new customers, month over month", handle,
            max_args=1)
COMMAND = Command(NAME, FORM.usage, FORM.summary, forms=(FORM,))
