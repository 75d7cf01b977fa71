"""The date rules on data ending at each boundary day (tests/clock.py BOUNDARY_DATES: a 1st, a 31st, 29 February,
31 December, 1 January), through the real chain: generator -> PostgreSQL -> dlt -> dbt -> MetricFlow.

Every run exercises month and year boundaries, whatever the day the suite runs on. The expectations come from the
source PostgreSQL (the data's as-of date) and the calendar, never from the wall clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal

import psycopg
import pytest

from semantic_layer.errors import FutureMonthError
from semantic_layer.inputs import CustomerId, Month
from semantic_layer.service import MetricFlowSemanticLayer
from semantic_layer.settings import SemanticLayerSettings
from tests.clock import BOUNDARY_DATES
from tests.dbt_chain import Chain, make_chain
from tests.dbt_oracle import load_oracle

WATCH = SemanticLayerSettings(watch_withdrawals_min=Decimal("300"), watch_loans_min=Decimal("1000"),
                              watch_investments_min=Decimal("1000"))


@pytest.fixture(scope="module", params=BOUNDARY_DATES, ids=str)
def day_chain(request: pytest.FixtureRequest, make_database: Callable[[], str],
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[date, Chain, MetricFlowSemanticLayer]]:
    day: date = request.param
    chain = make_chain(make_database, tmp_path_factory.mktemp(f"day-{day}"), customers=60, months=3, end_date=day)
    chain.build()
    chain.publish()
    sl = chain.semantic_layer(WATCH)
    yield day, chain, sl
    sl.engine.close()


def _expected_last_complete(chain: Chain) -> Month:
    """The source oracle's last complete month (tests/dbt_oracle.py)."""
    return Month.of(load_oracle(chain.dsn).last_complete_month)


def test_reporting_dates_follow_the_data(day_chain: tuple[date, Chain, MetricFlowSemanticLayer]) -> None:
    day, chain, sl = day_chain
    oracle = load_oracle(chain.dsn)
    assert oracle.as_of == day  # 60 customers book something every day, the last day included
    assert sl.reporting_dates() == (oracle.as_of, Month.of(oracle.last_complete_month))


def test_default_periods_are_the_last_complete_month(day_chain: tuple[date, Chain, MetricFlowSemanticLayer]) -> None:
    day, chain, sl = day_chain
    last_complete = _expected_last_complete(chain)
    assert sl.watchlist(None).month == last_complete
    assert sl.customers_per_tier(None).month == last_complete
    with psycopg.connect(chain.dsn) as pg:
        customer = pg.execute("SELECT min(customer_id) FROM customers").fetchone()[0]  # type: ignore[index]
    statement = sl.statement(CustomerId(customer), None)
    assert statement.month == last_complete
    # the month that holds the as-of day is complete only on its last day
    if last_complete != Month.of(day):
        with pytest.raises(FutureMonthError):
            sl.statement(CustomerId(customer), Month.of(day))
    with pytest.raises(FutureMonthError):
        sl.statement(CustomerId(customer), Month.of(day).next)


def test_transactions_per_month_ends_with_the_last_complete_month(
        day_chain: tuple[date, Chain, MetricFlowSemanticLayer]) -> None:
    _, chain, sl = day_chain
    tpm = sl.transactions_per_month(12)
    assert tpm.last_month == _expected_last_complete(chain)
    assert max(r.month for r in tpm.rows) == tpm.last_month
