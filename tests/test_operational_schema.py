"""The operational schema applies idempotently and rejects rows a bank would refuse."""

from __future__ import annotations

import psycopg
import pytest

from ingestion.source import apply_schema, connect

CUSTOMER = (
    "INSERT INTO customers VALUES (1, 'ana@example.com', 'Ana', 'FR', '1990-01-01', "
    "'2026-01-01', '2026-01-01')"
)
ACCOUNT = (
    "INSERT INTO accounts (account_id, customer_id, account_type, status, opened_at, updated_at, iban) "
    "VALUES (10, 1, 'current', 'active', '2026-01-01', '2026-01-01', 'FR7617569104263032441093722')"
)


def test_schema_applies_twice(empty_source: str) -> None:
    apply_schema(empty_source)
    with connect(empty_source) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert tables == {"customers", "accounts", "loans", "investments", "transactions"}


@pytest.mark.parametrize(
    "bad_insert",
    [
        # withdrawal with a positive amount breaks the sign convention
        "INSERT INTO transactions (transaction_id, account_id, transaction_type, amount, status, booked_at,"
        " created_at, updated_at) VALUES (1, 10, 'withdrawal', 5, 'booked', now(), now(), now())",
        # unknown type
        "INSERT INTO transactions (transaction_id, account_id, transaction_type, amount, status, booked_at,"
        " created_at, updated_at) VALUES (1, 10, 'gift', 5, 'booked', now(), now(), now())",
        # booked without booked_at
        "INSERT INTO transactions (transaction_id, account_id, transaction_type, amount, status,"
        " created_at, updated_at) VALUES (1, 10, 'deposit', 5, 'booked', now(), now())",
        # p2p without counterparty
        "INSERT INTO transactions (transaction_id, account_id, transaction_type, amount, status, booked_at,"
        " created_at, updated_at) VALUES (1, 10, 'p2p_out', -5, 'booked', now(), now(), now())",
        # account of an unknown customer
        "INSERT INTO accounts (account_id, customer_id, account_type, status, opened_at, updated_at)"
        " VALUES (11, 999, 'current', 'active', now(), now())",
        # duplicate email, case-insensitive
        "INSERT INTO customers VALUES (2, 'ANA@example.com', 'Ana Bis', 'FR', '1990-01-01', now(), now())",
        # malformed email
        "INSERT INTO customers VALUES (3, 'not-an-email', 'Bob', 'FR', '1990-01-01', now(), now())",
        # blank street, malformed postal code
        "INSERT INTO customers VALUES (4, 'e@example.com', 'Eve', 'FR', '1990-01-01', now(), now(), ' ', '75011',"
        " 'Paris')",
        "INSERT INTO customers VALUES (5, 'f@example.com', 'Flo', 'FR', '1990-01-01', now(), now(), '1 rue X',"
        " '75 011!', 'Paris')",
        # malformed IBAN (spaces: stored in electronic form), then an IBAN already used by account 10
        "INSERT INTO accounts (account_id, customer_id, account_type, status, opened_at, updated_at, iban)"
        " VALUES (12, 1, 'savings', 'active', now(), now(), 'FR76 1756 9000 0030 3244 1093 748')",
        "INSERT INTO accounts (account_id, customer_id, account_type, status, opened_at, updated_at, iban)"
        " VALUES (12, 1, 'savings', 'active', now(), now(), 'FR7617569104263032441093722')",
    ],
)
def test_constraints_reject_bad_rows(empty_source: str, bad_insert: str) -> None:
    with connect(empty_source) as conn:
        conn.execute(CUSTOMER)
        conn.execute(ACCOUNT)
        with pytest.raises(psycopg.errors.IntegrityError):
            conn.execute(bad_insert)


def test_valid_rows_are_accepted(empty_source: str) -> None:
    with connect(empty_source) as conn:
        conn.execute(CUSTOMER)
        conn.execute(ACCOUNT)
        conn.execute(
            "INSERT INTO transactions (transaction_id, account_id, transaction_type, amount, status,"
            " scheduled_for, created_at, updated_at) VALUES (1, 10, 'fee', -2.50, 'scheduled',"
            " current_date + 3, now(), now())"
        )
        assert conn.execute("SELECT amount FROM transactions").fetchone()[0] == pytest.approx(-2.5)


def test_a_database_created_before_addresses_and_ibans_is_brought_up_to_date(empty_source: str) -> None:
    """`finefin source init` on a database of the first release: the columns appear, the rows stay, every account
    gets a unique valid IBAN (moved updated_at, so the ingestion cursor carries it), addresses stay unknown."""
    from tests.test_generator import assert_ibans_valid

    with connect(empty_source) as conn:  # the first release's tables: without the columns added since
        conn.execute("DROP INDEX accounts_iban_key")
        conn.execute("ALTER TABLE accounts DROP COLUMN iban")
        conn.execute("ALTER TABLE customers DROP COLUMN street, DROP COLUMN postal_code, DROP COLUMN city")
        conn.execute(CUSTOMER)
        conn.execute("INSERT INTO accounts (account_id, customer_id, account_type, status, opened_at, updated_at)"
                     " SELECT g, 1, 'current', 'active', '2026-01-01', '2026-01-01' FROM generate_series(1, 500) g")
    apply_schema(empty_source)
    first = assert_ibans_valid(empty_source)
    apply_schema(empty_source)  # and again: idempotent, the IBANs do not change
    with connect(empty_source) as conn:
        assert conn.execute("SELECT street, postal_code, city FROM customers").fetchall() == [(None, None, None)]
        moved = conn.execute("SELECT count(*) FROM accounts WHERE updated_at > '2026-01-01'").fetchone()[0]
    ibans = assert_ibans_valid(empty_source)
    assert moved == len(ibans) == 500 and ibans == first
