"""The ack of a slash command never waits for the delivery claim (bot/dedupe.py): the claim is taken by the answer
runtime before the work starts, and exactly-once still holds."""

from __future__ import annotations

# ruff: noqa: E402 - assertion rewriting must be registered before the support module is imported
import pytest

pytest.register_assert_rewrite("tests.bot_support")

import threading
import time
from typing import Any

from bot.state import AuditQuery
from tests.bot_support import People, command_body, dispatch

pytest_plugins = ["tests.bot_support"]


class GatedClaims:
    """The real claims table, whose `claim` waits until the test opens the gate (a slow or busy database)."""

    def __init__(self, real: Any) -> None:
        self.real, self.gate, self.attempts = real, threading.Event(), 0

    def claim(self, key: str) -> bool:
        self.attempts += 1
        assert self.gate.wait(30), "the gate never opened"
        return self.real.claim(key)  # type: ignore[no-any-return]

    def complete(self, key: str) -> bool:
        return self.real.complete(key)  # type: ignore[no-any-return]

    def release(self, key: str) -> bool:
        return self.real.release(key)  # type: ignore[no-any-return]


def test_acks_while_the_claim_waits_and_a_duplicate_is_answered_once(
    semantic_layer_impl: Any, bot_settings: Any, fake_slack: Any, people: People, state_store: Any
) -> None:
    from slack_sdk import WebClient

    from bot.app import build_app

    gated = GatedClaims(state_store.deliveries)
    state_store.deliveries = gated
    app = build_app(semantic_layer_impl, bot_settings, WebClient(token="xoxb-test", base_url=fake_slack.api_url),
                    state=state_store)
    fake_slack.reset()
    body = command_body(fake_slack, people.customer, "balance", trigger_id="trig.gated")
    assert dispatch(app, body).status == 200  # acked while the claim cannot finish
    assert dispatch(app, body).status == 200  # Slack's retry (or the same delivery on another process)
    assert not gated.gate.is_set()
    deadline = time.monotonic() + 10
    while gated.attempts < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gated.attempts == 2 and fake_slack.calls_to("response") == []  # nothing answered before the claim
    gated.gate.set()
    fake_slack.wait_calls("response")
    time.sleep(0.5)  # room for a second answer, if one were coming
    assert len(fake_slack.calls_to("response")) == 1
    assert state_store.deliveries.real.is_done("trigger_id:trig.gated")
    deadline = time.monotonic() + 10
    while not state_store.audit.rows(AuditQuery()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [r.outcome for r in state_store.audit.rows(AuditQuery())] == ["answered"]  # one row: the duplicate none


def test_slash_commands_are_acked_on_the_event_loop_once_the_installation_is_known(
    bolt_app: Any, fake_slack: Any, people: People
) -> None:
    """The first command (auth.test not cached yet) and the first after tokens_revoked go through an ack thread; the
    others are dispatched on the event loop (bot/server.py). Events always use the threads."""
    import json

    from bot.server import asgi_app
    from tests.bot_support import post as http_post
    from tests.bot_support import serve_asgi, sign

    handler = asgi_app(bolt_app)
    threads: list[tuple[str, str]] = []
    dispatch_ = bolt_app.dispatch

    def recording(req: Any) -> Any:
        kind = "command" if "command" in req.body else req.body.get("event", {}).get("type", "?")
        threads.append((kind, threading.current_thread().name))
        return dispatch_(req)

    bolt_app.dispatch = recording
    revoked = json.dumps({"type": "event_callback", "team_id": "T0001", "api_app_id": "A0001", "event_id": "Ev9",
                          "event_time": int(time.time()), "event": {"type": "tokens_revoked",
                                                                    "tokens": {"bot": ["UBOT"]}}})
    with serve_asgi(handler) as url:
        for _ in range(3):
            assert http_post(url, command_body(fake_slack, people.customer, "help"))[0] == 200
        assert http_post(url, revoked, {**sign(revoked), "content-type": "application/json"})[0] == 200
        fake_slack.error_for("auth.test", "invalid_auth")  # Slack unreachable or the token gone: auth.test fails
        for _ in range(2):  # refused, and the installation still unknown: the next one too goes through a thread
            status, text = http_post(url, command_body(fake_slack, people.customer, "help"))
            assert status == 200 and "cannot check where this request comes from" in text, text
        fake_slack.reset()
        for _ in range(2):
            assert http_post(url, command_body(fake_slack, people.customer, "help"))[0] == 200
    on_ack_thread = [(kind, name.startswith("ack")) for kind, name in threads]
    assert on_ack_thread == [("command", True), ("command", False), ("command", False), ("tokens_revoked", True),
                             ("command", True), ("command", True), ("command", True), ("command", False)], threads
