"""`/finefin <question>` through the bot's Assistant on the real warehouse (tests/query_support.py): the answer
starts with what the question was read as and equals the same MetricQuery run directly; customers get their own
data only; clarifications and refusals are short messages; the commands and their usage messages are unchanged."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.access import Identity
from bot.assistant import AccessDenied, Assistant, BotUsageError
from bot.commands.context import principal_of
from bot.settings import BotSettings
from semantic_layer.catalog import Grain
from semantic_layer.nl.live import vocabulary_of
from semantic_layer.query import DimensionFilter, MetricAnswer, MetricQuery, Period, PeriodKind
from semantic_layer.query_service import QueryService
from semantic_layer.service import MetricFlowSemanticLayer
from tests.dbt_chain import END_DATE, Chain, query
from tests.test_query_bot import _NoDirectory, assistant, people, valid_blocks

pytest_plugins = ["tests.query_support"]  # chain, sl, qs: one warehouse per module
__all__ = ["assistant", "people"]  # fixtures shared with tests/test_query_bot.py


def test_the_issue_question_is_read_answered_and_receipted(assistant: Assistant, people: dict[str, Identity],
                                                           qs: QueryService) -> None:
    answer = assistant.answer_for(people["director"], "how much revenue did gold customers bring in last quarter?")
    assert answer.ok
    valid_blocks(answer.blocks)
    receipt = answer.blocks[0]["text"]["text"]
    assert receipt.startswith("I read this as: *Revenue* (FineFinance's revenue")
    assert "tier = Gold" in receipt and "2025-10-01 to 2025-12-31" in receipt  # the data's last quarter
    same = qs.run(principal_of(people["director"]), MetricQuery(
        ("revenue",), filters=(DimensionFilter("tier", ("Gold",)),), period=Period(PeriodKind.LAST_QUARTER)))
    assert answer.data.rows == same.rows and answer.data.rows


def test_breakdown_grain_typos_and_compare(assistant: Assistant, people: dict[str, Identity],
                                           qs: QueryService) -> None:
    director = people["director"]
    answer = assistant.answer_for(director, "reveneu by teir montly since september")
    data: MetricAnswer = answer.data
    assert data.query.group_by == ("tier",) and data.query.grain is Grain.MONTH
    assert data.period is not None and data.period.last == END_DATE
    assert "“teir” as “tier”" in json.dumps(answer.blocks, ensure_ascii=False)
    same = qs.run(principal_of(director), MetricQuery(("revenue",), ("tier",), Grain.MONTH,
                                                      period=data.query.period))
    assert data.rows == same.rows
    compared = assistant.answer_for(director, "revenue this year compared with last year")
    assert "Compared with 2025-01-01 to 2025-02-10" in json.dumps(compared.blocks)
    by_type = assistant.answer_for(director, "transactions by type this month")  # starts with a command's name
    assert by_type.data.query.metrics == ("transaction_count",) and by_type.data.query.group_by == ("type",)


def test_customers_get_their_own_data_only(assistant: Assistant, people: dict[str, Identity],
                                           qs: QueryService) -> None:
    me = people["customer"]
    answer = assistant.answer_for(me, "how much did I spend on card payments last month?")
    assert answer.data.scoped_to == me.customer.customer_id.value  # type: ignore[union-attr]
    assert "your accounts only" in answer.blocks[0]["text"]["text"]
    same = qs.run(principal_of(me), MetricQuery(("transaction_volume",), filters=(
        DimensionFilter("type", ("card_payment",)),), period=Period(PeriodKind.LAST_MONTH)))
    assert answer.data.rows == same.rows
    for text in ("what is the balance of customer 42", "revenue by tier last month",
                 "how many new customers did we get last month", "total revenue of the bank this year"):
        with pytest.raises(AccessDenied):
            assistant.answer_for(me, text)


def test_clarify_refuse_and_the_commands_stay(assistant: Assistant, people: dict[str, Identity]) -> None:
    director = people["director"]
    asked = assistant.answer_for(director, "how was growth last month")  # a clarification with its readings
    assert not asked.ok and asked.data is None and "Growth of what" in asked.text
    assert asked.outcome == "clarified"  # the audit log tells it from an answer or a refusal
    assert "`/finefin metric revenue_mom_growth monthly last month`" in asked.text  # typed, as offered
    valid_blocks(asked.blocks)
    offered = [e["text"]["text"] for b in asked.blocks if b["type"] == "actions" for e in b["elements"]]
    assert "Revenue growth (MoM %)" in offered  # and as buttons (tests/test_nl_buttons.py clicks them)
    with pytest.raises(AccessDenied, match="weather"):
        assistant.answer_for(director, "what's the weather <!channel> in Paris")
    with pytest.raises(AccessDenied, match="don't forecast"):
        assistant.answer_for(director, "revenue next month")
    with pytest.raises(BotUsageError, match="I don't know “frobnicate”"):
        assistant.answer_for(director, "frobnicate")
    with pytest.raises(BotUsageError, match="Did you mean `/finefin balance`"):  # a command mistyped
        assistant.answer_for(people["advisor"], "balanse 42")
    with pytest.raises(BotUsageError, match=r"Usage: `/finefin statement \[YYYY-MM\]`"):
        assistant.answer_for(people["customer"], "statement 2026-01 extra")
    asked_explicitly = assistant.answer_for(director, "ask new customers per month this year")
    assert asked_explicitly.data.query.metrics == ("new_customers",)


def test_the_vocabulary_holds_the_loads_values(sl: MetricFlowSemanticLayer, qs: QueryService, chain: Chain) -> None:
    vocab = vocabulary_of(qs)
    tiers = {r[0] for r in query(chain.warehouse, "select distinct tier from analytics.dim_customers")}
    assert set(vocab.values["tier"]) == tiers
    assert vocab.as_of == END_DATE
    assert vocabulary_of(qs) is vocab  # built once per load


def test_the_bots_own_assistant_answers_questions(sl: MetricFlowSemanticLayer, people: dict[str, Identity]) -> None:
    from slack_sdk import WebClient

    from bot.app import SerializedSemanticLayer, build_assistant

    bot_settings = BotSettings(slack_bot_token="xoxb-test", slack_signing_secret="s" * 32)
    bot = build_assistant(SerializedSemanticLayer(sl), bot_settings, WebClient(token="xoxb-test"),
                          lookup=_NoDirectory())
    answer = bot.answer_for(people["customer"], "my card payments per month")
    assert answer.ok and answer.data.query.grain is Grain.MONTH


def test_a_follow_up_in_the_thread_is_read_against_its_answer(assistant: Assistant, people: dict[str, Identity],
                                                             make_database: Any,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The conversation lives in the state database (any answer worker reads it); only the asker continues it."""
    from bot.commands.conversation import remember
    from bot.state import open_state

    url = make_database()
    open_state(url).close()  # migrated to head (0004: conversations)
    monkeypatch.setenv("FINEFIN_STATE_URL", url)
    director = people["director"]
    first = assistant.answer_for(director, "revenue last quarter")
    thread = ("D0DIR", "1700000000.000100")
    remember(thread, director.user_id, first)
    key = f"thread={thread[0]}:{thread[1]}"
    by_tier = assistant.answer_for(director, f"ask {key} and by tier?").data
    assert by_tier.query.group_by == ("tier",) and by_tier.query.period == first.data.query.period
    remember(thread, director.user_id, assistant.answer_for(director, f"ask {key} and by tier?"))
    gold = assistant.answer_for(director, f"ask {key} only Gold").data
    assert gold.query.group_by == ("tier",) and gold.query.filters[0].values == ("Gold",)
    other = assistant.answer_for(people["advisor"], f"ask {key} and by tier?")  # another user cannot continue
    assert not other.ok and other.data is None  # the director's thread: a new question, which needs a metric
    new = assistant.answer_for(director, f"ask {key} new customers this year").data  # a whole new question
    assert new.query.metrics == ("new_customers",)
