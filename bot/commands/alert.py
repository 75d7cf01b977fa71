"""`/finefin alert <metric> [where …] [daily|weekly|monthly] [change] below|above <number>[%] [to #channel]`

A threshold (`alert revenue daily below 1000`), a change from the previous period (`alert transaction_volume weekly
change below -10%`), a customer's own figure (`alert balance below 100`: the query service restricts a customer to
their own accounts). The metric part is the `/finefin metric` grammar (one metric, optional filters); it is
validated against the catalog and the access policy as the owner now, and again at every evaluation.
`/finefin alert pause|resume|delete <id>` manages one's own alerts, as `/finefin alerts …` does.
"""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal, InvalidOperation

from bot import blocks as bk
from bot.access import Identity
from bot.answer import Answer
from bot.commands import Command
from bot.commands.context import CommandContext, principal_of, queries
from bot.commands.grammar import parse
from bot.commands.manage_actions import VERBS, manage, store_of
from bot.deliveries import channel_target, customer_level
from bot.state.subscriptions import Condition, describe
from semantic_layer.catalog import Grain
from semantic_layer.errors import InvalidInputError
from semantic_layer.policy import may_use_dimension

NAME = "alert"
USAGE = "alert <metric> [where …] [daily|weekly|monthly] [change] below|above <number>[%] [to #channel]"
EXAMPLES = "`/finefin alert revenue daily below 1000`, `/finefin alert transaction_volume weekly change below -10%`"
CADENCE_GRAINS = {"daily": Grain.DAY, "weekly": Grain.WEEK, "monthly": Grain.MONTH}
_CONDITION = re.compile(
    r"^(?P<query>.+?)\s+(?:(?P<cadence>daily|weekly|monthly)\s+)?(?P<change>change\s+)?"
    r"(?P<dir>below|under|above|over|<|>)\s+(?P<number>[-+]?\d[\d,]*(?:\.\d+)?)\s*(?P<pct>%)?"
    r"(?:\s+to\s+(?P<target>\S+))?\s*$", re.IGNORECASE)


def handle(ctx: CommandContext, identity: Identity, text: str) -> Answer:
    words = text.split()
    if len(words) == 2 and words[0].lower() in VERBS:
        return manage(ctx, identity, "alert", words[0].lower(), words[1])
    match = _CONDITION.match(text.strip())
    if match is None:
        raise InvalidInputError(f"Usage: `/finefin {USAGE}`, e.g. {EXAMPLES}.")
    change = bool(match.group("change"))
    percent = bool(match.group("pct"))
    if percent and not change:
        raise InvalidInputError("A percentage compares with the previous period: write `change below -10%`.")
    try:
        threshold = Decimal(match.group("number").replace(",", ""))
    except InvalidOperation:
        raise InvalidInputError("Write the threshold as a number, e.g. `below 1000`.") from None
    direction = "below" if match.group("dir").lower() in ("below", "under", "<") else "above"
    condition = Condition(direction, threshold, change, percent)  # type: ignore[arg-type]

    service = queries(ctx)
    principal = principal_of(identity)
    catalog = service.catalog()
    pool = [a.info.name for a in service.askable(principal)]
    query = parse(match.group("query"), catalog, pool, lambda d: may_use_dimension(principal, d))
    if len(query.metrics) != 1 or query.group_by or query.period or query.limit or query.order:
        raise InvalidInputError("An alert watches one metric's total (filters allowed): no breakdown, period or "
                                f"limit. E.g. {EXAMPLES}.")
    cadence = (match.group("cadence") or "").lower()
    grains = catalog.grains_of(query.metrics)
    if cadence:
        grain = CADENCE_GRAINS[cadence]
        if query.grain not in (None, grain):
            raise InvalidInputError("Give one of daily, weekly or monthly only.")
    elif query.grain in CADENCE_GRAINS.values():
        grain = query.grain
    else:
        grain = next((g for g in (Grain.DAY, Grain.MONTH) if g in grains), Grain.DAY)
    cadence = next(word for word, g in CADENCE_GRAINS.items() if g is grain)
    query = replace(query, grain=grain)
    canonical = service.prepare(principal, query).query  # names, access, grain: refused here as the owner
    target = channel_target(match.group("target"))
    if target is not None and customer_level(principal, canonical):
        raise InvalidInputError("That alert reads one customer's data: it can only come to your DMs, not a channel.")
    item = store_of(ctx).add(identity.user_id, "alert", canonical, cadence, condition=condition, target=target,
                             team_id=getattr(ctx, "team_id", None))
    where = f"<#{target}>" if target else "your DMs"
    line = (f":bell: Alert *#{item.id}* set: {bk.esc(describe(item).rsplit(' to ', 1)[0])}. I check it after each "
            f"data refresh and post to {where} once each time it crosses the threshold.")
    return Answer(text=f"Alert #{item.id} set.", blocks=[bk.section(line),
                                                          bk.context("`/finefin alerts` lists yours.")], data=item)


COMMAND = Command(NAME, USAGE, "be told when a metric crosses a threshold (after each refresh)", handle)
