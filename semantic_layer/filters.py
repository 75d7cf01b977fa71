"""MetricFlow `where` filters built from typed values only.

A MetricFlow filter is Jinja + SQL text. A `Filter` is a constant template with numbered slots (§0§, §1§ …) plus
the typed values that fill them (ints and dates, formatted here as digits or ISO dates), so no user text can ever be
interpolated into one. The engine also uses the template as the cache key of a planned query (see engine.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from semantic_layer.inputs import CustomerId, Month

FilterValue = int | date


@dataclass(frozen=True)
class Filter:
    template: str
    values: tuple[FilterValue, ...] = ()

    def __post_init__(self) -> None:
        for value in self.values:
            if isinstance(value, bool) or not isinstance(value, int | date):
                raise TypeError(f"filter values are ints or dates, not {type(value).__name__}")

    def render(self, values: tuple[FilterValue, ...] | None = None) -> str:
        text = self.template
        for i, value in enumerate(self.values if values is None else values):
            text = text.replace(f"§{i}§", literal(value))
        return text

    def __str__(self) -> str:
        return self.render()


def literal(value: FilterValue) -> str:
    """SQL literal of a typed value: digits, or a quoted ISO date."""
    if isinstance(value, date):
        return f"'{value.isoformat()}'"
    return str(int(value))


def customer_is(customer_id: CustomerId) -> Filter:
    if not isinstance(customer_id, CustomerId):
        raise TypeError("customer_is() takes a CustomerId")
    return Filter("{{ Entity('customer') }} = §0§", (customer_id.value,))


def customer_in(customer_ids: list[CustomerId]) -> Filter:
    """Not cacheable by shape when the list length varies; fine for the few watchlist lookups."""
    if not customer_ids or not all(isinstance(c, CustomerId) for c in customer_ids):
        raise TypeError("customer_in() takes a non-empty list of CustomerId")
    slots = ", ".join(f"§{i}§" for i in range(len(customer_ids)))
    return Filter("{{ Entity('customer') }} IN (" + slots + ")", tuple(c.value for c in customer_ids))


def month_between(first: Month, last: Month) -> Filter:
    if not (isinstance(first, Month) and isinstance(last, Month)):
        raise TypeError("month_between() takes Months")
    column = "{{ TimeDimension('metric_time', 'month') }}"
    return Filter(f"{column} >= §0§ AND {column} <= §1§", (first.first_day, last.first_day))


def red_streak_at_least(months: int) -> Filter:
    if isinstance(months, bool) or not isinstance(months, int) or months < 1:
        raise TypeError("red_streak_at_least() takes a positive int")
    return Filter("{{ Dimension('customer_month__red_streak_months') }} >= §0§", (months,))
