"""The whole plain-English answer at 10 M transactions: question -> parse -> query -> rendered Slack answer (issue 15).

Subject: `bot.commands.ask.answer_question`, what `/finefin <question>` runs: `semantic_layer.nl.understand`, the
query service (validation, access policy, MetricFlow in-process; a comparison question runs its second query), and
`render_answer` (receipt, Block Kit table, buttons, the chart PNG, a CSV when long). The engine's result cache is
cleared before every call (uncached); the catalog, the vocabulary and the dimension values are per-load metadata and
stay, as do the planned SQL shapes (one warm-up pass). Posting to Slack is not included.
Questions: the answerable questions of tests/questions/ (expect: answer), at most BENCH_PER_ROLE per role (default
40, spread over every file), each asked as written by its role; a customer is the evaluation's asking customer.
Goal (issue 15): p95 <= 500 ms. Also reported: the p95 of each part (parse, queries, rendering, of which the chart).
Data: the warehouse of bench/bench_semantic_layer.py (bench/out/, BENCH_SCALE=small: 200 customers).

    python -m bench.bench_answer
"""

from __future__ import annotations

import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.bench_semantic_layer import bench_warehouse, summary

COMMAND = "python -m bench.bench_answer"
QUESTIONS = Path(__file__).resolve().parent.parent / "tests" / "questions"
PER_ROLE = int(os.environ.get("BENCH_PER_ROLE", "40"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Context:
    """What a command handler uses (bot.commands.context.CommandContext)."""

    sl: Any
    settings: Any

    def freshness(self) -> Any:
        return self.sl.freshness()


def pick(questions: list[Any]) -> list[Any]:
    """At most PER_ROLE answerable questions per role, taken evenly across the set (every file, every phrasing)."""
    by_role: dict[str, list[Any]] = defaultdict(list)
    for q in questions:
        if q.expect == "answer":
            by_role[q.role].append(q)
    chosen = []
    for role in sorted(by_role):
        items = by_role[role]
        step = max(1, len(items) / PER_ROLE)
        chosen += [items[int(i * step)] for i in range(min(PER_ROLE, len(items)))]
    return chosen


def main() -> None:
    import bot.commands.ask as ask
    import bot.commands.query_render as render
    from bot.access import Identity, Role
    from bot.settings import BotSettings
    from semantic_layer.engine import DuckDbSnapshotEngine
    from semantic_layer.inputs import CustomerId
    from semantic_layer.nl.evaluation import ASKING_CUSTOMER, questions
    from semantic_layer.query_service import query_service
    from semantic_layer.service import MetricFlowSemanticLayer
    from semantic_layer.types import CustomerProfile

    wh = bench_warehouse()
    small, data_dir = wh.small, wh.data_dir
    engine = DuckDbSnapshotEngine(data_dir, "warehouse.duckdb")
    sl = MetricFlowSemanticLayer(engine)
    ctx = Context(sl, BotSettings())
    service = query_service(sl)
    (transactions,) = engine.fetch(f"SELECT count(*) FROM {engine.relation('fct_transactions')}").rows[0]
    customer = CustomerProfile(CustomerId(7 if small else ASKING_CUSTOMER), "Bench Customer",
                               "bench@example.com", "Bronze", datetime(2025, 1, 1, tzinfo=UTC))
    identities = {"director": Identity("UDIR", frozenset({Role.DIRECTOR})),
                  "advisor": Identity("UADV", frozenset({Role.ADVISOR})),
                  "customer": Identity("UCUS", frozenset({Role.CUSTOMER}), customer)}

    # the parts, timed inside the same calls
    parts: dict[str, float] = {}

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                parts[name] = parts.get(name, 0.0) + (time.perf_counter() - start) * 1000
        return wrapper

    ask.understand = timed("parse", ask.understand)
    service.run = timed("queries", service.run)  # type: ignore[method-assign]
    ask.render_answer = timed("rendering", ask.render_answer)
    render.chart_file = timed("chart", render.chart_file)

    chosen = pick(list(questions(QUESTIONS)))
    answerable = []
    outcome: dict[str, int] = defaultdict(int)
    for q in chosen:  # warm-up: plans the query shapes, reads the dimension values and the vocabulary once
        try:
            ask.answer_question(ctx, identities[q.role], q.text)
            answerable.append(q)
            outcome["answered"] += 1
        except ask.NotUnderstood as exc:
            outcome["refused" if exc.refused else "clarified (as a message)"] += 1
        except Exception as exc:  # a question this load cannot answer (a filter value it does not have)
            outcome[f"not answered ({type(exc).__name__})"] += 1
    log(f"{len(chosen)} questions: {dict(outcome)}")
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    whole: list[float] = []
    per_role: dict[str, list[float]] = defaultdict(list)
    per_part: dict[str, list[float]] = defaultdict(list)
    slowest: list[tuple[float, str, str]] = []
    for _ in range(ROUNDS):
        for q in answerable:
            engine.cache.clear()
            parts.clear()
            start = time.perf_counter()
            ask.answer_question(ctx, identities[q.role], q.text)
            elapsed = (time.perf_counter() - start) * 1000
            whole.append(elapsed)
            per_role[q.role].append(elapsed)
            for name in ("parse", "queries", "rendering", "chart"):
                per_part[name].append(parts.get(name, 0.0))
            slowest.append((elapsed, q.role, q.text))
    load_end = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    p50, p95 = summary(whole)
    print(f"## Whole plain-English answer ({transactions:,} booked transactions)\n")
    env = (" (BENCH_SCALE=small)" if small else "") + (f" BENCH_PER_ROLE={PER_ROLE}" if PER_ROLE != 40 else "") + (
        f" BENCH_ROUNDS={ROUNDS}" if ROUNDS != 3 else "")
    print(f"Command: `{COMMAND}`{env}. `bot.commands.ask.answer_question` (parse -> query service -> rendered "
          f"answer with its chart), result cache cleared before every call, {ROUNDS} rounds over "
          f"{len(answerable)} answerable questions of tests/questions/ ({len(chosen)} picked, at most {PER_ROLE} per "
          f"role; at this load: {', '.join(f'{v} {k}' for k, v in outcome.items())}). Goal p95 <= 500 ms. Load "
          f"average (1 / 5 / 15 min) at the start: {load}, at the end: {load_end}.\n")
    print("| subject | calls | p50 ms | p95 ms |")
    print("|---|---:|---:|---:|")
    print(f"| whole answer | {len(whole)} | {p50:.1f} | {p95:.1f} |")
    for role in sorted(per_role):
        r50, r95 = summary(per_role[role])
        print(f"| whole answer, {role} | {len(per_role[role])} | {r50:.1f} | {r95:.1f} |")
    for name, label in (("parse", "parse (understand)"), ("queries", "queries (uncached)"),
                        ("rendering", "rendering (render_answer)"), ("chart", "of which the chart PNG")):
        s50, s95 = summary(per_part[name])
        print(f"| {label} | {len(per_part[name])} | {s50:.1f} | {s95:.1f} |")
    print(f"\nGoal p95 <= 500 ms: {'met' if p95 <= 500 else 'not met'}. Slowest: " + "; ".join(
        f"{ms:.0f} ms ({role}: “{text}”)" for ms, role, text in sorted(slowest, reverse=True)[:3]) + ".")


if __name__ == "__main__":
    main()
