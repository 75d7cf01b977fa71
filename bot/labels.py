"""Human labels for the warehouse's codes (transaction types), shown in charts and CSV files instead of the codes."""

from __future__ import annotations

TRANSACTION_TYPE_LABELS: dict[str, str] = {
    "deposit": "Deposit",
    "withdrawal": "Withdrawal",
    # the two sides of one transfer between two FineFinance customers
    "p2p_in": "P2P transfer",
    "p2p_out": "P2P transfer",
    "card_payment": "Card payment",
    "loan_disbursement": "Loan disbursement",
    "loan_repayment": "Loan repayment",
    "investment_buy": "Investment purchase",
    "investment_sell": "Investment sale",
    "fee": "Fee",
    "interest_charge": "Interest charged",
    "interest_payout": "Interest paid out",
}


def transaction_type_label(code: str) -> str:
    """`card_payment` -> `Card payment`; a code without a label reads as words (`new_type` -> `New type`)."""
    label = TRANSACTION_TYPE_LABELS.get(code)
    if label is not None:
        return label
    words = code.replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else "Unknown"
