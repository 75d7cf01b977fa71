"""Parse user text into typed values. Nothing reaches a query (MetricFlow `where` text or SQL) without passing here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from semantic_layer.errors import FutureMonthError, InvalidInputError, UnknownMetricError

_CUSTOMER_RE = re.compile(r"(?:cust(?:omer)?[-_#:]?)?0*([1-9][0-9]{0,11})", re.IGNORECASE)
_NOT_POSITIVE_RE = re.compile(r"(?:-\s*[0-9]+|[+]?0+)")
_MONTH_RE = re.compile(r"([0-9]{4})-([0-9]{2})")
_METRIC_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True, order=True, slots=True)
class CustomerId:
    """A customer id: a positive integer (accepts `42`, `#42`, `cust-42`, `customer_42`)."""

    value: int

    def __post_init__(self) -> None:
        if not isinstance(self.value, int) or isinstance(self.value, bool) or not 0 < self.value < 10**12:
            raise InvalidInputError("A customer id is a positive number, like 42.")

    @classmethod
    def from_warehouse(cls, value: int) -> CustomerId:
        """An id read from the marts (a BIGINT key): trusted, so built without re-validating it. The watchlist makes
        thousands per call; the validating constructor costs about twice as much."""
        customer_id = object.__new__(cls)
        object.__setattr__(customer_id, "value", int(value))
        return customer_id

    @classmethod
    def parse(cls, text: str) -> CustomerId:
        match = _CUSTOMER_RE.fullmatch(text.strip().lstrip("#"))
        if match is None:
            if _NOT_POSITIVE_RE.fullmatch(text.strip()):
                raise InvalidInputError(f"Customer ids are positive: “{_shorten(text)}” is not one; use a number "
                                        "like 42.")
            raise InvalidInputError(f"“{_shorten(text)}” is not a customer id; use a number like 42.")
        return cls(int(match.group(1)))

    def __str__(self) -> str:
        return str(self.value)


@dataclass(frozen=True, order=True, slots=True)
class Month:
    """A calendar month."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not (1900 <= self.year <= 9999 and 1 <= self.month <= 12):
            raise InvalidInputError("A month is written YYYY-MM, like 2026-03.")

    @classmethod
    def parse(cls, text: str) -> Month:
        match = _MONTH_RE.fullmatch(text.strip())
        if match is None:
            raise InvalidInputError(f"“{_shorten(text)}” is not a month; write it YYYY-MM, like 2026-03.")
        year, month = int(match.group(1)), int(match.group(2))
        if not 1 <= month <= 12:
            raise InvalidInputError(f"{match.group(0)} is not a valid month: months run from 01 to 12.")
        if not 1900 <= year <= 9999:
            raise InvalidInputError(f"{match.group(0)} is not a valid month: years run from 1900.")
        return cls(year, month)

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    @property
    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    @property
    def last_day(self) -> date:
        return date.fromordinal(self.next.first_day.toordinal() - 1)

    def require_started(self, today: date) -> Month:
        if self.first_day > today:
            raise FutureMonthError(f"{self} has not started yet.")
        return self

    def require_complete(self, today: date) -> Month:
        """`today` is the last day the data covers: a month is complete once its last day is covered."""
        if self.last_day > today:
            raise FutureMonthError(f"{self} is not over yet; statements cover complete months.")
        return self

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def metric_name(text: str, known: set[str]) -> str:
    """A metric name that exists in the semantic layer."""
    name = text.strip().lower()
    if not _METRIC_RE.fullmatch(name) or name not in known:
        raise UnknownMetricError(f"“{_shorten(text)}” is not a metric. Known: {', '.join(sorted(known))}.")
    return name


def _shorten(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
