"""The query model against an independent oracle on the source PostgreSQL: every metric x each dimension an advisor
may use with it x month and week grain (where the metric has them), and every metric with a filter and a period.

The chain is real (generator -> PostgreSQL -> dlt -> DuckDB -> dbt -> published snapshot -> MetricFlow). The
oracle reads the operational tables with plain SQL and adds up in Python (tests/dbt_oracle.py for balances,
investments and red streaks); it shares no code with dbt or the semantic layer. Money is compared to the cent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import psycopg
import pytest

from semantic_layer.catalog import Grain, ValueKind
from semantic_layer.inputs import CustomerId
from semantic_layer.policy import Audience, Principal
from semantic_layer.query import DimensionFilter, MetricQuery, Period, bucket_end, truncate
from semantic_layer.query_service import QueryService
from tests.dbt_chain import Chain, project_vars
from tests.dbt_oracle import Oracle, add_months, load_oracle, month_end, months_between

ZERO = Decimal("0")
CENT = Decimal("0.01")
ADVISOR = Principal(frozenset({Audience.ADVISOR}))
PERIOD = Period.days(date(2025, 10, 1), date(2026, 1, 31))
TO_DATE = Period.days(date(2026, 1, 1), date(2026, 3, 31))  # ends after the data's as-of date (2026-02-10)
Key = tuple[Any, ...]


pytest_plugins = ["tests.query_support"]  # chain, sl, qs: one warehouse per module


# -- the oracle ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fact:
    """A row a metric adds up: its day, who, which account and type, the amount (or 1), a distinct key."""

    day: date
    customer: int
    account: int | None
    type: str | None
    value: Decimal
    distinct: Any = None


class Source:
    def __init__(self, dsn: str) -> None:
        with psycopg.connect(dsn) as conn:
            self.customers = {r[0]: r[1:] for r in conn.execute(
                "SELECT customer_id, (created_at AT TIME ZONE 'UTC')::date, upper(trim(country)), trim(full_name)"
                " FROM customers").fetchall()}
            self.accounts = {r[0]: r[1:] for r in conn.execute(
                "SELECT account_id, customer_id, (opened_at AT TIME ZONE 'UTC')::date, account_type,"
                " lower(trim(status)) FROM accounts").fetchall()}
            self.booked = conn.execute(
                "SELECT t.account_id, a.customer_id, (t.booked_at AT TIME ZONE 'UTC')::date, t.amount,"
                " t.transaction_type FROM transactions t JOIN accounts a USING (account_id)"
                " WHERE t.status = 'booked'").fetchall()
        self.oracle: Oracle = load_oracle(dsn)
        v = project_vars()
        self.gold, self.diamond, self.window = Decimal(v["tier_gold_min"]), Decimal(v["tier_diamond_min"]), \
            int(v["tier_months"])
        self.tier_now = self.oracle.tiers(self.gold, self.diamond, self.window)

    # facts of the additive metrics ---------------------------------------------------------------------------
    def tx(self, pick: Callable[[Decimal, str], Decimal | None]) -> list[Fact]:
        out = []
        for account, customer, day, amount, kind in self.booked:
            value = pick(amount, kind)
            if value is not None:
                out.append(Fact(day, customer, account, kind, value, customer))
        return out

    def facts(self, metric: str) -> list[Fact]:
        revenue = {"fee", "interest_charge"}
        match metric:
            case "revenue" | "revenue_by_month":
                return self.tx(lambda a, k: -a if k in revenue else None)
            case "transaction_volume" | "transaction_volume_by_month":
                return self.tx(lambda a, k: abs(a))
            case "transaction_count" | "active_customers":
                return self.tx(lambda a, k: Decimal(1))
            case "transaction_count_p2p_once":
                return self.tx(lambda a, k: Decimal(1) if k != "p2p_in" else None)
            case "transaction_volume_p2p_once":
                return self.tx(lambda a, k: abs(a) if k != "p2p_in" else None)
            case "withdrawals":
                return self.tx(lambda a, k: -a if k == "withdrawal" else None)
            case "new_customers" | "customers":
                return [Fact(d, c, None, None, Decimal(1), c) for c, (d, _, _) in self.customers.items()]
            case "accounts_opened":
                return [Fact(d, c, a, None, Decimal(1)) for a, (c, d, _, _) in self.accounts.items()]
        raise KeyError(metric)

    def attribute(self, dimension: str, fact: Fact, month: date | None = None) -> Any:
        match dimension:
            case "type":
                return fact.type
            case "tier":
                return self.tier_at(fact.customer, month) if month is not None else self.tier_now[fact.customer]
            case "country":
                return self.customers[fact.customer][1]
            case "customer_name":
                return self.customers[fact.customer][2]
            case "customer":
                return fact.customer
            case "account":
                return fact.account
            case "account_type":
                return self.accounts[fact.account][2] if fact.account else None
            case "account_status":
                return self.accounts[fact.account][3] if fact.account else None
        raise KeyError(dimension)

    def tier_at(self, customer: int, month: date) -> str:
        o = self.oracle
        first = o.first_month(customer)
        months = [m for m in (add_months(month, -k) for k in range(self.window)) if m >= first]
        total = sum(o.month_end_balance(customer, m) + o.investments_held(customer, m) for m in months)
        average = total / len(months)
        return "Diamond" if average >= self.diamond else "Gold" if average >= self.gold else "Bronze"

    # expected figures ----------------------------------------------------------------------------------------
    def expected(self, metric: str, dims: tuple[str, ...], grain: Grain,
                 keep: Callable[[Fact, date], bool] = lambda f, b: True) -> dict[Key, Any]:
        o = self.oracle
        if metric in ("balance", "current_balance"):
            return self._balances(metric, dims, grain, keep)
        if metric in ("balance_by_month", "loans_outstanding", "investments_held", "customers_in_red_streak",
                      "tier_customers", "tier_customers_by_month"):
            return self._customer_months(metric, dims, keep)
        if metric.endswith("_mom_growth"):
            base = {"revenue_mom_growth": "revenue", "transaction_volume_mom_growth": "transaction_volume",
                    "new_customers_mom_growth": "new_customers"}[metric]
            figures = self.expected(base, dims, grain, keep)
            out: dict[Key, Any] = {}
            for (bucket, *rest), value in figures.items():
                prev = figures.get((add_months(bucket, -1), *rest))
                if prev:
                    out[(bucket, *rest)] = ((Decimal(value) - prev) * 100 / abs(Decimal(prev))).quantize(
                        Decimal("0.1"), ROUND_HALF_UP) if prev > 0 else None
            return {k: v for k, v in out.items() if v}  # the answer leaves empty and 0.0 % out too
        sums: dict[Key, Any] = defaultdict(lambda: ZERO)
        distinct: dict[Key, set[Any]] = defaultdict(set)
        for fact in self.facts(metric):
            if fact.day > o.as_of:
                continue
            bucket = truncate(fact.day, grain)
            if not keep(fact, bucket):
                continue
            key = (bucket, *(self.attribute(d, fact) for d in dims))
            sums[key] += fact.value
            distinct[key].add(fact.distinct)
        if metric in ("active_customers", "customers"):
            return {k: len(v) for k, v in distinct.items()}
        return {k: v for k, v in sums.items() if v != 0}

    def _balances(self, metric: str, dims: tuple[str, ...], grain: Grain,
                  keep: Callable[[Fact, date], bool]) -> dict[Key, Any]:
        o = self.oracle
        first = min(o.account_opened.values())
        buckets = sorted({truncate(first + timedelta(days=k), grain) for k in range((o.as_of - first).days + 1)})
        if metric == "current_balance":
            buckets = [truncate(o.as_of, grain)]
        out: dict[Key, Any] = defaultdict(lambda: ZERO)
        for bucket in buckets:
            day = min(bucket_end(bucket, grain), o.as_of)
            for account, (customer, opened, _, _) in self.accounts.items():
                fact = Fact(day, customer, account, None, ZERO)
                if opened <= day and keep(fact, bucket):
                    out[(bucket, *(self.attribute(d, fact) for d in dims))] += o.account_balance(account, day)
        return {k: v for k, v in out.items() if v != 0}

    def _customer_months(self, metric: str, dims: tuple[str, ...],
                         keep: Callable[[Fact, date], bool]) -> dict[Key, Any]:
        o = self.oracle
        loans: dict[int, list[tuple[date, Decimal]]] = defaultdict(list)
        for _, customer, day, amount, kind in self.booked:
            if kind in ("loan_disbursement", "loan_repayment"):
                loans[customer].append((day, amount))
        streaks = o.red_streaks()
        out: dict[Key, Any] = defaultdict(lambda: ZERO)
        for customer in self.customers:
            last = o.last_complete_month if metric.startswith("tier_") else o.as_of.replace(day=1)
            for month in months_between(o.first_month(customer), last):
                fact = Fact(month, customer, None, None, ZERO)
                if not keep(fact, month):
                    continue
                end = min(month_end(month), o.as_of)
                match metric:
                    case "balance_by_month":
                        value: Decimal = o.month_end_balance(customer, month)
                    case "investments_held":
                        value = o.investments_held(customer, month)
                    case "loans_outstanding":
                        value = sum((a for d, a in loans[customer] if d <= end), ZERO)
                    case "customers_in_red_streak":
                        value = Decimal(streaks.get((customer, month), (0, None))[0] >= 3)
                    case _:
                        value = Decimal(1)
                tier_month = month if metric.startswith("tier_") else None
                out[(month, *(self.attribute(d, fact, tier_month) for d in dims))] += value
        return {k: v for k, v in out.items() if v != 0}


@pytest.fixture(scope="module")
def source(chain: Chain) -> Source:
    return Source(chain.dsn)


def expected_cents(values: dict[Key, Any], kind: ValueKind) -> dict[Key, Any]:
    if kind is ValueKind.MONEY:
        return {k: Decimal(v).quantize(CENT, ROUND_HALF_UP) for k, v in values.items()
                if Decimal(v).quantize(CENT, ROUND_HALF_UP) != 0}
    if kind is ValueKind.COUNT:
        return {k: int(v) for k, v in values.items()}
    return values


def test_every_metric_by_every_allowed_dimension_and_grain_equals_the_oracle(qs: QueryService, source: Source) -> None:
    failures: list[str] = []
    checked = 0
    for askable in qs.askable(ADVISOR):
        info = askable.info
        grains = [g for g in (Grain.MONTH, Grain.WEEK) if g in info.grains]
        assert grains, f"{info.name} has neither month nor week grain"
        for grain in grains:
            for dim in (None, *askable.dimensions):
                dims = () if dim is None else (dim,)
                answer = qs.run(ADVISOR, MetricQuery((info.name,), dims, grain))
                expected = expected_cents(source.expected(info.name, dims, grain), info.kind)
                actual = {row[:-1]: row[-1] for row in answer.rows if row[-1] not in (None, 0)}
                checked += 1
                # a customer signs up once: per customer, new customers never compare with a previous month
                if not expected and not (info.name == "new_customers_mom_growth" and dim in ("customer",
                                                                                           "customer_name")):
                    failures.append(f"{info.name} by {dim} per {grain}: the oracle found no figures")
                elif actual != expected:
                    diff = sorted(set(actual.items()) ^ set(expected.items()), key=str)[:4]
                    failures.append(f"{info.name} by {dim} per {grain}: differs, e.g. {diff}")
    assert checked >= 100
    assert not failures, "\n".join(failures)


def test_every_metric_with_a_filter_and_a_period_equals_the_oracle(qs: QueryService, source: Source) -> None:
    failures: list[str] = []
    for askable in qs.askable(ADVISOR):
        info = askable.info
        grain = Grain.MONTH
        period = TO_DATE if info.name == "current_balance" else PERIOD  # a figure of the as-of date only
        group = "country" if "country" in askable.dimensions else None
        if "type" in askable.dimensions:
            flt = DimensionFilter("type", ("card_payment", "FEE"))

            def keep(f: Fact, bucket: date) -> bool:
                return f.type in ("card_payment", "fee") and period.first <= bucket <= period.last  # noqa: B023
        else:
            flt = DimensionFilter("tier", ("Bronze",))
            tier_month = info.name.startswith("tier_")

            def keep(f: Fact, bucket: date) -> bool:
                tier = source.tier_at(f.customer, bucket) if tier_month else source.tier_now[f.customer]  # noqa: B023
                return tier == "Bronze" and period.first <= bucket <= period.last  # noqa: B023
        dims = (group,) if group else ()
        answer = qs.run(ADVISOR, MetricQuery((info.name,), dims, grain, (flt,), period))
        expected = expected_cents(source.expected(info.name, dims, grain, keep), info.kind)
        if info.name.endswith("_mom_growth"):  # the first month compares with one outside the period
            expected = {k: v for k, v in expected.items() if k[0] > PERIOD.first}
            actual = {row[:-1]: row[-1] for row in answer.rows if row[-1] not in (None, 0) and row[0] > PERIOD.first}
        else:
            actual = {row[:-1]: row[-1] for row in answer.rows if row[-1] not in (None, 0)}
        assert answer.period is not None and answer.period.first == period.first
        assert answer.period.to_date is (period is TO_DATE)
        if not expected:
            failures.append(f"{info.name} {flt}: the oracle found no figures")
        elif actual != expected:
            diff = sorted(set(actual.items()) ^ set(expected.items()), key=str)[:4]
            failures.append(f"{info.name} {flt} by {group}: differs, e.g. {diff}")
    assert not failures, "\n".join(failures)


def test_a_customer_gets_only_their_own_figures(qs: QueryService, source: Source) -> None:
    customer = max(source.customers, key=lambda c: sum(1 for r in source.booked if r[1] == c))
    me = Principal(frozenset({Audience.CUSTOMER}), CustomerId(customer))
    answer = qs.run(me, MetricQuery(("transaction_volume",), ("type",), Grain.MONTH))
    expected = expected_cents({k[:1] + k[2:]: v for k, v in source.expected(
        "transaction_volume", ("customer", "type"), Grain.MONTH).items() if k[1] == customer}, ValueKind.MONEY)
    assert {row[:-1]: row[-1] for row in answer.rows if row[-1] != 0} == expected
    assert answer.scoped_to == customer
