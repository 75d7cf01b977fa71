"""Money as people read it: every amount the bot shows carries its currency (FINEFIN_CURRENCY, ISO 4217, EUR).

One format everywhere, text, blocks, PDFs, charts: `1,234.50 EUR`, `-12.00 EUR`; rounded half-up to the cent (the
project's one rounding rule, `semantic_layer.types.round_half_up`). CSV files keep plain numbers for spreadsheets and
name the currency in the column header instead (`amount_eur`).
"""

from __future__ import annotations

import os
import re
from decimal import Decimal
from functools import lru_cache

from finefin.errors import ConfigurationError
from semantic_layer.types import CENT, round_half_up

DEFAULT_CURRENCY = "EUR"


def currency() -> str:
    """The configured currency code (read on each call: a changed variable applies at once); a wrong value is a
    configuration error, never a silent default."""
    return _currency_code(os.environ.get("FINEFIN_CURRENCY", DEFAULT_CURRENCY))


@lru_cache(maxsize=8)
def _currency_code(raw: str) -> str:
    """Validated once per configured value: money() runs for every amount of every answer."""
    code = raw.strip().upper() or DEFAULT_CURRENCY
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise ConfigurationError(f"FINEFIN_CURRENCY must be a 3-letter ISO 4217 code such as EUR, got {code!r}")
    return code


def amount(value: Decimal | int) -> str:
    """`1234.5` -> `1,234.50` (no currency: for a column whose header names it)."""
    return f"{round_half_up(Decimal(value), CENT):,.2f}"


def money(value: Decimal | int) -> str:
    """`1234.5` -> `1,234.50 EUR`; negatives keep their sign: `-12.00 EUR`."""
    return f"{amount(value)} {currency()}"


def money_column(name: str) -> str:
    """A CSV header for an amount column: `balance` -> `balance_eur`."""
    return f"{name}_{currency().lower()}"
