"""Plain-English parse latency (semantic_layer.nl.understand) over the evaluation set in tests/questions/.

Subject: `understand(question, vocabulary, principal)` for every question of the set (each role as written), timed
per call after one warm-up pass; goal p95 <= 20 ms. Baseline, same run: the deterministic `/finefin metric` grammar
(bot.commands.grammar.parse) on the same kind of question written in its syntax. The catalog comes from the
semantic manifest alone (`dbt parse`, no warehouse), the vocabulary from tests/questions/load.yml. The whole
answer at 10 M transactions (parse + MetricFlow query + rendering, goal p95 <= 500 ms) is bench/bench_answer.py.

    python -m bench.bench_nl
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bot.commands.grammar import parse as grammar_parse
from finefin.transform import run_dbt
from semantic_layer.nl import understand
from semantic_layer.nl.evaluation import load_vocabulary, manifest_catalog, principal, questions

QUESTIONS = Path(__file__).resolve().parent.parent / "tests" / "questions"
REPEATS = 5
GRAMMAR = ("revenue by tier monthly last quarter", "transaction_volume by type weekly 2026-10",
           "new_customers quarterly this year", "revenue where tier=Gold last quarter",
           "withdrawals monthly ytd where customer=42", "revenue, transaction_volume monthly last 6 months")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("FINEFIN_WAREHOUSE", str(Path(tmp) / "warehouse.duckdb"))
        print("dbt parse…", file=sys.stderr)
        assert run_dbt(["parse"], target="duckdb", target_path=Path(tmp) / "target").success
        started = time.perf_counter()
        catalog = manifest_catalog(Path(tmp) / "target" / "semantic_manifest.json")
        catalog_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    vocab = load_vocabulary(catalog, QUESTIONS)
    vocab_ms = (time.perf_counter() - started) * 1000
    qs = list(questions(QUESTIONS))
    principals = {role: principal(role) for role in ("director", "advisor", "customer")}
    for q in qs:  # warm-up
        understand(q.text, vocab, principals[q.role])
    times: list[float] = []
    for _ in range(REPEATS):
        for q in qs:
            t0 = time.perf_counter()
            understand(q.text, vocab, principals[q.role])
            times.append((time.perf_counter() - t0) * 1000)
    base: list[float] = []
    for _ in range(REPEATS * 20):
        for text in GRAMMAR:
            t0 = time.perf_counter()
            grammar_parse(text, catalog)
            base.append((time.perf_counter() - t0) * 1000)
    load = os.getloadavg()[0]
    print("## Plain-English parse latency (bench/bench_nl.py)\n")
    print(f"_Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; load average (1 min) {load:.1f}._\n")
    print("Command: `python -m bench.bench_nl` "
          f"({len(qs)} questions of tests/questions/ x {REPEATS} runs after one warm-up pass).\n")
    print("| subject | calls | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, values in (("`semantic_layer.nl.understand` (plain English)", times),
                         ("baseline: `/finefin metric` grammar", base)):
        print(f"| {name} | {len(values)} | {statistics.median(values):.2f} | {_pct(values, 0.95):.2f} | "
              f"{_pct(values, 0.99):.2f} | {max(values):.2f} |")
    verdict = "met" if _pct(times, 0.95) <= 20 else "NOT met"
    print(f"\nParse p95 goal (<= 20 ms): {verdict}. Once per load: catalog from the manifest {catalog_ms:.0f} ms "
          f"(MetricFlow's group-by items), vocabulary {vocab_ms:.1f} ms. The whole answer at 10 M transactions "
          "(goal p95 <= 500 ms) is measured by bench/bench_answer.py (section \"Whole plain-English answer\").")


if __name__ == "__main__":
    main()
