"""The ack path alone under a burst: 100 concurrent signed /finefin requests over real HTTP, no warehouse needed.

The web process is the real one (`bot.app.build_app` + the dedupe and workspace middlewares + `bot.server`'s ASGI
handler behind the HTTP guard, under uvicorn in a process of its own) with a trivial answer runtime: the answer is
a constant, computed on a thread and posted to the fake Slack's response_url like a real one, so the ack is
measured exactly (the ack path never touches the warehouse) and the run needs no 10 M warehouse.

Variants, same run, alternated over BENCH_ACK_ROUNDS rounds:
- subject: delivery claims in PostgreSQL (FINEFIN_BENCH_PG_URL, a fresh database), as in production;
- baseline: the same app with the claims in process memory (`MemoryClaims`, one process only: no state database);
- floor: a bare ASGI app under the same uvicorn answering an empty 200 (what the HTTP server, the kernel and this
  load generator cost by themselves on this machine: no ack can be faster).
Inside the web process the bench also records where the time went (GET /bench/stats): from the ASGI call to the
response (HTTP guard, Bolt adapter, the hop to an ack thread when there is one), the Bolt dispatch, the delivery claim
(pool wait + round trip; off the ack path since bot/dedupe.py defers it).

Command: `python -m bench.bench_ack` (prints a Markdown section, bench/run_all.py's contract). BENCH_ACK_BURST
(default 100), BENCH_ACK_ROUNDS (default 3; 1 with BENCH_SCALE=small), BENCH_ACK_SINGLES (default 30 one-at-a-time
requests per variant; 10 with BENCH_SCALE=small).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from bench.bot_burst import SECRET, Client, Sample, fire_all, free_port, pct, start_server
from tests.bot_support import command_body
from tests.fake_slack import FakeSlack

PG = os.environ.get("FINEFIN_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
USER = "UBACK"
STATS_PATH = "/bench/stats"


# ---- the web process (uvicorn --factory bench.bench_ack:create_app) --------------------------------------------

class _Timings:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: dict[str, list[float]] = {}

    def add(self, name: str, seconds: float) -> None:
        with self.lock:
            self.values.setdefault(name, []).append(seconds * 1000)

    def take(self) -> dict[str, list[float]]:
        with self.lock:
            out, self.values = self.values, {}
        return out


async def _floor(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The measuring floor: an ASGI app that reads the request and answers an empty 200 (no Bolt, no bot)."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    payload = b"{}" if scope["path"] == STATS_PATH else b""
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": payload})


def create_app() -> Any:
    """The bot's web process with a constant answer; BENCH_ACK_CLAIMS=memory keeps the claims in memory,
    BENCH_ACK_CLAIMS=floor serves a bare ASGI app instead (what uvicorn and this harness cost by themselves)."""
    if os.environ.get("BENCH_ACK_CLAIMS") == "floor":
        return _floor
    from concurrent.futures import ThreadPoolExecutor as Threads

    from bot.answer import Answer
    from bot.app import build_app
    from bot.dedupe import MemoryClaims
    from bot.http_guard import guard_http
    from bot.logs import configure_logging
    from bot.runtime import AnswerRuntime
    from bot.runtime_worker import AnswerJob
    from bot.server import ThreadedSlackRequestHandler
    from bot.settings import get_bot_settings
    from bot.state import shared_state

    configure_logging("WARNING")
    timings = _Timings()
    settings = get_bot_settings()
    state = shared_state()
    if os.environ.get("BENCH_ACK_CLAIMS") == "memory":
        state.deliveries = MemoryClaims()  # type: ignore[assignment]
    claims = state.deliveries
    claim = claims.claim

    def timed_claim(key: str) -> bool:
        t0 = time.perf_counter()
        try:
            return claim(key)
        finally:
            timings.add("claim", time.perf_counter() - t0)

    claims.claim = timed_claim  # type: ignore[method-assign]

    def work(job: AnswerJob) -> Answer:
        return Answer(text="ok", blocks=[], ok=True, request_id=job.request_id, outcome="answered")

    answers = AnswerRuntime(lambda: Threads(max_workers=2, thread_name_prefix="answer"), work)
    app = build_app(None, settings, answers=answers, state=state)

    dispatch = app.dispatch

    def timed_dispatch(request: Any) -> Any:  # the real handler's choice of thread, timed around Bolt
        started = time.perf_counter()
        try:
            return dispatch(request)
        finally:
            timings.add("Bolt dispatch", time.perf_counter() - started)

    app.dispatch = timed_dispatch  # type: ignore[method-assign]
    guarded = guard_http(ThreadedSlackRequestHandler(app), settings)

    async def with_stats(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == STATS_PATH:
            payload = json.dumps(timings.take()).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": payload})
            return
        arrived = time.perf_counter()

        async def timed_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                timings.add("in the web process", time.perf_counter() - arrived)
            await send(message)

        await guarded(scope, receive, timed_send)

    return with_stats


# ---- the bench process ------------------------------------------------------------------------------------------

def fresh_database() -> str:
    import psycopg
    from psycopg import sql

    name = f"finefin_bench_ack_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return PG.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(url.rsplit("/", 1)[1])))


def load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def stats(base: str) -> dict[str, list[float]]:
    with urllib.request.urlopen(base + STATS_PATH, timeout=10) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def one_variant(name: str, env: dict[str, str], fake: FakeSlack, burst: int, singles: int, answers: bool = True
                ) -> dict[str, Any]:
    port = free_port()
    proc, startup = start_server(env, port, factory="bench.bench_ack:create_app", timeout=120)
    base = f"http://127.0.0.1:{port}"
    url = base + "/slack/events"
    client = Client(fake, url)
    try:
        for _ in range(5):  # warm: auth.test, the pool's first connections
            sample = client.send(USER, "help")
            if answers:
                client.settle([sample], quiet=0.05)
        stats(base)
        single: list[Sample] = []
        for _ in range(singles):
            sample = client.send(USER, "help")
            if answers:
                client.settle([sample], quiet=0.05)
            single.append(sample)
        single_stats = stats(base)
        prepared = []
        for _ in range(burst):
            body = command_body(fake, USER, "help")
            prepared.append(("help", body, "/response/" + dict(parse_qsl(body))["response_url"].rsplit("/", 1)[1]))
        before = load()
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as loader:
            results = loader.submit(fire_all, [url], prepared).result()
        if answers:
            client.settle(results, quiet=0.5)
        burst_stats = stats(base)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {"name": name, "startup": startup, "single": single, "single_stats": single_stats, "burst": results,
            "burst_stats": burst_stats, "load": before}


def _ms(v: float) -> str:
    return f"{v * 1000:,.1f}"


def render(results: list[dict[str, Any]], burst: int, singles: int, loads: tuple[str, str]) -> str:
    out = [f"## Slack acks under a burst: {burst} concurrent /finefin over real HTTP, no warehouse\n"]
    out.append(
        f"Command: `python -m bench.bench_ack` ({len(results) // 2} rounds, subject and baseline alternated). "
        "The real web process (build_app: workspace + dedupe middlewares, bot.server's ack threads, the HTTP guard) "
        "under uvicorn in its own process, with a constant answer posted to the fake Slack (tests/fake_slack.py) "
        "from the answer runtime's threads. Subject: delivery claims in PostgreSQL (127.0.0.1:5432, a fresh "
        "database); baseline: the same app with the claims in memory; floor: a bare ASGI app answering an empty 200 "
        "under the same uvicorn (the HTTP server, kernel and load generator alone). Load generator: raw sockets, one "
        "thread per "
        "request, released by a barrier, in a process of its own. The ack: request sent -> HTTP response received "
        "(Slack's limit 3 s; goal p99 < 100 ms).\n\n"
        f"Load average (1 min) at the start / end of this run: {loads[0]} / {loads[1]} (2 cores shared with the "
        "PostgreSQL server and whatever else runs).\n"
    )
    out.append("| run | single ack p50 ms | single ack p99 ms | burst ack p50 ms | burst ack p99 ms | burst ack max ms "
               "| non-200 | answered once |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        s = [x.ack for x in r["single"]]
        b = [x.ack for x in r["burst"]]
        bad = sum(1 for x in r["burst"] if x.status != 200)
        once = sum(1 for x in r["burst"] if x.answers == 1)
        answered = f"{once} / {len(b)}" if r["burst_stats"] else "– (no answers)"
        out.append(f"| {r['name']} | {_ms(pct(s, .5))} | {_ms(pct(s, .99))} | {_ms(pct(b, .5))} | "
                   f"{_ms(pct(b, .99))} | {_ms(max(b))} | {bad} | {answered} |")
    names = sorted({n for r in results for n in r["burst_stats"]})
    out.append("\nInside the web process during the burst (ms, p50 / p99). `in the web process`: from the ASGI call to "
               "the response; `claim`: one delivery claim, which runs on the answer runtime's threads after the ack "
               "(bot/dedupe.py):\n")
    out.append("| run | " + " | ".join(names) + " |")
    out.append("|---|" + "---:|" * len(names))
    for r in results:
        cells = []
        for n in names:
            v = [x / 1000 for x in r["burst_stats"].get(n, [])]
            cells.append(f"{_ms(pct(v, .5))} / {_ms(pct(v, .99))}" if v else "–")
        out.append(f"| {r['name']} | " + " | ".join(cells) + " |")
    by: dict[str, list[float]] = {}
    for r in results:
        by.setdefault(r["name"], []).append(pct([x.ack for x in r["burst"]], .99))
    if len(by) >= 2:
        (sn, sv), (bn, bv) = list(by.items())[:2]
        ratio = sorted(sv)[len(sv) // 2] / sorted(bv)[len(bv) // 2]
        out.append(f"\nMedian over rounds of the burst ack p99: {sn} {_ms(sorted(sv)[len(sv) // 2])} ms, "
                   f"{bn} {_ms(sorted(bv)[len(bv) // 2])} ms: ratio {ratio:.2f}.")
        for name, values in list(by.items())[2:]:
            out.append(f"{name}: {_ms(sorted(values)[len(values) // 2])} ms.")
    return "\n".join(out) + "\n"


def main() -> int:
    burst = int(os.environ.get("BENCH_ACK_BURST", "100"))
    small = os.environ.get("BENCH_SCALE") == "small"
    rounds = int(os.environ.get("BENCH_ACK_ROUNDS", "1" if small else "3"))
    singles = int(os.environ.get("BENCH_ACK_SINGLES", "10" if small else "30"))
    fake = FakeSlack().start()
    fake.add_user(USER, "ack@finefinance.example", "Ack Bench")
    db = fresh_database()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINEFIN_", "SLACK_"))}
    env.update({"SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SECRET,
                "FINEFIN_SLACK_API_URL": fake.api_url, "FINEFIN_STATE_URL": db,
                "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    variants = [("claims in PostgreSQL", {}), ("baseline: claims in memory", {"BENCH_ACK_CLAIMS": "memory"}),
                ("floor: bare ASGI app, no bot", {"BENCH_ACK_CLAIMS": "floor"})]
    results = []
    first_load = load()
    try:
        for _ in range(rounds):
            for name, extra in variants:
                fake.reset()
                print(f"bench_ack: {name}", file=sys.stderr, flush=True)
                results.append(one_variant(name, {**env, **extra}, fake, burst, singles,
                                           answers=extra.get("BENCH_ACK_CLAIMS") != "floor"))
    finally:
        fake.stop()
        drop_database(db)
    print(render(results, burst, singles, (first_load, load())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
