"""The statement PDF and CSV read the way a bank issues them, checked on the text pypdf extracts.

First on a statement built by hand (every transaction type, two accounts, an overdraft, long names, enough lines for
three pages), then end to end: a generated source where one customer has a busy month (a three-page statement), run
through ingestion, dbt and MetricFlow, whose PDF and CSV must equal hand-written SQL on the source PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from pypdf import PdfReader

from bot.labels import TRANSACTION_TYPE_LABELS, account_type_label, country_name, transaction_type_label
from bot.money import money, money_column
from bot.statement_pdf import Bank, iban_groups, statement_csv, statement_filename, statement_pdf
from ingestion.generator import generate
from ingestion.source import apply_schema
from semantic_layer.inputs import CustomerId, Month
from semantic_layer.service import MetricFlowSemanticLayer
from semantic_layer.types import PostalAddress, Statement, StatementAccount, StatementLine
from tests.dbt_chain import Chain

D = Decimal
BANK = Bank("Banque Exemple", "1 place de l'Exemple, 69001 Lyon, France",
            "Banque Exemple SA — registered in Lyon. Report any error within 30 days.")
MONTH = Month(2026, 10)
TABLE_HEADINGS = "Date Description Type Account Money in Money out Balance"
IBAN_CURRENT = "FR7617569104263032441093722"
IBAN_SAVINGS = "FR7617569106303346600359030"
TX_TYPES = tuple(TRANSACTION_TYPE_LABELS)
SIGN = {"deposit": 1, "p2p_in": 1, "loan_disbursement": 1, "investment_sell": 1, "interest_payout": 1}


def pages_text(content: bytes) -> list[list[str]]:
    """The lines of text on each page, stripped."""
    return [[line.strip() for line in page.extract_text().split("\n") if line.strip()]
            for page in PdfReader(io.BytesIO(content)).pages]


def hand_statement(n_lines: int, opening: Decimal | None = None) -> Statement:
    """A customer with a current and a savings account; the balance dips below zero mid-month and ends overdrawn."""
    accounts = (StatementAccount(501, IBAN_CURRENT, "current", date(2025, 2, 3), None),
                StatementAccount(502, IBAN_SAVINGS, "savings", date(2025, 6, 1), None))
    opening = D("150.00") if opening is None else opening
    lines, running = [], opening
    for i in range(n_lines):
        kind = TX_TYPES[i % len(TX_TYPES)]  # i = 6: a loan repayment of 12,345.67 -> overdrawn from then on
        amount = D(SIGN.get(kind, -1)) * (D("12345.67") if i == 6 else D(i * 7 % 300 + 1) + D("0.25"))
        running += amount
        account = 502 if kind in ("interest_payout",) else 501
        day = datetime(2026, 10, 1 + i * 30 // n_lines, 8, i % 60, tzinfo=UTC)
        description = "Transfer from current account" if i % 2 else "Card payment Boulangerie Paul"
        lines.append(StatementLine(9000 + i, account, day, kind, description, amount, running))
    return Statement(CustomerId(42), MONTH, "Émilie-Françoise de La Tour d'Auvergne", opening, tuple(lines), running,
                     PostalAddress("152 rue du Faubourg Saint-Antoine", "75011", "Paris", "FR"), accounts,
                     date(2026, 11, 20))


def row_text(statement: Statement, line: StatementLine) -> str:
    """A transaction row as pypdf extracts it: the cells joined by spaces, empty cells dropped."""
    iban = statement.iban_of(line.account_id) or ""
    kind = next(a.account_type for a in statement.accounts if a.account_id == line.account_id).capitalize()
    cells = [line.booked_at.date().isoformat(), line.description, transaction_type_label(line.transaction_type),
             f"{kind} …{iban[-4:]}", money(line.amount) if line.amount > 0 else "",
             money(-line.amount) if line.amount < 0 else "", money(line.running_balance)]
    return " ".join(c for c in cells if c)


def assert_statement_pdf(statement: Statement, bank: Bank, pages: list[list[str]]) -> None:
    """Everything a reader needs, on the right pages, in the right order (shared by the hand and the real case)."""
    total = len(pages)
    month_name = f"{statement.month.first_day:%B %Y}"
    for number, page in enumerate(pages, start=1):
        text = "\n".join(page)
        # the header and footer on every page
        assert page[0] == f"{bank.name} Account statement · {month_name}", page[:3]
        assert page[1] == f"{bank.address} {statement.full_name} · customer {statement.customer_id}"
        assert f"Page {number} of {total}" in text
        assert " ".join(bank.legal.split()) in " ".join(text.split())
        # the transactions table repeats its headings on every page it covers
        if number > 1 and statement.lines:
            assert page[2] == TABLE_HEADINGS, page[:4]
    first = pages[0]
    assert statement.full_name in first
    if statement.address is not None:
        a = statement.address
        assert [a.street, f"{a.postal_code} {a.city}", country_name(a.country_code)] == \
            first[first.index(statement.full_name) + 1:first.index(statement.full_name) + 4]
    period = f"{statement.month.first_day.day} {month_name} to {statement.month.last_day.day} {month_name}"
    issued = statement.as_of
    assert f"Period {period}" in first
    assert issued is not None and f"Issued on {issued.day} {issued:%B %Y}" in first
    assert f"Customer number {statement.customer_id}" in first
    for account in statement.accounts:
        assert any(line.startswith(f"{account_type_label(account.account_type)} {iban_groups(account.iban)} "
                                   f"{account.opened_on.isoformat()}") for line in first)
    opening_day = statement.month.previous.last_day
    money_in = sum(1 for line in statement.lines if line.amount > 0)
    money_out = sum(1 for line in statement.lines if line.amount < 0)

    def overdrawn(value: Decimal) -> str:
        return f"{money(value)} (overdrawn)" if value < 0 else money(value)

    assert f"Opening balance on {opening_day.day} {opening_day:%B %Y} {overdrawn(statement.opening_balance)}" in first
    assert f"Money in ({money_in} transaction{'' if money_in == 1 else 's'}) {money(statement.total_in)}" in first
    assert f"Money out ({money_out} transaction{'' if money_out == 1 else 's'}) {money(statement.money_out)}" in first
    assert not money(statement.money_out).startswith("-")
    closing = f"{statement.month.last_day.day} {month_name} {overdrawn(statement.closing_balance)}"
    assert f"Closing balance on {closing}" in first
    everything = [line for page in pages for line in page]
    if statement.lines:  # the table's last row: the totals and the closing balance, never alone on a page
        marker = " (overdrawn)" if statement.closing_balance < 0 else ""
        assert f"Totals, and closing balance on {statement.month.last_day.day} {month_name}{marker} " \
               f"{money(statement.total_in)} {money(statement.money_out)} {money(statement.closing_balance)}" \
               in pages[-1]
        assert re.match(r"\d{4}-\d{2}-\d{2} ", pages[-1][pages[-1].index(TABLE_HEADINGS) + 1])
    else:
        assert f"Closing balance on {statement.month.last_day.day} {month_name}: " \
               f"{overdrawn(statement.closing_balance)}" in pages[-1]
    rows = [line for line in everything if re.match(r"\d{4}-\d{2}-\d{2} ", line)]
    assert rows == [row_text(statement, line) for line in statement.lines]
    # human words only: no type code, no warehouse account id in a row
    assert not any("_" in line for line in rows)  # card_payment, p2p_out, ...
    assert not any(f" {line.account_id} " in row for line, row in zip(statement.lines, rows, strict=True))


# -- the document, on a statement built by hand ---------------------------------------------------------------------
def test_three_page_statement_has_header_footer_and_headings_on_every_page() -> None:
    statement = hand_statement(100)
    pdf = statement_pdf(statement, None, BANK)
    pages = pages_text(pdf.content)
    assert len(pages) == 3 and [f"Page {i} of 3" in "\n".join(p) for i, p in enumerate(pages, 1)] == [True] * 3
    assert pdf.filename == "statement-42-2026-10.pdf" == statement_filename(statement, "pdf")
    assert statement.closing_balance < 0 < statement.opening_balance  # the overdraft wording is exercised
    assert_statement_pdf(statement, BANK, pages)
    assert "-" not in next(line for line in pages[0] if line.startswith("Money out"))


def test_totals_row_never_stands_alone_on_a_page() -> None:
    """Whatever the number of lines, the last page starts with a transaction, not with the totals row alone (at
    some lengths the table fills a page exactly: the last transaction then moves over with the totals)."""
    moved = 0
    for n in range(30, 38):  # page 1 holds 34 rows: around it the totals row would spill over alone
        statement = hand_statement(n)
        pages = pages_text(statement_pdf(statement, None, BANK).content)
        assert_statement_pdf(statement, BANK, pages)
        moved += len(pages) > 1 and sum(1 for line in pages[-1] if re.match(r"\d{4}-\d{2}-\d{2} ", line)) == 1
    assert moved >= 1  # the case happened and was handled


def test_short_statement_one_page_and_a_month_without_transactions() -> None:
    statement = hand_statement(3, opening=D("-120.00"))
    pages = pages_text(statement_pdf(statement, None, BANK).content)
    assert len(pages) == 1 and "Page 1 of 1" in "\n".join(pages[0])
    assert f"Opening balance on 30 September 2026 {money(D('-120.00'))} (overdrawn)" in pages[0]
    assert_statement_pdf(statement, BANK, pages)
    quiet = replace(statement, lines=(), closing_balance=statement.opening_balance)
    pages = pages_text(statement_pdf(quiet, None, BANK).content)
    assert "No transactions were booked in this period." in pages[0]
    assert_statement_pdf(quiet, BANK, pages)


def test_a_description_too_long_for_its_column_wraps_instead_of_being_cut() -> None:
    statement = hand_statement(4)
    long = "Card payment Compagnie Internationale des Wagons-Lits et des Grands Express Européens, Paris Gare de Lyon"
    lines = (replace(statement.lines[0], description=long), *statement.lines[1:])
    pages = pages_text(statement_pdf(replace(statement, lines=lines), None, BANK).content)
    assert long in " ".join(pages[0])
    assert not any(long in line for line in pages[0])  # on two lines of its cell
    assert f"Customer number {statement.customer_id}" in pages[0]


def test_bank_details_come_from_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.settings import BotSettings

    monkeypatch.setenv("FINEFIN_BANK_NAME", "Caisse d'Épargne Démo")
    monkeypatch.setenv("FINEFIN_BANK_ADDRESS", "3 quai Test, 33000 Bordeaux, France")
    monkeypatch.setenv("FINEFIN_BANK_LEGAL", "Caisse Démo SA, agrément 12345.")
    bank = Bank.from_settings(BotSettings())
    assert bank == Bank("Caisse d'Épargne Démo", "3 quai Test, 33000 Bordeaux, France",
                        "Caisse Démo SA, agrément 12345.")
    pages = pages_text(statement_pdf(hand_statement(4), None, bank).content)
    assert_statement_pdf(hand_statement(4), bank, pages)
    default = Bank.from_settings(BotSettings(_env_file=None))  # type: ignore[call-arg]
    assert default.name and default.address and default.legal


def test_csv_names_accounts_by_iban_types_in_words_and_amounts_with_their_currency() -> None:
    statement = hand_statement(15)
    attachment = statement_csv(statement)
    assert attachment.filename == "statement-42-2026-10.csv"
    table = list(csv.DictReader(io.StringIO(attachment.content.decode())))
    assert list(table[0]) == ["booked_at", "transaction_id", "iban", "type", "description", money_column("amount"),
                              money_column("running_balance")]
    assert money_column("amount").startswith("amount_")
    assert table[0]["type"] == "Opening balance" and D(table[0][money_column("running_balance")]) == D("150.00")
    assert table[-1]["type"] == "Closing balance"
    assert D(table[-1][money_column("running_balance")]) == statement.closing_balance
    for row, line in zip(table[1:-1], statement.lines, strict=True):
        assert row["iban"] == statement.iban_of(line.account_id) and row["iban"] in (IBAN_CURRENT, IBAN_SAVINGS)
        assert row["type"] == transaction_type_label(line.transaction_type)
        assert D(row[money_column("amount")]) == line.amount
    assert {row["type"] for row in table[1:-1]} <= set(TRANSACTION_TYPE_LABELS.values())


def test_type_labels_cover_the_schema() -> None:
    schema = (Path(__file__).resolve().parents[1] / "ingestion" / "sql" / "001_operational_schema.sql").read_text()
    listed = re.search(r"transaction_type IN \(([^)]*)\)", schema)
    assert listed is not None
    codes = set(re.findall(r"'([a-z0-9_]+)'", listed.group(1)))
    assert codes == set(TRANSACTION_TYPE_LABELS)
    assert transaction_type_label("standing_order") == "Standing order"  # a future code stays readable


# -- end to end: a busy month of a generated customer, against the source -------------------------------------------
BUSY_EXTRA = 80  # card payments added to one customer's month: enough for three pages


@pytest.fixture(scope="module")
def busy(make_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[Chain, MetricFlowSemanticLayer, int, Month]]:
    """A generated source where customer `busy` gets BUSY_EXTRA more card payments in the last complete month."""
    dsn = make_database()
    apply_schema(dsn)
    end = date(2026, 11, 12)
    generate(dsn, customers=120, months=6, seed=515, end_date=end)
    month = Month(2026, 10)
    with psycopg.connect(dsn) as conn:
        customer, account = conn.execute(
            "SELECT customer_id, account_id FROM accounts WHERE account_type = 'current' AND opened_at < %s"
            " ORDER BY customer_id LIMIT 1", (month.first_day - timedelta(days=40),)).fetchone()  # type: ignore[misc]
        conn.execute(
            "INSERT INTO transactions (transaction_id, account_id, transaction_type, amount, status, booked_at,"
            " description, created_at, updated_at)"
            " SELECT (SELECT max(transaction_id) FROM transactions) + g, %s, 'card_payment', -(g %% 40 + 1.99),"
            " 'booked', %s::timestamptz + g * interval '8 hours', 'Card payment Boulangerie Paul',"
            " %s::timestamptz + g * interval '8 hours', %s::timestamptz + g * interval '8 hours'"
            " FROM generate_series(1, %s) g",
            (account, month.first_day, month.first_day, month.first_day, BUSY_EXTRA))
    root = tmp_path_factory.mktemp("statement_pdf")
    chain = Chain(dsn=dsn, root=root, warehouse=root / "warehouse.duckdb", data_dir=root / "data")
    chain.ingest()
    assert not chain.build().failed
    chain.publish()
    sl = chain.semantic_layer()
    yield chain, sl, int(customer), month
    sl.engine.close()


def test_busy_month_pdf_spans_three_pages_and_equals_the_source(
        busy: tuple[Chain, MetricFlowSemanticLayer, int, Month]) -> None:
    chain, sl, customer, month = busy
    statement = sl.statement(CustomerId(customer), month)
    with psycopg.connect(chain.dsn) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        booked = ("SELECT coalesce(sum(t.amount), 0) FROM transactions t JOIN accounts a USING (account_id)"
                  " WHERE a.customer_id = %s AND t.status = 'booked' AND (t.booked_at AT TIME ZONE 'UTC')::date <= %s")
        (opening,) = conn.execute(booked, (customer, month.previous.last_day)).fetchone()  # type: ignore[misc]
        (closing,) = conn.execute(booked, (customer, month.last_day)).fetchone()  # type: ignore[misc]
        lines = conn.execute(
            "SELECT (t.booked_at AT TIME ZONE 'UTC')::date, t.description, t.transaction_type, a.account_type,"
            " a.iban, t.amount FROM transactions t JOIN accounts a USING (account_id)"
            " WHERE a.customer_id = %s AND t.status = 'booked'"
            " AND (t.booked_at AT TIME ZONE 'UTC')::date BETWEEN %s AND %s ORDER BY t.booked_at, t.transaction_id",
            (customer, month.first_day, month.last_day)).fetchall()
        name, street, postal_code, city, country = conn.execute(
            "SELECT full_name, street, postal_code, city, country FROM customers WHERE customer_id = %s",
            (customer,)).fetchone()  # type: ignore[misc]
        ibans = conn.execute("SELECT account_type, iban, (opened_at AT TIME ZONE 'UTC')::date FROM accounts"
                             " WHERE customer_id = %s ORDER BY opened_at", (customer,)).fetchall()
        (as_of,) = conn.execute("SELECT max((booked_at AT TIME ZONE 'UTC')::date) FROM transactions"
                                " WHERE status = 'booked'").fetchone()  # type: ignore[misc]
    assert len(lines) > BUSY_EXTRA and opening + sum(r[5] for r in lines) == closing

    bank = Bank.from_settings()
    pdf = statement_pdf(statement, None, bank)
    pages = pages_text(pdf.content)
    assert len(pages) == 3
    assert [f"Page {i} of 3" in "\n".join(page) for i, page in enumerate(pages, 1)] == [True, True, True]
    assert_statement_pdf(statement, bank, pages)  # the layout rules, on the semantic layer's statement
    # and the figures, from the source PostgreSQL alone
    first = pages[0]
    assert f"{name} · customer {customer}" in pages[1][1]
    assert first[first.index(name) + 1:first.index(name) + 4] == [street, f"{postal_code} {city}",
                                                                  country_name(country)]
    assert f"Issued on {as_of.day} {as_of:%B %Y}" in first
    for kind, iban, opened in ibans:
        assert f"{account_type_label(kind)} {iban_groups(iban)} {opened.isoformat()}" in first
    money_in = sum((r[5] for r in lines if r[5] > 0), D("0"))
    money_out = -sum((r[5] for r in lines if r[5] < 0), D("0"))
    assert any(line.startswith("Money in (") and line.endswith(f" {money(money_in)}") for line in first)
    assert any(line.startswith("Money out (") and line.endswith(f" {money(money_out)}") for line in first)
    running, expected = opening, []
    for day, description, kind, account_type, iban, amount in lines:
        running += amount
        cells = [day.isoformat(), description, transaction_type_label(kind),
                 f"{account_type.capitalize()} …{iban[-4:]}", money(amount) if amount > 0 else "",
                 money(-amount) if amount < 0 else "", money(running)]
        expected.append(" ".join(c for c in cells if c))
    rows = [line for page in pages for line in page if re.match(r"\d{4}-\d{2}-\d{2} ", line)]
    assert rows == expected
    assert running == closing == statement.closing_balance

    table = list(csv.DictReader(io.StringIO(statement_csv(statement).content.decode())))
    assert [(r["iban"], D(r[money_column("amount")])) for r in table[1:-1]] == [(r[4], r[5]) for r in lines]
    assert D(table[0][money_column("running_balance")]) == opening
    assert D(table[-1][money_column("running_balance")]) == closing
