"""The regression check of `make bench`: each section's key figures against the ones recorded in bench/baseline.json.

A benchmark prints markdown tables; the figures compared are the cells of the columns declared in `FIGURES` below,
one per table row, named "<row key>: <column>" (e.g. "balance: p95 ratio", "10,000,000: incremental / full").
A figure is *worse* when it moved in its bad direction by more than its tolerance: relative (`tolerance`, a fraction
of the recorded value) plus an absolute `slack` in the column's unit, so that a 3 ms latency is not flagged for
+1 ms. The tolerances are wider than the run-to-run spread measured on this 2-core shared VM (bench/RESULTS.md
notes: the same p95 ratio moved 1.22-1.51 between runs of one commit, the daily/full dbt ratio 21-25 %); ratios of
interleaved measurements are preferred to absolute times, which follow the machine's load.

The baseline keeps, per figure, the last value that was not worse: an improvement or a change within the tolerance
becomes the new recorded value; a worse figure keeps its recorded value (and is named again on the next run) until
it is fixed or accepted with `python -m bench.run_all --accept`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class Figure:
    """A compared column of a benchmark's table."""

    column: str
    better: Literal["lower", "higher"]
    tolerance: float  # fraction of the recorded value
    slack: float = 0.0  # absolute, in the column's unit

    def worse(self, recorded: float, measured: float) -> bool:
        margin = abs(recorded) * self.tolerance + self.slack
        return measured > recorded + margin if self.better == "lower" else measured < recorded - margin

    def describe(self) -> str:
        sign = "+" if self.better == "lower" else "-"
        slack = f" {sign}{self.slack:g}" if self.slack else ""
        return f"{sign}{self.tolerance:.0%}{slack}"


@dataclass(frozen=True)
class Spec:
    key: tuple[str, ...]  # the columns naming a row
    figures: tuple[Figure, ...]


FIGURES: dict[str, Spec] = {
    "bench.bench_semantic_layer": Spec(("function",), (
        Figure("p95 ratio", "lower", 0.30, 0.10),
        Figure("p95 ms", "lower", 0.50, 2.0),
    )),
    "bench.bench_dbt": Spec(("transactions",), (
        Figure("incremental / full", "lower", 0.25, 2.0),  # percent
        Figure("full build s", "lower", 0.30, 1.0),
        Figure("daily incremental build s", "lower", 0.30, 1.0),
    )),
    "bench.bench_bot": Spec(("command",), (
        Figure("ack p99 (ms)", "lower", 0.50, 5.0),
        Figure("answer p95 (ms)", "lower", 0.50, 20.0),
    )),
    "bench.bench_generate": Spec(("size",), (
        Figure("tx/s", "higher", 0.25),
    )),
    "bench.bench_ingest": Spec(("transactions",), (
        Figure("full / baseline", "higher", 0.20),  # percent of the baseline's rows/s
        Figure("incremental s", "lower", 0.50, 0.5),
    )),
}

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def number(cell: str) -> float | None:
    """The first number of a table cell ("1,985,000", "21.0 %", "3.6 (270,244)"), None for "–", "yes", empty."""
    found = _NUMBER.search(cell)
    return float(found.group().replace(",", "")) if found else None


def tables(markdown: str) -> list[list[dict[str, str]]]:
    """Every markdown table of a text, as rows of {header: cell}."""
    found: list[list[dict[str, str]]] = []
    header: list[str] | None = None
    rows: list[dict[str, str]] = []
    previous = ""
    for line in [*markdown.splitlines(), ""]:
        line = line.strip()
        if header is None:
            if line.startswith("|") and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", line) and previous.startswith("|"):
                header, rows = _cells(previous), []
        elif line.startswith("|"):
            cells = _cells(line)
            rows.append(dict(zip(header, cells, strict=False)))
        else:
            found.append(rows)
            header = None
        previous = line
    return found


def _cells(line: str) -> list[str]:
    return [cell.strip().strip("`").strip() for cell in line.strip().strip("|").split("|")]


def figures(module: str, markdown: str) -> dict[str, float]:
    """The compared figures of one benchmark's output (empty for a module without a spec)."""
    spec = FIGURES.get(module)
    out: dict[str, float] = {}
    if spec is None:
        return out
    for table in tables(markdown):
        for row in table:
            if not all(k in row for k in spec.key):
                continue
            key = " ".join(row[k] for k in spec.key)
            for figure in spec.figures:
                value = number(row.get(figure.column, ""))
                if value is not None:
                    out.setdefault(f"{key}: {figure.column}", value)
    return out


def figure_of(module: str, name: str) -> Figure:
    column = name.split(": ", 1)[1]
    return next(f for f in FIGURES[module].figures if f.column == column)


@dataclass(frozen=True)
class Recorded:
    value: float
    measured: str  # when: the stamp of the run that recorded it


@dataclass(frozen=True)
class Change:
    name: str
    recorded: Recorded
    measured: float
    figure: Figure

    def __str__(self) -> str:
        old = self.recorded.value
        rel = f" ({(self.measured - old) / abs(old):+.0%})" if old else ""
        return (f"{self.name} {old:g} -> {self.measured:g}{rel} (recorded {self.recorded.measured}; "
                f"tolerance {self.figure.describe()}, {self.figure.better} is better)")


@dataclass(frozen=True)
class Comparison:
    module: str
    worse: tuple[Change, ...]
    compared: int
    not_measured: tuple[str, ...]  # recorded, absent from this run (a failed function, BENCH_ONLY, another scale)
    new: tuple[str, ...]  # measured, nothing recorded yet

    def summary(self) -> str:
        """One paragraph for RESULTS.md and the console."""
        if self.worse:
            head = (f"**Regression check: {len(self.worse)} of {self.compared} figures worse than recorded** "
                    "(bench/baseline.json):\n" + "\n".join(f"- **{c}**" for c in self.worse))
        elif self.compared:
            head = f"Regression check: none of {self.compared} figures worse than recorded (bench/baseline.json)."
        else:
            head = "Regression check: nothing recorded to compare with yet (this run's figures are recorded)."
        extra = []
        if self.not_measured:
            extra.append("not measured this run: " + ", ".join(self.not_measured))
        if self.new:
            extra.append("recorded for the first time: " + ", ".join(self.new))
        return head + ("\n\n" + "; ".join(extra) + "." if extra else "")


def compare(module: str, recorded: dict[str, Recorded], measured: dict[str, float]) -> Comparison:
    worse = tuple(Change(name, recorded[name], value, figure_of(module, name))
                  for name, value in measured.items()
                  if name in recorded and figure_of(module, name).worse(recorded[name].value, value))
    return Comparison(
        module, worse, sum(1 for name in measured if name in recorded),
        tuple(name for name in recorded if name not in measured),
        tuple(name for name in measured if name not in recorded),
    )


def updated(recorded: dict[str, Recorded], measured: dict[str, float], comparison: Comparison, stamp: str,
            accept: bool = False) -> dict[str, Recorded]:
    """The baseline after a run: every measured figure, except the worse ones, which keep their recorded value
    (and are named again next run) unless accepted."""
    keep = set() if accept else {c.name for c in comparison.worse}
    return {**recorded, **{name: Recorded(value, stamp) for name, value in measured.items() if name not in keep}}


class Baseline:
    """bench/baseline.json: per benchmark (and scale), each figure's recorded value and when it was measured."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, dict[str, dict]] = json.loads(path.read_text()) if path.exists() else {}

    def get(self, key: str) -> dict[str, Recorded]:
        return {name: Recorded(float(r["value"]), str(r["measured"])) for name, r in self.data.get(key, {}).items()}

    def put(self, key: str, figures: dict[str, Recorded]) -> None:
        self.data[key] = {name: {"value": r.value, "measured": r.measured} for name, r in sorted(figures.items())}

    def save(self) -> None:
        """JSON with one line per figure (readable diffs)."""
        modules = []
        for key, entries in sorted(self.data.items()):
            lines = ",\n".join(f"    {json.dumps(name)}: {json.dumps(entry)}" for name, entry in entries.items())
            modules.append(f"  {json.dumps(key)}: {{\n{lines}\n  }}")
        self.path.write_text("{\n" + ",\n".join(modules) + "\n}\n")
