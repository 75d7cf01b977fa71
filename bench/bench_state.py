"""The state database on the request path: what the PostgreSQL delivery claim adds to the Slack ack.

Subject: signed `/finefin help` requests dispatched into the Bolt app whose dedupe middleware claims each delivery in
the state database (PostgreSQL at FINEFIN_BENCH_PG_URL, a fresh database) — the ack waits for that one INSERT.
Baseline, same run: the same app with the claims held in process memory (what the bot had before, one process only).
Also timed alone: claim, complete, and one audit row (written after the answer, off the ack path).
`BENCH_SCALE=small` runs 30 requests per variant instead of 300.
"""

from __future__ import annotations

import os
import sys
import time
import types
import uuid
from typing import Any

import psycopg
from psycopg import sql
from slack_sdk import WebClient

from bot.app import build_app
from bot.dedupe import MemoryClaims
from bot.state import AuditRecord, open_state
from tests.bot_support import build_double, command_body, directory_for, dispatch, people_for, settings_for
from tests.fake_slack import FakeSlack

PG = os.environ.get("FINEFIN_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def acks(app: Any, fake: FakeSlack, user: str, n: int) -> list[float]:
    """Ack latency (ms) of n requests; each answer is awaited before the next request, so only the ack is timed."""
    out = []
    for i in range(n + 5):  # 5 warm-up requests, not counted
        body = command_body(fake, user, "help")
        before = len(fake.calls_to("response"))
        t0 = time.perf_counter()
        status = dispatch(app, body).status
        elapsed = (time.perf_counter() - t0) * 1000
        assert status == 200, status
        fake.wait_for(lambda f, b=before: len(f.calls_to("response")) > b)
        if i >= 5:
            out.append(elapsed)
    return out


def timed(fn: Any, n: int) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> int:
    n = 30 if os.environ.get("BENCH_SCALE") == "small" else 300
    dbname = f"finefin_bench_state_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    info = psycopg.conninfo.conninfo_to_dict(PG)
    info["dbname"] = dbname
    store = open_state(psycopg.conninfo.make_conninfo(**info))  # type: ignore[arg-type]
    sl = build_double()
    people = people_for(sl)
    fake = FakeSlack().start()
    try:
        for user_id, entry in directory_for(sl, people).items():
            fake.add_user(user_id, entry["email"], entry["name"])
        settings = settings_for(people)
        client = WebClient(token="xoxb-bench", base_url=fake.api_url)
        memory = types.SimpleNamespace(deliveries=MemoryClaims(), audit=store.audit)
        print("  ack, PostgreSQL claims", file=sys.stderr, flush=True)
        pg_acks = acks(build_app(sl, settings, client=client, state=store), fake, people.customer, n)
        print("  ack, memory claims (baseline)", file=sys.stderr, flush=True)
        mem_acks = acks(build_app(sl, settings, client=client, state=memory), fake, people.customer, n)  # type: ignore[arg-type]
        claims = timed(lambda i: store.deliveries.claim(f"bench:{i}"), n)
        completes = timed(lambda i: store.deliveries.complete(f"bench:{i}"), n)
        audit = timed(lambda i: store.audit.record(AuditRecord(f"b{i}", "UBENCH", "balance 42", "answered",
                                                               roles=("advisor",), customer_read=42, latency_ms=30)), n)
    finally:
        fake.stop()
        store.close()
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
    rows = [
        ("ack, delivery claimed in PostgreSQL", pg_acks),
        ("ack, delivery claimed in memory (baseline)", mem_acks),
        ("claim alone", claims),
        ("complete alone", completes),
        ("audit row alone (after the answer)", audit),
    ]
    print("## Bot state: the PostgreSQL delivery claim on the ack path (bench/bench_state.py)\n")
    print(f"Command: `python -m bench.bench_state` ({n} requests per variant after 5 warm-up; `help` answered by the "
          "in-memory semantic layer double; state database on FINEFIN_BENCH_PG_URL, local PostgreSQL over TCP).\n")
    print("| what | p50 ms | p99 ms |")
    print("|---|---:|---:|")
    for name, values in rows:
        print(f"| {name} | {pct(values, 0.5):.2f} | {pct(values, 0.99):.2f} |")
    print(f"\nThe PostgreSQL claim adds {pct(pg_acks, 0.5) - pct(mem_acks, 0.5):.2f} ms to the ack p50 "
          f"(p99 ratio {pct(pg_acks, 0.99) / pct(mem_acks, 0.99):.2f}); Slack allows 3,000 ms.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
