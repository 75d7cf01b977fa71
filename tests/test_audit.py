"""The audit log: one row per /finefin request through the real Bolt app — answered, refused, failed — with the
roles, the customer whose data was read, the bounded command text and the latency; `finefin audit` prints it;
retention prunes it; a failing audit write never breaks the answer. Real PostgreSQL (the state_store fixture)."""

# ruff: noqa: E402 - assertion rewriting must be registered before the support module is imported
from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.bot_support")

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import text
from typer.testing import CliRunner

from bot.state import AuditQuery, AuditRecord, AuditRow
from tests.bot_support import People, ask_slack, command_body, dispatch, require_double

pytest_plugins = ["tests.bot_support"]


def _rows(store: Any, n: int, timeout: float = 10.0) -> list[AuditRow]:
    """The audit rows once there are `n` (the row is written just after the answer is delivered)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = store.audit.rows(AuditQuery(limit=1000))
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.02)


def test_answered_refused_and_failed_requests_each_leave_one_row(
    bolt_app: Any, fake_slack: Any, people: People, semantic_layer_impl: Any, state_store: Any
) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("warehouse unavailable")

    require_double(semantic_layer_impl).customers_per_tier = boom
    asks = [
        (people.advisor, f"balance {people.customer_id}"),
        (people.customer, f"balance {people.other_customer_id}"),  # access denied
        (people.customer, "statement"),  # own data
        (people.director, "tiers"),  # the semantic layer fails
    ]
    posts = []
    for n, (user, command) in enumerate(asks, 1):
        posts.append(ask_slack(bolt_app, fake_slack, user, command)[0])
        assert len(_rows(state_store, n)) == n  # one row each, written just after the answer
    rows = _rows(state_store, 4)
    assert len(rows) == 4
    answered, refused, own, error = rows
    assert (answered.user_id, answered.team_id, answered.roles, answered.command) == (
        people.advisor, "T0001", ("advisor",), f"balance {people.customer_id}")
    assert (answered.outcome, answered.customer_read, answered.customer_id) == ("answered", people.customer_id, None)
    assert (refused.outcome, refused.roles, refused.customer_id, refused.customer_read) == (
        "refused", ("customer",), people.customer_id, None)  # refused before any data was read
    assert (own.outcome, own.customer_read, own.customer_id) == ("answered", people.customer_id, people.customer_id)
    assert (error.outcome, error.roles, error.customer_read) == ("error", ("director",), None)
    assert error.request_id in posts[3]["text"]  # the reference the user sees finds the row
    assert len({r.request_id for r in rows}) == 4
    assert all(r.latency_ms is not None and 0 <= r.latency_ms < 10_000 for r in rows)
    assert all(r.at.tzinfo is not None for r in rows)


def test_unknown_user_and_unknown_customer_are_refusals(
    bolt_app: Any, fake_slack: Any, people: People, state_store: Any
) -> None:
    ask_slack(bolt_app, fake_slack, "UGHOST", "balance")
    _rows(state_store, 1)
    ask_slack(bolt_app, fake_slack, people.advisor, "balance 99999")
    ghost, missing = _rows(state_store, 2)
    assert (ghost.user_id, ghost.outcome, ghost.roles, ghost.customer_read) == ("UGHOST", "refused", (), None)
    assert (missing.outcome, missing.customer_read) == ("refused", 99999)  # tried to read customer 99999


def test_command_text_is_bounded(bolt_app: Any, fake_slack: Any, people: People, state_store: Any) -> None:
    long = "define " + "x" * 3000
    ask_slack(bolt_app, fake_slack, people.director, long)
    [row] = _rows(state_store, 1)
    assert len(row.command) == 500 and row.command.startswith("define xxx") and row.command.endswith("…")


def test_a_retry_leaves_no_second_row(bolt_app: Any, fake_slack: Any, people: People, state_store: Any) -> None:
    body = command_body(fake_slack, people.customer, "balance", trigger_id="trig.audit-retry")
    assert dispatch(bolt_app, body).status == 200
    fake_slack.wait_calls("response")
    assert len(_rows(state_store, 1)) == 1
    assert dispatch(bolt_app, body).status == 200
    time.sleep(0.5)
    assert len(state_store.audit.rows(AuditQuery())) == 1 and len(fake_slack.calls_to("response")) == 1


def test_a_failed_first_delivery_is_answered_on_the_retry(
    bolt_app: Any, fake_slack: Any, people: People, state_store: Any
) -> None:
    """The answer could not be delivered (response_url unreachable): the claim is released, not marked done, so
    the next delivery of the same trigger is answered."""
    body = command_body(fake_slack, people.customer, "balance", trigger_id="trig.redo")
    dead = body.replace(quote(fake_slack.url, safe=""), quote("http://127.0.0.1:9", safe=""))  # nothing listens
    assert dead != body
    assert dispatch(bolt_app, dead).status == 200
    [first] = _rows(state_store, 1)
    assert first.outcome == "error"  # not delivered
    assert not state_store.deliveries.is_done("trigger_id:trig.redo")
    retry = command_body(fake_slack, people.customer, "balance", trigger_id="trig.redo")
    assert dispatch(bolt_app, retry).status == 200
    fake_slack.wait_calls("response")
    rows = _rows(state_store, 2)
    assert [r.outcome for r in rows] == ["error", "answered"]
    assert state_store.deliveries.is_done("trigger_id:trig.redo")


def test_a_failing_audit_write_never_breaks_the_answer(
    bolt_app: Any, fake_slack: Any, people: People, state_store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with state_store.engine.begin() as conn:  # the audit table refuses every row (as if the disk were full)
        conn.execute(text("ALTER TABLE audit_log ADD CONSTRAINT no_rows CHECK (false) NOT VALID"))
    try:
        [post] = ask_slack(bolt_app, fake_slack, people.customer, "balance")
        assert "balance" in post["text"].lower()
        time.sleep(0.3)
        assert state_store.audit.rows(AuditQuery()) == []
        assert any("audit row could not be written" in r.getMessage() for r in caplog.records)
    finally:
        with state_store.engine.begin() as conn:
            conn.execute(text("ALTER TABLE audit_log DROP CONSTRAINT no_rows"))


# --- finefin audit, retention -----------------------------------------------------------------------------------

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def _seed(store: Any) -> None:
    for i, (user, read, outcome) in enumerate([
        ("UADV1", 42, "answered"), ("UADV1", 7, "answered"), ("UCUST1", None, "refused"), ("UADV1", 42, "error"),
    ]):
        store.audit.record(AuditRecord(f"req{i}", user, f"balance {read}", outcome, team_id="T0001",  # type: ignore[arg-type]
                                       roles=("advisor",) if user == "UADV1" else ("customer",),
                                       customer_read=read, latency_ms=100 + i, at=T0 + timedelta(hours=i)))
    store.audit.record(AuditRecord("old", "UADV1", "balance 42", "answered", customer_read=42,
                                   at=T0 - timedelta(days=40)))


def _cli(state_store: Any, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    from finefin.cli import app

    monkeypatch.setenv("FINEFIN_STATE_URL", state_store.engine.url.render_as_string(hide_password=False))
    return CliRunner().invoke(app, ["audit", *args])


def test_finefin_audit_prints_the_rows(state_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(state_store)
    result = _cli(state_store, monkeypatch, "--since", "2026-11-01", "--user", "UADV1")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line]
    assert lines[0].split()[:3] == ["at", "(UTC)", "request"]
    assert [line.split()[2] for line in lines[1:]] == ["req0", "req1", "req3"]  # oldest first; not UCUST1's, not old
    assert lines[1].split() == ["2026-11-02", "09:30:00", "req0", "T0001", "UADV1", "advisor", "-", "42",
                                "answered", "100", '"balance', '42"']
    customer = _cli(state_store, monkeypatch, "--since", "2026-11-01", "--user", "UADV1", "--customer", "42",
                    "--limit", "1", "--json")
    assert customer.exit_code == 0, customer.output
    [row] = [json.loads(line) for line in customer.stdout.splitlines()]
    assert (row["request_id"], row["customer_read"], row["at"]) == ("req0", 42, "2026-11-02T09:30:00+00:00")
    newest = _cli(state_store, monkeypatch, "--limit", "2")
    assert [line.split()[2] for line in newest.stdout.splitlines()[1:]] == ["req2", "req3"]
    bad = _cli(state_store, monkeypatch, "--since", "November")
    assert bad.exit_code == 1 and "--since must be YYYY-MM-DD" in bad.output


def test_retention_prunes_old_rows(state_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(state_store)  # the rows are dated from T0; the database's clock decides what is old: move them back
    with state_store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET at = now() - interval '1 day' WHERE request_id <> 'old'"))
        conn.execute(text("UPDATE audit_log SET at = now() - interval '31 days' WHERE request_id = 'old'"))
    monkeypatch.setenv("FINEFIN_AUDIT_RETENTION_DAYS", "30")
    result = _cli(state_store, monkeypatch, "prune")
    assert result.exit_code == 0, result.output
    assert "pruned: 1 audit rows" in result.output
    assert [r.request_id for r in state_store.audit.rows(AuditQuery())] == ["req0", "req1", "req2", "req3"]


def test_a_stuck_state_database_never_costs_the_ack(
    semantic_layer_impl: Any, bot_settings: Any, fake_slack: Any, people: People, state_url: str, state_store: Any
) -> None:
    """The delivery's key row is locked by a stuck transaction: the claim gives up after the request path's bound
    (FINEFIN_STATE_TIMEOUT_SECONDS) and the request is acked and answered without de-duplication."""
    from slack_sdk import WebClient

    from bot.app import build_app
    from bot.state import open_state
    from bot.state.settings import StateSettings

    bounded = open_state(state_url, StateSettings(timeout_seconds=0.5), upgrade=False, on_request_path=True)
    app = build_app(semantic_layer_impl, bot_settings, client=WebClient(token="x", base_url=fake_slack.api_url),
                    state=bounded)
    blocker = state_store.engine.connect()
    try:
        blocker.execute(text("INSERT INTO delivery_keys (key, state, owner) VALUES ('trigger_id:trig.stuck', "
                             "'pending', 'stuck')"))  # not committed: the row stays locked
        body = command_body(fake_slack, people.customer, "balance", trigger_id="trig.stuck")
        started = time.perf_counter()
        assert dispatch(app, body).status == 200
        assert time.perf_counter() - started < 2.0
        fake_slack.wait_calls("response")
        assert "balance" in fake_slack.calls_to("response")[0].params["text"].lower()
    finally:
        blocker.rollback()
        blocker.close()
        bounded.close()


# --- the facts on the answer, without Slack -------------------------------------------------------------------


def test_the_assistant_sets_the_audit_facts(semantic_layer_impl: Any, people: People, tmp_path: Any) -> None:
    from tests.bot_support import make_assistant

    assistant = make_assistant(semantic_layer_impl, people, tmp_path)
    cases = [
        (people.customer, "upcoming", "answered", ("customer",), people.customer_id, people.customer_id),
        (people.customer, "watchlist", "refused", ("customer",), people.customer_id, None),
        (people.advisor, f"balance {people.red_customer_id}", "answered", ("advisor",), None, people.red_customer_id),
        (people.advisor, "balance #abc", "refused", ("advisor",), None, None),  # not a customer id: nothing read
        (people.advisor, "watchlist", "answered", ("advisor",), None, None),  # aggregates: no one customer
        (people.director, "nonsense", "refused", ("director",), None, None),
        ("UNOBODY", "balance", "refused", (), None, None),
    ]
    for user, command, outcome, roles, customer_id, read in cases:
        answer = assistant.answer(user, command)
        assert (answer.outcome, answer.roles, answer.customer_id, answer.customer_read) == (
            outcome, roles, customer_id, read), (user, command, answer.text)


def test_outcome_and_fields_of_answers_made_elsewhere() -> None:
    from bot.answer import Answer
    from bot.audit_trail import _field, finish_request, outcome_of

    busy = Answer(text="busy", blocks=[], ok=False)
    assert outcome_of(busy, delivered=True) == "error" and outcome_of(Answer("x", []), True) == "answered"
    assert outcome_of(Answer("x", [], outcome="refused", ok=False), True) == "refused"
    assert outcome_of(Answer("x", [], outcome="answered"), delivered=False) == "error"
    action = {"type": "block_actions", "team": {"id": "T9"}, "user": {"id": "U9"}}
    assert (_field(action, "team"), _field(action, "user")) == ("T9", "U9")
    finish_request({}, {"user_id": "U1"}, busy, delivered=True)  # no claim in the context: logged, no error
