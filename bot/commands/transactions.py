"""`/finefin transactions`: transactions per month by type over the last 12 months, with a chart (directors)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot import blocks as bk
from bot import charts, files
from bot.access import Capability, Identity
from bot.answer import Answer
from bot.commands import Command, Form

if TYPE_CHECKING:
    from bot.commands.context import CommandContext

NAME = "transactions"
MONTHS = 12


def handle(ctx: CommandContext, identity: Identity, args: tuple[str, ...]) -> Answer:
    tpm = ctx.sl.transactions_per_month(MONTHS)
    fresh = ctx.freshness()
    return Answer(
        text=f"Transactions per month {tpm.first_month} – {tpm.last_month} (chart in your DMs)",
        blocks=bk.transactions_blocks(tpm, fresh, ctx.settings.list_limit),
        data=tpm,
        files=[charts.transactions_chart(tpm, fresh), files.transactions_csv(tpm)],
    )


FORM = Form(Capability.TRANSACTIONS, NAME, "transactions per month by type, with a chart", handle)
COMMAND = Command(NAME, FORM.usage, FORM.summary, forms=(FORM,))
