"""`/finefin metric`, `metrics` and `why` through the bot's Assistant on the real warehouse: grammar, answers within
Block Kit limits (validated with slack_sdk's models), refusals, and a Hypothesis fuzz of the grammar."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.access import Identity, Role
from bot.assistant import Assistant
from bot.commands.context import principal_of
from bot.commands.grammar import parse
from bot.identity import IdentityResolver
from bot.settings import BotSettings
from semantic_layer.catalog import Grain
from semantic_layer.errors import InvalidInputError
from semantic_layer.filters import Category
from semantic_layer.inputs import CustomerId
from semantic_layer.query import MetricAnswer, MetricQuery, Period, PeriodKind
from semantic_layer.query_service import AccessRefusedError, QueryService
from semantic_layer.service import MetricFlowSemanticLayer
from tests.dbt_chain import Chain, query
from tests.query_support import valid_blocks

pytest_plugins = ["tests.query_support"]  # chain, sl, qs: one warehouse per module


@pytest.fixture(scope="module")
def assistant(sl: MetricFlowSemanticLayer) -> Assistant:
    bot_settings = BotSettings(slack_bot_token="xoxb-test", slack_signing_secret="s" * 32, list_limit=15)
    return Assistant(sl, bot_settings, IdentityResolver.__new__(IdentityResolver))


@pytest.fixture(scope="module")
def people(sl: MetricFlowSemanticLayer, chain: Chain) -> dict[str, Identity]:
    busiest = query(chain.warehouse, "select customer_id from analytics.fct_transactions group by 1"
                                     " order by count(*) desc limit 1")[0][0]
    return {
        "director": Identity("UDIR", frozenset({Role.DIRECTOR})),
        "advisor": Identity("UADV", frozenset({Role.ADVISOR})),
        "customer": Identity("UCUST", frozenset({Role.CUSTOMER}), sl.customer(CustomerId(busiest))),
    }


def test_the_issue_example(assistant: Assistant, people: dict[str, Identity], qs: QueryService) -> None:
    text = ("metric revenue, transaction_volume by tier monthly from 2025-07 to 2026-06 where type=card_payment,fee "
            "top 10")
    answer = assistant.answer_for(people["director"], text)
    assert answer.ok
    valid_blocks(answer.blocks)
    data: MetricAnswer = answer.data
    assert data.query.metrics == ("revenue", "transaction_volume") and data.query.group_by == ("tier",)
    assert len(data.rows) == 10 and data.truncated
    receipt = answer.blocks[0]["text"]["text"]
    for words in ("*Revenue*", "*Transaction volume*", "by tier", "monthly", "2025-07-01 to 2026-02-10 (to date)",
                  "transaction type = card_payment, fee", "top 10"):
        assert words in receipt, words
    assert "FineFinance's revenue" in answer.blocks[1]["elements"][0]["text"]  # one-line definitions
    table = answer.blocks[2]["text"]["text"]
    assert table.startswith("```") and table.count("\n") == 10  # header + 10 rows, one per line
    same = qs.run(principal_of(people["director"]), MetricQuery(
        ("revenue", "transaction_volume"), ("tier",), Grain.MONTH,
        data.query.filters, Period.days(date(2025, 7, 1), date(2026, 6, 30)), data.query.order, 10))
    assert same.rows == data.rows
    assert any(f.filename == "chart.png" and f.content.startswith(b"\x89PNG") for f in answer.files)
    assert "Data as of" in json.dumps(answer.blocks)  # freshness stamp


def test_labels_periods_and_to_date(assistant: Assistant, people: dict[str, Identity]) -> None:
    answer = assistant.answer_for(people["director"], "metric New customers quarterly this year")
    data: MetricAnswer = answer.data
    assert data.query.grain is Grain.QUARTER and data.period is not None
    assert data.period.first == date(2026, 1, 1) and data.period.last == date(2026, 2, 10) and data.period.to_date
    assert data.partial_buckets == {date(2026, 1, 1)}
    assert "(to date)" in json.dumps(answer.blocks)
    last6 = assistant.answer_for(people["director"], "metric revenue by country for the last 6 months").data
    assert (last6.period.first, last6.period.last) == (date(2025, 8, 1), date(2026, 1, 31))


def test_long_results_come_with_a_csv(assistant: Assistant, people: dict[str, Identity]) -> None:
    answer = assistant.answer_for(people["advisor"], "metric revenue by customer monthly")
    valid_blocks(answer.blocks)
    assert len(answer.data.rows) > 15
    csv = next(f for f in answer.files if f.filename.endswith(".csv"))
    assert csv.content.decode().count("\n") == len(answer.data.rows) + 1
    assert "full result is attached" in json.dumps(answer.blocks)


def test_customer_answers_are_their_own_and_refusals_say_what_to_ask(assistant: Assistant,
                                                                     people: dict[str, Identity]) -> None:
    me = people["customer"]
    answer = assistant.answer_for(me, "metric transaction volume by type monthly where type=card_payment")
    assert answer.ok and answer.data.scoped_to == me.customer.customer_id.value  # type: ignore[union-attr]
    assert "your accounts only" in answer.blocks[0]["text"]["text"]
    for text, expected in (("metric revenue by customer", "cannot group or filter by customer"),
                           ("metric new_customers", "not available to you"),
                           ("metric revenue by tier", "cannot group or filter by tier")):
        with pytest.raises(AccessRefusedError, match=expected) as raised:
            assistant.answer_for(me, text)
        assert "You can" in str(raised.value)
    listing = assistant.answer_for(me, "metrics")
    names = {a.info.name for a in listing.data}
    assert "transaction_volume" in names and "new_customers" not in names
    valid_blocks(listing.blocks)


def test_wrong_names_get_the_nearest(assistant: Assistant, people: dict[str, Identity]) -> None:
    with pytest.raises(InvalidInputError, match="Did you mean `revenue`"):
        assistant.answer_for(people["director"], "metric revnue monthly")
    with pytest.raises(InvalidInputError, match="Did you mean `type`"):
        assistant.answer_for(people["director"], "metric revenue by tyep")
    with pytest.raises(InvalidInputError, match="Did you mean card_payment"):
        assistant.answer_for(people["director"], "metric revenue where type=card_paymnt")


def test_why_command(assistant: Assistant, people: dict[str, Identity]) -> None:
    answer = assistant.answer_for(people["director"], "why revenue 2026-01")
    valid_blocks(answer.blocks)
    assert "explains most" in answer.text
    assert "By transaction type" in json.dumps(answer.blocks)


def test_help_lists_the_new_commands(assistant: Assistant, people: dict[str, Identity]) -> None:
    text = assistant.answer_for(people["customer"], "help").text
    assert "/finefin metric " in text and "/finefin metrics" in text and "/finefin why" in text


# -- fuzz -----------------------------------------------------------------------------------------------------
WORDS = st.sampled_from([
    "revenue", "transaction_volume", "Transaction volume", "new customers", "withdrawals", "balance", ",", "by",
    "tier", "type", "country", "customer", "account", "monthly", "weekly", "daily", "yearly", "per", "month", "from",
    "to", "2026-01", "2026-Q3", "2026", "2025-13", "1899", "last", "6", "months", "this", "year", "ytd", "where",
    "type=card_payment", "tier=Gold,Diamond", "customer=1", "=", "top", "10", "bottom", "limit", "0", "sort", "asc",
    "' OR 1=1 --", "{{ Entity('customer') }}", "type='fee' or 1=1", "tier={{x}}", "<@U1>", "and", "quarter",
])
TEXTS = st.one_of(st.text(max_size=60), st.lists(WORDS, max_size=12).map(" ".join),
                  st.tuples(st.lists(WORDS, max_size=8), st.text(max_size=15)).map(lambda t: " ".join(t[0]) + t[1]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXTS, who=st.sampled_from(["director", "advisor", "customer"]))
def test_fuzz_the_grammar_never_a_traceback_never_raw_text_in_a_query(
        qs: QueryService, assistant: Assistant, people: dict[str, Identity], text: str, who: str) -> None:
    identity = people[who]
    principal = principal_of(identity)
    try:
        query = parse(text, qs.catalog())
    except InvalidInputError:
        query = None
    if query is not None:
        assert set(query.metrics) <= set(qs.catalog().metrics)
        try:
            prepared = qs.prepare(principal, query)
        except (InvalidInputError, AccessRefusedError):
            prepared = None
        if prepared is not None:
            for f in prepared.where:
                for value in f.values:
                    assert isinstance(value, int | date | Category)
                    if isinstance(value, Category):  # only values the warehouse holds reach a filter
                        assert any(value.text == str(v) for key, vals in prepared.filters for v in vals)
            if principal.scope is not None:
                assert any("Entity('customer')" in f.template and f.values == (principal.scope.value,)
                           for f in prepared.where)
    for command in ("metric ", "why "):
        answer = _answer(assistant, identity, command + text)
        assert "something went wrong" not in answer.text
        valid_blocks(answer.blocks)


def _answer(assistant: Assistant, identity: Identity, text: str) -> Any:
    """What `Assistant.answer` does after resolving the user: refusals and usage errors become messages."""
    from bot.answer import Answer
    from bot.blocks import error_blocks
    from finefin.errors import FinefinError

    try:
        return assistant.answer_for(identity, text)
    except FinefinError as exc:
        return Answer(text=str(exc), blocks=error_blocks(str(exc)), ok=False)


def test_period_words_resolve_against_the_data_not_the_clock() -> None:
    as_of = date(2026, 2, 10)
    assert Period(PeriodKind.LAST_QUARTER).resolve(as_of).first == date(2025, 10, 1)
    assert Period(PeriodKind.THIS_MONTH).resolve(as_of).to_date
    assert Period(PeriodKind.LAST_MONTHS, count=3).resolve(as_of).first == date(2025, 11, 1)
    with pytest.raises(InvalidInputError, match="data ends"):
        Period.quarter(2026, 3).resolve(as_of)


class _NoDirectory:
    """A user lookup that is never asked: the test hands the assistant identities directly."""

    def lookup(self, user_id: str) -> None:
        raise AssertionError("not used")

    def group_members(self, group_id: str) -> set[str]:
        raise AssertionError("not used")


def test_the_assistant_the_bot_builds_answers_metric_questions(sl: MetricFlowSemanticLayer,
                                                               people: dict[str, Identity]) -> None:
    """The bot's own Assistant (bot.app.build_assistant, in-process and in every answer worker) holds the semantic
    layer behind a lock shared by its threads: the metric commands reach the query service through it."""
    from slack_sdk import WebClient

    from bot.app import SerializedSemanticLayer, build_assistant

    bot_settings = BotSettings(slack_bot_token="xoxb-test", slack_signing_secret="s" * 32)
    assistant = build_assistant(SerializedSemanticLayer(sl), bot_settings, WebClient(token="xoxb-test"),
                                lookup=_NoDirectory())
    for text in ("metric revenue monthly", "metrics", "why revenue"):
        answer = assistant.answer_for(people["director"], text)
        assert answer.ok, (text, answer.text)
    answer = assistant.answer_for(people["customer"], "metric transaction_volume by type monthly")
    assert answer.ok, answer.text
