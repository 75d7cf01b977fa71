"""The burst section of bench/bench_bot.py: the real `bot.server` app under uvicorn (its own process, as in
production), signed /finefin requests over loopback HTTP, the fake Slack Web API (tests/fake_slack.py) in this process.

Per server configuration (subject: answers in FINEFIN_ANSWER_WORKERS worker processes; baseline: the same app with
FINEFIN_ANSWER_WORKERS=0, answers on threads inside the web process, as before this runtime):
1. start-up until the port accepts (the factory returns once the workers are warm);
2. the first `statement` and the first `transactions` after start (cold-start cost, one request at a time);
3. single requests, one at a time, every command of every role;
4. the burst: BURST_SIZE requests fired at once (a barrier), distinct customers for the per-customer commands.
Ack: request sent -> HTTP response received. Answer: request sent -> its response_url post received by the fake.
A missed ack is an HTTP status other than 200 or an ack slower than 3 s.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from semantic_layer.inputs import CustomerId
from tests.bot_support import command_body, sign
from tests.fake_slack import FakeSlack

SECRET = "bench-signing-secret"
ADVISOR, DIRECTOR, STRANGER = "UBADVISOR", "UBDIRECTOR", "UBSTRANGER"
BURST_SIZE = 100
SLACK_ACK_LIMIT = 3.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Sample:
    label: str
    status: int
    ack: float
    body: str
    response_path: str
    sent_at: float
    answer: float | None = None
    answers: int = 0
    busy: bool = False


@dataclass
class Run:
    name: str
    startup: float
    first: list[Sample] = field(default_factory=list)
    single: dict[str, list[Sample]] = field(default_factory=dict)
    burst: list[Sample] = field(default_factory=list)
    burst_wall: float = 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def customers_with_email(sl: Any, n: int) -> list[tuple[int, str]]:
    """The first n customers (by id) with their emails: each becomes one Slack user of the fake."""
    found: list[tuple[int, str]] = []
    cid = 0
    while len(found) < n and cid < 10 * n + 100:
        cid += 1
        try:
            found.append((cid, sl.customer(CustomerId(cid)).email))
        except Exception:
            continue
    return found


class Client:
    def __init__(self, fake: FakeSlack, url: str) -> None:
        self.fake, self.url = fake, url

    def send(self, user: str, text: str) -> Sample:
        body = command_body(self.fake, user, text)
        path = "/response/" + dict(parse_qsl(body))["response_url"].rsplit("/", 1)[1]
        return self.post(f"{text}", body, path)

    def post(self, label: str, body: str, path: str, barrier: threading.Barrier | None = None) -> Sample:
        request = urllib.request.Request(self.url, data=body.encode(), headers=sign(body, secret=SECRET), method="POST")
        if barrier is not None:
            barrier.wait()
        sent = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                status, text = resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, ""
        except OSError:
            status, text = 0, ""
        sample = Sample(label, status, time.monotonic() - sent, body, path, sent)
        sample.busy = "busy" in text
        return sample

    def settle(self, samples: list[Sample], timeout: float = 300.0, quiet: float = 1.0) -> None:
        """Wait for an answer to every accepted request, then for `quiet` s without a call; fill answer fields."""
        expected = [s for s in samples if s.status == 200 and not s.busy]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            posted = {c.path for c in self.fake.calls_to("response")}
            if all(s.response_path in posted for s in expected):
                break
            time.sleep(0.02)
        seen, since = len(self.fake.calls), time.monotonic()
        while time.monotonic() - since < quiet and time.monotonic() < deadline:
            time.sleep(0.05)
            if len(self.fake.calls) != seen:
                seen, since = len(self.fake.calls), time.monotonic()
        by_path: dict[str, list[float]] = {}
        for c in self.fake.calls_to("response"):
            by_path.setdefault(c.path, []).append(c.at)
        for s in samples:
            ats = by_path.get(s.response_path, [])
            s.answers = len(ats)
            s.answer = (min(ats) - s.sent_at) if ats else None


def raw_request(url: str, body: str) -> bytes:
    """The whole signed HTTP/1.1 request, built before the barrier: the load generator does no work while timed."""
    rest = url.split("://", 1)[1]
    hostport, path = rest.split("/", 1)
    data = body.encode()
    headers = {**sign(body, secret=SECRET), "host": hostport, "content-length": str(len(data)), "connection": "close"}
    head = f"POST /{path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode() + data


def post_raw(label: str, url: str, request: bytes, path: str, barrier: threading.Barrier) -> Sample:
    """One request on a raw socket (urllib's Python overhead per request would be measured as ack latency)."""
    host, port = url.split("://", 1)[1].split("/", 1)[0].split(":")
    barrier.wait()
    sent = time.monotonic()
    chunks: list[bytes] = []
    try:
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(request)
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks):
                    head, _, rest = b"".join(chunks).partition(b"\r\n\r\n")
                    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                                   if line.lower().startswith(b"content-length:")), 0)
                    if len(rest) >= length:
                        break
        acked = time.monotonic() - sent
        response = b"".join(chunks)
        status = int(response.split(b" ", 2)[1])
    except (OSError, ValueError, IndexError):
        acked, response, status = time.monotonic() - sent, b"", 0
    sample = Sample(label, status, acked, "", path, sent)
    sample.busy = b"busy" in response
    return sample


def fire_all(urls: list[str], prepared: list[tuple[str, str, str]]) -> list[Sample]:
    """In a process of its own (the load generator must not share a GIL with the fake Slack): one thread per
    request, released together by a barrier, spread round-robin over the web instances. time.monotonic() is
    system-wide, so the bench process can subtract."""
    requests = [(label, urls[i % len(urls)], raw_request(urls[i % len(urls)], body), path)
                for i, (label, body, path) in enumerate(prepared)]
    barrier = threading.Barrier(len(prepared))
    results: list[Sample] = [None] * len(prepared)  # type: ignore[list-item]

    def fire(i: int) -> None:
        label, url, request, path = requests[i]
        results[i] = post_raw(label, url, request, path, barrier)

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(len(prepared))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def start_server(env: dict[str, str], port: int, factory: str = "bot.server:create_asgi_app",
                 timeout: float = 600) -> tuple[subprocess.Popen[bytes], float]:
    """uvicorn serving `factory` in a process of its own, once it listens on `port`; and its start-up time."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-access-log"],
        env=env, cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the bot server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, time.monotonic() - started
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError(f"the bot server did not start within {timeout:.0f} s")


def burst_mix(customers: list[str], red_customer_id: int, some_customer_id: int) -> list[tuple[str, str, str]]:
    """(label, user, text): 20 statements and 20 transactions among 100, every role, distinct customers."""
    it = iter(customers)
    mix: list[tuple[str, str, str]] = []
    mix += [("customer: statement", next(it), "statement") for _ in range(20)]
    mix += [("director: transactions", DIRECTOR, "transactions") for _ in range(20)]
    mix += [("customer: balance", next(it), "balance") for _ in range(8)]
    mix += [("customer: upcoming", next(it), "upcoming") for _ in range(8)]
    mix += [("customer: help", next(it), "help") for _ in range(4)]
    mix += [("advisor: watchlist", ADVISOR, "watchlist") for _ in range(6)]
    mix += [("advisor: red", ADVISOR, "red") for _ in range(6)]
    mix += [("advisor: balance <id>", ADVISOR, f"balance {red_customer_id}") for _ in range(4)]
    mix += [("advisor: balance <id>", ADVISOR, f"balance {some_customer_id}") for _ in range(2)]
    mix += [("director: growth", DIRECTOR, "growth") for _ in range(6)]
    mix += [("director: tiers", DIRECTOR, "tiers") for _ in range(6)]
    mix += [("director: define", DIRECTOR, "define revenue") for _ in range(5)]
    mix += [("stranger: balance (refused)", STRANGER, "balance") for _ in range(5)]
    assert len(mix) == BURST_SIZE, len(mix)
    return mix


def measure(name: str, env: dict[str, str], fake: FakeSlack, single_user: str, mix: list[tuple[str, str, str]],
            singles: list[tuple[str, str, str]], iterations: int) -> Run:
    log(f"burst: start {name}")
    procs, urls, startup = [], [], 0.0
    for _ in range(int(env.get("WEB_CONCURRENCY", "1"))):  # several instances, as behind a load balancer
        port = free_port()
        proc, took = start_server(env, port)
        procs.append(proc)
        urls.append(f"http://127.0.0.1:{port}/slack/events")
        startup = max(startup, took)
    client = Client(fake, urls[0])
    run = Run(name, startup)
    try:
        for user, text in ((single_user, "statement"), (DIRECTOR, "transactions")):
            sample = client.send(user, text)
            client.settle([sample], quiet=0.3)
            run.first.append(sample)
        log(f"burst: {name}: single requests")
        for label, user, text in singles if iterations else ():
            samples = []
            for _ in range(iterations):
                sample = client.send(user, text)
                client.settle([sample], quiet=0.2)
                samples.append(sample)
            run.single[label] = samples
        log(f"burst: {name}: {len(mix)} requests at once")
        prepared = []
        for label, user, text in mix:
            body = command_body(fake, user, text)
            prepared.append((label, body, "/response/" + dict(parse_qsl(body))["response_url"].rsplit("/", 1)[1]))
        t0 = time.monotonic()
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as loader:
            results = loader.submit(fire_all, urls, prepared).result()
        client.settle(results, quiet=2.0)
        answered = [s.answer for s in results if s.answer is not None]
        run.burst_wall = (max(s.sent_at + (s.answer or 0) for s in results) - t0) if answered else 0.0
        run.burst = results
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    return run


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def burst_section(sl: Any, data_dir: Path, size_note: str, iterations: int, workers: int) -> str:
    from tests.bot_support import people_for

    people = people_for(sl)
    customers = customers_with_email(sl, 60)
    fake = FakeSlack().start()
    try:
        users = []
        for cid, email in customers:
            fake.add_user(f"UBC{cid}", email, f"Customer {cid}")
            users.append(f"UBC{cid}")
        fake.add_user(ADVISOR, "advisor@finefinance.example", "Ada Advisor")
        fake.add_user(DIRECTOR, "director@finefinance.example", "Dan Director")
        fake.add_user(STRANGER, "stranger@example.org", "Stranger")
        single_user = users[-1]  # the one-at-a-time requests: a customer outside the burst
        env = {
            **os.environ,
            "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SECRET, "FINEFIN_SLACK_API_URL": fake.api_url,
            "FINEFIN_ADVISORS": ADVISOR, "FINEFIN_DIRECTORS": DIRECTOR, "FINEFIN_DATA_DIR": str(data_dir),
            "FINEFIN_WAREHOUSE": str(data_dir.parent / "warehouse.duckdb"), "PYTHONPATH": str(Path.cwd()),
        }
        env.pop("FINEFIN_DIRECTORY_FILE", None)
        mix = burst_mix(users[:-1], people.red_customer_id, people.customer_id)
        singles = [
            ("customer: help", single_user, "help"), ("customer: balance", single_user, "balance"),
            ("customer: upcoming", single_user, "upcoming"), ("customer: statement", single_user, "statement"),
            ("advisor: balance <id>", ADVISOR, f"balance {people.red_customer_id}"),
            ("advisor: watchlist", ADVISOR, "watchlist"), ("advisor: red", ADVISOR, "red"),
            ("director: growth", DIRECTOR, "growth"), ("director: tiers", DIRECTOR, "tiers"),
            ("director: transactions", DIRECTOR, "transactions"), ("director: define", DIRECTOR, "define revenue"),
        ]
        runs = []
        rounds = int(os.environ.get("BENCH_BURST_ROUNDS", "1"))  # >1: subject and baseline alternate
        half = str(max(1, workers // 2))
        configs = [
            (f"1 web process, {workers} answer workers", {"FINEFIN_ANSWER_WORKERS": str(workers)}),
            (f"2 web instances, {half} answer worker(s) each",
             {"FINEFIN_ANSWER_WORKERS": half, "WEB_CONCURRENCY": "2"}),
            ("baseline: 1 web process answering in-process", {"FINEFIN_ANSWER_WORKERS": "0"}),
        ] * rounds
        for name, overrides in configs:
            fake.reset()
            runs.append(measure(name, {**env, **overrides}, fake, single_user, mix, singles, iterations))
    finally:
        fake.stop()
    return render(runs, size_note, iterations)


def _ms(value: float | None) -> str:
    return "–" if value is None or value != value else f"{value * 1000:,.1f}"


def render(runs: list[Run], size_note: str, iterations: int) -> str:
    out = ["### Under a burst: 100 concurrent /finefin over real HTTP\n"]
    out.append(
        "Command: `python -m bench.bench_bot` (burst section). The real `bot.server:create_asgi_app` under uvicorn "
        f"in processes of its own, {size_note}; signed requests over loopback HTTP; the fake Slack Web "
        "API (tests/fake_slack.py) in the bench process receives every response_url post and file upload. "
        "Subject: answers computed in worker processes (bot/runtime.py), one web process, then two instances "
        "(the Procfile's two web processes; here two servers, requests alternated as by a load balancer). "
        "Baseline, same run: the same app with FINEFIN_ANSWER_WORKERS=0 (answers on threads inside the web "
        "process, sharing its GIL with the acks). The load generator runs in a process of its own (raw sockets, one "
        "thread per request, released by a barrier). "
        "Missed ack: HTTP status other than 200, or slower than 3 s.\n"
    )
    out.append("| run | start-up s | first statement ms | first transactions ms |")
    out.append("|---|---:|---:|---:|")
    for r in runs:
        out.append(f"| {r.name} | {r.startup:.1f} | {_ms(r.first[0].answer)} | {_ms(r.first[1].answer)} |")
    out.append(f"\nBurst of {BURST_SIZE} (20 `statement` by 20 distinct customers, 20 `transactions`, and every "
               "other command of every role, incl. 5 refused):\n")
    out.append("| run | ack p50 ms | ack p99 ms | ack max ms | missed acks | busy acks | answered exactly once "
               "| answer p50 ms | answer p95 ms | answer max ms | all answered after s |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        acks = [s.ack for s in r.burst]
        answers = [s.answer for s in r.burst if s.answer is not None]
        missed = sum(1 for s in r.burst if s.status != 200 or s.ack > SLACK_ACK_LIMIT)
        busy = sum(1 for s in r.burst if s.busy)
        once = sum(1 for s in r.burst if s.answers == 1)
        out.append(
            f"| {r.name} | {_ms(pct(acks, 0.5))} | {_ms(pct(acks, 0.99))} | {_ms(max(acks))} | {missed} | {busy} "
            f"| {once} / {len(r.burst)} | {_ms(pct(answers, 0.5))} | {_ms(pct(answers, 0.95))} "
            f"| {_ms(max(answers) if answers else None)} | {r.burst_wall:.1f} |"
        )
    out.append(f"\nSingle requests, one at a time ({iterations} per command after the first two above), "
               "ack p99 / answer p95 in ms:\n")
    out.append("| request | " + " | ".join(f"{r.name}: ack p99 | answer p95" for r in runs) + " |")
    out.append("|---|" + "---:|---:|" * len(runs))
    for label in runs[0].single if iterations else ():
        cells = []
        for r in runs:
            samples = r.single[label]
            cells.append(_ms(pct([s.ack for s in samples], 0.99)))
            cells.append(_ms(pct([s.answer for s in samples if s.answer is not None], 0.95)))
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    worst = {r.name: max(pct([s.ack for s in ss], 0.99) for ss in r.single.values()) for r in runs if r.single}
    out.append("\nWorst single-request ack p99: " + "; ".join(f"{n} {_ms(v)} ms" for n, v in worst.items()) + ".")
    out.append("Goals (issue 13): under the burst ack p99 < 100 ms, zero missed acks, every answer delivered once, "
               "answer p95 < 5 s; single requests no worse than before (ack p99 ~11 ms, answer p95 < 500 ms).")
    return "\n".join(out) + "\n"

