"""Two web processes behind one state database (issue 13): the same signed request delivered to both — Slack's
retry landing on the other process — is answered once; the same scheduled post run by two processes at once is
posted once. Real processes (uvicorn), real PostgreSQL, the fake Slack Web API over HTTP."""

# ruff: noqa: E402 - assertion rewriting must be registered before the support module is imported
from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.bot_support")

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bot.state import AuditQuery
from tests.bot_support import (
    SIGNING_SECRET,
    build_double,
    command_body,
    directory_for,
    people_for,
    post,
    serve_asgi,
    sign,
)
from tests.fake_slack import Call, FakeSlack

pytest_plugins = ["tests.bot_support"]
ROOT = Path(__file__).resolve().parents[1]


class SlowPosts(FakeSlack):
    """chat.postMessage takes 0.5 s, as a loaded Slack may: a ledger that checks, posts, then marks would post
    twice in that window."""

    def _answer(self, call: Call) -> tuple[int, dict[str, str], Any]:
        if call.method == "chat.postMessage":
            time.sleep(0.5)
        return super()._answer(call)


@pytest.fixture()
def slack() -> Iterator[FakeSlack]:
    fake = SlowPosts().start()
    sl = build_double()
    for user_id, entry in directory_for(sl, people_for(sl)).items():
        fake.add_user(user_id, entry["email"], entry["name"])
    yield fake
    fake.stop()


def _env(slack: FakeSlack, state_url: str) -> dict[str, str]:
    people = people_for(build_double())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINEFIN_", "SLACK_"))}
    return {
        **env,
        "PYTHONPATH": str(ROOT),
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "FINEFIN_SLACK_API_URL": slack.api_url,
        "FINEFIN_STATE_URL": state_url,
        "FINEFIN_ADVISORS": people.advisor,
        "FINEFIN_DIRECTORS": people.director,
        "FINEFIN_ADVISOR_CHANNEL": "CADV",
        "FINEFIN_ADVISOR_ASSIGNMENTS": json.dumps({people.advisor: [people.red_customer_id]}),
    }


def _at_once(urls: list[str], body: str, headers: list[dict[str, str]]) -> list[int]:
    """POST `body` to every URL at the same moment (one thread each); the HTTP statuses."""
    statuses: list[int] = [0] * len(urls)
    barrier = threading.Barrier(len(urls))

    def send(i: int) -> None:
        barrier.wait()
        statuses[i] = post(urls[i], body, headers[i])[0]

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(urls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


@pytest.fixture()
def two_web_processes(slack: FakeSlack, state_store: Any, state_url: str) -> Iterator[list[str]]:
    env = _env(slack, state_url)
    with ExitStack() as stack:
        yield [stack.enter_context(serve_asgi("tests.two_process_bot:create_app", env)) for _ in range(2)]


def test_a_request_delivered_to_both_processes_is_answered_once(
    two_web_processes: list[str], slack: FakeSlack, state_store: Any
) -> None:
    people = people_for(build_double())
    for n in range(3):  # three deliveries, each sent to both processes at the same moment
        body = command_body(slack, people.customer, "balance", trigger_id=f"trig.two-procs.{n}")
        first = sign(body)
        retry = {**sign(body), "x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"}
        assert _at_once(two_web_processes, body, [first, retry]) == [200, 200]  # both acked, Slack sees no failure
    slack.wait_calls("response", 3, timeout=30)
    time.sleep(1.5)  # room for a second answer, if one were coming
    paths = [c.path for c in slack.calls_to("response")]
    assert len(paths) == 3 and len(set(paths)) == 3, paths  # each delivery answered exactly once
    rows = state_store.audit.rows(AuditQuery())
    assert [r.outcome for r in rows] == ["answered"] * 3 and {r.user_id for r in rows} == {people.customer}
    for n in range(3):
        assert state_store.deliveries.is_done(f"trigger_id:trig.two-procs.{n}")


def test_a_scheduled_post_run_by_two_processes_is_posted_once(
    slack: FakeSlack, state_store: Any, state_url: str
) -> None:
    env = _env(slack, state_url)
    start_at = time.time() + 8.0  # after both processes' imports
    procs = [
        subprocess.Popen([sys.executable, "-m", "tests.two_process_bot", "post", str(start_at)], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-3000:]
        reports.append(json.loads(out.decode().strip().splitlines()[-1]))
    assert time.time() > start_at  # they did run together (neither was late past its start)
    posted = sorted(p for r in reports for p in r["posted"])
    skipped = sorted(p for r in reports for p in r["skipped"])
    people = people_for(build_double())
    assert posted == sorted(["watchlist → CADV", f"watchlist DM for {people.advisor} → D{people.advisor}"])
    assert skipped == posted  # each post: one process posted it, the other skipped it
    channels = sorted(c.params["channel"] for c in slack.calls_to("chat.postMessage"))
    assert channels == sorted(["CADV", f"D{people.advisor}"])
