"""The `/finefin metric` grammar and the typed values it feeds, without a warehouse (a hand-built catalog)."""

from __future__ import annotations

from datetime import date

import pytest

from bot.commands.grammar import parse
from semantic_layer.catalog import DIMENSIONS, GRAIN_ORDER, Catalog, Grain, MetricInfo, ValueKind
from semantic_layer.errors import InvalidInputError, UnknownMetricError
from semantic_layer.filters import Category, Filter, literal
from semantic_layer.query import DimensionFilter, Order, Period, PeriodKind

TX_ITEMS = frozenset({"transaction__transaction_type", "customer__tier", "customer__country_code",
                      "account__account_type", "account__account_status", "customer", "customer__full_name",
                      "account", "metric_time__day"})


def info(name: str, label: str, kind: ValueKind = ValueKind.MONEY) -> MetricInfo:
    return MetricInfo(name, label, f"{label}, in words.", kind, GRAIN_ORDER,
                      tuple(d.key for d in DIMENSIONS), True, TX_ITEMS)


CATALOG = Catalog("test", {m.name: m for m in (
    info("revenue", "Revenue"), info("transaction_volume", "Transaction volume"),
    info("transaction_count", "Transactions", ValueKind.COUNT), info("withdrawals", "Withdrawals"))})


def test_the_issue_example() -> None:
    q = parse("revenue, transaction_volume by tier monthly from 2026-01 to 2026-06 where type=card_payment top 10",
              CATALOG)
    assert q.metrics == ("revenue", "transaction_volume")
    assert q.group_by == ("tier",) and q.grain is Grain.MONTH
    assert q.period == Period.days(date(2026, 1, 1), date(2026, 6, 30))
    assert q.filters == (DimensionFilter("type", ("card_payment",)),)
    assert q.order == (Order("revenue", True),) and q.limit == 10


@pytest.mark.parametrize(("text", "period"), [
    ("revenue this month", Period(PeriodKind.THIS_MONTH)),
    ("revenue last month", Period(PeriodKind.LAST_MONTH)),
    ("revenue last 6 months", Period(PeriodKind.LAST_MONTHS, count=6)),
    ("revenue for the last 6 months", Period(PeriodKind.LAST_MONTHS, count=6)),
    ("revenue this year", Period(PeriodKind.THIS_YEAR)),
    ("revenue ytd", Period(PeriodKind.THIS_YEAR)),
    ("revenue year to date", Period(PeriodKind.THIS_YEAR)),
    ("revenue last quarter", Period(PeriodKind.LAST_QUARTER)),
    ("revenue in 2026-Q3", Period.days(date(2026, 7, 1), date(2026, 9, 30))),
    ("revenue 2026", Period.days(date(2026, 1, 1), date(2026, 12, 31))),
    ("revenue 2028-02", Period.days(date(2028, 2, 1), date(2028, 2, 29))),
    ("revenue from 2026-01-15 to 2026-02", Period.days(date(2026, 1, 15), date(2026, 2, 28))),
])
def test_period_words(text: str, period: Period) -> None:
    assert parse(text, CATALOG).period == period


@pytest.mark.parametrize(("word", "grain"), [("daily", Grain.DAY), ("weekly", Grain.WEEK), ("monthly", Grain.MONTH),
                                             ("quarterly", Grain.QUARTER), ("yearly", Grain.YEAR),
                                             ("per week", Grain.WEEK), ("by month", Grain.MONTH)])
def test_grains(word: str, grain: Grain) -> None:
    assert parse(f"Transaction volume {word}", CATALOG).grain is grain


def test_labels_any_case_and_several_filters() -> None:
    q = parse("TRANSACTIONS, transaction volume by Transaction Type where tier = Gold,Diamond and country is FR "
              "sort by transactions asc limit 5", CATALOG)
    assert q.metrics == ("transaction_count", "transaction_volume") and q.group_by == ("type",)
    assert q.filters == (DimensionFilter("tier", ("Gold", "Diamond")), DimensionFilter("country", ("FR",)))
    assert q.order == (Order("transaction_count", False),) and q.limit == 5


@pytest.mark.parametrize(("text", "message"), [
    ("revnue", "Did you mean `revenue`"),
    ("revenue by tyre", "Did you mean `type`"),
    ("revenue weekly monthly", "one grain"),
    ("revenue top 0", "1 to 1000"),
    ("revenue 2026-13", "not a valid date"),
    ("revenue from 2026-03 to 2026-01", "starts"),
    ("revenue where tier", "where type=card_payment"),
    ("", "Usage"),
    ("by tier", "Name a metric"),
])
def test_errors_say_what_to_write(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse(text, CATALOG)


def test_unknown_metric_suggests_only_the_askable_ones() -> None:
    with pytest.raises(UnknownMetricError) as raised:
        parse("withdrawl", CATALOG, metric_pool=["revenue", "transaction_volume"])
    assert "withdrawals" not in str(raised.value)


def test_category_values_are_quoted_and_jinja_is_refused() -> None:
    assert literal(Category("O'Brien")) == "'O''Brien'"
    assert Filter("{{ Dimension('customer__full_name') }} = §0§", (Category("O'Brien"),)).render() == \
        "{{ Dimension('customer__full_name') }} = 'O''Brien'"
    for bad in ("{{ x }}", "50%", "a\x00b"):
        with pytest.raises(TypeError):
            Category(bad)
    with pytest.raises(TypeError):
        Filter("x = §0§", ("raw text",))  # type: ignore[arg-type]
