"""`/finefin red`: customers in the red for 3+ consecutive months (advisors)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot import blocks as bk
from bot.access import Capability, Identity
from bot.answer import Answer
from bot.commands import Command, Form
from bot.files import cut_list_csv
from bot.money import money_column

if TYPE_CHECKING:
    from bot.commands.context import CommandContext

NAME = "red"


def handle(ctx: CommandContext, identity: Identity, args: tuple[str, ...]) -> Answer:
    watchlist = ctx.sl.watchlist(None)
    fresh = ctx.freshness()
    limit = ctx.settings.list_limit
    answer = Answer(
        text=f"{bk.plural(len(watchlist.red_streaks), 'customer')} in the red {watchlist.min_red_months}+ months",
        blocks=bk.red_blocks(watchlist, fresh, limit),
        data=watchlist.red_streaks,
    )
    rows: list[list[object]] = [
        [r.customer_id, r.full_name, r.months, r.since, r.balance] for r in watchlist.red_streaks
    ]
    return cut_list_csv(
        answer,
        len(rows),
        limit,
        f"red-{watchlist.month}.csv",
        "Customers in the red (CSV)",
        ["customer_id", "name", "months", "since", money_column(f"balance_at_{watchlist.month.last_day}")],
        rows,
    )


FORM = Form(Capability.RED, NAME, "customers in the red 3+ consecutive months", handle)
COMMAND = Command(NAME, FORM.usage, FORM.summary, forms=(FORM,))
