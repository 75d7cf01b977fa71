"""Words people read instead of the data's codes: one mapping per code list, reused by every answer and file."""

from __future__ import annotations

TRANSACTION_TYPE_LABELS: dict[str, str] = {
    "deposit": "Deposit",
    "withdrawal": "Withdrawal",
    "p2p_in": "Transfer received",
    "p2p_out": "Transfer sent",
    "card_payment": "Card payment",
    "loan_disbursement": "Loan paid out",
    "loan_repayment": "Loan repayment",
    "investment_buy": "Investment purchase",
    "investment_sell": "Investment sale",
    "fee": "Fee",
    "interest_charge": "Interest charged",
    "interest_payout": "Interest paid",
}
"""Every transaction type of the source schema (ingestion/sql/001_operational_schema.sql)."""

ACCOUNT_TYPE_LABELS: dict[str, str] = {"current": "Current account", "savings": "Savings account"}

COUNTRY_NAMES: dict[str, str] = {
    "BE": "Belgium", "DE": "Germany", "ES": "Spain", "FR": "France", "IT": "Italy", "LU": "Luxembourg",
    "NL": "Netherlands", "PT": "Portugal",
}


def _fallback(code: str) -> str:
    """A code no mapping knows yet, still readable: `standing_order` -> `Standing order`."""
    return code.replace("_", " ").strip().capitalize() or code


def transaction_type_label(code: str) -> str:
    return TRANSACTION_TYPE_LABELS.get(code) or _fallback(code)


def account_type_label(code: str) -> str:
    return ACCOUNT_TYPE_LABELS.get(code) or _fallback(f"{code} account")


def country_name(code: str) -> str:
    return COUNTRY_NAMES.get(code.strip().upper(), code)


AGGREGATE_TYPE_LABELS: dict[str, str] = {**TRANSACTION_TYPE_LABELS, "p2p_in": "P2P transfer", "p2p_out": "P2P transfer"}
"""Totals over every customer (charts, the transactions table): a transfer between two FineFinance customers is one
"P2P transfer", not a sent and a received one. A customer's own lines (statements) keep the direction."""


def aggregate_type_label(code: str) -> str:
    """`card_payment` -> `Card payment`; `p2p_in` and `p2p_out` -> `P2P transfer`."""
    return AGGREGATE_TYPE_LABELS.get(code) or _fallback(code)
