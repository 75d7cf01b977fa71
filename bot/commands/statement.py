"""`/finefin statement [YYYY-MM]`: a customer's monthly statement as PDF + CSV (default: last month)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from bot import blocks as bk
from bot import statement_pdf as statements
from bot.access import Capability, Identity
from bot.answer import Answer
from bot.commands import Command, Form, own_customer_id
from finefin.errors import FinefinError
from semantic_layer.inputs import Month
from semantic_layer.types import Statement

if TYPE_CHECKING:
    from bot.commands.context import CommandContext

NAME = "statement"


class StatementMismatchError(FinefinError):
    """A statement whose lines do not add up: never sent to a customer."""


def check_reconciles(statement: Statement) -> None:
    """Opening + every line = closing (the contract's invariant; per-line running balances are the layer's)."""
    running = statement.opening_balance + sum((line.amount for line in statement.lines), Decimal("0.00"))
    if running != statement.closing_balance:
        raise StatementMismatchError(
            f"statement {statement.customer_id}/{statement.month}: lines end at {running}, "
            f"closing balance is {statement.closing_balance}"
        )


def handle(ctx: CommandContext, identity: Identity, args: tuple[str, ...]) -> Answer:
    month = Month.parse(args[0]) if args else None
    statement = ctx.sl.statement(own_customer_id(identity), month)
    check_reconciles(statement)
    fresh = ctx.freshness()
    return Answer(
        text=(
            f"Statement {statement.month}: opening {bk.money(statement.opening_balance)}, closing "
            f"{bk.money(statement.closing_balance)}. PDF and CSV sent to your DMs."
        ),
        blocks=bk.statement_blocks(statement, fresh),
        data=statement,
        files=[statements.statement_pdf(statement, fresh, statements.Bank.from_settings(ctx.settings)),
               statements.statement_csv(statement)],
    )


FORM = Form(Capability.STATEMENT, "statement [YYYY-MM]",
            "monthly statement as PDF + CSV in your DMs (default: last month)", handle, max_args=1)
COMMAND = Command(NAME, FORM.usage, FORM.summary, forms=(FORM,))
