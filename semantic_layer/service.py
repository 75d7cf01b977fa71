"""`MetricFlowSemanticLayer`: every user story answered through the governed metrics.

Aggregates (balances, growth, tiers, watchlist figures) come from MetricFlow. Row listings (statement lines,
upcoming transactions, a customer's profile) are read from the marts with bound parameters: they are not metrics,
and the SQL text here is constant — user values travel only as parameters or as typed filter values.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from semantic_layer import filters
from semantic_layer.definitions import describe
from semantic_layer.engine import QueryResult, SemanticEngine
from semantic_layer.errors import InvalidInputError, SemanticLayerError, UnknownCustomerError
from semantic_layer.inputs import CustomerId, Month, metric_name
from semantic_layer.settings import SemanticLayerSettings
from semantic_layer.types import (
    CENT,
    TIERS,
    AccountBalance,
    CustomerBalance,
    CustomerProfile,
    Freshness,
    GrowthFigures,
    MetricDefinition,
    MonthlyGrowth,
    RedStreak,
    Statement,
    StatementLine,
    TierBreakdown,
    TierCount,
    TransactionsMonthRow,
    TransactionsPerMonth,
    Upcoming,
    UpcomingTransaction,
    Watchlist,
    WatchlistEntry,
    WatchReason,
    money,
)

_PROFILE_COLUMNS = "customer_id, full_name, email, tier, created_at"
# The end of the latest ingest run whose every table succeeded (dialect-neutral: DuckDB and Snowflake).
LAST_SUCCESSFUL_LOAD_SQL = (
    "SELECT max(r.finished_at) FROM ops.ingest_runs AS r WHERE NOT EXISTS"
    " (SELECT 1 FROM ops.ingest_runs AS f WHERE f.run_id = r.run_id AND f.status <> 'success')"
)


class MetricFlowSemanticLayer:
    """Implements `semantic_layer.api.SemanticLayer` over one warm engine."""

    def __init__(self, engine: SemanticEngine, settings: SemanticLayerSettings | None = None) -> None:
        self.engine = engine
        self.settings = settings or SemanticLayerSettings()
        self._reporting: tuple[str, tuple[dt.date, Month]] | None = None

    # -- context ----------------------------------------------------------------------------------------------
    def reporting_dates(self) -> tuple[dt.date, Month]:
        """The data's today (latest booking date) and its last complete month: constant for a load, so read once
        per load id (kept apart from the result cache, which callers may clear)."""
        load_id = self.engine.load_id
        if self._reporting is not None and self._reporting[0] == load_id:
            return self._reporting[1]
        rows = self.engine.fetch(
            f"SELECT as_of_date, last_complete_month FROM {self.engine.relation('int_reporting_date_derived')}"
        ).rows
        if not rows or rows[0][0] is None:
            raise SemanticLayerError("The warehouse holds no data yet.")
        dates = (rows[0][0], Month.of(rows[0][1]))
        self._reporting = (load_id, dates)
        return dates

    def freshness(self) -> Freshness:
        rows = self.engine.fetch(LAST_SUCCESSFUL_LOAD_SQL).rows
        last = rows[0][0] if rows else None
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=dt.UTC)
        return Freshness(
            last_load_at=last,
            checked_at=dt.datetime.now(dt.UTC),
            sla=dt.timedelta(hours=self.settings.freshness_sla_hours),
        )

    # -- customers --------------------------------------------------------------------------------------------
    def customer_by_email(self, email: str) -> CustomerProfile | None:
        if not isinstance(email, str) or "@" not in email or len(email) > 320:
            return None
        rows = self.engine.fetch(
            f"SELECT {_PROFILE_COLUMNS} FROM {self.engine.relation('dim_customers')} WHERE lower(email) = lower(?)",
            [email.strip()],
        ).rows
        return _profile(rows[0]) if rows else None

    def customer(self, customer_id: CustomerId) -> CustomerProfile:
        _require_customer_id(customer_id)
        rows = self.engine.fetch(
            f"SELECT {_PROFILE_COLUMNS} FROM {self.engine.relation('dim_customers')} WHERE customer_id = ?",
            [customer_id.value],
        ).rows
        if not rows:
            raise UnknownCustomerError(f"There is no customer {customer_id}.")
        return _profile(rows[0])

    def balance(self, customer_id: CustomerId) -> CustomerBalance:
        _require_customer_id(customer_id)
        as_of, _ = self.reporting_dates()
        # The current_balance metric by account (the balance metric on the as-of date, read from one row per account
        # stored in customer order, not from the ~20 M daily rows at 10 M transactions), and the accounts' type and
        # status (attributes, read meanwhile: asking MetricFlow for them too joins dim_accounts).
        attributes = self._fetch_meanwhile(
            f"SELECT account_id, account_type, account_status FROM {self.engine.relation('dim_accounts')}"
            " WHERE customer_id = ?",
            [customer_id.value],
        )
        result = self.engine.query(["current_balance"], ["account"], where=[filters.customer_is(customer_id)])
        if not result.rows:
            self.customer(customer_id)  # no accounts: an unknown customer raises, a known one has nothing yet
        kinds = {int(account_id): (kind, status) for account_id, kind, status in attributes.result().rows}
        account, balance = result.positions("account", "current_balance")
        accounts = []
        for r in result.rows:
            account_id = int(r[account])
            if account_id not in kinds:  # the marts' relationships test rules this out
                raise SemanticLayerError(f"Account {account_id} of customer {customer_id} is not in dim_accounts.")
            accounts.append(AccountBalance(account_id, *kinds[account_id], money(r[balance])))
        accounts.sort(key=lambda a: a.account_id)
        total = sum((a.balance for a in accounts), Decimal("0.00"))
        return CustomerBalance(customer_id, as_of, tuple(accounts), total)

    def _total_balance(self, customer_id: CustomerId) -> Decimal:
        """The customer's current balance (all accounts, as-of date): the same figure as `balance().total`."""
        rows = self.engine.query(["current_balance"], where=[filters.customer_is(customer_id)]).rows
        if not rows or rows[0][0] is None:
            self.customer(customer_id)  # unknown customers raise; a customer without accounts holds nothing
            return Decimal("0.00")
        return money(rows[0][0])

    def upcoming(self, customer_id: CustomerId, days: int = 30) -> Upcoming:
        _require_customer_id(customer_id)
        if not isinstance(days, int) or not 1 <= days <= 366:
            raise InvalidInputError("The horizon is between 1 and 366 days.")
        as_of, _ = self.reporting_dates()
        listing = self._fetch_meanwhile(  # while MetricFlow computes the balance
            "SELECT transaction_id, account_id, scheduled_for_date, transaction_type, description, amount"
            f" FROM {self.engine.relation('fct_scheduled_transactions')}"
            " WHERE customer_id = ? AND scheduled_for_date > ? AND scheduled_for_date <= ?"
            " ORDER BY scheduled_for_date, transaction_id",
            [customer_id.value, as_of, as_of + dt.timedelta(days=days)],
        )
        starting = self._total_balance(customer_id)
        rows = listing.result().rows
        running = starting
        items = []
        for tx_id, account_id, due, tx_type, description, amount in rows:
            amount = money(amount)
            running += amount
            items.append(UpcomingTransaction(int(tx_id), int(account_id), due, tx_type, description or "", amount,
                                             running))
        return Upcoming(customer_id, as_of, days, starting, tuple(items))

    def statement(self, customer_id: CustomerId, month: Month | None = None) -> Statement:
        _require_customer_id(customer_id)
        as_of, last_complete = self.reporting_dates()
        month = month or last_complete
        month.require_complete(as_of)
        # the customer's name and the month's lines in one listing (no row at all means no such customer), read
        # while MetricFlow computes the opening and closing balances
        listing = self._fetch_meanwhile(
            "SELECT c.full_name, t.transaction_id, t.account_id, t.booked_at, t.transaction_type, t.description,"
            f" t.amount FROM {self.engine.relation('dim_customers')} AS c"
            f" LEFT JOIN {self.engine.relation('fct_transactions')} AS t ON t.customer_id = c.customer_id"
            " AND t.booked_date >= ? AND t.booked_date <= ?"
            " WHERE c.customer_id = ? ORDER BY t.booked_at, t.transaction_id",
            [month.first_day, month.last_day, customer_id.value],
        )
        balances = self.engine.query(
            ["balance_by_month"], ["metric_time__month"],
            where=[filters.customer_is(customer_id), filters.months_of("customer_month", month.previous, month)],
        )
        period, balance = balances.positions("metric_time__month", "balance_by_month")
        by_month = {Month.of(r[period]): money(r[balance]) for r in balances.rows}
        opening = by_month.get(month.previous, Decimal("0.00"))
        closing = by_month.get(month, opening)
        rows = listing.result().rows
        if not rows:
            raise UnknownCustomerError(f"There is no customer {customer_id}.")
        running = opening
        lines = []
        for _, tx_id, account_id, booked_at, tx_type, description, amount in rows:
            if tx_id is None:  # the customer booked nothing that month
                continue
            amount = money(amount)
            running += amount
            lines.append(StatementLine(int(tx_id), int(account_id), booked_at, tx_type, description or "", amount,
                                       running))
        if running != closing:
            raise SemanticLayerError(
                f"The {month} statement of customer {customer_id} does not reconcile "
                f"(opening {opening} + lines = {running}, closing {closing}); it was not produced."
            )
        return Statement(customer_id, month, rows[0][0], opening, tuple(lines), closing)

    # -- director ---------------------------------------------------------------------------------------------
    def monthly_growth(self, month: Month | None = None, history: int = 6) -> MonthlyGrowth:
        as_of, last_complete = self.reporting_dates()
        month = (month or last_complete).require_started(as_of)
        rows = {Month.of(r["metric_time__month"]): r for r in self.engine.query(saved_query="monthly_growth").dicts()}
        if month not in rows:
            first = min(rows) if rows else None
            raise InvalidInputError(f"No data for {month}" + (f"; the data starts in {first}." if first else "."))
        months = [m for m in sorted(rows) if m <= month][-max(1, history):]
        figures = tuple(_growth(m, rows[m]) for m in months)
        return MonthlyGrowth(month, figures[-1], figures)

    def customers_per_tier(self, month: Month | None = None) -> TierBreakdown:
        as_of, last_complete = self.reporting_dates()
        month = month or last_complete
        month.require_complete(as_of)
        # tier_customers_by_month: tier_customers month by month, without the semi-additive "last month of the
        # period" join that a month-grain query does not need; grouped and filtered on the plain month date (the
        # same months as metric_time__month, without a date_trunc per row)
        result = self.engine.query(
            ["tier_customers_by_month"], ["customer_tier_month__month_first_day", "customer_tier_month__tier"],
            where=[filters.months_of("customer_tier_month", month.previous, month)],
        )
        period, tier, customers = result.positions("customer_tier_month__month_first_day",
                                                   "customer_tier_month__tier", "tier_customers_by_month")
        counts: dict[tuple[Month, str], int] = {
            (Month.of(r[period]), r[tier]): int(r[customers] or 0) for r in result.rows
        }
        tiers = tuple(
            TierCount(tier, counts.get((month, tier), 0),
                      counts.get((month, tier), 0) - counts.get((month.previous, tier), 0))
            for tier in TIERS
        )
        return TierBreakdown(month, tiers)

    def transactions_per_month(self, months: int = 12) -> TransactionsPerMonth:
        if not isinstance(months, int) or not 1 <= months <= 120:
            raise InvalidInputError("Ask for 1 to 120 months.")
        _, last_complete = self.reporting_dates()
        first = last_complete
        for _ in range(months - 1):
            first = first.previous
        rows = tuple(
            sorted(
                (
                    TransactionsMonthRow(Month.of(r["metric_time__month"]), r["transaction__transaction_type"],
                                         int(r["transaction_count"] or 0), money(r["transaction_volume"]))
                    for r in self.engine.query(saved_query="transactions_per_month").dicts()
                    if first <= Month.of(r["metric_time__month"]) <= last_complete
                ),
                key=lambda row: (row.month, row.transaction_type),
            )
        )
        return TransactionsPerMonth(first, last_complete, rows)

    # -- advisor ----------------------------------------------------------------------------------------------
    def watchlist(self, month: Month | None = None) -> Watchlist:
        as_of, last_complete = self.reporting_dates()
        month = month or last_complete
        month.require_complete(as_of)
        thresholds: dict[WatchReason, Decimal] = {
            "high_withdrawals": self.settings.watch_withdrawals_min,
            "loans_outstanding": self.settings.watch_loans_min,
            "investments_held": self.settings.watch_investments_min,
        }
        red_streak_listing = self._red_streak_listing(month)  # read while MetricFlow answers the thresholds query
        # Only customer-months at or above a threshold come back. One row per customer and month: `withdrawals` is
        # the metric; the month-end positions are the same figures as the loans_outstanding / investments_held
        # metrics at one customer-month, read as that row's governed dimensions (asking for the semi-additive
        # metrics would add a max-month join and a full outer join for nothing at this grain).
        flagged = self.engine.query(
            ["withdrawals"],
            ["customer", "customer__full_name", "customer_month__month_end_loans_outstanding",
             "customer_month__month_end_investments_held"],
            where=[filters.months_of("customer_month", month, month), filters.watch_thresholds(*thresholds.values())],
        )
        customer, full_name, withdrawals, loans, investments = flagged.positions(
            "customer", "customer__full_name", "withdrawals", "customer_month__month_end_loans_outstanding",
            "customer_month__month_end_investments_held")
        # (reason, column, threshold, a cent below it: raw numbers under that cannot reach the threshold in cents)
        checks = [(reason, position, thresholds[reason], thresholds[reason] - CENT) for reason, position in
                  (("high_withdrawals", withdrawals), ("loans_outstanding", loans), ("investments_held", investments))]
        entries = []
        for r in flagged.rows:
            customer_id = None
            for reason, position, threshold, below in checks:
                raw = r[position]
                if (raw or 0) < below:
                    continue
                value = money(raw)
                if value >= threshold:
                    customer_id = customer_id or CustomerId.from_warehouse(r[customer])
                    entries.append(WatchlistEntry(customer_id, r[full_name], reason, value, threshold))
        entries.sort(key=lambda e: (e.reason, -e.value, e.customer_id.value))
        return Watchlist(month, tuple(entries), _red_streaks(red_streak_listing.result().rows), thresholds,
                         self.settings.red_streak_min_months)

    def _red_streak_listing(self, month: Month) -> Future[QueryResult]:
        """Customers in a red streak at the end of `month`: a row listing of the customer-months that dbt marked
        (the streak rule is governed in the marts; `customers_in_red_streak` counts these rows), longest streak
        first, then the deepest balance. Read on a worker thread (`_fetch_meanwhile`)."""
        return self._fetch_meanwhile(
            "SELECT m.customer_id, c.full_name, m.red_streak_months, m.red_streak_start_month,"
            " CAST(m.closing_balance AS DECIMAL(18, 2))"
            f" FROM {self.engine.relation('fct_customer_months')} AS m"
            f" JOIN {self.engine.relation('dim_customers')} AS c ON c.customer_id = m.customer_id"
            " WHERE m.month_start = ? AND m.red_streak_months >= ?"
            " ORDER BY m.red_streak_months DESC, m.closing_balance, m.customer_id",
            [month.first_day, self.settings.red_streak_min_months],
        )

    def _fetch_meanwhile(self, sql: str, params: Sequence[Any]) -> Future[QueryResult]:
        """Start a row listing on a worker thread while the caller asks MetricFlow for the same answer's figures.

        DuckDB releases the GIL while it executes, so the two queries overlap. The caller turns the rows into objects
        itself once both are back: two threads building objects at once only contend for the GIL (measured slower).
        """
        return _background().submit(self.engine.fetch, sql, params)

    # -- definitions ------------------------------------------------------------------------------------------
    def metric_names(self) -> list[str]:
        return sorted(self.engine.metric_names)

    def define(self, metric: str) -> MetricDefinition:
        name = metric_name(metric, set(self.engine.metric_names))
        return describe(self.engine.manifest, name)


@functools.cache
def _background() -> ThreadPoolExecutor:
    """The worker threads of `_fetch_meanwhile`, shared by the process's semantic layers."""
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="finefin-semantic-layer")


def _red_streaks(rows: Sequence[Sequence[Any]]) -> tuple[RedStreak, ...]:
    month_of: dict[Any, Month] = {}  # a handful of distinct start months: build each Month once
    streaks = []
    for customer, full_name, months, start, balance in rows:
        since = month_of.get(start)
        if since is None:
            since = month_of[start] = Month.of(_as_date(start))
        # money, in cents, as the listing casts it: quantizing each of thousands of rows again costs ~0.5 ms
        streaks.append(RedStreak(CustomerId.from_warehouse(customer), full_name, int(months), since, balance))
    return tuple(streaks)


def _require_customer_id(customer_id: object) -> None:
    if not isinstance(customer_id, CustomerId):
        raise TypeError("customer ids must be parsed into CustomerId first")


def _profile(row: Sequence[Any]) -> CustomerProfile:
    customer_id, full_name, email, tier, created_at = row
    return CustomerProfile(CustomerId(int(customer_id)), full_name, email, tier, created_at)


def _as_date(value: dt.date | dt.datetime | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _int(value: Any) -> int:
    return int(value or 0)


def _pct(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.1"))


def _growth(month: Month, row: dict[str, Any]) -> GrowthFigures:
    return GrowthFigures(
        month=month,
        revenue=money(row["revenue"]),
        transaction_volume=money(row["transaction_volume"]),
        transaction_count=_int(row["transaction_count"]),
        new_customers=_int(row["new_customers"]),
        revenue_mom_pct=_pct(row["revenue_mom_growth"]),
        volume_mom_pct=_pct(row["transaction_volume_mom_growth"]),
        new_customers_mom_pct=_pct(row["new_customers_mom_growth"]),
    )
