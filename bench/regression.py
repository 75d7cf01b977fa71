"""The regression check of `make bench`: each section's key figures against the ones recorded in bench/baseline.json.

A benchmark prints markdown tables; the figures compared are the cells of the columns declared in `FIGURES` below,
one per table row, named "<row key>: <column>" (e.g. "balance: p95 ratio", "10,000,000: incremental / full").
A figure is *worse* when it moved in its bad direction by more than its tolerance: relative (`tolerance`, a fraction
of the recorded value) plus an absolute `slack` in the column's unit, so that a 3 ms latency is not flagged for
+1 ms. The tolerances are wider than the run-to-run spread measured on this 2-core shared VM (bench/RESULTS.md
notes: the same p95 ratio moved 1.22-1.51 between runs of one commit, the daily/full dbt ratio 21-25 %).

Ratios between the subject and its baseline measured in the same run (interleaved) hold under load; absolute times
and rates do not (at a load average of 5-9 from other engineers' test suites every latency and build time here was
5-10x its quiet value). So each figure is recorded with the load average (1 min) at the start of its run, and a
load-sensitive figure measured under a load more than `LOAD_MARGIN` above its record's is not counted when worse:
it is named as such ("re-run on a quieter machine") and keeps its recorded value. Ratios are always counted.

A record moves only when a figure moves beyond its tolerance in the good direction (a real improvement): changes
within the tolerance leave it as it is, so a lucky run on a quiet minute does not tighten it and small slowdowns do
not add up unseen; a worse figure keeps its record (and is named again on the next run) until it is fixed or
accepted with `python -m bench.run_all --accept`, which records every figure of the run.
"""

from __future__ import annotations

import json
import math
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
    load_sensitive: bool = False  # an absolute time or rate (not a ratio within one run)

    def worse(self, recorded: float, measured: float) -> bool:
        """Beyond the tolerance in the bad direction; NaN (the row is there, its cell holds no number) is worse."""
        if math.isnan(measured):
            return True
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


LOAD_MARGIN = 1.0

FIGURES: dict[str, Spec] = {
    # Only the ratio: p95 ms is ours normalised by the hand SQL's p95 of the same run. The absolute p95 follows the
    # VM's speed of the day as well as its load (2026-11-30 at load 1.4 the unchanged hand SQL ran 2-3.6x slower
    # than on 11-24 at load 1.2); the bench's "goal met" column still applies the 300 ms goal.
    "bench.bench_semantic_layer": Spec(("function",), (
        Figure("p95 ratio", "lower", 0.30, 0.10),
    )),
    "bench.bench_dbt": Spec(("transactions",), (
        Figure("incremental / full", "lower", 0.25, 2.0),  # percent
        Figure("full build s", "lower", 0.30, 1.0, load_sensitive=True),
        Figure("daily incremental build s", "lower", 0.30, 1.0, load_sensitive=True),
    )),
    "bench.bench_bot": Spec(("command",), (
        Figure("ack p99 (ms)", "lower", 0.50, 5.0, load_sensitive=True),
        Figure("answer p95 (ms)", "lower", 0.50, 20.0, load_sensitive=True),
    )),
    "bench.bench_generate": Spec(("size",), (
        Figure("tx/s", "higher", 0.25, load_sensitive=True),
    )),
    "bench.bench_ingest": Spec(("transactions",), (
        Figure("full / baseline", "higher", 0.20),  # percent of the baseline's rows/s
        Figure("incremental s", "lower", 0.50, 0.5, load_sensitive=True),
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
    """The compared figures of one benchmark's output (empty for a module without a spec). A row whose cell holds
    no number (a function that failed: "failed: ...") gives NaN, which compares as worse than any record."""
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
                if figure.column not in row:  # another table of the section
                    continue
                value = number(row[figure.column])
                out.setdefault(f"{key}: {figure.column}", math.nan if value is None else value)
    return out


def figure_of(module: str, name: str) -> Figure:
    column = name.split(": ", 1)[1]
    return next(f for f in FIGURES[module].figures if f.column == column)


@dataclass(frozen=True)
class Recorded:
    value: float
    measured: str  # when: the stamp of the run that recorded it
    load: float | None = None  # load average (1 min) at the start of that run, when known


@dataclass(frozen=True)
class Change:
    name: str
    recorded: Recorded
    measured: float
    figure: Figure

    def __str__(self) -> str:
        old = self.recorded.value
        rel = f" ({(self.measured - old) / abs(old):+.0%})" if old else ""
        load = f", load {self.recorded.load:g}" if self.recorded.load is not None else ""
        if math.isnan(self.measured):
            return f"{self.name} {old:g} -> no figure: the run did not measure it (recorded {self.recorded.measured})"
        return (f"{self.name} {old:g} -> {self.measured:g}{rel} (recorded {self.recorded.measured}{load}; "
                f"tolerance {self.figure.describe()}, {self.figure.better} is better)")


@dataclass(frozen=True)
class Comparison:
    module: str
    worse: tuple[Change, ...]  # the regressions
    busier: tuple[Change, ...]  # load-sensitive figures worse under a higher load than recorded: not counted
    compared: int
    not_measured: tuple[str, ...]  # recorded, absent from this run (a failed function, BENCH_ONLY, another scale)
    new: tuple[str, ...]  # measured, nothing recorded yet
    load: float | None = None

    def summary(self) -> str:
        """One paragraph for RESULTS.md and the console."""
        if self.worse:
            head = (f"**Regression check: {len(self.worse)} of {self.compared} figures worse than recorded** "
                    "(bench/baseline.json):\n" + "\n".join(f"- **{c}**" for c in self.worse))
        elif self.compared:
            head = f"Regression check: none of {self.compared} figures worse than recorded (bench/baseline.json)."
        else:
            head = "Regression check: nothing recorded to compare with yet (this run's figures are recorded)."
        if self.busier:
            head += (f"\n\nNot counted, measured under a higher load (this run: {self.load:g}) than recorded; re-run on"
                     " a quieter machine to check them:\n" + "\n".join(f"- {c}" for c in self.busier))
        extra = []
        if self.not_measured:
            extra.append("not measured this run: " + ", ".join(self.not_measured))
        if self.new:
            extra.append("recorded for the first time: " + ", ".join(self.new))
        return head + ("\n\n" + "; ".join(extra) + "." if extra else "")


def busier(recorded: Recorded, load: float | None) -> bool:
    """This run's machine was busier than the recorded run's (unknown loads count as comparable)."""
    return load is not None and recorded.load is not None and load > recorded.load + LOAD_MARGIN


def compare(module: str, recorded: dict[str, Recorded], measured: dict[str, float],
            load: float | None = None) -> Comparison:
    worse, excused = [], []
    for name, value in measured.items():
        figure = figure_of(module, name)
        if name in recorded and figure.worse(recorded[name].value, value):
            change = Change(name, recorded[name], value, figure)
            load_excuses = figure.load_sensitive and busier(recorded[name], load) and not math.isnan(value)
            (excused if load_excuses else worse).append(change)
    return Comparison(
        module, tuple(worse), tuple(excused), sum(1 for name in measured if name in recorded),
        tuple(name for name in recorded if name not in measured),
        tuple(name for name, value in measured.items() if name not in recorded and not math.isnan(value)), load,
    )


def updated(recorded: dict[str, Recorded], measured: dict[str, float], comparison: Comparison, stamp: str,
            accept: bool = False) -> dict[str, Recorded]:
    """The baseline after a run: new figures and improvements beyond the tolerance are recorded; the others keep
    their record. With `accept`, every figure of the run is recorded."""
    def moves(name: str, value: float) -> bool:
        if math.isnan(value):
            return False
        if accept or name not in recorded:
            return True
        # better beyond the tolerance: the record, seen from the new value, would be worse
        return figure_of(comparison.module, name).worse(value, recorded[name].value)

    return {**recorded, **{name: Recorded(value, stamp, comparison.load)
                           for name, value in measured.items() if moves(name, value)}}


class Baseline:
    """bench/baseline.json: per benchmark (and scale), each figure's recorded value, when and under which load."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, dict[str, dict]] = json.loads(path.read_text()) if path.exists() else {}

    def get(self, key: str) -> dict[str, Recorded]:
        return {name: Recorded(float(r["value"]), str(r["measured"]), r.get("load"))
                for name, r in self.data.get(key, {}).items()}

    def put(self, key: str, figures: dict[str, Recorded]) -> None:
        self.data[key] = {name: {"value": r.value, "measured": r.measured, "load": r.load}
                          for name, r in sorted(figures.items())}

    def save(self) -> None:
        """JSON with one line per figure (readable diffs)."""
        modules = []
        for key, entries in sorted(self.data.items()):
            lines = ",\n".join(f"    {json.dumps(name)}: {json.dumps(entry)}" for name, entry in entries.items())
            modules.append(f"  {json.dumps(key)}: {{\n{lines}\n  }}")
        self.path.write_text("{\n" + ",\n".join(modules) + "\n}\n")
