"""Every metric and API function of the semantic layer against an independent oracle on the source PostgreSQL.

The chain is real: generator -> PostgreSQL -> dlt -> DuckDB -> dbt build -> published snapshot -> MetricFlow.
Oracles are plain SQL on the operational database (UTC months) or the Python ledger in tests/dbt_oracle.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import psycopg
import pytest

from semantic_layer import filters
from semantic_layer.errors import (
    FutureMonthError,
    InvalidInputError,
    NoAccountInMonthError,
    UnknownCustomerError,
    UnknownMetricError,
)
from semantic_layer.inputs import CustomerId, Month
from semantic_layer.service import MetricFlowSemanticLayer
from semantic_layer.settings import SemanticLayerSettings
from semantic_layer.types import PostalAddress, StatementAccount
from tests.dbt_chain import END_DATE, Chain, make_chain, project_vars
from tests.dbt_oracle import Oracle, add_months, load_oracle, month_end
from tests.growth_oracle import month_days, month_first, pct_matches, period, same_days_last_month

ZERO = Decimal("0.00")
BOOKED_MONTH = "date_trunc('month', t.booked_at AT TIME ZONE 'UTC')::date"
# Low thresholds so that the small data set puts customers on every list.
WATCH = SemanticLayerSettings(watch_withdrawals_min=Decimal("500"), watch_loans_min=Decimal("1000"),
                              watch_investments_min=Decimal("1000"))


@pytest.fixture(scope="module")
def chain(make_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> Chain:
    chain = make_chain(make_database, tmp_path_factory.mktemp("sl"))
    chain.build()
    chain.publish()
    return chain


@pytest.fixture(scope="module")
def sl(chain: Chain) -> Iterator[MetricFlowSemanticLayer]:
    sl = chain.semantic_layer(WATCH)
    yield sl
    sl.engine.close()


@pytest.fixture(scope="module")
def oracle(chain: Chain) -> Oracle:
    return load_oracle(chain.dsn)


def pg(chain: Chain, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(chain.dsn) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def by_month(rows: list[tuple]) -> dict[date, Decimal]:
    return {r[0]: Decimal(r[1]) for r in rows}


def mf_by_month(sl: MetricFlowSemanticLayer, metric: str) -> dict[date, Decimal]:
    result = sl.engine.query([metric], ["metric_time__month"])
    return {r["metric_time__month"].date(): Decimal(str(r[metric] or 0)) for r in result.dicts()}


def cents(values: dict[date, Decimal]) -> dict[date, Decimal]:
    return {k: v.quantize(Decimal("0.01")) for k, v in values.items() if v != 0}


# -- metrics ----------------------------------------------------------------------------------------------------
SIMPLE_METRIC_ORACLES = {
    "revenue": f"SELECT {BOOKED_MONTH}, -sum(amount) FROM transactions t WHERE status = 'booked'"
               " AND transaction_type IN ('fee', 'interest_charge') GROUP BY 1",
    "transaction_volume": f"SELECT {BOOKED_MONTH}, sum(abs(amount)) FROM transactions t WHERE status = 'booked'"
                          " GROUP BY 1",
    "transaction_count": f"SELECT {BOOKED_MONTH}, count(*) FROM transactions t WHERE status = 'booked' GROUP BY 1",
    # the inputs of the month-over-month metrics, read from the monthly customer figures: the same totals
    "revenue_by_month": f"SELECT {BOOKED_MONTH}, -sum(amount) FROM transactions t WHERE status = 'booked'"
                        " AND transaction_type IN ('fee', 'interest_charge') GROUP BY 1",
    "transaction_volume_by_month": f"SELECT {BOOKED_MONTH}, sum(abs(amount)) FROM transactions t"
                                   " WHERE status = 'booked' GROUP BY 1",
    "withdrawals": f"SELECT {BOOKED_MONTH}, -sum(amount) FROM transactions t WHERE status = 'booked'"
                   " AND transaction_type = 'withdrawal' GROUP BY 1",
    "active_customers": f"SELECT {BOOKED_MONTH}, count(DISTINCT a.customer_id) FROM transactions t"
                        " JOIN accounts a USING (account_id) WHERE t.status = 'booked' GROUP BY 1",
    "new_customers": "SELECT date_trunc('month', created_at AT TIME ZONE 'UTC')::date, count(*) FROM customers"
                     " GROUP BY 1",
    "accounts_opened": "SELECT date_trunc('month', opened_at AT TIME ZONE 'UTC')::date, count(*) FROM accounts"
                       " GROUP BY 1",
}


@pytest.mark.parametrize("metric", sorted(SIMPLE_METRIC_ORACLES))
def test_additive_metric_by_month_equals_sql_oracle(sl: MetricFlowSemanticLayer, chain: Chain, metric: str) -> None:
    expected = cents(by_month(pg(chain, SIMPLE_METRIC_ORACLES[metric])))
    assert expected, "the oracle found no rows: the data set is too small to test this metric"
    assert cents(mf_by_month(sl, metric)) == expected


def _month_ends(oracle: Oracle) -> list[date]:
    first = min(oracle.account_opened.values()).replace(day=1)
    months, m = [], first
    while m <= oracle.as_of:
        months.append(m)
        m = add_months(m, 1)
    return months


@pytest.mark.parametrize("metric", ["balance", "balance_by_month"])
def test_balance_is_semi_additive_month_end_total(sl: MetricFlowSemanticLayer, oracle: Oracle, metric: str) -> None:
    got = cents(mf_by_month(sl, metric))
    expected = {}
    for month in _month_ends(oracle):
        day = min(month_end(month), oracle.as_of)
        expected[month] = sum((ledger.balance_at(day) for ledger in oracle.account_ledgers.values()), ZERO)
    assert got == cents(expected)


def test_balance_by_month_equals_balance_for_every_customer_and_month(sl: MetricFlowSemanticLayer,
                                                                       oracle: Oracle) -> None:
    """The month-end figures (fct_customer_months) give the balance metric's answer per customer and month, and the
    oracle's: the month's last day, or the as-of date for the running month."""
    def by_customer_month(metric: str) -> dict[tuple[int, date], Decimal]:
        result = sl.engine.query([metric], ["customer", "metric_time__month"])
        customer, month, value = result.positions("customer", "metric_time__month", metric)
        return {(int(r[customer]), r[month].date()): Decimal(str(r[value])).quantize(Decimal("0.01"))
                for r in result.rows}

    monthly = by_customer_month("balance_by_month")
    daily = by_customer_month("balance")
    assert {k: v for k, v in monthly.items() if v} == {k: v for k, v in daily.items() if v}
    expected = {(c, m): ledger.balance_at(min(month_end(m), oracle.as_of))
                for c, ledger in oracle.customer_ledgers.items() for m in _month_ends(oracle)}
    assert {k: v for k, v in monthly.items() if v} == {k: v for k, v in expected.items() if v}
    assert len(monthly) > 500


def test_current_balance_is_the_balance_at_the_as_of_date(sl: MetricFlowSemanticLayer, oracle: Oracle) -> None:
    result = sl.engine.query(["current_balance"], ["account", "customer"])
    account, customer, value = result.positions("account", "customer", "current_balance")
    got = {int(r[account]): (int(r[customer]), Decimal(str(r[value])).quantize(Decimal("0.01")))
           for r in result.rows}
    assert got == {a: (oracle.account_owner[a], oracle.account_balance(a, oracle.as_of))
                   for a, opened in oracle.account_opened.items() if opened <= oracle.as_of}
    (total,) = sl.engine.query(["current_balance"]).rows[0]
    latest = sl.engine.query(["balance"], ["metric_time__day"], order_by=["-metric_time__day"], limit=1)
    day, balance = latest.positions("metric_time__day", "balance")
    assert latest.rows[0][day].date() == oracle.as_of
    expected = sum((oracle.account_balance(a, oracle.as_of) for a in oracle.account_opened), ZERO)
    assert Decimal(str(total)).quantize(Decimal("0.01")) == expected
    assert Decimal(str(latest.rows[0][balance])).quantize(Decimal("0.01")) == expected


@pytest.mark.parametrize(("metric", "types", "sign"), [
    ("loans_outstanding", ("loan_disbursement", "loan_repayment"), 1),
    ("investments_held", ("investment_buy", "investment_sell"), -1),
])
def test_position_metrics_at_month_end(sl: MetricFlowSemanticLayer, chain: Chain, oracle: Oracle, metric: str,
                                       types: tuple[str, str], sign: int) -> None:
    expected = {}
    for month in _month_ends(oracle):
        day = min(month_end(month), oracle.as_of)
        (total,) = pg(chain, "SELECT coalesce(sum(amount), 0) FROM transactions WHERE status = 'booked'"
                             " AND transaction_type = ANY(%s) AND (booked_at AT TIME ZONE 'UTC')::date <= %s",
                      (list(types), day))[0]
        expected[month] = sign * Decimal(total)
    assert any(v for v in expected.values())
    assert cents(mf_by_month(sl, metric)) == cents(expected)


def test_customers_in_red_streak_per_complete_month(sl: MetricFlowSemanticLayer, oracle: Oracle) -> None:
    streaks = oracle.red_streaks()
    expected: dict[date, Decimal] = {}
    for (_, month), (length, _) in streaks.items():
        expected[month] = expected.get(month, ZERO) + (1 if length >= 3 else 0)
    got = {m: v for m, v in mf_by_month(sl, "customers_in_red_streak").items() if m <= oracle.last_complete_month}
    assert any(expected.values()), "no 3-month red streak in the data set"
    assert cents(got) == cents(expected)


def test_customers_per_tier_equals_oracle_rule(sl: MetricFlowSemanticLayer, oracle: Oracle) -> None:
    v = project_vars()
    tiers = oracle.tiers(Decimal(str(v["tier_gold_min"])), Decimal(str(v["tier_diamond_min"])), v["tier_months"])
    expected = {t: sum(1 for x in tiers.values() if x == t) for t in ("Bronze", "Gold", "Diamond")}
    result = sl.engine.query(saved_query="customers_per_tier")
    got = {r["customer__tier"]: int(r["customers"]) for r in result.dicts()}
    assert {t: got.get(t, 0) for t in expected} == expected


def test_tier_customers_by_month_equals_tier_customers_month_by_month(sl: MetricFlowSemanticLayer) -> None:
    """The month-grain count the API reads is the governed semi-additive metric, month by month."""
    by = ["metric_time__month", "customer_tier_month__tier"]
    def counts(metric: str) -> dict[tuple, int]:
        result = sl.engine.query([metric], by)
        month, tier, count = result.positions(*by, metric)
        return {(r[month], r[tier]): int(r[count]) for r in result.rows}

    governed, monthly = counts("tier_customers"), counts("tier_customers_by_month")
    assert governed and monthly == governed
    # grouped on the plain month date (what customers_per_tier asks for): the same counts
    by_day = sl.engine.query(["tier_customers_by_month"], ["customer_tier_month__month_first_day",
                                                           "customer_tier_month__tier"])
    day, tier, count = by_day.positions("customer_tier_month__month_first_day", "customer_tier_month__tier",
                                        "tier_customers_by_month")
    assert {(dt.datetime.combine(r[day], dt.time()), r[tier]): int(r[count]) for r in by_day.rows} == governed


def test_month_first_day_filter_keeps_the_same_rows_as_metric_time(sl: MetricFlowSemanticLayer,
                                                                   oracle: Oracle) -> None:
    month = Month.of(oracle.last_complete_month)
    for model, metric, by in (("customer_month", "withdrawals", ["customer"]),
                              ("customer_tier_month", "tier_customers", ["customer_tier_month__tier"])):
        def rows(where: filters.Filter, metric: str = metric, by: list[str] = by) -> set[tuple]:
            return set(sl.engine.query([metric], ["metric_time__month", *by], where=[where]).rows)

        got = rows(filters.months_of(model, month.previous, month))
        assert got and got == rows(filters.month_between(month.previous, month))
    with pytest.raises(ValueError):
        filters.months_of("transaction", month, month)


def _pct(cur: Decimal, prev: Decimal) -> Decimal | None:
    if prev == 0:
        return None
    return ((cur - prev) * 100 / prev).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)


def test_monthly_growth_matches_oracle_including_mom(sl: MetricFlowSemanticLayer, chain: Chain, oracle: Oracle) -> None:
    revenue = by_month(pg(chain, SIMPLE_METRIC_ORACLES["revenue"]))
    volume = by_month(pg(chain, SIMPLE_METRIC_ORACLES["transaction_volume"]))
    count = by_month(pg(chain, SIMPLE_METRIC_ORACLES["transaction_count"]))
    new = by_month(pg(chain, SIMPLE_METRIC_ORACLES["new_customers"]))
    month = Month.of(oracle.last_complete_month)
    growth = sl.monthly_growth(month, history=3)
    assert [f.month for f in growth.history] == [month.previous.previous, month.previous, month]
    for figures in growth.history:
        m, p = figures.month.first_day, figures.month.previous.first_day
        assert figures.revenue == revenue.get(m, ZERO).quantize(Decimal("0.01"))
        assert figures.transaction_volume == volume[m]
        assert figures.transaction_count == count[m]
        assert figures.new_customers == new.get(m, 0)
        for got, series in ((figures.revenue_mom_pct, revenue), (figures.volume_mom_pct, volume),
                            (figures.new_customers_mom_pct, new)):
            want = _pct(series.get(m, ZERO), series.get(p, ZERO))
            assert (got is None) == (want is None)
            if want is not None:
                assert abs(got - want) <= Decimal("0.1")  # float vs Decimal rounding at the 0.05 edge only


def test_growth_of_the_running_month_is_month_to_date_against_the_same_days(
        sl: MetricFlowSemanticLayer, chain: Chain, oracle: Oracle) -> None:
    as_of = END_DATE  # the generator's end date: the data's "today"
    assert oracle.as_of == as_of and as_of != month_end(as_of)  # its month is running
    month = Month.of(as_of)
    growth = sl.monthly_growth(month, history=3)
    assert growth.month == month and growth.is_month_to_date
    current = growth.current
    compared = same_days_last_month(as_of)
    assert (current.through, current.last_day, current.compared_last_day) == (as_of, as_of, compared[1])
    now, before = period(chain.dsn, month_first(as_of), as_of), period(chain.dsn, *compared)
    assert before.count and now.count  # both periods hold data: the percentages are computed
    assert (current.revenue, current.transaction_volume, current.transaction_count, current.new_customers) == (
        now.revenue, now.volume, now.count, now.new_customers)
    assert pct_matches(current.revenue_mom_pct, now.revenue, before.revenue)
    assert pct_matches(current.volume_mom_pct, now.volume, before.volume)
    assert pct_matches(current.new_customers_mom_pct, now.new_customers, before.new_customers)
    # the months before it are whole months, as without a month to date
    assert [f.month for f in growth.history] == [month.previous.previous, month.previous, month]
    for figures in growth.history[:-1]:
        whole = period(chain.dsn, *month_days(figures.month.first_day))
        assert not figures.is_month_to_date and figures.last_day == figures.month.last_day
        assert (figures.revenue, figures.transaction_volume, figures.transaction_count) == (
            whole.revenue, whole.volume, whole.count)
    # the default month is the last complete one, whole
    assert not sl.monthly_growth(None, 1).is_month_to_date


# -- API functions ----------------------------------------------------------------------------------------------
def _some_customers(chain: Chain, n: int = 8) -> list[int]:
    return [r[0] for r in pg(chain, "SELECT customer_id FROM customers ORDER BY customer_id LIMIT %s", (n,))]


def test_balance_per_account_for_customers(sl: MetricFlowSemanticLayer, chain: Chain, oracle: Oracle) -> None:
    for customer in _some_customers(chain):
        answer = sl.balance(CustomerId(customer))
        assert answer.as_of == oracle.as_of
        accounts = [a for a, owner in oracle.account_owner.items() if owner == customer]
        assert sorted(a.account_id for a in answer.accounts) == sorted(accounts)
        kinds = dict(((a, (t, st)) for a, t, st in pg(
            chain, "SELECT account_id, account_type, status FROM accounts WHERE customer_id = %s", (customer,))))
        for account in answer.accounts:
            assert account.balance == oracle.account_balance(account.account_id, oracle.as_of)
            assert (account.account_type, account.status) == kinds[account.account_id]
        assert answer.total == sum((a.balance for a in answer.accounts), ZERO)


def test_upcoming_lists_next_30_days_with_projected_balance(sl: MetricFlowSemanticLayer, chain: Chain,
                                                           oracle: Oracle) -> None:
    (customer,) = pg(chain, "SELECT a.customer_id FROM transactions t JOIN accounts a USING (account_id)"
                            " WHERE t.status = 'scheduled' GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")[0]
    answer = sl.upcoming(CustomerId(customer))
    rows = pg(chain, "SELECT t.transaction_id, t.amount FROM transactions t JOIN accounts a USING (account_id)"
                     " WHERE a.customer_id = %s AND t.status = 'scheduled' AND t.scheduled_for > %s"
                     " AND t.scheduled_for <= %s ORDER BY t.scheduled_for, t.transaction_id",
              (customer, oracle.as_of, oracle.as_of + timedelta(days=30)))
    assert rows and [i.transaction_id for i in answer.items] == [r[0] for r in rows]
    running = oracle.customer_ledgers[customer].balance_at(oracle.as_of)
    assert answer.starting_balance == running
    for item, (_, amount) in zip(answer.items, rows, strict=True):
        running += amount
        assert item.projected_balance == running


def test_statement_reconciles_with_source(sl: MetricFlowSemanticLayer, chain: Chain, oracle: Oracle) -> None:
    month = Month.of(oracle.last_complete_month)
    for customer in _some_customers(chain, 5):
        statement = sl.statement(CustomerId(customer))
        assert statement.month == month
        (name,) = pg(chain, "SELECT full_name FROM customers WHERE customer_id = %s", (customer,))[0]
        assert statement.full_name == name
        ledger = oracle.customer_ledgers.get(customer)
        opening = ledger.balance_at(month.previous.last_day) if ledger else ZERO
        closing = ledger.balance_at(month.last_day) if ledger else ZERO
        assert (statement.opening_balance, statement.closing_balance) == (opening, closing)
        lines = pg(chain, "SELECT t.transaction_id, t.amount FROM transactions t JOIN accounts a USING (account_id)"
                          " WHERE a.customer_id = %s AND t.status = 'booked'"
                          " AND (t.booked_at AT TIME ZONE 'UTC')::date BETWEEN %s AND %s",
                   (customer, month.first_day, month.last_day))
        assert sorted((line.transaction_id, line.amount) for line in statement.lines) == sorted(lines)
        assert opening + statement.total_in + statement.total_out == closing
        assert statement.money_out == -statement.total_out >= 0
        assert statement.as_of == oracle.as_of  # the issue date: the data's as-of date, not the wall clock
        ((street, postal_code, city, country),) = pg(
            chain, "SELECT street, postal_code, city, country FROM customers WHERE customer_id = %s", (customer,))
        assert statement.address == PostalAddress(street, postal_code, city, country)
        # the accounts open in the month, with the IBAN the source stores for each; every line's account among them
        open_accounts = pg(chain, "SELECT account_id, iban FROM accounts WHERE customer_id = %s"
                                  " AND (opened_at AT TIME ZONE 'UTC')::date <= %s AND (closed_at IS NULL"
                                  " OR (closed_at AT TIME ZONE 'UTC')::date >= %s)",
                           (customer, month.last_day, month.first_day))
        assert sorted((a.account_id, a.iban) for a in statement.accounts) == sorted(open_accounts)
        assert all(statement.iban_of(line.account_id) for line in statement.lines)


def test_statement_of_a_month_without_any_account_says_so(sl: MetricFlowSemanticLayer, chain: Chain,
                                                           oracle: Oracle) -> None:
    """Before the customer's first account opened (and before the data starts): a clear refusal, not zeros."""
    last = Month.of(oracle.last_complete_month)
    # a customer whose first account opened after the data's first month, asked about the month before it
    (customer, first_opened), *_ = pg(
        chain, "SELECT customer_id, min((opened_at AT TIME ZONE 'UTC')::date) FROM accounts GROUP BY 1"
               " HAVING min((opened_at AT TIME ZONE 'UTC')::date) > %s + 40"
               " AND min((opened_at AT TIME ZONE 'UTC')::date) <= %s ORDER BY 1",
        (min(oracle.account_opened.values()), last.last_day))
    before = Month.of(first_opened).previous
    with pytest.raises(NoAccountInMonthError) as info:
        sl.statement(CustomerId(customer), before)
    assert str(info.value) == (f"You had no account with FineFinance in {before} "
                               f"(your first account opened on {first_opened.isoformat()}).")
    assert isinstance(info.value, InvalidInputError)
    # the month it opened is a statement
    assert sl.statement(CustomerId(customer), Month.of(first_opened)).accounts
    # before the data starts: the same answer for the very first customer
    data_start = Month.of(min(oracle.account_opened.values()))
    first_customer = _some_customers(chain, 1)[0]
    with pytest.raises(NoAccountInMonthError, match=f"in {data_start.previous.previous} "):
        sl.statement(CustomerId(first_customer), data_start.previous.previous)


def test_statement_accounts_rule_for_closed_and_missing_accounts() -> None:
    month = Month(2026, 3)
    closed = StatementAccount(7, "FR7617569104263032441093722", "savings", date(2025, 1, 5), date(2026, 1, 31))
    current = StatementAccount(8, "FR7617569106303346600359030", "current", date(2026, 3, 31), None)
    rule = MetricFlowSemanticLayer._statement_accounts
    assert rule(month, (closed, current), set()) == (current,)
    assert rule(Month(2026, 1), (closed, current), set()) == (closed,)
    assert rule(Month(2026, 2), (closed,), {7}) == (closed,)  # a line on it: covered though closed before
    with pytest.raises(NoAccountInMonthError, match=r"^You had no open account with FineFinance in 2026-03 "
                                                    r"\(your last account closed on 2026-01-31\)\.$"):
        rule(month, (closed,), set())
    with pytest.raises(NoAccountInMonthError, match="You have no account with FineFinance yet"):
        rule(month, (), set())


# Transactions per month and type with a P2P transfer once: the sending side of each pair of booked rows that
# point at each other (same amount, same time). Every p2p_in must be the other side of a p2p_out.
TRANSACTIONS_ONCE_SQL = f"""
    SELECT {BOOKED_MONTH}, t.transaction_type, count(*), sum(abs(t.amount)) FROM transactions t
    WHERE t.status = 'booked' AND t.booked_at AT TIME ZONE 'UTC' >= %(first)s
      AND t.booked_at AT TIME ZONE 'UTC' < %(end)s
      AND (t.transaction_type <> 'p2p_in' OR NOT EXISTS (
          SELECT 1 FROM transactions o WHERE o.status = 'booked' AND o.transaction_type = 'p2p_out'
          AND o.account_id = t.counterparty_account_id AND o.counterparty_account_id = t.account_id
          AND o.amount = -t.amount AND o.booked_at = t.booked_at))
    GROUP BY 1, 2 ORDER BY 1, 2"""


def test_transactions_per_month_by_type(sl: MetricFlowSemanticLayer, chain: Chain, oracle: Oracle) -> None:
    answer = sl.transactions_per_month(months=4)
    assert answer.last_month == Month.of(oracle.last_complete_month)
    assert answer.first_month == Month.of(oracle.last_complete_month).previous.previous.previous
    rows = pg(chain, TRANSACTIONS_ONCE_SQL,
              {"first": answer.first_month.first_day, "end": answer.last_month.next.first_day})  # type: ignore[arg-type]
    assert any(t == "p2p_out" for _, t, _, _ in rows) and not any(t == "p2p_in" for _, t, _, _ in rows)
    assert [(r.month.first_day, r.transaction_type, r.transaction_count, r.transaction_volume)
            for r in answer.rows] == [(m, t, c, v) for m, t, c, v in rows]


def test_transactions_per_month_start_where_the_data_starts(sl: MetricFlowSemanticLayer, chain: Chain,
                                                           oracle: Oracle) -> None:
    (first_booked,) = pg(chain, f"SELECT min({BOOKED_MONTH}) FROM transactions t WHERE status = 'booked'")[0]
    last = Month.of(oracle.last_complete_month)
    asked = last
    for _ in range(119):
        asked = asked.previous
    assert asked < Month.of(first_booked)  # ten years back is before the data
    answer = sl.transactions_per_month(months=120)
    assert (answer.first_month, answer.last_month, answer.as_of) == (Month.of(first_booked), last, oracle.as_of)
    assert min(r.month for r in answer.rows) == answer.first_month


def test_watchlist_reasons_thresholds_and_red_streaks(sl: MetricFlowSemanticLayer, chain: Chain,
                                                      oracle: Oracle) -> None:
    month = Month.of(oracle.last_complete_month)
    answer = sl.watchlist()
    assert answer.month == month
    got = {(e.customer_id.value, e.reason): e.value for e in answer.entries}
    expected: dict[tuple[int, str], Decimal] = {}
    for (customer, m), amount in oracle.withdrawals.items():
        if m == month.first_day and amount >= WATCH.watch_withdrawals_min:
            expected[(customer, "high_withdrawals")] = amount
    sums = pg(chain, "SELECT a.customer_id,"
                     " sum(amount) FILTER (WHERE transaction_type IN ('loan_disbursement', 'loan_repayment')),"
                     " -sum(amount) FILTER (WHERE transaction_type IN ('investment_buy', 'investment_sell'))"
                     " FROM transactions t JOIN accounts a USING (account_id) WHERE t.status = 'booked'"
                     " AND (t.booked_at AT TIME ZONE 'UTC')::date <= %s GROUP BY 1", (month.last_day,))
    for customer, loans, investments in sums:
        if loans is not None and loans >= WATCH.watch_loans_min:
            expected[(customer, "loans_outstanding")] = loans
        if investments is not None and investments >= WATCH.watch_investments_min:
            expected[(customer, "investments_held")] = investments
    assert {k for k in expected} and got == expected
    streaks = {c: v for (c, m), v in oracle.red_streaks().items() if m == month.first_day and v[0] >= 3}
    assert streaks, "the generator should leave customers in a 3+ month red streak"
    assert {s.customer_id.value: (s.months, s.since.first_day) for s in answer.red_streaks} == streaks
    for s in answer.red_streaks:
        assert s.balance == oracle.month_end_balance(s.customer_id.value, month.first_day) < 0
        # typed like every other answer: money in cents, a CustomerId, a Month
        assert isinstance(s.customer_id, CustomerId) and isinstance(s.since, Month)
        assert isinstance(s.balance, Decimal) and s.balance.as_tuple().exponent == -2
    # the order the advisor reads: entries by reason and size, streaks longest and deepest first
    assert list(answer.entries) == sorted(answer.entries, key=lambda e: (e.reason, -e.value, e.customer_id))
    assert list(answer.red_streaks) == sorted(answer.red_streaks, key=lambda s: (-s.months, s.balance, s.customer_id))


def test_freshness_reads_the_last_successful_load(sl: MetricFlowSemanticLayer, chain: Chain) -> None:
    from ingestion.load_log import last_successful_load

    fresh = sl.freshness()
    assert fresh.last_load_at == last_successful_load(chain.warehouse)
    assert fresh.is_stale is False or fresh.age > fresh.sla


def test_define_every_metric(sl: MetricFlowSemanticLayer) -> None:
    names = sl.metric_names()
    assert {"revenue", "transaction_volume", "transaction_count", "new_customers", "active_customers", "customers",
            "balance", "customers_in_red_streak", "withdrawals", "loans_outstanding", "investments_held",
            "revenue_mom_growth", "transaction_volume_mom_growth", "new_customers_mom_growth"} <= set(names)
    for name in names:
        definition = sl.define(name)
        assert definition.description and definition.definition
    assert "fee" in sl.define("revenue").description and "interest_charge" in sl.define("revenue").description


# -- bad input and cache ----------------------------------------------------------------------------------------
def test_bad_inputs_give_typed_errors(sl: MetricFlowSemanticLayer, oracle: Oracle) -> None:
    with pytest.raises(UnknownCustomerError, match="no customer 999999"):
        sl.balance(CustomerId(999999))
    with pytest.raises(UnknownCustomerError, match="no customer 999999"):
        sl.upcoming(CustomerId(999999))
    with pytest.raises(TypeError):
        sl.upcoming(7)  # type: ignore[arg-type]
    with pytest.raises(UnknownCustomerError, match="no customer 999999"):
        sl.statement(CustomerId(999999))
    with pytest.raises(FutureMonthError):
        sl.statement(CustomerId(1), Month.of(oracle.as_of))
    with pytest.raises(FutureMonthError):
        sl.monthly_growth(Month.of(oracle.as_of + timedelta(days=62)))
    with pytest.raises(InvalidInputError, match="No data for 2001-01"):
        sl.monthly_growth(Month(2001, 1))
    with pytest.raises(UnknownMetricError):
        sl.define("revenue; DROP TABLE x")
    with pytest.raises(TypeError):
        sl.balance("1 OR 1=1")  # type: ignore[arg-type]
    assert sl.customer_by_email("' OR ''='") is None


def test_cache_hits_then_new_publish_invalidates(sl: MetricFlowSemanticLayer, chain: Chain) -> None:
    first = sl.engine.query(saved_query="monthly_growth")
    assert sl.engine.query(saved_query="monthly_growth") is first  # served from the cache
    old = sl.engine.load_id
    chain.publish()
    again = sl.engine.query(saved_query="monthly_growth")
    assert sl.engine.load_id != old and again is not first
    # same rows (MetricFlow's SQL has no ORDER BY, so DuckDB may return them in another order)
    assert again.columns == first.columns and sorted(again.rows, key=str) == sorted(first.rows, key=str)


def test_planned_once_per_shape_and_equal_to_fresh_planning(sl: MetricFlowSemanticLayer, chain: Chain) -> None:
    from semantic_layer import filters

    engine = sl.engine
    engine.cache.clear()
    engine.plans.clear()
    loaded = engine._current()
    for customer in _some_customers(chain, 6):
        where = [filters.customer_is(CustomerId(customer)), filters.month_between(Month(2025, 11), Month(2026, 1))]
        got = engine.query(["balance"], ["metric_time__month", "account"], where=where)
        fresh = loaded.engine.query(engine._request(
            (("balance",), ("metric_time__month", "account"), tuple(f.template for f in where), (), None, None),
            where))
        def norm(rows: object) -> list[tuple]:  # the cached path keeps DuckDB's Decimal, MetricFlow gives float
            return sorted(tuple(Decimal(str(v)).quantize(Decimal("0.01")) if isinstance(v, float | Decimal) else v
                                for v in row) for row in rows)  # type: ignore[attr-defined]

        assert norm(got.rows) == norm(fresh.result_df.rows)
    assert len(engine.plans._items) == 1  # one shape, six customers: planned once


def test_prepared_plans_equal_literal_sql_for_every_value_type(sl: MetricFlowSemanticLayer, chain: Chain,
                                                                  oracle: Oracle) -> None:
    """The DuckDB client prepares each planned shape once per thread; its rows equal the plain SQL with literals."""
    from concurrent.futures import ThreadPoolExecutor

    from semantic_layer.duckdb_client import _slot_type

    engine = sl.engine
    loaded = engine._current()
    month = Month.of(oracle.last_complete_month)
    thresholds = filters.watch_thresholds(Decimal("500"), Decimal("1000.5"), Decimal("1000"))
    cases = [(["balance"], ["account"], [filters.customer_is(CustomerId(c))]) for c in _some_customers(chain, 3)]
    cases += [(["withdrawals"], ["customer", "customer_month__month_end_loans_outstanding"],
               [filters.months_of("customer_month", month, month), thresholds]),
              (["tier_customers_by_month"], ["metric_time__month", "customer_tier_month__tier"],
               [filters.months_of("customer_tier_month", month.previous, month)])]

    def run(case: tuple) -> tuple[set, set]:
        metrics, by, where = case
        engine.cache.clear()
        got = set(engine.query(metrics, by, where=where).rows)
        shape = (tuple(metrics), tuple(by), tuple(f.template for f in where), (), None, None)
        sql = engine._planned_sql(loaded, shape, where, tuple(v for f in where for v in f.values))
        return got, set(loaded.client.fetch(sql)[1])

    for got, literal_rows in [run(c) for c in cases] + list(ThreadPoolExecutor(3).map(run, cases * 2)):
        assert got == literal_rows
    assert any(got for got, _ in map(run, cases))
    # values no slot type holds exactly take the literal path
    assert _slot_type(Decimal("0.00000000001")) is None and _slot_type(2**63) is None
    assert _slot_type(Decimal("3000.50")) == "DECIMAL(38, 10)" and _slot_type(date(2026, 1, 1)) == "DATE"


def _tiers_at(oracle: Oracle, month: date) -> dict[str, int]:
    """The governed rule applied at `month` straight from the source ledgers (independent of dbt)."""
    v = project_vars()
    gold, diamond, window = Decimal(str(v["tier_gold_min"])), Decimal(str(v["tier_diamond_min"])), v["tier_months"]
    counts = {"Bronze": 0, "Gold": 0, "Diamond": 0}
    for customer in oracle.customer_signup:
        first = oracle.first_month(customer)
        months = [m for m in (add_months(month, -k) for k in range(window)) if m >= first]
        if not months:
            continue  # not a customer yet at that month end
        average = sum(oracle.month_end_balance(customer, m) + oracle.investments_held(customer, m)
                      for m in months) / len(months)
        counts["Diamond" if average >= diamond else "Gold" if average >= gold else "Bronze"] += 1
    return counts


def test_customers_per_tier_with_change_since_last_month(sl: MetricFlowSemanticLayer, oracle: Oracle) -> None:
    month = Month.of(oracle.last_complete_month)
    answer = sl.customers_per_tier()
    now, before = _tiers_at(oracle, month.first_day), _tiers_at(oracle, month.previous.first_day)
    assert answer.month == month
    assert {t.tier: (t.customers, t.change) for t in answer.tiers} == {
        tier: (now[tier], now[tier] - before[tier]) for tier in now}
    assert any(t.change for t in answer.tiers)
