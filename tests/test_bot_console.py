"""Console mode (`finefin ask`), the demo directory and show_demo: no Slack involved."""

# ruff: noqa: E402 - assertion rewriting must be registered before the support module is imported
from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.bot_support")

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from typer.testing import CliRunner

from bot.console import console_assistant, demo_staff_path, write_demo_staff
from bot.demo import ENV_FOR_ASK, finefin_command, next_steps, print_next_steps, show_demo, write_demo_people
from bot.directory import DEMO_ADVISOR, DEMO_CUSTOMER, DEMO_DIRECTOR, DEMO_RED_CUSTOMER, write_demo_directory
from bot.settings import BotSettings, get_bot_settings
from semantic_layer.inputs import CustomerId
from tests.bot_support import People, ask_slack, settings_for, write_directory

pytest_plugins = ["tests.bot_support"]


def test_write_demo_directory_picks_real_customers(semantic_layer_impl: Any, tmp_path: Path) -> None:
    people = write_demo_directory(semantic_layer_impl, tmp_path / "dir.json")
    users = json.loads((tmp_path / "dir.json").read_text())
    red = semantic_layer_impl.watchlist(None).red_streaks[0].customer_id
    assert people.red_customer_id == red
    assert users[DEMO_RED_CUSTOMER]["email"] == semantic_layer_impl.customer(red).email
    assert users[DEMO_CUSTOMER]["email"] == semantic_layer_impl.customer(people.customer_id).email
    assert people.customer_id != red
    assert {DEMO_ADVISOR, DEMO_DIRECTOR} <= set(users)


def test_show_demo_one_answer_per_role_and_a_refusal(semantic_layer_impl: Any, tmp_path: Path) -> None:
    """No staff configured (BotSettings()): the demo's advisor and director are staff through its staff file."""
    path = tmp_path / "dir.json"
    write_demo_people(semantic_layer_impl, path)
    assert json.loads(demo_staff_path(path).read_text()) == {"advisors": [DEMO_ADVISOR], "directors": [DEMO_DIRECTOR]}
    console = Console(record=True, width=120)
    outcomes = show_demo(semantic_layer_impl, path, console, settings=BotSettings())
    by_who = {who: ok for who, _, ok in outcomes}
    assert by_who["customer"] and by_who["advisor"] and by_who["director"]
    assert not by_who["customer asking for someone else (refused)"] and not by_who["stranger (refused)"]
    text = console.export_text()
    assert "Your balance" in text and "In the red 3+ months" in text and "Growth 20" in text
    assert "you can only see your own accounts" in text


@pytest.fixture()
def cli_env(semantic_layer_impl: Any, people: People, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import semantic_layer

    monkeypatch.setattr(semantic_layer, "get_semantic_layer", lambda: semantic_layer_impl, raising=False)
    directory = write_directory(tmp_path / "directory.json", semantic_layer_impl, people)
    monkeypatch.setenv("FINEFIN_DIRECTORY_FILE", str(directory))
    monkeypatch.setenv("FINEFIN_ADVISORS", people.advisor)
    monkeypatch.setenv("FINEFIN_DIRECTORS", people.director)
    monkeypatch.setenv("FINEFIN_DATA_DIR", str(tmp_path / "data"))
    get_bot_settings.cache_clear()
    from finefin.config import get_settings

    get_settings.cache_clear()
    yield tmp_path
    get_bot_settings.cache_clear()
    get_settings.cache_clear()


def test_cli_ask_json(cli_env: Path, semantic_layer_impl: Any, people: People) -> None:
    from finefin.cli import app

    result = CliRunner().invoke(app, ["ask", "--as", people.customer, "--json", "balance"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) == {"text", "blocks", "data"}
    expected = semantic_layer_impl.balance(CustomerId(people.customer_id))
    assert payload["data"]["total"] == str(expected.total)
    assert payload["data"]["customer_id"] == people.customer_id


def test_cli_ask_text_files_and_refusal(cli_env: Path, people: People) -> None:
    from finefin.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["ask", "--as", people.customer, "statement", "2026-10", "--out", str(cli_env / "out")])
    assert result.exit_code == 0, result.output
    assert "Statement 2026-10" in result.stdout
    assert (cli_env / "out" / f"statement-{people.customer_id}-2026-10.pdf").read_bytes().startswith(b"%PDF")
    refused = runner.invoke(app, ["ask", "--as", people.director, "balance", "1"])
    assert refused.exit_code == 1 and "not available to you" in refused.stderr and refused.stdout == ""


def test_cli_ask_refusal_as_json_goes_to_stderr_too(cli_env: Path, people: People) -> None:
    from finefin.cli import app

    refused = CliRunner().invoke(app, ["ask", "--as", people.director, "--json", "balance", "1"])
    assert refused.exit_code == 1 and refused.stdout == ""
    assert "not available to you" in json.loads(refused.stderr)["text"]


def test_cli_ask_without_words_shows_the_bots_help(cli_env: Path, people: People) -> None:
    from finefin.cli import app

    result = CliRunner().invoke(app, ["ask", "--as", people.advisor])
    assert result.exit_code == 0, result.output
    assert "you are recognised as: advisor" in result.stdout and "/finefin watchlist" in result.stdout


@pytest.mark.parametrize("words", [["balance", "-5"], ["balance", "-5", "--json"], ["--json", "balance", "-0"]])
def test_cli_ask_a_negative_id_reaches_the_bot(cli_env: Path, people: People, words: list[str]) -> None:
    """`balance -5` is the bot's to answer, not an unknown option of `finefin ask` (no `--` needed)."""
    from finefin.cli import app

    result = CliRunner().invoke(app, ["ask", "--as", people.advisor, *words])
    assert result.exit_code == 1 and result.stdout == ""
    assert "Customer ids are positive" in result.stderr and "No such option" not in result.stderr
    if "--json" in words:
        assert json.loads(result.stderr)["text"].startswith("Customer ids are positive")


def test_demo_staff_count_in_console_mode_only(
    semantic_layer_impl: Any, people: People, fake_slack: Any, tmp_path: Path, state_store: Any
) -> None:
    """The demo staff file stands in for FINEFIN_ADVISORS / FINEFIN_DIRECTORS in console mode; the Slack app, even
    with the same directory file configured beside it, takes staff from its settings only."""
    from slack_sdk import WebClient

    from bot.app import build_app

    directory = write_directory(tmp_path / "slack_directory.json", semantic_layer_impl, people)
    write_demo_staff(directory, advisors=[people.advisor], directors=[people.director])
    settings = settings_for(people, advisors=[], directors=[], directory_file=directory, dev_directory=True)
    console = console_assistant(semantic_layer_impl, settings, directory)
    assert console.answer(people.advisor, "watchlist").ok and console.answer(people.director, "growth").ok
    assert not console.answer(people.customer, "watchlist").ok
    app = build_app(semantic_layer_impl, settings, client=WebClient(token="xoxb-test", base_url=fake_slack.api_url),
                    state=state_store)
    for user, command in ((people.advisor, "watchlist"), (people.director, "growth")):
        posts = ask_slack(app, fake_slack, user, command)
        assert "Sorry, I don't recognise you" in posts[0]["text"], posts[0]["text"]


def test_demo_staff_file_must_list_user_ids(semantic_layer_impl: Any, people: People, tmp_path: Path) -> None:
    from finefin.errors import ConfigurationError

    directory = write_directory(tmp_path / "slack_directory.json", semantic_layer_impl, people)
    demo_staff_path(directory).write_text('{"advisors": "UADV1"}')
    with pytest.raises(ConfigurationError, match="must be"):
        console_assistant(semantic_layer_impl, settings_for(people), directory)


def test_cli_demo_staff_without_exported_variables(
    semantic_layer_impl: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`finefin ask --as UDEMOADVISOR watchlist` works as the demo prints it: no FINEFIN_ADVISORS/DIRECTORS set."""
    import semantic_layer
    from finefin.cli import app
    from finefin.config import get_settings

    monkeypatch.setattr(semantic_layer, "get_semantic_layer", lambda: semantic_layer_impl, raising=False)
    for name in ("FINEFIN_ADVISORS", "FINEFIN_DIRECTORS", "FINEFIN_DIRECTORY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FINEFIN_DATA_DIR", str(tmp_path / "data"))
    get_bot_settings.cache_clear()
    get_settings.cache_clear()
    try:
        write_demo_people(semantic_layer_impl, tmp_path / "data" / "slack_directory.json")
        runner = CliRunner()
        watchlist = runner.invoke(app, ["ask", "--as", DEMO_ADVISOR, "watchlist"])
        assert watchlist.exit_code == 0, watchlist.output
        assert watchlist.stdout.startswith(f"Watchlist {semantic_layer_impl.watchlist(None).month}")
        growth = runner.invoke(app, ["ask", "--as", DEMO_DIRECTOR, "growth"])
        assert growth.exit_code == 0 and growth.stdout.startswith("Growth "), growth.output
    finally:
        get_bot_settings.cache_clear()
        get_settings.cache_clear()


def test_next_steps_name_the_demo_users_and_the_command_as_run(
    semantic_layer_impl: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / ".venv" / "bin" / "finefin"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(script), "demo"])
    monkeypatch.setenv("PATH", "/nonexistent")
    for name in ENV_FOR_ASK:
        monkeypatch.delenv(name, raising=False)
    assert finefin_command() == ".venv/bin/finefin"
    monkeypatch.setenv("FINEFIN_DATA_DIR", "data dir")  # relative, with a space: absolute and quoted
    assert finefin_command() == f"FINEFIN_DATA_DIR='{tmp_path / 'data dir'}' .venv/bin/finefin"
    monkeypatch.setenv("PATH", str(script.parent))
    assert finefin_command().endswith(" finefin")  # what the PATH finds is the program that ran
    people = write_demo_people(semantic_layer_impl, tmp_path / "dir.json")
    steps = next_steps(people, ".venv/bin/finefin")
    commands = [step.command for step in steps]
    assert ".venv/bin/finefin ask --as UDEMOADVISOR watchlist" in commands
    assert {c.split()[3] for c in commands} == {DEMO_CUSTOMER, DEMO_RED_CUSTOMER, DEMO_ADVISOR, DEMO_DIRECTOR}
    console = Console(record=True, width=40)
    print_next_steps(steps, console)
    lines = console.export_text().splitlines()
    assert all(f"    {c}" in lines for c in commands)  # whole lines at any console width: ready to paste


def test_cli_version_and_help_without_bool_placeholders() -> None:
    import click

    from finefin.cli import app, package_version

    runner = CliRunner()
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.stdout == f"finefin {package_version()}\n"
    assert package_version()[0].isdigit()

    def paths(command: click.Command, prefix: list[str]) -> list[list[str]]:
        found = [prefix]
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                found += paths(sub, [*prefix, name])
        return found

    for path in paths(typer.main.get_command(app), []):
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.stdout, (path, result.stdout)
        assert "Usage:" in result.stdout
    transform = runner.invoke(app, ["transform", "--help"]).stdout
    assert "--full-refresh / --no-full-refresh" in transform


def test_count_messages_are_pluralised() -> None:
    from datetime import datetime, timedelta
    from decimal import Decimal

    from bot import blocks as bk
    from bot.assistant import watchlist_answer
    from bot.scheduled import PostFailedError, PostReport
    from semantic_layer.inputs import Month
    from semantic_layer.types import Freshness, RedStreak, Watchlist, WatchlistEntry

    assert [bk.plural(n, "entry", "entries") for n in (0, 1, 2, 1000)] == [
        "0 entries", "1 entry", "2 entries", "1,000 entries"]
    assert [bk.plural(n, "month") for n in (1, 3)] == ["1 month", "3 months"]
    entry = WatchlistEntry(CustomerId(7), "Ada", "loans_outstanding", Decimal("25000"), Decimal("20000"))
    streak = RedStreak(CustomerId(8), "Bob", 1, Month(2026, 10), Decimal("-5"))
    one = Watchlist(Month(2026, 10), (entry,), (streak,), min_red_months=1)
    now = datetime(2026, 11, 1, 8, 0)
    answer = watchlist_answer(one, Freshness(now, now, timedelta(hours=6)), limit=15)
    assert answer.text == "Watchlist 2026-10: 1 entry"
    two = watchlist_answer(Watchlist(Month(2026, 10), (entry, entry), ()), Freshness(now, now, timedelta(hours=6)), 15)
    assert two.text == "Watchlist 2026-10: 2 entries"
    assert "— 1 month in the red since 2026-10" in bk.red_lines(one)[0]
    assert str(PostFailedError(PostReport(failed=["watchlist → CADV: boom"]))).startswith("1 Slack post failed: ")
    assert str(PostFailedError(PostReport(failed=["a", "b"]))).startswith("2 Slack posts failed: ")


def test_transform_can_rebuild_one_model_and_what_depends_on_it(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    """The README's way to repair one model by hand after a failed dbt_build: `finefin transform --select m+`."""
    from finefin import transform
    from finefin.cli import app
    from finefin.config import get_settings

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(transform, "run_dbt_build", lambda settings, **kwargs: calls.append(kwargs) or "built")
    monkeypatch.setenv("FINEFIN_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["transform", "--select", "fct_transactions+"])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert calls == [{"full_refresh": False, "select": "fct_transactions+"}]
