"""Subscriptions and alerts in the state database: created, listed, paused, resumed and deleted by their owner only,
every change written to the audit log; a deactivated owner's items are disabled (kept, never delivered).

The query of an item is stored as a compact, versioned text (`encode_query` / `decode_query`): `q1:` and the JSON of
the `MetricQuery`'s compact form (semantic_layer/query_codec.py), a range period's kind written `"range"` and an
order's direction a JSON bool, as since the first release. It is read back through the codec's strict checks: an
unknown version or a malformed text is refused on decode, so a row written by a newer release is skipped rather than
misread. Deliveries are made exactly once through the post ledger's claim keys (`bot.deliveries`).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from bot.state.audit import AuditLog, AuditRecord
from bot.state.models import QUERY_MAX_CHARS, HomeOpen, Subscription
from semantic_layer.errors import InvalidInputError
from semantic_layer.query import MetricQuery, PeriodKind
from semantic_layer.query_codec import RANGE, QueryDataError, int_directions, query_from_data, query_to_data

Kind = Literal["subscription", "alert"]
CADENCES = ("daily", "weekly", "monthly")
MAX_ITEMS_PER_USER = 50
VERSION = "q1:"
_AT = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
TABLE = Subscription.__table__
HOMES = HomeOpen.__table__
RECORDED = frozenset({"last_state", "last_period", "stale_notified", "last_members"})


# --- the query as stored -------------------------------------------------------------------------------------
def encode_query(query: MetricQuery) -> str:
    """`q1:{…}`: the query's compact form, no spaces, a range's kind written out (`"range"`) and an order's
    direction a JSON bool, as this table has always kept them. Raises InvalidInputError when too long to store."""
    data = query_to_data(query)
    if "p" in data and data["p"][0] == RANGE:
        data["p"] = [PeriodKind.RANGE.value, *data["p"][1:]]
    if "o" in data:
        data["o"] = [[by, bool(descending)] for by, descending in data["o"]]
    text = VERSION + json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    if len(text) > QUERY_MAX_CHARS:
        raise InvalidInputError("That question is too long to keep as a subscription or alert.")
    return text


def decode_query(text: str) -> MetricQuery:
    """The MetricQuery of `encode_query`, checked as strictly as a button's; InvalidInputError for an unknown
    version or a malformed text."""
    if not text.startswith(VERSION):
        raise InvalidInputError("This stored question was written by another version and cannot be read.")
    try:
        data = json.loads(text[len(VERSION):])
        if isinstance(data, dict):
            period = data.get("p")
            if isinstance(period, list) and period[:1] == [PeriodKind.RANGE.value]:
                data["p"] = [RANGE, *period[1:]]
            if "o" in data:
                data["o"] = int_directions(data["o"])
        return query_from_data(data)
    except (ValueError, RecursionError, QueryDataError):
        raise InvalidInputError("This stored question is malformed and cannot be read.") from None


# --- alert conditions ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Condition:
    """`below`/`above` a threshold; `change` compares with the previous period (in percent when `percent`)."""

    direction: Literal["below", "above"]
    threshold: Decimal
    change: bool = False
    percent: bool = False

    def encode(self) -> str:
        return f"{'change_' if self.change else ''}{self.direction}:{self.threshold}{'%' if self.percent else ''}"

    @classmethod
    def decode(cls, text: str) -> Condition:
        try:
            head, _, number = text.partition(":")
            change = head.startswith("change_")
            direction = head.removeprefix("change_")
            if direction not in ("below", "above"):
                raise ValueError(direction)
            percent = number.endswith("%")
            return cls(direction, Decimal(number.rstrip("%")), change, percent)  # type: ignore[arg-type]
        except (ValueError, InvalidOperation):
            raise InvalidInputError("This stored alert condition is malformed.") from None

    def met(self, value: Decimal) -> bool:
        return value < self.threshold if self.direction == "below" else value > self.threshold

    def describe(self) -> str:
        what = "change " if self.change else ""
        return f"{what}{self.direction} {self.threshold:,}{'%' if self.percent else ''}"


EVENT_VERSION = "e1:"  # the query text of an event alert: `e1:<event>`, its parameters in the condition
EVENTS = ("watchlist", "red_streak", "upcoming_debit")
MAX_EVENT_DAYS = 30
MAX_RED_MONTHS = 120


@dataclass(frozen=True)
class EventCondition:
    """An alert on who matches, not on a total: a customer enters the watchlist (`watchlist`), a customer's red
    streak reaches `months` (`red_streak:4`), a debit over `amount` is scheduled within `days` (`upcoming_debit:500:7`,
    a customer's own). It fires once per key entering the matching set (customer and reason, customer, transaction):
    the keys last seen are kept in `last_members`."""

    event: Literal["watchlist", "red_streak", "upcoming_debit"]
    months: int | None = None
    amount: Decimal | None = None
    days: int | None = None

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise InvalidInputError("Unknown alert event.")
        if self.event == "red_streak" and not (self.months and 1 <= self.months <= MAX_RED_MONTHS):
            raise InvalidInputError(f"Give the red streak in months, 1 to {MAX_RED_MONTHS}: `alert red streak 4`.")
        if self.event == "upcoming_debit":
            if self.amount is None or self.amount < 0 or self.amount.as_tuple().exponent < -2:  # type: ignore[operator]
                raise InvalidInputError("Give the debit amount as a positive number, e.g. `over 500`.")
            if not (self.days and 1 <= self.days <= MAX_EVENT_DAYS):
                raise InvalidInputError(f"Give the horizon as 1 to {MAX_EVENT_DAYS} days: `in 7 days`.")

    def encode(self) -> str:
        if self.event == "red_streak":
            return f"red_streak:{self.months}"
        if self.event == "upcoming_debit":
            return f"upcoming_debit:{self.amount}:{self.days}"
        return "watchlist"

    @classmethod
    def decode(cls, text: str) -> EventCondition:
        try:
            event, *args = text.split(":")
            if event == "red_streak" and len(args) == 1:
                return cls("red_streak", months=int(args[0]))
            if event == "upcoming_debit" and len(args) == 2:
                return cls("upcoming_debit", amount=Decimal(args[0]), days=int(args[1]))
            if event == "watchlist" and not args:
                return cls("watchlist")
        except (ValueError, InvalidOperation):
            pass
        raise InvalidInputError("This stored alert condition is malformed.")

    def describe(self) -> str:
        if self.event == "red_streak":
            return f"a customer's red streak reaches {self.months} months"
        if self.event == "upcoming_debit":
            return f"a debit over {self.amount:,} is scheduled in the next {self.days} days"
        return "a customer enters the watchlist"


# --- rows ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    id: int
    kind: Kind
    owner_user_id: str
    owner_team_id: str | None
    query: str
    cadence: str
    condition: str | None
    target: str | None
    paused: bool
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime
    last_state: str | None
    last_period: str | None
    stale_notified: bool
    at_time: str | None = None
    last_members: str | None = None

    @property
    def active(self) -> bool:
        return not self.paused and self.disabled_reason is None

    @property
    def metric_query(self) -> MetricQuery:
        return decode_query(self.query)

    @property
    def is_event(self) -> bool:
        """An event alert (watchlist, red streak, upcoming debit) rather than a metric's threshold."""
        return self.query.startswith(EVENT_VERSION)

    @property
    def event_condition(self) -> EventCondition:
        condition = EventCondition.decode(self.condition or "")
        if self.query != EVENT_VERSION + condition.event:
            raise InvalidInputError("This stored alert condition is malformed.")
        return condition

    @property
    def members(self) -> frozenset[str]:
        """The keys last seen matching (an event alert); empty when never evaluated or unreadable."""
        try:
            keys = json.loads(self.last_members or "[]")
        except ValueError:
            return frozenset()
        return frozenset(str(k) for k in keys) if isinstance(keys, list) else frozenset()

    @property
    def alert_condition(self) -> Condition:
        assert self.condition is not None
        return Condition.decode(self.condition)

    @property
    def status(self) -> str:
        if self.disabled_reason:
            return f"disabled ({self.disabled_reason})"
        return "paused" if self.paused else "active"


_COLUMNS = [TABLE.c[name] for name in Item.__dataclass_fields__]


class NotYoursError(InvalidInputError):
    """No such item among the asker's own (someone else's item is reported the same way: nothing is revealed)."""


class SubscriptionStore:
    def __init__(self, engine: Engine, audit: AuditLog | None = None) -> None:
        self.engine = engine
        self.audit = audit if audit is not None else AuditLog(engine)

    def _audit(self, user_id: str, team_id: str | None, command: str) -> None:
        self.audit.record(AuditRecord(request_id=f"sub-{uuid.uuid4().hex[:12]}", user_id=user_id, team_id=team_id,
                                      command=command, outcome="answered"))

    # -- owner's changes (audited) ----------------------------------------------------------------------------
    def add(self, owner: str, kind: Kind, query: MetricQuery, cadence: str, *, condition: Condition | None = None,
            target: str | None = None, team_id: str | None = None, at_time: str | None = None) -> Item:
        if cadence not in CADENCES:
            raise InvalidInputError(f"Choose {', '.join(CADENCES)}.")
        if (kind == "alert") != (condition is not None):
            raise ValueError("an alert has a condition, a subscription none")
        if at_time is not None and (kind != "subscription" or parse_at(at_time) is None):
            raise InvalidInputError("Give the time as `at HH:MM` (00:00 to 23:59), on a subscription.")
        encoded = encode_query(query)
        with self.engine.begin() as conn:
            count = conn.execute(select(func.count()).where(TABLE.c.owner_user_id == owner)).scalar_one()
            if count >= MAX_ITEMS_PER_USER:
                raise InvalidInputError(f"You have {count} subscriptions and alerts, the most one person may keep: "
                                        "delete some first.")
            row = conn.execute(insert(TABLE).values(
                kind=kind, owner_user_id=owner[:32], owner_team_id=team_id and team_id[:32], query=encoded,
                cadence=cadence, condition=condition.encode() if condition else None, target=target,
                at_time=at_time,
            ).returning(*_COLUMNS)).one()
        item = Item(*row)
        self._audit(owner, team_id, f"{kind} #{item.id} created: {describe(item)}")
        return item

    def add_event(self, owner: str, condition: EventCondition, members: frozenset[str], *,
                  team_id: str | None = None) -> Item:
        """An event alert to the owner's DM (it names customers: never a channel), with the keys matching now
        (`members`) as its baseline: it fires for those that enter after."""
        with self.engine.begin() as conn:
            count = conn.execute(select(func.count()).where(TABLE.c.owner_user_id == owner)).scalar_one()
            if count >= MAX_ITEMS_PER_USER:
                raise InvalidInputError(f"You have {count} subscriptions and alerts, the most one person may keep: "
                                        "delete some first.")
            row = conn.execute(insert(TABLE).values(
                kind="alert", owner_user_id=owner[:32], owner_team_id=team_id and team_id[:32],
                query=EVENT_VERSION + condition.event, cadence="daily", condition=condition.encode(),
                last_members=members_text(members),
            ).returning(*_COLUMNS)).one()
        item = Item(*row)
        self._audit(owner, team_id, f"alert #{item.id} created: {describe(item)}")
        return item

    def set_paused(self, item_id: int, owner: str, paused: bool, kind: Kind | None = None, *,
                   admin: bool = False) -> Item:
        """Pause or resume one of `owner`'s items; `admin`: anyone's (the audit names the admin and the owner)."""
        stmt = (update(TABLE).where(*self._mine(item_id, owner, kind, admin))
                .values(paused=paused, updated_at=func.now()).returning(*_COLUMNS))
        with self.engine.begin() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            raise NotYoursError(_not_yours(item_id, kind))
        item = Item(*row)
        self._audit(owner, item.owner_team_id,
                    f"{item.kind} #{item.id} {'paused' if paused else 'resumed'}{_by_admin(item, owner)}")
        return item

    def delete(self, item_id: int, owner: str, kind: Kind | None = None, *, admin: bool = False) -> Item:
        with self.engine.begin() as conn:
            row = conn.execute(delete(TABLE).where(*self._mine(item_id, owner, kind, admin))
                               .returning(*_COLUMNS)).first()
        if row is None:
            raise NotYoursError(_not_yours(item_id, kind))
        item = Item(*row)
        self._audit(owner, item.owner_team_id, f"{item.kind} #{item.id} deleted{_by_admin(item, owner)}")
        return item

    @staticmethod
    def _mine(item_id: int, owner: str, kind: Kind | None, admin: bool = False) -> list[Any]:
        where = [TABLE.c.id == item_id] + ([] if admin else [TABLE.c.owner_user_id == owner])
        return where + ([TABLE.c.kind == kind] if kind else [])

    # -- reading ----------------------------------------------------------------------------------------------
    def mine(self, owner: str, kind: Kind | None = None) -> list[Item]:
        stmt = select(*_COLUMNS).where(TABLE.c.owner_user_id == owner)
        if kind:
            stmt = stmt.where(TABLE.c.kind == kind)
        with self.engine.connect() as conn:
            return [Item(*r) for r in conn.execute(stmt.order_by(TABLE.c.id))]

    def every(self, kind: Kind | None = None, limit: int = 200) -> list[Item]:
        """Everyone's items (an admin's list), the newest last, at most `limit`."""
        stmt = select(*_COLUMNS)
        if kind:
            stmt = stmt.where(TABLE.c.kind == kind)
        with self.engine.connect() as conn:
            return [Item(*r) for r in conn.execute(stmt.order_by(TABLE.c.id).limit(limit))]

    def get(self, item_id: int) -> Item | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(*_COLUMNS).where(TABLE.c.id == item_id)).first()
        return None if row is None else Item(*row)

    def active(self) -> list[Item]:
        stmt = select(*_COLUMNS).where(TABLE.c.paused.is_(False), TABLE.c.disabled_reason.is_(None))
        with self.engine.connect() as conn:
            return [Item(*r) for r in conn.execute(stmt.order_by(TABLE.c.id))]

    # -- the delivery engine's bookkeeping ----------------------------------------------------------------------
    def disable_owner(self, owner: str, reason: str) -> int:
        """Disable every active item of `owner` (deactivated, or no longer a known user); audited."""
        stmt = (update(TABLE).where(TABLE.c.owner_user_id == owner, TABLE.c.disabled_reason.is_(None))
                .values(disabled_reason=reason[:200], updated_at=func.now()).returning(TABLE.c.id))
        with self.engine.begin() as conn:
            ids = [r[0] for r in conn.execute(stmt)]
        if ids:
            self._audit(owner, None, f"{len(ids)} subscriptions/alerts disabled ({reason}): "
                        + ", ".join(f"#{i}" for i in ids))
        return len(ids)

    def record(self, item_id: int, **values: Any) -> None:
        """Set `last_state`, `last_period`, `stale_notified` or `last_members` of one item."""
        assert set(values) <= RECORDED, values
        with self.engine.begin() as conn:
            conn.execute(update(TABLE).where(TABLE.c.id == item_id).values(**values))

    def record_many(self, records: list[tuple[int, dict[str, Any]]]) -> None:
        """Several `record`s in one transaction (the delivery engine's bookkeeping of one run)."""
        if not records:
            return
        with self.engine.begin() as conn:
            for item_id, values in records:
                assert set(values) <= RECORDED, values
                conn.execute(update(TABLE).where(TABLE.c.id == item_id).values(**values))

    # -- who opened the App Home (re-published after each data publish) -----------------------------------------
    def home_opened(self, user_id: str, team_id: str | None = None) -> None:
        """Record that `user_id` opened (or used) their Home tab now: one row per user, the time moves."""
        stmt = pg_insert(HOMES).values(user_id=user_id[:32], team_id=team_id and team_id[:32])
        stmt = stmt.on_conflict_do_update(index_elements=[HOMES.c.user_id],
                                          set_={"opened_at": func.now(), "team_id": stmt.excluded.team_id})
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def home_viewers(self, days: int, limit: int = 1000) -> list[str]:
        """Users who opened their Home tab in the last `days` days, the most recent first (at most `limit`); older
        rows are dropped here, so the table stays as small as the set of recent viewers."""
        since = func.now() - timedelta(days=days)
        with self.engine.begin() as conn:
            conn.execute(delete(HOMES).where(HOMES.c.opened_at < since))
            rows = conn.execute(select(HOMES.c.user_id).order_by(HOMES.c.opened_at.desc(), HOMES.c.user_id)
                                .limit(limit))
            return [r[0] for r in rows]

    def clear_stale_notices(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(TABLE).where(TABLE.c.stale_notified.is_(True)).values(stale_notified=False))


def parse_at(text: str) -> time | None:
    """`HH:MM` (24-hour, 00:00 to 23:59) → time; None for anything else."""
    match = _AT.fullmatch(text.strip())
    return None if match is None else time(int(match.group(1)), int(match.group(2)))


def _by_admin(item: Item, actor: str) -> str:
    return "" if item.owner_user_id == actor else f" by admin {actor} (owner {item.owner_user_id})"


def members_text(members: frozenset[str] | set[str]) -> str:
    return json.dumps(sorted(members), separators=(",", ":"))


def describe(item: Item) -> str:
    """A short plain-text description of an item (not escaped: callers escape)."""
    if item.is_event:
        try:
            what = item.event_condition.describe()
        except InvalidInputError:
            what = "(unreadable)"
        return f"{what} to " + (f"channel {item.target}" if item.target else "you (DM)")
    try:
        q = item.metric_query
    except InvalidInputError:
        return "(unreadable)"
    words = [", ".join(q.metrics)]
    if q.group_by:
        words.append("by " + ", ".join(q.group_by))
    if q.grain is not None and item.kind == "subscription":
        words.append(q.grain.value)
    if q.filters:
        words.append("where " + " and ".join(f"{f.dimension}={','.join(f.values)}" for f in q.filters))
    if q.period is not None:
        words.append(q.period.describe())
    if q.limit is not None:
        words.append(f"limit {q.limit}")
    if item.kind == "alert":
        words.append(f"{item.cadence} {item.alert_condition.describe()}")
    else:
        words.append(item.cadence + (f" at {item.at_time}" if item.at_time else ""))
    words.append(f"to channel {item.target}" if item.target else "to you (DM)")
    return " ".join(words)


def _not_yours(item_id: int, kind: Kind | None) -> str:
    what = kind or "subscription or alert"
    return f"You have no {what} #{item_id}. `/finefin {kind or 'alert'}s` lists yours."
