"""Subscriptions and alerts in the state database: created, listed, paused, resumed and deleted by their owner only,
every change written to the audit log; a deactivated owner's items are disabled (kept, never delivered).

The query of an item is stored as a compact, versioned text (`encode_query` / `decode_query`): `q1:` and a JSON of
the `MetricQuery`'s typed fields with short keys. An unknown version or a malformed text is refused on decode, so a
row written by a newer release is skipped rather than misread. Deliveries are made exactly once through the post
ledger's claim keys (`bot.deliveries`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from sqlalchemy import Engine, delete, func, insert, select, update

from bot.state.audit import AuditLog, AuditRecord
from bot.state.models import QUERY_MAX_CHARS, Subscription
from semantic_layer.catalog import Grain
from semantic_layer.errors import InvalidInputError
from semantic_layer.query import DimensionFilter, MetricQuery, Order, Period, PeriodKind

Kind = Literal["subscription", "alert"]
CADENCES = ("daily", "weekly", "monthly")
MAX_ITEMS_PER_USER = 50
VERSION = "q1:"
TABLE = Subscription.__table__


# --- the query as stored -------------------------------------------------------------------------------------
def encode_query(query: MetricQuery) -> str:
    """`q1:{…}`: the MetricQuery's fields, short keys, no spaces. Raises InvalidInputError when too long to store."""
    doc: dict[str, Any] = {"m": list(query.metrics)}
    if query.group_by:
        doc["g"] = list(query.group_by)
    if query.grain is not None:
        doc["t"] = query.grain.value
    if query.filters:
        doc["f"] = [[f.dimension, list(f.values)] for f in query.filters]
    if query.period is not None:
        p = query.period
        doc["p"] = ([p.kind.value, p.first.isoformat(), p.last.isoformat()] if p.kind is PeriodKind.RANGE  # type: ignore[union-attr]
                    else [p.kind.value, p.count])
    if query.order:
        doc["o"] = [[o.by, o.descending] for o in query.order]
    if query.limit is not None:
        doc["l"] = query.limit
    text = VERSION + json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    if len(text) > QUERY_MAX_CHARS:
        raise InvalidInputError("That question is too long to keep as a subscription or alert.")
    return text


def decode_query(text: str) -> MetricQuery:
    """The MetricQuery of `encode_query`; InvalidInputError for an unknown version or a malformed text."""
    if not text.startswith(VERSION):
        raise InvalidInputError("This stored question was written by another version and cannot be read.")
    try:
        doc = json.loads(text[len(VERSION):])
        period = None
        if "p" in doc:
            kind = PeriodKind(doc["p"][0])
            period = (Period.days(date.fromisoformat(doc["p"][1]), date.fromisoformat(doc["p"][2]))
                      if kind is PeriodKind.RANGE else Period(kind, count=int(doc["p"][1])))
        return MetricQuery(
            metrics=tuple(str(m) for m in doc["m"]),
            group_by=tuple(str(g) for g in doc.get("g", ())),
            grain=Grain(doc["t"]) if "t" in doc else None,
            filters=tuple(DimensionFilter(str(k), tuple(str(v) for v in vals)) for k, vals in doc.get("f", ())),
            period=period,
            order=tuple(Order(str(by), bool(desc)) for by, desc in doc.get("o", ())),
            limit=int(doc["l"]) if "l" in doc else None,
        )
    except (ValueError, KeyError, TypeError, IndexError):
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

    @property
    def active(self) -> bool:
        return not self.paused and self.disabled_reason is None

    @property
    def metric_query(self) -> MetricQuery:
        return decode_query(self.query)

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
            target: str | None = None, team_id: str | None = None) -> Item:
        if cadence not in CADENCES:
            raise InvalidInputError(f"Choose {', '.join(CADENCES)}.")
        if (kind == "alert") != (condition is not None):
            raise ValueError("an alert has a condition, a subscription none")
        encoded = encode_query(query)
        with self.engine.begin() as conn:
            count = conn.execute(select(func.count()).where(TABLE.c.owner_user_id == owner)).scalar_one()
            if count >= MAX_ITEMS_PER_USER:
                raise InvalidInputError(f"You have {count} subscriptions and alerts, the most one person may keep: "
                                        "delete some first.")
            row = conn.execute(insert(TABLE).values(
                kind=kind, owner_user_id=owner[:32], owner_team_id=team_id and team_id[:32], query=encoded,
                cadence=cadence, condition=condition.encode() if condition else None, target=target,
            ).returning(*_COLUMNS)).one()
        item = Item(*row)
        self._audit(owner, team_id, f"{kind} #{item.id} created: {describe(item)}")
        return item

    def set_paused(self, item_id: int, owner: str, paused: bool, kind: Kind | None = None) -> Item:
        stmt = (update(TABLE).where(*self._mine(item_id, owner, kind))
                .values(paused=paused, updated_at=func.now()).returning(*_COLUMNS))
        with self.engine.begin() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            raise NotYoursError(_not_yours(item_id, kind))
        item = Item(*row)
        self._audit(owner, item.owner_team_id, f"{item.kind} #{item.id} {'paused' if paused else 'resumed'}")
        return item

    def delete(self, item_id: int, owner: str, kind: Kind | None = None) -> Item:
        with self.engine.begin() as conn:
            row = conn.execute(delete(TABLE).where(*self._mine(item_id, owner, kind)).returning(*_COLUMNS)).first()
        if row is None:
            raise NotYoursError(_not_yours(item_id, kind))
        item = Item(*row)
        self._audit(owner, item.owner_team_id, f"{item.kind} #{item.id} deleted")
        return item

    @staticmethod
    def _mine(item_id: int, owner: str, kind: Kind | None) -> list[Any]:
        where = [TABLE.c.id == item_id, TABLE.c.owner_user_id == owner]
        return where + ([TABLE.c.kind == kind] if kind else [])

    # -- reading ----------------------------------------------------------------------------------------------
    def mine(self, owner: str, kind: Kind | None = None) -> list[Item]:
        stmt = select(*_COLUMNS).where(TABLE.c.owner_user_id == owner)
        if kind:
            stmt = stmt.where(TABLE.c.kind == kind)
        with self.engine.connect() as conn:
            return [Item(*r) for r in conn.execute(stmt.order_by(TABLE.c.id))]

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
        """Set `last_state`, `last_period` or `stale_notified` of one item."""
        assert set(values) <= {"last_state", "last_period", "stale_notified"}, values
        with self.engine.begin() as conn:
            conn.execute(update(TABLE).where(TABLE.c.id == item_id).values(**values))

    def record_many(self, records: list[tuple[int, dict[str, Any]]]) -> None:
        """Several `record`s in one transaction (the delivery engine's bookkeeping of one run)."""
        if not records:
            return
        with self.engine.begin() as conn:
            for item_id, values in records:
                assert set(values) <= {"last_state", "last_period", "stale_notified"}, values
                conn.execute(update(TABLE).where(TABLE.c.id == item_id).values(**values))

    def clear_stale_notices(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(TABLE).where(TABLE.c.stale_notified.is_(True)).values(stale_notified=False))


def describe(item: Item) -> str:
    """A short plain-text description of an item (not escaped: callers escape)."""
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
        words.append(item.cadence)
    words.append(f"to channel {item.target}" if item.target else "to you (DM)")
    return " ".join(words)


def _not_yours(item_id: int, kind: Kind | None) -> str:
    what = kind or "subscription or alert"
    return f"You have no {what} #{item_id}. `/finefin {kind or 'alert'}s` lists yours."
