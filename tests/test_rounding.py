"""The one rounding rule (half-up, halves away from zero) for every figure shown: money, percentages, the bot's
formatting. The SQL side (the tier score) is tested by dbt's unit test and tests/test_dbt_models.py."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot import blocks as bk
from semantic_layer.types import money, pct_change, percent


@pytest.mark.parametrize(("raw", "shown"), [
    (6.25, Decimal("6.3")), (-6.25, Decimal("-6.3")), (27.45, Decimal("27.5")), (0.05, Decimal("0.1")),
    ("12.349", Decimal("12.3")), (None, None),
])
def test_percentages_round_half_up(raw: object, shown: Decimal | None) -> None:
    assert percent(raw) == shown  # type: ignore[arg-type]


def test_month_over_month_change_rounds_half_up() -> None:
    assert pct_change(Decimal("106.25"), Decimal("100")) == Decimal("6.3")  # half-even would give 6.2
    assert pct_change(Decimal("93.75"), Decimal("100")) == Decimal("-6.3")
    assert pct_change(5, 0) is None


@pytest.mark.parametrize(("raw", "cents"), [
    (7498.115, Decimal("7498.12")), (Decimal("7498.115"), Decimal("7498.12")), (-0.005, Decimal("-0.01")),
    (2.675, Decimal("2.68")), (Decimal("0.125"), Decimal("0.13")),
])
def test_money_rounds_half_up_to_the_cent(raw: object, cents: Decimal) -> None:
    assert money(raw) == cents  # type: ignore[arg-type]


def test_displayed_figures_use_the_same_rule() -> None:
    assert bk.money(Decimal("0.125")) == "0.13 EUR"
    assert bk.pct(percent(6.25)) == "+6.3%"
