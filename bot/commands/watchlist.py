"""`/finefin watchlist`: customers with high withdrawals, loans or investments, with reasons (advisors).

`watchlist_answer` is shared with the scheduled advisor post (bot/scheduled.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot import blocks as bk
from bot import files
from bot.access import Capability, Identity
from bot.answer import Answer
from bot.commands import Command, Form
from bot.money import money_column
from semantic_layer.types import Freshness, Watchlist

if TYPE_CHECKING:
    from bot.commands.context import CommandContext

NAME = "watchlist"


def watchlist_answer(watchlist: Watchlist, fresh: Freshness, limit: int, title: str | None = None) -> Answer:
    """Shared by the `watchlist` command and the scheduled advisor post: blocks + the full list as CSV when cut."""
    answer = Answer(
        text=f"Watchlist {watchlist.month}: {bk.plural(len(watchlist.entries), 'entry', 'entries')}",
        blocks=bk.watchlist_blocks(watchlist, fresh, limit, title),
        data=watchlist,
    )
    rows: list[list[object]] = [[e.customer_id, e.full_name, e.reason, e.value, e.threshold]
                                for e in watchlist.entries]
    return files.cut_list_csv(
        answer,
        len(rows),
        limit,
        f"watchlist-{watchlist.month}.csv",
        "Watchlist (CSV)",
        ["customer_id", "name", "reason", money_column("value"), money_column("threshold")],
        rows,
    )


def handle(ctx: CommandContext, identity: Identity, args: tuple[str, ...]) -> Answer:
    watchlist = ctx.sl.watchlist(None)
    fresh = ctx.freshness()
    return watchlist_answer(watchlist, fresh, ctx.settings.list_limit)


FORM = Form(Capability.WATCHLIST, NAME, "customers with high withdrawals, loans or investments, with reasons", handle)
COMMAND = Command(NAME, FORM.usage, FORM.summary, forms=(FORM,))
