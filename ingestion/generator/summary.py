"""Result objects of `generate` and `simulate_days`: row counts, duration, throughput; printable plain or with rich."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from rich.console import Group
from rich.table import Table
from rich.text import Text

from finefin.text import plural


def _table(title: str, counts: dict[str, int], extra: dict[str, int] | None = None) -> Group:
    table = Table()
    table.add_column("table")
    table.add_column("rows", justify="right")
    if extra is not None:
        table.add_column("updated", justify="right")
    for name, n in counts.items():
        cells = [name, f"{n:,}"]
        if extra is not None:
            cells.append(f"{extra.get(name, 0):,}")
        table.add_row(*cells)
    return Group(Text(title), table)


@dataclass(frozen=True)
class GenerateSummary:
    """What `generate` loaded."""

    rows: dict[str, int]
    seconds: float
    seed: int
    start_date: date
    end_date: date

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.seconds if self.seconds > 0 else float("inf")

    def _headline(self) -> str:
        return (f"generated {plural(self.total_rows, 'row')} ({self.start_date} .. {self.end_date}, seed {self.seed}) "
                f"in {self.seconds:.1f} s, {self.rows_per_second:,.0f} rows/s")

    def __str__(self) -> str:
        return self._headline() + "\n" + "\n".join(f"  {t:<13}{n:>12,}" for t, n in self.rows.items())

    def __rich__(self) -> Group:
        return _table(self._headline(), self.rows)


@dataclass(frozen=True)
class SimulateSummary:
    """What `simulate_days` added (inserted rows) and changed (updated rows), per table."""

    days: list[date]
    inserted: dict[str, int]
    updated: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.inserted.values()) + sum(self.updated.values())

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.seconds if self.seconds > 0 else float("inf")

    def _headline(self) -> str:
        span = f"{self.days[0]} .. {self.days[-1]}" if self.days else "no day"
        return (f"simulated {plural(len(self.days), 'day')} ({span}): {plural(sum(self.inserted.values()), 'row')} "
                f"inserted, "
                f"{sum(self.updated.values()):,} updated in {self.seconds:.2f} s")

    def __str__(self) -> str:
        lines = [f"  {t:<13}{n:>10,} new {self.updated.get(t, 0):>8,} updated" for t, n in self.inserted.items()]
        return self._headline() + "\n" + "\n".join(lines)

    def __rich__(self) -> Group:
        return _table(self._headline(), self.inserted, self.updated)
