"""Who may see what: the access matrix (every role × every command), identity from email, caches."""

# ruff: noqa: E402 - assertion rewriting must be registered before the support module is imported
from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.bot_support")

from pathlib import Path
from typing import Any

from bot.access import ACCESS, Capability, Role
from bot.identity import IdentityResolver, SlackUserLookup
from tests.bot_support import People, make_assistant, settings_for

pytest_plugins = ["tests.bot_support"]

GENERIC_ERROR = "something went wrong"

# command text → the capability it needs
COMMANDS: dict[str, Capability] = {
    "help": Capability.HELP,
    "balance": Capability.OWN_BALANCE,
    "balance {other}": Capability.CUSTOMER_BALANCE,
    "upcoming": Capability.UPCOMING,
    "statement": Capability.STATEMENT,
    "watchlist": Capability.WATCHLIST,
    "red": Capability.RED,
    "growth": Capability.GROWTH,
    "tiers": Capability.TIERS,
    "transactions": Capability.TRANSACTIONS,
    "define revenue": Capability.DEFINE,
}

# The matrix, written out: role → commands allowed. Everything else is refused.
ALLOWED: dict[str, set[str]] = {
    "customer": {"help", "balance", "upcoming", "statement"},
    "advisor": {"help", "balance {other}", "watchlist", "red"},
    "director": {"help", "growth", "tiers", "transactions", "define revenue"},
    "advisor+director": {
        "help",
        "balance {other}",
        "watchlist",
        "red",
        "growth",
        "tiers",
        "transactions",
        "define revenue",
    },
    "customer+advisor": {"help", "balance", "upcoming", "statement", "balance {other}", "watchlist", "red"},
    "unknown": set(),
    "unverified email": set(),
}


def test_matrix_covers_every_capability() -> None:
    assert set(COMMANDS.values()) == set(Capability) == set(ACCESS)


@pytest.fixture()
def user_for_role(people: People) -> dict[str, str]:
    return {
        "customer": people.customer,
        "advisor": people.advisor,
        "director": people.director,
        "advisor+director": "USTAFF2",
        "customer+advisor": people.red_customer,
        "unknown": people.unknown,
        "unverified email": people.unverified,
    }


@pytest.mark.parametrize("role", list(ALLOWED))
def test_access_matrix(
    role: str, semantic_layer_impl: Any, people: People, tmp_path: Path, user_for_role: dict[str, str]
) -> None:
    assistant = make_assistant(
        semantic_layer_impl,
        people,
        tmp_path,
        advisors=[people.advisor, "USTAFF2", people.red_customer],
        directors=[people.director, "USTAFF2"],
    )
    user = user_for_role[role]
    calls = getattr(semantic_layer_impl, "calls", None)  # the double records calls; a real layer does not
    for command in COMMANDS:
        text = command.format(other=people.other_customer_id)
        before = len(calls) if calls is not None else 0
        answer = assistant.answer(user, text)
        assert GENERIC_ERROR not in answer.text, (role, text, answer.text)
        if command in ALLOWED[role]:
            assert answer.ok, (role, text, answer.text)
            if text != "help":
                assert answer.data is not None
        else:
            assert not answer.ok, (role, text, answer.text)
            assert "Sorry" in answer.text
            if calls is not None:
                data_calls = [c for c in calls[before:] if c[0] != "customer_by_email"]
                assert data_calls == [], f"{role} refused {text!r} but the semantic layer was asked {data_calls}"


def test_customer_sees_only_own_data(semantic_layer_impl: Any, people: People, tmp_path: Path) -> None:
    assistant = make_assistant(semantic_layer_impl, people, tmp_path)
    own = assistant.answer(people.customer, "balance")
    assert own.data.customer_id.value == people.customer_id
    refused = assistant.answer(people.customer, f"balance {people.red_customer_id}")
    assert refused.text == "Sorry, you can only see your own accounts: use `/finefin balance`."
    red = assistant.answer(people.red_customer, "upcoming")
    assert red.data.customer_id.value == people.red_customer_id


def test_help_lists_only_allowed_commands(semantic_layer_impl: Any, people: People, tmp_path: Path) -> None:
    assistant = make_assistant(semantic_layer_impl, people, tmp_path)
    text = assistant.answer(people.customer, "help").text
    assert "statement [YYYY-MM]" in text and "watchlist" not in text and "growth" not in text
    assert "recognised as: customer" in text
    text = assistant.answer(people.director, "help").text
    assert "growth [YYYY-MM]" in text and "balance <customer>" not in text
    assert "don't recognise you" in assistant.answer(people.unknown, "help").text


def test_unverified_email_is_not_a_customer(semantic_layer_impl: Any, fake_slack: Any, people: People) -> None:
    from slack_sdk import WebClient

    resolver = IdentityResolver(
        SlackUserLookup(WebClient(token="x", base_url=fake_slack.api_url)), semantic_layer_impl, settings_for(people)
    )
    assert resolver.resolve(people.unverified).roles == frozenset()
    assert resolver.resolve(people.customer).roles == {Role.CUSTOMER}


def test_lookups_are_cached_with_ttl(semantic_layer_impl: Any, fake_slack: Any, people: People) -> None:
    from slack_sdk import WebClient

    now = [1000.0]
    fake_slack.groups["SADV"] = ["UGROUPADV"]
    resolver = IdentityResolver(
        SlackUserLookup(WebClient(token="x", base_url=fake_slack.api_url)),
        semantic_layer_impl,
        settings_for(people, advisor_group="SADV"),
        clock=lambda: now[0],
    )
    fake_slack.add_user("UGROUPADV", "group.advisor@finefinance.example", "Grace")
    assert Role.ADVISOR in resolver.resolve("UGROUPADV").roles
    for _ in range(5):
        resolver.resolve(people.customer)
    assert len(fake_slack.calls_to("users.info")) == 2
    assert len(fake_slack.calls_to("usergroups.users.list")) == 1
    now[0] += 61  # identity_cache_seconds=60 in settings_for
    resolver.resolve(people.customer)
    assert len(fake_slack.calls_to("users.info")) == 3
