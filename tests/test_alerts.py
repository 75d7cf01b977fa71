"""`/finefin alert|alerts|subscribe|subscriptions` and the delivery engine (bot/deliveries.py) on the real query
warehouse, the state database and the fake Slack: parsing into typed values, access as the owner, owner-only changes,
alerts once per crossing (checked against SQL on the warehouse), subscriptions once per period across retries, each
distinct query computed once, channels never get customer-level data, stale data holds everything (owner told once),
deactivated owners' items disabled."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block, ButtonElement
from sqlalchemy import text

from bot.access import Identity, Role
from bot.assistant import Assistant
from bot.blocks import REASON_LABELS
from bot.channel_check import ChannelCheck, ChannelRefused
from bot.commands.manage_actions import handle as button
from bot.commands.query_buttons import decode_why, verb_of
from bot.deliveries import Deliveries, DeliveryFailedError, alert_buckets, period_key
from bot.identity import IdentityResolver
from bot.money import money
from bot.settings import BotSettings
from bot.state.subscriptions import Item, SubscriptionStore, describe
from semantic_layer.catalog import Grain
from semantic_layer.errors import InvalidInputError
from semantic_layer.inputs import CustomerId, Month
from semantic_layer.query_service import AccessRefusedError
from semantic_layer.service import MetricFlowSemanticLayer
from semantic_layer.types import Freshness
from tests.dbt_chain import END_DATE, Chain, query
from tests.fake_slack import FakeSlack

pytest_plugins = ["tests.query_support", "tests.bot_support"]  # chain, sl, qs; state_store


@pytest.fixture(scope="module")
def people(sl: MetricFlowSemanticLayer, chain: Chain) -> dict[str, Identity]:
    busiest = query(chain.warehouse, "select customer_id from analytics.fct_transactions group by 1"
                                     " order by count(*) desc limit 1")[0][0]
    return {
        "director": Identity("UDIR", frozenset({Role.DIRECTOR})),
        "director2": Identity("UDIR2", frozenset({Role.DIRECTOR})),
        "advisor": Identity("UADV", frozenset({Role.ADVISOR})),
        "customer": Identity("UCUST", frozenset({Role.CUSTOMER}), sl.customer(CustomerId(busiest))),
    }


@pytest.fixture()
def store(state_store: Any) -> SubscriptionStore:
    with state_store.engine.begin() as conn:
        conn.execute(text("TRUNCATE subscriptions, post_ledger, home_opens"))
    return state_store.subscriptions  # type: ignore[no-any-return]


@pytest.fixture()
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    for channel in ("C0CHAN", "C0KPI", "C0GONE"):  # staff only (and the bot, UBOT): every member may see KPIs
        fake.channels[channel] = ["UDIR", "UDIR2", "UBOT"]
    yield fake
    fake.stop()


@pytest.fixture()
def assistant(sl: MetricFlowSemanticLayer, store: SubscriptionStore, people: dict[str, Identity],
              slack: FakeSlack) -> Assistant:
    settings = BotSettings(slack_bot_token="xoxb-test", slack_signing_secret="s" * 32, list_limit=15)
    a = Assistant(sl, settings, IdentityResolver.__new__(IdentityResolver))
    a.subscriptions = store  # type: ignore[attr-defined]  # what bot.commands.manage_actions.store_of reads
    a.channels = ChannelCheck(WebClient(token="xoxb-test", base_url=slack.api_url),  # type: ignore[attr-defined]
                              resolver(people))
    return a


@dataclass
class Ctx:
    """The assistant with a given freshness (stale, or the real one)."""

    inner: Assistant
    fresh: Freshness | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def freshness(self) -> Freshness:
        return self.fresh or self.inner.freshness()


def resolver(people: dict[str, Identity], gone: frozenset[str] = frozenset()) -> Callable[[str], Identity]:
    """The people by user id; anyone else (or `gone`) is unknown, as the resolver sees a deactivated account."""
    def resolve(user_id: str) -> Identity:
        found = next((p for p in people.values() if p.user_id == user_id), None)
        return Identity(user_id, frozenset()) if found is None or user_id in gone else found

    return resolve


def engine(ctx: Any, people: dict[str, Identity], state_store: Any, slack: FakeSlack,
           gone: frozenset[str] = frozenset()) -> Deliveries:
    return Deliveries(ctx, resolver(people, gone), state_store.subscriptions, state_store.post_ledger,
                      WebClient(token="xoxb-test", base_url=slack.api_url), pace_seconds=0)


def posts(slack: FakeSlack) -> list[dict[str, Any]]:
    return [c.params for c in slack.calls_to("chat.postMessage")]


def valid(blocks: list[dict[str, Any]]) -> None:
    for raw in blocks:
        block = Block.parse(raw)
        assert block is not None
        block.validate_json()


def daily_counts(chain: Chain) -> dict[date, int]:
    return dict(query(chain.warehouse, "select booked_date, count(*) from analytics.fct_transactions group by 1"))


# --- commands ----------------------------------------------------------------------------------------------------
def test_alert_commands_parse_into_typed_items(assistant: Assistant, people: dict[str, Identity],
                                               store: SubscriptionStore) -> None:
    director, customer = people["director"], people["customer"]
    a = assistant.answer_for(director, "alert revenue daily below 1000").data
    b = assistant.answer_for(director, "alert transaction_volume weekly change below -10%").data
    c = assistant.answer_for(customer, "alert balance below 100").data
    d = assistant.answer_for(
        director, "alert Transactions where type=card_payment monthly above 1,500 to <#C0CHAN|kpis>").data
    assert (a.kind, a.cadence, a.condition, a.target) == ("alert", "daily", "below:1000", None)
    assert a.metric_query.metrics == ("revenue",) and a.metric_query.grain is Grain.DAY
    assert (b.cadence, b.condition) == ("weekly", "change_below:-10%")
    assert c.owner_user_id == "UCUST" and c.metric_query.metrics == ("balance",) and c.condition == "below:100"
    assert d.metric_query.metrics == ("transaction_count",) and d.target == "C0CHAN" and d.condition == "above:1500"
    assert [f.dimension for f in d.metric_query.filters] == ["type"]
    assert [i.id for i in store.mine("UDIR", "alert")] == [a.id, b.id, d.id]
    listing = assistant.answer_for(director, "alerts")
    valid(listing.blocks)
    shown = json.dumps(listing.blocks)
    assert f"*#{a.id}* revenue daily below 1,000" in shown and "<#C0CHAN>" in shown and f"#{c.id}*" not in shown


@pytest.mark.parametrize(("who", "text", "error", "match"), [
    ("customer", "alert customers below 5", AccessRefusedError, "not available to you"),
    ("customer", "alert balance below 100 to <#C0CHAN>", InvalidInputError, "only come to your DMs"),
    ("advisor", "alert transaction_volume where customer=1 below 100 to C0CHAN", InvalidInputError, "DMs"),
    ("director", "alert revenue by tier daily below 5", InvalidInputError, "one metric's total"),
    ("director", "alert revenue daily below lots", InvalidInputError, "Usage"),
    ("director", "alert revenue below 5%", InvalidInputError, "previous period"),
    ("director", "alert revenue below 5 to #general", InvalidInputError, "autocomplete"),
    ("director", "subscribe revenue by customer monthly", AccessRefusedError, "cannot group"),
    ("customer", "subscribe transaction_volume monthly weekly to C0CHAN", InvalidInputError, "customer-level"),
    ("director", "subscribe revenue hourly", InvalidInputError, "Usage"),
])
def test_refusals(assistant: Assistant, people: dict[str, Identity], store: SubscriptionStore, who: str, text: str,
                  error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        assistant.answer_for(people[who], text)
    assert store.active() == []


def test_only_the_owner_pauses_resumes_and_deletes(assistant: Assistant, people: dict[str, Identity],
                                                   store: SubscriptionStore) -> None:
    sub = assistant.answer_for(people["director"], "subscribe revenue by tier monthly last 6 months weekly").data
    assert (sub.kind, sub.cadence) == ("subscription", "weekly")
    assert sub.metric_query.grain is Grain.MONTH and sub.metric_query.group_by == ("tier",)
    with pytest.raises(InvalidInputError, match="no subscription"):
        assistant.answer_for(people["director2"], f"subscriptions pause {sub.id}")
    with pytest.raises(InvalidInputError, match="no alert"):  # the wrong kind is not found either
        assistant.answer_for(people["director"], f"alerts delete {sub.id}")
    assert assistant.answer_for(people["director"], f"subscriptions pause {sub.id}").data.paused
    assert store.active() == []
    resumed = button(assistant, people["director"], "ffm.resume", f"subscription:{sub.id}")  # a Home button
    assert not resumed.data.paused
    for value in (f"subscription:{sub.id};drop", "alert:x", f"subscription:{sub.id}|1"):
        with pytest.raises(InvalidInputError):
            button(assistant, people["director"], "ffm.delete", value)
    with pytest.raises(InvalidInputError):
        button(assistant, people["director2"], "ffm.delete", f"subscription:{sub.id}")
    button(assistant, people["director"], "ffm.delete", f"subscription:{sub.id}")
    assert store.mine("UDIR") == []


# --- the engine ----------------------------------------------------------------------------------------------
def test_buckets_and_periods() -> None:
    assert alert_buckets(Grain.DAY, date(2026, 3, 1)) == (date(2026, 3, 1), date(2026, 2, 28))
    assert alert_buckets(Grain.WEEK, date(2026, 2, 10)) == (date(2026, 2, 2), date(2026, 1, 26))  # a Tuesday
    assert alert_buckets(Grain.WEEK, date(2026, 2, 8)) == (date(2026, 2, 2), date(2026, 1, 26))  # a Sunday
    assert alert_buckets(Grain.MONTH, date(2026, 1, 31)) == (date(2026, 1, 1), date(2025, 12, 1))
    assert alert_buckets(Grain.MONTH, date(2026, 2, 10)) == (date(2026, 1, 1), date(2025, 12, 1))
    assert [period_key(c, date(2026, 12, 31)) for c in ("daily", "weekly", "monthly")] == [
        "2026-12-31", "2026-W53", "2026-12"]
    assert period_key("weekly", date(2027, 1, 1)) == "2026-W53"  # ISO week of a 1st of January


def test_an_alert_fires_once_per_crossing(assistant: Assistant, people: dict[str, Identity], state_store: Any,
                                          slack: FakeSlack, chain: Chain, monkeypatch: pytest.MonkeyPatch) -> None:
    counts = daily_counts(chain)
    days = [END_DATE - timedelta(days=n) for n in range(13, -1, -1)]
    threshold = sorted(counts.get(d, 0) for d in days)[7]  # about half the days are above
    item = assistant.answer_for(people["director"], f"alert transaction_count daily above {threshold}").data
    sl = assistant.sl
    run = engine(assistant, people, state_store, slack)
    expected, previous_met = [], None
    for day in days:  # one refresh per day: the data's as-of date moves
        monkeypatch.setattr(sl, "reporting_dates", lambda day=day: (day, None))
        run.run()
        met = counts.get(day, 0) > threshold
        if met and previous_met is not True:
            expected.append(day)
        previous_met = met
    fired = [p for p in posts(slack) if "Alert #" in p["text"]]
    assert len(fired) == len(expected) >= 2, (expected, [p["text"] for p in fired])
    for p, day in zip(fired, expected, strict=True):
        assert p["channel"] == "DUDIR"
        shown = json.dumps(p["blocks"])
        assert f"daily {day.isoformat()}" in shown and f"*{counts[day]:,}*" in shown and f"{threshold:,}" in shown
        valid(p["blocks"])
        [why] = [e for b in p["blocks"] if b["type"] == "actions" for e in b["elements"]]  # an additive metric
        ButtonElement(**why).validate_json()
        assert why["action_id"] == "ffq.why.0" and verb_of(why["action_id"]) == "why"
        assert decode_why(why["value"]) == ("transaction_count", Month.of(day))
        assert "/finefin why" not in shown  # the button, not the typed hint
    assert state_store.subscriptions.get(item.id).last_state == ("met" if previous_met else "clear")


def test_a_change_alert_and_a_customers_own_balance(assistant: Assistant, people: dict[str, Identity],
                                                    state_store: Any, slack: FakeSlack, chain: Chain) -> None:
    counts = daily_counts(chain)
    change = (counts.get(END_DATE, 0) - counts.get(END_DATE - timedelta(days=1), 0))
    director, customer = people["director"], people["customer"]
    assistant.answer_for(director, f"alert transaction_count daily change below {change + 1}")  # fires
    assistant.answer_for(director, f"alert transaction_count daily change above {change + 1}")  # does not
    own = assistant.answer_for(customer, "alert balance below 1000000000").data  # their balance is below: fires
    report = engine(assistant, people, state_store, slack).run()
    assert report.queries_run == 2 and report.evaluated == 3  # the two director alerts share one query
    fired = {p["channel"]: p for p in posts(slack)}
    assert set(fired) == {"DUDIR", "DUCUST"} and len(posts(slack)) == 2
    assert f"changed by *{change:+,}*" in json.dumps(fired["DUDIR"]["blocks"])
    (balance,) = query(chain.warehouse, "select sum(b.balance) from analytics.fct_account_balances_daily b join "
                       "analytics.dim_accounts a using (account_id) where a.customer_id = ? and b.balance_date = ?",
                       [customer.customer.customer_id.value, END_DATE])[0]  # type: ignore[union-attr]
    assert own.metric_query.metrics == ("balance",)
    assert f"{balance:,.2f} EUR" in json.dumps(fired["DUCUST"]["blocks"], ensure_ascii=False)
    assert "your accounts only" in json.dumps(fired["DUCUST"]["blocks"])


def test_subscriptions_once_per_period_across_retries(assistant: Assistant, people: dict[str, Identity],
                                                      state_store: Any, slack: FakeSlack) -> None:
    director = people["director"]
    weekly = assistant.answer_for(director, "subscribe revenue by tier monthly last 6 months weekly").data
    same = assistant.answer_for(people["director2"], "subscribe revenue by tier monthly last 6 months daily").data
    channel = assistant.answer_for(director, "subscribe transaction_count monthly to <#C0KPI|kpi>").data
    run = engine(assistant, people, state_store, slack)
    first = run.run()
    assert first.queries_run == 2 and sorted(first.delivered) == sorted([
        f"subscription #{weekly.id} 2026-W07", f"subscription #{same.id} 2026-02-10",
        f"subscription #{channel.id} 2026-02"])
    assert sorted(p["channel"] for p in posts(slack)) == ["C0KPI", "DUDIR", "DUDIR2"]
    for p in posts(slack):
        valid(p["blocks"])
    dm = next(p for p in posts(slack) if p["channel"] == "DUDIR")
    assert "by tier" in json.dumps(dm["blocks"]) and f"Subscription #{weekly.id}" in dm["text"]
    again = run.run()  # the next refresh in the same periods: nothing
    assert again.delivered == [] and again.queries_run == 0 and len(posts(slack)) == 3
    # a retried task that crashed after posting but before recording the period: the ledger holds the key
    state_store.subscriptions.record(weekly.id, last_period=None)
    retry = run.run()
    assert retry.delivered == [] and any("already delivered" in s for s in retry.skipped)
    assert len(posts(slack)) == 3


def test_a_failed_post_is_retried_and_reported(assistant: Assistant, people: dict[str, Identity], state_store: Any,
                                               slack: FakeSlack) -> None:
    assistant.answer_for(people["director"], "subscribe revenue monthly daily")
    slack.error_for("chat.postMessage", "channel_not_found")
    with pytest.raises(DeliveryFailedError, match="channel_not_found"):
        engine(assistant, people, state_store, slack).run()
    slack.reset()
    assert len(engine(assistant, people, state_store, slack).run().delivered) == 1  # the retry delivers it
    assert len(posts(slack)) == 1


def test_a_channel_never_gets_customer_level_data(assistant: Assistant, people: dict[str, Identity],
                                                  state_store: Any, slack: FakeSlack) -> None:
    advisor = people["advisor"]
    item = assistant.answer_for(advisor, "subscribe transaction_volume by customer monthly last month daily").data
    # as if it had been set to a channel (an older release, or an admin's edit): refused at delivery time
    with state_store.engine.begin() as conn:
        conn.execute(text("UPDATE subscriptions SET target = 'C0ALL' WHERE id = :i"), {"i": item.id})
    run = engine(assistant, people, state_store, slack)
    report = run.run()
    assert report.delivered == [] and len(report.refused) == 1
    assert [p["channel"] for p in posts(slack)] == ["DUADV"]
    assert "customer-level data" in posts(slack)[0]["text"]
    run.run()
    assert len(posts(slack)) == 1  # told once per period


def test_stale_data_holds_everything_and_the_owner_is_told_once(assistant: Assistant, people: dict[str, Identity],
                                                                state_store: Any, slack: FakeSlack) -> None:
    assistant.answer_for(people["director"], "alert transaction_count daily above 0")
    assistant.answer_for(people["director"], "subscribe revenue monthly daily")
    checked = datetime(2026, 2, 11, 6, tzinfo=UTC)
    stale = Ctx(assistant, Freshness(checked - timedelta(days=3), checked, timedelta(hours=26)))
    for _ in range(2):
        report = engine(stale, people, state_store, slack).run()
        assert len(report.held) == 2 and report.evaluated == 0
    assert len(posts(slack)) == 1 and posts(slack)[0]["channel"] == "DUDIR" and "on hold" in posts(slack)[0]["text"]
    report = engine(Ctx(assistant), people, state_store, slack).run()  # fresh again: evaluated
    assert report.evaluated == 2 and len(posts(slack)) == 3
    assert not any(i.stale_notified for i in state_store.subscriptions.active())


def test_a_deactivated_owners_items_are_disabled(assistant: Assistant, people: dict[str, Identity],
                                                 state_store: Any, slack: FakeSlack) -> None:
    gone = assistant.answer_for(people["director2"], "subscribe revenue monthly daily").data
    kept = assistant.answer_for(people["director"], "subscribe revenue monthly daily").data
    report = engine(assistant, people, state_store, slack, gone=frozenset({"UDIR2"})).run()
    assert report.disabled == ["UDIR2: 1"] and report.delivered == [f"subscription #{kept.id} 2026-02-10"]
    item: Item | None = state_store.subscriptions.get(gone.id)
    assert item is not None and not item.active and "deactivated" in (item.disabled_reason or "")
    assert [p["channel"] for p in posts(slack)] == ["DUDIR"]


def test_a_decimal_threshold_is_kept_exactly(assistant: Assistant, people: dict[str, Identity]) -> None:
    item = assistant.answer_for(people["director"], "alert revenue daily below 1000.50").data
    assert item.alert_condition.threshold == Decimal("1000.50")


def test_alerts_firing_together_come_in_one_message_per_channel(assistant: Assistant, people: dict[str, Identity],
                                                                state_store: Any, slack: FakeSlack) -> None:
    """Slack allows one message per second per channel: an owner's alerts that fire together are one message."""
    ids = [assistant.answer_for(people["director"], f"alert {metric} daily above -1").data.id
           for metric in ("transaction_count", "transaction_volume", "revenue")]
    other = assistant.answer_for(people["director2"], "alert transaction_count daily above -1").data.id
    report = engine(assistant, people, state_store, slack).run()
    assert sorted(report.fired) == sorted(f"alert #{i}" for i in [*ids, other]) and report.queries_run == 3
    by_channel = {p["channel"]: p for p in posts(slack)}
    assert len(posts(slack)) == 2 and set(by_channel) == {"DUDIR", "DUDIR2"}
    together = by_channel["DUDIR"]
    assert together["text"].startswith("3 alerts: ")
    valid(together["blocks"])
    shown = json.dumps(together["blocks"])
    assert all(f"*Alert #{i}*" in shown for i in ids) and shown.count("Data as of") == 1
    assert all(state_store.subscriptions.get(i).last_state == "met" for i in ids)


def test_a_channel_that_refuses_the_bot_is_reported_to_the_owner(assistant: Assistant,
                                                                  people: dict[str, Identity], state_store: Any,
                                                                  slack: FakeSlack) -> None:
    """not_in_channel / channel_not_found / is_archived: a retry cannot help, so the owner is told (once) instead of
    the task failing on every refresh; other errors fail the run (test_a_failed_post_is_retried_and_reported)."""
    from slack_sdk.errors import SlackApiError

    item = assistant.answer_for(people["director"], "subscribe revenue monthly daily to <#C0GONE|old>").data
    run = engine(assistant, people, state_store, slack)
    post = run.client.chat_postMessage

    def refusing(**kwargs: Any) -> Any:
        if kwargs["channel"] == "C0GONE":
            raise SlackApiError("not_in_channel", {"ok": False, "error": "not_in_channel"})  # type: ignore[arg-type]
        return post(**kwargs)

    run.client.chat_postMessage = refusing  # type: ignore[method-assign]
    report = run.run()
    assert report.failed == [] and report.delivered == [] and len(report.refused) == 1
    assert [p["channel"] for p in posts(slack)] == ["DUDIR"]
    assert "not_in_channel" in posts(slack)[0]["text"] and "invite me" in posts(slack)[0]["text"]
    assert state_store.subscriptions.get(item.id).last_period == "2026-02-10"  # not retried on every refresh
    run.run()
    assert len(posts(slack)) == 1


def test_an_owner_who_cannot_be_resolved_now_waits_for_the_retry(assistant: Assistant,
                                                                  people: dict[str, Identity], state_store: Any,
                                                                  slack: FakeSlack) -> None:
    waiting = assistant.answer_for(people["director2"], "subscribe revenue monthly daily").data
    assistant.answer_for(people["director"], "subscribe revenue monthly daily")
    run = engine(assistant, people, state_store, slack)
    resolve = run.resolve

    def flaky(user_id: str) -> Identity:
        if user_id == "UDIR2":
            raise TimeoutError("users.info timed out")
        return resolve(user_id)

    run.resolve = flaky  # type: ignore[method-assign]
    with pytest.raises(DeliveryFailedError, match="UDIR2 not resolved"):
        run.run()
    assert [p["channel"] for p in posts(slack)] == ["DUDIR"]  # the others are delivered
    assert state_store.subscriptions.get(waiting.id).active  # not disabled: it was not deactivated
    assert engine(assistant, people, state_store, slack).run().delivered == [f"subscription #{waiting.id} 2026-02-10"]


def test_each_run_republishes_the_home_of_recent_viewers(assistant: Assistant, people: dict[str, Identity],
                                                         state_store: Any, slack: FakeSlack,
                                                         store: SubscriptionStore) -> None:
    """After each publish (fresh or stale) the Home tab of each user who opened it in the last
    FINEFIN_HOME_REFRESH_DAYS days is re-published, as that user sees it now; an older viewer is not."""
    alert = assistant.answer_for(people["director"], "alert transaction_count daily above -1").data
    store.home_opened("UDIR")
    store.home_opened("UCUST")
    store.home_opened("UADV")
    with state_store.engine.begin() as conn:
        conn.execute(text("UPDATE home_opens SET opened_at = now() - interval '30 days' WHERE user_id = 'UADV'"))
    report = engine(assistant, people, state_store, slack).run()
    assert sorted(report.homes) == ["UCUST", "UDIR"] and report.homes_failed == []
    views = {c.params["user_id"]: c.params["view"] for c in slack.calls_to("views.publish")}
    assert set(views) == {"UCUST", "UDIR"}
    director = json.loads(views["UDIR"]) if isinstance(views["UDIR"], str) else views["UDIR"]
    customer = json.loads(views["UCUST"]) if isinstance(views["UCUST"], str) else views["UCUST"]
    for view in (director, customer):
        assert view["type"] == "home"
        valid(view["blocks"])
    assert f"*#{alert.id}*" in json.dumps(director) and "Revenue: *" in json.dumps(director)
    assert "Your balance: " in json.dumps(customer) and f"*#{alert.id}*" not in json.dumps(customer)
    checked = datetime(2026, 2, 11, 6, tzinfo=UTC)
    stale = Ctx(assistant, Freshness(checked - timedelta(days=3), checked, timedelta(hours=26)))
    assert sorted(engine(stale, people, state_store, slack).run().homes) == ["UCUST", "UDIR"]  # held, still shown
    assistant.settings.home_refresh_days = 0
    try:
        assert engine(assistant, people, state_store, slack).run().homes == []
    finally:
        assistant.settings.home_refresh_days = 7


# --- event alerts --------------------------------------------------------------------------------------------
def test_an_advisors_watchlist_alert_fires_once_per_customer_entering(
        assistant: Assistant, people: dict[str, Identity], state_store: Any, slack: FakeSlack,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`alert watchlist`: what is on the watchlist when it is set is its baseline; a customer who enters after is
    told once, with the reasons; one who leaves and enters again is told again."""
    sl = assistant.sl
    real = sl.watchlist(None)
    newcomer = real.entries[0].customer_id
    without = replace(real, entries=tuple(e for e in real.entries if e.customer_id != newcomer))
    assert len(without.entries) >= 1 and len(without.entries) < len(real.entries)
    monkeypatch.setattr(sl, "watchlist", lambda month=None: without)
    item = assistant.answer_for(people["advisor"], "alert watchlist").data
    assert item.is_event and item.target is None and item.members and "watchlist" in describe(item)
    run = engine(assistant, people, state_store, slack)
    assert run.run().fired == []  # nobody new since it was set
    monkeypatch.setattr(sl, "watchlist", lambda month=None: real)  # the newcomer enters
    report = run.run()
    assert report.fired == [f"alert #{item.id}"] and report.queries_run == 1
    (post,) = posts(slack)
    assert post["channel"] == "DUADV" and "1 customer entered the watchlist" in post["text"]
    valid(post["blocks"])
    shown = json.dumps(post["blocks"], ensure_ascii=False)
    mine = [e for e in real.entries if e.customer_id == newcomer]
    for e in mine:
        assert f"(#{newcomer})" in shown and REASON_LABELS.get(e.reason, e.reason) in shown
        assert money(e.value) in shown
    assert all(f"(#{e.customer_id})" not in shown for e in without.entries if e.customer_id != newcomer)
    run.run()
    assert len(posts(slack)) == 1  # still on it: once per entering
    monkeypatch.setattr(sl, "watchlist", lambda month=None: without)  # leaves ...
    run.run()
    monkeypatch.setattr(sl, "watchlist", lambda month=None: real)  # ... and enters again
    run.run()
    assert len(posts(slack)) == 2 and f"(#{newcomer})" in json.dumps(posts(slack)[1]["blocks"])


def test_an_advisors_red_streak_alert(assistant: Assistant, people: dict[str, Identity], state_store: Any,
                                      slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    sl = assistant.sl
    real = sl.watchlist(None)
    months = real.min_red_months
    assert real.red_streaks, "the test data has customers in the red"
    newcomer = max(real.red_streaks, key=lambda r: r.months)
    without = replace(real, red_streaks=tuple(r for r in real.red_streaks if r != newcomer))
    with pytest.raises(InvalidInputError, match=f"starts at {months} months"):
        assistant.answer_for(people["advisor"], f"alert red streak {months - 1}")
    monkeypatch.setattr(sl, "watchlist", lambda month=None: without)
    item = assistant.answer_for(people["advisor"], f"alert red streak {months} months").data
    assert item.condition == f"red_streak:{months}"
    monkeypatch.setattr(sl, "watchlist", lambda month=None: real)
    report = engine(assistant, people, state_store, slack).run()
    assert report.fired == [f"alert #{item.id}"]
    (post,) = posts(slack)
    shown = json.dumps(post["blocks"], ensure_ascii=False)
    assert f"reached {months} months in the red" in shown and f"(#{newcomer.customer_id})" in shown
    assert f"{newcomer.months} months in the red since {newcomer.since}" in shown
    assert engine(assistant, people, state_store, slack).run().fired == []


def test_a_customers_upcoming_debit_alert(assistant: Assistant, people: dict[str, Identity], state_store: Any,
                                          slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    """`alert upcoming debit over X in N days`: each scheduled debit over X on the customer's own accounts, once."""
    sl, customer = assistant.sl, people["customer"]
    cid = customer.customer.customer_id  # type: ignore[union-attr]
    real = sl.upcoming(cid, 30)
    debits = sorted((i for i in real.items if i.amount < 0), key=lambda i: i.amount)
    assert debits, "the busiest customer has a scheduled debit"
    amount = (-debits[-1].amount - Decimal("0.01")).quantize(Decimal("0.01"))  # every debit is over it
    first = debits[0]
    without = replace(real, items=tuple(i for i in real.items if i != first))
    monkeypatch.setattr(sl, "upcoming", lambda c, days=30: without)
    item = assistant.answer_for(customer, f"alert upcoming debit over {amount} in 30 days").data
    not_over = assistant.answer_for(customer, f"alert upcoming debit over {-first.amount} in 30 days").data
    assert item.condition == f"upcoming_debit:{amount}:30" and len(item.members) == len(debits) - 1
    monkeypatch.setattr(sl, "upcoming", lambda c, days=30: real)
    report = engine(assistant, people, state_store, slack).run()
    assert report.fired == [f"alert #{item.id}"] and not_over.members == frozenset()
    assert report.queries_run == 1  # one horizon of one customer: computed once for both alerts
    (post,) = posts(slack)
    assert post["channel"] == "DUCUST" and "1 debit over" in post["text"]
    shown = json.dumps(post["blocks"], ensure_ascii=False)
    assert f"{first.scheduled_for.isoformat()}" in shown and money(first.amount) in shown
    assert engine(assistant, people, state_store, slack).run().fired == []
    for who, asked, match in [("advisor", "alert upcoming debit over 500 in 7 days", "for customers"),
                             ("customer", "alert watchlist", "for advisors"),
                             ("advisor", "alert watchlist to <#C0ALL|all>", "only come to your DMs"),
                             ("customer", "alert upcoming debit over 500 in 99 days", "1 to 30 days")]:
        with pytest.raises(InvalidInputError, match=match):
            assistant.answer_for(people[who], asked)


def test_an_event_alert_whose_owner_lost_the_role_is_refused(assistant: Assistant, people: dict[str, Identity],
                                                             state_store: Any, slack: FakeSlack) -> None:
    item = assistant.answer_for(people["advisor"], "alert watchlist").data
    demoted = {**people, "advisor": Identity("UADV", frozenset({Role.DIRECTOR}))}
    report = engine(assistant, demoted, state_store, slack).run()
    assert report.fired == [] and report.refused == [f"alert #{item.id}: your role no longer allows this alert"]
    assert "no longer allows" in posts(slack)[0]["text"] and posts(slack)[0]["channel"] == "DUADV"


# --- `at HH:MM` and admins -------------------------------------------------------------------------------------
def test_a_subscription_at_a_time_is_due_once_per_period_from_that_time(
        assistant: Assistant, people: dict[str, Identity], state_store: Any, slack: FakeSlack) -> None:
    """`at 09:30` in FINEFIN_TIMEZONE (Europe/Paris here, UTC+1 in February): on the period's first day it waits
    until 09:30 local time; later in the period it is due at once; once per period either way. The data's as-of
    date is 2026-02-10, a Tuesday."""
    assistant.settings.timezone = "Europe/Paris"
    director = people["director"]
    daily = assistant.answer_for(director, "subscribe revenue monthly daily at 09:30").data
    weekly = assistant.answer_for(director, "subscribe transaction_count monthly weekly at 09:30").data
    plain = assistant.answer_for(director, "subscribe transaction_volume monthly daily").data
    alert = assistant.answer_for(director, "alert transaction_count daily above -1").data
    assert (daily.at_time, weekly.at_time, plain.at_time) == ("09:30", "09:30", None)
    assert describe(daily) == "revenue month daily at 09:30 to you (DM)"
    clock = [datetime(2026, 2, 10, 8, 0, tzinfo=UTC)]  # 09:00 in Paris

    def run(timed: bool = False) -> Any:
        return Deliveries(assistant, lambda u: next(p for p in people.values() if p.user_id == u),
                          state_store.subscriptions, state_store.post_ledger,
                          WebClient(token="xoxb-test", base_url=slack.api_url), pace_seconds=0,
                          now=lambda: clock[0]).run(timed)

    first = run(timed=True)  # a timetable run: only the `at` subscriptions are looked at
    assert first.delivered == [f"subscription #{weekly.id} 2026-W07"]  # its week began on Monday: caught up
    assert f"subscription #{daily.id}: due at 09:30 for 2026-02-10" in first.skipped
    assert first.fired == [] and first.evaluated == 1
    clock[0] = datetime(2026, 2, 10, 8, 30, tzinfo=UTC)  # 09:30 in Paris
    second = run()
    assert sorted(second.delivered) == sorted([f"subscription #{daily.id} 2026-02-10",
                                               f"subscription #{plain.id} 2026-02-10"])
    assert second.fired == [f"alert #{alert.id}"]
    clock[0] = datetime(2026, 2, 10, 22, 0, tzinfo=UTC)
    assert run(timed=True).delivered == [] and run().delivered == []
    assert sorted(p["text"].split(":")[0] for p in posts(slack)) == sorted([
        f"Subscription #{weekly.id}", f"Subscription #{daily.id}", f"Subscription #{plain.id}", f"Alert #{alert.id}"])
    for bad in ("daily at 25:00", "daily at 9h", "daily at 07:60"):
        with pytest.raises(InvalidInputError, match="HH:MM"):
            assistant.answer_for(director, f"subscribe revenue monthly {bad}")


def test_admins_list_pause_and_delete_anyones_items_audited(assistant: Assistant, people: dict[str, Identity],
                                                            state_store: Any, store: SubscriptionStore) -> None:
    from bot.state import AuditQuery

    assistant.settings.admin_users = ["UDIR2"]
    mine = assistant.answer_for(people["director"], "alert revenue daily below 1000").data
    theirs = assistant.answer_for(people["advisor"], "subscribe transaction_count monthly weekly").data
    with pytest.raises(InvalidInputError, match="Only the configured admins"):
        assistant.answer_for(people["director"], "alerts all")
    with pytest.raises(InvalidInputError, match="no subscription"):  # a non-admin: someone else's is not found
        assistant.answer_for(people["director"], f"subscriptions pause {theirs.id}")
    listing = assistant.answer_for(people["director2"], "alerts all")
    valid(listing.blocks)
    shown = json.dumps(listing.blocks)
    assert f"*#{mine.id}*" in shown and "owner <@UDIR>" in shown and f"#{theirs.id}*" not in shown
    of_advisor = json.dumps(assistant.answer_for(people["director2"], "subscriptions <@UADV|adv>").blocks)
    assert f"*#{theirs.id}*" in of_advisor and "owner <@UADV>" in of_advisor
    paused = assistant.answer_for(people["director2"], f"alerts pause {mine.id}")
    assert paused.data.paused and "owner <@UDIR>" in paused.text
    assert button(assistant, people["director2"], "ffm.delete", f"subscription:{theirs.id}").data.id == theirs.id
    assert store.get(theirs.id) is None and store.get(mine.id).paused  # type: ignore[union-attr]
    audit = [r.command for r in state_store.audit.rows(AuditQuery(user_id="UDIR2"))]
    assert f"alert #{mine.id} paused by admin UDIR2 (owner UDIR)" in audit
    assert f"subscription #{theirs.id} deleted by admin UDIR2 (owner UADV)" in audit


# --- a channel only when every member may see the answer ---------------------------------------------------------
def test_a_channel_is_refused_unless_every_member_may_see_the_answer(
        assistant: Assistant, people: dict[str, Identity], slack: FakeSlack, store: SubscriptionStore) -> None:
    director = people["director"]
    slack.channels["C0MIX"] = ["UDIR", "UCUST", "UBOT"]
    slack.channels["C0ODD"] = ["UDIR", "UNOBODY"]
    slack.channels["C0BIG"] = [f"U{n:05d}" for n in range(1001)]
    for channel, match in [("C0MIX", "<@UCUST> in <#C0MIX> is a customer"),
                           ("C0ODD", "<@UNOBODY> in <#C0ODD> is not someone I may show data to"),
                           ("C0BIG", "more than 1,000 members"),
                           ("C0NONE", "cannot read who is in <#C0NONE> \\(channel_not_found\\)")]:
        with pytest.raises(ChannelRefused, match=match):
            assistant.answer_for(director, f"subscribe revenue monthly daily to <#{channel}|x>")
        with pytest.raises(ChannelRefused, match="Everyone in the channel must be allowed"):
            assistant.answer_for(director, f"alert revenue daily below 5 to <#{channel}>")
    assert store.active() == []
    assistant.resolver = SimpleNamespace(resolve=resolver(people))  # type: ignore[assignment]
    refused = assistant.answer(director.user_id, "subscribe revenue monthly daily to <#C0MIX|x>")
    assert not refused.ok and "<@UCUST>" in refused.text  # shown as mentions, not escaped
    ok = assistant.answer_for(director, "subscribe revenue monthly daily to <#C0KPI|kpi>").data
    assert ok.target == "C0KPI"
    pages = [c.params for c in slack.calls_to("conversations.members") if c.params["channel"] == "C0BIG"]
    assert len(pages) == 6  # read page by page (200 a page), stopped once over the limit


def test_a_customer_who_joined_the_channel_later_stops_the_post(assistant: Assistant, people: dict[str, Identity],
                                                                state_store: Any, slack: FakeSlack) -> None:
    """Re-checked at each delivery: the channel gets nothing once a customer is in it, the owner is told (once per
    period) which member stops it; when they leave, the next period is delivered."""
    item = assistant.answer_for(people["director"], "subscribe revenue monthly daily to <#C0KPI|kpi>").data
    slack.channels["C0KPI"].append("UCUST")
    run = engine(assistant, people, state_store, slack)
    report = run.run()
    assert report.delivered == [] and report.refused == [
        f"subscription #{item.id}: <@UCUST> in <#C0KPI> is a customer, who may see only their own accounts"]
    assert [p["channel"] for p in posts(slack)] == ["DUDIR"]
    assert "<@UCUST> in <#C0KPI> is a customer" in json.dumps(posts(slack)[0]["blocks"])  # mentions in the blocks
    run.run()
    assert len(posts(slack)) == 1  # told once for the period
    slack.channels["C0KPI"].remove("UCUST")
    assert engine(assistant, people, state_store, slack).run().delivered == [f"subscription #{item.id} 2026-02-10"]
    assert [p["channel"] for p in posts(slack)] == ["DUDIR", "C0KPI"]


class FailingFor(WebClient):
    """A Slack client whose posts to some channels fail (the other channels are served by the fake Slack)."""

    def __init__(self, slack: FakeSlack, failing: set[str]) -> None:
        super().__init__(token="xoxb-test", base_url=slack.api_url)
        self.failing = failing

    def chat_postMessage(self, **kwargs: Any) -> Any:  # slack_sdk's name
        if kwargs.get("channel") in self.failing:
            raise SlackApiError("internal_error", {"ok": False, "error": "internal_error"})
        return super().chat_postMessage(**kwargs)


def test_posts_claimed_together_on_threads_one_channel_in_order_a_failed_one_released(
        assistant: Assistant, people: dict[str, Identity], state_store: Any, slack: FakeSlack,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The run's keys are claimed in one statement; channels are posted to concurrently, one channel's messages in
    order and paced; a post that fails among the others is released, and the next run posts it (only it)."""
    kpi = [assistant.answer_for(people["director"], f"alert transaction_count daily above -{n} to <#C0KPI|kpi>"
                                ).data.id for n in range(1, 13)]  # 12 alerts: 2 messages (10 + 2) to C0KPI
    mine = assistant.answer_for(people["director"], "alert revenue daily above -1").data.id
    theirs = assistant.answer_for(people["director2"], "alert transaction_volume daily above -1").data.id
    claims: list[int] = []
    claim_many = type(state_store.post_ledger).claim_many
    monkeypatch.setattr(type(state_store.post_ledger), "claim_many",
                        lambda self, keys: claims.append(len(keys)) or claim_many(self, keys))
    run = Deliveries(assistant, resolver(people), state_store.subscriptions, state_store.post_ledger,
                     FailingFor(slack, {"DUDIR2"}), pace_seconds=0.3, workers=4)
    with pytest.raises(DeliveryFailedError, match="internal_error") as failed:
        run.run()
    assert claims == [14]  # every key of the run in one statement
    assert sorted(failed.value.report.fired) == sorted(f"alert #{i}" for i in [*kpi, mine])
    to_kpi = [c for c in slack.calls_to("chat.postMessage") if c.params["channel"] == "C0KPI"]
    assert [c.params["text"].split(":")[0] for c in to_kpi] == ["10 alerts", "2 alerts"]
    shown = [json.dumps(c.params["blocks"]) for c in to_kpi]
    assert all(f"*Alert #{i}*" in shown[0] for i in kpi[:10]) and all(f"*Alert #{i}*" in shown[1] for i in kpi[10:])
    assert to_kpi[1].at - to_kpi[0].at >= 0.29  # one channel: spaced by pace_seconds
    assert {c.params["channel"] for c in slack.calls_to("chat.postMessage")} == {"C0KPI", "DUDIR"}
    ledger = state_store.post_ledger
    keys = {i: f"alert:{i}:{END_DATE.isoformat()}" for i in [*kpi, mine, theirs]}
    assert all(ledger.is_done(keys[i]) for i in [*kpi, mine]) and not ledger.is_done(keys[theirs])
    slack.reset()
    again = engine(assistant, people, state_store, slack).run()  # the next run: the released one, only
    assert again.fired == [f"alert #{theirs}"]
    assert [c.params["channel"] for c in slack.calls_to("chat.postMessage")] == ["DUDIR2"]
    assert ledger.is_done(keys[theirs])
