"""The subscriptions' and alerts' evaluation and delivery, after a data refresh (the `finefin_deliveries` DAG calls
`deliver_from_env`; the logic lives here, tested on its own).

One run:
1. Fresh data only. When the warehouse is older than the SLA nothing is evaluated; each owner of an active item is
   told once per stale spell (the `stale_notified` flag, cleared on the next fresh run).
2. Each owner is resolved again (Slack profile, roles, customer record): a deactivated or unknown owner's items are
   disabled; the others run with the owner's access of today (personalised at delivery time).
3. Each distinct (principal, MetricQuery) is computed once for every item that shares it.
4. Alerts compare the last complete bucket of their grain (and the one before, for `change`) with the threshold and
   fire once per crossing: only when the condition becomes true (`last_state` goes from clear or unknown to met).
5. Subscriptions are due once per period of their cadence (day / ISO week / month of the data's as-of date).
6. Every post is claimed in the post ledger first (`sub:<id>:<period>`, `alert:<id>:<bucket>`): across task retries
   and processes one delivery per key; a failed post is released (the retry posts it) and reported, and the run
   raises DeliveryFailedError after trying the rest — never a silent drop. A channel gets no customer-level data:
   such an item is refused and its owner told why. Posts to one channel are spaced by `pace_seconds` (Slack's
   one message per second per channel); 429s are retried by the client (Retry-After).
7. Posting in bulk: the run's keys are claimed together before posting (CLAIM_CHUNK keys a statement), and the
   posted keys completed together (every COMPLETE_EVERY keys or COMPLETE_SECONDS, and at the end); keys claimed but
   not posted (the run raised) are released at the end. `workers` threads post, each taking the channel (or DM)
   whose next message may go soonest: one channel's messages stay in order and paced, and a 429's Retry-After is
   waited out by the thread posting to that channel. The cost of batching the completes: a process killed outright (no
   `finally`) between a post and its complete leaves up to COMPLETE_EVERY posted keys pending, re-posted by a run
   after the claim timeout (before: at most one message).
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from slack_sdk.errors import SlackApiError, SlackClientError

from bot import blocks as bk
from bot.access import Capability, Identity, allowed
from bot.answer import Answer
from bot.channel_check import ChannelCheck
from bot.commands.context import CommandContext, principal_of, queries
from bot.commands.query_buttons import action_id, button, encode_why
from bot.commands.query_render import cell
from bot.delivery import fallback_text, open_dm, upload_files
from bot.money import money
from bot.state.subscriptions import EventCondition, Item, SubscriptionStore, describe, members_text, parse_at
from finefin.errors import FinefinError
from semantic_layer.catalog import Grain, ValueKind
from semantic_layer.errors import InvalidInputError, SemanticLayerError
from semantic_layer.inputs import Month
from semantic_layer.policy import Principal
from semantic_layer.query import MetricAnswer, MetricQuery, Period, bucket_end, truncate
from semantic_layer.types import Freshness, Upcoming, Watchlist

log = logging.getLogger(__name__)
CUSTOMER_DIMENSIONS = frozenset({"customer", "customer_name", "account"})
CADENCE_GRAINS = {"daily": Grain.DAY, "weekly": Grain.WEEK, "monthly": Grain.MONTH}
BUCKET_NOUNS = {"daily": "day", "weekly": "week", "monthly": "month"}
HOME_REFRESH_MAX = 1000  # Home tabs re-published per run (views.publish: Slack's tier 4, ~100 a minute)
MAX_EVENT_LINES = 10  # customers or debits named in one event alert (the rest: the command's full list)
MAX_ALERTS_PER_MESSAGE = 10  # 3-4 blocks each: within a message's 50 blocks
CHANNEL_GONE = frozenset({"not_in_channel", "channel_not_found", "is_archived"})  # a retry cannot deliver there
CLAIM_CHUNK = 1000  # post ledger keys claimed in one statement
COMPLETE_EVERY = 20  # posted keys completed in one statement (or after COMPLETE_SECONDS, and at the end of the run)
COMPLETE_SECONDS = 0.5
_CHANNEL = re.compile(r"<#([CG][A-Z0-9]{2,30})(?:\|[^>]*)?>|([CG][A-Z0-9]{2,30})")


# --- shared with the commands ---------------------------------------------------------------------------------
def customer_level(principal: Principal, query: MetricQuery) -> bool:
    """Would the answer show one customer's data (a customer's own figures, or a breakdown/filter by customer or
    account)? Such an answer never goes to a channel."""
    dims = set(query.group_by) | {f.dimension for f in query.filters}
    return principal.scope is not None or bool(dims & CUSTOMER_DIMENSIONS)


def channel_target(text: str | None) -> str | None:
    """A channel id from `<#C123|name>` (Slack's # autocomplete) or a bare `C123`; None for no target."""
    if text is None:
        return None
    match = _CHANNEL.fullmatch(text.strip())
    if match is None:
        raise InvalidInputError("Pick the channel with Slack's # autocomplete (`to #channel`), so I get its id.")
    return match.group(1) or match.group(2)


def period_key(cadence: str, as_of: date) -> str:
    """The delivery period of a subscription holding the data's as-of date: `2026-11-24`, `2026-W48`, `2026-11`."""
    if cadence == "daily":
        return as_of.isoformat()
    if cadence == "weekly":
        year, week, _ = as_of.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{as_of:%Y-%m}"


def period_start(cadence: str, as_of: date) -> date:
    """The first day of the delivery period holding `as_of` (the day, its ISO week's Monday, its month's 1st)."""
    if cadence == "daily":
        return as_of
    if cadence == "weekly":
        return as_of - timedelta(days=as_of.weekday())
    return as_of.replace(day=1)


def alert_buckets(grain: Grain, as_of: date) -> tuple[date, date]:
    """Starts of the last complete bucket at `as_of` (a day counts as complete on the as-of date) and the one
    before it."""
    last = truncate(as_of, grain)
    if grain is not Grain.DAY and bucket_end(last, grain) > as_of:
        last = truncate(last - timedelta(days=1), grain)
    return last, truncate(last - timedelta(days=1), grain)


def alert_query(item: Item, as_of: date) -> tuple[MetricQuery, date, date]:
    """The query an alert evaluates: its metric by its grain over the previous and the last complete bucket."""
    grain = CADENCE_GRAINS[item.cadence]
    last, previous = alert_buckets(grain, as_of)
    query = replace(item.metric_query, grain=grain, period=Period.days(previous, bucket_end(last, grain)))
    return query, last, previous


# --- the engine ----------------------------------------------------------------------------------------------
class ClaimLedger(Protocol):
    def claim(self, key: str) -> bool: ...
    def complete(self, key: str) -> bool: ...
    def release(self, key: str) -> bool: ...


@dataclass
class DeliveryReport:
    evaluated: int = 0  # items evaluated on fresh data
    queries_run: int = 0  # distinct (principal, query) computed
    fired: list[str] = field(default_factory=list)  # alerts posted
    delivered: list[str] = field(default_factory=list)  # subscriptions posted
    skipped: list[str] = field(default_factory=list)  # not due, still met, or already delivered (a retry)
    held: list[str] = field(default_factory=list)  # stale data: not evaluated
    refused: list[str] = field(default_factory=list)  # access refused or channel with customer data: owner told
    disabled: list[str] = field(default_factory=list)  # owners deactivated
    failed: list[str] = field(default_factory=list)  # posts that failed (released: a retry posts them)
    homes: list[str] = field(default_factory=list)  # Home tabs re-published (users who opened theirs lately)
    homes_failed: list[str] = field(default_factory=list)  # logged; the next open or publish shows it again


class DeliveryFailedError(FinefinError):
    def __init__(self, report: DeliveryReport) -> None:
        self.report = report
        super().__init__(f"{bk.plural(len(report.failed), 'delivery')} failed: {'; '.join(report.failed)}")


@dataclass
class _Planned:
    item: Item
    identity: Identity
    key: str  # the period (subscription) or the last bucket (alert)
    last: date | None = None
    previous: date | None = None


class Deliveries:
    def __init__(self, ctx: CommandContext, resolve: Callable[[str], Identity], store: SubscriptionStore,
                 ledger: ClaimLedger, client: Any, pace_seconds: float = 1.0,
                 now: Callable[[], datetime] | None = None, workers: int = 4) -> None:
        self.ctx, self.resolve, self.store, self.ledger, self.client = ctx, resolve, store, ledger, client
        self.pace_seconds, self.workers = pace_seconds, workers
        self._lock = threading.Lock()  # the posting threads' shared state below
        self._channel_locks: dict[str, threading.Lock] = {}  # held while pacing and posting to a channel
        self._asked: frozenset[str] = frozenset()  # the keys claimed before posting
        self._held: set[str] = set()  # of those, the ones this run holds and has not posted yet
        self._to_complete: list[str] = []
        self._completed_at = 0.0
        self.now = now or (lambda: datetime.now(UTC))  # the wall clock only decides `at HH:MM`
        self._last_post: dict[str, float] = {}
        self._dms: dict[str, str] = {}
        self._fresh: Freshness | None = None
        self._outbox: list[_Outgoing] = []
        self._rendered: tuple[MetricAnswer, Answer] | None = None
        self._records: list[tuple[int, dict[str, Any]]] = []  # item bookkeeping, written in one transaction

    def run(self, timed: bool = False) -> DeliveryReport:
        """One run after a data publish; `timed` (a run of the DAG's timetable, not a publish): only the
        subscriptions with an `at HH:MM` are looked at, and no Home tab is re-published."""
        report = DeliveryReport()
        items = self.store.active()
        if timed:
            items = [i for i in items if i.kind == "subscription" and i.at_time]
        fresh = self._fresh = self.ctx.freshness()  # once per run: every message carries this stamp
        if fresh.is_stale:
            self._hold(items, fresh, report)
            self._send(report)
            if not timed:
                self._refresh_homes({}, report)
            return self._done(report)
        if any(i.stale_notified for i in items):
            self.store.clear_stale_notices()
        service = queries(self.ctx)
        as_of, _ = service.sl.reporting_dates()
        plans: dict[tuple[Principal, MetricQuery], list[_Planned]] = {}
        identities: dict[str, Identity] = {}
        events: list[tuple[Item, Identity]] = []
        for item in items:
            owner = item.owner_user_id
            if owner not in identities:
                try:
                    identities[owner] = self.resolve(owner)
                except Exception as exc:  # Slack or the directory unavailable: this owner's items wait for a retry
                    log.warning("deliveries: owner %s not resolved", owner, exc_info=True)
                    report.failed.append(f"owner {owner} not resolved: {type(exc).__name__}")
                    identities[owner] = Identity(owner, frozenset())  # skipped below, not disabled
                    continue
                if not identities[owner].known:
                    n = self.store.disable_owner(owner, "the owner's Slack account is deactivated or unknown")
                    report.disabled.append(f"{owner}: {n}")
            identity = identities[owner]
            if not identity.known:
                continue
            if item.is_event:
                events.append((item, identity))
                continue
            try:
                if item.kind == "subscription":
                    key = period_key(item.cadence, as_of)
                    if item.last_period == key:
                        report.skipped.append(f"subscription #{item.id}: already delivered for {key}")
                        continue
                    if item.at_time and not self._due(item, as_of):
                        report.skipped.append(f"subscription #{item.id}: due at {item.at_time} for {key}")
                        continue
                    planned, query = _Planned(item, identity, key), item.metric_query
                else:
                    item.alert_condition  # noqa: B018  # readable, or refused here like an unreadable query
                    query, last, previous = alert_query(item, as_of)
                    planned = _Planned(item, identity, last.isoformat(), last, previous)
            except InvalidInputError as exc:
                self._refuse(item, str(exc), f"unreadable:{item.id}", report)
                continue
            plans.setdefault((principal_of(identity), query), []).append(planned)
        def known(user_id: str) -> Identity:  # channel members: resolved once per run, like the owners
            if user_id not in identities:
                identities[user_id] = self.resolve(user_id)
            return identities[user_id]

        channels = ChannelCheck(self.client, known)
        for (principal, query), members in plans.items():
            try:
                answer = service.run(principal, query)
            except SemanticLayerError as exc:  # e.g. the owner lost the role that allowed the metric
                for p in members:
                    self._refuse(p.item, str(exc), f"refused:{p.item.id}:{p.key}", report)
                continue
            report.queries_run += 1
            for p in members:
                report.evaluated += 1
                if p.item.target and customer_level(principal, answer.query):
                    self._refuse(p.item, "it holds customer-level data, which never goes to a channel",
                                 f"refused:{p.item.id}:{p.key}", report)
                elif p.item.target and not self._channel_allows(channels, service, principal, answer.query, p,
                                                                report):
                    continue
                elif p.item.kind == "alert":
                    self._alert(p, answer, report)
                else:
                    self._subscription(p, answer, report)
        self._events(events, as_of, report)
        self._send(report)
        if not timed:
            self._refresh_homes(identities, report)
        return self._done(report)

    def _due(self, item: Item, as_of: date) -> bool:
        """`at HH:MM` (FINEFIN_TIMEZONE): due from that time on the first day of the period holding the as-of date."""
        at = parse_at(item.at_time or "")
        if at is None:
            return True  # checked when stored: an unreadable time does not hold the delivery back
        zone = ZoneInfo(getattr(self.ctx.settings, "timezone", "UTC"))
        return self.now().astimezone(zone) >= datetime.combine(period_start(item.cadence, as_of), at, tzinfo=zone)

    # -- the Home tabs ------------------------------------------------------------------------------------------
    def _refresh_homes(self, identities: dict[str, Identity], report: DeliveryReport) -> None:
        """Re-publish the Home tab of each user who opened theirs in the last FINEFIN_HOME_REFRESH_DAYS days (at most
        HOME_REFRESH_MAX, the most recent first), as they would see it now: new figures, freshness stamp, items.
        A failure is logged and reported, never raised: the deliveries are done by then."""
        from bot.home import home_blocks

        days = getattr(self.ctx.settings, "home_refresh_days", 0)
        if not days:
            return
        try:
            users = self.store.home_viewers(days, HOME_REFRESH_MAX)
        except Exception as exc:
            log.warning("deliveries: home viewers not read", exc_info=True)
            report.homes_failed.append(f"home viewers: {type(exc).__name__}")
            return
        for user_id in users:
            try:
                identity = identities.get(user_id) or self.resolve(user_id)
                self.client.views_publish(user_id=user_id, view=bk.home_view(home_blocks(self.ctx, identity)))
            except Exception as exc:
                log.warning("deliveries: home of %s not re-published", user_id, exc_info=True)
                report.homes_failed.append(f"{user_id}: {type(exc).__name__}")
            else:
                report.homes.append(user_id)

    @staticmethod
    def _done(report: DeliveryReport) -> DeliveryReport:
        log.info("deliveries: %s", report)
        if report.failed:
            raise DeliveryFailedError(report)
        return report

    # -- stale data ---------------------------------------------------------------------------------------------
    def _hold(self, items: list[Item], fresh: Any, report: DeliveryReport) -> None:
        by_owner: dict[str, list[Item]] = {}
        for item in items:
            report.held.append(f"{item.kind} #{item.id}")
            if not item.stale_notified:
                by_owner.setdefault(item.owner_user_id, []).append(item)
        for owner, mine in by_owner.items():
            ids = ", ".join(f"#{i.id}" for i in mine)
            text = (f":hourglass_flowing_sand: Your alerts and subscriptions ({ids}) are on hold: the data is not "
                    "fresh. I check them again after the next refresh.")
            notice = Answer(text=text, blocks=[bk.section(text), *bk.freshness_blocks(fresh)])

            def told(now: bool, mine: list[Item] = mine) -> None:
                for item in mine:
                    self._records.append((item.id, {"stale_notified": True}))

            self._queue(_Outgoing(owner, None, notice, f"stale notice → {owner}", None, told))

    # -- alerts -------------------------------------------------------------------------------------------------
    def _alert(self, p: _Planned, answer: MetricAnswer, report: DeliveryReport) -> None:
        item, condition = p.item, p.item.alert_condition
        metric = answer.query.metrics[0]
        column = answer.columns[answer.column(metric)]
        current, previous = _bucket_value(answer, metric, p.last), _bucket_value(answer, metric, p.previous)
        if current is None or (condition.change and previous is None):
            report.skipped.append(f"alert #{item.id}: no figure for {p.key}")
            return
        value = current
        if condition.change:
            assert previous is not None
            if condition.percent:
                if previous == 0:
                    report.skipped.append(f"alert #{item.id}: no change in % from zero")
                    return
                value = (current - previous) / abs(previous) * 100
            else:
                value = current - previous
        met = condition.met(value)
        state = "met" if met else "clear"
        if not met or item.last_state == "met":  # no new crossing
            if item.last_state != state:
                self._records.append((item.id, {"last_state": state, "last_period": p.key}))
            if met:
                report.skipped.append(f"alert #{item.id}: still {condition.describe()}")
            return
        message = alert_message(item, answer, column.kind, current, previous, value, p,
                                additive=queries(self.ctx).catalog().metrics[metric].additive)

        def fired(now: bool) -> None:
            if now:
                report.fired.append(f"alert #{item.id}")
            self._records.append((item.id, {"last_state": "met", "last_period": p.key}))

        self._queue(_Outgoing(item.owner_user_id, item.target, message, f"alert #{item.id}",
                              f"alert:{item.id}:{p.key}", fired, mergeable=True))

    def _channel_allows(self, channels: ChannelCheck, service: Any, principal: Principal, query: MetricQuery,
                        p: _Planned, report: DeliveryReport) -> bool:
        """Every member of the item's channel may see the answer, checked again now: someone who joined since (a
        customer, a guest) stops the post and the owner is told why; Slack unavailable: retried on the next run."""
        assert p.item.target is not None
        try:
            why = channels.refusal(service, principal, query, p.item.target)
        except Exception as exc:  # Slack or the directory unavailable: neither delivered nor refused, reported
            log.warning("deliveries: members of %s not checked", p.item.target, exc_info=True)
            report.failed.append(f"{p.item.kind} #{p.item.id}: members of {p.item.target} not checked "
                                 f"({type(exc).__name__})")
            return False
        if why is not None:
            self._refuse(p.item, why, f"refused:{p.item.id}:{p.key}", report, mentions=True)
            return False
        return True

    # -- event alerts (watchlist, red streak, upcoming debit) -----------------------------------------------------
    def _events(self, events: list[tuple[Item, Identity]], as_of: date, report: DeliveryReport) -> None:
        """Each event alert fires once per key entering its matching set (a customer and reason on the watchlist, a
        customer whose red streak reached N months, a scheduled debit), with what entered; the watchlist is
        computed once per run for every advisor's alert, a customer's upcoming transactions once per horizon."""
        watchlist: Watchlist | None = None
        upcoming: dict[tuple[int, int], Upcoming] = {}
        day = as_of.isoformat()
        for item, identity in events:
            try:
                condition = item.event_condition
            except InvalidInputError as exc:
                self._refuse(item, str(exc), f"unreadable:{item.id}", report)
                continue
            if item.target:
                self._refuse(item, "it names customers, which never go to a channel", f"refused:{item.id}:{day}",
                             report)
                continue
            if not event_allowed(identity, condition):
                self._refuse(item, "your role no longer allows this alert", f"refused:{item.id}:{day}", report)
                continue
            try:
                if condition.event == "upcoming_debit":
                    assert identity.customer is not None and condition.days and condition.amount is not None
                    customer_id = identity.customer.customer_id
                    if (customer_id.value, condition.days) not in upcoming:
                        upcoming[customer_id.value, condition.days] = self.ctx.sl.upcoming(customer_id, condition.days)
                        report.queries_run += 1
                    found: Any = upcoming[customer_id.value, condition.days]
                    current = upcoming_keys(found, condition.amount)
                else:
                    if watchlist is None:
                        watchlist = self.ctx.sl.watchlist(None)
                        report.queries_run += 1
                    found = watchlist
                    current = (red_keys(watchlist, condition.months or 0) if condition.event == "red_streak"
                               else watchlist_keys(watchlist))
            except SemanticLayerError as exc:
                self._refuse(item, str(exc), f"refused:{item.id}:{day}", report)
                continue
            report.evaluated += 1
            entered = current - item.members
            # the members' generation (kept in last_state), moved by every change: part of the ledger key, so a
            # retried run posts an entering once, and a customer who left and entered again is told again
            generation = int(item.last_state) if (item.last_state or "").isdigit() else 0
            changed = {"last_members": members_text(current), "last_period": day,
                       "last_state": str(generation + 1)[-16:]}
            if not entered:
                if current != item.members:  # some left: they fire again when they enter again
                    self._records.append((item.id, changed))
                report.skipped.append(f"alert #{item.id}: nobody new")
                continue
            message = event_message(item, condition, entered, found)
            digest = hashlib.sha256(members_text(entered).encode()).hexdigest()[:16]

            def fired(now: bool, item: Item = item, changed: dict[str, Any] = changed) -> None:
                if now:
                    report.fired.append(f"alert #{item.id}")
                self._records.append((item.id, changed))

            self._queue(_Outgoing(item.owner_user_id, None, message, f"alert #{item.id}",
                                  f"alert:{item.id}:{generation}:{digest}", fired, mergeable=True))

    # -- subscriptions -----------------------------------------------------------------------------------------
    def _subscription(self, p: _Planned, answer: MetricAnswer, report: DeliveryReport) -> None:
        from bot.commands.metric import View, metric_answer

        item = p.item
        if self._rendered is None or self._rendered[0] is not answer:  # one rendering (table, chart) per answer
            principal = principal_of(p.identity)  # the buttons are the owner's (a click is re-checked as the clicker)
            self._rendered = (answer, metric_answer(self.ctx, principal, queries(self.ctx).catalog(), answer,
                                                    View.TYPED))
        base = self._rendered[1]
        title = f":calendar: *Subscription #{item.id}* ({item.cadence}, {p.key})"
        first = base.blocks[0]  # the receipt: the title goes on its first line (the message is full of blocks)
        blocks = [{**first, "text": {**first["text"], "text": bk.truncate(f"{title}\n{first['text']['text']}",
                                                                          bk.MAX_SECTION_CHARS)}},
                  *base.blocks[1:]]
        message = Answer(text=f"Subscription #{item.id}: {base.text}", data=answer, files=base.files, blocks=blocks)

        def delivered(now: bool) -> None:
            if now:
                report.delivered.append(f"subscription #{item.id} {p.key}")
            self._records.append((item.id, {"last_period": p.key}))

        self._queue(_Outgoing(item.owner_user_id, item.target, message, f"subscription #{item.id}",
                              f"sub:{item.id}:{p.key}", delivered))

    # -- posting ------------------------------------------------------------------------------------------------
    def _refuse(self, item: Item, why: str, key: str, report: DeliveryReport, mentions: bool = False) -> None:
        """Tell the owner (once per key) that an item was not delivered, and why (`mentions`: `why` is the bot's
        own mrkdwn with user and channel mentions of Slack ids, else it is escaped)."""
        report.refused.append(f"{item.kind} #{item.id}: {why}")
        text = (f":no_entry: Your {item.kind} #{item.id} ({bk.esc(describe(item).rsplit(' to ', 1)[0])}) was not "
                f"delivered: {why if mentions else bk.esc(why)}.")
        self._queue(_Outgoing(item.owner_user_id, None, Answer(text=text, blocks=[bk.section(text)]),
                              f"notice for {item.kind} #{item.id}", f"notice:{key}"))

    def _queue(self, outgoing: _Outgoing) -> None:
        self._outbox.append(outgoing)

    def _dm(self, user_id: str) -> str:
        if user_id not in self._dms:
            self._dms[user_id] = open_dm(self.client, user_id)
        return self._dms[user_id]

    def _send(self, report: DeliveryReport) -> None:
        """Post the run's messages: the alerts bound for one channel together (up to MAX_ALERTS_PER_MESSAGE in a
        message), channels taken in turns so that one busy channel's pacing does not hold the others up."""
        outbox, self._outbox = self._outbox, []
        try:
            self._send_all(outbox, report)
        finally:  # what was delivered is recorded even when a post raised
            records, self._records = self._records, []
            self.store.record_many(records)

    def _send_all(self, outbox: list[_Outgoing], report: DeliveryReport) -> None:
        by_channel: dict[tuple[str, str | None], list[list[_Outgoing]]] = {}
        for o in outbox:
            batches = by_channel.setdefault((o.owner, o.target) if o.target is None else ("", o.target), [])
            last = batches[-1] if batches else None
            if o.mergeable and last and last[0].mergeable and len(last) < MAX_ALERTS_PER_MESSAGE:
                last.append(o)
            else:
                batches.append([o])
        keys = [o.key for batches in by_channel.values() for b in batches for o in b if o.key is not None]
        self._asked, self._held = frozenset(keys), self._claim(keys)
        try:
            workers = min(self.workers, len(by_channel))
            if workers <= 1:
                rounds = max((len(b) for b in by_channel.values()), default=0)
                for i in range(rounds):
                    for batches in by_channel.values():
                        if i < len(batches):
                            self._post(batches[i], report)
            else:
                self._post_concurrently(list(by_channel.values()), report, workers)
        finally:
            self._complete([], flush=True)
            with self._lock:
                left, self._held, self._asked = sorted(self._held), set(), frozenset()
            self._release_keys(left)  # claimed but not posted: the run raised

    def _post_concurrently(self, queues: list[list[list[_Outgoing]]], report: DeliveryReport, workers: int) -> None:
        """`workers` threads take the channel whose next message may go soonest (its last post + pace_seconds):
        a channel is in one thread's hands at a time, so its messages go in order; the others do not wait for its
        pacing. An error stops that channel's posts; the first one is raised once every channel was tried."""
        heap = [(0.0, n) for n in range(len(queues))]  # (when the channel's next message may go, channel)
        sent = [0] * len(queues)
        busy, errors = 0, list[Exception]()
        cond = threading.Condition()

        def work() -> None:
            nonlocal busy
            while True:
                with cond:
                    while not heap and busy:
                        cond.wait()
                    if not heap:
                        return
                    at, n = heapq.heappop(heap)
                    busy += 1
                failed: Exception | None = None
                try:
                    if (wait := at - time.monotonic()) > 0:
                        time.sleep(wait)
                    self._post(queues[n][sent[n]], report)
                except Exception as exc:
                    failed = exc
                with cond:
                    busy -= 1
                    if failed is not None:
                        errors.append(failed)
                    else:
                        sent[n] += 1
                        if sent[n] < len(queues[n]):
                            heapq.heappush(heap, (time.monotonic() + self.pace_seconds, n))
                    cond.notify_all()

        with ThreadPoolExecutor(workers, thread_name_prefix="deliveries") as pool:
            futures = [pool.submit(work) for _ in range(workers)]
        for future in futures:
            future.result()
        if errors:
            raise errors[0]

    def _claim(self, keys: list[str]) -> set[str]:
        if not keys:
            return set()
        claim_many = getattr(self.ledger, "claim_many", None)
        if claim_many is None:
            return {k for k in keys if self.ledger.claim(k)}
        held: set[str] = set()
        for i in range(0, len(keys), CLAIM_CHUNK):
            held |= claim_many(keys[i:i + CLAIM_CHUNK])
        return held

    def _complete(self, keys: list[str], flush: bool = False) -> None:
        """Mark posted keys done, COMPLETE_EVERY together (or after COMPLETE_SECONDS; `flush`: now)."""
        with self._lock:
            self._to_complete += keys
            if not self._to_complete or (not flush and len(self._to_complete) < COMPLETE_EVERY
                                         and time.monotonic() - self._completed_at < COMPLETE_SECONDS):
                return
            keys, self._to_complete = self._to_complete, []
            self._completed_at = time.monotonic()
        complete_many = getattr(self.ledger, "complete_many", None)
        if complete_many is not None:
            complete_many(keys)
        else:
            for key in keys:
                self.ledger.complete(key)

    def _release_keys(self, keys: list[str]) -> None:
        if not keys:
            return
        release_many = getattr(self.ledger, "release_many", None)
        if release_many is not None:
            release_many(keys)
        else:
            for key in keys:
                self.ledger.release(key)

    def _channel_lock(self, channel: str) -> threading.Lock:
        with self._lock:
            return self._channel_locks.setdefault(channel, threading.Lock())

    def _post(self, batch: list[_Outgoing], report: DeliveryReport) -> None:
        """Claim each key, post the batch as one message, then complete the keys and run each `done`; a key already
        claimed is skipped (delivered before: a retry); a failed post releases the keys and is reported."""
        keys = [o.key for o in batch if o.key is not None]
        with self._lock:  # claimed before posting (_send_all), or now (a notice sent during the posting)
            held = {k for k in keys if k in self._held}
            self._held -= held
        held |= self._claim([k for k in keys if k not in self._asked])
        mine = []
        for o in batch:
            if o.key is not None and o.key not in held:
                report.skipped.append(f"{o.what}: already delivered ({o.key})")
                if o.done is not None and self._delivered(o.key):  # by an earlier try: record it here too
                    o.done(False)
            else:
                mine.append(o)
        if not mine:
            return
        what = ", ".join(o.what for o in mine)
        answer = mine[0].answer if len(mine) == 1 and not mine[0].mergeable else _merged(mine, self._fresh)
        channel = mine[0].target or ""
        try:
            channel = channel or self._dm(mine[0].owner)
            with self._channel_lock(channel):  # one post at a time per channel, spaced by pace_seconds
                wait = self._last_post.get(channel, -1e9) + self.pace_seconds - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                try:
                    self.client.chat_postMessage(channel=channel, text=fallback_text(answer.text),
                                                 blocks=answer.blocks, unfurl_links=False)
                    if answer.files:
                        upload_files(self.client, channel, answer.files)
                finally:
                    self._last_post[channel] = time.monotonic()
        except (SlackApiError, SlackClientError, OSError) as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            self._release(mine)
            if mine[0].target and error in CHANNEL_GONE:  # retrying cannot help: the owner is told, once per key
                log.warning("delivery refused by Slack: %s → %s: %s", what, channel, error)
                report.refused.append(f"{what} → {channel}: {error}")
                for o in mine:
                    if o.done is not None:
                        o.done(False)  # recorded for this period / crossing: not retried on every refresh
                why = (f"Slack refused the post to <#{channel}> ({bk.esc(error)}): invite me to the channel, or "
                       "delete it and subscribe again to another channel.")
                self._notify(mine[0].owner, f":warning: Not delivered: {bk.esc(what)}. {why}",
                             f"notice:{mine[0].key}", report)
                return
            log.error("delivery failed: %s → %s: %s", what, channel or mine[0].owner, error)
            report.failed.append(f"{what} → {channel or mine[0].owner}: {error}")
            return
        except BaseException:
            self._release(mine)
            raise
        self._complete([o.key for o in mine if o.key is not None])
        for o in mine:
            if o.done is not None:
                o.done(True)

    def _notify(self, owner: str, text: str, key: str, report: DeliveryReport) -> None:
        """A notice to the owner's DM, now (once per key), outside the message batches."""
        self._post([_Outgoing(owner, None, Answer(text=text, blocks=[bk.section(text)]), f"notice → {owner}", key)],
                   report)

    def _delivered(self, key: str) -> bool:
        """Done (not merely in hand in another process, which may still fail and release it)."""
        is_done = getattr(self.ledger, "is_done", None)
        return bool(is_done(key)) if is_done is not None else False

    def _release(self, batch: list[_Outgoing]) -> None:
        self._release_keys([o.key for o in batch if o.key is not None])


@dataclass
class _Outgoing:
    """A message to send at the end of the run: to `target` (a channel), or the owner's DM when None."""

    owner: str
    target: str | None
    answer: Answer
    what: str
    key: str | None  # the post ledger's key: one delivery per key across retries and processes
    done: Callable[[bool], None] | None = None  # bookkeeping once delivered (True: by this run's post)
    mergeable: bool = False  # an alert: several to one channel go in one message


def _merged(batch: list[_Outgoing], freshness: Freshness | None) -> Answer:
    """Alerts as one message (each alert's blocks, a divider between), one freshness stamp at the end."""
    blocks: list[bk.Block] = []
    for o in batch:
        if blocks:
            blocks.append(bk.divider())
        blocks += o.answer.blocks
    if freshness is not None:
        blocks += bk.freshness_blocks(freshness)
    text = batch[0].answer.text if len(batch) == 1 else f"{len(batch)} alerts: " + "; ".join(
        o.answer.text for o in batch)
    return Answer(text=text, blocks=bk.message(blocks))


def _bucket_value(answer: MetricAnswer, metric: str, start: date | None) -> Decimal | None:
    """The metric's value in the bucket starting at `start`; a missing bucket is 0 for a count or an amount."""
    i = answer.column(metric)
    for row in answer.rows:
        if row[0] == start:
            return None if row[i] is None else Decimal(row[i])
    return Decimal(0) if answer.columns[i].kind in (ValueKind.COUNT, ValueKind.MONEY) else None


def _fmt(value: Decimal, kind: ValueKind) -> str:
    if kind is ValueKind.COUNT:
        return f"{value:,.0f}"
    return cell(value.quantize(Decimal("0.01")), ValueKind.MONEY) + (" EUR" if kind is ValueKind.MONEY else "")


def alert_message(item: Item, answer: MetricAnswer, kind: ValueKind, current: Decimal, previous: Decimal | None,
                  value: Decimal, p: _Planned, additive: bool = False) -> Answer:
    """One alert's blocks (the freshness stamp is added once per message when sent). `additive`: the metric is a
    sum `why` can explain, so the message carries a "Why did it change?" button (the query buttons' `ffq.why` value
    for the metric and the month of the last bucket); otherwise the typed command as a hint."""
    condition = item.alert_condition
    metric = answer.query.metrics[0]
    label = bk.esc(answer.labels[metric])
    bucket = bk.esc(f"{item.cadence} {p.key}" if item.cadence == "daily" else f"{item.cadence}, bucket from {p.key}")
    if condition.change and condition.percent:
        shown, threshold = f"{value:+.1f}%", f"{condition.threshold:+.1f}%"
    else:
        shown, threshold = _fmt(value, kind), _fmt(condition.threshold, kind)
        if condition.change and value >= 0:
            shown = "+" + shown
    what = "changed by" if condition.change else "is"
    text = (f":bell: *Alert #{item.id}*: {label} ({bucket}) {what} *{shown}*, {condition.direction} your threshold "
            f"{threshold}.")
    lines = [bk.section(text)]
    if previous is not None:
        lines.append(bk.context(f"{label}: {_fmt(current, kind)} vs {_fmt(previous, kind)} the "
                                f"{BUCKET_NOUNS[item.cadence]} before"
                                + (" · your accounts only" if answer.scoped_to is not None else "")))
    pause = f"`/finefin alerts pause {item.id}` to pause this alert"
    if p.last is not None and additive:
        lines.append(bk.context(pause))
        lines.append({"type": "actions", "block_id": f"ffq_alert_{item.id}", "elements": [
            button("Why did it change?", action_id("why", "0"), encode_why(metric, Month.of(p.last)))]})
    elif p.last is not None:
        lines.append(bk.context(f"Why did it change? `/finefin why {metric} {p.last:%Y-%m}` · {pause}"))
    plain = f"Alert #{item.id}: {answer.labels[metric]} {what} {shown}, {condition.direction} {threshold}"
    return Answer(text=plain, blocks=bk.message(lines), data=answer)


# --- event alerts ---------------------------------------------------------------------------------------------
def event_allowed(identity: Identity, condition: EventCondition) -> bool:
    """The watchlist and red streaks are an advisor's; upcoming debits a customer's own (checked at each run)."""
    if condition.event == "upcoming_debit":
        return allowed(identity, Capability.UPCOMING) and identity.customer is not None
    return allowed(identity, Capability.WATCHLIST)


def watchlist_keys(watchlist: Watchlist) -> frozenset[str]:
    return frozenset(f"{e.customer_id.value}:{e.reason}" for e in watchlist.entries)


def red_keys(watchlist: Watchlist, months: int) -> frozenset[str]:
    return frozenset(str(r.customer_id.value) for r in watchlist.red_streaks if r.months >= months)


def upcoming_keys(upcoming: Upcoming, amount: Decimal) -> frozenset[str]:
    return frozenset(str(i.transaction_id) for i in upcoming.items if i.amount < 0 and -i.amount > amount)


def event_message(item: Item, condition: EventCondition, entered: frozenset[str], found: Any) -> Answer:
    """What entered, one line each (at most MAX_EVENT_LINES), names and descriptions escaped."""
    if condition.event == "upcoming_debit":
        rows = sorted((i for i in found.items if str(i.transaction_id) in entered), key=lambda i: i.scheduled_for)
        lines = [f"• {i.scheduled_for.isoformat()} {bk.esc(i.description or i.transaction_type)}: {money(i.amount)} "
                 f"(projected balance {money(i.projected_balance)})" for i in rows]
        head = f"{bk.plural(len(rows), 'debit')} over {money(condition.amount)} scheduled in the next " \
               f"{condition.days} days"
        more = "`/finefin upcoming`"
    elif condition.event == "red_streak":
        rows = [r for r in found.red_streaks if str(r.customer_id.value) in entered]
        lines = bk.red_lines(replace(found, red_streaks=tuple(rows)))
        head = f"{bk.plural(len(rows), 'customer')} reached {condition.months} months in the red"
        more = "`/finefin red`"
    else:
        rows = [e for e in found.entries if f"{e.customer_id.value}:{e.reason}" in entered]
        lines = bk.watchlist_lines(replace(found, entries=tuple(rows)))
        head = (f"{bk.plural(len({e.customer_id for e in rows}), 'customer')} entered the watchlist "
                f"{found.month}")
        more = "`/finefin watchlist`"
    text = f":bell: *Alert #{item.id}*: {head}."
    blocks = [bk.section(text)]
    if lines:
        blocks.append(bk.section(bk.truncate("\n".join(lines[:MAX_EVENT_LINES]), bk.MAX_SECTION_CHARS)))
    if len(lines) > MAX_EVENT_LINES:
        blocks.append(bk.context(f"…and {len(lines) - MAX_EVENT_LINES} more: {more}"))
    blocks.append(bk.context(f"{more} · `/finefin alerts pause {item.id}` to pause this alert"))
    return Answer(text=f"Alert #{item.id}: {head}", blocks=bk.message(blocks))


# --- entry point for the DAG -----------------------------------------------------------------------------------
def deliver_from_env(timed: bool = False) -> list[str]:
    """Evaluate and deliver with the environment's settings, semantic layer, Slack client and state database;
    `timed`: a run of the DAG's timetable (only the `at HH:MM` subscriptions)."""
    from bot.app import build_assistant, make_client
    from bot.settings import BotSettings
    from bot.state import open_state
    from finefin.config import load_settings
    from semantic_layer import get_semantic_layer  # type: ignore[attr-defined]

    settings = load_settings(BotSettings)
    client = make_client(settings)
    state = open_state()
    try:
        assistant = build_assistant(get_semantic_layer(), settings, client, revocations=state.revocations)
        report = Deliveries(assistant, assistant.resolver.resolve, state.subscriptions, state.post_ledger,
                            client, workers=settings.delivery_workers).run(timed)
    finally:
        state.close()
    return ([f"fired {x}" for x in report.fired] + [f"delivered {x}" for x in report.delivered]
            + [f"refused {x}" for x in report.refused] + [f"held {x}" for x in report.held]
            + [f"home tabs re-published: {len(report.homes)}, failed: {len(report.homes_failed)}"]
            + [f"queries run: {report.queries_run}, items evaluated: {report.evaluated}"])
