"""Fixtures for the bot tests: an in-memory SemanticLayer double, the fake Slack server, a Bolt app, signing.

Tests take the semantic layer from the `semantic_layer_impl` fixture and the people they act as from `people`
(user IDs and the customer ids behind them, picked from the semantic layer by `people_for`). The double is the
default; `FINEFIN_BOT_TEST_SL=real` runs the same tests on `semantic_layer.get_semantic_layer()`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.settings import BotSettings
from semantic_layer.errors import FutureMonthError, NoAccountInMonthError, UnknownCustomerError
from semantic_layer.inputs import CustomerId, Month
from semantic_layer.types import (
    AccountBalance,
    CustomerBalance,
    CustomerProfile,
    Freshness,
    GrowthFigures,
    MetricDefinition,
    MonthlyGrowth,
    PostalAddress,
    RedStreak,
    Statement,
    StatementAccount,
    StatementLine,
    TierBreakdown,
    TierCount,
    TransactionsMonthRow,
    TransactionsPerMonth,
    Upcoming,
    UpcomingTransaction,
    Watchlist,
    WatchlistEntry,
)
from tests.fake_slack import FakeSlack

D = Decimal
TODAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
SIGNING_SECRET = "test-signing-secret"


def _profile(cid: int, name: str, email: str, tier: str = "Gold") -> CustomerProfile:
    return CustomerProfile(CustomerId(cid), name, email, tier, datetime(2025, 1, cid % 28 + 1, tzinfo=UTC))  # type: ignore[arg-type]


def iban_of(account_id: int) -> str:
    """A valid French IBAN for a test account (the generator's rule)."""
    import numpy as np

    from ingestion.generator.identity import ibans, identity_rng

    return str(ibans(identity_rng(0), np.array([account_id]))[0])


def _account(cid: int) -> StatementAccount:
    return StatementAccount(cid * 10, iban_of(cid * 10), "current", date(2025, 1, cid % 28 + 1), None)


def _statement(cid: int, name: str, month: Month, opening: Decimal, amounts: list[Decimal]) -> Statement:
    lines, running = [], opening
    for i, amount in enumerate(amounts):
        running += amount
        lines.append(
            StatementLine(
                1000 + i,
                cid * 10,
                datetime(month.year, month.month, i + 2, 9, 30, tzinfo=UTC),
                "deposit" if amount > 0 else "withdrawal",
                f"line {i}",
                amount,
                running,
            )
        )
    return Statement(CustomerId(cid), month, name, opening, tuple(lines), running,
                     PostalAddress(f"{cid} rue des Tests", "75011", "Paris", "FR"), (_account(cid),), TODAY)


@dataclass
class InMemorySemanticLayer:
    """A SemanticLayer built from explicit values. Asserts argument types: the bot must pass typed inputs only."""

    today: date = TODAY
    last_load_at: datetime | None = NOW - timedelta(hours=2)
    sla: timedelta = timedelta(hours=26)
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    profiles: dict[int, CustomerProfile] = field(default_factory=dict)
    balances: dict[int, CustomerBalance] = field(default_factory=dict)
    upcomings: dict[int, Upcoming] = field(default_factory=dict)
    statements: dict[tuple[int, Month], Statement] = field(default_factory=dict)
    growth: dict[Month, MonthlyGrowth] = field(default_factory=dict)
    tiers: TierBreakdown | None = None
    tpm: TransactionsPerMonth | None = None
    watch: Watchlist | None = None
    definitions: dict[str, MetricDefinition] = field(default_factory=dict)

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))

    @staticmethod
    def _check_cid(customer_id: object) -> CustomerId:
        assert type(customer_id) is CustomerId, f"expected CustomerId, got {type(customer_id).__name__}"
        return customer_id

    @staticmethod
    def _check_month(month: object) -> None:
        assert month is None or type(month) is Month, f"expected Month or None, got {type(month).__name__}"

    @property
    def last_complete_month(self) -> Month:
        return Month.of(self.today).previous

    def freshness(self) -> Freshness:
        self._record("freshness")
        return Freshness(self.last_load_at, NOW, self.sla)

    def customer_by_email(self, email: str) -> CustomerProfile | None:
        self._record("customer_by_email", email)
        assert isinstance(email, str) and "@" in email
        return next((p for p in self.profiles.values() if p.email.lower() == email.lower()), None)

    def customer(self, customer_id: CustomerId) -> CustomerProfile:
        self._record("customer", customer_id)
        cid = self._check_cid(customer_id)
        if cid.value not in self.profiles:
            raise UnknownCustomerError(f"There is no customer {cid}.")
        return self.profiles[cid.value]

    def balance(self, customer_id: CustomerId) -> CustomerBalance:
        self._record("balance", customer_id)
        return self.balances[self.customer(customer_id).customer_id.value]

    def upcoming(self, customer_id: CustomerId, days: int = 30) -> Upcoming:
        self._record("upcoming", customer_id, days)
        assert type(days) is int
        return self.upcomings[self.customer(customer_id).customer_id.value]

    def statement(self, customer_id: CustomerId, month: Month | None = None) -> Statement:
        self._record("statement", customer_id, month)
        self._check_month(month)
        cid = self.customer(customer_id).customer_id
        month = month or self.last_complete_month
        month.require_complete(self.today)
        found = self.statements.get((cid.value, month))
        if found is not None:
            return found
        account = _account(cid.value)
        if account.opened_on > month.last_day:  # as the real layer: no statement before the first account
            raise NoAccountInMonthError(f"You had no account with FineFinance in {month} (your first account "
                                        f"opened on {account.opened_on.isoformat()}).")
        return Statement(cid, month, self.profiles[cid.value].full_name, D("0.00"), (), D("0.00"), None, (account,),
                         self.today)

    def monthly_growth(self, month: Month | None = None, history: int = 6) -> MonthlyGrowth:
        self._record("monthly_growth", month, history)
        self._check_month(month)
        month = (month or self.last_complete_month).require_started(self.today)
        if month not in self.growth:
            raise FutureMonthError(f"No data for {month}.")
        return self.growth[month]

    def customers_per_tier(self, month: Month | None = None) -> TierBreakdown:
        self._record("customers_per_tier", month)
        self._check_month(month)
        assert self.tiers is not None
        return self.tiers

    def transactions_per_month(self, months: int = 12) -> TransactionsPerMonth:
        self._record("transactions_per_month", months)
        assert type(months) is int
        assert self.tpm is not None
        return self.tpm

    def watchlist(self, month: Month | None = None) -> Watchlist:
        self._record("watchlist", month)
        self._check_month(month)
        assert self.watch is not None
        return self.watch

    def metric_names(self) -> list[str]:
        self._record("metric_names")
        return sorted(self.definitions)

    def define(self, metric: str) -> MetricDefinition:
        self._record("define", metric)
        # The bot validates names with semantic_layer.inputs.metric_name first: raw text here is a bot bug.
        assert isinstance(metric, str) and metric in self.definitions, f"unvalidated metric name {metric!r}"
        return self.definitions[metric]


def build_double(extra_watch_entries: int = 0) -> InMemorySemanticLayer:
    """Three customers (Ada: two accounts, Bob: in the red, Chloé: one account), four months of aggregates."""
    sl = InMemorySemanticLayer()
    sl.profiles = {
        1: _profile(1, "Ada Lovelace", "ada@example.com", "Diamond"),
        2: _profile(2, "Bob <b>Brown</b>", "bob@example.com", "Bronze"),
        3: _profile(3, "Chloé Dupré", "chloe@example.com", "Gold"),
    }
    as_of = TODAY - timedelta(days=1)
    sl.balances = {
        1: CustomerBalance(
            CustomerId(1),
            as_of,
            (
                AccountBalance(10, "checking", "active", D("1234.50")),
                AccountBalance(11, "savings", "active", D("20000.00")),
            ),
            D("21234.50"),
        ),
        2: CustomerBalance(
            CustomerId(2), as_of, (AccountBalance(20, "checking", "active", D("-310.25")),), D("-310.25")
        ),
        3: CustomerBalance(CustomerId(3), as_of, (AccountBalance(30, "checking", "frozen", D("7.00")),), D("7.00")),
    }
    sl.upcomings = {
        1: Upcoming(
            CustomerId(1),
            as_of,
            30,
            D("21234.50"),
            (
                UpcomingTransaction(
                    501, 10, TODAY + timedelta(days=3), "bill_payment", "Rent", D("-950.00"), D("20284.50")
                ),
                UpcomingTransaction(
                    502, 10, TODAY + timedelta(days=6), "salary", "Payroll", D("3100.00"), D("23384.50")
                ),
            ),
        ),
        2: Upcoming(CustomerId(2), as_of, 30, D("-310.25"), ()),
        3: Upcoming(CustomerId(3), as_of, 30, D("7.00"), ()),
    }
    october = Month(2026, 10)
    sl.statements = {
        (1, october): _statement(
            1, "Ada Lovelace", october, D("18000.00"), [D("2500.00"), D("-120.40"), D("-75.10"), D("930.00")]
        ),
        (3, Month(2026, 9)): _statement(3, "Chloé Dupré", Month(2026, 9), D("10.00"), [D("-3.00")]),
    }
    months = [Month(2026, 7), Month(2026, 8), Month(2026, 9), october]
    figures = [
        GrowthFigures(months[0], D("10000.00"), D("500000.00"), 4000, 100, None, None, None),
        GrowthFigures(months[1], D("11000.00"), D("520000.00"), 4200, 120, D("10.0"), D("4.0"), D("20.0")),
        GrowthFigures(months[2], D("12100.00"), D("546000.00"), 4410, 90, D("10.0"), D("5.0"), D("-25.0")),
        GrowthFigures(months[3], D("13310.00"), D("600600.00"), 4851, 117, D("10.0"), D("10.0"), D("30.0")),
    ]
    sl.growth = {m: MonthlyGrowth(m, figures[i], tuple(figures[: i + 1])) for i, m in enumerate(months)}
    # November is running (the data is as of the 23rd): a month to date against 1-23 October
    november = GrowthFigures(Month(2026, 11), D("9000.00"), D("450000.00"), 3500, 80, D("-5.0"), D("2.5"), None,
                             through=as_of, compared_through=date(2026, 10, 23))
    sl.growth[november.month] = MonthlyGrowth(november.month, november, (*figures[1:], november))
    sl.tiers = TierBreakdown(
        october, (TierCount("Bronze", 3120, 41), TierCount("Gold", 1480, -7), TierCount("Diamond", 400, 3))
    )
    sl.tpm = TransactionsPerMonth(
        months[0],
        october,
        tuple(
            TransactionsMonthRow(m, t, n, D(v))
            for m in months
            for t, n, v in (
                ("deposit", 1500, "250000.00"),
                ("withdrawal", 1200, "180000.00"),
                ("p2p_out", 1300, "90000.00"),  # a P2P transfer once: the semantic layer has no p2p_in rows
            )
        ),
    )
    entries = [
        WatchlistEntry(CustomerId(1), "Ada Lovelace", "investments_held", D("20000.00"), D("15000.00")),
        WatchlistEntry(CustomerId(2), "Bob <b>Brown</b>", "high_withdrawals", D("4200.00"), D("3000.00")),
    ]
    entries += [
        WatchlistEntry(
            CustomerId(100 + i), f"Customer {100 + i}", "loans_outstanding", D("50000.00") + i, D("25000.00")
        )
        for i in range(extra_watch_entries)
    ]
    sl.watch = Watchlist(
        october,
        tuple(entries),
        (RedStreak(CustomerId(2), "Bob <b>Brown</b>", 4, Month(2026, 7), D("-310.25")),),
        {"high_withdrawals": D("3000.00"), "loans_outstanding": D("25000.00"), "investments_held": D("15000.00")},
        3,
    )
    sl.definitions = {
        "revenue": MetricDefinition(
            "revenue", "Revenue", "Fees earned.", "simple", "sum of fee_amount over booked transactions"
        ),
        "new_customers": MetricDefinition(
            "new_customers", "New customers", "Sign-ups.", "simple", "count of customers by created_at"
        ),
    }
    return sl


@dataclass(frozen=True)
class People:
    """Slack user IDs by role, and the customer ids behind the customer users."""

    customer_id: int
    red_customer_id: int
    other_customer_id: int
    customer: str = "UCUST1"
    red_customer: str = "UCUST2"
    advisor: str = "UADV1"
    director: str = "UDIR1"
    unknown: str = "UNOBODY"
    unverified: str = "UUNVER"


def people_for(sl: Any) -> People:
    """Pick people from any SemanticLayer: a watchlist customer (has activity), one in a red streak, and another."""
    watchlist = sl.watchlist(None)
    assert watchlist.red_streaks, "the data needs a customer in a red streak"
    red = watchlist.red_streaks[0].customer_id
    active = next((e.customer_id for e in watchlist.entries if e.customer_id != red), None)
    others = []
    for n in range(1, 200):
        cid = CustomerId(n)
        if cid in (red, active):
            continue
        try:
            sl.customer(cid)
        except UnknownCustomerError:
            continue
        others.append(cid)
        if len(others) == 2:
            break
    customer = active or others.pop(0)
    return People(customer_id=customer.value, red_customer_id=red.value, other_customer_id=others[0].value)


def require_double(sl: Any) -> InMemorySemanticLayer:
    """For tests that change the data (staleness, failures) or inspect calls: only the double allows that."""
    if not isinstance(sl, InMemorySemanticLayer):
        pytest.skip("needs the in-memory test double")
    return sl


def settings_for(people: People, **overrides: Any) -> BotSettings:
    values: dict[str, Any] = dict(
        slack_bot_token="xoxb-test",
        slack_signing_secret=SIGNING_SECRET,
        advisors=[people.advisor],
        directors=[people.director],
        advisor_channel="CADV",
        director_channel="CDIR",
        identity_cache_seconds=60,
    )
    values.update(overrides)
    return BotSettings(**values)


def directory_for(sl: Any, people: People) -> dict[str, dict[str, str]]:
    """Slack profiles: customers' emails come from the semantic layer itself."""
    c1 = sl.customer(CustomerId(people.customer_id))
    c2 = sl.customer(CustomerId(people.red_customer_id))
    return {
        people.customer: {"email": c1.email.upper(), "name": c1.full_name},  # matching is case-insensitive
        people.red_customer: {"email": c2.email, "name": c2.full_name},
        people.advisor: {"email": "advisor@finefinance.example", "name": "Ada Advisor"},
        people.director: {"email": "director@finefinance.example", "name": "Dan Director"},
        people.unknown: {"email": "stranger@example.org", "name": "Stranger"},
    }


@pytest.fixture()
def semantic_layer_impl() -> Any:
    """The test double; with FINEFIN_BOT_TEST_SL=real, `semantic_layer.get_semantic_layer()` over the warehouse
    that FINEFIN_DATA_DIR / FINEFIN_WAREHOUSE point at (published, generated data). Double-only tests then skip."""
    if os.environ.get("FINEFIN_BOT_TEST_SL") == "real":
        from semantic_layer import get_semantic_layer

        return get_semantic_layer()
    return build_double()


@pytest.fixture()
def people(semantic_layer_impl: Any) -> People:
    return people_for(semantic_layer_impl)


@pytest.fixture()
def fake_slack(semantic_layer_impl: Any, people: People) -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    for user_id, entry in directory_for(semantic_layer_impl, people).items():
        fake.add_user(user_id, entry["email"], entry["name"])
    c3 = semantic_layer_impl.customer(CustomerId(people.other_customer_id))
    fake.add_user(people.unverified, c3.email, "Unverified", is_email_confirmed=False)
    yield fake
    fake.stop()


@pytest.fixture()
def bot_settings(people: People) -> BotSettings:
    return settings_for(people)


@pytest.fixture(scope="session")
def state_url(make_database: Any) -> str:
    """A state database on the test PostgreSQL, migrated to head once per session."""
    from bot.state import open_state

    url = make_database()
    open_state(url).close()
    return url


@pytest.fixture()
def state_store(state_url: str) -> Iterator[Any]:
    """The state store on that database, emptied for each test."""
    from sqlalchemy import text

    from bot.state import open_state

    store = open_state(state_url, upgrade=False)
    with store.engine.begin() as conn:
        conn.execute(text("TRUNCATE delivery_keys, post_ledger, audit_log"))
    yield store
    store.close()


@pytest.fixture()
def bolt_app(semantic_layer_impl: Any, bot_settings: BotSettings, fake_slack: FakeSlack, state_store: Any) -> Any:
    from slack_sdk import WebClient
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

    from bot.app import build_app

    client = WebClient(
        token="xoxb-test", base_url=fake_slack.api_url, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=3)]
    )
    return build_app(semantic_layer_impl, bot_settings, client=client, state=state_store)


# --- signed requests --------------------------------------------------------------------------------------------


def sign(body: str, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "x-slack-request-timestamp": ts,
        "x-slack-signature": f"v0={digest}",
        "content-type": "application/x-www-form-urlencoded",
    }


_trigger = iter(range(1, 10**9))


def command_body(fake: FakeSlack, user_id: str, text: str, trigger_id: str | None = None) -> str:
    n = next(_trigger)
    return urlencode(
        {
            "token": "legacy",
            "team_id": "T0001",
            "team_domain": "finefin",
            "channel_id": "C0PUBLIC",
            "channel_name": "general",
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": "/finefin",
            "text": text,
            "api_app_id": "A0001",
            "response_url": fake.response_url(f"r{n}"),
            "trigger_id": trigger_id or f"trig.{n}.{time.monotonic_ns()}",
        }
    )


def action_body(fake: FakeSlack, user_id: str, action_id: str, value: str, trigger_id: str | None = None
                ) -> tuple[str, str]:
    """A button click (`block_actions`) as Slack posts it (form field `payload`), and its response_url path."""
    n = next(_trigger)
    payload = {
        "type": "block_actions",
        "token": "legacy",
        "api_app_id": "A0001",
        "user": {"id": user_id, "username": user_id.lower(), "team_id": "T0001"},
        "team": {"id": "T0001", "domain": "finefin"},
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0PUBLIC",
                      "is_ephemeral": True},
        "channel": {"id": "C0PUBLIC", "name": "general"},
        "trigger_id": trigger_id or f"click.{n}.{time.monotonic_ns()}",
        "response_url": fake.response_url(f"a{n}"),
        "actions": [{"type": "button", "action_id": action_id, "block_id": "ffq_more", "value": value,
                     "text": {"type": "plain_text", "text": "x"}, "action_ts": f"{time.time():.6f}"}],
    }
    return urlencode({"payload": json.dumps(payload)}), f"/response/a{n}"


def event_body(event: dict[str, Any], event_id: str, team_id: str = "T0001") -> tuple[str, dict[str, str]]:
    """An Events API callback as Slack posts it (JSON), and its signed headers."""
    body = json.dumps({"token": "legacy", "team_id": team_id, "api_app_id": "A0001", "type": "event_callback",
                       "event_id": event_id, "event_time": int(time.time()), "event": event})
    return body, {**sign(body), "content-type": "application/json"}


def dispatch(app: Any, body: str, headers: dict[str, str] | None = None) -> Any:
    from slack_bolt.request import BoltRequest

    return app.dispatch(BoltRequest(body=body, headers=headers if headers is not None else sign(body)))


def ask_slack(app: Any, fake: FakeSlack, user_id: str, text: str, expect_responses: int = 1) -> list[dict[str, Any]]:
    """Dispatch a signed /finefin command; wait for the lazy listener's response_url posts; return their JSON."""
    body = command_body(fake, user_id, text)
    response_path = "/response/" + dict(p.split("=", 1) for p in body.split("&"))["response_url"].rsplit("%2F", 1)[1]
    resp = dispatch(app, body)
    assert resp.status == 200, resp.body
    fake.wait_for(lambda f: len([c for c in f.calls_to("response") if c.path == response_path]) >= expect_responses)
    return [c.params for c in fake.calls_to("response") if c.path == response_path]


def blocks_json(blocks: Any) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def write_directory(path: Any, sl: Any, people: People) -> Any:
    path.write_text(json.dumps(directory_for(sl, people)))
    return path


def make_assistant(sl: Any, people: People, tmp_path: Any, **overrides: Any) -> Any:
    """The Slack-free Assistant, with the local directory file standing in for users.info."""
    from bot.console import console_assistant

    directory = write_directory(tmp_path / "directory.json", sl, people)
    return console_assistant(sl, settings_for(people, **overrides), directory)


@pytest.fixture()
def http_server(bolt_app: Any) -> Iterator[str]:
    """The Bolt ASGI adapter under a real uvicorn server on a free port; yields the events URL."""
    from bot.server import asgi_app

    with serve_asgi(asgi_app(bolt_app)) as url:
        yield url


# --- a real HTTP server -----------------------------------------------------------------------------------------


@contextmanager
def serve_asgi(app: Any, env: dict[str, str] | None = None, timeout: float = 90.0) -> Iterator[str]:
    """uvicorn on a free loopback port until the block ends; yields the Slack events URL (…/slack/events).

    `app`: an ASGI app object, served by a uvicorn thread in this process; or "module:factory", served by
    `uvicorn --factory` in a process of its own with `env` (a web process as production runs it)."""
    from bot.server import EVENTS_PATH

    if isinstance(app, str):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        with tempfile.TemporaryFile() as stderr:  # a file, not a pipe: a chatty process never blocks on it
            proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--factory", app, "--host", "127.0.0.1", "--port", str(port),
                 "--log-level", "warning", "--no-access-log"],
                cwd=Path(__file__).resolve().parents[1], env=env, stdout=subprocess.DEVNULL, stderr=stderr,
            )
            try:
                _wait_listening(port, proc, stderr, timeout)
                yield f"http://127.0.0.1:{port}{EVENTS_PATH}"
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        return
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise AssertionError("the uvicorn server did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}{EVENTS_PATH}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _wait_listening(port: int, proc: subprocess.Popen[bytes], stderr: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            stderr.seek(0)
            raise AssertionError(f"the web process exited: {stderr.read().decode()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the web process did not start listening")


def post(url: str, body: str, headers: dict[str, str] | None = None, timeout: float = 30.0) -> tuple[int, str]:
    """POST `body` (signed with the test secret unless `headers` are given): (HTTP status, response body)."""
    request = urllib.request.Request(url, data=body.encode(), headers=sign(body) if headers is None else headers,
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
