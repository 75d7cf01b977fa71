"""One request id per request in every log line: the HTTP guard's id reaches the ack thread, the answer thread, the
delivery thread and the answer worker process (carried by the AnswerJob)."""

from __future__ import annotations

# ruff: noqa: E402 - assertion rewriting must be registered before the support module is imported
import pytest

pytest.register_assert_rewrite("tests.bot_support")

import logging
import re
import time
from collections.abc import Iterator
from typing import Any

from bot.logs import RequestIdFilter
from bot.runtime import ProcessAnswers
from bot.runtime_worker import AnswerJob, WorkerConfig
from tests.bot_support import (
    People,
    build_double,
    command_body,
    directory_for,
    people_for,
    serve_asgi,
    settings_for,
    sign,
)
from tests.bot_support import (
    post as http_post,
)
from tests.fake_slack import FakeSlack

pytest_plugins = ["tests.bot_support"]


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.addFilter(RequestIdFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture()
def records() -> Iterator[Records]:
    handler, root = Records(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


def test_every_line_of_a_request_carries_its_id_across_threads(
    bolt_app: Any, bot_settings: Any, fake_slack: Any, people: People, records: Records
) -> None:
    """Over real HTTP through the guard: the refusal (answer thread), the after-answer line (delivery thread) and a
    duplicate delivery (ack thread) all log a request id, the HTTP request's, never `-`."""
    from bot.http_guard import guard_http
    from bot.server import asgi_app

    with serve_asgi(guard_http(asgi_app(bolt_app), bot_settings)) as url:
        body = command_body(fake_slack, people.customer, "watchlist")  # a customer may not: refused
        assert http_post(url, body)[0] == 200
        fake_slack.wait_calls("response")
        time.sleep(0.3)  # the after-answer hook runs after the post
        assert http_post(url, body, {**sign(body), "x-slack-retry-num": "1"})[0] == 200  # the same delivery
        time.sleep(0.3)
    refused = [r for r in records.records if r.name == "bot.assistant" and "refused" in r.getMessage()]
    assert len(refused) == 1
    request_id = re.match(r"request (\w+) from", refused[0].getMessage()).group(1)  # type: ignore[union-attr]
    mine = [r for r in records.records if request_id in r.getMessage()]
    assert {r.threadName.split("_")[0] for r in mine} >= {"answer", "deliver"}, [(r.threadName, r.name) for r in mine]
    assert all(r.request_id == request_id for r in mine), [(r.name, r.request_id, r.getMessage()) for r in mine]  # type: ignore[attr-defined]
    duplicate = [r for r in records.records if "duplicate delivery ignored" in r.getMessage()]
    assert len(duplicate) == 1 and duplicate[0].threadName.startswith("admit")  # claimed off the ack path
    assert duplicate[0].request_id not in ("-", request_id)  # type: ignore[attr-defined]  # its own HTTP request
    bot_lines = [r for r in records.records if r.name.startswith("bot.")]
    assert bot_lines and all(r.request_id != "-" for r in bot_lines), [  # type: ignore[attr-defined]
        (r.name, r.getMessage()) for r in bot_lines if r.request_id == "-"]  # type: ignore[attr-defined]


def test_the_answer_workers_lines_carry_the_jobs_request_id(capfd: pytest.CaptureFixture[str]) -> None:
    """The worker process logs (its own stderr) under the id the web process gave the job."""
    people = people_for(build_double())
    fake = FakeSlack().start()
    for user_id, entry in directory_for(build_double(), people).items():
        fake.add_user(user_id, entry["email"], entry["name"])
    config = WorkerConfig(settings_for(people, slack_api_url=fake.api_url), "tests.runtime_support:double", warm=False)
    answers = ProcessAnswers(config, 1)
    try:
        assert answers.wait_ready(120)
        delivered: list[Any] = []
        job = AnswerJob("feedc0ffee01", people.customer, "watchlist", received_at=time.monotonic())
        assert answers.submit(job, lambda answer: delivered.append(answer) or True)
        deadline = time.monotonic() + 60
        while not delivered and time.monotonic() < deadline:
            time.sleep(0.05)
        assert delivered and not delivered[0].ok
    finally:
        answers.shutdown(wait=True)
        fake.stop()
    lines = [line for line in capfd.readouterr().err.splitlines() if "logger=bot.assistant" in line]
    assert any("request_id=feedc0ffee01 msg=" in line and "refused" in line for line in lines), lines
