"""Wording shared by every layer's messages (ingestion reports, dbt summaries, the CLI, the bot)."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """`1 customer`, `2 customers`, `1,000 rows`; `many` for irregular plurals: plural(n, "entry", "entries")."""
    return f"{n:,d} " + (word if n == 1 else many or f"{word}s")
