"""Console mode (`finefin ask`), the demo directory and show_demo: no Slack involved."""

# ruff: noqa: E402 - assertion rewriting must be registered before the support module is imported
from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.bot_support")

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from typer.testing import CliRunner

from bot.demo import show_demo
from bot.directory import DEMO_ADVISOR, DEMO_CUSTOMER, DEMO_DIRECTOR, DEMO_RED_CUSTOMER, write_demo_directory
from bot.settings import BotSettings, get_bot_settings
from semantic_layer.inputs import CustomerId
from tests.bot_support import People, write_directory

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
    path = tmp_path / "dir.json"
    write_demo_directory(semantic_layer_impl, path)
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
    assert refused.exit_code == 1 and "not available to you" in refused.stdout
