"""The commands' table (bot/commands/): one module per command, the capability-gated ones run only after the access
check in bot.assistant, and the usage lines, help table and usage errors the users knew stay word for word.

No data is touched here: the oracle tests of each command's answers are test_bot_e2e, test_bot_access,
test_statement_pdf, test_bot_console and test_bot_scheduled."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot import commands as registry
from bot.access import ACCESS, Capability, Identity, Role
from bot.answer import Answer
from bot.assistant import HELP, SUBCOMMANDS, AccessDenied, Assistant, BotUsageError, Request, parse
from bot.settings import BotSettings

ROOT = Path(__file__).resolve().parents[1]

# The texts users saw before the commands moved out of bot/assistant.py, written out.
HELP_BEFORE: dict[Capability, tuple[str, str]] = {
    Capability.OWN_BALANCE: ("balance", "your accounts, total and as-of date"),
    Capability.UPCOMING: ("upcoming", "scheduled transactions in the next 30 days and your projected balance"),
    Capability.STATEMENT: ("statement [YYYY-MM]", "monthly statement as PDF + CSV in your DMs (default: last month)"),
    Capability.CUSTOMER_BALANCE: ("balance <customer>", "a customer's accounts and total"),
    Capability.WATCHLIST: ("watchlist", "customers with high withdrawals, loans or investments, with reasons"),
    Capability.RED: ("red", "customers in the red 3+ consecutive months"),
    Capability.GROWTH: ("growth [YYYY-MM]", "revenue, volume, new customers, month over month"),
    Capability.TIERS: ("tiers", "customers per tier and change"),
    Capability.TRANSACTIONS: ("transactions", "transactions per month by type, with a chart"),
    Capability.DEFINE: ("define <metric>", "the governed definition of a metric"),
}
GATED = ("help", "balance", "upcoming", "statement", "watchlist", "red", "growth", "tiers", "transactions", "define")


def test_help_table_and_names_are_the_ones_users_knew() -> None:
    assert list(HELP.items()) == list(HELP_BEFORE.items())  # same lines, same order
    assert SUBCOMMANDS == GATED
    queries = ["metric", "metrics", "why", "alert", "alerts", "subscribe", "subscriptions", "ask"]
    assert list(registry.commands()) == queries  # lookup() never sees a gated command
    assert list(registry.table()) == [*GATED, *queries]


def test_every_capability_has_exactly_one_form_in_one_module() -> None:
    forms = [(name, f) for name, c in registry.table().items() for f in c.forms]
    assert sorted(f.capability for _, f in forms) == sorted(Capability)
    for name, form in forms:
        module = form.handler.__module__
        assert module == f"bot.commands.{name}", (form.capability, module)  # handler beside its usage line
        assert 0 <= form.min_args <= form.max_args


def test_the_web_process_reads_the_gated_commands_without_the_query_service() -> None:
    """bot.assistant (imported by the ack path) builds HELP and SUBCOMMANDS from the gated commands alone: the
    query-model commands, and with them the query service and DuckDB, load when first asked for."""
    code = ("import sys, bot.assistant; "
            "print(sorted(m for m in ('bot.commands.context', 'bot.commands.metric', 'duckdb') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_each_command_module_stands_alone() -> None:
    """A command module never reaches back into the assistant (the dispatcher imports the commands, not the
    other way round), and the assistant keeps no per-command handler."""
    for path in sorted((ROOT / "bot" / "commands").glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert "bot.assistant" not in imported, path.name
    handlers = {f"_{cap.name.lower()}" for cap in Capability}
    assert not handlers & set(vars(Assistant)), sorted(handlers & set(vars(Assistant)))


@pytest.mark.parametrize(("text", "capability", "args"), [
    ("", Capability.HELP, ()),
    ("HELP me", Capability.HELP, ("me",)),
    ("balance", Capability.OWN_BALANCE, ()),
    ("Balance #42", Capability.CUSTOMER_BALANCE, ("#42",)),
    ("statement", Capability.STATEMENT, ()),
    ("statement 2026-01", Capability.STATEMENT, ("2026-01",)),
    ("growth 2026-01", Capability.GROWTH, ("2026-01",)),
    ("define revenue", Capability.DEFINE, ("revenue",)),
])
def test_parse_picks_the_form(text: str, capability: Capability, args: tuple[str, ...]) -> None:
    assert parse(text) == Request(capability, args)


@pytest.mark.parametrize(("text", "message"), [
    ("balance 1 2", "Usage: `/finefin balance <customer>`."),
    ("upcoming soon", "Usage: `/finefin upcoming`."),
    ("statement 2026-01 2026-02", "Usage: `/finefin statement [YYYY-MM]`."),
    ("watchlist all", "Usage: `/finefin watchlist`."),
    ("red now", "Usage: `/finefin red`."),
    ("growth a b", "Usage: `/finefin growth [YYYY-MM]`."),
    ("tiers x", "Usage: `/finefin tiers`."),
    ("transactions x", "Usage: `/finefin transactions`."),
    ("define", "Usage: `/finefin define <metric>`."),
    ("define a b", "Usage: `/finefin define <metric>`."),
    ("help a b", "Usage: `/finefin help`."),
    ("balancee", "I don't know “balancee”. Try `/finefin help`."),
    ("metric", "I don't know “metric”. Try `/finefin help`."),  # parse() is only asked after lookup()
])
def test_usage_errors_are_unchanged(text: str, message: str) -> None:
    with pytest.raises(BotUsageError) as caught:
        parse(text)
    assert str(caught.value) == message


class _Untouchable:
    """A semantic layer that must not be reached."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the semantic layer was asked for {name}")


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Capability, tuple[str, ...]]]:
    """Every gated form's handler replaced by one that records its call (the table is patched, not the modules)."""
    calls: list[tuple[Capability, tuple[str, ...]]] = []

    def recorder(cap: Capability) -> Any:
        def handle(ctx: Any, identity: Identity, args: tuple[str, ...]) -> Answer:
            calls.append((cap, args))
            return Answer(text=f"ran {cap.value}", blocks=[])
        return handle

    patched = {
        name: dataclasses.replace(c, forms=tuple(dataclasses.replace(f, handler=recorder(f.capability))
                                                 for f in c.forms))
        for name, c in registry.gated().items()
    }
    monkeypatch.setattr(registry, "_GATED", patched)
    return calls


@pytest.mark.parametrize("role", list(Role))
def test_a_gated_command_runs_only_after_the_access_check(
        recording: list[tuple[Capability, tuple[str, ...]]], role: Role) -> None:
    settings = BotSettings(slack_bot_token="xoxb-test", slack_signing_secret="s" * 32, list_limit=15)
    assistant = Assistant(_Untouchable(), settings, _Untouchable())  # type: ignore[arg-type]
    identity = Identity("U1", frozenset({role}))
    texts = {Capability.HELP: "help", Capability.OWN_BALANCE: "balance", Capability.CUSTOMER_BALANCE: "balance 7",
             Capability.UPCOMING: "upcoming", Capability.STATEMENT: "statement 2026-01",
             Capability.WATCHLIST: "watchlist", Capability.RED: "red", Capability.GROWTH: "growth",
             Capability.TIERS: "tiers", Capability.TRANSACTIONS: "transactions", Capability.DEFINE: "define revenue"}
    assert set(texts) == set(Capability)
    for cap, text in texts.items():
        before = len(recording)
        if role in ACCESS[cap]:
            assert assistant.answer_for(identity, text).text == f"ran {cap.value}"
            assert recording[before:] == [(cap, tuple(text.split()[1:]))]
        else:
            with pytest.raises(AccessDenied):
                assistant.answer_for(identity, text)
            assert recording[before:] == [], (role, cap)
