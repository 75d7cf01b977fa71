"""`finefin demo`: the main job on the embedded default, step by step, with a summary at the end."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rich.console import Console
from rich.table import Table

from finefin.config import Settings
from ingestion.source import SOURCE_TABLES, apply_schema, connect, redact, source_dsn


@dataclass
class DemoStep:
    name: str
    seconds: float
    detail: str


@dataclass
class DemoSummary:
    source: str
    warehouse: str
    steps: list[DemoStep] = field(default_factory=list)

    def __rich__(self) -> Table:
        table = Table(title="finefin demo", caption=f"source: {self.source}\nwarehouse: {self.warehouse}")
        table.add_column("step")
        table.add_column("seconds", justify="right")
        table.add_column("what happened")
        for step in self.steps:
            table.add_row(step.name, f"{step.seconds:.1f}", step.detail)
        return table


def source_is_empty(dsn: str) -> bool:
    with connect(dsn) as conn:
        return all(conn.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {t})").fetchone()[0] for t in SOURCE_TABLES)


def run_demo(settings: Settings, *, customers: int, months: int, seed: int, console: Console) -> DemoSummary:
    """Source → generate (if empty) → ingest → dbt build. Each step is timed and described."""
    from ingestion.generator import generate
    from ingestion.pipeline import run_ingest

    settings.data_path.mkdir(parents=True, exist_ok=True)
    summary = DemoSummary(source="", warehouse=str(settings.warehouse_path))

    def step(name: str, action: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        with console.status(f"[bold]{name}[/] …"):
            result = action()
        summary.steps.append(DemoStep(name, time.perf_counter() - start, _one_line(result)))
        console.print(f"[green]✓[/] {name}: {summary.steps[-1].detail}", highlight=False)
        return result

    dsn = step("start source", lambda: source_dsn(settings))
    summary.source = redact(dsn)
    step("apply schema", lambda: apply_schema(dsn) or "operational tables ready")
    if source_is_empty(dsn):
        step("generate data", lambda: generate(dsn, customers=customers, months=months, seed=seed,
                                               end_date=date.today()))
    else:
        summary.steps.append(DemoStep("generate data", 0.0, "source already holds data: kept"))
    step("ingest", lambda: run_ingest(dsn, settings.warehouse_path, settings.data_path))
    from finefin.transform import run_dbt_build

    step("dbt build", lambda: run_dbt_build(settings))
    return summary


def _one_line(result: object) -> str:
    text = str(result).strip()
    return " ".join(text.split())[:200]
