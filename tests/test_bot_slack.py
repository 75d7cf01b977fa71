"""The bot through Bolt: signed requests, ack first, ephemeral answers, files to the DM, errors, retries.

Expected values are read from the `semantic_layer_impl` fixture, so the same tests run on a real semantic layer.
"""

# ruff: noqa: E402 - assertion rewriting must be registered before the support module is imported
from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.bot_support")

import csv
import io
import json
import logging
import re
import threading
import time
from decimal import Decimal
from typing import Any

from pypdf import PdfReader

from bot.blocks import money
from bot.labels import aggregate_type_label
from bot.money import money_column
from semantic_layer.inputs import CustomerId
from tests.bot_support import (
    People,
    ask_slack,
    blocks_json,
    command_body,
    dispatch,
    require_double,
    sign,
)
from tests.bot_support import (
    post as http_post,
)

pytest_plugins = ["tests.bot_support"]


def _answer(app: Any, fake: Any, user: str, text: str, n: int = 1) -> tuple[list[dict[str, Any]], str]:
    posts = ask_slack(app, fake, user, text, expect_responses=n)
    return posts, blocks_json(posts[0]["blocks"])


def test_ack_is_immediate_and_answer_is_ephemeral(
    bolt_app: Any, fake_slack: Any, people: People, semantic_layer_impl: Any
) -> None:
    body = command_body(fake_slack, people.customer, "balance")
    start = time.perf_counter()
    resp = dispatch(bolt_app, body)
    ack_seconds = time.perf_counter() - start
    assert resp.status == 200 and ack_seconds < 1.0
    fake_slack.wait_calls("response")
    post = fake_slack.calls_to("response")[0].params
    assert post["response_type"] == "ephemeral"
    assert not fake_slack.calls_to("chat.postMessage"), "customer data must never be posted in a channel"
    expected = semantic_layer_impl.balance(CustomerId(people.customer_id))
    text = blocks_json(post["blocks"])
    assert f"*Current balance: {money(expected.total)}*" in text
    for account in expected.accounts:
        assert f"#{account.account_id}" in text and money(account.balance) in text
    assert "Data as of" in text


def test_advisor_balance_of_a_customer(
    bolt_app: Any, fake_slack: Any, people: People, semantic_layer_impl: Any
) -> None:
    _, text = _answer(bolt_app, fake_slack, people.advisor, f"balance cust-{people.red_customer_id}")
    expected = semantic_layer_impl.balance(CustomerId(people.red_customer_id))
    assert f"*Current balance: {money(expected.total)}*" in text
    assert f"#{people.red_customer_id}" in text


def test_upcoming_projects_the_balance(
    bolt_app: Any, fake_slack: Any, people: People, semantic_layer_impl: Any
) -> None:
    _, text = _answer(bolt_app, fake_slack, people.customer, "upcoming")
    up = semantic_layer_impl.upcoming(CustomerId(people.customer_id), 30)
    for item in up.items:
        assert money(item.amount) in text and money(item.projected_balance) in text
    final = up.items[-1].projected_balance if up.items else up.starting_balance
    assert f"Projected balance after 30 days: {money(final)}" in text


def test_statement_pdf_and_csv_reconcile_and_go_to_the_dm(
    bolt_app: Any, fake_slack: Any, people: People, semantic_layer_impl: Any
) -> None:
    _, text = _answer(bolt_app, fake_slack, people.customer, "statement")
    st = semantic_layer_impl.statement(CustomerId(people.customer_id), None)
    assert st.opening_balance + sum((ln.amount for ln in st.lines), Decimal("0")) == st.closing_balance
    assert f"Opening balance: *{money(st.opening_balance)}*" in text
    fake_slack.wait_calls("files.completeUploadExternal")
    complete = fake_slack.calls_to("files.completeUploadExternal")[0]
    assert complete.params["channel_id"] == f"D{people.customer}"  # the user's DM (conversations.open)
    assert fake_slack.calls_to("conversations.open")[0].params["users"] == people.customer
    files = fake_slack.uploaded()
    pdf_name, csv_name = f"statement-{st.customer_id}-{st.month}.pdf", f"statement-{st.customer_id}-{st.month}.csv"
    assert set(files) == {pdf_name, csv_name}
    pdf_text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(files[pdf_name])).pages)
    assert re.search(rf"Opening balance on .* {re.escape(money(st.opening_balance))}", pdf_text)
    assert re.search(rf"Closing balance on .* {re.escape(money(st.closing_balance))}", pdf_text)
    for line in st.lines:
        assert money(abs(line.amount)) in pdf_text and money(line.running_balance) in pdf_text
    for account in st.accounts:
        assert " ".join(account.iban[i:i + 4] for i in range(0, len(account.iban), 4)) in pdf_text
    rows = list(csv.DictReader(io.StringIO(files[csv_name].decode())))
    assert rows[0]["type"] == "Opening balance" and rows[-1]["type"] == "Closing balance"
    amount, balance = money_column("amount"), money_column("running_balance")
    amounts = sum((Decimal(r[amount]) for r in rows[1:-1]), Decimal("0"))
    assert Decimal(rows[0][balance]) + amounts == Decimal(rows[-1][balance])
    assert Decimal(rows[-1][balance]) == st.closing_balance
    assert len(rows) == len(st.lines) + 2


def test_statement_for_a_month_before_the_first_account_says_so(
    bolt_app: Any, fake_slack: Any, people: People, semantic_layer_impl: Any
) -> None:
    """No blank statement of zeros: the customer is told they had no account then, and no file is sent."""
    from semantic_layer.errors import NoAccountInMonthError
    from semantic_layer.inputs import Month

    month = Month(2023, 6)  # complete, and before every customer of both the double and the generated data
    with pytest.raises(NoAccountInMonthError) as info:
        semantic_layer_impl.statement(CustomerId(people.customer_id), month)
    posts, text = _answer(bolt_app, fake_slack, people.customer, f"statement {month}")
    assert str(info.value).startswith(f"You had no account with FineFinance in {month} (your first account opened on ")
    assert str(info.value) in text and posts[0]["response_type"] == "ephemeral"
    assert not fake_slack.calls_to("files.getUploadURLExternal")


def test_statement_for_a_month_not_over_is_refused_politely(
    bolt_app: Any, fake_slack: Any, people: People, semantic_layer_impl: Any
) -> None:
    from semantic_layer.inputs import Month

    this_month = Month.of(semantic_layer_impl.freshness().checked_at.date())
    posts, text = _answer(bolt_app, fake_slack, people.customer, f"statement {this_month}")
    assert "not over yet" in text and posts[0]["response_type"] == "ephemeral"
    assert not fake_slack.calls_to("files.getUploadURLExternal")


def test_director_commands(bolt_app: Any, fake_slack: Any, people: People, semantic_layer_impl: Any) -> None:
    _, text = _answer(bolt_app, fake_slack, people.director, "growth")
    growth = semantic_layer_impl.monthly_growth(None, 6)
    assert f"Revenue: *{money(growth.current.revenue)}*" in text
    assert f"New customers: *{growth.current.new_customers:,d}*" in text
    _, text = _answer(bolt_app, fake_slack, people.director, "tiers")
    for tier in semantic_layer_impl.customers_per_tier(None).tiers:
        assert f"{tier.tier}: *{tier.customers:,d}* ({tier.change:+,d}" in text
    name = semantic_layer_impl.metric_names()[0]
    _, text = _answer(bolt_app, fake_slack, people.director, f"define {name.upper()}")
    assert semantic_layer_impl.define(name).label in text


def test_transactions_chart_is_a_png_in_the_dm(
    bolt_app: Any, fake_slack: Any, people: People, semantic_layer_impl: Any
) -> None:
    _, text = _answer(bolt_app, fake_slack, people.director, "transactions")
    tpm = semantic_layer_impl.transactions_per_month(12)
    for row in tpm.rows:  # one row per month and label (a P2P transfer once): each shows as it is
        label = aggregate_type_label(row.transaction_type)
        assert f"{label}: {row.transaction_count:,d} ({money(row.transaction_volume)})" in text
    last = [r for r in tpm.rows if r.month == tpm.last_month]
    assert f"`{tpm.last_month}` *{sum(r.transaction_count for r in last):,d}* — " in text
    fake_slack.wait_calls("files.completeUploadExternal")
    files = fake_slack.uploaded()
    assert files["transactions.png"].startswith(b"\x89PNG\r\n\x1a\n")
    assert fake_slack.calls_to("files.completeUploadExternal")[0].params["channel_id"] == f"D{people.director}"


def test_advisor_watchlist_and_red(bolt_app: Any, fake_slack: Any, people: People, semantic_layer_impl: Any) -> None:
    _, text = _answer(bolt_app, fake_slack, people.advisor, "watchlist")
    wl = semantic_layer_impl.watchlist(None)
    for entry in wl.entries:
        assert f"(#{entry.customer_id})" in text and money(entry.value) in text
    _, text = _answer(bolt_app, fake_slack, people.advisor, "red")
    for streak in wl.red_streaks:
        assert f"(#{streak.customer_id}) — {streak.months} months in the red since {streak.since}" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("frobnicate", "I don't know “frobnicate”. Try `/finefin help`."),
        ("statement 2026-13", "2026-13 is not a valid month: months run from 01 to 12."),
        ("statement March", "is not a month; write it YYYY-MM"),
        ("statement 2026-01 extra", "Usage: `/finefin statement [YYYY-MM]`."),
        ("growth 2999-01", "has not started yet"),
        ("define", "Usage: `/finefin define &lt;metric&gt;`."),  # escaped: Slack would read <metric> as a link
    ],
)
def test_bad_input_gets_a_short_ephemeral_message(
    bolt_app: Any, fake_slack: Any, people: People, text: str, expected: str
) -> None:
    user = people.director if text.split()[0] in ("growth", "define") else people.customer
    posts, blocks = _answer(bolt_app, fake_slack, user, text)
    assert expected in posts[0]["text"] and posts[0]["response_type"] == "ephemeral"
    assert "Traceback" not in blocks


def test_unknown_customer_for_advisor(bolt_app: Any, fake_slack: Any, people: People) -> None:
    posts, blocks = _answer(bolt_app, fake_slack, people.advisor, "balance 987654")
    assert "987654" in posts[0]["text"] and "something went wrong" not in posts[0]["text"]
    assert "Data as of" in blocks  # an unknown id may be a customer newer than the last load


def test_user_unknown_to_slack_is_refused_politely(bolt_app: Any, fake_slack: Any) -> None:
    posts, _ = _answer(bolt_app, fake_slack, "UGHOST", "balance")
    assert "don't recognise you" in posts[0]["text"]


def test_unexpected_error_gives_apology_with_request_id(
    bolt_app: Any, fake_slack: Any, people: People, semantic_layer_impl: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("duckdb exploded: secret detail")

    require_double(semantic_layer_impl).customers_per_tier = boom
    with caplog.at_level(logging.ERROR, logger="bot"):
        posts, blocks = _answer(bolt_app, fake_slack, people.director, "tiers")
    text = posts[0]["text"]
    assert text.startswith("Sorry, something went wrong on our side.")
    assert "secret detail" not in blocks and "Traceback" not in blocks
    request_id = text.rsplit("reference ", 1)[1].rstrip(").")
    assert any(request_id in r.getMessage() and r.exc_info for r in caplog.records)


def test_bad_signature_or_old_timestamp_is_401_without_api_calls(
    bolt_app: Any, fake_slack: Any, people: People
) -> None:
    fake_slack.reset()
    body = command_body(fake_slack, people.customer, "balance")
    assert dispatch(bolt_app, body, sign(body, secret="wrong")).status == 401
    assert dispatch(bolt_app, body, sign(body, timestamp=int(time.time()) - 600)).status == 401
    assert dispatch(bolt_app, body, {"content-type": "application/x-www-form-urlencoded"}).status == 401
    time.sleep(0.3)
    assert fake_slack.calls == []


def test_slack_retry_is_answered_once(bolt_app: Any, fake_slack: Any, people: People, semantic_layer_impl: Any) -> None:
    require_double(semantic_layer_impl)
    body = command_body(fake_slack, people.customer, "balance", trigger_id="trig.same")
    assert dispatch(bolt_app, body).status == 200
    for n in (1, 2):
        retry = {**sign(body), "x-slack-retry-num": str(n), "x-slack-retry-reason": "http_timeout"}
        assert dispatch(bolt_app, body, retry).status == 200
    fake_slack.wait_calls("response")
    time.sleep(0.4)
    assert len(fake_slack.calls_to("response")) == 1
    assert [c[0] for c in semantic_layer_impl.calls].count("balance") == 1


def test_failed_file_upload_is_reported_to_the_user(bolt_app: Any, fake_slack: Any, people: People) -> None:
    fake_slack.error_for("files.completeUploadExternal", "not_allowed")
    posts = ask_slack(bolt_app, fake_slack, people.customer, "statement", expect_responses=2)
    assert "could not send the files" in posts[1]["text"]


def test_through_the_real_http_server(
    http_server: str, fake_slack: Any, people: People, semantic_layer_impl: Any
) -> None:
    fake_slack.reset()
    bad = command_body(fake_slack, people.customer, "balance")
    assert http_post(http_server, bad, sign(bad, secret="nope"))[0] == 401
    time.sleep(0.2)
    assert fake_slack.calls == []
    body = command_body(fake_slack, people.customer, "balance")
    start = time.perf_counter()
    assert http_post(http_server, body)[0] == 200
    assert time.perf_counter() - start < 3.0
    fake_slack.wait_calls("response")
    post = fake_slack.calls_to("response")[0].params
    total = semantic_layer_impl.balance(CustomerId(people.customer_id)).total
    assert post["response_type"] == "ephemeral" and f"*Current balance: {money(total)}*" in json.dumps(post["blocks"])


def test_http_mode_factory_builds_from_settings(
    fake_slack: Any, semantic_layer_impl: Any, monkeypatch: pytest.MonkeyPatch, state_url: str
) -> None:
    """`uvicorn --factory bot.server:create_asgi_app`: env settings, get_semantic_layer(), warm-up, auth.test."""
    import semantic_layer
    from bot.runtime_settings import get_runtime_settings
    from bot.server import ThreadedSlackRequestHandler, create_asgi_app
    from bot.settings import get_bot_settings

    monkeypatch.setattr(semantic_layer, "get_semantic_layer", lambda: semantic_layer_impl, raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s3cret")
    monkeypatch.setenv("FINEFIN_SLACK_API_URL", fake_slack.api_url)
    monkeypatch.setenv("FINEFIN_STATE_URL", state_url)
    monkeypatch.setenv("FINEFIN_ANSWER_WORKERS", "0")  # in-process: the double lives in this process only
    get_bot_settings.cache_clear()
    get_runtime_settings.cache_clear()
    try:
        fake_slack.reset()
        calls_before = len(require_double(semantic_layer_impl).calls)
        handler = create_asgi_app()
        bolt = handler.app  # behind bot.http_guard (body limit, /healthz, /readyz)
        assert isinstance(bolt, ThreadedSlackRequestHandler) and bolt.path == "/slack/events"
        assert fake_slack.calls_to("auth.test")
        assert ("freshness", ()) in semantic_layer_impl.calls[calls_before:]  # warmed at start
        monkeypatch.delenv("SLACK_SIGNING_SECRET")
        get_bot_settings.cache_clear()
        from finefin.errors import ConfigurationError

        with pytest.raises(ConfigurationError, match="SLACK_SIGNING_SECRET"):
            create_asgi_app()
    finally:
        get_bot_settings.cache_clear()
        get_runtime_settings.cache_clear()


def test_semantic_layer_calls_are_serialized_across_listener_threads() -> None:
    from bot.app import SerializedSemanticLayer

    active, peak, lock = [0], [0], threading.Lock()

    class Slow:
        def freshness(self) -> str:
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            time.sleep(0.02)
            with lock:
                active[0] -= 1
            return "ok"

    wrapped = SerializedSemanticLayer(Slow())  # type: ignore[arg-type]
    threads = [threading.Thread(target=wrapped.freshness) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 1
    assert wrapped.freshness() == "ok"


def test_statement_that_does_not_reconcile_is_not_sent(
    bolt_app: Any, fake_slack: Any, people: People, semantic_layer_impl: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import dataclasses

    double = require_double(semantic_layer_impl)
    original = double.statement

    def off_by_a_cent(customer_id: Any, month: Any = None) -> Any:
        st = original(customer_id, month)
        return dataclasses.replace(st, closing_balance=st.closing_balance + Decimal("0.01"))

    double.statement = off_by_a_cent  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="bot"):
        posts, _ = _answer(bolt_app, fake_slack, people.customer, "statement")
    assert posts[0]["text"].startswith("Sorry, something went wrong on our side.")
    assert not fake_slack.calls_to("files.getUploadURLExternal")
    assert any(
        "closing balance" in r.getMessage() or "closing balance" in str(r.exc_info[1])
        for r in caplog.records
        if r.exc_info
    )


def test_stale_data_warning_in_slack_answers(
    bolt_app: Any, fake_slack: Any, people: People, semantic_layer_impl: Any
) -> None:
    from datetime import timedelta

    double = require_double(semantic_layer_impl)
    double.last_load_at = double.freshness().checked_at - timedelta(hours=50)
    _, text = _answer(bolt_app, fake_slack, people.customer, "balance")
    assert "*Stale data*: the last load is 2.1 days old" in text


def test_long_upcoming_list_is_cut_and_attached(
    bolt_app: Any, fake_slack: Any, people: People, semantic_layer_impl: Any
) -> None:
    import dataclasses

    double = require_double(semantic_layer_impl)
    up = double.upcomings[people.customer_id]
    item = up.items[0]
    many = tuple(dataclasses.replace(item, transaction_id=900 + i) for i in range(40))
    double.upcomings[people.customer_id] = dataclasses.replace(up, items=many)
    _, text = _answer(bolt_app, fake_slack, people.customer, "upcoming")
    assert "Showing 15 of 40 transactions; the full list is attached as a CSV file." in text
    fake_slack.wait_calls("files.completeUploadExternal")
    name = f"upcoming-{people.customer_id}-{up.as_of}.csv"  # per customer: never another customer's file
    assert len(fake_slack.uploaded()[name].decode().strip().splitlines()) == 41


def test_socket_mode_requests_take_the_same_path(
    bolt_app: Any, fake_slack: Any, people: People, semantic_layer_impl: Any
) -> None:
    """Socket Mode delivers the same payload without HTTP signing; the handler object builds offline."""
    from urllib.parse import parse_qsl

    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_bolt.request import BoltRequest

    SocketModeHandler(bolt_app, "xapp-test")  # no connection until start()
    payload = dict(parse_qsl(command_body(fake_slack, people.customer, "balance")))
    resp = bolt_app.dispatch(BoltRequest(body=payload, mode="socket_mode"))
    assert resp.status == 200
    post = fake_slack.wait_calls("response")[0].params
    total = semantic_layer_impl.balance(CustomerId(people.customer_id)).total
    assert post["response_type"] == "ephemeral" and f"*Current balance: {money(total)}*" in json.dumps(post["blocks"])
    assert bolt_app.dispatch(BoltRequest(body=payload, mode="socket_mode")).status == 200  # redelivery: dropped
    time.sleep(0.3)
    assert len(fake_slack.calls_to("response")) == 1


def _event_body(user: str, event_id: str) -> str:
    return json.dumps(
        {
            "token": "legacy",
            "team_id": "T0001",
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": {
                "type": "app_home_opened",
                "user": user,
                "channel": f"D{user}",
                "tab": "home",
                "event_ts": f"{time.time():.6f}",
            },
        }
    )


def test_app_home_is_the_users_dashboard_published_once(bolt_app: Any, fake_slack: Any, people: People) -> None:
    body = _event_body(people.director, "Ev0001")
    headers = {**sign(body), "content-type": "application/json"}
    assert dispatch(bolt_app, body, headers).status == 200
    retry = {**headers, "x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"}
    assert dispatch(bolt_app, body, retry).status == 200
    view = fake_slack.wait_calls("views.publish")[0].params
    assert view["user_id"] == people.director
    home = view["view"] if isinstance(view["view"], dict) else json.loads(view["view"])
    text = json.dumps(home)
    assert home["type"] == "home" and "Revenue: *" in text and "Your alerts and subscriptions* (0)" in text
    assert "Watchlist" not in text and "Your balance" not in text  # the director's view (bot/home.py, test_home.py)
    time.sleep(0.3)
    assert len(fake_slack.calls_to("views.publish")) == 1
