"""`/finefin subscriptions` lists one's own subscriptions (with pause/resume/delete buttons);
`/finefin subscriptions pause|resume|delete <id>` changes one of them (owner only, audited)."""

from __future__ import annotations

from bot.access import Identity
from bot.answer import Answer
from bot.commands import Command
from bot.commands.context import CommandContext
from bot.commands.manage_actions import manage_or_list

NAME = "subscriptions"
USAGE = "subscriptions [pause|resume|delete <id>] | subscriptions all|@user (admins)"


def handle(ctx: CommandContext, identity: Identity, text: str) -> Answer:
    return manage_or_list(ctx, identity, "subscription", text)


COMMAND = Command(NAME, USAGE, "your subscriptions; pause, resume or delete one", handle)
