"""The answer runtime over a real uvicorn server, real worker processes and the fake Slack Web API.

Acks are answered by the web process; the answers come from spawned worker processes (bot/runtime.py). No timing
assertions: what is checked is that every request gets a 200 ack and exactly one answer, what the user reads when
the bot is over its bound, and that a worker dying costs one polite error and not the pool.
"""

from __future__ import annotations

# ruff: noqa: E402 - assertion rewriting must be registered before the support module is imported
import pytest

pytest.register_assert_rewrite("tests.bot_support")

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from bot.blocks import money
from bot.runtime import ProcessAnswers
from bot.runtime_worker import WorkerConfig
from semantic_layer.inputs import CustomerId
from tests.bot_support import (
    People,
    action_body,
    build_double,
    command_body,
    directory_for,
    people_for,
    serve_asgi,
    settings_for,
)
from tests.bot_support import (
    post as http_post,
)
from tests.fake_slack import FakeSlack


@dataclass
class Served:
    url: str
    answers: ProcessAnswers
    fake: FakeSlack
    people: People


def _serve(fake: FakeSlack, answers: ProcessAnswers, people: People) -> Iterator[str]:
    from slack_sdk import WebClient

    from bot.app import build_app
    from bot.server import asgi_app

    client = WebClient(token="xoxb-test", base_url=fake.api_url)
    app = build_app(None, settings_for(people, slack_api_url=fake.api_url), client=client, answers=answers)
    with serve_asgi(asgi_app(app)) as url:
        yield url


def _served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int, max_pending: int,
            answer_timeout: float | None = None) -> Iterator[Served]:
    monkeypatch.setenv("FINEFIN_TEST_GATE", str(tmp_path / "gate"))  # inherited by the spawned workers
    people = people_for(build_double())
    fake = FakeSlack().start()
    for user_id, entry in directory_for(build_double(), people).items():
        fake.add_user(user_id, entry["email"], entry["name"])
    config = WorkerConfig(settings_for(people, slack_api_url=fake.api_url), "tests.runtime_support:trapped_double")
    answers = ProcessAnswers(config, workers, max_pending=max_pending, delivery_threads=4,
                             answer_timeout=answer_timeout)
    try:
        assert answers.wait_ready(120), "the answer workers did not start"
        for url in _serve(fake, answers, people):
            yield Served(url, answers, fake, people)
    finally:
        answers.shutdown(wait=True)
        fake.stop()


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runtime")


@pytest.fixture()
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    yield from _served(tmp_path, monkeypatch, workers=2, max_pending=200)


@pytest.fixture()
def served_small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    yield from _served(tmp_path, monkeypatch, workers=1, max_pending=2)


@pytest.fixture()
def served_with_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    yield from _served(tmp_path, monkeypatch, workers=2, max_pending=200, answer_timeout=2.0)


def _response_path(body: str) -> str:
    return "/response/" + dict(parse_qsl(body))["response_url"].rsplit("/", 1)[1]


def _posts_to(fake: FakeSlack, path: str) -> list[dict[str, Any]]:
    return [c.params for c in fake.calls_to("response") if c.path == path]


def _wait_quiet(fake: FakeSlack, quiet: float = 0.5, timeout: float = 60.0) -> None:
    """Until no Slack call arrived for `quiet` seconds (a duplicate answer would show up as a late call)."""
    deadline, seen, since = time.monotonic() + timeout, len(fake.calls), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.02)
        if len(fake.calls) != seen:
            seen, since = len(fake.calls), time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
    raise AssertionError("the bot kept calling Slack")


def test_a_burst_is_acked_and_answered_exactly_once(served: Served) -> None:
    fake, people = served.fake, served.people
    requests = (
        [(people.customer, "statement")] * 10
        + [(people.director, "transactions")] * 8
        + [(people.customer, "balance"), (people.advisor, "watchlist"), (people.director, "growth"),
           (people.advisor, f"balance {people.customer_id}"), (people.advisor, "red"), (people.customer, "upcoming"),
           (people.director, "tiers")] * 2
    )
    bodies = [(user, text, command_body(fake, user, text)) for user, text in requests]
    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        acks = list(pool.map(lambda b: http_post(served.url, b[2]), bodies))
    assert [status for status, _ in acks] == [200] * len(bodies)
    for (_, text, _), (_, ack_body) in zip(bodies, acks, strict=True):
        if text == "statement":
            assert "Preparing your statement" in json.loads(ack_body)["text"]
    fake.wait_for(lambda f: all(_posts_to(f, _response_path(b)) for _, _, b in bodies), timeout=120)
    _wait_quiet(fake)
    total = build_double().balance(CustomerId(people.customer_id)).total
    for user, text, body in bodies:
        posts = _posts_to(fake, _response_path(body))
        assert len(posts) == 1, (user, text, posts)
        assert posts[0]["response_type"] == "ephemeral"
        assert not posts[0]["text"].startswith("Sorry"), (text, posts[0]["text"])
        if (user, text) == (people.customer, "balance"):
            assert f"*Current balance: {money(total)}*" in json.dumps(posts[0]["blocks"])
    uploads = fake.calls_to("files.completeUploadExternal")
    assert len(uploads) == 18  # one upload call per statement (PDF + CSV) and per chart (PNG + CSV)
    names = [c.params["filename"] for c in fake.calls_to("files.getUploadURLExternal")]
    assert sum(n.endswith(".pdf") for n in names) == 10 and names.count("transactions.png") == 8
    assert served.answers.pending == 0 and served.answers.replacements == 0


def test_button_clicks_are_answered_by_the_worker_processes(served: Served) -> None:
    """A click crosses to a worker as an AnswerJob(kind="action") and comes back as a polite answer: a forged
    action id is refused; a query button on this semantic layer (no MetricFlow) is refused too, never an error."""
    fake, people = served.fake, served.people
    value = 'v1:{"m":["revenue"],"t":"month"}'
    cases = [("ffq.nope", "not a button I know"), ("ffq.q.view", "need the MetricFlow semantic layer")]
    paths = []
    for action, _ in cases:
        body, path = action_body(fake, people.director, action, value)
        assert http_post(served.url, body)[0] == 200
        paths.append(path)
    fake.wait_for(lambda f: all(_posts_to(f, p) for p in paths), timeout=60)
    for (_, words), path in zip(cases, paths, strict=True):
        [post] = _posts_to(fake, path)
        assert post["response_type"] == "ephemeral" and post["replace_original"] is False
        assert words in post["text"] and "went wrong" not in post["text"], post["text"]


def test_over_the_bound_the_ack_says_busy_and_nothing_is_lost(served_small: Served, tmp_path: Path) -> None:
    fake, people, url = served_small.fake, served_small.people, served_small.url
    held = [command_body(fake, people.red_customer, "upcoming") for _ in range(2)]  # wait on the gate
    for body in held:
        assert http_post(url, body)[0] == 200
    assert served_small.answers.pending == 2
    extra = [command_body(fake, people.customer, "statement") for _ in range(5)]
    with ThreadPoolExecutor(max_workers=5) as pool:
        acks = list(pool.map(lambda b: http_post(url, b), extra))
    assert [status for status, _ in acks] == [200] * 5
    for _, ack_body in acks:
        reply = json.loads(ack_body)
        assert reply["response_type"] == "ephemeral" and "I'm busy right now" in reply["text"]
    (tmp_path / "gate").touch()
    fake.wait_for(lambda f: all(_posts_to(f, _response_path(b)) for b in held), timeout=60)
    after = command_body(fake, people.customer, "balance")  # room again: accepted and answered
    assert http_post(url, after)[0] == 200
    fake.wait_for(lambda f: bool(_posts_to(f, _response_path(after))), timeout=60)
    _wait_quiet(fake)
    assert all(len(_posts_to(fake, _response_path(b))) == 1 for b in [*held, after])
    assert not any(_posts_to(fake, _response_path(b)) for b in extra)  # refused at the ack, not answered later
    assert served_small.answers.pending == 0


def test_a_dying_worker_costs_one_polite_error_and_the_pool_recovers(served: Served, tmp_path: Path) -> None:
    fake, people, url = served.fake, served.people, served.url
    bystander = command_body(fake, people.red_customer, "upcoming")  # running on the other worker (gated)
    assert http_post(url, bystander)[0] == 200
    time.sleep(0.5)
    deadly = command_body(fake, people.red_customer, "balance")  # kills whichever worker computes it
    assert http_post(url, deadly)[0] == 200
    fake.wait_for(lambda f: bool(_posts_to(f, _response_path(deadly))), timeout=120)
    (tmp_path / "gate").touch()
    fake.wait_for(lambda f: bool(_posts_to(f, _response_path(bystander))), timeout=120)
    assert "upcoming transaction" in _posts_to(fake, _response_path(bystander))[0]["text"]  # queued again, answered
    post = _posts_to(fake, _response_path(deadly))[0]
    assert post["text"].startswith("Sorry, something went wrong on our side.") and "reference" in post["text"]
    assert "Traceback" not in json.dumps(post)
    assert served.answers.replacements == 1  # not retried: it was the request running on the dead worker
    after = [command_body(fake, people.customer, "balance"), command_body(fake, people.director, "transactions")]
    for body in after:
        assert http_post(url, body)[0] == 200
    fake.wait_for(lambda f: all(_posts_to(f, _response_path(b)) for b in after), timeout=120)
    _wait_quiet(fake)
    assert len(_posts_to(fake, _response_path(deadly))) == 1
    assert len(_posts_to(fake, _response_path(bystander))) == 1
    for body in after:
        posts = _posts_to(fake, _response_path(body))
        assert len(posts) == 1 and not posts[0]["text"].startswith("Sorry")
    assert served.answers.pending == 0


def test_a_hung_answer_gets_took_too_long_once_and_its_worker_is_replaced(served_with_timeout: Served) -> None:
    """FINEFIN_ANSWER_TIMEOUT_S (2 s here): `upcoming` of the red customer waits on a gate that never opens (30 s)."""
    served = served_with_timeout
    fake, people, url = served.fake, served.people, served.url
    hung = command_body(fake, people.red_customer, "upcoming")
    assert http_post(url, hung)[0] == 200
    time.sleep(0.3)
    bystander = command_body(fake, people.customer, "balance")  # on the other worker, or queued again
    assert http_post(url, bystander)[0] == 200
    fake.wait_for(lambda f: bool(_posts_to(f, _response_path(hung))), timeout=25)  # before the gate's 30 s
    post = _posts_to(fake, _response_path(hung))[0]
    assert post["text"].startswith("Sorry, that took too long to answer") and "reference" in post["text"]
    after = command_body(fake, people.director, "transactions")  # the new pool answers
    assert http_post(url, after)[0] == 200
    fake.wait_for(lambda f: all(_posts_to(f, _response_path(b)) for b in (bystander, after)), timeout=120)
    _wait_quiet(fake, quiet=1.0)
    assert len(_posts_to(fake, _response_path(hung))) == 1  # delivered once
    for body in (bystander, after):
        posts = _posts_to(fake, _response_path(body))
        assert len(posts) == 1 and not posts[0]["text"].startswith("Sorry"), posts
    assert served.answers.replacements == 1 and served.answers.pending == 0


def test_readyz_in_worker_mode_reports_the_workers_data_freshness(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The web process has no semantic layer: /readyz asks a worker; while every worker is busy it shows the last
    answer (marked busy) instead of queueing behind the answers or failing."""
    import urllib.request

    import bot.runtime
    from bot.http_guard import guard_http
    from bot.server import worker_freshness_check

    monkeypatch.setattr(bot.runtime, "FRESHNESS_REUSE_SECONDS", 0.0)  # ask the workers at every probe
    guard = guard_http(lambda *_: None, settings_for(served.people),  # type: ignore[arg-type]
                       checks=[worker_freshness_check(served.answers, wait=1.0)])
    expected = build_double().freshness().last_load_at.isoformat()
    with serve_asgi(guard) as url:
        ready = url.replace("/slack/events", "/readyz")

        def probe() -> dict[str, Any]:
            with urllib.request.urlopen(ready, timeout=30) as resp:
                assert resp.status == 200
                return json.loads(resp.read())["checks"]["semantic_layer"]  # type: ignore[no-any-return]

        first = probe()
        assert first["ok"] and first["last_load_at"] == expected and "workers_busy" not in first
        held = [command_body(served.fake, served.people.red_customer, "upcoming") for _ in range(2)]
        for body in held:  # both workers wait on the gate
            assert http_post(served.url, body)[0] == 200
        time.sleep(0.5)
        busy = probe()
        assert busy["ok"] and busy["last_load_at"] == expected and busy["workers_busy"] is True
        (tmp_path / "gate").touch()
        served.fake.wait_for(lambda f: all(_posts_to(f, _response_path(b)) for b in held), timeout=60)
        time.sleep(0.2)
        again = probe()
        assert again["ok"] and "workers_busy" not in again


def test_readyz_recovers_when_the_idle_pool_broke(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker killed while no request runs breaks the pool unnoticed; with no request coming (a load balancer sends
    none to a process that is not ready), the freshness probe itself replaces the pool."""
    import os
    import signal

    import bot.runtime
    from bot.runtime_worker import worker_pid

    monkeypatch.setattr(bot.runtime, "FRESHNESS_REUSE_SECONDS", 0.0)  # every probe asks a worker
    people = people_for(build_double())
    answers = ProcessAnswers(WorkerConfig(settings_for(people), "tests.runtime_support:double", warm=False), 1)
    try:
        assert answers.wait_ready(120)
        assert answers.freshness(30)["last_load_at"] == build_double().freshness().last_load_at.isoformat()
        os.kill(answers._executor.submit(worker_pid).result(timeout=30), signal.SIGKILL)
        deadline, facts = time.monotonic() + 90, None
        while (facts is None or "workers_busy" in facts) and time.monotonic() < deadline:
            # the probe that meets the broken pool is not ready; while the new worker starts (seconds on a loaded
            # machine) a probe answers the last facts marked workers_busy; then the new pool answers
            try:
                facts = answers.freshness(5)
            except Exception:
                time.sleep(0.2)
        assert facts is not None and "workers_busy" not in facts
        assert answers.replacements == 1
    finally:
        answers.shutdown(wait=True)


def test_the_web_process_does_not_load_the_renderers_or_metricflow() -> None:
    """The ack path's process imports the app and the runtime, not fpdf2, matplotlib or MetricFlow."""
    code = (
        "import sys, bot.server, bot.app, bot.listeners; "
        "print(sorted(m for m in ('fpdf', 'matplotlib', 'metricflow', 'dbt_metricflow', 'duckdb') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
