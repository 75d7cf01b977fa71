"""Buttons on plain-English answers (issue 15 item 2): signed `block_actions` clicks over real HTTP into the Bolt app
on the query warehouse (tests/test_query_actions.py's fixtures and helpers).

An answer carries buttons that correct its reading (the other readings, then grain, period, breakdowns); a
clarification asks one question with a button per candidate reading. A click answers that reading with the same
figures as the typed `/finefin metric` equivalent; a tampered value is refused before the warehouse.
"""

from __future__ import annotations

import json
from typing import Any

from bot.commands.ask import to_grammar
from bot.commands.query_buttons import decode
from tests.bot_support import People
from tests.fake_slack import FakeSlack
from tests.query_support import valid_blocks
from tests.test_query_actions import (
    _edit,
    assert_refused,
    busiest,
    buttons,
    click,
    figures,
    people,
    semantic_layer_impl,
    typed,
    warehouse_reads,
)

pytest_plugins = ["tests.query_support", "tests.bot_support"]
__all__ = ["busiest", "people", "semantic_layer_impl", "warehouse_reads"]  # fixtures of tests/test_query_actions.py


def labels(blocks: list[dict[str, Any]]) -> dict[str, str]:
    """action_id -> button text of every button in a message."""
    return {e["action_id"]: e["text"]["text"] for b in blocks if b["type"] == "actions" for e in b["elements"]
            if e["type"] == "button"}


def test_a_clarification_asks_with_a_button_per_reading_and_a_click_answers_it(
        bolt_app: Any, http_server: str, fake_slack: FakeSlack, people: People) -> None:
    asked = typed(bolt_app, fake_slack, people.director, "how many customers last month?")
    assert "Customers in a period" in json.dumps(asked)
    assert not [b for b in asked if b["type"] == "table"]  # a question, not an answer
    shown = labels(asked)
    values = buttons(asked)
    assert set(shown) == {f"ffq.q.read_{i}" for i in range(len(shown))} and len(shown) >= 2
    by_label = {text: action for action, text in shown.items()}
    assert {"New customers", "Active customers"} <= set(by_label)
    action = by_label["Active customers"]
    query = decode(values[action]).query
    assert to_grammar(query) == "metric active_customers last month"
    post = click(http_server, fake_slack, people.director, action, values[action])[0]
    assert post["replace_original"] is True  # the answer takes the question's place
    valid_blocks(post["blocks"])
    expected = typed(bolt_app, fake_slack, people.director, to_grammar(query))
    assert figures(post["blocks"]) == figures(expected)
    assert "Active customers" in figures(post["blocks"])[0]


def test_an_answer_carries_buttons_that_correct_its_reading(
        bolt_app: Any, http_server: str, fake_slack: FakeSlack, people: People) -> None:
    answer = typed(bolt_app, fake_slack, people.director, "card payments last month")
    assert answer[0]["text"]["text"].startswith("I read this as: *Transaction volume*")
    shown, values = labels(answer), buttons(answer)
    assert shown["ffq.q.read_0"] == "Transactions"  # the runner-up reading: the count
    assert {"ffq.q.grain_month", "ffq.q.prev", "ffq.q.add_tier"} <= set(values)  # grain, period, breakdown
    other = click(http_server, fake_slack, people.director, "ffq.q.read_0", values["ffq.q.read_0"])[0]
    valid_blocks(other["blocks"])
    assert figures(other["blocks"]) == figures(typed(
        bolt_app, fake_slack, people.director, "metric transaction_count last month where type=card_payment"))
    earlier = click(http_server, fake_slack, people.director, "ffq.q.prev", values["ffq.q.prev"])[0]
    query = decode(values["ffq.q.prev"]).query
    assert query.metrics == ("transaction_volume",)
    assert figures(earlier["blocks"]) == figures(typed(bolt_app, fake_slack, people.director, to_grammar(query)))


def test_a_customer_question_offers_only_their_readings_and_tampering_is_refused(
        bolt_app: Any, http_server: str, fake_slack: FakeSlack, people: People, warehouse_reads: list[str]) -> None:
    director = buttons(typed(bolt_app, fake_slack, people.director, "how many customers last month?"))
    mine = typed(bolt_app, fake_slack, people.customer, "my card payments last month")
    assert "your accounts only" in mine[0]["text"]["text"]
    values = buttons(mine)
    assert "ffq.share" not in values and not {a for a in values if a.startswith("ffq.q.add_tier")}
    fake_slack.reset()
    warehouse_reads.clear()
    cases = [
        ("ffq.q.read_0", director["ffq.q.read_0"], "not available to you"),  # a staff reading clicked by a customer
        ("ffq.q.read_0", _edit(values["ffq.q.read_0"], f=[["customer", [str(people.other_customer_id)]]]),
         "cannot group or filter by customer"),
        ("ffq.q.read_0", _edit(values["ffq.q.read_0"], m=["revenue'; drop table x --"]), "can't read that button"),
        ("ffq.q.read_x", values["ffq.q.read_0"], "not a button I know"),
        ("ffq.q.read_0", "v2:" + values["ffq.q.read_0"][3:], "can't read that button"),
    ]
    for action, value, words in cases:
        post = click(http_server, fake_slack, people.customer, action, value)[0]
        assert_refused(post, words)
        assert warehouse_reads == [], (action, value)
    post = click(http_server, fake_slack, people.customer, "ffq.q.read_0", values["ffq.q.read_0"])[0]
    assert "your accounts only" in figures(post["blocks"])[0]  # the customer's own reading: their data only


def test_a_word_naming_two_values_asks_which_with_a_button_each(
        bolt_app: Any, http_server: str, fake_slack: FakeSlack, people: People) -> None:
    asked = typed(bolt_app, fake_slack, people.director, "how many transfers last month")
    assert "“transfers” can mean several things" in json.dumps(asked, ensure_ascii=False)
    shown, values = labels(asked), buttons(asked)
    by_label = {text: action for action, text in shown.items()}
    assert set(by_label) == {"Transactions · p2p in", "Transactions · p2p out"}
    action = by_label["Transactions · p2p out"]
    post = click(http_server, fake_slack, people.director, action, values[action])[0]
    assert figures(post["blocks"]) == figures(typed(
        bolt_app, fake_slack, people.director, "metric transaction_count last month where type=p2p_out"))
