"""The "Subscribe…" menu on every metric answer (issue 16 item 2): a signed `block_actions` overflow choice over real
HTTP into the Bolt app on the query warehouse (tests/test_query_actions.py's fixtures and helpers).

The choice creates the CLICKING user's subscription to the answer's question, to their DMs, exactly as
`/finefin subscribe <question> <cadence>` would (same validation and access check as the clicker, same store,
audited), and answers ephemerally with what was created; a tampered value is refused and nothing is stored.
"""

from __future__ import annotations

import json
import time
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest
from sqlalchemy import text

from bot.commands.query_buttons import (
    MAX_OPTION_VALUE,
    ActionValueError,
    decode,
    decode_subscribe,
    encode_subscribe,
    subscribe_elements,
)
from bot.state.subscriptions import Item, SubscriptionStore
from semantic_layer.catalog import Grain
from semantic_layer.query import DimensionFilter, MetricQuery, Period
from tests.bot_support import People, action_body, sign
from tests.bot_support import post as http_post
from tests.fake_slack import FakeSlack
from tests.query_support import valid_blocks
from tests.test_query_actions import (
    _edit,
    assert_refused,
    busiest,
    buttons,
    people,
    responses,
    semantic_layer_impl,
    typed,
    warehouse_reads,
)

pytest_plugins = ["tests.query_support", "tests.bot_support"]
__all__ = ["busiest", "people", "semantic_layer_impl", "warehouse_reads"]  # fixtures of tests/test_query_actions.py


def menu(blocks: list[dict[str, Any]]) -> dict[str, str]:
    """The "Subscribe…" overflow menu of a message: option text -> value."""
    [overflow] = [e for b in blocks if b["type"] == "actions" for e in b["elements"] if e["type"] == "overflow"]
    assert overflow["action_id"] == "ffq.sub"
    return {o["text"]["text"]: o["value"] for o in overflow["options"]}


def choose(url: str, fake: FakeSlack, user_id: str, value: str, action_id: str = "ffq.sub") -> dict[str, Any]:
    """An overflow choice as Slack posts it (`selected_option`, no `value`), signed over real HTTP; the reply."""
    body, path = action_body(fake, user_id, action_id, value)
    payload = json.loads(parse_qs(body)["payload"][0])
    payload["actions"] = [{"type": "overflow", "action_id": action_id, "block_id": "ffq_more",
                           "selected_option": {"text": {"type": "plain_text", "text": "Subscribe"}, "value": value},
                           "action_ts": f"{time.time():.6f}"}]
    body = urlencode({"payload": json.dumps(payload)})
    assert http_post(url, body, sign(body))[0] == 200
    fake.wait_for(lambda f: len(responses(f, path)) >= 1)
    return responses(fake, path)[0]


def store(state_store: Any) -> SubscriptionStore:
    return state_store.subscriptions


def new_items(state_store: Any, user_id: str, before: list[Item]) -> list[Item]:
    known = {i.id for i in before}
    return [i for i in store(state_store).mine(user_id, "subscription") if i.id not in known]


def test_a_choice_subscribes_the_clicking_user_as_the_typed_command_would(
        bolt_app: Any, http_server: str, fake_slack: FakeSlack, people: People, state_store: Any) -> None:
    blocks = typed(bolt_app, fake_slack, people.director, "metric revenue by tier monthly from 2025-10 to 2025-12")
    choices = menu(blocks)
    assert list(choices) == ["Subscribe daily", "Subscribe weekly", "Subscribe monthly"]
    question = decode(buttons(blocks)["ffq.csv"]).query  # the answer's own (canonical) question
    before = store(state_store).mine(people.director, "subscription")
    reply = choose(http_server, fake_slack, people.director, choices["Subscribe weekly"])
    [item] = new_items(state_store, people.director, before)
    assert (item.owner_user_id, item.kind, item.cadence, item.target, item.metric_query) == \
        (people.director, "subscription", "weekly", None, question)
    assert reply["response_type"] == "ephemeral" and reply["replace_original"] is False  # the answer stays
    valid_blocks(reply["blocks"])
    shown = json.dumps(reply["blocks"])
    assert reply["text"] == f"Subscribed (#{item.id})." and f"*#{item.id}*" in shown and "your DMs" in shown
    assert "once per week" in shown and f"/finefin subscribe pause {item.id}" in shown
    # the typed command makes the same subscription
    typed_reply = typed(bolt_app, fake_slack, people.director,
                        "subscribe revenue by tier monthly from 2025-10 to 2025-12 weekly")
    [again] = new_items(state_store, people.director, [*before, item])
    assert (again.cadence, again.target, again.metric_query) == (item.cadence, item.target, item.metric_query)
    assert f"#{again.id}" in json.dumps(typed_reply)
    deadline, rows = time.monotonic() + 5, []
    while time.monotonic() < deadline and len(rows) < 2:
        with state_store.engine.begin() as conn:
            rows = conn.execute(text("SELECT user_id, command FROM audit_log WHERE command LIKE :c"),
                                {"c": f"subscription #{item.id} created%"}).fetchall()
        time.sleep(0.05)
    assert [r[0] for r in rows] == [people.director]  # audited by the store, as the clicker


def test_a_customer_subscribes_to_their_own_figures(
        bolt_app: Any, http_server: str, fake_slack: FakeSlack, people: People, state_store: Any) -> None:
    blocks = typed(bolt_app, fake_slack, people.customer, "metric transaction_volume monthly from 2025-10 to 2025-12")
    valid_blocks(blocks)
    before = store(state_store).mine(people.customer, "subscription")
    reply = choose(http_server, fake_slack, people.customer, menu(blocks)["Subscribe monthly"])
    [item] = new_items(state_store, people.customer, before)
    assert item.owner_user_id == people.customer and item.cadence == "monthly" and item.target is None
    assert not item.metric_query.filters  # no customer id in the value or the query: the policy scopes it at delivery
    assert f"Subscribed (#{item.id})" in reply["text"]
    # the director's menu, chosen by the customer, is the customer's subscription (never the director's)
    director = menu(typed(bolt_app, fake_slack, people.director, "metric transaction_volume monthly last 3 months"))
    reply = choose(http_server, fake_slack, people.customer, director["Subscribe daily"])
    [mine] = new_items(state_store, people.customer, [*before, item])
    assert mine.owner_user_id == people.customer and mine.cadence == "daily"


def test_tampered_values_are_refused_and_nothing_is_stored(
        bolt_app: Any, http_server: str, fake_slack: FakeSlack, people: People, state_store: Any,
        warehouse_reads: list[str]) -> None:
    value = menu(typed(bolt_app, fake_slack, people.customer,
                       "metric transaction_volume monthly from 2025-10 to 2025-12"))["Subscribe weekly"]
    other = str(people.other_customer_id)
    before = store(state_store).every("subscription")
    warehouse_reads.clear()
    cases = [
        ("ffq.sub", _edit(value, c="hourly"), "can't read that button"),
        ("ffq.sub", _edit(value, c=None), "can't read that button"),
        ("ffq.sub", _edit(value, v="c"), "can't read that button"),
        ("ffq.sub", _edit(value, owner=people.director), "can't read that button"),  # an unknown field: not ours
        ("ffq.sub", _edit(value, m=["new_customers"]), "not available to you"),
        ("ffq.sub", _edit(value, f=[["customer", [other]]]), "cannot group or filter by customer"),
        ("ffq.sub", _edit(value, g=["tier"]), "cannot group or filter by tier"),
        ("ffq.sub", "v1:{garbled", "can't read that button"),
        ("ffq.sub.7", value, "not a button I know"),
    ]
    for action, tampered, words in cases:
        assert_refused(choose(http_server, fake_slack, people.customer, tampered, action), words)
    assert warehouse_reads == []
    assert store(state_store).every("subscription") == before  # nothing stored


def test_values_round_trip_and_a_long_question_gets_three_buttons() -> None:
    query = MetricQuery(("revenue",), ("tier",), Grain.MONTH, period=Period.days(date(2025, 10, 1), date(2025, 12, 31)))
    for cadence in ("daily", "weekly", "monthly"):
        assert decode_subscribe(encode_subscribe(query, cadence)) == (query, cadence)
    [overflow] = subscribe_elements(query)
    assert overflow["type"] == "overflow" and all(len(o["value"]) <= MAX_OPTION_VALUE for o in overflow["options"])
    long = MetricQuery(("revenue",), ("tier",), Grain.MONTH,
                       filters=(DimensionFilter("type", ("card_payment", "fee", "interest", "transfer_out")),
                                DimensionFilter("country", ("FR", "DE", "ES", "IT", "NL", "BE"))))
    elements = subscribe_elements(long)
    assert [e["action_id"] for e in elements] == ["ffq.sub.0", "ffq.sub.1", "ffq.sub.2"]
    assert [decode_subscribe(e["value"]) for e in elements] == [(long, c) for c in ("daily", "weekly", "monthly")]
    valid_blocks([{"type": "actions", "block_id": "x", "elements": elements}])
    for bad in ('v1:{"m":["revenue"]}', 'v1:{"m":["revenue"],"c":"yearly"}',
                'v1:{"m":["revenue"],"c":"daily","v":"c"}'):
        with pytest.raises(ActionValueError):
            decode_subscribe(bad)
