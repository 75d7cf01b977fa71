"""MetricFlow `where` filters built from typed values only.

A MetricFlow filter is Jinja + SQL text. These builders accept validated types (CustomerId, Month, ints) and
format them with integer/ISO formatting, so no user text can ever be interpolated into one.
"""

from __future__ import annotations

from semantic_layer.inputs import CustomerId, Month


def customer_is(customer_id: CustomerId) -> str:
    if not isinstance(customer_id, CustomerId):
        raise TypeError("customer_is() takes a CustomerId")
    return "{{ Entity('customer') }} = " + str(int(customer_id.value))


def month_between(first: Month, last: Month, time_dimension: str = "metric_time") -> str:
    if not (isinstance(first, Month) and isinstance(last, Month)):
        raise TypeError("month_between() takes Months")
    if time_dimension not in _TIME_DIMENSIONS:
        raise ValueError(f"unknown time dimension {time_dimension!r}")
    column = "{{ TimeDimension('" + time_dimension + "', 'month') }}"
    return f"{column} >= '{first.first_day.isoformat()}' AND {column} <= '{last.first_day.isoformat()}'"


_TIME_DIMENSIONS = frozenset({"metric_time"})


def customer_in(customer_ids: list[CustomerId]) -> str:
    if not customer_ids or not all(isinstance(c, CustomerId) for c in customer_ids):
        raise TypeError("customer_in() takes a non-empty list of CustomerId")
    return "{{ Entity('customer') }} IN (" + ", ".join(str(int(c.value)) for c in customer_ids) + ")"


def red_streak_at_least(months: int) -> str:
    if not isinstance(months, int) or months < 1:
        raise TypeError("red_streak_at_least() takes a positive int")
    return "{{ Dimension('customer_month__red_streak_months') }} >= " + str(months)
