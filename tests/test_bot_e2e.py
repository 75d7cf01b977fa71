"""The Slack bot end to end on real generated data, checked against the source database.

One module-scoped chain: generator -> PostgreSQL -> dlt -> DuckDB -> dbt build -> published snapshot ->
`MetricFlowSemanticLayer`. Every command of every role goes through the real Bolt app (signed requests, lazy
listeners, the fake Slack Web API over HTTP), and what Slack received — blocks, the statement PDF and CSV, the chart
and list CSVs uploaded to the DM — is compared with an oracle computed on the source PostgreSQL: plain SQL, or the
Python ledger of tests/dbt_oracle.py (itself read straight from PostgreSQL). Nothing expected is read from the
semantic layer or the warehouse. The only configuration the test chooses: low watchlist thresholds (so the list is
long enough to be cut and attached), the Slack users, and the customer picked for the customer commands.
"""

# ruff: noqa: E402 - assertion rewriting must be registered before the support module is imported
from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.bot_support")

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import yaml
from pypdf import PdfReader

from bot.blocks import esc, governed, money
from bot.money import money_column
from bot.settings import BotSettings
from finefin.config import DBT_PROJECT_DIR
from semantic_layer.inputs import Month
from semantic_layer.service import MetricFlowSemanticLayer
from semantic_layer.settings import SemanticLayerSettings
from tests.bot_support import People, ask_slack
from tests.dbt_chain import Chain, make_chain, project_vars
from tests.dbt_oracle import Oracle, add_months, load_oracle
from tests.fake_slack import FakeSlack
from tests.growth_oracle import pct_matches, period, same_days_last_month

pytest_plugins = ["tests.bot_support"]

ZERO = Decimal("0.00")
HORIZON_DAYS = 30  # the bot asks the semantic layer for 30 days of upcoming transactions
HISTORY_MONTHS = 6  # growth shows six months
CHART_MONTHS = 12  # transactions per month: twelve months
# Low thresholds so that the small data set puts more customers on the watchlist than Slack shows (CSV attached).
WATCH = SemanticLayerSettings(
    watch_withdrawals_min=Decimal("500"), watch_loans_min=Decimal("1000"), watch_investments_min=Decimal("1000")
)
# What a customer reads for each transaction type, written out as the product specification.
TYPE_LABELS = {
    "deposit": "Deposit", "withdrawal": "Withdrawal", "p2p_in": "Transfer received", "p2p_out": "Transfer sent",
    "card_payment": "Card payment", "loan_disbursement": "Loan paid out", "loan_repayment": "Loan repayment",
    "investment_buy": "Investment purchase", "investment_sell": "Investment sale", "fee": "Fee",
    "interest_charge": "Interest charged", "interest_payout": "Interest paid",
}
REASON_LABELS = {
    "high_withdrawals": "high withdrawals",
    "loans_outstanding": "loans outstanding",
    "investments_held": "investments held",
}
# The bot's access rules, written out as the product specification (not read from bot.access).
USAGES = {
    "customer": {"balance", "upcoming", "statement [YYYY-MM]"},
    "advisor": {"balance <customer>", "watchlist", "red"},
    "director": {"growth [YYYY-MM]", "tiers", "transactions", "define <metric>"},
}
IDENTITY_CALLS = {"customer_by_email"}  # the only semantic-layer call a refused or help request may cause
UTC_DAY = "(t.booked_at AT TIME ZONE 'UTC')::date"


# -- the chain, the semantic layer, the oracle ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def chain(make_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> Chain:
    chain = make_chain(make_database, tmp_path_factory.mktemp("bot_e2e"))
    chain.build()
    chain.publish()
    return chain


@pytest.fixture(scope="module")
def real_sl(chain: Chain) -> Iterator[MetricFlowSemanticLayer]:
    sl = chain.semantic_layer(WATCH)
    yield sl
    sl.engine.close()


class RecordingLayer:
    """Forwards to the real semantic layer and records every call's name and arguments."""

    def __init__(self, sl: MetricFlowSemanticLayer) -> None:
        self._sl = sl
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._sl, name)
        if not callable(attr):
            return attr

        def recorded(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args))
            return attr(*args, **kwargs)

        return recorded


@pytest.fixture()
def semantic_layer_impl(real_sl: MetricFlowSemanticLayer) -> RecordingLayer:
    """Overrides tests.bot_support's fixture: the Bolt app of `bolt_app` runs on the real semantic layer."""
    return RecordingLayer(real_sl)


@pytest.fixture(scope="module")
def oracle(chain: Chain) -> Oracle:
    return load_oracle(chain.dsn)


def pg(chain: Chain, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(chain.dsn) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


@dataclass(frozen=True)
class Facts:
    """Reporting dates and the people of the test, all read from the source database."""

    as_of: date
    month: Month  # the last complete month: the default of statement, growth, tiers, watchlist
    customer: int
    red_customer: int
    other_customer: int
    emails: dict[int, str]
    names: dict[int, str]


@pytest.fixture(scope="module")
def facts(chain: Chain, oracle: Oracle) -> Facts:
    (as_of,) = pg(
        chain,
        "SELECT max(d) FROM (SELECT (booked_at AT TIME ZONE 'UTC')::date AS d FROM transactions"
        " WHERE status = 'booked' UNION ALL"
        " SELECT (opened_at AT TIME ZONE 'UTC')::date FROM accounts) AS days",
    )[0]
    after = as_of + timedelta(days=1)
    month = Month.of(as_of) if after.month != as_of.month else Month.of(as_of).previous
    # A customer with several accounts, upcoming transactions (no more than Slack shows) and a non-empty statement;
    # a non-ASCII name when there is one (the PDF must print it).
    rows = pg(
        chain,
        f"""
        WITH acc AS (SELECT customer_id, count(*) AS n FROM accounts GROUP BY 1),
        up AS (SELECT a.customer_id, count(*) AS n FROM transactions t JOIN accounts a USING (account_id)
               WHERE t.status = 'scheduled' AND t.scheduled_for > %s AND t.scheduled_for <= %s GROUP BY 1),
        lines AS (SELECT a.customer_id, count(*) AS n FROM transactions t JOIN accounts a USING (account_id)
                  WHERE t.status = 'booked' AND {UTC_DAY} BETWEEN %s AND %s GROUP BY 1)
        SELECT c.customer_id FROM customers c JOIN acc USING (customer_id) JOIN up USING (customer_id)
        JOIN lines USING (customer_id) WHERE up.n <= 15
        ORDER BY acc.n DESC, (c.full_name ~ '[^[:ascii:]]') DESC, c.customer_id LIMIT 1""",
        (as_of, as_of + timedelta(days=HORIZON_DAYS), month.first_day, month.last_day),
    )
    assert rows, "no customer with accounts, upcoming transactions and a statement in the data set"
    customer = rows[0][0]
    streaks = oracle.current_red_streaks()
    reds = sorted(c for c, (length, _) in streaks.items() if length >= WATCH.red_streak_min_months and c != customer)
    assert reds, "the data set needs a customer in a red streak"
    known = pg(chain, "SELECT customer_id, email, full_name FROM customers ORDER BY customer_id")
    other = next(c for c, _, _ in known if c not in (customer, reds[0]))
    return Facts(as_of, month, customer, reds[0], other, {c: e for c, e, _ in known}, {c: n for c, _, n in known})


@pytest.fixture()
def people(facts: Facts) -> People:
    """Overrides tests.bot_support's fixture: people picked from the source database, not the semantic layer."""
    return People(
        customer_id=facts.customer, red_customer_id=facts.red_customer, other_customer_id=facts.other_customer
    )


@pytest.fixture()
def fake_slack(people: People, facts: Facts) -> Iterator[FakeSlack]:
    """Overrides tests.bot_support's fixture: Slack profiles carry the customers' emails from the source database."""
    fake = FakeSlack().start()
    fake.add_user(people.customer, facts.emails[people.customer_id].upper(), "Customer")  # matched case-insensitively
    fake.add_user(people.red_customer, facts.emails[people.red_customer_id], "Red customer")
    fake.add_user(people.advisor, "advisor@finefinance.example", "Ada Advisor")
    fake.add_user(people.director, "director@finefinance.example", "Dan Director")
    yield fake
    fake.stop()


# -- helpers ---------------------------------------------------------------------------------------------------------
def block_lines(blocks: list[dict[str, Any]]) -> list[str]:
    """Every line of text in the blocks (headers, sections, context), in order."""
    lines: list[str] = []
    for block in blocks:
        texts = [block["text"]["text"]] if "text" in block else [e["text"] for e in block.get("elements", [])]
        for text in texts:
            lines.extend(text.split("\n"))
    return lines


def ask(app: Any, fake: FakeSlack, user: str, text: str) -> tuple[dict[str, Any], list[str]]:
    post = ask_slack(app, fake, user, text)[0]
    assert post["response_type"] == "ephemeral"
    assert not fake.calls_to("chat.postMessage"), "answers must never be posted in a channel"
    return post, block_lines(post["blocks"])


def files_in_dm(fake: FakeSlack, user: str) -> dict[str, bytes]:
    fake.wait_calls("files.completeUploadExternal")
    assert [c.params["channel_id"] for c in fake.calls_to("files.completeUploadExternal")] == [f"D{user}"]
    assert fake.calls_to("conversations.open")[0].params["users"] == user
    return fake.uploaded()


def bullets(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("• ")]


def pct(current: Decimal, previous: Decimal) -> Decimal | None:
    return None if previous == 0 else (current - previous) * 100 / previous


def account_lines(chain: Chain, as_of: date, customer: int) -> tuple[list[str], Decimal]:
    """The balance answer's account lines and total: per account, the sum of its booked amounts up to as_of."""
    rows = pg(
        chain,
        f"""
        SELECT a.account_id, a.account_type, a.status,
               coalesce(sum(t.amount) FILTER (WHERE t.status = 'booked' AND {UTC_DAY} <= %s), 0)
        FROM accounts a LEFT JOIN transactions t USING (account_id)
        WHERE a.customer_id = %s AND (a.opened_at AT TIME ZONE 'UTC')::date <= %s
        GROUP BY 1, 2, 3 ORDER BY 1""",
        (as_of, customer, as_of),
    )
    lines = [
        f"• {kind} #{account}" + ("" if status == "active" else f" ({status})") + f": *{money(balance)}*"
        for account, kind, status, balance in rows
    ]
    return lines, sum((r[3] for r in rows), ZERO)


# -- customer ----------------------------------------------------------------------------------------------------
def test_customer_balance_is_the_sum_of_booked_amounts(
    bolt_app: Any, fake_slack: FakeSlack, people: People, facts: Facts, chain: Chain
) -> None:
    post, lines = ask(bolt_app, fake_slack, people.customer, "balance")
    expected, total = account_lines(chain, facts.as_of, people.customer_id)
    assert len(expected) >= 2
    assert lines[0] == "Your balance"
    assert bullets(lines) == expected
    assert f"*Current balance: {money(total)}* (all accounts, as of {facts.as_of.isoformat()})" in lines
    assert post["text"] == f"Your current balance: {money(total)} (as of {facts.as_of})"
    assert any(line.startswith(":clock3: Data as of ") for line in lines)
    assert not fake_slack.calls_to("files.getUploadURLExternal")
    # Recognised through Slack: users.info gave the (upper-cased) email, matched to the customer in the warehouse.
    assert [c.params["user"] for c in fake_slack.calls_to("users.info")] == [people.customer]


def test_customer_upcoming_projects_the_balance(
    bolt_app: Any, fake_slack: FakeSlack, people: People, facts: Facts, chain: Chain
) -> None:
    _, lines = ask(bolt_app, fake_slack, people.customer, "upcoming")
    _, running = account_lines(chain, facts.as_of, people.customer_id)
    rows = pg(
        chain,
        "SELECT t.scheduled_for, t.transaction_type, t.description, t.amount FROM transactions t"
        " JOIN accounts a USING (account_id) WHERE a.customer_id = %s AND t.status = 'scheduled'"
        " AND t.scheduled_for > %s AND t.scheduled_for <= %s ORDER BY t.scheduled_for, t.transaction_id",
        (people.customer_id, facts.as_of, facts.as_of + timedelta(days=HORIZON_DAYS)),
    )
    assert rows
    assert f"Current balance: *{money(running)}* (as of {facts.as_of.isoformat()})" in lines
    expected = []
    for due, kind, description, amount in rows:
        running += amount
        expected.append(
            f"• {due.isoformat()} · {esc(kind)} · {esc(description)}: *{money(amount)}* → projected {money(running)}"
        )
    assert bullets(lines) == expected
    assert f"*Projected balance after {HORIZON_DAYS} days: {money(running)}*" in lines


def test_customer_statement_pdf_and_csv_equal_the_source_ledger(
    bolt_app: Any, fake_slack: FakeSlack, people: People, facts: Facts, chain: Chain
) -> None:
    month, customer = facts.month, people.customer_id
    post, lines = ask(bolt_app, fake_slack, people.customer, "statement")
    booked = (
        "SELECT coalesce(sum(t.amount), 0) FROM transactions t JOIN accounts a USING (account_id)"
        f" WHERE a.customer_id = %s AND t.status = 'booked' AND {UTC_DAY} <= %s"
    )
    (opening,) = pg(chain, booked, (customer, month.previous.last_day))[0]
    (closing,) = pg(chain, booked, (customer, month.last_day))[0]
    rows = pg(
        chain,
        "SELECT t.transaction_id, a.iban, a.account_type, t.booked_at AT TIME ZONE 'UTC', t.transaction_type,"
        " t.description, t.amount FROM transactions t JOIN accounts a USING (account_id)"
        f" WHERE a.customer_id = %s AND t.status = 'booked' AND {UTC_DAY} BETWEEN %s AND %s"
        " ORDER BY t.booked_at, t.transaction_id",
        (customer, month.first_day, month.last_day),
    )
    assert rows and opening + sum(r[6] for r in rows) == closing
    money_in = sum((r[6] for r in rows if r[6] > 0), ZERO)
    money_out = -sum((r[6] for r in rows if r[6] < 0), ZERO)

    assert lines[0] == f"Statement {month}"
    assert f"Opening balance: *{money(opening)}*" in lines
    assert f"Money in: {money(money_in)} · Money out: {money(money_out)} ({len(rows)} transactions)" in lines
    assert f"Closing balance: *{money(closing)}*" in lines
    assert post["text"].startswith(f"Statement {month}: opening {money(opening)}, closing {money(closing)}.")

    files = files_in_dm(fake_slack, people.customer)
    pdf_name, csv_name = f"statement-{customer}-{month}.pdf", f"statement-{customer}-{month}.csv"
    assert set(files) == {pdf_name, csv_name}
    running, pdf_rows = opening, []
    for _, iban, account_type, booked_at, kind, description, amount in rows:
        running += amount
        cells = [f"{booked_at:%Y-%m-%d}", description, TYPE_LABELS[kind], f"{account_type.capitalize()} …{iban[-4:]}",
                 money(amount) if amount > 0 else "", money(-amount) if amount < 0 else "", money(running)]
        pdf_rows.append(" ".join(c for c in cells if c))
    reader = PdfReader(io.BytesIO(files[pdf_name]))
    pages = [[line.strip() for line in page.extract_text().split("\n")] for page in reader.pages]
    pdf_lines = [line for page in pages for line in page]
    (street, postal_code, city), = pg(chain, "SELECT street, postal_code, city FROM customers WHERE customer_id = %s",
                                      (customer,))
    first = pages[0]
    assert first[first.index(facts.names[customer]) + 1:first.index(facts.names[customer]) + 3] == [
        street, f"{postal_code} {city}"]
    for number, page in enumerate(pages, start=1):
        assert page[1].endswith(f"{facts.names[customer]} · customer {customer}")
        assert f"Page {number} of {len(pages)}" in page[-1]
    month_name = f"{month.first_day:%B %Y}"
    assert f"Period 1 {month_name} to {month.last_day.day} {month_name}" in first
    opening_text = f"{money(opening)}{' (overdrawn)' if opening < 0 else ''}"
    closing_text = f"{money(closing)}{' (overdrawn)' if closing < 0 else ''}"
    assert f"Opening balance on {month.previous.last_day.day} {month.previous.first_day:%B %Y} {opening_text}" in first
    assert f"Closing balance on {month.last_day.day} {month_name} {closing_text}" in first
    outs = sum(1 for r in rows if r[6] < 0)
    assert f"Money out ({outs} transaction{'' if outs == 1 else 's'}) {money(money_out)}" in first
    for (iban,) in pg(chain, "SELECT iban FROM accounts WHERE customer_id = %s", (customer,)):
        assert any(" ".join(iban[i:i + 4] for i in range(0, len(iban), 4)) in line for line in first)
    assert [line for line in pdf_lines if re.match(r"\d{4}-\d{2}-\d{2} ", line)] == pdf_rows

    table = list(csv.DictReader(io.StringIO(files[csv_name].decode())))
    amount_col, balance_col = money_column("amount"), money_column("running_balance")
    assert table[0]["type"] == "Opening balance" and Decimal(table[0][balance_col]) == opening
    assert table[-1]["type"] == "Closing balance" and Decimal(table[-1][balance_col]) == closing
    body, running = table[1:-1], opening
    assert len(body) == len(rows)
    for line, (tx_id, iban, _, booked_at, kind, description, amount) in zip(body, rows, strict=True):
        running += amount
        stamp = datetime.fromisoformat(line["booked_at"])
        stamp = stamp.astimezone(UTC).replace(tzinfo=None) if stamp.tzinfo else stamp
        assert (
            int(line["transaction_id"]),
            line["iban"],
            stamp,
            line["type"],
            line["description"],
            Decimal(line[amount_col]),
            Decimal(line[balance_col]),
        ) == (tx_id, iban, booked_at, TYPE_LABELS[kind], description, amount, running)
    # The CSV reconciles on its own: opening + every line = closing.
    assert Decimal(table[0][balance_col]) + sum((Decimal(r[amount_col]) for r in body), ZERO) == Decimal(
        table[-1][balance_col]
    )


def test_customer_cannot_see_another_customers_balance_and_no_data_is_read(
    bolt_app: Any, fake_slack: FakeSlack, people: People, semantic_layer_impl: RecordingLayer
) -> None:
    before = len(semantic_layer_impl.calls)
    post, lines = ask(bolt_app, fake_slack, people.customer, f"balance {people.other_customer_id}")
    assert post["text"] == "Sorry, you can only see your own accounts: use `/finefin balance`."
    assert {name for name, _ in semantic_layer_impl.calls[before:]} <= IDENTITY_CALLS
    assert not any(str(people.other_customer_id) in line for line in lines if line != post["text"])
    assert not fake_slack.calls_to("files.getUploadURLExternal")


COMMANDS = (
    "balance",
    "upcoming",
    "statement",
    "balance {other}",
    "watchlist",
    "red",
    "growth",
    "tiers",
    "transactions",
    "define revenue",
)
ALLOWED = {
    "customer": {"balance", "upcoming", "statement"},
    "advisor": {"balance {other}", "watchlist", "red"},
    "director": {"growth", "tiers", "transactions", "define revenue"},
}


@pytest.mark.parametrize("role", sorted(ALLOWED))
def test_every_other_command_is_refused_without_reading_data(
    bolt_app: Any, fake_slack: FakeSlack, people: People, semantic_layer_impl: RecordingLayer, role: str
) -> None:
    user = getattr(people, role)
    refused = [c for c in COMMANDS if c not in ALLOWED[role]]
    assert len(refused) >= 6
    for command in refused:
        before = len(semantic_layer_impl.calls)
        post, _ = ask(bolt_app, fake_slack, user, command.format(other=people.other_customer_id))
        assert post["text"].startswith("Sorry,"), (role, command, post["text"])
        assert {name for name, _ in semantic_layer_impl.calls[before:]} <= IDENTITY_CALLS, (role, command)
    assert not fake_slack.calls_to("files.getUploadURLExternal")


@pytest.mark.parametrize("role", sorted(USAGES))
def test_help_lists_the_roles_commands(
    bolt_app: Any, fake_slack: FakeSlack, people: People, semantic_layer_impl: RecordingLayer, role: str
) -> None:
    before = len(semantic_layer_impl.calls)
    _, lines = ask(bolt_app, fake_slack, getattr(people, role), "help")
    assert lines[0] == f"*FineFinance bot* — you are recognised as: {role}. Commands:"
    usages = {line.split("` — ")[0].removeprefix("`/finefin ").replace("&lt;", "<").replace("&gt;", ">")
              for line in lines if line.startswith("`/finefin ")}  # Slack shows `&lt;` as `<`
    # every role may ask the query-model commands (the access policy then scopes what each may ask)
    from bot import commands as query_commands

    assert set(query_commands.commands()) == {"metric", "metrics", "why", "alert", "alerts", "subscribe",
                                              "subscriptions", "ask"}
    from bot.commands import alert

    alert_usage = {"customer": f"{alert.METRIC_USAGE} | {alert.CUSTOMER_USAGE}",  # event alerts: their roles only
                   "advisor": f"{alert.METRIC_USAGE} | {alert.ADVISOR_USAGE}", "director": alert.METRIC_USAGE}
    assert usages == USAGES[role] | {command.usage for name, command in query_commands.commands().items()
                                     if name != "alert"} | {alert_usage[role]}
    assert {name for name, _ in semantic_layer_impl.calls[before:]} <= IDENTITY_CALLS


# -- advisor -----------------------------------------------------------------------------------------------------
def test_advisor_balance_of_a_customer(
    bolt_app: Any, fake_slack: FakeSlack, people: People, facts: Facts, chain: Chain, oracle: Oracle
) -> None:
    customer = people.red_customer_id
    _, lines = ask(bolt_app, fake_slack, people.advisor, f"balance #{customer}")
    v = project_vars()
    tier = oracle.tiers(Decimal(str(v["tier_gold_min"])), Decimal(str(v["tier_diamond_min"])), v["tier_months"])
    assert lines[0] == f"{facts.names[customer]} (#{customer}, {tier[customer]})"
    expected, total = account_lines(chain, facts.as_of, customer)
    assert expected and bullets(lines) == expected
    assert f"*Current balance: {money(total)}* (all accounts, as of {facts.as_of.isoformat()})" in lines


def watchlist_oracle(chain: Chain, month: Month) -> list[tuple[int, str, str, Decimal, Decimal]]:
    """(customer, name, reason, value, threshold), sorted as the advisors read it: by reason, largest first."""
    withdrawals = pg(
        chain,
        "SELECT a.customer_id, -sum(t.amount) FROM transactions t JOIN accounts a USING"
        " (account_id) WHERE t.status = 'booked' AND t.transaction_type = 'withdrawal'"
        f" AND {UTC_DAY} BETWEEN %s AND %s GROUP BY 1",
        (month.first_day, month.last_day),
    )
    positions = pg(
        chain,
        "SELECT a.customer_id,"
        " sum(t.amount) FILTER (WHERE transaction_type IN ('loan_disbursement', 'loan_repayment')),"
        " -sum(t.amount) FILTER (WHERE transaction_type IN ('investment_buy', 'investment_sell'))"
        " FROM transactions t JOIN accounts a USING (account_id) WHERE t.status = 'booked'"
        f" AND {UTC_DAY} <= %s GROUP BY 1",
        (month.last_day,),
    )
    names = dict(pg(chain, "SELECT customer_id, full_name FROM customers"))
    figures: list[tuple[int, str, Decimal | None, Decimal]] = [
        (c, "high_withdrawals", w, WATCH.watch_withdrawals_min) for c, w in withdrawals
    ]
    for c, loans, investments in positions:
        figures += [
            (c, "loans_outstanding", loans, WATCH.watch_loans_min),
            (c, "investments_held", investments, WATCH.watch_investments_min),
        ]
    entries = [
        (c, names[c], reason, value, threshold)
        for c, reason, value, threshold in figures
        if value is not None and value >= threshold
    ]
    return sorted(entries, key=lambda e: (e[2], -e[3], e[0]))


def test_advisor_watchlist_is_cut_in_slack_and_complete_in_the_csv(
    bolt_app: Any,
    fake_slack: FakeSlack,
    people: People,
    facts: Facts,
    chain: Chain,
    oracle: Oracle,
    bot_settings: BotSettings,
) -> None:
    _, lines = ask(bolt_app, fake_slack, people.advisor, "watchlist")
    expected = watchlist_oracle(chain, facts.month)
    limit = bot_settings.list_limit
    assert len(expected) > limit, "lower the WATCH thresholds: the list should be longer than Slack shows"
    assert {e[2] for e in expected} == set(REASON_LABELS)
    assert lines[0] == f"Watchlist {facts.month}"
    assert bullets(lines) == [
        f"• *{esc(name)}* (#{c}) — {REASON_LABELS[reason]} "
        f"{'in ' + str(facts.month) if reason == 'high_withdrawals' else 'at ' + str(facts.month.last_day)}: "
        f"{money(value)} (threshold {money(threshold)})"
        for c, name, reason, value, threshold in expected[:limit]
    ]
    assert f"Showing {limit} of {len(expected)} entries; the full list is attached as a CSV file." in lines
    reds = [c for c, (length, _) in oracle.current_red_streaks().items() if length >= WATCH.red_streak_min_months]
    plural = "customer" if len(reds) == 1 else "customers"
    assert f"{len(reds):,d} {plural} in the red {WATCH.red_streak_min_months}+ months: `/finefin red`." in lines
    files = files_in_dm(fake_slack, people.advisor)
    table = list(csv.DictReader(io.StringIO(files[f"watchlist-{facts.month}.csv"].decode())))
    assert [
        (int(r["customer_id"]), r["name"], r["reason"], Decimal(r["value_eur"]), Decimal(r["threshold_eur"]))
        for r in table
    ] == expected


def test_advisor_red_lists_every_streak_of_three_months(
    bolt_app: Any, fake_slack: FakeSlack, people: People, facts: Facts, oracle: Oracle
) -> None:
    _, lines = ask(bolt_app, fake_slack, people.advisor, "red")
    minimum = WATCH.red_streak_min_months
    streaks = [(c, length, start) for c, (length, start) in oracle.current_red_streaks().items() if length >= minimum]
    rows = sorted(
        ((length, oracle.month_end_balance(c, facts.month.first_day), c, start) for c, length, start in streaks),
        key=lambda r: (-r[0], r[1], r[2]),
    )
    assert rows and all(balance < 0 for _, balance, _, _ in rows)
    assert lines[0] == f"In the red {minimum}+ months (to {facts.month})"
    assert bullets(lines) == [
        f"• *{esc(facts.names[c])}* (#{c}) — {length} months in the red since {Month.of(start)}, "
        f"balance at {facts.month.last_day}: {money(balance)}"
        for length, balance, c, start in rows
    ]


# -- director ----------------------------------------------------------------------------------------------------
GROWTH_SQL = """
    WITH tx AS (SELECT date_trunc('month', booked_at AT TIME ZONE 'UTC')::date AS m,
                       -sum(amount) FILTER (WHERE transaction_type IN ('fee', 'interest_charge')) AS revenue,
                       sum(abs(amount)) AS volume, count(*) AS n
                FROM transactions WHERE status = 'booked' GROUP BY 1),
    cu AS (SELECT date_trunc('month', created_at AT TIME ZONE 'UTC')::date AS m, count(*) AS n
           FROM customers GROUP BY 1)
    SELECT coalesce(tx.m, cu.m), coalesce(tx.revenue, 0), coalesce(tx.volume, 0), coalesce(tx.n, 0), coalesce(cu.n, 0)
    FROM tx FULL JOIN cu ON tx.m = cu.m ORDER BY 1"""


def _pct_shown(text: str) -> Decimal | None:
    return None if text == "n/a" else Decimal(text.removesuffix("%"))


def test_director_growth_equals_revenue_volume_and_sign_ups_in_the_source(
    bolt_app: Any, fake_slack: FakeSlack, people: People, facts: Facts, chain: Chain
) -> None:
    _, lines = ask(bolt_app, fake_slack, people.director, "growth")
    by_month = {Month.of(m): (Decimal(r), Decimal(v), n, c) for m, r, v, n, c in pg(chain, GROWTH_SQL)}
    month = facts.month
    revenue, volume, count, new = by_month[month]
    previous = by_month.get(month.previous, (ZERO, ZERO, 0, 0))
    assert lines[0] == f"Growth {month}"
    pattern = {
        "revenue": (rf"Revenue: \*{re.escape(money(revenue))}\* \((n/a|[+-][\d.]+%) MoM\)", revenue, previous[0]),
        "volume": (
            rf"Transaction volume: \*{re.escape(money(volume))}\* \((n/a|[+-][\d.]+%) MoM\), "
            rf"{count:,d} transactions",
            volume,
            previous[1],
        ),
        "new": (rf"New customers: \*{new:,d}\* \((n/a|[+-][\d.]+%) MoM\)", Decimal(new), Decimal(previous[3])),
    }
    for what, (regex, current, before) in pattern.items():
        match = next((m for m in map(re.compile(regex).fullmatch, lines) if m), None)
        assert match is not None, (what, regex, lines)
        shown, want = _pct_shown(match.group(1)), pct(current, before)
        assert (shown is None) == (want is None), what
        if shown is not None and want is not None:
            assert abs(shown - want) <= Decimal("0.06"), what  # shown to one decimal
    months = [m for m in sorted(by_month) if m <= month][-HISTORY_MONTHS:]
    assert len(months) == HISTORY_MONTHS
    history = [line for line in lines if line.startswith("`")]
    assert history == [
        f"`{m}` revenue {money(by_month[m][0])} · volume {money(by_month[m][1])} · new customers {by_month[m][3]:,d}"
        for m in months
    ]


def test_director_growth_of_the_running_month_is_month_to_date(
    bolt_app: Any, fake_slack: FakeSlack, people: People, facts: Facts, chain: Chain
) -> None:
    as_of = facts.as_of
    month = Month.of(as_of)
    assert month > facts.month  # the data's month is running
    post, lines = ask(bolt_app, fake_slack, people.director, f"growth {month}")
    abbr = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    before_first, before_last = same_days_last_month(as_of)
    days, before = f"1–{as_of.day} {abbr[as_of.month - 1]}", f"1–{before_last.day} {abbr[before_last.month - 1]}"
    assert lines[0] == f"Growth {month}, month to date ({days})"
    now, then = period(chain.dsn, month.first_day, as_of), period(chain.dsn, before_first, before_last)
    shown = {}
    for what, regex in {
        "revenue": rf"Revenue: \*{re.escape(money(now.revenue))}\* \((n/a|[+-][\d.]+%) vs {before}\)",
        "volume": rf"Transaction volume: \*{re.escape(money(now.volume))}\* \((n/a|[+-][\d.]+%) vs {before}\), "
                  rf"{now.count:,d} transactions",
        "new": rf"New customers: \*{now.new_customers:,d}\* \((n/a|[+-][\d.]+%) vs {before}\)",
    }.items():
        match = next((m for m in map(re.compile(regex).fullmatch, lines) if m), None)
        assert match is not None, (what, regex, lines)
        shown[what] = _pct_shown(match.group(1))
    assert pct_matches(shown["revenue"], now.revenue, then.revenue)
    assert pct_matches(shown["volume"], now.volume, then.volume)
    assert pct_matches(shown["new"], now.new_customers, then.new_customers)
    assert any(f"{month} is not over: figures for {days}" in line for line in lines)
    assert post["text"].startswith(f"Growth {month} month to date ({days}): revenue {money(now.revenue)} (")


def tiers_at(oracle: Oracle, month: date) -> dict[str, int]:
    """The governed tier rule (dbt_project.yml vars) applied at `month` to the source ledgers."""
    v = project_vars()
    gold, diamond, window = Decimal(str(v["tier_gold_min"])), Decimal(str(v["tier_diamond_min"])), v["tier_months"]
    counts = {"Bronze": 0, "Gold": 0, "Diamond": 0}
    for customer in oracle.customer_signup:
        first = oracle.first_month(customer)
        months = [m for m in (add_months(month, -k) for k in range(window)) if m >= first]
        if not months:
            continue  # not a customer yet at that month end
        average = sum(
            oracle.month_end_balance(customer, m) + oracle.investments_held(customer, m) for m in months
        ) / len(months)
        counts["Diamond" if average >= diamond else "Gold" if average >= gold else "Bronze"] += 1
    return counts


def test_director_tiers_with_change_since_last_month(
    bolt_app: Any, fake_slack: FakeSlack, people: People, facts: Facts, oracle: Oracle
) -> None:
    _, lines = ask(bolt_app, fake_slack, people.director, "tiers")
    now, before = tiers_at(oracle, facts.month.first_day), tiers_at(oracle, facts.month.previous.first_day)
    assert any(now[t] != before[t] for t in now)
    assert lines[0] == f"Customers per tier {facts.month}"
    assert bullets(lines) == [f"• {t}: *{now[t]:,d}* ({now[t] - before[t]:+,d} vs previous month)" for t in now]
    assert f"Total: *{sum(now.values()):,d}*" in lines


# Booked transactions per month and type, a P2P transfer once: a p2p_in that is the other side of a booked p2p_out
# (same accounts crossed, same amount, same time) is that transfer again.
TRANSACTIONS_ONCE_SQL = """
    SELECT date_trunc('month', t.booked_at AT TIME ZONE 'UTC')::date, t.transaction_type, count(*), sum(abs(t.amount))
    FROM transactions t
    WHERE t.status = 'booked' AND (t.booked_at AT TIME ZONE 'UTC')::date BETWEEN %s AND %s
      AND NOT (t.transaction_type = 'p2p_in' AND EXISTS (
          SELECT 1 FROM transactions o WHERE o.status = 'booked' AND o.transaction_type = 'p2p_out'
          AND o.account_id = t.counterparty_account_id AND o.counterparty_account_id = t.account_id
          AND o.amount = -t.amount AND o.booked_at = t.booked_at))
    GROUP BY 1, 2 ORDER BY 1, 2"""
# in totals over every customer a transfer's two sides are one "P2P transfer"
AGGREGATE_TYPE_LABELS = {**TYPE_LABELS, "p2p_out": "P2P transfer", "p2p_in": "P2P transfer"}


def test_director_transactions_per_month_and_chart(
    bolt_app: Any, fake_slack: Any, people: People, facts: Facts, chain: Chain
) -> None:
    from bot.money import currency

    post, lines = ask(bolt_app, fake_slack, people.director, "transactions")
    first = facts.month
    for _ in range(CHART_MONTHS - 1):
        first = first.previous
    (data_first,) = pg(chain, "SELECT min(date_trunc('month', booked_at AT TIME ZONE 'UTC')::date) FROM transactions"
                              " WHERE status = 'booked'")[0]
    assert Month.of(data_first) > first  # the data is shorter than twelve months: the range starts with it
    first = Month.of(data_first)
    rows = pg(chain, TRANSACTIONS_ONCE_SQL, (first.first_day, facts.month.last_day))
    assert len({r[0] for r in rows}) >= 6
    assert "p2p_out" in {r[1] for r in rows} and "p2p_in" not in {r[1] for r in rows}
    assert lines[0] == f"Transactions per month {first} – {facts.month}"
    expected = []
    for month in sorted({r[0] for r in rows}, reverse=True):
        of_month = sorted((r for r in rows if r[0] == month), key=lambda r: (-r[2], AGGREGATE_TYPE_LABELS[r[1]]))
        parts = " · ".join(f"{AGGREGATE_TYPE_LABELS[kind]}: {n:,d} ({money(volume)})"
                           for _, kind, n, volume in of_month)
        expected.append(f"`{Month.of(month)}` *{sum(r[2] for r in of_month):,d}* — {parts}")
    assert [line for line in lines if line.startswith("`")] == expected
    assert post["text"] == f"Transactions per month {first} – {facts.month} (chart in your DMs)"
    files = files_in_dm(fake_slack, people.director)
    assert set(files) == {"transactions.png", "transactions.csv"}
    assert files["transactions.png"].startswith(b"\x89PNG\r\n\x1a\n") and len(files["transactions.png"]) > 10_000
    table = list(csv.DictReader(io.StringIO(files["transactions.csv"].decode())))
    volume = f"volume_{currency().lower()}"
    assert [(r["month"], r["type"], int(r["count"]), Decimal(r[volume])) for r in table] == sorted(
        (str(Month.of(m)), AGGREGATE_TYPE_LABELS[kind], n, v) for m, kind, n, v in rows
    )


def test_director_define_revenue_is_the_governed_definition(
    bolt_app: Any, fake_slack: FakeSlack, people: People
) -> None:
    """The oracle here is the dbt YAML the semantic manifest is built from; the numbers are checked by growth."""
    _, lines = ask(bolt_app, fake_slack, people.director, "define revenue")
    spec = yaml.safe_load((DBT_PROJECT_DIR / "models" / "marts" / "semantic" / "transactions.yml").read_text())
    metric = next(m for m in spec["metrics"] if m["name"] == "revenue")
    measure = next(
        ms
        for model in spec["semantic_models"]
        for ms in model.get("measures", [])
        if ms["name"] == metric["type_params"]["measure"]
    )
    assert lines[0] == f"{metric['label']} (revenue)"
    assert lines[1] == governed(" ".join(metric["description"].split()))  # governed YAML: its `code` kept
    assert lines[2] == f"*Type:* {metric['type']}"
    assert lines[3].startswith(f"*Definition:* {measure['agg']} of `{measure['expr']}` over `")
    assert "`fee`" in lines[1] and "`interest_charge`" in lines[1]
