"""Follow-ups in an answer's thread, read against the query they follow (manifest-only catalog, pinned load)."""

from __future__ import annotations

from datetime import date

import pytest

from semantic_layer.catalog import Grain
from semantic_layer.nl import Outcome, Vocabulary
from semantic_layer.nl.evaluation import principal
from semantic_layer.nl.followup import follow_up
from semantic_layer.query import DimensionFilter, MetricQuery, Period, PeriodKind
from tests.test_nl_eval import vocab

__all__ = ["vocab"]

REVENUE_LAST_QUARTER = MetricQuery(("revenue",), period=Period(PeriodKind.LAST_QUARTER))


def _read(vocab: Vocabulary, text: str, role: str = "director",
          previous: MetricQuery = REVENUE_LAST_QUARTER) -> MetricQuery:
    got = follow_up(previous, text, vocab, principal(role))
    assert got.outcome is Outcome.ANSWER and got.best is not None, (text, got.message)
    return got.best.query


def test_follow_ups_change_one_part(vocab: Vocabulary) -> None:
    assert _read(vocab, "and by tier?").group_by == ("tier",)
    last_year = _read(vocab, "same for last year").period
    assert last_year is not None and (last_year.first, last_year.last) == (date(2025, 7, 1), date(2025, 9, 30))
    assert _read(vocab, "only Gold").filters == (DimensionFilter("tier", ("Gold",)),)
    assert _read(vocab, "monthly").grain is Grain.MONTH
    volume = _read(vocab, "what about transaction volume?")
    assert volume.metrics == ("transaction_volume",) and volume.period == REVENUE_LAST_QUARTER.period
    assert _read(vocab, "as a chart") == REVENUE_LAST_QUARTER
    by_tier = MetricQuery(("revenue",), ("tier",), Grain.MONTH, period=Period(PeriodKind.THIS_YEAR))
    assert _read(vocab, "without the breakdown", previous=by_tier).group_by == ()
    assert _read(vocab, "in september", previous=by_tier).period == Period.month(2026, 9)


@pytest.mark.parametrize(("text", "role", "outcome"), [
    ("what is the weather", "director", Outcome.CLARIFY),
    ("and for customer 42", "customer", Outcome.REFUSE),
    ("by customer", "director", Outcome.REFUSE),  # directors see no customer-level figures
    ("and next year", "director", Outcome.REFUSE),
    ("ok", "director", Outcome.CLARIFY),
    ("weekly", "director", Outcome.ANSWER),
])
def test_follow_ups_that_are_not_answered(vocab: Vocabulary, text: str, role: str, outcome: Outcome) -> None:
    assert follow_up(REVENUE_LAST_QUARTER, text, vocab, principal(role)).outcome is outcome
