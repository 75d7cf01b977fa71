"""Typed results of the semantic layer API. Money is Decimal quantized to cents; dates are dates, not strings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal, NamedTuple

from semantic_layer.inputs import CustomerId, Month

Tier = Literal["Bronze", "Gold", "Diamond"]
TIERS: tuple[Tier, ...] = ("Bronze", "Gold", "Diamond")

CENT = Decimal("0.01")
PCT_STEP = Decimal("0.1")


def round_half_up(value: Decimal, step: Decimal) -> Decimal:
    """The one rounding rule for every figure shown (money to the cent, percentages to 0.1): half-up, halves away
    from zero, as a bank displays money (6.25 % -> 6.3 %, -0.005 -> -0.01). dbt's `half_up_cents` macro applies the
    same rule in SQL (the tier score). Python's default, half-even, would show 6.2 %."""
    return value.quantize(step, rounding=ROUND_HALF_UP)


def money(value: float | int | str | Decimal | None) -> Decimal:
    """A warehouse number (MetricFlow returns floats) as Decimal cents; a float is read by its shortest repr."""
    if value is None:
        return Decimal("0.00")
    if type(value) is Decimal:  # DuckDB returns DECIMAL columns as Decimal: no round trip through str
        return value.quantize(CENT, rounding=ROUND_HALF_UP)
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def percent(value: float | int | str | Decimal | None) -> Decimal | None:
    """A warehouse percentage (MetricFlow float) to one decimal, half-up."""
    return None if value is None else round_half_up(Decimal(str(value)), PCT_STEP)


def pct_change(current: Decimal | int, previous: Decimal | int) -> Decimal | None:
    """Month-over-month change in percent, one decimal, half-up; None when the previous value is zero."""
    if previous == 0:
        return None
    return round_half_up(Decimal(current - previous) * 100 / abs(Decimal(previous)), PCT_STEP)


@dataclass(frozen=True)
class Freshness:
    """When the data was last loaded successfully, and whether that is older than the SLA."""

    last_load_at: datetime | None
    checked_at: datetime
    sla: timedelta

    @property
    def age(self) -> timedelta | None:
        return None if self.last_load_at is None else self.checked_at - self.last_load_at

    @property
    def is_stale(self) -> bool:
        return self.age is None or self.age > self.sla


@dataclass(frozen=True)
class CustomerProfile:
    customer_id: CustomerId
    full_name: str
    email: str
    tier: Tier
    created_at: datetime


@dataclass(frozen=True)
class AccountBalance:
    account_id: int
    account_type: str
    status: str
    balance: Decimal


@dataclass(frozen=True)
class CustomerBalance:
    customer_id: CustomerId
    as_of: date
    accounts: tuple[AccountBalance, ...]
    total: Decimal


@dataclass(frozen=True)
class UpcomingTransaction:
    transaction_id: int
    account_id: int
    scheduled_for: date
    transaction_type: str
    description: str
    amount: Decimal
    projected_balance: Decimal  # customer's total balance after this transaction and all earlier upcoming ones


@dataclass(frozen=True)
class Upcoming:
    customer_id: CustomerId
    as_of: date
    horizon_days: int
    starting_balance: Decimal
    items: tuple[UpcomingTransaction, ...]


@dataclass(frozen=True)
class StatementLine:
    transaction_id: int
    account_id: int  # internal: a statement shows the account's IBAN (Statement.iban_of)
    booked_at: datetime
    transaction_type: str
    description: str
    amount: Decimal
    running_balance: Decimal


@dataclass(frozen=True)
class PostalAddress:
    street: str
    postal_code: str
    city: str
    country_code: str  # ISO 3166-1 alpha-2


@dataclass(frozen=True)
class StatementAccount:
    """An account the statement covers: open at some time in the month, or with lines in it."""

    account_id: int
    iban: str  # electronic form (no spaces)
    account_type: str
    opened_on: date
    closed_on: date | None


@dataclass(frozen=True)
class Statement:
    """A customer's month: opening + Σ lines = closing (checked when built). `as_of` is the data's as-of date when
    it was produced (the statement's issue date); `address` is None when the source holds none for the customer."""

    customer_id: CustomerId
    month: Month
    full_name: str
    opening_balance: Decimal
    lines: tuple[StatementLine, ...]
    closing_balance: Decimal
    address: PostalAddress | None = None
    accounts: tuple[StatementAccount, ...] = ()
    as_of: date | None = None

    @property
    def total_in(self) -> Decimal:
        return sum((line.amount for line in self.lines if line.amount > 0), Decimal("0.00"))

    @property
    def total_out(self) -> Decimal:
        """Money out as a signed (negative) sum: opening + total_in + total_out = closing."""
        return sum((line.amount for line in self.lines if line.amount < 0), Decimal("0.00"))

    @property
    def money_out(self) -> Decimal:
        """Money out as a positive amount, the way a statement prints it next to "Money out"."""
        return -self.total_out

    def iban_of(self, account_id: int) -> str | None:
        return next((a.iban for a in self.accounts if a.account_id == account_id), None)


@dataclass(frozen=True)
class GrowthFigures:
    """A month's growth figures. A whole month compares with the whole month before (the governed MoM metrics).
    A month to date (the data's current month, not over yet) covers days 1 to `through` and compares with the same
    days of the month before: days 1 to `compared_through`, cut at that month's last day (1–31 March vs 1–28 Feb)."""

    month: Month
    revenue: Decimal
    transaction_volume: Decimal
    transaction_count: int
    new_customers: int
    revenue_mom_pct: Decimal | None
    volume_mom_pct: Decimal | None
    new_customers_mom_pct: Decimal | None
    through: date | None = None  # set for a month to date: the data's as-of date
    compared_through: date | None = None  # set for a month to date: the last day of the previous month compared

    @property
    def is_month_to_date(self) -> bool:
        return self.through is not None

    @property
    def last_day(self) -> date:
        """The last day the figures cover."""
        return self.through or self.month.last_day

    @property
    def compared_last_day(self) -> date:
        """The last day of the previous month's period the MoM % compares with."""
        return self.compared_through or self.month.previous.last_day


@dataclass(frozen=True)
class MonthlyGrowth:
    month: Month
    current: GrowthFigures
    history: tuple[GrowthFigures, ...]  # oldest first, ending with `current`; only `current` may be a month to date

    @property
    def is_month_to_date(self) -> bool:
        return self.current.is_month_to_date


@dataclass(frozen=True)
class TierCount:
    tier: Tier
    customers: int
    change: int  # since the previous month


@dataclass(frozen=True)
class TierBreakdown:
    month: Month
    tiers: tuple[TierCount, ...]

    @property
    def total(self) -> int:
        return sum(t.customers for t in self.tiers)


@dataclass(frozen=True)
class TransactionsMonthRow:
    """One month and type: a P2P transfer between two customers counts once, on its sending side (`p2p_out`); the
    receiving `p2p_in` rows are the same transfers and have no row here (metric `transaction_count_p2p_once`)."""

    month: Month
    transaction_type: str
    transaction_count: int
    transaction_volume: Decimal


@dataclass(frozen=True)
class TransactionsPerMonth:
    """Complete months from `first_month` (never before the data's first month) to `last_month`."""

    first_month: Month
    last_month: Month
    rows: tuple[TransactionsMonthRow, ...]
    as_of: date | None = None  # the data's as-of date (latest booking day)


WatchReason = Literal["high_withdrawals", "loans_outstanding", "investments_held"]


class WatchlistEntry(NamedTuple):
    """One reason a customer is on the watchlist. The watchlist's rows are NamedTuples, not frozen dataclasses: it
    builds thousands per call, and a tuple is made in one C call (a frozen dataclass's `__init__` sets each field
    through `object.__setattr__`, several times slower)."""

    customer_id: CustomerId
    full_name: str
    reason: WatchReason
    value: Decimal
    threshold: Decimal


class RedStreak(NamedTuple):
    """A customer in the red for `months` consecutive months (a NamedTuple row, as WatchlistEntry)."""

    customer_id: CustomerId
    full_name: str
    months: int
    since: Month
    balance: Decimal  # end-of-month balance of the last complete month


@dataclass(frozen=True)
class Watchlist:
    month: Month
    entries: tuple[WatchlistEntry, ...]
    red_streaks: tuple[RedStreak, ...]
    thresholds: dict[WatchReason, Decimal] = field(default_factory=dict)
    min_red_months: int = 3


@dataclass(frozen=True)
class MetricDefinition:
    name: str
    label: str
    description: str
    metric_type: str
    definition: str  # measures, filters and formula in words a director can read
