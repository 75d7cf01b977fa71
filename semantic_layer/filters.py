"""MetricFlow `where` filters built from typed values only.

A MetricFlow filter is Jinja + SQL text. A `Filter` is a constant template with numbered slots (§0§, §1§ …) plus
the typed values that fill them (ints and dates, formatted here as digits or ISO dates), so no user text can ever be
interpolated into one. The engine also uses the template as the cache key of a planned query (see engine.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from semantic_layer.inputs import CustomerId, Month

_CATEGORY_FORBIDDEN = frozenset("{}%\x00")


@dataclass(frozen=True, slots=True)
class Category:
    """A categorical value as the warehouse holds it for the current load (a tier, a transaction type, a name).

    Built only by the query model after checking the value against the dimension's actual values, so it is data the
    warehouse returned, never free user text; still, its literal is quoted with doubled quotes, and values holding
    Jinja or NUL characters are refused (MetricFlow renders `where` filters through Jinja).
    """

    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or any(ch in _CATEGORY_FORBIDDEN for ch in self.text):
            raise TypeError("a Category holds a plain string without { } % or NUL")


FilterValue = int | date | Decimal | Category


@dataclass(frozen=True)
class Filter:
    template: str
    values: tuple[FilterValue, ...] = ()

    def __post_init__(self) -> None:
        for value in self.values:
            if isinstance(value, bool) or not isinstance(value, int | date | Decimal | Category):
                raise TypeError(f"filter values are ints, dates, Decimals or Categories, not {type(value).__name__}")
            if isinstance(value, Decimal) and not value.is_finite():
                raise TypeError("filter Decimals must be finite")

    def render(self, values: tuple[FilterValue, ...] | None = None) -> str:
        text = self.template
        for i, value in enumerate(self.values if values is None else values):
            text = text.replace(f"§{i}§", literal(value))
        return text

    def __str__(self) -> str:
        return self.render()


def literal(value: FilterValue) -> str:
    """SQL literal of a typed value: digits, a plain decimal, a quoted ISO date or a quoted category."""
    if isinstance(value, Category):
        return "'" + value.text.replace("'", "''") + "'"
    if isinstance(value, date):
        return f"'{value.isoformat()}'"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(int(value))


def slot(position: int) -> str:
    """Placeholder of the n-th typed value in a statement planned once per query shape (engine._plan)."""
    return f"__finefin_slot_{position}__"


def fill_slots(stmt: str, values: Sequence[FilterValue]) -> str:
    """A planned statement with each slot replaced by its value's literal."""
    for position, value in enumerate(values):
        stmt = stmt.replace(slot(position), literal(value))
    return stmt


def customer_is(customer_id: CustomerId) -> Filter:
    if not isinstance(customer_id, CustomerId):
        raise TypeError("customer_is() takes a CustomerId")
    return Filter("{{ Entity('customer') }} = §0§", (customer_id.value,))


def month_between(first: Month, last: Month) -> Filter:
    if not (isinstance(first, Month) and isinstance(last, Month)):
        raise TypeError("month_between() takes Months")
    column = "{{ TimeDimension('metric_time', 'month') }}"
    return Filter(f"{column} >= §0§ AND {column} <= §1§", (first.first_day, last.first_day))


def day_ranges(*ranges: tuple[date, date]) -> Filter:
    """metric_time days inside any of the inclusive ranges [first, last]: e.g. a month to date and the same days of
    the month before, read in one query grouped by month."""
    if not ranges:
        raise ValueError("day_ranges() takes at least one range")
    column = "{{ TimeDimension('metric_time', 'day') }}"
    parts: list[str] = []
    values: list[date] = []
    for first, last in ranges:
        # a datetime is a date too: refuse it, a day range is whole days
        if type(first) is not date or type(last) is not date:
            raise TypeError("day_ranges() takes (date, date) pairs")
        if first > last:
            raise ValueError(f"empty day range {first} to {last}")
        parts.append(f"({column} >= §{len(values)}§ AND {column} <= §{len(values) + 1}§)")
        values += [first, last]
    return Filter("(" + " OR ".join(parts) + ")", tuple(values))


_MONTHLY_MODELS = frozenset({"customer_month", "customer_tier_month"})


def months_of(model: str, first: Month, last: Month) -> Filter:
    """Rows of a monthly semantic model whose month lies in [first, last], on its plain `month_first_day` date.

    Same rows as `month_between`, but the warehouse can push this filter into its table scan; a filter on
    `metric_time` goes through date_trunc, which DuckDB does not push down inside MetricFlow's subqueries.
    """
    if model not in _MONTHLY_MODELS:
        raise ValueError(f"{model!r} is not a monthly semantic model")
    if not (isinstance(first, Month) and isinstance(last, Month)):
        raise TypeError("months_of() takes Months")
    column = "{{ Dimension('" + model + "__month_first_day') }}"
    return Filter(f"{column} >= §0§ AND {column} <= §1§", (first.first_day, last.first_day))


def watch_thresholds(withdrawals: Decimal, loans: Decimal, investments: Decimal) -> Filter:
    """Customer-months at or above any advisor threshold (the month's own withdrawals, loans, investments)."""
    return Filter(
        "({{ Dimension('customer_month__month_withdrawal_amount') }} >= §0§"
        " OR {{ Dimension('customer_month__month_end_loans_outstanding') }} >= §1§"
        " OR {{ Dimension('customer_month__month_end_investments_held') }} >= §2§)",
        (Decimal(withdrawals), Decimal(loans), Decimal(investments)),
    )
