"""Customers, their accounts and personas: everything decided once per customer before the month-by-month ledger."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingestion.generator import arrow_rows as ar
from ingestion.generator.calendar import US_PER_DAY, US_PER_HOUR, US_PER_MINUTE, HistoryCalendar
from ingestion.generator.identity import ibans, postal_addresses
from ingestion.generator.vocab import COUNTRIES, COUNTRY_WEIGHTS, EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES

MONTHLY_GROWTH = 1.07
"""Sign-ups grow ~7 % a month."""

SHARE_RED = 0.08
SHARE_HEAVY_WITHDRAWER = 0.10
SHARE_SAVER = 0.35
SHARE_RENTER = 0.60
SHARE_SAVINGS_CLOSED = 0.15


@dataclass
class Population:
    """One entry per customer (index i has customer_id i + 1 and current account_id i + 1); money in cents."""

    created_at: np.ndarray
    signup_month: np.ndarray
    income: np.ndarray
    comfort: np.ndarray          # the month-end balance a non-red customer hovers around
    salary_day: np.ndarray
    fee: np.ndarray              # monthly account fee, 0 on the free plan
    rent: np.ndarray             # monthly rent standing order, 0 for none
    rent_day: np.ndarray
    heavy: np.ndarray            # heavy cash withdrawer
    red_start: np.ndarray        # first month index of the planned red streak, -1 for none
    red_end: np.ndarray          # exclusive
    overdraft: np.ndarray
    savings_id: np.ndarray       # savings account_id, -1 for none
    savings_opened: np.ndarray   # epoch us, -1 for none
    savings_month: np.ndarray    # month index the savings account opened in
    savings_transfer: np.ndarray
    savings_close_month: np.ndarray  # -1: stays open
    birth_days: np.ndarray       # days since epoch
    country: np.ndarray
    first: np.ndarray
    last: np.ndarray
    domain: np.ndarray
    profile_updated: np.ndarray  # customers.updated_at

    @property
    def n(self) -> int:
        return len(self.created_at)

    @property
    def current_id(self) -> np.ndarray:
        return np.arange(1, self.n + 1, dtype=np.int64)


def signups_per_month(customers: int, cal: HistoryCalendar) -> np.ndarray:
    """Customers signing up in each month: geometric growth, the last (partial) month scaled by its length."""
    starts, ends = cal.month_starts, cal.window_ends
    full = np.append(starts[1:], starts[-1] + 31 * US_PER_DAY)
    coverage = (ends - starts) / (full - starts)
    weights = MONTHLY_GROWTH ** np.arange(cal.months) * coverage
    cumulative = np.rint(np.cumsum(weights) / weights.sum() * customers).astype(np.int64)
    return np.diff(np.concatenate([[0], cumulative]))


def build_population(rng: np.random.Generator, customers: int, cal: HistoryCalendar) -> Population:
    months = cal.months
    starts, ends = cal.month_starts, cal.window_ends
    per_month = signups_per_month(customers, cal)
    signup_month = np.repeat(np.arange(months), per_month)
    n = len(signup_month)
    # sign-up instants spread over each month, at least 2 h before the window end (room for a first deposit)
    lo, hi = starts[signup_month], ends[signup_month] - 2 * US_PER_HOUR
    created = lo + (rng.random(n) * (hi - lo)).astype(np.int64)
    order = np.lexsort((np.arange(n), created))
    created, signup_month = created[order], signup_month[order]

    income = (np.exp(rng.normal(np.log(2300.0), 0.38, n)) * 100).astype(np.int64).clip(110_000, 1_200_000)
    income = income // 100 * 100
    salary_day = rng.integers(1, 5, n)
    fee = rng.choice(np.array([0, 299, 499, 999]), n, p=[0.4, 0.3, 0.2, 0.1])
    renter = rng.random(n) < SHARE_RENTER
    rent = np.where(renter, (income * rng.uniform(0.22, 0.33, n)).astype(np.int64) // 1000 * 1000, 0)
    rent_day = rng.integers(1, 6, n)
    heavy = rng.random(n) < SHARE_HEAVY_WITHDRAWER

    # the red persona: a streak of >= 3 month-ends below zero, some ongoing at the end, some crossing a year
    room = months - 1 - signup_month  # months after the sign-up month
    red = (rng.random(n) < SHARE_RED) & (room >= 3)
    length = np.minimum(rng.integers(3, 9, n), np.maximum(room, 3))
    ongoing = rng.random(n) < 0.35
    first_possible = signup_month + 1
    last_possible = months - length  # streak [start, start+length) must fit
    random_start = first_possible + (rng.random(n) * (last_possible - first_possible + 1)).astype(np.int64)
    red_start = np.where(red, np.where(ongoing, last_possible, random_start), -1)
    red_end = np.where(red, red_start + length, -1)
    comfort = np.where(red, income * rng.uniform(0.1, 0.4, n), income * rng.uniform(0.5, 2.0, n)).astype(np.int64)
    overdraft = np.where(
        red,
        np.maximum(30_000, (income * rng.uniform(0.5, 1.2, n)).astype(np.int64) // 10_000 * 10_000),
        np.where(rng.random(n) < 0.5, 0, rng.integers(1, 11, n) * 10_000),
    )

    # savings accounts (never for red personas: their total balance must be able to go negative)
    saver = (rng.random(n) < SHARE_SAVER) & ~red
    sav_opened = created + (rng.uniform(1, 120, n) * US_PER_DAY).astype(np.int64)
    saver &= sav_opened < cal.end_us - US_PER_DAY
    savings_opened = np.where(saver, sav_opened, -1)
    savings_month = np.where(saver, np.searchsorted(starts, sav_opened, side="right") - 1, -1)
    savings_id = np.full(n, -1, dtype=np.int64)
    savings_id[saver] = n + 1 + np.arange(int(saver.sum()))
    savings_transfer = (income * rng.uniform(0.04, 0.15, n)).astype(np.int64) // 1000 * 1000 + 1000
    # a few savings accounts are emptied and closed (never in the last, partial month)
    closable = saver & (savings_month <= months - 4) & (rng.random(n) < SHARE_SAVINGS_CLOSED)
    close_lo = savings_month + 2
    close_month = close_lo + (rng.random(n) * (months - 1 - close_lo)).astype(np.int64)
    savings_close_month = np.where(closable, close_month, -1)

    age_days = (rng.uniform(18, 75, n) * 365.25 * US_PER_DAY).astype(np.int64)
    birth_days = (created - age_days) // US_PER_DAY
    country = rng.choice(len(COUNTRIES), n, p=np.array(COUNTRY_WEIGHTS) / sum(COUNTRY_WEIGHTS))
    edited = rng.random(n) < 0.1
    profile_updated = np.where(edited, created + (rng.random(n) * (cal.end_us - 1 - created)).astype(np.int64),
                               created)
    return Population(
        created_at=created, signup_month=signup_month, income=income, comfort=comfort, salary_day=salary_day,
        fee=fee, rent=rent, rent_day=rent_day, heavy=heavy, red_start=red_start, red_end=red_end,
        overdraft=overdraft, savings_id=savings_id, savings_opened=savings_opened, savings_month=savings_month,
        savings_transfer=savings_transfer, savings_close_month=savings_close_month, birth_days=birth_days,
        country=country, first=rng.integers(0, len(FIRST_NAMES), n), last=rng.integers(0, len(LAST_NAMES), n),
        domain=rng.integers(0, len(EMAIL_DOMAINS), n), profile_updated=profile_updated,
    )


def ascii_slug(names: pa.Array) -> pa.Array:
    """Lower-case ASCII for e-mail local parts (é -> e, spaces and quotes dropped)."""
    out = pc.utf8_lower(names)
    for accented, plain in (("é", "e"), ("è", "e"), ("ë", "e"), ("ü", "u"), ("ç", "c"), ("á", "a"), ("ã", "a"),
                            ("í", "i"), ("ó", "o"), ("ï", "i"), ("à", "a")):
        out = pc.replace_substring(out, accented, plain)
    return pc.replace_substring_regex(out, r"[^a-z]", "")


def customer_columns(pop: Population, identity: np.random.Generator) -> dict[str, pa.Array]:
    """Customer rows; postal addresses come from `identity` (identity.identity_rng), not from the persona stream."""
    first = ar.labels(pop.first, FIRST_NAMES)
    last = ar.labels(pop.last, LAST_NAMES)
    ids = pop.current_id
    local = pc.binary_join_element_wise(ascii_slug(first), ascii_slug(last), pa.array(ids.astype(str)), ".")
    email = pc.binary_join_element_wise(local, ar.labels(pop.domain, EMAIL_DOMAINS), "@")
    return {
        "customer_id": ar.ids(ids),
        "email": email,
        "full_name": pc.binary_join_element_wise(first, last, " "),
        "country": ar.labels(pop.country, COUNTRIES),
        "birth_date": ar.dates(pop.birth_days),
        "created_at": ar.timestamps(pop.created_at),
        "updated_at": ar.timestamps(pop.profile_updated),
        **postal_addresses(identity, pop.country, COUNTRIES),
    }


def account_columns(pop: Population, frozen_at: np.ndarray, savings_closed_at: np.ndarray,
                    identity: np.random.Generator) -> dict[str, pa.Array]:
    """Current accounts (ids 1..n) then savings accounts; `frozen_at` / `savings_closed_at` are -1 when not.
    IBAN branches come from `identity` (identity.identity_rng)."""
    n = pop.n
    cur_opened = pop.created_at + 5 * US_PER_MINUTE
    saver = pop.savings_id > 0
    s_opened = pop.savings_opened[saver]
    s_closed = savings_closed_at[saver]
    account_id = np.concatenate([pop.current_id, pop.savings_id[saver]])
    customer_id = np.concatenate([pop.current_id, pop.current_id[saver]])
    kind = np.concatenate([np.zeros(n, np.int8), np.ones(len(s_opened), np.int8)])
    status = np.concatenate([np.where(frozen_at >= 0, 1, 0), np.where(s_closed >= 0, 2, 0)])
    overdraft = np.concatenate([pop.overdraft, np.zeros(len(s_opened), np.int64)])
    opened = np.concatenate([cur_opened, s_opened])
    closed = np.concatenate([np.full(n, -1, np.int64), s_closed])
    updated = np.maximum(opened, np.concatenate([frozen_at, s_closed]))
    return {
        "account_id": ar.ids(account_id),
        "customer_id": ar.ids(customer_id),
        "account_type": ar.labels(kind, ("current", "savings")),
        "status": ar.labels(status, ("active", "frozen", "closed")),
        "overdraft_limit": ar.money(overdraft),
        "opened_at": ar.timestamps(opened),
        "closed_at": ar.timestamps(closed, null_below_zero=True),
        "updated_at": ar.timestamps(updated),
        "iban": ibans(identity, account_id),
    }
