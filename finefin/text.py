"""Wording shared by every layer's messages (ingestion reports, dbt summaries, the CLI, the bot), and the console
the command lines print to."""

from __future__ import annotations

import os

from rich.console import Console

NO_TERMINAL_WIDTH = 200
"""Console width without a terminal (CI, pipes): wide enough that tables do not squeeze paths."""


def plural(n: int, word: str, many: str | None = None) -> str:
    """`1 customer`, `2 customers`, `1,000 rows`; `many` for irregular plurals: plural(n, "entry", "entries")."""
    return f"{n:,d} " + (word if n == 1 else many or f"{word}s")


def make_console(*, stderr: bool = False) -> Console:
    """A rich console; without a terminal (and no COLUMNS) it is NO_TERMINAL_WIDTH wide, so tables do not squeeze
    paths. Lines that hold a path or a command are printed with soft_wrap=True: never wrapped or cut at any width."""
    console = Console(stderr=stderr)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=stderr, width=NO_TERMINAL_WIDTH)
    return console
