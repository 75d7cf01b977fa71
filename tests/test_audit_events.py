"""Issue 13 item 4, the rest of "one audit row per request": a request refused by the workspace middleware, an App
Home open, a plain-English question (app_mention / message.im) each leave exactly one row with the right outcome
and `customer_read`, under the delivery's request id, and no audit write sits on the ack path (the audit sink is
blocked, the ack still returns). Real PostgreSQL (the state_store fixture), the real Bolt app, the fake Slack."""

# ruff: noqa: E402 - assertion rewriting must be registered before the support module is imported
from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.bot_support")

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from bot.logs import request_context
from bot.state import AuditQuery, AuditRow
from bot.workspace import FOREIGN_WORKSPACE
from tests.bot_support import People, command_body, dispatch, event_body

pytest_plugins = ["tests.bot_support"]


def _rows(store: Any, n: int, timeout: float = 10.0) -> list[AuditRow]:
    """The audit rows once there are `n` (or the timeout), then a short wait that would catch a second row."""
    deadline = time.monotonic() + timeout
    while len(store.audit.rows(AuditQuery(limit=1000))) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    return store.audit.rows(AuditQuery(limit=1000))


@contextmanager
def _audit_sink_blocked(store: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Every audit write waits (up to 20 s) until the block ends; yields the event set once a write is waiting."""
    release, entered = threading.Event(), threading.Event()
    original = store.audit.record

    def blocked(rec: Any) -> bool:
        entered.set()
        release.wait(20)
        return original(rec)

    monkeypatch.setattr(store.audit, "record", blocked)
    try:
        yield entered
    finally:
        release.set()


def _foreign_command(fake_slack: Any, user: str, text: str, **fields: str) -> str:
    return urlencode({**dict(parse_qsl(command_body(fake_slack, user, text))), **fields})


def _home_open(user: str, event_id: str, team_id: str = "T0001") -> tuple[str, dict[str, str]]:
    return event_body({"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home",
                       "event_ts": f"{time.time():.6f}"}, event_id, team_id)


# --- refused by the workspace middleware ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "why"),
    [({"team_id": "T0THEM"}, "foreign team 'T0THEM'"), ({"enterprise_id": "E0THEM"}, "foreign enterprise 'E0THEM'")],
)
def test_a_foreign_workspace_command_leaves_one_refused_row(
    bolt_app: Any, fake_slack: Any, people: People, state_store: Any, fields: dict[str, str], why: str
) -> None:
    body = _foreign_command(fake_slack, people.customer, "balance 42", **fields)
    with request_context("reqforeign01"):  # the HTTP guard's id for this request
        resp = dispatch(bolt_app, body)
    assert resp.status == 200 and resp.body == FOREIGN_WORKSPACE
    [row] = _rows(state_store, 1)
    assert (row.request_id, row.outcome, row.user_id, row.team_id) == (
        "reqforeign01", "refused", people.customer, fields.get("team_id", "T0001"))  # the ids as sent
    assert row.command == f"[refused: {why}] balance 42"
    assert (row.roles, row.customer_id, row.customer_read) == ((), None, None)  # nobody resolved, nothing read
    assert row.latency_ms is not None and 0 <= row.latency_ms < 1000


def test_a_foreign_event_leaves_one_row_and_a_long_command_is_bounded(
    bolt_app: Any, fake_slack: Any, people: People, state_store: Any
) -> None:
    body, headers = _home_open(people.customer, "EvForeign1", team_id="T0THEM")
    assert dispatch(bolt_app, body, headers).status == 200
    [row] = _rows(state_store, 1)
    assert (row.outcome, row.user_id, row.team_id, row.command) == (
        "refused", people.customer, "T0THEM", "[refused: foreign team 'T0THEM'] event app_home_opened")
    assert dispatch(bolt_app, _foreign_command(fake_slack, people.customer, "define " + "x" * 3000,
                                               team_id="T0THEM")).status == 200
    rows = _rows(state_store, 2)
    assert len(rows) == 2 and len(rows[1].command) == 500 and rows[1].command.endswith("…")
    assert not fake_slack.calls_to("views.publish") and not fake_slack.calls_to("response")


def test_a_refusal_is_acked_while_the_audit_sink_is_blocked(
    bolt_app: Any, fake_slack: Any, people: People, state_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit write is not on the ack path: with the sink blocked, the refusal is acked at once; the row is
    written once the sink is released."""
    with _audit_sink_blocked(state_store, monkeypatch) as entered:
        started = time.perf_counter()
        for n in range(3):
            resp = dispatch(bolt_app, _foreign_command(fake_slack, people.customer, f"balance {n}",
                                                       team_id="T0THEM"))
            assert resp.status == 200 and resp.body == FOREIGN_WORKSPACE
        assert time.perf_counter() - started < 2.0
        assert entered.wait(5)  # the writer is stuck in the sink, the acks went out anyway
        assert state_store.audit.rows(AuditQuery()) == []
    rows = _rows(state_store, 3)
    assert [r.command for r in rows] == [f"[refused: foreign team 'T0THEM'] balance {n}" for n in range(3)]


# --- App Home opens ---------------------------------------------------------------------------------------------


def test_home_opens_leave_one_row_each_under_the_deliverys_id(
    bolt_app: Any, fake_slack: Any, people: People, state_store: Any
) -> None:
    cases = [  # who opens, the row's outcome, roles and whose data the view read
        (people.customer, "answered", ("customer",), people.customer_id),  # their balance
        (people.advisor, "answered", ("advisor",), None),  # the watchlist: aggregates, no one customer
        ("UGHOST", "refused", (), None),
    ]
    for n, (user, outcome, roles, read) in enumerate(cases, 1):
        body, headers = _home_open(user, f"EvHome{n}")
        with request_context(f"reqhome{n:05d}"):  # the HTTP guard's id: the listener must keep it
            assert dispatch(bolt_app, body, headers).status == 200
        rows = _rows(state_store, n)
        assert len(rows) == n, [r.request_id for r in rows]
        row = rows[-1]
        assert (row.request_id, row.user_id, row.team_id, row.command) == (f"reqhome{n:05d}", user, "T0001", "home")
        assert (row.outcome, row.roles, row.customer_read) == (outcome, roles, read), user
        assert row.latency_ms is not None and row.latency_ms >= 0
    assert len(fake_slack.wait_calls("views.publish", 3)) == 3
    # a redelivery of an open is dropped by the dedupe middleware: no second row
    body, headers = _home_open(people.customer, "EvHome1")
    assert dispatch(bolt_app, body, {**headers, "x-slack-retry-num": "1"}).status == 200
    assert len(_rows(state_store, 4, timeout=0.5)) == 3


def test_a_home_open_is_acked_while_the_audit_sink_is_blocked(
    bolt_app: Any, fake_slack: Any, people: People, state_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _audit_sink_blocked(state_store, monkeypatch) as entered:
        body, headers = _home_open(people.customer, "EvHomeBlocked")
        started = time.perf_counter()
        assert dispatch(bolt_app, body, headers).status == 200
        assert time.perf_counter() - started < 2.0
        assert entered.wait(10)  # the row's write waits on the sink, after the ack and the publish
        fake_slack.wait_calls("views.publish")
    [row] = _rows(state_store, 1)
    assert (row.command, row.outcome, row.customer_read) == ("home", "answered", people.customer_id)


# --- plain-English questions ------------------------------------------------------------------------------------


def test_a_mention_and_a_dm_leave_one_row_each_under_the_deliverys_id(
    bolt_app: Any, fake_slack: Any, people: People, state_store: Any
) -> None:
    mention, headers = event_body({"type": "app_mention", "user": people.customer, "channel": "C0PUBLIC",
                                   "text": "<@U0BOT> balance", "ts": f"{time.time():.6f}"}, "EvAsk1")
    with request_context("reqmention01"):
        assert dispatch(bolt_app, mention, headers).status == 200
    fake_slack.wait_calls("chat.postEphemeral")
    noise, noise_headers = event_body({"type": "message", "channel_type": "im", "bot_id": "B0BOT",
                                       "user": people.advisor, "channel": "D0ADV", "text": "watchlist"}, "EvAsk2")
    assert dispatch(bolt_app, noise, noise_headers).status == 200  # the bot's own message: not a request
    dm, dm_headers = event_body({"type": "message", "channel_type": "im", "user": people.advisor, "channel": "D0ADV",
                                 "text": f"balance {people.red_customer_id}", "ts": f"{time.time():.6f}"}, "EvAsk3")
    with request_context("reqdm0000001"):
        assert dispatch(bolt_app, dm, dm_headers).status == 200
    fake_slack.wait_calls("chat.postMessage")
    rows = _rows(state_store, 2)
    assert [(r.request_id, r.user_id, r.command, r.outcome, r.customer_read) for r in rows] == [
        ("reqmention01", people.customer, "balance", "answered", people.customer_id),
        ("reqdm0000001", people.advisor, f"balance {people.red_customer_id}", "answered", people.red_customer_id),
    ]


# --- refused as busy ----------------------------------------------------------------------------------------------


class _FullRuntime:
    """An answer runtime at its bound: every submit is refused (nothing queued)."""

    def submit(self, *args: Any, **kwargs: Any) -> bool:
        return False


def test_busy_home_opens_and_questions_leave_an_error_row_off_the_ack_path(
    bot_settings: Any, fake_slack: Any, people: People, state_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from slack_sdk import WebClient

    from bot.app import build_app

    app = build_app(None, bot_settings, client=WebClient(token="x", base_url=fake_slack.api_url),
                    answers=_FullRuntime(), state=state_store)  # type: ignore[arg-type]
    with _audit_sink_blocked(state_store, monkeypatch) as entered:
        home, home_headers = _home_open(people.customer, "EvBusyHome")
        mention, mention_headers = event_body({"type": "app_mention", "user": people.advisor, "channel": "C0PUBLIC",
                                               "text": "<@U0BOT> watchlist", "ts": f"{time.time():.6f}"}, "EvBusyAsk")
        started = time.perf_counter()
        with request_context("reqbusyhome1"):
            assert dispatch(app, home, home_headers).status == 200
        with request_context("reqbusyask01"):
            assert dispatch(app, mention, mention_headers).status == 200
        assert time.perf_counter() - started < 2.0
        assert entered.wait(5)
    rows = _rows(state_store, 2)
    assert [(r.request_id, r.user_id, r.command, r.outcome, r.customer_read) for r in rows] == [
        ("reqbusyhome1", people.customer, "home", "error", None),
        ("reqbusyask01", people.advisor, "watchlist", "error", None),
    ]
    assert "reqbusyask01" in fake_slack.wait_calls("chat.postEphemeral")[0].params["text"]  # the busy reference


def test_the_background_writer_never_blocks_and_drops_when_full(caplog: pytest.LogCaptureFixture) -> None:
    from bot.audit_trail import BackgroundAudit, BackgroundWriter
    from bot.state import AuditRecord

    gate, written = threading.Event(), []

    class Sink:
        def record(self, rec: Any) -> bool:
            gate.wait(10)
            written.append(rec.request_id)
            return True

    audit = BackgroundAudit(Sink(), BackgroundWriter(max_pending=2))
    started = time.perf_counter()
    accepted = [audit.record(AuditRecord(f"r{n}", "U1", "x", "refused")) for n in range(6)]
    assert time.perf_counter() - started < 1.0
    # one is being written (stuck in the sink), two wait in the queue, the rest are dropped and logged
    assert accepted.count(True) in (2, 3) and accepted[:2] == [True, True] and accepted[-1] is False
    assert any("audit queue full" in r.getMessage() for r in caplog.records)
    gate.set()
    audit.join()
    assert written == [f"r{n}" for n, ok in enumerate(accepted) if ok]


def test_queued_audit_rows_are_written_before_the_process_exits(tmp_path: Path) -> None:
    """A refusal row still queued when the web process stops is written before it exits (atexit), not dropped
    with the daemon thread; past `drain_seconds` what is left is logged."""
    import subprocess
    import sys
    import textwrap

    out = tmp_path / "rows.txt"
    script = textwrap.dedent(f"""
        import logging, sys, time
        from bot.audit_trail import BackgroundWriter
        logging.basicConfig(stream=sys.stderr)
        def slow(n):
            def write():
                time.sleep(0.2)
                with open({str(out)!r}, "a") as f:
                    f.write(f"r{{n}}\\n")
            return write
        writer = BackgroundWriter(name="w", drain_seconds=float(sys.argv[1]))
        for n in range(5):
            writer.submit(f"r{{n}}", slow(n))
        # the process ends here, with the writes still queued
    """)
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", script, "10"], cwd=root, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert out.read_text().split() == [f"r{n}" for n in range(5)]
    out.unlink()
    cut = subprocess.run([sys.executable, "-c", script, "0.3"], cwd=root, capture_output=True, text=True, timeout=60,
                         check=False)
    assert cut.returncode == 0, cut.stderr
    assert len(out.read_text().split()) < 5
    assert "audit writes still queued at exit" in cut.stderr and "their rows are lost" in cut.stderr
