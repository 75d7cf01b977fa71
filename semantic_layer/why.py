""""Why did it change": a metric's change from the previous month, decomposed by each dimension the asker may use.

For an additive metric (a sum over rows: revenue, volume, counts, balances across accounts) the month's figure is
the sum of its figures per value of any dimension, so the change splits exactly into per-value contributions
(this month's figure minus last month's, for each value; a value present in only one of the months contributes
its whole figure). Contributions are ranked by size, with their share of the change.

The dimension that explains most is the one whose values moved least alike: had every value moved at the overall
rate (change / last month's total), value v would have contributed previous_v x rate; the score is the sum of
|contribution_v - previous_v x rate| over 2 x |change| (0: every value moved in proportion, the dimension says
nothing; near 1: the change sits in values that were small before). A dimension with a single value scores 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from semantic_layer.catalog import DIMENSION_BY_KEY, Grain
from semantic_layer.errors import InvalidInputError, SemanticLayerError
from semantic_layer.inputs import Month
from semantic_layer.policy import Principal, may_use_dimension
from semantic_layer.query import MetricQuery, Period
from semantic_layer.query_service import QueryService
from semantic_layer.types import round_half_up

PCT = Decimal("0.1")
IDENTIFYING = frozenset({"customer", "customer_name", "account"})  # many values each: never grouped together


@dataclass(frozen=True)
class Contribution:
    value: Any  # the dimension's value (None: rows without one)
    previous: Decimal | int
    current: Decimal | int
    change: Decimal | int
    share_pct: Decimal | None  # of the total change; None when the total change is 0


@dataclass(frozen=True)
class DimensionBreakdown:
    dimension: str
    label: str
    contributions: tuple[Contribution, ...]  # largest |change| first, every value
    score: Decimal  # how unevenly its values moved (module docstring); the highest explains most

    @property
    def total(self) -> Decimal | int:
        return sum((c.change for c in self.contributions), Decimal(0) if self.contributions and isinstance(
            self.contributions[0].change, Decimal) else 0)


@dataclass(frozen=True)
class WhyAnswer:
    metric: str
    label: str
    definition: str
    month: Month
    previous_month: Month
    current: Decimal | int
    previous: Decimal | int
    change: Decimal | int
    change_pct: Decimal | None
    breakdowns: tuple[DimensionBreakdown, ...]  # the dimension explaining most first
    to_date: bool  # the month is not over at the data's as-of date
    scoped_to: int | None

    @property
    def explains_most(self) -> DimensionBreakdown | None:
        return self.breakdowns[0] if self.breakdowns and self.change != 0 else None


def why(service: QueryService, principal: Principal, metric_text: str, month: Month) -> WhyAnswer:
    base = service.prepare(principal, MetricQuery((metric_text,), grain=Grain.MONTH,
                                                  period=Period.days(month.previous.first_day, month.last_day)))
    info = base.metrics[0]
    if not info.additive:
        raise InvalidInputError(f"{info.label} does not add up across customers or types (a distinct count or a "
                                "ratio), so its change cannot be split into contributions. Try a sum such as "
                                "revenue or transaction_volume.")
    period = Period.days(month.previous.first_day, month.last_day)
    dims = [d for d in info.dimensions if may_use_dimension(principal, d)]
    # the dimensions that identify nobody in one query (their combinations are few), each identifying one alone
    together = [d for d in dims if d not in IDENTIFYING]
    answers = [service.execute(service.prepare(principal, MetricQuery((info.name,), group, Grain.MONTH,
                                                                      period=period)), principal)
               for group in ([tuple(together)] if together else []) + [(d,) for d in dims if d in IDENTIFYING]]
    # the month totals: the first grouped answer's rows added up (an additive metric: every row is in one group,
    # with a NULL value when it has none), which saves reading the month again; without one, a query of their own
    total = answers[0] if together else service.execute(base, principal)
    by_month: dict[Any, Any] = {}
    for row in total.rows:
        by_month[row[0]] = by_month[row[0]] + row[-1] if row[0] in by_month else row[-1]
    zero: Decimal | int = 0 if isinstance(next(iter(by_month.values()), 0), int) else Decimal("0.00")
    current = by_month.get(month.first_day, zero)
    previous = by_month.get(month.previous.first_day, zero)
    change = current - previous
    figures: dict[str, tuple[dict[Any, Any], dict[Any, Any]]] = {d: ({}, {}) for d in dims}
    for answer in answers:
        group = answer.query.group_by
        for row in answer.rows:
            for position, dim in enumerate(group, 1):
                cur, prev = figures[dim]
                into = cur if row[0] == month.first_day else prev
                into[row[position]] = into.get(row[position], zero) + row[-1]
    breakdowns = []
    for dim in dims:
        cur, prev = figures[dim]
        contributions = []
        for value in set(cur) | set(prev):
            c, p = cur.get(value, zero), prev.get(value, zero)
            contributions.append(Contribution(value, p, c, c - p, _share(c - p, change)))
        contributions.sort(key=lambda x: (-abs(x.change), str(x.value)))
        breakdown = DimensionBreakdown(dim, DIMENSION_BY_KEY[dim].label, tuple(contributions),
                                       _score(contributions, previous, change))
        if breakdown.total != change:
            raise SemanticLayerError(f"The contributions by {dim} do not add up to the change of {info.label} "
                                     f"({breakdown.total} vs {change}); not shown.")
        breakdowns.append(breakdown)
    breakdowns.sort(key=lambda b: -b.score)
    return WhyAnswer(
        metric=info.name, label=info.label, definition=info.one_line, month=month, previous_month=month.previous,
        current=current, previous=previous, change=change, change_pct=_share(change, previous) if previous else None,
        breakdowns=tuple(breakdowns), to_date=bool(total.period and total.period.to_date),
        scoped_to=total.scoped_to,
    )


def _score(contributions: list[Contribution], previous: Decimal | int, change: Decimal | int) -> Decimal:
    if change == 0:
        return Decimal(0)
    rate = Decimal(change) / Decimal(previous) if previous else Decimal(0)
    uneven = sum((abs(Decimal(c.change) - Decimal(c.previous) * rate) for c in contributions), Decimal(0))
    return uneven / (2 * abs(Decimal(change)))


def _share(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    if whole == 0:
        return None
    return round_half_up(Decimal(part) * 100 / abs(Decimal(whole)), PCT)
