"""`/finefin subscribe <metric question> daily|weekly|monthly [to #channel]`

The question is the `/finefin metric` grammar (`revenue by tier monthly last 6 months`); the last daily|weekly|monthly
word is the delivery schedule. Validated now as the owner (catalog, access policy); at each delivery the question is
run again with the owner's access of that day, and relative periods (`last 6 months`) move with the data. A channel
gets only answers without customer-level data.
"""

from __future__ import annotations

import re

from bot import blocks as bk
from bot.access import Identity
from bot.answer import Answer
from bot.commands import Command
from bot.commands.context import CommandContext, principal_of, queries
from bot.commands.grammar import parse
from bot.commands.manage_actions import VERBS, manage, store_of
from bot.deliveries import channel_target, customer_level
from bot.state.subscriptions import describe
from semantic_layer.errors import InvalidInputError
from semantic_layer.policy import may_use_dimension

NAME = "subscribe"
USAGE = "subscribe <metric question> daily|weekly|monthly [to #channel]"
EXAMPLE = "`/finefin subscribe revenue by tier monthly last 6 months weekly`"
_SCHEDULE = re.compile(r"^(?P<query>.+?)\s+(?P<cadence>daily|weekly|monthly)(?:\s+to\s+(?P<target>\S+))?\s*$",
                       re.IGNORECASE)


def handle(ctx: CommandContext, identity: Identity, text: str) -> Answer:
    words = text.split()
    if len(words) == 2 and words[0].lower() in VERBS:
        return manage(ctx, identity, "subscription", words[0].lower(), words[1])
    match = _SCHEDULE.match(text.strip())
    if match is None:
        raise InvalidInputError(f"Usage: `/finefin {USAGE}`, e.g. {EXAMPLE}.")
    service = queries(ctx)
    principal = principal_of(identity)
    catalog = service.catalog()
    pool = [a.info.name for a in service.askable(principal)]
    query = parse(match.group("query"), catalog, pool, lambda d: may_use_dimension(principal, d))
    canonical = service.prepare(principal, query).query  # names and access checked as the owner, now
    target = channel_target(match.group("target"))
    if target is not None and customer_level(principal, canonical):
        raise InvalidInputError("That answer holds customer-level data: it can only come to your DMs, not a "
                                "channel everyone in it reads.")
    cadence = match.group("cadence").lower()
    item = store_of(ctx).add(identity.user_id, "subscription", canonical, cadence, target=target,
                             team_id=getattr(ctx, "team_id", None))
    where = f"<#{target}>" if target else "your DMs"
    line = (f":calendar: Subscription *#{item.id}*: {bk.esc(describe(item).rsplit(' to ', 1)[0])}, to {where} once "
            f"per {cadence.removesuffix('ly').replace('dai', 'day')} after the data refresh.")
    return Answer(text=f"Subscribed (#{item.id}).", blocks=[bk.section(line),
                                                            bk.context("`/finefin subscriptions` lists yours.")],
                  data=item)


COMMAND = Command(NAME, USAGE, "a metric question delivered daily, weekly or monthly", handle)
