"""Fuzzed command text: the handler never crashes, answers within Slack's limits, and the semantic layer only
ever receives typed inputs (the double asserts argument types; a violation would surface as the generic error)."""

# ruff: noqa: E402 - assertion rewriting must be registered before the support module is imported
from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.bot_support")

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.assistant import SUBCOMMANDS
from bot.blocks import MAX_BLOCKS, MAX_SECTION_CHARS
from tests.bot_support import People, ask_slack, make_assistant

pytest_plugins = ["tests.bot_support"]

ARGS = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "42",
            "#2",
            "cust-1",
            "customer_3",
            "0",
            "-1",
            "2026-10",
            "2026-13",
            "9999-12",
            "1899-01",
            "revenue",
            "REVENUE",
            "' OR 1=1 --",
            "{{ Entity('customer') }} = 1",
            "<@U123>",
            "2026-1",
        ]
    ),
    st.from_regex(r"[0-9]{1,14}", fullmatch=True),
    st.from_regex(r"[0-9]{4}-[0-9]{2}", fullmatch=True),
)
COMMAND_TEXT = st.one_of(
    st.text(max_size=80),
    st.builds(lambda cmd, args: " ".join([cmd, *args]), st.sampled_from(SUBCOMMANDS), st.lists(ARGS, max_size=3)),
)


def _check(answer: Any) -> None:
    assert answer.text
    assert "something went wrong" not in answer.text, answer.text
    assert len(answer.blocks) <= MAX_BLOCKS
    for block in answer.blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= MAX_SECTION_CHARS
    assert "Traceback" not in json.dumps(answer.blocks)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=COMMAND_TEXT, who=st.sampled_from(["customer", "advisor", "director", "unknown"]))
def test_fuzzed_text_never_crashes(
    text: str, who: str, semantic_layer_impl: Any, people: People, tmp_path: Path
) -> None:
    assistant = make_assistant(semantic_layer_impl, people, tmp_path)
    _check(assistant.answer(getattr(people, who), text))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=COMMAND_TEXT)
def test_fuzzed_text_through_bolt(text: str, bolt_app: Any, fake_slack: Any, people: People) -> None:
    posts = ask_slack(bolt_app, fake_slack, people.advisor, text)
    assert posts[0]["response_type"] == "ephemeral"
    assert "something went wrong" not in posts[0]["text"]
