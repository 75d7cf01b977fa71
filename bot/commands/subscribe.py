"""`/finefin subscribe <metric question> daily|weekly|monthly [at HH:MM] [to #channel]`

`at HH:MM` is in the workspace's time zone (FINEFIN_TIMEZONE): the subscription is delivered once per period, on the
first deliveries run at or after that time on the period's first day (later in the period: at once, so a missed time
is caught up, never skipped); the deliveries DAG also runs on a short timetable for these.

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
from bot.channel_check import require_channel
from bot.commands import Command
from bot.commands.context import CommandContext, principal_of, queries
from bot.commands.grammar import parse
from bot.commands.manage_actions import VERBS, manage, store_of
from bot.deliveries import channel_target, customer_level
from bot.state.subscriptions import describe, parse_at
from semantic_layer.errors import InvalidInputError
from semantic_layer.policy import may_use_dimension
from semantic_layer.query import MetricQuery

NAME = "subscribe"
USAGE = "subscribe <metric question> daily|weekly|monthly [at HH:MM] [to #channel]"
EXAMPLE = "`/finefin subscribe revenue by tier monthly last 6 months weekly`"
_SCHEDULE = re.compile(r"^(?P<query>.+?)\s+(?P<cadence>daily|weekly|monthly)(?:\s+at\s+(?P<at>\S+))?"
                       r"(?:\s+to\s+(?P<target>\S+))?\s*$", re.IGNORECASE)


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
    return subscribe(ctx, identity, query, match.group("cadence").lower(), match.group("target"), match.group("at"))


def subscribe(ctx: CommandContext, identity: Identity, query: MetricQuery, cadence: str, target_text: str | None = None,
              at_time: str | None = None) -> Answer:
    """Create `identity`'s subscription to `query` (typed, or from a "Subscribe…" button): checked as the owner now
    (names, access policy, filter values; a channel target: no customer-level data, every member may see it), stored
    and audited by the subscription store."""
    service = queries(ctx)
    principal = principal_of(identity)
    canonical = service.prepare(principal, query).query  # names and access checked as the owner, now
    target = channel_target(target_text)
    if target is not None and customer_level(principal, canonical):
        raise InvalidInputError("That answer holds customer-level data: it can only come to your DMs, not a "
                                "channel everyone in it reads.")
    if target is not None:
        require_channel(ctx, service, principal, canonical, target)
    if at_time is not None:
        at = parse_at(at_time)
        if at is None:
            raise InvalidInputError("Give the time as `at HH:MM`, 24-hour (00:00 to 23:59), e.g. `daily at 08:30`.")
        at_time = f"{at:%H:%M}"
    item = store_of(ctx).add(identity.user_id, "subscription", canonical, cadence, target=target,
                             team_id=getattr(ctx, "team_id", None), at_time=at_time)
    where = f"<#{target}>" if target else "your DMs"
    when = (f"at or after {at_time} ({bk.esc(ctx.settings.timezone)} time)" if at_time
            else "after the data refresh")
    line = (f":calendar: Subscription *#{item.id}*: {bk.esc(describe(item).rsplit(' to ', 1)[0])}, to {where} once "
            f"per {cadence.removesuffix('ly').replace('dai', 'day')} {when}.")
    return Answer(text=f"Subscribed (#{item.id}).", blocks=[bk.section(line), bk.context(
        f"`/finefin subscribe pause {item.id}` pauses it · `/finefin subscriptions` lists yours.")],
                  data=item)


COMMAND = Command(NAME, USAGE, "a metric question delivered daily, weekly or monthly", handle)
