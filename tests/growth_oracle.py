"""Hand-written oracle of the growth figures on the source PostgreSQL: revenue, volume, count and sign-ups between two
days (UTC), and the month-to-date periods a growth answer should compare. Independent of dbt and MetricFlow."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import psycopg

PERIOD_SQL = """
    WITH tx AS (
        SELECT coalesce(-sum(amount) FILTER (WHERE transaction_type IN ('fee', 'interest_charge')), 0) AS revenue,
               coalesce(sum(abs(amount)), 0) AS volume,
               count(*) AS n
        FROM transactions
        WHERE status = 'booked' AND (booked_at AT TIME ZONE 'UTC')::date BETWEEN %(first)s AND %(last)s),
    signups AS (
        SELECT count(*) AS n FROM customers
        WHERE (created_at AT TIME ZONE 'UTC')::date BETWEEN %(first)s AND %(last)s)
    SELECT tx.revenue, tx.volume, tx.n, signups.n FROM tx CROSS JOIN signups"""


@dataclass(frozen=True)
class Period:
    revenue: Decimal
    volume: Decimal
    count: int
    new_customers: int


def period(dsn: str, first: date, last: date) -> Period:
    with psycopg.connect(dsn) as conn:
        revenue, volume, count, new = conn.execute(PERIOD_SQL, {"first": first, "last": last}).fetchone()  # type: ignore[misc]
    return Period(Decimal(revenue), Decimal(volume), int(count), int(new))


def month_first(day: date) -> date:
    return day.replace(day=1)


def previous_month_first(day: date) -> date:
    return date(day.year - (day.month == 1), (day.month - 2) % 12 + 1, 1)


def same_days_last_month(as_of: date) -> tuple[date, date]:
    """Days 1..as_of.day of the month before as_of's, cut at that month's length (30 March -> 1-29 Feb 2028)."""
    first = previous_month_first(as_of)
    length = calendar.monthrange(first.year, first.month)[1]
    return first, first.replace(day=min(as_of.day, length))


def month_days(first: date) -> tuple[date, date]:
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


def exact_pct(current: Decimal | int, previous: Decimal | int) -> Decimal | None:
    """The unrounded change in percent; None when the previous figure is zero."""
    if previous == 0:
        return None
    return (Decimal(current) - Decimal(previous)) * 100 / abs(Decimal(previous))


def pct_matches(shown: Decimal | None, current: Decimal | int, previous: Decimal | int) -> bool:
    """A percentage shown to one decimal is the exact change rounded (either way at the .x5 tie): within 0.05."""
    want = exact_pct(current, previous)
    if want is None or shown is None:
        return want is None and shown is None
    return abs(shown - want) <= Decimal("0.05")
