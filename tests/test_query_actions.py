"""Buttons on metric and why answers (issue 14 item 5): signed `block_actions` clicks over real HTTP into the Bolt
app on the query warehouse, answers captured at the fake Slack (response_url posts, uploads, chat.postMessage).

A click gives the same figures as typing the equivalent command; tampered button payloads (another customer,
a forbidden dimension or metric, a forged action id, a garbled value, a staff-only share clicked by a customer) get a
polite refusal and nothing reaches the warehouse (the query service's reads are spied on).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.access import Identity, Role
from bot.assistant import Assistant
from bot.commands import lookup_action
from bot.commands.context import principal_of
from bot.commands.query_buttons import (
    ActionValueError,
    QueryView,
    decode,
    decode_why,
    encode,
    encode_why,
    shifted,
)
from bot.runtime_worker import AnswerJob, run_job
from bot.settings import BotSettings
from semantic_layer.catalog import Grain
from semantic_layer.inputs import CustomerId, Month
from semantic_layer.query import DimensionFilter, MetricQuery, Order, Period, PeriodKind
from semantic_layer.query_service import QueryService
from semantic_layer.service import MetricFlowSemanticLayer
from tests.bot_support import People, action_body, ask_slack, sign
from tests.bot_support import post as http_post
from tests.dbt_chain import END_DATE, Chain, query
from tests.fake_slack import FakeSlack
from tests.query_support import valid_blocks

pytest_plugins = ["tests.query_support", "tests.bot_support"]


# -- fixtures: the Bolt app of tests/bot_support.py on the query warehouse of tests/query_support.py ---------------
@pytest.fixture()
def semantic_layer_impl(sl: MetricFlowSemanticLayer) -> MetricFlowSemanticLayer:
    return sl


@pytest.fixture(scope="module")
def busiest(chain: Chain) -> list[int]:
    return [r[0] for r in query(chain.warehouse, "select customer_id from analytics.fct_transactions group by 1"
                                                 " order by count(*) desc, 1 limit 3")]


@pytest.fixture()
def people(busiest: list[int]) -> People:
    return People(customer_id=busiest[0], red_customer_id=busiest[1], other_customer_id=busiest[2])


@pytest.fixture()
def warehouse_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every read the query service makes from the warehouse (a query run, or a filter's values looked up)."""
    reads: list[str] = []
    execute, values = QueryService.execute, QueryService._actual_values

    def spy_execute(self: QueryService, *args: Any, **kwargs: Any) -> Any:
        reads.append("execute")
        return execute(self, *args, **kwargs)

    def spy_values(self: QueryService, *args: Any, **kwargs: Any) -> Any:
        reads.append("values")
        return values(self, *args, **kwargs)

    monkeypatch.setattr(QueryService, "execute", spy_execute)
    monkeypatch.setattr(QueryService, "_actual_values", spy_values)
    yield reads


# -- helpers ----------------------------------------------------------------------------------------------------
def responses(fake: FakeSlack, path: str) -> list[dict[str, Any]]:
    return [c.params for c in fake.calls_to("response") if c.path == path]


def click(url: str, fake: FakeSlack, user_id: str, action_id: str, value: str, n: int = 1) -> list[dict[str, Any]]:
    """Click over real HTTP (signed); the response_url posts it got (waits for n)."""
    body, path = action_body(fake, user_id, action_id, value)
    start = time.perf_counter()
    assert http_post(url, body, sign(body))[0] == 200
    assert time.perf_counter() - start < 3.0  # acked within Slack's 3 s
    fake.wait_for(lambda f: len(responses(f, path)) >= n)
    return responses(fake, path)


def buttons(blocks: list[dict[str, Any]]) -> dict[str, str]:
    """action_id -> value of every button in a message (not the "Subscribe…" menu: tests/test_subscribe_button.py)."""
    return {e["action_id"]: e["value"] for b in blocks if b["type"] == "actions" for e in b["elements"]
            if e["type"] == "button"}


def figures(blocks: list[dict[str, Any]]) -> tuple[str, str]:
    """The receipt line and the table of a metric answer."""
    return blocks[0]["text"]["text"], blocks[2]["text"]["text"]


def typed(app: Any, fake: FakeSlack, user_id: str, text: str) -> list[dict[str, Any]]:
    post = ask_slack(app, fake, user_id, text)[0]
    valid_blocks(post["blocks"])
    return post["blocks"]


def assert_refused(post: dict[str, Any], words: str) -> None:
    assert post["response_type"] == "ephemeral" and post["replace_original"] is False
    assert words in post["text"], post["text"]
    assert "went wrong" not in post["text"] and "Traceback" not in json.dumps(post)
    valid_blocks(post["blocks"])


# -- clicks give what typing gives ----------------------------------------------------------------------------------
def test_grain_button_gives_the_figures_of_the_typed_command(
        bolt_app: Any, http_server: str, fake_slack: FakeSlack, people: People) -> None:
    blocks = typed(bolt_app, fake_slack, people.director, "metric revenue monthly from 2025-07 to 2025-12 where "
                                                          "type=card_payment,fee")
    values = buttons(blocks)
    assert {"ffq.q.grain_day", "ffq.q.grain_week", "ffq.q.grain_quarter", "ffq.q.grain_year"} <= set(values)
    assert "ffq.q.grain_month" not in values  # the grain shown
    post = click(http_server, fake_slack, people.director, "ffq.q.grain_quarter", values["ffq.q.grain_quarter"])[0]
    assert post["replace_original"] is True  # a view change replaces the message
    valid_blocks(post["blocks"])
    expected = typed(bolt_app, fake_slack, people.director, "metric revenue quarterly from 2025-07 to 2025-12 "
                                                            "where type=card_payment,fee")
    assert figures(post["blocks"]) == figures(expected)
    assert "quarterly" in figures(post["blocks"])[0] and "2025-Q3" in figures(post["blocks"])[1]
    assert not fake_slack.calls_to("chat.postMessage")


def test_previous_and_next_period(bolt_app: Any, http_server: str, fake_slack: FakeSlack, people: People) -> None:
    blocks = typed(bolt_app, fake_slack, people.director, "metric transaction_volume by type monthly from 2025-10 "
                                                          "to 2025-12")
    values = buttons(blocks)
    previous = click(http_server, fake_slack, people.director, "ffq.q.prev", values["ffq.q.prev"])[0]
    assert figures(previous["blocks"]) == figures(typed(
        bolt_app, fake_slack, people.director, "metric transaction_volume by type monthly from 2025-07 to 2025-09"))
    after = click(http_server, fake_slack, people.director, "ffq.q.next", values["ffq.q.next"])[0]
    expected = typed(bolt_app, fake_slack, people.director,
                     "metric transaction_volume by type monthly from 2026-01 to 2026-03")
    assert figures(after["blocks"]) == figures(expected)
    assert "(to date)" in figures(after["blocks"])[0]  # the data ends on 2026-02-10
    assert "ffq.q.next" not in buttons(after["blocks"])  # nothing after the data's end


def test_add_and_remove_a_breakdown(bolt_app: Any, http_server: str, fake_slack: FakeSlack, people: People) -> None:
    plain = typed(bolt_app, fake_slack, people.director, "metric revenue monthly from 2025-10 to 2025-12")
    values = buttons(plain)
    assert {"ffq.q.add_type", "ffq.q.add_tier", "ffq.q.add_country"} <= set(values)
    assert not {"ffq.q.add_customer", "ffq.q.add_customer_name", "ffq.q.add_account"} & set(values)  # director
    added = click(http_server, fake_slack, people.director, "ffq.q.add_tier", values["ffq.q.add_tier"])[0]
    valid_blocks(added["blocks"])
    assert figures(added["blocks"]) == figures(typed(
        bolt_app, fake_slack, people.director, "metric revenue by tier monthly from 2025-10 to 2025-12"))
    removed = click(http_server, fake_slack, people.director, "ffq.q.remove_tier",
                    buttons(added["blocks"])["ffq.q.remove_tier"])[0]
    assert figures(removed["blocks"]) == figures(plain)
    advisor = buttons(typed(bolt_app, fake_slack, people.advisor, "metric revenue monthly from 2025-10 to 2025-12"))
    assert "ffq.q.add_customer" in advisor


def test_a_customer_gets_only_their_dimensions_and_no_share(
        bolt_app: Any, http_server: str, fake_slack: FakeSlack, people: People) -> None:
    blocks = typed(bolt_app, fake_slack, people.customer, "metric transaction_volume monthly from 2025-10 to 2025-12")
    values = buttons(blocks)
    adds = {a for a in values if a.startswith("ffq.q.add_")}
    assert adds and adds <= {"ffq.q.add_type", "ffq.q.add_account_type", "ffq.q.add_account_status",
                             "ffq.q.add_account"}
    assert "ffq.share" not in values
    post = click(http_server, fake_slack, people.customer, "ffq.q.add_type", values["ffq.q.add_type"])[0]
    assert "your accounts only" in figures(post["blocks"])[0]
    assert figures(post["blocks"]) == figures(typed(
        bolt_app, fake_slack, people.customer, "metric transaction_volume by type monthly from 2025-10 to 2025-12"))


def test_download_csv_and_chart(bolt_app: Any, http_server: str, fake_slack: FakeSlack, people: People,
                                qs: QueryService, sl: MetricFlowSemanticLayer) -> None:
    values = buttons(typed(bolt_app, fake_slack, people.director, "metric revenue by type monthly from 2025-10 to "
                                                                  "2025-12"))
    fake_slack.wait_calls("files.completeUploadExternal")  # the typed answer's chart
    fake_slack.reset()
    post = click(http_server, fake_slack, people.director, "ffq.csv", values["ffq.csv"])[0]
    assert post["replace_original"] is False and "sent to your DMs" in post["text"]  # a new message, the answer stays
    fake_slack.wait_calls("files.completeUploadExternal")
    [(name, content)] = fake_slack.uploaded().items()
    answer = qs.run(principal_of(Identity("U", frozenset({Role.DIRECTOR}))), decode(values["ffq.csv"]).query)
    assert name.endswith(".csv") and content.decode().count("\n") == len(answer.rows) + 1
    assert fake_slack.calls_to("conversations.open")[0].params["users"] == people.director  # the DM
    fake_slack.reset()
    chart = click(http_server, fake_slack, people.director, "ffq.q.view", values["ffq.q.view"])[0]
    assert chart["replace_original"] is True and "chart is in your DMs" in json.dumps(chart["blocks"])
    assert "Show table" in json.dumps(chart["blocks"])
    valid_blocks(chart["blocks"])
    fake_slack.wait_calls("files.completeUploadExternal")
    assert fake_slack.uploaded()["chart.png"].startswith(b"\x89PNG")


def test_why_button_beside_the_monthly_figures(
        bolt_app: Any, http_server: str, fake_slack: FakeSlack, people: People) -> None:
    values = buttons(typed(bolt_app, fake_slack, people.director, "metric revenue monthly from 2025-10 to 2026-01"))
    whys = {a: decode_why(v) for a, v in values.items() if a.startswith("ffq.why.")}
    assert ("revenue", Month(2026, 1)) in whys.values() and len(whys) == 3
    action = next(a for a, w in whys.items() if w == ("revenue", Month(2026, 1)))
    post = click(http_server, fake_slack, people.director, action, values[action])[0]
    assert post["replace_original"] is False  # beside the answer, not in place of it
    valid_blocks(post["blocks"])
    expected = ask_slack(bolt_app, fake_slack, people.director, "why revenue 2026-01")[0]
    assert post["text"] == expected["text"] and "explains most" in post["text"]
    assert [b for b in post["blocks"] if b["type"] == "section"] == \
        [b for b in expected["blocks"] if b["type"] == "section"]
    back = buttons(post["blocks"])["ffq.whynav.prev"]
    previous = click(http_server, fake_slack, people.director, "ffq.whynav.prev", back)[0]
    assert previous["replace_original"] is True and previous["text"].startswith("Revenue 2025-12")


def test_staff_share_posts_the_aggregate_to_the_channel(
        bolt_app: Any, http_server: str, fake_slack: FakeSlack, people: People) -> None:
    blocks = typed(bolt_app, fake_slack, people.director, "metric revenue by tier quarterly from 2025-07 to 2025-12")
    values = buttons(blocks)
    post = click(http_server, fake_slack, people.director, "ffq.share", values["ffq.share"])[0]
    assert "Shared to the channel" in post["text"]
    [shared] = fake_slack.wait_calls("chat.postMessage")
    assert shared.params["channel"] == "C0PUBLIC"
    message = shared.params["blocks"]
    message = json.loads(message) if isinstance(message, str) else message
    valid_blocks(message)
    assert f"Shared by <@{people.director}>" in json.dumps(message)
    assert not [b for b in message if b["type"] == "actions"]  # buttons would act as whoever clicks them
    assert message[2] == blocks[2]  # the same table
    advisor = typed(bolt_app, fake_slack, people.advisor, "metric revenue by customer monthly from 2025-12 to 2025-12")
    assert "ffq.share" not in buttons(advisor)  # names customers: never shared


# -- tampered payloads: refused, nothing reaches the warehouse --------------------------------------------------
def _edit(value: str, **changes: Any) -> str:
    data = json.loads(value[3:])
    data.update(changes)
    return "v1:" + json.dumps(data)


def test_tampered_button_payloads_are_refused_before_the_warehouse(
        bolt_app: Any, http_server: str, fake_slack: FakeSlack, people: People,
        warehouse_reads: list[str]) -> None:
    mine = buttons(typed(bolt_app, fake_slack, people.customer,
                         "metric transaction_volume monthly from 2025-10 to 2025-12"))
    director = buttons(typed(bolt_app, fake_slack, people.director, "metric revenue monthly from 2025-10 to 2025-12"))
    assert warehouse_reads  # the typed questions read it: the spy sees reads
    fake_slack.wait_calls("files.completeUploadExternal", 2)  # their charts
    fake_slack.reset()
    warehouse_reads.clear()
    csv = mine["ffq.csv"]
    other = str(people.other_customer_id)
    cases = [
        ("ffq.csv", _edit(csv, f=[["customer", [other]]]), "cannot group or filter by customer"),
        ("ffq.q.view", _edit(csv, g=["customer"]), "cannot group or filter by customer"),
        ("ffq.q.view", _edit(csv, g=["tier"]), "cannot group or filter by tier"),
        ("ffq.q.view", _edit(csv, m=["new_customers"]), "not available to you"),
        ("ffq.csv", _edit(csv, c=int(other)), "can't read that button"),  # an unknown field: not ours
        ("ffq.csv", _edit(csv, m=["transaction_volume'; drop table x --"]), "can't read that button"),
        ("ffq.q.drop_tables", csv, "not a button I know"),
        ("ffq.csv.x", csv, "not a button I know"),
        ("ffq.q.grain_hour", csv, "not a button I know"),
        ("ffq.nope", csv, "not a button I know"),
        ("zzz.q", csv, "not a button I know"),
        ("ffq.csv", "v1:{garbled", "can't read that button"),
        ("ffq.csv", "v2:" + csv[3:], "can't read that button"),
        ("ffq.csv", "", "can't read that button"),
        ("ffq.csv", "v1:" + "[" * 1990, "can't read that button"),
        ("ffq.why.0", encode_why("new_customers", Month(2026, 1)), "not available to you"),
        ("ffq.share", director["ffq.share"], "only staff can share"),
    ]
    for action, value, words in cases:
        post = click(http_server, fake_slack, people.customer, action, value)[0]
        assert_refused(post, words)
        assert warehouse_reads == [], (action, value)
    # someone Slack knows but the bank does not: the director's own button is still refused
    post = click(http_server, fake_slack, people.unknown, "ffq.share", director["ffq.share"])[0]
    assert_refused(post, "don't recognise you")
    assert warehouse_reads == []
    assert not fake_slack.calls_to("chat.postMessage") and not fake_slack.calls_to("files.getUploadURLExternal")


def test_a_share_of_customer_level_figures_is_refused(
        bolt_app: Any, http_server: str, fake_slack: FakeSlack, people: People, warehouse_reads: list[str]) -> None:
    """A staff member's share value edited to break down by customer: refused before the query runs."""
    value = buttons(typed(bolt_app, fake_slack, people.advisor, "metric revenue monthly from 2025-10 to 2025-12"))[
        "ffq.share"]
    warehouse_reads.clear()
    post = click(http_server, fake_slack, people.advisor, "ffq.share", _edit(value, g=["customer"]))[0]
    assert_refused(post, "only staff can share")
    assert "execute" not in warehouse_reads and not fake_slack.calls_to("chat.postMessage")


def test_a_click_redelivered_by_slack_is_answered_once(
        bolt_app: Any, http_server: str, fake_slack: FakeSlack, people: People) -> None:
    value = buttons(typed(bolt_app, fake_slack, people.director, "metric revenue monthly from 2025-10 to 2025-12"))[
        "ffq.q.grain_quarter"]
    body, path = action_body(fake_slack, people.director, "ffq.q.grain_quarter", value, trigger_id="click.same")
    assert http_post(http_server, body, sign(body))[0] == 200
    retry = {**sign(body), "x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"}
    assert http_post(http_server, body, retry)[0] == 200
    fake_slack.wait_for(lambda f: len(responses(f, path)) >= 1)
    time.sleep(0.5)
    assert len(responses(fake_slack, path)) == 1


def test_clicks_are_audited(bolt_app: Any, http_server: str, fake_slack: FakeSlack, people: People,
                            state_store: Any) -> None:
    from sqlalchemy import text

    click(http_server, fake_slack, people.customer, "ffq.nope", "v1:{}")
    deadline = time.monotonic() + 5
    rows: list[Any] = []
    while time.monotonic() < deadline and not rows:
        with state_store.engine.begin() as conn:
            rows = conn.execute(text("SELECT user_id, command, outcome FROM audit_log")).fetchall()
        time.sleep(0.05)
    assert [(r[0], r[1], r[2]) for r in rows] == [(people.customer, "[button] ffq.nope", "refused")]


# -- the value codec, the registry, the worker's dispatch (no Slack) -----------------------------------------------
def test_values_round_trip_and_stay_small() -> None:
    queries = [
        MetricQuery(("revenue",)),
        MetricQuery(("revenue", "transaction_volume"), ("tier", "type"), Grain.MONTH,
                    (DimensionFilter("type", ("card_payment", "fee")),), Period.days(date(2025, 1, 1),
                                                                                   date(2025, 6, 30)),
                    (Order("revenue", True),), 10),
        MetricQuery(("withdrawals",), (), Grain.WEEK, (), Period(PeriodKind.LAST_MONTHS, count=6)),
    ]
    for q in queries:
        for chart in (False, True):
            value = encode(QueryView(q, chart))
            assert value.startswith("v1:") and len(value) <= 2000
            assert decode(value) == QueryView(q, chart)
    assert decode_why(encode_why("revenue", Month(2026, 1))) == ("revenue", Month(2026, 1))
    with pytest.raises(ActionValueError):
        decode('v1:{"m":["revenue"],"p":["r","2026-02-01","2026-01-01"]}')  # reversed period


def test_shifted_periods_move_by_their_own_length() -> None:
    as_of = END_DATE
    assert shifted(Period.quarter(2025, 4), as_of, -1) == Period.quarter(2025, 3)
    assert shifted(Period.quarter(2025, 4), as_of, 1) == Period.days(date(2026, 1, 1), date(2026, 3, 31))
    assert shifted(Period(PeriodKind.THIS_YEAR), as_of, -1) == Period.year(2025)
    assert shifted(Period(PeriodKind.THIS_YEAR), as_of, 1) is None  # after the data
    assert shifted(Period.days(date(2026, 1, 5), date(2026, 1, 11)), as_of, -1) == \
        Period.days(date(2025, 12, 29), date(2026, 1, 4))


def test_registry_and_worker_dispatch() -> None:
    found = lookup_action("ffq.q.prev")
    assert found is not None and found[0].prefix == "ffq." and found[1] == "q.prev"
    assert lookup_action("ffz.alert.add") is None and lookup_action("ffq.") is None and lookup_action("") is None
    managed = lookup_action("ffm.pause")  # the alerts' and subscriptions' buttons (bot/commands/manage_actions.py)
    assert managed is not None and managed[0].prefix == "ffm."

    class Recorder:
        def act(self, user_id: str, action_id: str, value: str, request_id: str) -> Any:
            return ("act", user_id, action_id, value, request_id)

        def answer(self, user_id: str, text: str, request_id: str) -> Any:
            return ("answer", user_id, text, request_id)

    job = AnswerJob("r1", "U1", "", kind="action", action_id="ffq.csv", value="v1:{}")
    assert run_job(Recorder(), job) == ("act", "U1", "ffq.csv", "v1:{}", "r1")
    assert run_job(Recorder(), AnswerJob("r2", "U1", "metric revenue")) == ("answer", "U1", "metric revenue", "r2")


# -- fuzz: random values never raise, garbage never produces a query ------------------------------------------------
class _Resolver:
    def __init__(self, identities: dict[str, Identity]) -> None:
        self.identities = identities

    def resolve(self, user_id: str) -> Identity:
        return self.identities[user_id]


@pytest.fixture(scope="module")
def acting(sl: MetricFlowSemanticLayer, busiest: list[int]) -> Assistant:
    identities = {
        "UDIR": Identity("UDIR", frozenset({Role.DIRECTOR})),
        "UADV": Identity("UADV", frozenset({Role.ADVISOR})),
        "UCUST": Identity("UCUST", frozenset({Role.CUSTOMER}), sl.customer(CustomerId(busiest[0]))),
    }
    bot_settings = BotSettings(slack_bot_token="xoxb-test", slack_signing_secret="s" * 32, list_limit=15)
    return Assistant(sl, bot_settings, _Resolver(identities))  # type: ignore[arg-type]


ACTION_IDS = st.one_of(st.sampled_from(["ffq.q.view", "ffq.q.prev", "ffq.csv", "ffq.why.0", "ffq.whynav.next",
                                        "ffq.share", "ffq.", "ffq.q.", "ffq.Q", "ffm.x", ""]), st.text(max_size=40))
GARBAGE = st.one_of(st.text(max_size=300), st.text(max_size=300).map(lambda t: "v1:" + t),
                    st.binary(max_size=100).map(lambda b: "v1:" + b.decode("latin-1")))
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner,
                                                                                max_size=4), max_leaves=12)
SHAPED = st.fixed_dictionaries({}, optional={
    "m": st.lists(st.sampled_from(["revenue", "transaction_volume", "new_customers", "withdrawals", "Revenue", "x"]),
                  max_size=3) | JSON,
    "g": st.lists(st.sampled_from(["type", "tier", "customer", "account", "country", "nope"]), max_size=3) | JSON,
    "t": st.sampled_from(["day", "week", "month", "quarter", "year", "hour"]) | JSON,
    "f": st.lists(st.tuples(st.sampled_from(["type", "customer", "tier"]),
                            st.lists(st.sampled_from(["fee", "card_payment", "1", "' OR 1=1 --", "{{x}}"]),
                                     max_size=3)).map(list), max_size=2) | JSON,
    "p": st.sampled_from([["r", "2025-10-01", "2025-12-31"], ["last_months", 3], ["this_year", 1], ["r", "x"]])
    | JSON,
    "l": st.integers(-5, 2000) | JSON,
    "v": st.sampled_from(["t", "c", "x"]),
    "w": st.sampled_from(["revenue", "new_customers"]) | JSON,
    "mo": st.sampled_from(["2026-01", "2025-13", "1800-01"]) | JSON,
}).map(lambda d: "v1:" + json.dumps(d))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(action=ACTION_IDS, value=GARBAGE, who=st.sampled_from(["UDIR", "UADV", "UCUST"]))
def test_fuzz_garbage_values_never_raise_and_never_query(acting: Assistant, warehouse_reads: list[str], action: str,
                                                         value: str, who: str) -> None:
    warehouse_reads.clear()
    answer = acting.act(who, action, value)
    assert answer.outcome == "refused" and not answer.ok, (action, value, answer.text)
    assert warehouse_reads == []
    valid_blocks(answer.blocks)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(action=st.sampled_from(["ffq.q.view", "ffq.csv", "ffq.why.0", "ffq.whynav.prev", "ffq.share"]),
       value=SHAPED, who=st.sampled_from(["UDIR", "UADV", "UCUST"]))
def test_fuzz_shaped_values_are_answered_or_refused_never_an_error(acting: Assistant, action: str, value: str,
                                                                   who: str) -> None:
    answer = acting.act(who, action, value)
    assert answer.outcome in ("answered", "refused"), (action, value, answer.text)
    valid_blocks(answer.blocks)
    if answer.ok and who == "UCUST" and answer.data is not None:  # a customer's answer is always their own
        assert getattr(answer.data, "scoped_to", None) == acting.resolver.resolve("UCUST").customer.customer_id.value


@pytest.mark.parametrize("period", [["r", "1899-01-01", "1899-12-31"], ["r", "0001-01-01", "0001-01-31"]])
def test_a_period_before_1900_is_answered_or_refused_never_an_error(acting: Assistant, period: list[Any]) -> None:
    """The codec admits any date (a follow-up's "same for last year" can walk a thread's period past 1900): such a
    button is answered (no rows) or refused politely, whatever the grain."""
    for grain in ({}, {"t": "day"}, {"t": "month"}):
        for metric in ("revenue", "balance"):
            answer = acting.act("UDIR", "ffq.q.view", "v1:" + json.dumps({"m": [metric], "p": period, **grain}))
            assert answer.outcome in ("answered", "refused"), (period, grain, metric, answer.text)
            valid_blocks(answer.blocks)
