"""`/finefin balance` (a customer's own accounts) and `/finefin balance <customer>` (an advisor's view of one)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot import blocks as bk
from bot.access import Capability, Identity
from bot.answer import Answer
from bot.commands import Command, Form, own_customer_id
from bot.escape import slack_text
from bot.files import cut_list_csv
from bot.money import money_column
from semantic_layer.inputs import CustomerId
from semantic_layer.types import CustomerBalance

if TYPE_CHECKING:
    from bot.commands.context import CommandContext

NAME = "balance"


def balance_answer(ctx: CommandContext, balance: CustomerBalance, text: str, title: str) -> Answer:
    answer = Answer(
        text=text,
        blocks=bk.balance_blocks(balance, title, ctx.freshness(), ctx.settings.list_limit),
        data=balance,
    )
    rows: list[list[object]] = [[a.account_id, a.account_type, a.status, a.balance] for a in balance.accounts]
    return cut_list_csv(
        answer,
        len(rows),
        ctx.settings.list_limit,
        f"accounts-{balance.customer_id}.csv",
        "Accounts (CSV)",
        ["account_id", "type", "status", money_column("current_balance")],
        rows,
    )


def own_balance(ctx: CommandContext, identity: Identity, args: tuple[str, ...]) -> Answer:
    balance = ctx.sl.balance(own_customer_id(identity))
    return balance_answer(
        ctx, balance, f"Your current balance: {bk.money(balance.total)} (as of {balance.as_of})", "Your balance"
    )


def customer_balance(ctx: CommandContext, identity: Identity, args: tuple[str, ...]) -> Answer:
    customer_id = CustomerId.parse(args[0])
    profile = ctx.sl.customer(customer_id)
    balance = ctx.sl.balance(customer_id)
    return balance_answer(
        ctx,
        balance,
        f"{slack_text(profile.full_name)}: current balance {bk.money(balance.total)} (as of {balance.as_of})",
        f"{slack_text(profile.full_name)} (#{customer_id}, {slack_text(profile.tier)})",
    )


OWN = Form(Capability.OWN_BALANCE, "balance", "your accounts, total and as-of date", own_balance)
CUSTOMER = Form(Capability.CUSTOMER_BALANCE, "balance <customer>", "a customer's accounts and total",
                customer_balance, min_args=1, max_args=1)
COMMAND = Command(NAME, OWN.usage, OWN.summary, forms=(OWN, CUSTOMER))
