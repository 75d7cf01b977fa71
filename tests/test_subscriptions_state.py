"""The subscriptions/alerts table (migration 0003) and its store: the query's stored text round-trips, only the owner
changes an item, every change is in the audit log, a deactivated owner's items are disabled."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from bot.state import AuditQuery
from bot.state.subscriptions import (
    Condition,
    NotYoursError,
    SubscriptionStore,
    decode_query,
    encode_query,
)
from semantic_layer.catalog import Grain
from semantic_layer.errors import InvalidInputError
from semantic_layer.query import DimensionFilter, MetricQuery, Order, Period, PeriodKind

pytest_plugins = ["tests.bot_support"]

QUERIES = [
    MetricQuery(("revenue",)),
    MetricQuery(("revenue", "transaction_volume"), ("tier",), Grain.MONTH,
                (DimensionFilter("type", ("card_payment", "fee")),), Period(PeriodKind.LAST_MONTHS, count=6),
                (Order("revenue", True),), 10),
    MetricQuery(("balance",), grain=Grain.DAY, period=Period.days(date(2026, 1, 1), date(2026, 3, 31))),
    MetricQuery(("transaction_count",), period=Period(PeriodKind.THIS_YEAR), order=(Order("time", False),)),
]


@pytest.mark.parametrize("query", QUERIES)
def test_the_stored_text_round_trips(query: MetricQuery) -> None:
    stored = encode_query(query)
    assert stored.startswith("q1:") and " " not in stored
    assert decode_query(stored) == query


@pytest.mark.parametrize("stored", ["q9:{}", '{"m":["revenue"]}', "q1:{", 'q1:{"m":[]}', 'q1:{"m":["r"],"t":"hour"}',
                                    'q1:{"m":["r"],"p":["range","2026-02-01"]}', 'q1:{"m":["r"],"l":0}'])
def test_an_unknown_version_or_a_malformed_text_is_refused(stored: str) -> None:
    with pytest.raises(InvalidInputError):
        decode_query(stored)


@pytest.mark.parametrize(("condition", "value", "met"), [
    (Condition("below", Decimal(1000)), Decimal("999.99"), True),
    (Condition("below", Decimal(1000)), Decimal(1000), False),
    (Condition("above", Decimal(5)), Decimal(6), True),
    (Condition("below", Decimal(-10), change=True, percent=True), Decimal("-10.5"), True),
])
def test_conditions(condition: Condition, value: Decimal, met: bool) -> None:
    assert condition.met(value) is met
    assert Condition.decode(condition.encode()) == condition


@pytest.fixture()
def store(state_store: Any) -> Iterator[SubscriptionStore]:
    with state_store.engine.begin() as conn:
        conn.execute(text("TRUNCATE subscriptions"))
    yield state_store.subscriptions


def test_owner_only_edits_and_every_change_is_audited(store: SubscriptionStore, state_store: Any) -> None:
    sub = store.add("UOWNER", "subscription", QUERIES[1], "weekly", team_id="T1")
    alert = store.add("UOWNER", "alert", QUERIES[0], "daily", condition=Condition("below", Decimal(1000)),
                      target="C123")
    assert [i.id for i in store.mine("UOWNER")] == [sub.id, alert.id]
    assert [i.id for i in store.mine("UOWNER", "alert")] == [alert.id]
    assert store.mine("UOTHER") == []
    for attempt in (lambda: store.set_paused(sub.id, "UOTHER", True), lambda: store.delete(sub.id, "UOTHER"),
                    lambda: store.set_paused(sub.id, "UOWNER", True, kind="alert")):
        with pytest.raises(NotYoursError):
            attempt()
    assert store.get(sub.id).active  # type: ignore[union-attr]
    assert store.set_paused(sub.id, "UOWNER", True).paused
    assert [i.id for i in store.active()] == [alert.id]
    assert not store.set_paused(sub.id, "UOWNER", False).paused
    store.delete(alert.id, "UOWNER")
    assert store.get(alert.id) is None
    commands = [r.command for r in state_store.audit.rows(AuditQuery(user_id="UOWNER"))]
    assert commands == [
        f"subscription #{sub.id} created: revenue, transaction_volume by tier month where type=card_payment,fee "
        "the last 6 complete months limit 10 weekly to you (DM)",
        f"alert #{alert.id} created: revenue daily below 1,000 to channel C123",
        f"subscription #{sub.id} paused", f"subscription #{sub.id} resumed", f"alert #{alert.id} deleted"]
    assert not [r for r in state_store.audit.rows(AuditQuery(user_id="UOTHER"))]


def test_a_deactivated_owner_is_disabled_not_deleted(store: SubscriptionStore, state_store: Any) -> None:
    a = store.add("UGONE", "subscription", QUERIES[0], "daily")
    b = store.add("UGONE", "subscription", QUERIES[0], "monthly")
    kept = store.add("UHERE", "subscription", QUERIES[0], "daily")
    assert store.disable_owner("UGONE", "deactivated") == 2
    assert [i.id for i in store.active()] == [kept.id]
    assert store.get(a.id).status == "disabled (deactivated)"  # type: ignore[union-attr]
    assert store.disable_owner("UGONE", "deactivated") == 0  # already disabled: no second audit row
    rows = state_store.audit.rows(AuditQuery(user_id="UGONE"))
    assert rows[-1].command == f"2 subscriptions/alerts disabled (deactivated): #{a.id}, #{b.id}"
    with pytest.raises(NotYoursError):  # the audit trail holds; a resume by another user is still refused
        store.set_paused(a.id, "UHERE", False)


def test_one_person_keeps_a_bounded_number(store: SubscriptionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.state.subscriptions.MAX_ITEMS_PER_USER", 2)
    store.add("U1", "subscription", QUERIES[0], "daily")
    store.add("U1", "subscription", QUERIES[0], "daily")
    with pytest.raises(InvalidInputError, match="delete some first"):
        store.add("U1", "subscription", QUERIES[0], "daily")


def test_claiming_several_delivery_keys_at_once(state_store: Any) -> None:
    """The delivery engine claims the keys of one message together (post ledger): same contract as `claim`."""
    ledger, other = state_store.post_ledger, type(state_store.post_ledger)(
        state_store.engine, state_store.post_ledger.table, 600)
    with state_store.engine.begin() as conn:
        conn.execute(text("TRUNCATE post_ledger"))
    assert ledger.claim("sub:1:2026-W07")
    assert ledger.claim_many(["sub:1:2026-W07", "alert:2:2026-02-10", "alert:3:2026-02-10", "alert:3:2026-02-10"]
                             ) == {"alert:2:2026-02-10", "alert:3:2026-02-10"}  # the first is in hand already
    assert other.claim_many(["alert:2:2026-02-10"]) == set()
    assert ledger.complete_many(["alert:2:2026-02-10", "alert:3:2026-02-10"]) == 2
    assert ledger.is_done("alert:3:2026-02-10") and not ledger.is_done("sub:1:2026-W07")
    assert other.complete_many(["sub:1:2026-W07"]) == 0  # not its claim
    assert ledger.claim_many([]) == set()
