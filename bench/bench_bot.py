"""Bot latency: ack and full answer per /finefin command, through Bolt and a local fake Slack Web API over HTTP.

Single-request section: signed slash-command requests dispatched into the Bolt app in-process (ack returned by
dispatch; the answer is the response_url post of the in-process answer runtime, received by the fake Slack server).
Baseline: the same Assistant answering directly, with no Slack in the way (compute + Block Kit + files only).
Burst section (bench/bot_burst.py): the real server under uvicorn over HTTP, worker processes vs in-process.
`BENCH_BOT_SECTIONS=single` or `=burst` runs one of the two.

The semantic layer is the in-memory test double unless BENCH_BOT_SL=real (then semantic_layer.get_semantic_layer()).
`BENCH_SCALE=small` runs 3 iterations per command instead of 25.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Any

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.app import build_app
from bot.console import console_assistant
from tests.bot_support import build_double, command_body, directory_for, dispatch, people_for, settings_for
from tests.fake_slack import FakeSlack

COMMANDS: list[tuple[str, str]] = [
    ("customer", "help"),
    ("customer", "balance"),
    ("customer", "upcoming"),
    ("customer", "statement"),
    ("advisor", "balance {red}"),
    ("advisor", "watchlist"),
    ("advisor", "red"),
    ("director", "growth"),
    ("director", "tiers"),
    ("director", "transactions"),
    ("director", "define revenue"),
]


def wait_quiet(fake: FakeSlack, quiet: float = 0.15, timeout: float = 30.0) -> None:
    """Return once the fake Slack server has received no new call for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    seen, since = len(fake.calls), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.01)
        if len(fake.calls) != seen:
            seen, since = len(fake.calls), time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
    raise AssertionError("the bot kept calling Slack for 30 s after answering")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def semantic_layer() -> tuple[Any, str]:
    if os.environ.get("BENCH_BOT_SL") == "real":
        from semantic_layer import get_semantic_layer  # type: ignore[attr-defined]

        return get_semantic_layer(), "semantic_layer.get_semantic_layer() (real warehouse)"
    return build_double(), "in-memory test double (tests/bot_support.py: build_double)"


def main() -> int:
    sections = {s.strip() for s in os.environ.get("BENCH_BOT_SECTIONS", "single,burst").split(",")}
    if "single" in sections:
        single()
    if "burst" in sections:
        burst()
    return 0


def burst() -> None:
    """The burst section (bench/bot_burst.py) on the semantic layer bench's warehouse: 10 M transactions, or ~20 k
    with BENCH_SCALE=small (built once under bench/out/, reused)."""

    from bench.bench_semantic_layer import TX_PER_CUSTOMER, bench_warehouse
    from bench.bot_burst import burst_section
    from bot.runtime_settings import default_workers
    from semantic_layer.engine import DuckDbSnapshotEngine
    from semantic_layer.service import MetricFlowSemanticLayer

    wh = bench_warehouse()
    small, customers, data_dir = wh.small, wh.customers, wh.data_dir
    sl = MetricFlowSemanticLayer(DuckDbSnapshotEngine(data_dir, "warehouse.duckdb"))
    workers = int(os.environ.get("FINEFIN_ANSWER_WORKERS") or default_workers())
    size = f"{customers:,} customers, ~{customers * TX_PER_CUSTOMER / 1e6:.1f} M transactions (generated, 12 months)"
    iterations = int(os.environ.get("BENCH_BURST_SINGLES", "2" if small else "5"))
    print(burst_section(sl, data_dir, size, iterations, workers))


def single() -> None:
    iterations = 3 if os.environ.get("BENCH_SCALE") == "small" else 25
    sl, sl_name = semantic_layer()
    people = people_for(sl)
    fake = FakeSlack().start()
    try:
        directory = directory_for(sl, people)
        for user_id, entry in directory.items():
            fake.add_user(user_id, entry["email"], entry["name"])
        settings = settings_for(people)
        client = WebClient(
            token="xoxb-bench", base_url=fake.api_url, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=3)]
        )
        app = build_app(sl, settings, client=client)
        import json
        import tempfile
        from pathlib import Path

        tmp = Path(tempfile.mkdtemp(prefix="bench_bot_"))
        (tmp / "dir.json").write_text(json.dumps(directory))
        assistant = console_assistant(sl, settings, tmp / "dir.json")
        who = {"customer": people.customer, "advisor": people.advisor, "director": people.director}

        rows = []
        errors: dict[str, str] = {}
        for role, text in COMMANDS:
            text = text.format(red=people.red_customer_id)
            print(f"  {role}: {text}", file=sys.stderr, flush=True)
            acks, answers, files, direct = [], [], [], []
            for i in range(iterations + 1):  # first run warms caches (users.info, matplotlib import), not counted
                t0 = time.perf_counter()
                direct_answer = assistant.answer(who[role], text)
                d = time.perf_counter() - t0
                if not direct_answer.ok:
                    errors[text] = direct_answer.text
                fake.reset()
                body = command_body(fake, who[role], text)
                start = time.monotonic()
                resp = dispatch(app, body)
                ack = time.monotonic() - start
                assert resp.status == 200, resp.body
                fake.wait_calls("response", timeout=30)
                answered = fake.calls_to("response")[0].at - start
                # let this request's delivery finish (statements and charts upload two files, long lists a CSV)
                # so its background work never overlaps the next request's ack
                wait_quiet(fake)
                completed = fake.calls_to("files.completeUploadExternal")
                uploads = (completed[-1].at - start) if completed and text in ("statement", "transactions") else None
                if i == 0:
                    continue
                acks.append(ack)
                answers.append(answered)
                direct.append(d)
                if uploads is not None:
                    files.append(uploads)
            rows.append(
                (
                    role,
                    text,
                    pct(acks, 0.99),
                    pct(answers, 0.5),
                    pct(answers, 0.95),
                    statistics.median(files) if files else None,
                    statistics.median(direct),
                )
            )
    finally:
        fake.stop()

    ms = 1000.0
    print("## Slack bot: ack and answer latency per command\n")
    print(
        "Command: `python -m bench.bench_bot` "
        f"({'BENCH_SCALE=small, ' if iterations == 3 else ''}{iterations} runs per command after one warm-up).\n"
    )
    print(
        f"Semantic layer: **{sl_name}**. Requests are signed and dispatched into the Bolt app in-process; every "
        "Slack Web API call (users.info, response_url, conversations.open, file upload) goes over HTTP to a "
        "local fake Slack server. Baseline: the Assistant answering directly (no Bolt, no HTTP). "
        "After the warm-up, repeated identical requests are served from the semantic layer's per-load result cache "
        "(as repeated questions are in production); uncached latencies are in the semantic layer section. Ack is "
        "the in-process dispatch until Bolt returns the 200; the answer is computed by the in-process answer "
        "runtime (threads; the HTTP server's worker processes are measured in the burst section).\n"
    )
    print(
        "| role | command | ack p99 (ms) | answer p50 (ms) | answer p95 (ms) | files done p50 (ms) "
        "| baseline direct p50 (ms) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for role, text, ack99, a50, a95, f50, d50 in rows:
        files_cell = "–" if f50 is None else f"{f50 * ms:.1f}"
        print(
            f"| {role} | `{text}` | {ack99 * ms:.1f} | {a50 * ms:.1f} | {a95 * ms:.1f} | {files_cell} "
            f"| {d50 * ms:.1f} |"
        )
    for text, message in errors.items():
        print(f"\n**Warning**: `{text}` answered with an error, so its timing is not a real answer: {message}")
    worst_ack = max(r[2] for r in rows)
    print(f"\nWorst ack p99: {worst_ack * ms:.1f} ms (Slack's limit: 3,000 ms).\n")


if __name__ == "__main__":
    raise SystemExit(main())
