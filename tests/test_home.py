"""The App Home per role (bot/home.py) on the semantic layer double and the state database: valid Block Kit (slack_sdk
models) for each role, the role's figures, the user's own alerts/subscriptions with buttons that work through
`manage_actions.handle`, a failing part that does not take the others down, and escaping of data."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from slack_sdk.models.views import View
from sqlalchemy import text

from bot.access import Identity, Role
from bot.assistant import UNKNOWN_USER, Assistant
from bot.blocks import REASON_LABELS, pct, signed
from bot.commands.manage_actions import handle
from bot.home import MAX_HOME_BLOCKS, home_blocks, sparkline, trend_line
from bot.identity import IdentityResolver
from bot.money import money
from bot.state.subscriptions import Condition, SubscriptionStore
from semantic_layer.catalog import Grain
from semantic_layer.inputs import CustomerId
from semantic_layer.query import MetricQuery
from tests.bot_support import People, settings_for

pytest_plugins = ["tests.bot_support"]


@pytest.fixture()
def store(state_store: Any) -> SubscriptionStore:
    with state_store.engine.begin() as conn:
        conn.execute(text("TRUNCATE subscriptions"))
    return state_store.subscriptions  # type: ignore[no-any-return]


@pytest.fixture()
def assistant(semantic_layer_impl: Any, people: People, store: SubscriptionStore) -> Assistant:
    settings = settings_for(people, advisor_assignments={people.advisor: [1, 3]})
    a = Assistant(semantic_layer_impl, settings, IdentityResolver.__new__(IdentityResolver))
    a.subscriptions = store  # type: ignore[attr-defined]
    return a


def identity(sl: Any, people: People, role: str) -> Identity:
    if role == "customer":
        return Identity(people.customer, frozenset({Role.CUSTOMER}), sl.customer(CustomerId(people.customer_id)))
    if role == "unknown":
        return Identity(people.unknown, frozenset())
    return Identity(getattr(people, role), frozenset({Role(role)}))


def view_of(blocks: list[dict[str, Any]]) -> str:
    """Validate as a Home view with slack_sdk's models; return its JSON."""
    assert len(blocks) <= MAX_HOME_BLOCKS
    view = View(type="home", blocks=blocks)
    view.validate_json()
    return json.dumps(view.to_dict(), ensure_ascii=False)


@pytest.mark.parametrize("role", ["customer", "advisor", "director", "unknown"])
def test_each_roles_home_is_valid_block_kit(assistant: Assistant, semantic_layer_impl: Any, people: People,
                                            role: str) -> None:
    shown = view_of(home_blocks(assistant, identity(semantic_layer_impl, people, role)))
    sl = semantic_layer_impl
    if role == "unknown":
        assert UNKNOWN_USER in shown and "Your alerts" not in shown
        return
    assert "Your alerts and subscriptions* (0)" in shown and "Data as of" in shown
    if role == "customer":
        balance = sl.balance(CustomerId(people.customer_id))
        upcoming = sl.upcoming(CustomerId(people.customer_id), 7)
        assert f"Your balance: {money(balance.total)}" in shown
        assert ("upcoming", (CustomerId(people.customer_id), 7)) in sl.calls  # the next 7 days
        for item in upcoming.items:
            assert money(item.amount) in shown
        if upcoming.items:
            assert f"Projected balance: *{money(upcoming.items[-1].projected_balance)}*" in shown
        assert "Watchlist" not in shown and "Revenue" not in shown
        assert buttons_of(shown) == {("ffh.statement", "last")}  # the last statement; the value names no one
    else:
        assert not any(action.startswith("ffh.") for action, _ in buttons_of(shown))  # staff: no statement button
    if role == "advisor":
        watchlist = sl.watchlist(None)
        for reason, n in Counter(e.reason for e in watchlist.entries).items():
            assert f"• {REASON_LABELS[reason]}: {n:,d}" in shown
        assert f"In the red {watchlist.min_red_months}+ months*: {len(watchlist.red_streaks)}" in shown
        assert "Your assigned customers: 2" in shown
        assert "Your balance" not in shown and "Revenue" not in shown
    if role == "director":
        growth = sl.monthly_growth(None, 2).current
        assert f"Revenue: *{money(growth.revenue)}* ({pct(growth.revenue_mom_pct)})" in shown
        assert f"New customers: *{growth.new_customers:,d}*" in shown
        assert "Watchlist" not in shown and "Your balance" not in shown and "#1" not in shown  # no customer named
        tiers = sl.customers_per_tier(None)
        assert f"Customers per tier {tiers.month}*" in shown and f"Total: *{tiers.total:,d}*" in shown
        for t in tiers.tiers:  # as `/finefin tiers` computes them: count and change
            assert f"• {t.tier}: *{t.customers:,d}* ({signed(t.change)})" in shown
        history = [f for f in sl.monthly_growth(None, 12).history if not f.is_month_to_date]
        assert f"Revenue, last {len(history)} months* ({history[0].month} → {history[-1].month})" in shown
        assert f"latest {money(history[-1].revenue)}" in shown and "Revenue, last" in shown


def buttons_of(shown: str) -> set[tuple[str, str]]:
    """(action_id, value) of every button in a view's JSON, bar the alerts' and subscriptions' `ffm.` ones."""
    blocks = json.loads(shown)["blocks"]
    return {(e["action_id"], e["value"]) for b in blocks if b["type"] == "actions" for e in b["elements"]
            if not e["action_id"].startswith("ffm.")}


def test_the_trend_is_a_sparkline_of_the_whole_months() -> None:
    assert sparkline([Decimal(10000), Decimal(11000), Decimal(12100), Decimal(13310)]) == "▁▃▅█"
    assert sparkline([Decimal(5), Decimal(5), Decimal(5)]) == "▅▅▅"
    assert sparkline([Decimal(3), Decimal(-1)]) == "█▁"
    assert trend_line([("2026-10", Decimal(1))]) is None  # one month is no trend
    line = trend_line([(f"2025-{m:02d}", Decimal(m)) for m in range(1, 13)] + [("2026-01", Decimal(20))])
    assert line is not None and "last 12 months* (2025-02 → 2026-01)" in line and "high 20.00" in line


def test_data_in_the_home_is_escaped(assistant: Assistant, semantic_layer_impl: Any, people: People) -> None:
    shown = view_of(home_blocks(assistant, identity(semantic_layer_impl, people, "advisor")))
    assert "Bob &lt;b&gt;Brown&lt;/b&gt;" in shown and "<b>" not in shown


def test_the_users_items_with_buttons_that_work(assistant: Assistant, semantic_layer_impl: Any, people: People,
                                                store: SubscriptionStore) -> None:
    director = identity(semantic_layer_impl, people, "director")
    alert = store.add(director.user_id, "alert", MetricQuery(("revenue",), grain=Grain.DAY), "daily",
                      condition=Condition("below", Decimal(1000)))
    sub = store.add(director.user_id, "subscription", MetricQuery(("revenue",), ("tier",), Grain.MONTH), "weekly",
                    target="C0KPI")
    store.add(people.advisor, "subscription", MetricQuery(("revenue",)), "daily")  # someone else's: not shown
    blocks = home_blocks(assistant, director)
    shown = view_of(blocks)
    assert "Your alerts and subscriptions* (2)" in shown and "<#C0KPI>" in shown
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        ("ffm.pause", f"alert:{alert.id}"), ("ffm.delete", f"alert:{alert.id}"),
        ("ffm.pause", f"subscription:{sub.id}"), ("ffm.delete", f"subscription:{sub.id}")]
    assert handle(assistant, director, buttons[0]["action_id"], buttons[0]["value"]).data.paused
    shown = view_of(home_blocks(assistant, director))
    assert '"action_id": "ffm.resume"' in shown and "_paused_" in shown
    handle(assistant, director, buttons[3]["action_id"], buttons[3]["value"])
    assert "Your alerts and subscriptions* (1)" in view_of(home_blocks(assistant, director))
    advisor = identity(semantic_layer_impl, people, "advisor")
    with pytest.raises(Exception, match="no alert"):  # a forged button value for someone else's item
        handle(assistant, advisor, "ffm.delete", f"alert:{alert.id}")


def test_a_failing_part_leaves_the_others(assistant: Assistant, semantic_layer_impl: Any, people: People,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("warehouse gone")

    monkeypatch.setattr(semantic_layer_impl, "watchlist", broken)
    both = Identity(people.advisor, frozenset({Role.ADVISOR, Role.DIRECTOR}))
    shown = view_of(home_blocks(assistant, both))
    assert "*Watchlist*\\n_unavailable right now_" in shown and "warehouse gone" not in shown
    assert "Revenue: *" in shown and "Your alerts and subscriptions* (0)" in shown


def test_the_answer_worker_computes_the_home_view(assistant: Assistant, semantic_layer_impl: Any, people: People,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """kind="home" jobs (app_home_opened) get the dashboard in the answer worker, no longer the help text."""
    from types import SimpleNamespace

    from bot import runtime_worker
    from bot.runtime_worker import AnswerJob, answer_job

    customer = identity(semantic_layer_impl, people, "customer")
    monkeypatch.setattr(assistant, "resolver", SimpleNamespace(resolve=lambda user_id: customer))
    monkeypatch.setattr(runtime_worker, "_assistant", assistant)
    answer = answer_job(AnswerJob("req-1", people.customer, "", kind="home"))
    assert answer.ok and answer.request_id == "req-1"
    assert "Your balance: " in view_of(answer.blocks)
    broken = SimpleNamespace(resolve=lambda user_id: (_ for _ in ()).throw(RuntimeError("directory down")))
    monkeypatch.setattr(assistant, "resolver", broken)
    failed = answer_job(AnswerJob("req-2", people.customer, "", kind="home"))
    assert not failed.ok and "req-2" in failed.text and "directory down" not in failed.text


def test_a_button_click_through_slack_changes_only_the_clickers_own_item(
        bolt_app: Any, fake_slack: Any, people: People, store: SubscriptionStore) -> None:
    """block_actions over Bolt (signed, acked, answered on the response_url): `ffm.*` reaches manage_actions.handle
    as the clicking user, re-resolved; a forged value for someone else's item is refused and changes nothing."""
    from tests.bot_support import action_body, dispatch

    alert = store.add(people.director, "alert", MetricQuery(("revenue",), grain=Grain.DAY), "daily",
                      condition=Condition("below", Decimal(1000)))
    forged, forged_path = action_body(fake_slack, people.advisor, "ffm.delete", f"alert:{alert.id}")
    body, path = action_body(fake_slack, people.director, "ffm.pause", f"alert:{alert.id}")
    for payload in (forged, body):
        assert dispatch(bolt_app, payload).status == 200
    fake_slack.wait_for(lambda f: {c.path for c in f.calls_to("response")} >= {path, forged_path})
    said = {c.path: c.params["text"] for c in fake_slack.calls_to("response")}
    assert f"Alert #{alert.id} paused" in said[path]
    assert "no alert" in said[forged_path]
    item = store.get(alert.id)
    assert item is not None and item.paused  # the owner's click counted, the forged delete did not


def home_click(user_id: str, action_id: str, value: str) -> str:
    """A click on a Home tab button, as Slack posts it: a `view` container, no response_url."""
    from urllib.parse import urlencode

    payload = {"type": "block_actions", "token": "legacy", "api_app_id": "A0001",
               "user": {"id": user_id, "username": user_id.lower(), "team_id": "T0001"},
               "team": {"id": "T0001", "domain": "finefin"},
               "container": {"type": "view", "view_id": "V0001"},
               "view": {"id": "V0001", "type": "home", "blocks": []},
               "trigger_id": f"home.{user_id}.{action_id}.{value}",
               "actions": [{"type": "button", "action_id": action_id, "block_id": f"ffm-{value}", "value": value,
                            "text": {"type": "plain_text", "text": "x"}, "action_ts": "1700000000.000200"}]}
    return urlencode({"payload": json.dumps(payload)})


def test_a_home_tab_click_republishes_the_clickers_home(bolt_app: Any, fake_slack: Any, people: People,
                                                        store: SubscriptionStore) -> None:
    """A button on the Home tab has no response_url: the clicker's Home is computed again (their item now paused,
    its button Resume) and published to them with the click's outcome on top; a forged click on someone else's
    item publishes the clicker's own Home with the refusal, and changes nothing."""
    from tests.bot_support import dispatch

    alert = store.add(people.director, "alert", MetricQuery(("revenue",), grain=Grain.DAY), "daily",
                      condition=Condition("below", Decimal(1000)))
    assert dispatch(bolt_app, home_click(people.director, "ffm.pause", f"alert:{alert.id}")).status == 200
    (call,) = fake_slack.wait_calls("views.publish", 1)
    assert call.params["user_id"] == people.director
    view = json.loads(call.params["view"]) if isinstance(call.params["view"], str) else call.params["view"]
    shown = view_of(view["blocks"])
    assert f"Alert #{alert.id} paused" in shown and '"action_id": "ffm.resume"' in shown and "_paused_" in shown
    assert not fake_slack.calls_to("response")
    assert dispatch(bolt_app, home_click(people.advisor, "ffm.delete", f"alert:{alert.id}")).status == 200
    calls = fake_slack.wait_calls("views.publish", 2)
    assert calls[1].params["user_id"] == people.advisor
    forged = json.dumps(calls[1].params["view"])
    assert "no alert" in forged and f"#{alert.id}*" not in forged
    assert store.get(alert.id) is not None and people.director in store.home_viewers(7)


def test_the_home_records_who_opened_it(assistant: Assistant, semantic_layer_impl: Any, people: People,
                                        store: SubscriptionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening the Home records the user (one row, time moves); only the last N days' viewers are kept."""
    from types import SimpleNamespace

    from bot.home import home_answer

    with store.engine.begin() as conn:
        conn.execute(text("TRUNCATE home_opens"))
    customer = identity(semantic_layer_impl, people, "customer")
    monkeypatch.setattr(assistant, "resolver", SimpleNamespace(resolve=lambda user_id: customer))
    for _ in range(2):
        assert home_answer(assistant, people.customer, "req-3").ok
    store.home_opened(people.advisor, "T0001")
    assert sorted(store.home_viewers(7)) == sorted([people.customer, people.advisor])
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE home_opens SET opened_at = now() - interval '8 days' WHERE user_id = :u"),
                     {"u": people.advisor})
    assert store.home_viewers(7) == [people.customer]
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM home_opens")).scalar_one() == 1  # the old row is gone


def test_a_deactivated_users_items_are_disabled_when_user_change_arrives(
        bolt_app: Any, fake_slack: Any, people: People, store: SubscriptionStore, state_store: Any) -> None:
    """The `user_change` event of a deactivated account disables that user's items at once (audited), not at the
    next delivery run; a profile change of an active user disables nothing."""
    import time

    from bot.state import AuditQuery
    from tests.bot_support import dispatch, event_body

    query = MetricQuery(("revenue",), grain=Grain.DAY)
    alert = store.add(people.director, "alert", query, "daily", condition=Condition("below", Decimal(1000)))
    sub = store.add(people.director, "subscription", query, "weekly")
    other = store.add(people.advisor, "subscription", query, "daily")
    active = dict(fake_slack.users[people.advisor], real_name="Renamed")
    assert dispatch(bolt_app, *event_body({"type": "user_change", "user": active}, "EvUC-home-1")).status == 200
    gone = dict(fake_slack.users[people.director], deleted=True)
    assert dispatch(bolt_app, *event_body({"type": "user_change", "user": gone}, "EvUC-home-2")).status == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and store.get(sub.id).active:  # type: ignore[union-attr]
        time.sleep(0.05)
    for item_id in (alert.id, sub.id):
        item = store.get(item_id)
        assert item is not None and not item.active and "deactivated" in (item.disabled_reason or "")
    assert store.get(other.id).active  # type: ignore[union-attr]
    audit = [r.command for r in state_store.audit.rows(AuditQuery(user_id=people.director))]
    assert any("2 subscriptions/alerts disabled" in c for c in audit)


def test_the_home_statement_button_sends_the_clickers_statement_to_their_dm(
        bolt_app: Any, http_server: str, fake_slack: Any, people: People, assistant: Assistant) -> None:
    """`ffh.statement` over signed HTTP from the Home tab: the clicker's last statement, PDF + CSV as
    `/finefin statement` makes them, reaches their DM; the Home is not re-published and no response_url is used."""
    from bot.commands import statement
    from tests.bot_support import post

    typed = statement.handle(assistant, identity(assistant.sl, people, "customer"), ())  # what the command sends
    assert len(typed.files) == 2
    assert post(http_server, home_click(people.customer, "ffh.statement", "last"))[0] == 200
    fake_slack.wait_calls("files.completeUploadExternal")
    uploaded = fake_slack.uploaded()
    assert set(uploaded) == {f.filename for f in typed.files}
    assert {n.rsplit(".", 1)[1] for n in uploaded} == {"pdf", "csv"}
    csv = next(f for f in typed.files if f.filename.endswith(".csv"))
    assert uploaded[csv.filename] == (csv.content if isinstance(csv.content, bytes) else csv.content.encode())
    assert uploaded[next(n for n in uploaded if n.endswith(".pdf"))].startswith(b"%PDF")
    assert [c.params["users"] for c in fake_slack.calls_to("conversations.open")] == [people.customer]  # their DM
    (complete,) = fake_slack.calls_to("files.completeUploadExternal")
    assert complete.params["channel_id"] == f"D{people.customer}"
    assert not fake_slack.calls_to("views.publish") and not fake_slack.calls_to("response")


@pytest.mark.parametrize(("who", "action_id", "value", "said"), [
    ("director", "ffh.statement", "last", "statements are a customer's own"),  # staff: not a customer
    ("advisor", "ffh.statement", "2026-10", "statements are a customer's own"),
    ("unknown", "ffh.statement", "last", "I don't recognise you"),
    ("customer", "ffh.statement", "2026-13", "not a valid month"),  # forged values
    ("customer", "ffh.statement", "last;7", "is not a month"),
    ("customer", "ffh.statement", "2999-01", "is not over yet"),
    ("customer", "ffh.statemen", "last", "Unknown action"),  # forged action ids
    ("customer", "ffh.statement.x", "last", "Unknown action"),
])
def test_a_forged_or_staff_statement_click_sends_nothing(bolt_app: Any, http_server: str, fake_slack: Any,
                                                         people: People, who: str, action_id: str, value: str,
                                                         said: str) -> None:
    """A refused click publishes the clicker's own Home with the refusal on top, and uploads nothing."""
    from tests.bot_support import post

    user = getattr(people, who)
    assert post(http_server, home_click(user, action_id, value))[0] == 200
    (call,) = fake_slack.wait_calls("views.publish", 1)
    assert call.params["user_id"] == user
    view = json.loads(call.params["view"]) if isinstance(call.params["view"], str) else call.params["view"]
    view_of(view["blocks"])  # valid Block Kit
    assert said in view["blocks"][1]["text"]["text"]  # the refusal, on top of the clicker's own Home
    assert not fake_slack.calls_to("files.getUploadURLExternal") and not fake_slack.calls_to("conversations.open")
    assert not fake_slack.uploaded()


def test_a_statement_click_for_a_given_month_is_the_clickers_own(assistant: Assistant, semantic_layer_impl: Any,
                                                                  people: People) -> None:
    """The value may name a whole month (validated as if typed); the customer is always the clicker."""
    from types import SimpleNamespace

    from semantic_layer.inputs import Month

    assistant.resolver = SimpleNamespace(resolve=lambda user_id: identity(semantic_layer_impl, people, "customer"))
    answer = assistant.act(people.customer, "ffh.statement", "2026-09")
    assert answer.ok and {f.filename.rsplit(".", 1)[1] for f in answer.files} == {"pdf", "csv"}
    assert ("statement", (CustomerId(people.customer_id), Month(2026, 9))) in semantic_layer_impl.calls
    assert not [c for c in semantic_layer_impl.calls if c[0] == "statement" and c[1][0].value != people.customer_id]
