"""Growth at month boundaries, each on its own small chain whose "today" is pinned by the generator's end date.

- as of 30 March 2028: March is running, so growth 2028-03 is a month to date (1–30 March) compared with the same
  days of February, cut at its 29 days (1–29 February);
- as of 29 February 2028 (leap day) and as of 31 May 2026 (a 31st after a 30-day month): the month is complete, so
  growth compares the whole month with the whole month before, and no month to date is shown.

Expected figures come from hand-written SQL on the source PostgreSQL (tests/growth_oracle.py), exact to the cent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date

import pytest

from semantic_layer.errors import FutureMonthError
from semantic_layer.inputs import Month
from semantic_layer.service import MetricFlowSemanticLayer
from tests.dbt_chain import Chain, make_chain
from tests.growth_oracle import month_days, month_first, pct_matches, period, previous_month_first

# (the generator's end date, the month asked, the period it covers, the period it is compared with)
CASES = {
    "running_march_vs_leap_february": (date(2028, 3, 30), (date(2028, 3, 1), date(2028, 3, 30)),
                                       (date(2028, 2, 1), date(2028, 2, 29))),
    "leap_day_complete": (date(2028, 2, 29), (date(2028, 2, 1), date(2028, 2, 29)),
                          (date(2028, 1, 1), date(2028, 1, 31))),
    "31st_after_a_30_day_month": (date(2026, 5, 31), (date(2026, 5, 1), date(2026, 5, 31)),
                                  (date(2026, 4, 1), date(2026, 4, 30))),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request: pytest.FixtureRequest, make_database: Callable[[], str],
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Chain, MetricFlowSemanticLayer]]:
    end_date = CASES[request.param][0]
    # small: three months of 60 customers are enough for revenue, volume and sign-ups in both periods
    chain = make_chain(make_database, tmp_path_factory.mktemp("growth_boundary"), customers=60, months=3,
                       end_date=end_date)
    chain.build()
    chain.publish()
    sl = chain.semantic_layer()
    yield request.param, chain, sl
    sl.engine.close()


def test_growth_compares_the_right_days_at_month_boundaries(case: tuple[str, Chain, MetricFlowSemanticLayer]) -> None:
    name, chain, sl = case
    as_of, (first, last), (compared_first, compared_last) = CASES[name]
    assert sl.reporting_dates()[0] == as_of  # the data's today is the generator's end date
    month = Month.of(as_of)
    growth = sl.monthly_growth(month, history=2)
    current = growth.current
    month_to_date = last != month_days(first)[1]
    assert growth.is_month_to_date is month_to_date
    assert (current.month, current.last_day, current.compared_last_day) == (month, last, compared_last)
    assert current.through == (as_of if month_to_date else None)
    now, before = period(chain.dsn, first, last), period(chain.dsn, compared_first, compared_last)
    assert now.count and before.count and now.revenue and before.revenue
    assert (current.revenue, current.transaction_volume, current.transaction_count, current.new_customers) == (
        now.revenue, now.volume, now.count, now.new_customers)
    assert pct_matches(current.revenue_mom_pct, now.revenue, before.revenue)
    assert pct_matches(current.volume_mom_pct, now.volume, before.volume)
    assert pct_matches(current.new_customers_mom_pct, now.new_customers, before.new_customers)
    # the month before, shown in the history, is the whole month
    [previous, _] = growth.history
    whole = period(chain.dsn, *month_days(previous_month_first(as_of)))
    assert (previous.month, previous.is_month_to_date) == (month.previous, False)
    assert (previous.revenue, previous.transaction_volume, previous.transaction_count, previous.new_customers) == (
        whole.revenue, whole.volume, whole.count, whole.new_customers)
    # a complete month is also the default; a running one never is
    default = sl.monthly_growth(None, 1)
    assert default.month == (month.previous if month_to_date else month) and not default.is_month_to_date
    with pytest.raises(FutureMonthError):
        sl.monthly_growth(month.next)
    assert month_first(as_of) == first
