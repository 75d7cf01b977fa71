"""The synthetic data generator on a real PostgreSQL: determinism, constraints, the persona mix, replace, simulate_days.

Every scenario check is an SQL query over the generated rows, written independently of the generator's code.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from finefin.errors import FinefinError
from ingestion.generator import (
    EmptySourceError,
    GenerateSummary,
    GeneratorArgumentError,
    SimulateSummary,
    SourceNotEmptyError,
    generate,
    simulate_days,
)
from ingestion.source import PRIMARY_KEYS, SOURCE_TABLES, apply_schema, connect

CUSTOMERS = 400
MONTHS = 14
SEED = 7
END = date(2026, 4, 30)  # history Mar 2025 .. Apr 2026: red streaks can cross the year boundary
HISTORY_START = date(2025, 3, 1)


def _generated(make_database: Callable[[], str], seed: int = SEED, **kwargs: object) -> str:
    dsn = make_database()
    apply_schema(dsn)
    args: dict[str, object] = {"customers": CUSTOMERS, "months": MONTHS, "seed": seed, "end_date": END}
    args.update(kwargs)
    generate(dsn, **args)  # type: ignore[arg-type]
    return dsn


def checksums(dsn: str) -> dict[str, str]:
    """md5 over every row of every table, in primary-key order."""
    out = {}
    with connect(dsn) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        for table in SOURCE_TABLES:
            row = conn.execute(
                f"SELECT md5(string_agg(t::text, '|' ORDER BY {PRIMARY_KEYS[table]})) FROM {table} t"
            ).fetchone()
            out[table] = row[0]
    return out


def query(dsn: str, sql: str, params: tuple[object, ...] = ()) -> list[tuple]:
    with connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def scalar(dsn: str, sql: str, params: tuple[object, ...] = ()) -> object:
    return query(dsn, sql, params)[0][0]


@pytest.fixture(scope="module")
def source(make_database: Callable[[], str]) -> str:
    """One generated source shared by the read-only checks of this module."""
    return _generated(make_database)


# -- determinism ---------------------------------------------------------------------------------------------------
def test_same_seed_gives_identical_rows_and_other_seed_differs(source: str, make_database: Callable[[], str]) -> None:
    # a client whose session time zone is not UTC must produce the same instants
    again = _generated(lambda: psycopg.conninfo.make_conninfo(make_database(), options="-c TimeZone=Asia/Tokyo"))
    other = _generated(make_database, seed=SEED + 1)
    reference = checksums(source)
    assert all(reference.values())
    assert checksums(again) == reference
    different = checksums(other)
    assert all(different[t] != reference[t] for t in SOURCE_TABLES)


def test_summary_counts_match_the_tables(make_database: Callable[[], str]) -> None:
    dsn = make_database()
    apply_schema(dsn)
    summary = generate(dsn, customers=150, months=4, seed=1, end_date=END)
    assert isinstance(summary, GenerateSummary)
    for table in SOURCE_TABLES:
        assert summary.rows[table] == scalar(dsn, f"SELECT count(*) FROM {table}")
    assert summary.rows["customers"] == 150
    assert summary.rows_per_second > 0
    assert "transactions" in str(summary)


# -- constraints ---------------------------------------------------------------------------------------------------
def _catalog(dsn: str) -> tuple[set[tuple], set[tuple]]:
    constraints = set(query(dsn, """
        SELECT conrelid::regclass::text, conname, contype::text, pg_get_constraintdef(oid), convalidated
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace"""))
    indexes = set(query(dsn, "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"))
    return constraints, indexes


def test_all_constraints_and_indexes_of_the_ddl_exist_and_are_validated(source: str, empty_source: str) -> None:
    constraints, indexes = _catalog(source)
    expected_constraints, expected_indexes = _catalog(empty_source)
    assert constraints == expected_constraints
    assert indexes == expected_indexes
    assert all(c[4] for c in constraints)  # convalidated
    kinds = {c[2] for c in constraints}
    assert {"p", "f", "c"} <= kinds
    assert len([i for i in indexes if i[1] == "customers_email_key"]) == 1


def test_timestamps_inside_the_history_and_money_exact(source: str) -> None:
    lo, hi = (datetime.combine(d, datetime.min.time()).isoformat() + "+00:00"
              for d in (HISTORY_START, END + timedelta(days=1)))
    for table, column in (("customers", "created_at"), ("accounts", "opened_at"), ("transactions", "created_at"),
                          ("transactions", "updated_at"), ("loans", "updated_at"), ("investments", "updated_at")):
        first, last = query(source, f"SELECT min({column}), max({column}) FROM {table}")[0]
        assert first >= datetime.fromisoformat(lo) and last < datetime.fromisoformat(hi), (table, column)
    # every amount has at most two decimals (no float artefacts), the sign follows the type
    assert scalar(source, "SELECT count(*) FROM transactions WHERE amount <> round(amount, 2)") == 0
    assert scalar(source, """SELECT count(*) FROM transactions t JOIN accounts a USING (account_id)
                             WHERE t.created_at < a.opened_at""") == 0


# -- the scenario mix ----------------------------------------------------------------------------------------------
def test_signups_grow_month_over_month(source: str) -> None:
    rows = query(source, """SELECT date_trunc('month', created_at AT TIME ZONE 'UTC'), count(*) FROM customers
                            GROUP BY 1 ORDER BY 1""")
    counts = [n for _, n in rows]
    assert len(counts) == MONTHS
    full = counts[:-1] if END.day < 28 else counts
    ups = sum(b >= a for a, b in itertools.pairwise(full))
    assert ups >= 0.8 * (len(full) - 1)
    assert full[-1] > 1.5 * full[0]


def test_accounts_opened_after_signup_and_some_frozen_or_closed(source: str) -> None:
    assert scalar(source, """SELECT count(*) FROM accounts a JOIN customers c USING (customer_id)
                             WHERE a.opened_at < c.created_at""") == 0
    per_customer = dict(query(source, """SELECT n, count(*) FROM (SELECT customer_id, count(*) n FROM accounts
                                         GROUP BY 1) x GROUP BY n"""))
    assert set(per_customer) <= {1, 2} and per_customer.get(2, 0) > 0.15 * CUSTOMERS
    statuses = dict(query(source, "SELECT status, count(*) FROM accounts GROUP BY 1"))
    assert statuses.get("frozen", 0) > 0 and statuses.get("closed", 0) > 0
    assert statuses["active"] > 0.9 * sum(statuses.values())
    # a closed account has nothing booked after its closing and a zero balance
    assert scalar(source, """SELECT count(*) FROM accounts a WHERE a.status = 'closed' AND (
        (SELECT coalesce(sum(amount), 0) FROM transactions t WHERE t.account_id = a.account_id
           AND t.status = 'booked') <> 0
        OR EXISTS (SELECT 1 FROM transactions t WHERE t.account_id = a.account_id
                   AND t.booked_at > a.closed_at))""") == 0


def test_p2p_transfers_are_balanced_pairs(source: str) -> None:
    outs, ins = query(source, """SELECT count(*) FILTER (WHERE transaction_type = 'p2p_out'),
                                        count(*) FILTER (WHERE transaction_type = 'p2p_in') FROM transactions""")[0]
    assert outs == ins > CUSTOMERS
    unmatched = scalar(source, """
        SELECT count(*) FROM transactions o
        WHERE o.transaction_type = 'p2p_out' AND (
            SELECT count(*) FROM transactions i
            WHERE i.transaction_type = 'p2p_in' AND i.account_id = o.counterparty_account_id
              AND i.counterparty_account_id = o.account_id AND i.amount = -o.amount AND i.status = o.status
              AND i.booked_at IS NOT DISTINCT FROM o.booked_at
              AND i.scheduled_for IS NOT DISTINCT FROM o.scheduled_for) <> 1""")
    assert unmatched == 0
    assert scalar(source, """SELECT count(*) FROM transactions t JOIN accounts a ON a.account_id = t.account_id
                             JOIN accounts b ON b.account_id = t.counterparty_account_id
                             WHERE a.customer_id = b.customer_id""") == 0


MONTH_END_BALANCES = """
WITH months AS (
    SELECT m::date AS month, least(m + interval '1 month', %(cut)s::timestamptz) AS cut
    FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz, interval '1 month') m
),
balances AS (
    SELECT c.customer_id, months.month,
           coalesce((SELECT sum(t.amount) FROM transactions t JOIN accounts a USING (account_id)
                     WHERE a.customer_id = c.customer_id AND t.status = 'booked' AND t.booked_at < months.cut), 0) AS b
    FROM customers c JOIN months ON c.created_at < months.cut
)
"""
STREAKS = MONTH_END_BALANCES + """,
islands AS (
    SELECT customer_id, month, b < 0 AS red,
           row_number() OVER (PARTITION BY customer_id ORDER BY month)
           - row_number() OVER (PARTITION BY customer_id, b < 0 ORDER BY month) AS grp
    FROM balances
)
SELECT customer_id, count(*) AS months, min(month) AS first, max(month) AS last
FROM islands WHERE red GROUP BY customer_id, grp
"""


def _month_params() -> dict[str, object]:
    return {"cut": f"{END + timedelta(days=1)} 00:00+00", "start": f"{HISTORY_START} 00:00+00",
            "end": f"{END.replace(day=1)} 00:00+00"}


def test_red_persona_streaks(source: str) -> None:
    with connect(source) as conn:
        streaks = conn.execute(STREAKS, _month_params()).fetchall()  # type: ignore[arg-type]
    long = [s for s in streaks if s[1] >= 3]
    red_customers = {s[0] for s in long}
    assert len(red_customers) >= 0.03 * CUSTOMERS
    assert any(s[1] >= 5 for s in long)
    assert any(s[2].year != s[3].year for s in long), "no streak crosses a year boundary"
    assert any(s[3] == END.replace(day=1) for s in long), "no streak is still ongoing at end_date"


def test_balances_are_plausible(source: str) -> None:
    """Non-red customers rarely end a month below zero; red ones mostly stay within their overdraft limit."""
    with connect(source) as conn:
        rows = conn.execute(MONTH_END_BALANCES + """
            SELECT count(*), count(*) FILTER (WHERE b < 0),
                   count(*) FILTER (WHERE b < -(SELECT sum(overdraft_limit) FROM accounts a
                                                WHERE a.customer_id = balances.customer_id))
            FROM balances""", _month_params()).fetchone()  # type: ignore[arg-type]
    total, negative, beyond_limit = rows
    assert 0.01 * total < negative < 0.15 * total
    assert beyond_limit < 0.2 * negative


def test_customers_never_red_at_month_end_rarely_dip_inside_a_month(source: str) -> None:
    with connect(source) as conn:
        red = {r[0] for r in conn.execute(MONTH_END_BALANCES + "SELECT DISTINCT customer_id FROM balances WHERE b < 0",
                                          _month_params()).fetchall()}  # type: ignore[arg-type]
    running_min = dict(query(source, """
        SELECT customer_id, min(running) FROM (
            SELECT a.customer_id, sum(t.amount) OVER (PARTITION BY a.customer_id
                                                      ORDER BY t.booked_at, t.transaction_id) AS running
            FROM transactions t JOIN accounts a USING (account_id) WHERE t.status = 'booked') x
        GROUP BY customer_id"""))
    others = [c for c in running_min if c not in red]
    assert len(others) > 0.8 * CUSTOMERS
    dipped = sum(1 for c in others if running_min[c] < 0)
    assert dipped < 0.05 * len(others)


def test_loans_match_their_transactions(source: str) -> None:
    rows = query(source, """
        SELECT l.loan_id, l.status, l.principal, l.outstanding_principal,
               (SELECT coalesce(sum(-t.amount), 0) FROM transactions t WHERE t.loan_id = l.loan_id
                  AND t.transaction_type = 'loan_repayment' AND t.status = 'booked') AS repaid,
               (SELECT count(*) FROM transactions t WHERE t.loan_id = l.loan_id AND t.status = 'booked'
                  AND t.transaction_type = 'loan_disbursement' AND t.amount = l.principal
                  AND t.booked_at = l.disbursed_at AND t.account_id = l.account_id) AS disbursed
        FROM loans l""")
    assert len(rows) >= 0.05 * CUSTOMERS
    for loan_id, status, principal, outstanding, repaid, disbursed in rows:
        assert outstanding == principal - repaid, loan_id
        assert disbursed == 1, loan_id
        assert (status == "repaid") == (outstanding == 0), loan_id
    assert sum(r[4] > 0 for r in rows) > 0.5 * len(rows)
    assert scalar(source, "SELECT count(*) FROM transactions WHERE transaction_type = 'interest_charge' "
                          "AND description = 'Loan interest'") > 0


def test_investments_match_their_transactions(source: str) -> None:
    rows = query(source, """
        SELECT i.investment_id, i.status, i.invested_amount, i.closed_at,
               (SELECT coalesce(sum(-t.amount) FILTER (WHERE t.transaction_type = 'investment_buy'), 0)
                     - coalesce(sum(t.amount) FILTER (WHERE t.transaction_type = 'investment_sell'), 0)
                FROM transactions t WHERE t.investment_id = i.investment_id AND t.status = 'booked') AS net,
               (SELECT max(t.booked_at) FROM transactions t WHERE t.investment_id = i.investment_id) AS last_move
        FROM investments i""")
    assert len(rows) >= 0.05 * CUSTOMERS
    for inv_id, status, invested, closed_at, net, last_move in rows:
        assert invested == net, inv_id
        if status == "closed":
            assert invested == 0 and closed_at == last_move, inv_id
    assert scalar(source, "SELECT count(*) FROM transactions WHERE transaction_type = 'investment_sell'") > 0


def test_bank_revenue_and_savings_interest(source: str) -> None:
    counts = dict(query(source, """SELECT transaction_type, count(*) FROM transactions WHERE status = 'booked'
                                   GROUP BY 1"""))
    assert counts["fee"] > CUSTOMERS  # monthly fees
    assert counts["interest_charge"] > 0 and counts["interest_payout"] > 0
    # overdraft interest is charged only to accounts that were negative at the previous month end
    assert scalar(source, """SELECT count(*) FROM transactions t JOIN accounts a USING (account_id)
                             WHERE t.transaction_type = 'interest_payout' AND a.account_type <> 'savings'""") == 0
    assert counts["card_payment"] > counts["withdrawal"] > 0
    assert counts["deposit"] >= 0.9 * scalar(source, "SELECT count(*) FROM customers")


def test_heavy_withdrawers_are_a_visible_share(source: str) -> None:
    shares = [r[0] for r in query(source, """
        SELECT sum(-t.amount) FILTER (WHERE t.transaction_type = 'withdrawal' AND t.description = 'ATM withdrawal')
               / sum(-t.amount) FILTER (WHERE t.transaction_type IN ('withdrawal', 'card_payment'))
        FROM transactions t JOIN accounts a USING (account_id)
        WHERE t.status = 'booked' GROUP BY a.customer_id""")]
    heavy = sum(1 for x in shares if x is not None and x > 0.5)
    assert 0.04 * CUSTOMERS < heavy < 0.25 * CUSTOMERS


def test_statuses_and_scheduled_window(source: str) -> None:
    shares = dict(query(source, "SELECT status, count(*)::float / sum(count(*)) OVER () FROM transactions GROUP BY 1"))
    assert shares["booked"] > 0.9
    assert 0.003 < shares["cancelled"] + shares["failed"] < 0.05
    assert scalar(source, "SELECT count(*) FROM transactions WHERE status <> 'booked' AND booked_at IS NOT NULL") == 0
    first, last = query(source, "SELECT min(scheduled_for), max(scheduled_for) FROM transactions "
                                "WHERE status = 'scheduled'")[0]
    assert first > END and last <= END + timedelta(days=30)
    kinds = {r[0] for r in query(source, "SELECT DISTINCT transaction_type FROM transactions "
                                         "WHERE status = 'scheduled'")}
    assert {"deposit", "withdrawal", "loan_repayment", "p2p_out", "p2p_in"} <= kinds
    # no order on a frozen account
    assert scalar(source, """SELECT count(*) FROM transactions t JOIN accounts a USING (account_id)
                             WHERE t.status = 'scheduled' AND a.status <> 'active'""") == 0


def test_customer_profiles(source: str) -> None:
    assert scalar(source, "SELECT count(DISTINCT lower(email)) FROM customers") == CUSTOMERS
    ages = query(source, "SELECT min(age(created_at::date, birth_date)), max(age(created_at::date, birth_date)) "
                         "FROM customers")[0]
    assert ages[0].days >= 0 and ages[0] >= timedelta(days=18 * 365)
    assert scalar(source, "SELECT count(DISTINCT country) FROM customers") > 2
    assert scalar(source, "SELECT count(*) FROM customers WHERE updated_at > created_at") > 0


IBAN_LETTERS = {chr(ord("A") + i): str(10 + i) for i in range(26)}
POSTAL_CODE_FORMATS = {"FR": r"^\d{5}$", "BE": r"^\d{4}$", "DE": r"^\d{5}$", "ES": r"^\d{5}$", "IT": r"^\d{5}$",
                       "NL": r"^\d{4} [A-Z]{2}$", "PT": r"^\d{4}-\d{3}$", "LU": r"^L-\d{4}$"}


def iban_checksum_ok(iban: str) -> bool:
    """ISO 13616 / ISO 7064 mod 97-10: country and check digits moved to the end, letters as 10..35, mod 97 == 1."""
    rearranged = iban[4:] + iban[:4]
    return int("".join(IBAN_LETTERS.get(c, c) for c in rearranged)) % 97 == 1


def french_rib_key_ok(iban: str) -> bool:
    """The French BBAN's own key: 97 - (89 bank + 15 branch + 3 account) mod 97 (numeric account numbers)."""
    bank, branch, account, key = int(iban[4:9]), int(iban[9:14]), int(iban[14:25]), int(iban[25:27])
    return key == 97 - (89 * bank + 15 * branch + 3 * account) % 97


def assert_ibans_valid(dsn: str) -> list[str]:
    ibans = [r[0] for r in query(dsn, "SELECT iban FROM accounts ORDER BY account_id")]
    assert ibans and None not in ibans
    assert len(set(ibans)) == len(ibans)
    assert all(re.fullmatch(r"FR\d{25}", iban) for iban in ibans), ibans[:5]
    assert all(iban_checksum_ok(iban) and french_rib_key_ok(iban) for iban in ibans)
    assert not iban_checksum_ok(ibans[0][:-1] + str((int(ibans[0][-1]) + 1) % 10))  # the check can fail
    return ibans


def test_accounts_carry_unique_valid_ibans(source: str, make_database: Callable[[], str]) -> None:
    ibans = assert_ibans_valid(source)
    assert all(iban.startswith("FR76") for iban in ibans)  # a valid French RIB key always gives check digits 76
    # the internal account id is not readable in the IBAN's account number
    ids = [r[0] for r in query(source, "SELECT account_id FROM accounts ORDER BY account_id")]
    assert sum(int(iban[14:25]) == account_id for iban, account_id in zip(ibans, ids, strict=True)) == 0
    # deterministic from the seed: another seed changes the branches, the ids' account numbers stay distinct
    other = _generated(make_database, seed=SEED + 1, customers=60, months=3)
    assert_ibans_valid(other)


def test_customers_have_postal_addresses_in_their_country(source: str) -> None:
    rows = query(source, "SELECT country, street, postal_code, city FROM customers")
    assert len(rows) == CUSTOMERS
    for country, street, postal_code, city in rows:
        assert street and street.strip() == street and re.search(r"\d", street), street
        assert city and city.strip() == city
        assert re.fullmatch(POSTAL_CODE_FORMATS[country], postal_code), (country, postal_code)
    assert len({r[1] for r in rows}) > CUSTOMERS // 4  # streets vary


# -- replace -------------------------------------------------------------------------------------------------------
def test_refuses_a_non_empty_source_unless_replace(make_database: Callable[[], str]) -> None:
    dsn = _generated(make_database, seed=3, customers=120, months=3)
    before = checksums(dsn)
    with pytest.raises(SourceNotEmptyError, match="replace") as info:
        generate(dsn, customers=120, months=3, seed=4, end_date=END)
    assert isinstance(info.value, FinefinError)
    assert checksums(dsn) == before
    generate(dsn, customers=120, months=3, seed=4, end_date=END, replace=True)
    fresh = _generated(make_database, seed=4, customers=120, months=3)
    assert checksums(dsn) == checksums(fresh) != before
    constraints, _ = _catalog(dsn)
    assert all(c[4] for c in constraints)


def test_bad_arguments(empty_source: str) -> None:
    with pytest.raises(GeneratorArgumentError):
        generate(empty_source, customers=0, months=3, seed=1, end_date=END)
    with pytest.raises(GeneratorArgumentError):
        generate(empty_source, customers=10, months=0, seed=1, end_date=END)
    with pytest.raises(EmptySourceError):
        simulate_days(empty_source, days=1, seed=1)


# -- simulate_days ---------------------------------------------------------------------------------------------------
def _max_updated(dsn: str) -> datetime:
    parts = " UNION ALL ".join(f"SELECT max(updated_at) FROM {t}" for t in SOURCE_TABLES)
    return scalar(dsn, f"SELECT max(m) FROM ({parts}) x(m)")  # type: ignore[return-value]


def test_simulate_days_adds_and_updates_after_the_cursor(make_database: Callable[[], str]) -> None:
    dsn = _generated(make_database, customers=300, months=5)
    cursor = _max_updated(dsn)
    counts = {t: scalar(dsn, f"SELECT count(*) FROM {t}") for t in SOURCE_TABLES}
    due = scalar(dsn, "SELECT count(*) FROM transactions WHERE status = 'scheduled' AND scheduled_for <= %s",
                 (END + timedelta(days=3),))
    summary = simulate_days(dsn, days=3, seed=11)
    assert isinstance(summary, SimulateSummary)
    assert summary.days == [END + timedelta(days=d) for d in (1, 2, 3)]
    for table in SOURCE_TABLES:
        now = scalar(dsn, f"SELECT count(*) FROM {table}")
        assert now - counts[table] == summary.inserted[table], table
        changed = scalar(dsn, f"SELECT count(*) FROM {table} WHERE updated_at > %s", (cursor,))
        assert changed == summary.inserted[table] + summary.updated[table], table
        # every change falls inside the simulated days
        first, last = query(dsn, f"SELECT min(updated_at), max(updated_at) FROM {table} "
                                 "WHERE updated_at > %s", (cursor,))[0]
        if first is not None:
            assert first.date() >= END + timedelta(days=1) and last.date() <= END + timedelta(days=3)
    assert summary.inserted["customers"] > 0 and summary.inserted["transactions"] > 100
    assert due > 0 and summary.updated["transactions"] == due  # every due order was booked
    assert scalar(dsn, "SELECT count(*) FROM transactions WHERE status = 'scheduled' AND scheduled_for <= %s",
                  (END + timedelta(days=3),)) == 0
    assert summary.updated["customers"] > 0 and summary.updated["investments"] > 0
    # the first simulated day opens a month: each fee-paying active account is charged its plan once
    charged = dict(query(dsn, """SELECT account_id, amount FROM transactions WHERE transaction_type = 'fee'
                                 AND booked_at >= %s ORDER BY 1""", (cursor,)))
    plans = dict(query(dsn, """SELECT DISTINCT ON (t.account_id) t.account_id, t.amount FROM transactions t
                               JOIN accounts a USING (account_id) WHERE t.transaction_type = 'fee'
                               AND a.status = 'active' AND t.booked_at < %s
                               ORDER BY t.account_id, t.booked_at DESC""", (cursor,)))
    assert charged == plans and len(charged) > 0
    # the books still agree after the simulated days
    assert scalar(dsn, """SELECT count(*) FROM loans l WHERE l.outstanding_principal <> l.principal
        - (SELECT coalesce(sum(-amount), 0) FROM transactions t WHERE t.loan_id = l.loan_id
           AND t.transaction_type = 'loan_repayment' AND t.status = 'booked')""") == 0
    assert scalar(dsn, """SELECT count(*) FROM investments i WHERE i.invested_amount <>
        (SELECT coalesce(sum(-amount), 0) FROM transactions t WHERE t.investment_id = i.investment_id
           AND t.status = 'booked')""") == 0
    assert scalar(dsn, """SELECT count(*) FROM transactions WHERE status = 'scheduled'
                          AND scheduled_for > %s + 30""", (END + timedelta(days=3),)) == 0
    # the new customers and accounts have addresses and IBANs, unique across generated and simulated accounts
    assert scalar(dsn, "SELECT count(*) FROM customers WHERE street IS NULL OR postal_code IS NULL"
                       " OR city IS NULL") == 0
    assert_ibans_valid(dsn)
    # a second call continues from the new current day
    assert simulate_days(dsn, days=1, seed=11).days == [END + timedelta(days=4)]


def test_simulate_days_is_deterministic(make_database: Callable[[], str]) -> None:
    a = _generated(make_database, customers=150, months=3)
    b = _generated(make_database, customers=150, months=3)
    c = _generated(make_database, customers=150, months=3)
    simulate_days(a, days=2, seed=5)
    simulate_days(b, days=2, seed=5)
    simulate_days(c, days=2, seed=6)
    assert checksums(a) == checksums(b)
    assert checksums(a)["transactions"] != checksums(c)["transactions"]


def test_loans_repay_on_simulated_days(make_database: Callable[[], str]) -> None:
    """Instalments due on the simulated days lower outstanding principal by exactly their amount."""
    dsn = _generated(make_database, customers=300, months=6, end_date=date(2026, 4, 9))
    due = query(dsn, """SELECT loan_id, -amount FROM transactions WHERE status = 'scheduled'
                        AND transaction_type = 'loan_repayment' AND scheduled_for = '2026-04-10'""")
    assert due, "test data must have an instalment due on the first simulated day"
    before = dict(query(dsn, "SELECT loan_id, outstanding_principal FROM loans"))
    summary = simulate_days(dsn, days=1, seed=2)
    assert summary.updated["loans"] == len(due)
    after = dict(query(dsn, "SELECT loan_id, outstanding_principal FROM loans WHERE loan_id = ANY(%s)",
                       ([d[0] for d in due],)))
    for loan_id, amount in due:
        assert after[loan_id] == before[loan_id] - amount
    # the next instalment is scheduled 30 days later
    assert scalar(dsn, """SELECT count(*) FROM transactions WHERE transaction_type = 'loan_repayment'
                          AND status = 'scheduled' AND scheduled_for = '2026-05-10'""") > 0


def test_simulate_rejects_bad_days(source: str) -> None:
    with pytest.raises(GeneratorArgumentError):
        simulate_days(source, days=0, seed=1)


def test_missing_schema_is_a_clear_error(make_database: Callable[[], str]) -> None:
    with pytest.raises(FinefinError, match="finefin source init"):
        generate(make_database(), customers=5, months=1, seed=1, end_date=END)


def test_connection_errors_are_finefin_errors() -> None:
    with pytest.raises(FinefinError):
        generate("postgresql://nobody@127.0.0.1:1/none", customers=1, months=1, seed=1, end_date=END)


def test_binary_and_csv_encodings_load_the_same_values(empty_source: str) -> None:
    """Edge amounts, NULLs and timestamps survive both COPY encodings exactly."""
    import numpy as np

    from ingestion.generator.arrow_rows import to_csv
    from ingestion.generator.bulk_load import copy_csv
    from ingestion.generator.generate import transaction_binary, transaction_columns
    from ingestion.generator.ledger import COLUMNS, TxRows

    cents = np.array([-1, 1, 99, -100, 10_000, 123_456_789, -99_999_999_999_999, 99_999_999_999_999, 100_000_000])
    n = len(cents)
    ttype = np.where(cents > 0, 0, 1)  # deposit / withdrawal: the sign constraint holds
    status = np.array([0, 0, 1, 2, 3, 0, 0, 1, 0])
    us = 1_767_225_600_000_000 + np.arange(n) * 1_234_567_891  # from 2026-01-01, sub-second parts
    rows = TxRows(
        cust=np.zeros(n, np.int64), account_id=np.ones(n, np.int64), transaction_type=ttype, amount=cents,
        status=status, booked_at=np.where(status == 0, us, -1), scheduled_for=np.where(status == 1, 20_600, -1),
        counterparty_account_id=np.full(n, -1), loan_id=np.full(n, -1), investment_id=np.full(n, -1),
        description=np.arange(n) % 5, created_at=us - 10**12, updated_at=us, transaction_id=np.arange(1, n + 1),
    )
    with connect(empty_source) as conn:
        conn.execute("INSERT INTO customers VALUES (1, 'a@b.co', 'A', 'FR', '1990-01-01', '2020-01-01', "
                     "'2020-01-01')")
        conn.execute("INSERT INTO accounts (account_id, customer_id, account_type, status, opened_at, updated_at) "
                     "VALUES (1, 1, 'current', 'active', '2020-01-01', '2020-01-01')")
        conn.execute("CREATE TABLE tx_csv (LIKE transactions INCLUDING ALL)")
        copy_csv(conn, "transactions", COLUMNS, [transaction_binary(rows)], binary=True)
        copy_csv(conn, "tx_csv", COLUMNS, [to_csv(transaction_columns(rows))])
        conn.execute("SET TimeZone = 'UTC'")
        binary = conn.execute("SELECT * FROM transactions ORDER BY transaction_id").fetchall()
        csv = conn.execute("SELECT * FROM tx_csv ORDER BY transaction_id").fetchall()
        text = conn.execute("SELECT amount::text, booked_at::text FROM transactions ORDER BY transaction_id").fetchall()
    assert binary == csv and len(binary) == n
    assert [t[0] for t in text] == [str(Decimal(int(c)).scaleb(-2)) for c in cents]
    assert text[0][1] == "2026-01-01 00:00:00+00"
    assert text[1][1] == "2026-01-01 00:20:34.567891+00"


@pytest.mark.parametrize(("customers", "months", "end"), [
    (1, 1, date(2026, 1, 1)),        # one customer, one (one-day) month
    (40, 2, date(2024, 2, 29)),      # leap day
    (60, 30, date(2026, 1, 31)),     # long history, few customers
])
def test_books_agree_on_edge_configurations(make_database: Callable[[], str], customers: int, months: int,
                                            end: date) -> None:
    dsn = _generated(make_database, customers=customers, months=months, end_date=end)
    assert scalar(dsn, "SELECT count(*) FROM customers") == customers
    assert scalar(dsn, """SELECT count(*) FROM loans l WHERE l.outstanding_principal <> l.principal
        - (SELECT coalesce(sum(-amount), 0) FROM transactions t WHERE t.loan_id = l.loan_id
           AND t.transaction_type = 'loan_repayment' AND t.status = 'booked')""") == 0
    assert scalar(dsn, """SELECT count(*) FROM investments i WHERE i.invested_amount <>
        (SELECT coalesce(sum(-amount), 0) FROM transactions t WHERE t.investment_id = i.investment_id
           AND t.status = 'booked')""") == 0
    assert scalar(dsn, """SELECT count(*) FROM transactions WHERE status = 'scheduled'
                          AND NOT (scheduled_for > %s AND scheduled_for <= %s)""",
                  (end, end + timedelta(days=30))) == 0
    assert scalar(dsn, """SELECT max(updated_at) FROM (SELECT updated_at FROM transactions
                          UNION ALL SELECT updated_at FROM customers) x""").date() <= end
    simulate_days(dsn, days=1, seed=1)
    assert scalar(dsn, "SELECT max(booked_at) FROM transactions").date() == end + timedelta(days=1)


def test_cli_generate_and_simulate(make_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from finefin.cli import app
    from finefin.config import get_settings

    dsn = make_database()
    monkeypatch.setenv("FINEFIN_SOURCE_URL", dsn)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        args = ["source", "generate", "--customers", "60", "--months", "2", "--end-date", "2026-04-30"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "transactions" in result.output
        again = runner.invoke(app, args)
        assert again.exit_code == 1 and "--replace" in again.output
        result = runner.invoke(app, ["source", "simulate-day", "--days", "2"])
        assert result.exit_code == 0, result.output
        assert "2026-05-01" in result.output and "2026-05-02" in result.output
    finally:
        get_settings.cache_clear()


# -- the demo's data set shows every story -----------------------------------------------------------------------
WATCH_MONTH_FIGURES = """
SELECT a.customer_id,
       coalesce(sum(-t.amount) FILTER (WHERE t.transaction_type = 'withdrawal' AND t.booked_at >= %(month)s), 0),
       coalesce(sum(t.amount) FILTER (WHERE t.transaction_type IN ('loan_disbursement', 'loan_repayment')), 0),
       coalesce(sum(-t.amount) FILTER (WHERE t.transaction_type IN ('investment_buy', 'investment_sell')), 0)
FROM transactions t JOIN accounts a USING (account_id)
WHERE t.status = 'booked' AND t.booked_at < %(month)s::timestamptz + interval '1 month'
GROUP BY a.customer_id
"""


def _first_of_month_before(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


# a 1st (its month has just started: the last complete one is the previous) and a year's last day (complete itself)
@pytest.mark.parametrize("end", [date(2026, 3, 1), date(2026, 12, 31)])
def test_the_demo_data_set_shows_every_watchlist_story(make_database: Callable[[], str], end: date) -> None:
    """On `finefin demo`'s data set, in the last complete month, some customers cross each watchlist threshold (the
    configured defaults: withdrawals in the month, loans outstanding and investments held at its end) and some are in
    a red streak of the default length: every story the advisors' watchlist tells is visible in the demo."""
    from finefin.demo import DEMO_CUSTOMERS, DEMO_MONTHS, DEMO_SEED
    from semantic_layer.settings import SemanticLayerSettings

    defaults = {name: field.default for name, field in SemanticLayerSettings.model_fields.items()}
    dsn = _generated(make_database, customers=DEMO_CUSTOMERS, months=DEMO_MONTHS, seed=DEMO_SEED, end_date=end)
    following = end + timedelta(days=1)
    month = end.replace(day=1) if following.day == 1 else _first_of_month_before(end, 1)
    figures = query(dsn, WATCH_MONTH_FIGURES, {"month": f"{month} 00:00+00"})  # type: ignore[arg-type]
    for column, threshold in ((1, "watch_withdrawals_min"), (2, "watch_loans_min"), (3, "watch_investments_min")):
        crossing = [row[0] for row in figures if row[column] >= defaults[threshold]]
        assert len(crossing) >= 3, (threshold, defaults[threshold], max(row[column] for row in figures))
    with connect(dsn) as conn:
        streaks = conn.execute(STREAKS, {  # type: ignore[arg-type]
            "cut": f"{following} 00:00+00", "start": f"{_first_of_month_before(end, DEMO_MONTHS - 1)} 00:00+00",
            "end": f"{month} 00:00+00"}).fetchall()
    in_red = [s[0] for s in streaks if s[3] == month and s[1] >= defaults["red_streak_min_months"]]
    assert len(in_red) >= 3
