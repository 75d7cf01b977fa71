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
from semantic_layer.errors import (
    InvalidInputError,
    NoAccountInMonthError,
    SemanticLayerError,
    UnknownCustomerError,
)
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
    PostalAddress,
    RedStreak,
    Statement,
    StatementAccount,
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
    pct_change,
    percent,
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
        # one listing, read while MetricFlow computes the opening and closing balances, in three parts (no join,
        # measured cheaper than joining the dimensions to the lines): 0 the customer's name and address (no row at
        # all: no such customer), 1 each account (IBAN, type, opening and closing dates), 2 the month's lines
        listing = self._fetch_meanwhile(
            "SELECT 0 AS part, c.full_name AS s1, c.street AS s2, c.postal_code AS s3, c.city AS s4,"
            " c.country_code AS s5, NULL AS d1, NULL AS d2, NULL AS account_id, NULL AS booked_at,"
            " NULL AS transaction_id, NULL AS amount"
            f" FROM {self.engine.relation('dim_customers')} AS c WHERE c.customer_id = ?"
            " UNION ALL SELECT 1, a.iban, a.account_type, NULL, NULL, NULL, a.opened_date, a.closed_date,"
            f" a.account_id, NULL, NULL, NULL FROM {self.engine.relation('dim_accounts')} AS a"
            " WHERE a.customer_id = ?"
            " UNION ALL SELECT 2, t.transaction_type, t.description, NULL, NULL, NULL, NULL, NULL, t.account_id,"
            f" t.booked_at, t.transaction_id, t.amount FROM {self.engine.relation('fct_transactions')} AS t"
            " WHERE t.customer_id = ? AND t.booked_date >= ? AND t.booked_date <= ?"
            " ORDER BY part, booked_at, transaction_id",
            [customer_id.value, customer_id.value, customer_id.value, month.first_day, month.last_day],
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
        if not rows or rows[0][0] != 0:
            raise UnknownCustomerError(f"There is no customer {customer_id}.")
        running = opening
        lines = []
        accounts: dict[int, StatementAccount] = {}
        for part, s1, s2, _, _, _, opened, closed, account_id, booked_at, tx_id, amount in rows[1:]:
            if part == 1:  # s1 iban, s2 account type
                accounts[int(account_id)] = StatementAccount(int(account_id), s1, s2, _as_date(opened),
                                                             None if closed is None else _as_date(closed))
                continue
            amount = money(amount)  # a line: s1 transaction type, s2 description
            running += amount
            lines.append(StatementLine(int(tx_id), int(account_id), booked_at, s1, s2 or "", amount, running))
        covered = self._statement_accounts(month, tuple(accounts.values()), {line.account_id for line in lines})
        if running != closing:
            raise SemanticLayerError(
                f"The {month} statement of customer {customer_id} does not reconcile "
                f"(opening {opening} + lines = {running}, closing {closing}); it was not produced."
            )
        name, street, postal_code, city, country = rows[0][1:6]
        address = PostalAddress(street, postal_code, city, country) if street and postal_code and city else None
        return Statement(customer_id, month, name, opening, tuple(lines), closing, address, covered, as_of)

    @staticmethod
    def _statement_accounts(month: Month, accounts: tuple[StatementAccount, ...],
                            with_lines: set[int]) -> tuple[StatementAccount, ...]:
        """The accounts a statement of `month` covers: open at some time in it, or with lines in it (oldest first).
        None: the customer had no account then (before the first opened, so also before the data starts, or after
        the last closed), and a statement of zeros would say otherwise."""
        covered = tuple(sorted(
            (a for a in accounts if a.account_id in with_lines
             or (a.opened_on <= month.last_day and (a.closed_on is None or a.closed_on >= month.first_day))),
            key=lambda a: (a.opened_on, a.account_id)))
        if covered:
            return covered
        if not accounts:
            raise NoAccountInMonthError(f"You have no account with FineFinance yet, so there is no statement for "
                                        f"{month}.")
        first = min(a.opened_on for a in accounts)
        if first > month.last_day:
            raise NoAccountInMonthError(f"You had no account with FineFinance in {month} (your first account opened "
                                        f"on {first.isoformat()}).")
        last = max(a.closed_on for a in accounts if a.closed_on is not None)
        raise NoAccountInMonthError(f"You had no open account with FineFinance in {month} (your last account "
                                    f"closed on {last.isoformat()}).")

    # -- director ---------------------------------------------------------------------------------------------
    def monthly_growth(self, month: Month | None = None, history: int = 6) -> MonthlyGrowth:
        as_of, last_complete = self.reporting_dates()
        month = (month or last_complete).require_started(as_of)
        rows = {Month.of(r["metric_time__month"]): r for r in self.engine.query(saved_query="monthly_growth").dicts()}
        if month not in rows:
            first = min(rows) if rows else None
            raise InvalidInputError(f"No data for {month}" + (f"; the data starts in {first}." if first else "."))
        months = [m for m in sorted(rows) if m <= month][-max(1, history):]
        figures = [_growth(m, rows[m]) for m in months]
        if month > last_complete:  # the data's current month, not over yet: a month to date, not a month
            figures[-1] = self._month_to_date(month, as_of)
        return MonthlyGrowth(month, figures[-1], tuple(figures))

    def _month_to_date(self, month: Month, as_of: dt.date) -> GrowthFigures:
        """`month`'s days 1 to `as_of` against the same days of the month before (cut at its last day: 1–30 March
        vs 1–28 February), both read from the growth metrics in one query filtered on metric_time days. The
        governed MoM metrics compare whole months, so the percentages here are the change between the two periods'
        governed figures."""
        previous = month.previous
        compared = min(previous.last_day, previous.first_day + dt.timedelta(days=as_of.day - 1))
        result = self.engine.query(
            _GROWTH_METRICS, ["metric_time__month"],
            where=[filters.day_ranges((previous.first_day, compared), (month.first_day, as_of))],
        )
        periods = {Month.of(r["metric_time__month"]): r for r in result.dicts()}
        now, before = periods.get(month, {}), periods.get(previous, {})
        revenue, volume = money(now.get("revenue")), money(now.get("transaction_volume"))
        new_customers = _int(now.get("new_customers"))
        return GrowthFigures(
            month=month,
            revenue=revenue,
            transaction_volume=volume,
            transaction_count=_int(now.get("transaction_count")),
            new_customers=new_customers,
            revenue_mom_pct=pct_change(revenue, money(before.get("revenue"))),
            volume_mom_pct=pct_change(volume, money(before.get("transaction_volume"))),
            new_customers_mom_pct=pct_change(new_customers, _int(before.get("new_customers"))),
            through=as_of,
            compared_through=compared,
        )

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
        as_of, last_complete = self.reporting_dates()
        first = last_complete
        for _ in range(months - 1):
            first = first.previous
        # P2P transfers once (their p2p_out side): the saved query asks for the *_p2p_once metrics
        result = self.engine.query(saved_query="transactions_per_month").dicts()
        all_rows = [
            TransactionsMonthRow(Month.of(r["metric_time__month"]), r["transaction__transaction_type"],
                                 int(r["transaction_count_p2p_once"] or 0), money(r["transaction_volume_p2p_once"]))
            for r in result
        ]
        data_first = min((row.month for row in all_rows), default=None)
        if data_first is None or data_first > last_complete:
            raise InvalidInputError("No complete month of transactions yet"
                                    + (f"; the data starts in {data_first}." if data_first else "."))
        first = max(first, data_first)  # the range starts where the data starts, not before
        rows = tuple(sorted((row for row in all_rows if first <= row.month <= last_complete),
                            key=lambda row: (row.month, row.transaction_type)))
        return TransactionsPerMonth(first, last_complete, rows, as_of)

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
    return percent(value)


# the figures of the growth answer (saved query monthly_growth without its month-over-month metrics)
_GROWTH_METRICS = ("revenue", "transaction_volume", "transaction_count", "new_customers")


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
