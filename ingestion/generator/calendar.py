"""Month windows of the history, as int64 microseconds since the Unix epoch (UTC)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np

US_PER_SECOND = 1_000_000
US_PER_MINUTE = 60 * US_PER_SECOND
US_PER_HOUR = 60 * US_PER_MINUTE
US_PER_DAY = 24 * US_PER_HOUR
EPOCH_DAY = date(1970, 1, 1)


def day_us(d: date) -> int:
    """Midnight UTC of `d` in epoch microseconds."""
    return (d - EPOCH_DAY).days * US_PER_DAY


def us_to_datetime(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(us))


@dataclass(frozen=True)
class HistoryCalendar:
    """`months` calendar months ending with the month of `end_date`; the last one is cut after `end_date`."""

    end_date: date
    months: int

    @property
    def month_starts(self) -> np.ndarray:
        last = np.datetime64(self.end_date, "M")
        first = last - (self.months - 1)
        return np.arange(first, last + 1).astype("datetime64[us]").astype(np.int64)

    @property
    def window_ends(self) -> np.ndarray:
        """Exclusive end of each month's window: next month's start, or the day after end_date for the last."""
        starts = self.month_starts
        ends = np.empty_like(starts)
        ends[:-1] = starts[1:]
        ends[-1] = self.end_us
        return ends

    @property
    def end_us(self) -> int:
        """Exclusive end of the history: midnight after end_date."""
        return day_us(self.end_date + timedelta(days=1))

    @property
    def start_us(self) -> int:
        return int(self.month_starts[0])

    def day_in_month(self, month: int | np.ndarray, day: np.ndarray) -> np.ndarray:
        """Midnight of day `day` (1-based, clipped to the month length) of month index `month`."""
        starts = self.month_starts
        month = np.asarray(month)
        next_starts = np.append(starts[1:], np.datetime64(np.datetime64(self.end_date, "M") + 1, "us").astype(np.int64))
        length = (next_starts[month] - starts[month]) // US_PER_DAY
        return starts[month] + (np.minimum(day, length) - 1) * US_PER_DAY
