"""Test helper: an independent oracle for the dbt marts, computed in Python straight from the source PostgreSQL.

Nothing here reads the warehouse: dates come from PostgreSQL (`at time zone 'UTC'`), money stays Decimal, and the
month arithmetic is plain Python, so a bug in the dbt SQL (or in ingestion) shows up as a difference.
"""

from __future__ import annotations

import bisect
import calendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import psycopg

ZERO = Decimal("0.00")


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_end(month: date) -> date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def add_months(month: date, k: int) -> date:
    index = month.year * 12 + month.month - 1 + k
    return date(index // 12, index % 12 + 1, 1)


def months_between(first: date, last: date) -> list[date]:
    out, m = [], first
    while m <= last:
        out.append(m)
        m = add_months(m, 1)
    return out


@dataclass
class Ledger:
    """Booked amounts of one owner (account or customer) in date order, with prefix sums for balance lookups."""

    days: list[date] = field(default_factory=list)
    cumulative: list[Decimal] = field(default_factory=list)

    @classmethod
    def of(cls, movements: list[tuple[date, Decimal]]) -> Ledger:
        ledger, total = cls(), ZERO
        for day, amount in sorted(movements):
            total += amount
            ledger.days.append(day)
            ledger.cumulative.append(total)
        return ledger

    def balance_at(self, day: date) -> Decimal:
        """Sum of the booked amounts dated on or before `day`."""
        i = bisect.bisect_right(self.days, day)
        return self.cumulative[i - 1] if i else ZERO


@dataclass
class Oracle:
    as_of: date
    last_complete_month: date
    account_opened: dict[int, date]
    account_owner: dict[int, int]
    customer_signup: dict[int, date]
    account_ledgers: dict[int, Ledger]
    customer_ledgers: dict[int, Ledger]
    investment_ledgers: dict[int, Ledger]
    withdrawals: dict[tuple[int, date], Decimal]
    booked_count: int
    revenue_total: Decimal
    volume_total: Decimal
    scheduled_ids: set[int]
    loans_outstanding_now: dict[int, Decimal]
    invested_now: dict[int, Decimal]

    # -- balances -------------------------------------------------------------------------------------------
    def account_balance(self, account_id: int, day: date) -> Decimal:
        return self.account_ledgers.get(account_id, Ledger()).balance_at(day)

    def balances_on(self, days: list[date]) -> dict[tuple[int, date], Decimal]:
        """Every (account, day) that must exist in the daily table for these days, with its balance."""
        return {
            (account_id, day): self.account_balance(account_id, day)
            for account_id, opened in self.account_opened.items()
            for day in days
            if opened <= day <= self.as_of
        }

    def daily_row_count(self) -> int:
        return sum((self.as_of - opened).days + 1 for opened in self.account_opened.values() if opened <= self.as_of)

    # -- customer months ------------------------------------------------------------------------------------
    def first_month(self, customer_id: int) -> date:
        months = [month_start(self.customer_signup[customer_id])]
        months += [month_start(d) for a, d in self.account_opened.items() if self.account_owner[a] == customer_id]
        return min(months)

    def month_end_balance(self, customer_id: int, month: date) -> Decimal:
        return self.customer_ledgers.get(customer_id, Ledger()).balance_at(month_end(month))

    def investments_held(self, customer_id: int, month: date) -> Decimal:
        return self.investment_ledgers.get(customer_id, Ledger()).balance_at(month_end(month))

    def red_streaks(self) -> dict[tuple[int, date], tuple[int, date | None]]:
        """(customer, complete month) -> (streak length ending there, streak start month or None)."""
        out: dict[tuple[int, date], tuple[int, date | None]] = {}
        for customer_id in self.customer_signup:
            length, start = 0, None
            for month in months_between(self.first_month(customer_id), self.last_complete_month):
                if self.month_end_balance(customer_id, month) < 0:
                    length, start = length + 1, start if length else month
                else:
                    length, start = 0, None
                out[(customer_id, month)] = (length, start)
        return out

    def current_red_streaks(self) -> dict[int, tuple[int, date | None]]:
        streaks = self.red_streaks()
        return {c: streaks.get((c, self.last_complete_month), (0, None)) for c in self.customer_signup}

    def tiers(self, gold_min: Decimal, diamond_min: Decimal, window: int = 3) -> dict[int, str]:
        """Average of (month-end balance + investments held) over the last `window` complete months the customer
        has; Diamond >= diamond_min, Gold >= gold_min, else Bronze (also with no complete month)."""
        out = {}
        for customer_id in self.customer_signup:
            first = self.first_month(customer_id)
            months = [add_months(self.last_complete_month, -k) for k in range(window)]
            months = [m for m in months if m >= first]
            if not months:
                out[customer_id] = "Bronze"
                continue
            total = sum(self.month_end_balance(customer_id, m) + self.investments_held(customer_id, m)
                        for m in months)
            average = total / len(months)
            out[customer_id] = "Diamond" if average >= diamond_min else "Gold" if average >= gold_min else "Bronze"
        return out


def load_oracle(dsn: str) -> Oracle:
    with psycopg.connect(dsn) as conn:
        accounts = conn.execute(
            "select account_id, customer_id, (opened_at at time zone 'UTC')::date from accounts").fetchall()
        customers = conn.execute("select customer_id, (created_at at time zone 'UTC')::date from customers").fetchall()
        booked = conn.execute(
            "select t.account_id, a.customer_id, (t.booked_at at time zone 'UTC')::date, t.amount, t.transaction_type "
            "from transactions t join accounts a using (account_id) where t.status = 'booked'").fetchall()
        scheduled = conn.execute("select transaction_id from transactions where status = 'scheduled'").fetchall()
        loans = conn.execute("select customer_id, sum(outstanding_principal) from loans group by 1").fetchall()
        invested = conn.execute("select customer_id, sum(invested_amount) from investments group by 1").fetchall()

    account_moves: dict[int, list[tuple[date, Decimal]]] = defaultdict(list)
    customer_moves: dict[int, list[tuple[date, Decimal]]] = defaultdict(list)
    investment_moves: dict[int, list[tuple[date, Decimal]]] = defaultdict(list)
    withdrawals: dict[tuple[int, date], Decimal] = defaultdict(lambda: ZERO)
    revenue = volume = ZERO
    for account_id, customer_id, day, amount, kind in booked:
        account_moves[account_id].append((day, amount))
        customer_moves[customer_id].append((day, amount))
        volume += abs(amount)
        if kind in ("investment_buy", "investment_sell"):
            investment_moves[customer_id].append((day, -amount))
        if kind == "withdrawal":
            withdrawals[(customer_id, month_start(day))] += -amount
        if kind in ("fee", "interest_charge"):
            revenue += -amount

    as_of = max([row[2] for row in booked] + [row[2] for row in accounts])
    last_complete = month_start(as_of) if as_of == month_end(as_of) else add_months(month_start(as_of), -1)
    return Oracle(
        as_of=as_of,
        last_complete_month=last_complete,
        account_opened={a: d for a, _, d in accounts},
        account_owner={a: c for a, c, _ in accounts},
        customer_signup=dict(customers),
        account_ledgers={a: Ledger.of(m) for a, m in account_moves.items()},
        customer_ledgers={c: Ledger.of(m) for c, m in customer_moves.items()},
        investment_ledgers={c: Ledger.of(m) for c, m in investment_moves.items()},
        withdrawals=dict(withdrawals),
        booked_count=len(booked),
        revenue_total=revenue,
        volume_total=volume,
        scheduled_ids={r[0] for r in scheduled},
        loans_outstanding_now=dict(loans),
        invested_now=dict(invested),
    )


def sample_days(oracle: Oracle, every: int = 9) -> list[date]:
    """Every `every`-th day of the history, every month end, the first of every month, and the as-of date."""
    first = min(oracle.account_opened.values())
    days = {first + timedelta(days=k) for k in range(0, (oracle.as_of - first).days + 1, every)}
    for month in months_between(month_start(first), month_start(oracle.as_of)):
        days |= {month, min(month_end(month), oracle.as_of)}
    days.add(oracle.as_of)
    return sorted(d for d in days if d <= oracle.as_of)
