"""The bot's part of `make demo`: one answer per role and a refused request, in the console, no Slack needed."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.panel import Panel

from bot.console import console_assistant
from bot.directory import DEMO_ADVISOR, DEMO_CUSTOMER, DEMO_DIRECTOR, DEMO_RED_CUSTOMER, DEMO_STRANGER
from bot.render import blocks_to_text
from bot.settings import BotSettings, get_bot_settings
from semantic_layer.api import SemanticLayer


def demo_settings(base: BotSettings | None = None) -> BotSettings:
    """The configured settings, with the demo's advisor and director added to the staff lists."""
    base = base or get_bot_settings()
    return base.model_copy(
        update={
            "advisors": sorted({*base.advisors, DEMO_ADVISOR}),
            "directors": sorted({*base.directors, DEMO_DIRECTOR}),
        }
    )


DEMO_REQUESTS: tuple[tuple[str, str, str], ...] = (
    ("customer", DEMO_CUSTOMER, "balance"),
    ("customer in the red", DEMO_RED_CUSTOMER, "upcoming"),
    ("advisor", DEMO_ADVISOR, "red"),
    ("director", DEMO_DIRECTOR, "growth"),
    ("customer asking for someone else (refused)", DEMO_CUSTOMER, "balance {red_id}"),
    ("stranger (refused)", DEMO_STRANGER, "balance"),
)


def show_demo(
    sl: SemanticLayer, directory_path: Path, console: Console, settings: BotSettings | None = None
) -> list[tuple[str, str, bool]]:
    """Print the answers; return (who, command, ok) per request so callers can check the outcome."""
    assistant = console_assistant(sl, demo_settings(settings), directory_path)
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
                blocks_to_text(answer.blocks), title=f"{who}: /finefin {text}", title_align="left", border_style=style
            )
        )
        outcomes.append((who, text, answer.ok))
    console.print(
        f"Try it: FINEFIN_ADVISORS={DEMO_ADVISOR} FINEFIN_DIRECTORS={DEMO_DIRECTOR} "
        f"FINEFIN_DIRECTORY_FILE={directory_path} finefin ask --as {DEMO_CUSTOMER} statement",
        highlight=False,
        soft_wrap=True,
    )
    return outcomes
