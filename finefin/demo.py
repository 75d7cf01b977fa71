"""`finefin demo`: the main job on the embedded default, step by step, with a summary at the end."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from rich.console import Console
from rich.rule import Rule
from rich.table import Table

from finefin.config import Settings

DEMO_CUSTOMERS = 5000
DEMO_MONTHS = 12
DEMO_SEED = 42
"""The demo's data set (`finefin demo` defaults): the generator tests check every watchlist story shows on it."""


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
    users: str = ""  # where the demo users are
    people: Any = None  # bot.directory.DemoPeople: who the next steps act as

    def __rich__(self) -> Table:
        table = Table(title="finefin demo")
        table.add_column("step")
        table.add_column("seconds", justify="right")
        table.add_column("what happened", overflow="fold")  # a path longer than the column folds, never "…"
        for step in self.steps:
            table.add_row(step.name, f"{step.seconds:.1f}", step.detail)
        return table

    def print(self, console: Console) -> None:
        """The table, where things are (whole lines, never wrapped or cut), then the next steps."""
        console.print(self)
        console.print(f"source: {self.source}", highlight=False, markup=False, soft_wrap=True)
        console.print(f"warehouse: {self.warehouse}", highlight=False, markup=False, soft_wrap=True)
        if self.users:
            console.print(f"demo users: {self.users}", highlight=False, markup=False, soft_wrap=True)
        if self.people is not None:
            from bot.demo import next_steps, print_next_steps

            print_next_steps(next_steps(self.people), console)


def source_is_empty(dsn: str) -> bool:
    from ingestion.source import SOURCE_TABLES, connect

    with connect(dsn) as conn:
        return all(conn.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {t})").fetchone()[0] for t in SOURCE_TABLES)


def run_demo(settings: Settings, *, customers: int, months: int, seed: int, console: Console,
             end_date: date | None = None) -> DemoSummary:
    """Source → generate (if empty; history up to end_date, default today) → ingest → dbt build → publish → demo users
    and one bot answer per role. Each step is timed and described."""
    from ingestion.generator import generate
    from ingestion.pipeline import run_ingest
    from ingestion.source import apply_schema, redact, source_dsn

    settings.data_path.mkdir(parents=True, exist_ok=True)
    summary = DemoSummary(source="", warehouse=str(settings.warehouse_path))

    def step(name: str, action: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        with console.status(f"[bold]{name}[/] …"):
            result = action()
        summary.steps.append(DemoStep(name, time.perf_counter() - start, _one_line(result)))
        console.print(f"[green]✓[/] {name}: {summary.steps[-1].detail}", highlight=False, soft_wrap=True)
        return result

    dsn = step("start source", lambda: source_dsn(settings))
    summary.source = redact(dsn)
    step("apply schema", lambda: apply_schema(dsn) or "operational tables ready")
    if source_is_empty(dsn):
        # a pinned end date is a replay (tests); otherwise the history ends now, nothing written in the future
        now: datetime | None = None
        last_day = end_date
        if last_day is None:  # one clock read: the last day is now's day, never the day after
            now = datetime.now(UTC)
            last_day = now.date()
        step("generate data", lambda: generate(dsn, customers=customers, months=months, seed=seed,
                                               end_date=last_day, now=now))
    else:
        summary.steps.append(DemoStep("generate data", 0.0, "source already holds data: kept"))
    step("ingest", lambda: run_ingest(dsn, settings.warehouse_path, settings.data_path,
                                      lag_seconds=settings.ingest_lag_seconds))
    from bot.blocks import plural
    from finefin.transform import default_target_path, run_dbt_build
    from semantic_layer import get_semantic_layer
    from semantic_layer.publish import publish_warehouse, semantic_manifest_path

    step("dbt build", lambda: run_dbt_build(settings))
    snapshot = publish_warehouse(settings, semantic_manifest_path(default_target_path("duckdb")))
    summary.steps.append(DemoStep("publish", 0.0, f"read-only snapshot {snapshot.load_id} for the bot"))
    summary.warehouse = f"{settings.warehouse_path} (published for readers: {snapshot.warehouse})"
    sl = get_semantic_layer()
    step("warm semantic layer", lambda: f"{plural(len(sl.metric_names()), 'governed metric')}, data as of "
                                       f"{sl.reporting_dates()[0]}")
    from bot.console import default_directory_path, demo_staff_path
    from bot.demo import PANEL_WIDTH, show_demo, write_demo_people
    from bot.settings import get_bot_settings

    directory = default_directory_path(get_bot_settings())
    people = write_demo_people(sl, directory)
    summary.people = people
    summary.users = f"{directory} (staff: {demo_staff_path(directory)}, read by console mode only)"
    red = f" and #{people.red_customer_id} (red streak)" if people.red_customer_id is not None else ""
    summary.steps.append(DemoStep("demo users", 0.0, f"customers #{people.customer_id}{red}, an advisor, a director"))
    console.print(Rule("What the bot would post"), width=min(console.width, PANEL_WIDTH))
    outcomes = show_demo(sl, directory, console)
    refused = sum(1 for _, _, ok in outcomes if not ok)
    summary.steps.append(DemoStep("bot answers", 0.0, f"{plural(len(outcomes), 'request')}, {refused} refused as "
                                  "expected"))
    return summary


def _one_line(result: object) -> str:
    """The first line of a step's result (its headline), e.g. 'generated 17,525 rows … in 0.8 s'."""
    lines = str(result).strip().splitlines()
    return " ".join(lines[0].split())[:200] if lines else ""
