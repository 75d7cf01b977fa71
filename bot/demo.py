"""The bot's part of `make demo`: demo users, one answer per role and a refused request, in the console, no Slack.

`write_demo_people` writes the demo's user directory and its staff file (`bot.console.with_demo_staff`), so the
printed next steps (`finefin ask --as UDEMOADVISOR watchlist`, …) work as pasted, with nothing to export.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.panel import Panel

from bot.console import console_assistant, write_demo_staff
from bot.directory import (
    DEMO_ADVISOR,
    DEMO_CUSTOMER,
    DEMO_DIRECTOR,
    DEMO_RED_CUSTOMER,
    DEMO_STRANGER,
    DemoPeople,
    write_demo_directory,
)
from bot.render import blocks_to_text
from bot.settings import BotSettings, get_bot_settings
from semantic_layer.api import SemanticLayer

DEMO_REQUESTS: tuple[tuple[str, str, str], ...] = (
    ("customer", DEMO_CUSTOMER, "balance"),
    ("customer in the red", DEMO_RED_CUSTOMER, "upcoming"),
    ("advisor", DEMO_ADVISOR, "red"),
    ("director", DEMO_DIRECTOR, "growth"),
    ("customer asking for someone else (refused)", DEMO_CUSTOMER, "balance {red_id}"),
    ("stranger (refused)", DEMO_STRANGER, "balance"),
)
PANEL_WIDTH = 100
"""Answers are drawn at most this wide, like a Slack message, however wide the console."""

ENV_FOR_ASK = ("FINEFIN_DATA_DIR", "FINEFIN_WAREHOUSE", "FINEFIN_TARGET", "FINEFIN_DIRECTORY_FILE")
"""Settings that decide what `finefin ask` reads: repeated in the next steps when set, so they work when pasted."""


def write_demo_people(sl: SemanticLayer, directory_path: Path) -> DemoPeople:
    """The demo's users (real customers, an advisor, a director, a stranger) and its staff file beside them."""
    people = write_demo_directory(sl, directory_path)
    write_demo_staff(directory_path, advisors=[people.advisor], directors=[people.director])
    return people


def show_demo(
    sl: SemanticLayer, directory_path: Path, console: Console, settings: BotSettings | None = None
) -> list[tuple[str, str, bool]]:
    """Print the answers; return (who, command, ok) per request so callers can check the outcome.

    The answers come from the console mode's assistant (`console_assistant`), as `finefin ask` would give them."""
    assistant = console_assistant(sl, settings or get_bot_settings(), directory_path)
    known = set(assistant.resolver.lookup.users)  # type: ignore[attr-defined]
    red = assistant.resolver.lookup.lookup(DEMO_RED_CUSTOMER)  # type: ignore[attr-defined]
    red_profile = sl.customer_by_email(red.email) if red is not None and red.email else None
    red_id = red_profile.customer_id if red_profile is not None else 1
    outcomes = []
    for who, user_id, template in DEMO_REQUESTS:
        if user_id not in known:
            continue
        text = template.format(red_id=red_id)
        answer = assistant.answer(user_id, text)
        style = "green" if answer.ok else "yellow"
        console.print(
            Panel(
                blocks_to_text(answer.blocks), title=f"{who}: /finefin {text}", title_align="left", border_style=style,
                width=min(console.width, PANEL_WIDTH),
            )
        )
        outcomes.append((who, text, answer.ok))
    return outcomes


@dataclass(frozen=True)
class NextStep:
    what: str
    command: str


def next_steps(people: DemoPeople, command: str | None = None) -> list[NextStep]:
    """What to try after the demo: one `finefin ask` per demo user, as a shell line that works when pasted."""
    ask = f"{command or finefin_command()} ask --as"
    steps = [
        NextStep("a customer: their accounts and total balance", f"{ask} {people.customer} balance"),
        NextStep("their statement for last month (PDF + CSV, saved under the data folder's bot-files/)",
                 f"{ask} {people.customer} statement"),
    ]
    if people.red_customer is not None:
        steps.append(NextStep("a customer in the red: scheduled payments and the projected balance",
                              f"{ask} {people.red_customer} upcoming"))
    steps += [
        NextStep("an advisor: the watchlist (high withdrawals, loans, investments)",
                 f"{ask} {people.advisor} watchlist"),
        NextStep("an advisor: customers in the red for months", f"{ask} {people.advisor} red"),
        NextStep("an advisor: any customer's balance", f"{ask} {people.advisor} balance {people.customer_id}"),
        NextStep("a director: growth month over month", f"{ask} {people.director} growth"),
        NextStep("a director: customers per tier", f"{ask} {people.director} tiers"),
        NextStep("anyone: what they may ask", f"{ask} {people.director} help"),
    ]
    return steps


def print_next_steps(steps: list[NextStep], console: Console) -> None:
    """Commands on lines of their own, never wrapped or cut (whatever the console's width), ready to paste."""
    console.print("\n[bold]Next steps[/]: ask the bot as the demo users (README, “Demo users”); paste any command.")
    for step in steps:
        console.print(f"  {step.what}:", highlight=False)
        console.print(f"    {step.command}", highlight=False, markup=False, soft_wrap=True)


def finefin_command(env: dict[str, str] | None = None) -> str:
    """`finefin` as this process was started, to run it again from the same folder: `.venv/bin/finefin` after `make
    demo`, `finefin` when that is what the PATH finds, else this interpreter with `-m finefin.cli`. Prefixed with the
    settings in ENV_FOR_ASK that are set (the user may have set them for one command only), and with `env`."""
    invoked = Path(sys.argv[0])
    script = invoked if invoked.name == "finefin" else Path(sys.executable).with_name("finefin")
    if not script.is_file():
        program = f"{shlex.quote(sys.executable)} -m finefin.cli"
    elif (found := shutil.which("finefin")) is not None and Path(found).resolve() == script.resolve():
        program = "finefin"
    else:
        program = shlex.quote(_as_typed(script))
    settings = {name: os.environ[name] for name in ENV_FOR_ASK if os.environ.get(name)}
    for name in ("FINEFIN_DATA_DIR", "FINEFIN_WAREHOUSE", "FINEFIN_DIRECTORY_FILE"):  # paths: from any folder
        if name in settings:
            settings[name] = str(Path(settings[name]).expanduser().resolve())
    settings.update(env or {})
    return " ".join([*(f"{name}={shlex.quote(value)}" for name, value in settings.items()), program])


def _as_typed(script: Path) -> str:
    """A path to run from the current folder: relative when under it (`.venv/bin/finefin`), else absolute."""
    absolute = script if script.is_absolute() else Path.cwd() / script
    try:
        relative = absolute.relative_to(Path.cwd())
    except ValueError:
        return str(absolute)
    return str(relative) if len(relative.parts) > 1 else f"./{relative}"
