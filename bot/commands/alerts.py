"""`/finefin alerts` lists one's own alerts (with pause/resume/delete buttons); `/finefin alerts pause|resume|delete
<id>` changes one of them (owner only, audited)."""

from __future__ import annotations

from bot.access import Identity
from bot.answer import Answer
from bot.commands import Command
from bot.commands.context import CommandContext
from bot.commands.manage_actions import manage_or_list

NAME = "alerts"
USAGE = "alerts [pause|resume|delete <id>] | alerts all|@user (admins)"


def handle(ctx: CommandContext, identity: Identity, text: str) -> Answer:
    return manage_or_list(ctx, identity, "alert", text)


COMMAND = Command(NAME, USAGE, "your alerts; pause, resume or delete one", handle)
