"""The tests' "today": pinned, never the wall clock.

Behaviour that depends on the date reads it from the data (the generator's end date becomes the warehouse's as-of
date), from a DAG run's logical date, or from an explicit `today` argument. Tests pin it:

- `TODAY` is the default pinned date (FINEFIN_TEST_TODAY=YYYY-MM-DD moves it, to run the tests that use it as of
  another day);
- `BOUNDARY_DATES` are the days every run also exercises, so month and year boundaries are tested on each run:
  a 1st, a 31st, 29 February, 31 December and 1 January.

Where library code reads the clock itself (Airflow's catchup=False timetables), `frozen_at()` moves the Python clock
for that block only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time

BOUNDARY_DATES: tuple[date, ...] = (
    date(2026, 3, 1),  # a 1st, after a 28-day February
    date(2026, 5, 31),  # a 31st (and a Sunday, in summer time)
    date(2028, 2, 29),  # a leap day
    date(2026, 12, 31),  # the last day of a year
    date(2027, 1, 1),  # the first day of a year
)


def pinned_today() -> date:
    raw = os.environ.get("FINEFIN_TEST_TODAY")
    return date.fromisoformat(raw) if raw else date(2026, 11, 24)


TODAY = pinned_today()


def at(day: date, hour: int = 7, minute: int = 0) -> datetime:
    """A moment of a pinned day, in UTC."""
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


@contextmanager
def frozen_at(moment: datetime) -> Iterator[None]:
    """The Python clock (datetime.now, date.today, time.time) reads `moment` inside the block; it does not tick."""
    import time_machine

    with time_machine.travel(moment, tick=False):
        yield
