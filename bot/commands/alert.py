"""`/finefin alert <metric> [where …] [daily|weekly|monthly] [change] below|above <number>[%] [to #channel]`

A threshold (`alert revenue daily below 1000`), a change from the previous period (`alert transaction_volume weekly
change below -10%`), a customer's own figure (`alert balance below 100`: the query service restricts a customer to
their own accounts). The metric part is the `/finefin metric` grammar (one metric, optional filters); it is
validated against the catalog and the access policy as the owner now, and again at every evaluation.
Event alerts (bot.state.subscriptions.EventCondition), to the owner's DMs only: `alert watchlist` (an advisor: each
customer entering the watchlist, with the reasons), `alert red streak 4` (an advisor: each customer whose red streak
reaches 4 months), `alert upcoming debit over 500 in 7 days` (a customer: each such debit scheduled on their accounts).
`/finefin alert pause|resume|delete <id>` manages one's own alerts, as `/finefin alerts …` does.
"""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal, InvalidOperation

from bot import blocks as bk
from bot.access import Identity, Role
from bot.answer import Answer
from bot.channel_check import require_channel
from bot.commands import Command
from bot.commands.context import CommandContext, principal_of, queries
from bot.commands.grammar import parse
from bot.commands.manage_actions import VERBS, manage, store_of
from bot.deliveries import (
    channel_target,
    customer_level,
    event_allowed,
    red_keys,
    upcoming_keys,
    watchlist_keys,
)
from bot.state.subscriptions import Condition, EventCondition, describe
from semantic_layer.catalog import Grain
from semantic_layer.errors import InvalidInputError
from semantic_layer.policy import may_use_dimension

NAME = "alert"
METRIC_USAGE = "alert <metric> [where …] [daily|weekly|monthly] [change] below|above <number>[%] [to #channel]"
ADVISOR_USAGE = "alert watchlist | alert red streak <months>"
CUSTOMER_USAGE = "alert upcoming debit over <amount> in <days> days"
USAGE = f"{METRIC_USAGE} | {ADVISOR_USAGE} | {CUSTOMER_USAGE}"
EXAMPLES = "`/finefin alert revenue daily below 1000`, `/finefin alert transaction_volume weekly change below -10%`"
CADENCE_GRAINS = {"daily": Grain.DAY, "weekly": Grain.WEEK, "monthly": Grain.MONTH}
_CONDITION = re.compile(
    r"^(?P<query>.+?)\s+(?:(?P<cadence>daily|weekly|monthly)\s+)?(?P<change>change\s+)?"
    r"(?P<dir>below|under|above|over|<|>)\s+(?P<number>[-+]?\d[\d,]*(?:\.\d+)?)\s*(?P<pct>%)?"
    r"(?:\s+to\s+(?P<target>\S+))?\s*$", re.IGNORECASE)


_WATCHLIST = re.compile(r"^(?:a\s+customer\s+enters\s+(?:the\s+)?)?watchlist(?:\s+entries|\s+entry)?"
                        r"(?:\s+to\s+(?P<target>\S+))?\s*$", re.IGNORECASE)
_RED_STREAK = re.compile(r"^red\s+streak\s+(?:reaches\s+)?(?P<months>\d{1,3})(?:\s+months?)?"
                         r"(?:\s+to\s+(?P<target>\S+))?\s*$", re.IGNORECASE)
_UPCOMING = re.compile(r"^upcoming\s+debits?\s+(?:over|above|>)\s+(?P<amount>\d[\d,]*(?:\.\d{1,2})?)"
                       r"\s+in\s+(?:the\s+next\s+)?(?P<days>\d{1,3})\s+days?(?:\s+to\s+(?P<target>\S+))?\s*$",
                       re.IGNORECASE)
EVENT_EXAMPLES = ("`/finefin alert watchlist`, `/finefin alert red streak 4` (advisors), "
                  "`/finefin alert upcoming debit over 500 in 7 days` (customers)")


def handle(ctx: CommandContext, identity: Identity, text: str) -> Answer:
    words = text.split()
    if len(words) == 2 and words[0].lower() in VERBS:
        return manage(ctx, identity, "alert", words[0].lower(), words[1])
    event = event_condition(text.strip())
    if event is not None:
        condition, target = event
        if target is not None:
            raise InvalidInputError("That alert names customers: it can only come to your DMs, not a channel.")
        return event_alert(ctx, identity, condition)
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
    if target is not None:
        require_channel(ctx, service, principal, canonical, target)
    item = store_of(ctx).add(identity.user_id, "alert", canonical, cadence, condition=condition, target=target,
                             team_id=getattr(ctx, "team_id", None))
    where = f"<#{target}>" if target else "your DMs"
    line = (f":bell: Alert *#{item.id}* set: {bk.esc(describe(item).rsplit(' to ', 1)[0])}. I check it after each "
            f"data refresh and post to {where} once each time it crosses the threshold.")
    return Answer(text=f"Alert #{item.id} set.", blocks=[bk.section(line),
                                                          bk.context("`/finefin alerts` lists yours.")], data=item)


def event_condition(text: str) -> tuple[EventCondition, str | None] | None:
    """`watchlist`, `red streak 4`, `upcoming debit over 500 in 7 days` (each optionally `to #channel`, refused by
    the caller); None for any other text (a metric's threshold)."""
    if m := _WATCHLIST.match(text):
        return EventCondition("watchlist"), m.group("target")
    if m := _RED_STREAK.match(text):
        return EventCondition("red_streak", months=int(m.group("months"))), m.group("target")
    if m := _UPCOMING.match(text):
        amount = Decimal(m.group("amount").replace(",", ""))
        return EventCondition("upcoming_debit", amount=amount, days=int(m.group("days"))), m.group("target")
    return None


def event_alert(ctx: CommandContext, identity: Identity, condition: EventCondition) -> Answer:
    """An event alert, checked as the owner now (and again at each evaluation): the watchlist and red streaks are
    an advisor's, upcoming debits a customer's own. What matches now is its baseline: it fires for what enters."""
    if not event_allowed(identity, condition):
        who = "customers, for their own accounts" if condition.event == "upcoming_debit" else "advisors"
        raise InvalidInputError(f"That alert is for {who}.")
    members, now = event_members(ctx, identity, condition)
    item = store_of(ctx).add_event(identity.user_id, condition, members, team_id=getattr(ctx, "team_id", None))
    line = (f":bell: Alert *#{item.id}* set: {bk.esc(condition.describe())}. I check it after each data refresh and "
            f"tell you in your DMs about each new one. {now}")
    return Answer(text=f"Alert #{item.id} set.", blocks=[bk.section(line),
                                                          bk.context("`/finefin alerts` lists yours.")], data=item)


def event_members(ctx: CommandContext, identity: Identity, condition: EventCondition) -> tuple[frozenset[str], str]:
    """The keys matching now, through the semantic layer's own functions, and a sentence saying how many."""
    if condition.event == "upcoming_debit":
        assert identity.customer is not None and condition.days is not None and condition.amount is not None
        upcoming = ctx.sl.upcoming(identity.customer.customer_id, condition.days)
        keys = upcoming_keys(upcoming, condition.amount)
        return keys, f"Scheduled now: {bk.plural(len(keys), 'such debit')} (`/finefin upcoming`)."
    watchlist = ctx.sl.watchlist(None)
    if condition.event == "red_streak":
        assert condition.months is not None
        if condition.months < watchlist.min_red_months:
            raise InvalidInputError(f"The red list starts at {watchlist.min_red_months} months: give "
                                    f"{watchlist.min_red_months} or more.")
        keys = red_keys(watchlist, condition.months)
        return keys, f"In the red {condition.months}+ months now: {bk.plural(len(keys), 'customer')} (`/finefin red`)."
    keys = watchlist_keys(watchlist)
    return keys, (f"On the watchlist now: {bk.plural(len({k.split(':')[0] for k in keys}), 'customer')} "
                  "(`/finefin watchlist`).")


def usage_for(identity: Identity) -> str:
    """`help` shows the event alerts only to the roles that may set them."""
    parts = [METRIC_USAGE]
    if Role.ADVISOR in identity.roles:
        parts.append(ADVISOR_USAGE)
    if Role.CUSTOMER in identity.roles:
        parts.append(CUSTOMER_USAGE)
    return " | ".join(parts)


COMMAND = Command(NAME, USAGE, "be told when a metric crosses a threshold (after each refresh)", handle,
                  usage_for=usage_for)
