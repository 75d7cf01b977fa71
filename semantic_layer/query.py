"""The query model: one typed `MetricQuery` that every way of asking (the `/finefin metric` grammar, buttons,
plain-English questions) produces, and the typed answer it gets.

A `MetricQuery` holds names and raw values as the asker wrote them; `semantic_layer.query_service` validates it
against the catalog of the current load and the access policy, then runs it. Values in filters reach MetricFlow only
after they were matched to the dimension's actual values (as `filters.Category` or ints), never as text.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from semantic_layer.catalog import Grain, ValueKind
from semantic_layer.errors import InvalidInputError

MAX_LIMIT = 1000
MAX_GROUP_BY = 6


class PeriodKind(StrEnum):
    RANGE = "range"  # explicit first and last day
    THIS_MONTH = "this_month"
    LAST_MONTH = "last_month"
    LAST_MONTHS = "last_months"  # the last n complete months
    THIS_QUARTER = "this_quarter"
    LAST_QUARTER = "last_quarter"
    THIS_YEAR = "this_year"  # = year to date
    LAST_YEAR = "last_year"


@dataclass(frozen=True)
class Period:
    """A period as asked: explicit days, or words resolved later against the data's as-of date (never the clock)."""

    kind: PeriodKind
    first: date | None = None
    last: date | None = None
    count: int = 1

    def __post_init__(self) -> None:
        if self.kind is PeriodKind.RANGE:
            if self.first is None or self.last is None:
                raise InvalidInputError("A period needs a start and an end.")
            if self.first > self.last:
                raise InvalidInputError(f"The period starts ({self.first}) after it ends ({self.last}).")
        if not 1 <= self.count <= 120:
            raise InvalidInputError("Ask for 1 to 120 months.")

    @classmethod
    def days(cls, first: date, last: date) -> Period:
        return cls(PeriodKind.RANGE, first, last)

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        return cls.days(date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]))

    @classmethod
    def quarter(cls, year: int, quarter: int) -> Period:
        first_month = 3 * (quarter - 1) + 1
        return cls.days(date(year, first_month, 1), date(year, first_month + 2,
                                                        calendar.monthrange(year, first_month + 2)[1]))

    @classmethod
    def year(cls, year: int) -> Period:
        return cls.days(date(year, 1, 1), date(year, 12, 31))

    def resolve(self, as_of: date) -> ResolvedPeriod:
        """First and last day, the last cut at the as-of date (then the period is "to date")."""
        first, last = self._days(as_of)
        if first > as_of:
            raise InvalidInputError(f"The data ends on {as_of.isoformat()}: {first.isoformat()} is later.")
        return ResolvedPeriod(first, min(last, as_of), last > as_of)

    def _days(self, as_of: date) -> tuple[date, date]:
        this_month = as_of.replace(day=1)
        quarter_start = date(as_of.year, 3 * ((as_of.month - 1) // 3) + 1, 1)
        match self.kind:
            case PeriodKind.RANGE:
                assert self.first is not None and self.last is not None
                return self.first, self.last
            case PeriodKind.THIS_MONTH:
                return this_month, _month_end(this_month)
            case PeriodKind.LAST_MONTH:
                first = _add_months(this_month, -1)
                return first, _month_end(first)
            case PeriodKind.LAST_MONTHS:
                return _add_months(this_month, -self.count), this_month - timedelta(days=1)
            case PeriodKind.THIS_QUARTER:
                return quarter_start, _month_end(_add_months(quarter_start, 2))
            case PeriodKind.LAST_QUARTER:
                first = _add_months(quarter_start, -3)
                return first, quarter_start - timedelta(days=1)
            case PeriodKind.THIS_YEAR:
                return date(as_of.year, 1, 1), date(as_of.year, 12, 31)
            case PeriodKind.LAST_YEAR:
                return date(as_of.year - 1, 1, 1), date(as_of.year - 1, 12, 31)
        raise AssertionError(self.kind)

    def describe(self) -> str:
        words = {
            PeriodKind.THIS_MONTH: "this month", PeriodKind.LAST_MONTH: "last month",
            PeriodKind.THIS_QUARTER: "this quarter", PeriodKind.LAST_QUARTER: "last quarter",
            PeriodKind.THIS_YEAR: "this year", PeriodKind.LAST_YEAR: "last year",
        }
        if self.kind is PeriodKind.LAST_MONTHS:
            return f"the last {self.count} complete months"
        if self.kind is PeriodKind.RANGE:
            return f"{self.first} to {self.last}"
        return words[self.kind]


@dataclass(frozen=True)
class ResolvedPeriod:
    first: date
    last: date
    to_date: bool  # cut at the data's as-of date

    def describe(self) -> str:
        text = f"{self.first.isoformat()} to {self.last.isoformat()}"
        return text + " (to date)" if self.to_date else text


@dataclass(frozen=True)
class DimensionFilter:
    """`dimension` equal to one of `values` (as written; validated against the dimension's actual values)."""

    dimension: str
    values: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise InvalidInputError(f"The filter on {self.dimension} needs at least one value.")
        if len(self.values) > 50:
            raise InvalidInputError("A filter holds at most 50 values.")


@dataclass(frozen=True)
class Order:
    """Sort by a metric name or a dimension key (`time` for the time axis)."""

    by: str
    descending: bool = True


@dataclass(frozen=True)
class MetricQuery:
    metrics: tuple[str, ...]
    group_by: tuple[str, ...] = ()
    grain: Grain | None = None
    filters: tuple[DimensionFilter, ...] = ()
    period: Period | None = None
    order: tuple[Order, ...] = ()
    limit: int | None = None

    def __post_init__(self) -> None:
        if not self.metrics:
            raise InvalidInputError("Name at least one metric.")
        if len(self.metrics) > 5:
            raise InvalidInputError("Ask for at most 5 metrics at once.")
        if len(self.group_by) > MAX_GROUP_BY:
            raise InvalidInputError(f"Group by at most {MAX_GROUP_BY} dimensions (plus time).")
        if self.limit is not None and not 1 <= self.limit <= MAX_LIMIT:
            raise InvalidInputError(f"A limit is between 1 and {MAX_LIMIT}.")


@dataclass(frozen=True)
class Column:
    name: str  # metric name, dimension key, or "time"
    label: str
    kind: ValueKind


@dataclass(frozen=True)
class MetricAnswer:
    """A validated query's result: typed columns (time first, then dimensions, then metrics) and rows."""

    query: MetricQuery  # names resolved to the canonical ones
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]
    as_of: date
    period: ResolvedPeriod | None
    definitions: dict[str, str]  # metric -> one-line definition
    labels: dict[str, str]  # metric -> label
    filters: tuple[tuple[str, tuple[Any, ...]], ...]  # dimension key -> validated values
    scoped_to: int | None = None  # the customer id a customer's answer is restricted to
    partial_buckets: frozenset[date] = field(default_factory=frozenset)  # time buckets not over at the as-of date
    truncated: bool = False  # the limit cut rows

    def column(self, name: str) -> int:
        return next(i for i, c in enumerate(self.columns) if c.name == name)

    @property
    def has_time(self) -> bool:
        return any(c.kind is ValueKind.TIME for c in self.columns)

    def total(self, metric: str) -> Decimal | int:
        i = self.column(metric)
        return sum((r[i] for r in self.rows if r[i] is not None), Decimal(0) if self.columns[i].kind
                   is not ValueKind.COUNT else 0)


def bucket_end(start: date, grain: Grain) -> date:
    """Last day of the time bucket starting at `start`."""
    match grain:
        case Grain.DAY:
            return start
        case Grain.WEEK:
            return start + timedelta(days=6)
        case Grain.MONTH:
            return _month_end(start)
        case Grain.QUARTER:
            return _month_end(_add_months(start, 2))
        case Grain.YEAR:
            return date(start.year, 12, 31)
    raise AssertionError(grain)


def truncate(day: date, grain: Grain) -> date:
    """First day of the bucket holding `day` (ISO weeks start on Monday, as MetricFlow's)."""
    match grain:
        case Grain.DAY:
            return day
        case Grain.WEEK:
            return day - timedelta(days=day.weekday())
        case Grain.MONTH:
            return day.replace(day=1)
        case Grain.QUARTER:
            return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
        case Grain.YEAR:
            return date(day.year, 1, 1)
    raise AssertionError(grain)


def _add_months(first: date, k: int) -> date:
    index = first.year * 12 + first.month - 1 + k
    return date(index // 12, index % 12 + 1, 1)


def _month_end(first: date) -> date:
    return date(first.year, first.month, calendar.monthrange(first.year, first.month)[1])
