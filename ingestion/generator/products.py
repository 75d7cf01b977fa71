"""Loans and investments planned per customer: ids in time order, every booked event, and the final row state.

Loans are independent of balances, so their whole schedule (disbursement, monthly principal repayments, monthly
interest) is computed up front; `outstanding_principal` is then principal minus the booked repayments by construction.
Investments carry a running cost basis and are stepped month by month by the ledger (`InvestmentBook.step`).

A few borrowers and investors are big: a long loan of 25,000 to 80,000 (within what their income affords), or a lump
sum of 30,000 to 150,000 brought in from another bank, invested at once and held. They are the customers the advisors'
watchlist thresholds are for. Who is big and how big is drawn from a child stream (`rng.spawn`), so tuning these shares
does not change who borrows or invests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ingestion.generator import arrow_rows as ar
from ingestion.generator.calendar import US_PER_HOUR, US_PER_MINUTE, HistoryCalendar
from ingestion.generator.population import Population
from ingestion.generator.vocab import PRODUCTS

SHARE_BORROWER = 0.12
SHARE_INVESTOR = 0.15
SHARE_DEFAULT = 0.08
TERMS = np.array([6, 12, 24, 36, 48, 60])
SHARE_BIG_LOAN = 0.05          # of loans: 25,000 to 80,000 over 48 or 60 months, if the income affords it
BIG_LOAN_EUR = (25_000, 80_000)
BIG_LOAN_TERMS = np.array([48, 60])
SHARE_BIG_INVESTOR = 0.03      # of investments: a lump sum of 30,000 to 150,000, bought at opening and held
BIG_INVESTMENT_EUR = (30_000, 150_000)


@dataclass
class LoanBook:
    cust: np.ndarray
    loan_id: np.ndarray
    principal: np.ndarray
    rate_bp: np.ndarray          # annual rate in 1/10000
    term: np.ndarray
    disbursed_at: np.ndarray
    disb_month: np.ndarray
    repay_day: np.ndarray
    instalment: np.ndarray
    # events, one row per (loan, month) after disbursement: repayment (principal) and interest
    ev_loan: np.ndarray          # index into the loan arrays
    ev_month: np.ndarray
    ev_time: np.ndarray
    ev_principal: np.ndarray     # cents repaid (positive)
    ev_interest: np.ndarray      # cents of interest (positive)
    # final state
    outstanding: np.ndarray
    status: np.ndarray           # 0 active, 1 repaid, 2 defaulted
    updated_at: np.ndarray

    def month_events(self, m: int) -> np.ndarray:
        lo, hi = np.searchsorted(self.ev_month, [m, m + 1])
        return np.arange(lo, hi)

    def columns(self, pop: Population) -> dict[str, pa.Array]:
        return {
            "loan_id": ar.ids(self.loan_id),
            "customer_id": ar.ids(pop.current_id[self.cust]),
            "account_id": ar.ids(pop.current_id[self.cust]),
            "principal": ar.money(self.principal),
            "annual_rate": ar.fixed_point(self.rate_bp, 4),
            "term_months": ar.ids(self.term),
            "status": ar.labels(self.status, ("active", "repaid", "defaulted")),
            "outstanding_principal": ar.money(self.outstanding),
            "disbursed_at": ar.timestamps(self.disbursed_at),
            "updated_at": ar.timestamps(self.updated_at),
        }


def plan_loans(rng: np.random.Generator, pop: Population, cal: HistoryCalendar) -> LoanBook:
    months = cal.months
    starts, ends = cal.month_starts, cal.window_ends
    eligible = np.flatnonzero((pop.signup_month <= months - 2) & (rng.random(pop.n) < SHARE_BORROWER))
    k = len(eligible)
    disb_month = pop.signup_month[eligible] + 1 + (
        rng.random(k) * (months - 1 - pop.signup_month[eligible])).astype(np.int64)
    lo, hi = starts[disb_month], ends[disb_month] - 4 * US_PER_HOUR
    disbursed = lo + (rng.random(k) * (hi - lo)).astype(np.int64)
    order = np.lexsort((eligible, disbursed))
    cust, disb_month, disbursed = eligible[order], disb_month[order], disbursed[order]
    term = rng.choice(TERMS, k)
    affordable = pop.income[cust] * term // 4  # instalment at most a quarter of income
    principal = np.minimum(rng.integers(10, 201, k) * 10_000, np.maximum(affordable // 10_000 * 10_000, 100_000))
    term, principal = _big_loans(rng.spawn(1)[0], pop.income[cust], term, principal)
    rate_bp = rng.integers(290, 1190, k)
    repay_day = rng.integers(5, 16, k)
    instalment = -(-principal // term)
    stop_after = np.where(rng.random(k) < SHARE_DEFAULT, 1 + (rng.random(k) * (term - 1)).astype(np.int64), term)

    # one event per instalment number j = 1..stop_after that falls inside the history
    n_ev = np.clip(np.minimum(stop_after, months - 1 - disb_month), 0, None)
    ev_loan = np.repeat(np.arange(k), n_ev)
    first = np.cumsum(n_ev) - n_ev
    j = np.arange(len(ev_loan)) - np.repeat(first, n_ev) + 1
    ev_month = disb_month[ev_loan] + j
    ev_time = cal.day_in_month(ev_month, repay_day[ev_loan]) + 9 * US_PER_HOUR + rng.integers(
        0, 60 * US_PER_MINUTE, len(ev_loan))
    booked = ev_time < ends[ev_month]
    ev_loan, ev_month, ev_time, j = ev_loan[booked], ev_month[booked], ev_time[booked], j[booked]
    inst = instalment[ev_loan]
    ev_principal = np.where(j == term[ev_loan], principal[ev_loan] - inst * (term[ev_loan] - 1), inst)
    before = principal[ev_loan] - inst * (j - 1)
    ev_interest = np.maximum(1, before * rate_bp[ev_loan] // 120_000)
    order = np.lexsort((ev_loan, ev_time, ev_month))
    ev_loan, ev_month, ev_time = ev_loan[order], ev_month[order], ev_time[order]
    ev_principal, ev_interest = ev_principal[order], ev_interest[order]

    repaid = np.bincount(ev_loan, weights=ev_principal, minlength=k).round().astype(np.int64)
    outstanding = principal - repaid
    last_event = np.full(k, -1, np.int64)
    np.maximum.at(last_event, ev_loan, ev_time)
    updated = np.maximum(disbursed, last_event)
    # a loan that stopped paying is declared defaulted at its second missed due date, if that is in the history
    missed_month = disb_month + stop_after + 2
    declared = np.full(k, -1, np.int64)
    in_hist = missed_month < months
    declared[in_hist] = cal.day_in_month(missed_month[in_hist], repay_day[in_hist]) + 12 * US_PER_HOUR
    defaulted = (stop_after < term) & (declared >= 0) & (declared < cal.end_us) & (outstanding > 0)
    status = np.where(outstanding == 0, 1, np.where(defaulted, 2, 0))
    updated = np.where(defaulted, declared, updated)
    return LoanBook(
        cust=cust, loan_id=np.arange(1, k + 1, dtype=np.int64), principal=principal, rate_bp=rate_bp, term=term,
        disbursed_at=disbursed, disb_month=disb_month, repay_day=repay_day, instalment=instalment,
        ev_loan=ev_loan, ev_month=ev_month, ev_time=ev_time, ev_principal=ev_principal, ev_interest=ev_interest,
        outstanding=outstanding, status=status, updated_at=updated,
    )


def _big_loans(rng: np.random.Generator, income: np.ndarray, term: np.ndarray,
               principal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A few loans become big: a whole number of thousands in BIG_LOAN_EUR over a long term, the instalment at most a
    quarter of the income; a borrower whose income cannot carry the smallest big loan keeps the ordinary one."""
    k = len(term)
    big = rng.random(k) < SHARE_BIG_LOAN
    long_term = rng.choice(BIG_LOAN_TERMS, k)
    wanted = rng.integers(BIG_LOAN_EUR[0] // 1000, BIG_LOAN_EUR[1] // 1000 + 1, k) * 100_000
    affordable = income * long_term // 4 // 100_000 * 100_000
    big &= affordable >= BIG_LOAN_EUR[0] * 100
    return np.where(big, long_term, term), np.where(big, np.minimum(wanted, affordable), principal)


@dataclass
class InvestmentBook:
    cust: np.ndarray
    investment_id: np.ndarray
    product: np.ndarray
    opened_at: np.ndarray
    open_month: np.ndarray
    close_month: np.ndarray      # -1: stays open
    invested: np.ndarray         # running cost basis (cents)
    closed_at: np.ndarray
    updated_at: np.ndarray
    lump_sum: np.ndarray         # cents bought at opening by a big investor (funded by a transfer in), 0 otherwise

    def columns(self, pop: Population) -> dict[str, pa.Array]:
        return {
            "investment_id": ar.ids(self.investment_id),
            "customer_id": ar.ids(pop.current_id[self.cust]),
            "account_id": ar.ids(pop.current_id[self.cust]),
            "product": ar.labels(self.product, PRODUCTS),
            "status": ar.labels((self.closed_at >= 0).astype(np.int8), ("open", "closed")),
            "invested_amount": ar.money(self.invested),
            "opened_at": ar.timestamps(self.opened_at),
            "closed_at": ar.timestamps(self.closed_at, null_below_zero=True),
            "updated_at": ar.timestamps(self.updated_at),
        }


def plan_investments(rng: np.random.Generator, pop: Population, cal: HistoryCalendar) -> InvestmentBook:
    months = cal.months
    starts, ends = cal.month_starts, cal.window_ends
    eligible = np.flatnonzero((pop.red_start < 0) & (rng.random(pop.n) < SHARE_INVESTOR))
    k = len(eligible)
    sm = pop.signup_month[eligible]
    open_month = sm + (rng.random(k) * (months - sm)).astype(np.int64)
    lo = np.maximum(starts[open_month], pop.created_at[eligible] + US_PER_HOUR)
    hi = ends[open_month] - US_PER_HOUR
    opened = lo + (rng.random(k) * (hi - lo)).astype(np.int64)
    order = np.lexsort((eligible, opened))
    cust, open_month, opened = eligible[order], open_month[order], opened[order]
    closing = (open_month <= months - 3) & (rng.random(k) < 0.12)
    close_month = np.where(closing, open_month + 1 + (rng.random(k) * (months - 2 - open_month)).astype(np.int64),
                           -1)
    big_rng = rng.spawn(1)[0]
    big = (big_rng.random(k) < SHARE_BIG_INVESTOR) & ~closing
    lump_sum = np.where(
        big, big_rng.integers(BIG_INVESTMENT_EUR[0] // 1000, BIG_INVESTMENT_EUR[1] // 1000 + 1, k) * 100_000, 0)
    return InvestmentBook(
        cust=cust, investment_id=np.arange(1, k + 1, dtype=np.int64), product=rng.integers(0, len(PRODUCTS), k),
        opened_at=opened, open_month=open_month, close_month=close_month,
        invested=np.zeros(k, np.int64), closed_at=np.full(k, -1, np.int64), updated_at=opened.copy(),
        lump_sum=lump_sum,
    )


def investment_day_time(rng: np.random.Generator, cal: HistoryCalendar, m: int, lo_day: int, hi_day: int,
                        n: int) -> np.ndarray:
    """Instants on a random day in [lo_day, hi_day] of month m, during the day."""
    day = rng.integers(lo_day, hi_day + 1, n)
    return cal.day_in_month(np.full(n, m), day) + rng.integers(8 * US_PER_HOUR, 20 * US_PER_HOUR, n)

