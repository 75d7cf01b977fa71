"""`/finefin upcoming`: a customer's scheduled transactions in the next 30 days and the projected balance."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot import blocks as bk
from bot.access import Capability, Identity
from bot.answer import Answer
from bot.commands import Command, Form, own_customer_id
from bot.files import cut_list_csv
from bot.money import money_column

if TYPE_CHECKING:
    from bot.commands.context import CommandContext

NAME = "upcoming"
DAYS = 30


def handle(ctx: CommandContext, identity: Identity, args: tuple[str, ...]) -> Answer:
    upcoming = ctx.sl.upcoming(own_customer_id(identity), DAYS)
    fresh = ctx.freshness()
    projected = upcoming.items[-1].projected_balance if upcoming.items else upcoming.starting_balance
    answer = Answer(
        text=f"{bk.plural(len(upcoming.items), 'upcoming transaction')}; projected balance {bk.money(projected)}",
        blocks=bk.upcoming_blocks(upcoming, fresh, ctx.settings.list_limit),
        data=upcoming,
    )
    rows: list[list[object]] = [
        [
            i.scheduled_for,
            i.transaction_id,
            i.account_id,
            i.transaction_type,
            i.description,
            i.amount,
            i.projected_balance,
        ]
        for i in upcoming.items
    ]
    return cut_list_csv(
        answer,
        len(rows),
        ctx.settings.list_limit,
        f"upcoming-{upcoming.customer_id}-{upcoming.as_of}.csv",  # per customer: never another one's file
        "Upcoming transactions (CSV)",
        ["scheduled_for", "transaction_id", "account_id", "type", "description", money_column("amount"),
         money_column("projected_balance")],
        rows,
    )


FORM = Form(Capability.UPCOMING, NAME, "scheduled transactions in the next 30 days and your projected balance", handle)
COMMAND = Command(NAME, FORM.usage, FORM.summary, forms=(FORM,))
