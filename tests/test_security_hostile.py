"""Hostile text in the data and in commands never reaches Slack as a mention, a link or emphasis.

Hostile names are planted in every text field the bot reads from the semantic layer (the in-memory double), then
every command of every role, the scheduled posts, an alert and the Home tab run against the fake Slack Web API.
Every payload it captured (top-level text, blocks, views, initial_comment, file titles) is then searched.
"""

# ruff: noqa: E402 - assertion rewriting must be registered before the support module is imported
from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.bot_support")

import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Any

from bot.escape import slack_text
from semantic_layer.inputs import CustomerId, Month
from semantic_layer.types import (
    AccountBalance,
    CustomerBalance,
    MetricDefinition,
    TierBreakdown,
    TierCount,
    TransactionsMonthRow,
    TransactionsPerMonth,
)
from tests.bot_support import People, ask_slack, build_double, dispatch, settings_for, sign

pytest_plugins = ["tests.bot_support"]

CAMILLE = "Camille <!channel> & <https://evil.example/login|Reset your password> *Lefèvre*"
MENTION = "<@U123> _x ~y `rm -rf` <#C0GENERAL> <!subteam^S1>"
FORBIDDEN = ("<!", "<@", "<#", "<http")
PLANTED_MARKERS = ("*Lefèvre*", "_x", "~y", "`rm")


def _hostile_double() -> Any:
    sl = build_double()
    sl.profiles[1] = dataclasses.replace(sl.profiles[1], full_name=CAMILLE, tier="Diamond *vip*")
    sl.profiles[2] = dataclasses.replace(sl.profiles[2], full_name=MENTION)
    sl.balances[1] = CustomerBalance(
        CustomerId(1),
        sl.balances[1].as_of,
        (
            AccountBalance(10, "checking <!here>", "active", sl.balances[1].accounts[0].balance),
            AccountBalance(11, "_savings", "frozen ~x <@U9>", sl.balances[1].accounts[1].balance),
        ),
        sl.balances[1].total,
    )
    up = sl.upcomings[1]
    items = tuple(
        dataclasses.replace(i, description=f"{CAMILLE} {MENTION}", transaction_type="bill_payment <!everyone>")
        for i in up.items
    )
    sl.upcomings[1] = dataclasses.replace(up, items=items)
    sl.watch = dataclasses.replace(
        sl.watch,
        entries=tuple(
            e._replace(full_name=CAMILLE if e.customer_id.value == 1 else MENTION) for e in sl.watch.entries
        ),
        red_streaks=tuple(r._replace(full_name=MENTION) for r in sl.watch.red_streaks),
    )
    assert sl.tiers is not None and sl.tpm is not None
    sl.tiers = TierBreakdown(sl.tiers.month, tuple(TierCount(f"*{t.tier}", t.customers, t.change)
                                                   for t in sl.tiers.tiers))
    sl.tpm = TransactionsPerMonth(
        sl.tpm.first_month,
        sl.tpm.last_month,
        tuple(TransactionsMonthRow(r.month, f"{r.transaction_type}<!channel>", r.transaction_count,
                                   r.transaction_volume) for r in sl.tpm.rows),
    )
    # metric metadata is governed (dbt YAML): its `code` formatting is kept, but no mention or link survives
    sl.definitions = {
        name: MetricDefinition(name, f"{d.label} <@U123> _x", "<!channel> & <https://evil.example|x> `col`",
                               "simple ~x", "<@U123> sum of `fee_amount` <#C0GENERAL>")
        for name, d in sl.definitions.items()
    }
    return sl


@pytest.fixture()
def semantic_layer_impl() -> Any:
    """Overrides tests.bot_support's fixture: every command, post and tab reads hostile text."""
    return _hostile_double()


def _strings(value: Any) -> Iterator[str]:
    """Every string in a captured payload, JSON-encoded fields (blocks, view, files) opened up."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        if value[:1] in "[{":
            try:
                yield from _strings(json.loads(value))
                return
            except ValueError:
                pass
        yield value


def _open_markers(text: str) -> dict[str, int]:
    """Markers that Slack could pair (not between two letters or digits), per marker, when their count is odd."""
    counts = {}
    for marker in "*_~":
        n = sum(
            1
            for i, ch in enumerate(text)
            if ch == marker and not (0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum())
        )
        if n % 2:
            counts[marker] = n
    return counts


def _captured(fake: Any) -> list[tuple[str, str]]:
    """(api method, string) for everything the bot sent, except uploaded file bodies (CSV/PDF/PNG bytes)."""
    return [(c.method, s) for c in fake.calls if c.method != "upload" for s in _strings(c.params)]


def _assert_inert(fake: Any) -> int:
    captured = _captured(fake)
    assert captured, "nothing was sent"
    for method, text in captured:
        for bad in FORBIDDEN:
            assert bad not in text, f"{method} carries {bad!r}: {text[:300]!r}"
        for planted in PLANTED_MARKERS:
            assert planted not in text, f"{method} carries the planted {planted!r}: {text[:300]!r}"
        assert not _open_markers(text), f"{method}: unbalanced markers {_open_markers(text)} in {text[:300]!r}"
    return len(captured)


def _settle(fake: Any, quiet: float = 0.4, timeout: float = 15.0) -> None:
    """Wait until no call has arrived for `quiet` seconds (uploads follow the ephemeral answer)."""
    deadline = time.monotonic() + timeout
    seen = -1
    while time.monotonic() < deadline:
        if len(fake.calls) == seen:
            return
        seen = len(fake.calls)
        time.sleep(quiet)
    raise AssertionError("Slack calls did not settle")


COMMANDS: dict[str, list[str]] = {
    "customer": ["", "help", "balance", "upcoming", "statement", "statement 2026-10", "watchlist"],
    "red_customer": ["balance", "upcoming", "balance 1"],
    "advisor": ["help", "watchlist", "red", "balance 1", "balance 2", "balance cust-3", "growth"],
    "director": ["help", "growth", "growth 2026-10", "tiers", "transactions", "define revenue", "define new_customers"],
    "unknown": ["balance", "help"],
}
HOSTILE_INPUT = [
    "<!channel>",
    "balance <@U123>",
    "balance <https://evil.example|x>",
    "define <http://evil.example|revenue>",
    "define *revenue*",
    "growth _2026-10_",
    "statement ~2026-10~",
    "`help`",
    "statement 2026-10 <!here>",
]


def test_no_payload_carries_a_mention_link_or_emphasis_from_data_or_users(
    bolt_app: Any, fake_slack: Any, people: People
) -> None:
    for role, commands in COMMANDS.items():
        user = getattr(people, role)
        for text in commands:
            ask_slack(bolt_app, fake_slack, user, text)
    for user in (people.customer, people.advisor, people.director):
        for text in HOSTILE_INPUT:
            ask_slack(bolt_app, fake_slack, user, text)
    _settle(fake_slack)
    comments = [c.params.get("initial_comment") for c in fake_slack.calls_to("files.completeUploadExternal")]
    assert any(CAMILLE[:7] in (c or "") for c in comments) or comments, "statement files were uploaded"
    advisor_text = [
        c.params["text"] for c in fake_slack.calls_to("response") if "Camille" in c.params.get("text", "")
    ]
    assert advisor_text, "the advisor's balance 1 fallback names the customer"
    assert slack_text(CAMILLE) in advisor_text[0]  # shown, escaped: the name is still readable
    assert _assert_inert(fake_slack) > 100


def test_scheduled_posts_alert_and_home_tab_are_inert(
    bolt_app: Any, fake_slack: Any, people: People, semantic_layer_impl: Any
) -> None:
    from bot.app import make_client
    from bot.scheduled import post_advisor_watchlist, post_alert, post_director_digest

    settings = settings_for(
        people, slack_api_url=fake_slack.api_url, alerts_channel="CALERT", list_limit=1,
        advisor_assignments={people.advisor: [1, 2]},
    )
    client = make_client(settings)
    post_advisor_watchlist(semantic_layer_impl, client, settings)
    post_director_digest(semantic_layer_impl, client, settings, Month(2026, 10))
    post_alert(client, settings, f"dags.refresh failed\nValueError: bad row {CAMILLE}\n{MENTION}")
    for n, user in enumerate((people.customer, people.advisor, people.director, people.unknown)):
        body = json.dumps({
            "token": "legacy", "team_id": "T0001", "api_app_id": "A0001", "type": "event_callback",
            "event_id": f"EvHostile{n}", "event_time": int(time.time()),
            "event": {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home"},
        })
        assert dispatch(bolt_app, body, {**sign(body), "content-type": "application/json"}).status == 200
    fake_slack.wait_calls("views.publish", 4)
    _settle(fake_slack)
    methods = {c.method for c in fake_slack.calls}
    assert {"chat.postMessage", "files.completeUploadExternal", "views.publish"} <= methods
    alert = next(c for c in fake_slack.calls_to("chat.postMessage") if c.params["channel"] == "CALERT")
    assert "dags.refresh failed\n" in alert.params["text"]  # lines kept
    _assert_inert(fake_slack)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (CAMILLE, "Camille &lt;!channel&gt; &amp; &lt;https://evil.example/login|Reset your password&gt; "
                  "\uff0aLefèvre\uff0a"),
        ("new_customers 2*3 snake_case", "new_customers 2*3 snake_case"),  # in-word markers are inert already
        ("_x ~y *z", "\uff3fx \uff5ey \uff0az"),
        ("`code`", "\uff40code\uff40"),
        ("a\nb\tc\x00d", "a b c d"),
        ("1,000\u202e", "1,000"),
        ("&lt;already&gt; &amp; & <", "&lt;already&gt; &amp; &amp; &lt;"),
        (None, ""),
        (42, "42"),
    ],
)
def test_slack_text(raw: object, shown: str) -> None:
    assert slack_text(raw) == shown
    assert slack_text(slack_text(raw)) == shown  # idempotent: the Slack boundary may apply it again


def test_slack_text_is_bounded_and_never_cuts_an_entity() -> None:
    assert slack_text("x" * 1000) == "x" * 499 + "…"
    for limit in range(2, 14):
        out = slack_text("ab<cd>&ef" * 3, limit)
        assert len(out) <= limit and out.endswith("…")
        assert out.count("&") == out.count(";"), out
    assert slack_text("a\nb", multiline=True) == "a\nb"
