"""Validate a `MetricQuery` against the catalog and the access policy, then run it on the in-process engine.

Order: names (catalog, no warehouse) -> access policy (no warehouse) -> grain -> filter values (matched to the
dimension's actual values of the current load, within the asker's scope) -> period (the data's as-of date) -> one
MetricFlow query. Nothing the policy forbids reaches the warehouse.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from semantic_layer import filters
from semantic_layer.catalog import DIMENSION_BY_KEY, Catalog, Grain, MetricInfo, ValueKind, catalog_of, nearest
from semantic_layer.errors import InvalidInputError, SemanticLayerError
from semantic_layer.filters import Category, Filter
from semantic_layer.inputs import CustomerId, Month
from semantic_layer.policy import (
    Principal,
    allowed_metrics,
    may_ask_metric,
    may_use_dimension,
)
from semantic_layer.query import (
    Column,
    DimensionFilter,
    MetricAnswer,
    MetricQuery,
    Order,
    ResolvedPeriod,
    bucket_end,
)
from semantic_layer.service import MetricFlowSemanticLayer
from semantic_layer.types import money, percent

TIME = "time"


class AccessRefusedError(SemanticLayerError):
    """The access policy does not allow this metric or dimension to this principal; the message says what may be
    asked instead and reveals no data."""


@dataclass(frozen=True)
class AskableMetric:
    """A metric as one principal may ask it: the dimensions they may use with it."""

    info: MetricInfo
    dimensions: tuple[str, ...]


@dataclass(frozen=True)
class PreparedQuery:
    """A query after validation: what goes to MetricFlow and how to read it back."""

    query: MetricQuery
    metrics: tuple[MetricInfo, ...]
    group_by: tuple[tuple[str, str], ...]  # (dimension key, MetricFlow name)
    where: tuple[Filter, ...]
    order_by: tuple[str, ...]
    period: ResolvedPeriod | None
    filters: tuple[tuple[str, tuple[Any, ...]], ...]
    as_of: date


class QueryService:
    def __init__(self, sl: MetricFlowSemanticLayer) -> None:
        self.sl = sl
        self.engine = sl.engine
        self._values: dict[tuple, dict[str, Any]] = {}
        self._lock = threading.Lock()

    # -- what may be asked ------------------------------------------------------------------------------------
    def catalog(self) -> Catalog:
        return catalog_of(self.engine)

    def askable(self, principal: Principal) -> list[AskableMetric]:
        """The metrics this principal may ask, each with the dimensions they may use with it."""
        catalog = self.catalog()
        return [AskableMetric(catalog.metrics[name], tuple(d for d in catalog.metrics[name].dimensions
                                                            if may_use_dimension(principal, d)))
                for name in allowed_metrics(principal, set(catalog.metrics))]

    # -- running ----------------------------------------------------------------------------------------------
    def run(self, principal: Principal, query: MetricQuery) -> MetricAnswer:
        prepared = self.prepare(principal, query)
        return self.execute(prepared, principal)

    def prepare(self, principal: Principal, query: MetricQuery) -> PreparedQuery:
        catalog = self.catalog()
        askable = allowed_metrics(principal, set(catalog.metrics))
        if not askable:
            raise AccessRefusedError("Sorry, there are no metrics you can ask.")
        metrics = tuple(dict.fromkeys(self._metric(catalog, principal, m, askable) for m in query.metrics))
        infos = tuple(catalog.metrics[m] for m in metrics)
        scope = principal.scope
        if scope is not None and any("customer" not in i.group_by_items for i in infos):
            raise AccessRefusedError("Sorry, that metric cannot be restricted to your own accounts.")
        usable = [d for d in catalog.dimensions_of(metrics) if may_use_dimension(principal, d)]
        group_keys = tuple(dict.fromkeys(self._dimension(catalog, principal, d, metrics, usable)
                                         for d in query.group_by))
        filter_keys = [self._dimension(catalog, principal, f.dimension, metrics, usable) for f in query.filters]
        grain = query.grain
        if grain is None and any(i.needs_time for i in infos):  # month over month: by month, or it has no meaning
            grain = catalog.grains_of(metrics)[0] if catalog.grains_of(metrics) else None
            query = replace(query, grain=grain)
        if grain is not None:
            grains = catalog.grains_of(metrics)
            if grain not in grains:
                allowed = ", ".join(g.value for g in grains) or "none"
                raise InvalidInputError(f"{_names(infos)} cannot be shown by {grain.value}; grains: {allowed}.")
        orders = tuple(self._order(o, metrics, group_keys, grain) for o in query.order)
        # --- from here on the warehouse is read: everything asked is allowed
        as_of, _ = self.sl.reporting_dates()
        where: list[Filter] = []
        if scope is not None:
            where.append(filters.customer_is(scope))
        validated: list[tuple[str, tuple[Any, ...]]] = []
        for key, f in zip(filter_keys, query.filters, strict=True):
            mf_name = catalog.mf_name(key, metrics)
            assert mf_name is not None
            values = self._validated_values(infos[0], key, mf_name, f.values, scope)
            validated.append((key, values))
            where.append(_in_filter(key, mf_name, values))
        period = None
        if query.period is not None:
            period = query.period.resolve(as_of)
            day_grain = Grain.DAY in catalog.grains_of(metrics)
            # on the plain date column when there is one (the scan skips what is outside), else on metric_time;
            # month-over-month metrics keep metric_time (their earlier month is read through the offset)
            column = None if any(i.needs_time for i in infos) else catalog.period_column(metrics)
            if not day_grain:  # monthly figures: whole months
                first = period.first.replace(day=1)
                last_month = period.last.replace(day=1)
                period = ResolvedPeriod(first, period.last if period.to_date else bucket_end(last_month, Grain.MONTH),
                                        period.to_date)
                if column is not None:
                    where.append(filters.months_of(column[0].split("__")[0], _month(first), _month(last_month)))
                else:
                    where.append(filters.month_between(_month(first), _month(last_month)))
            elif column is not None:
                where.append(_day_range(column[0], period.first, period.last))
            else:
                where.append(filters.day_ranges((period.first, period.last)))
        group_by = tuple((k, catalog.mf_name(k, metrics) or k) for k in group_keys)
        order_by = tuple(_mf_order(o, group_by, grain) for o in orders)
        canonical = replace(query, metrics=metrics, group_by=group_keys, order=orders,
                            filters=tuple(DimensionFilter(k, tuple(str(v) for v in vals)) for k, vals in validated))
        return PreparedQuery(canonical, infos, group_by, tuple(where), order_by, period, tuple(validated), as_of)

    def execute(self, p: PreparedQuery, principal: Principal) -> MetricAnswer:
        grain = p.query.grain
        names = ([f"metric_time__{grain.value}"] if grain else []) + [mf for _, mf in p.group_by]
        limit = p.query.limit
        result = self.engine.query([m.name for m in p.metrics], names, where=list(p.where),
                                   order_by=list(p.order_by), limit=None if limit is None else limit + 1)
        columns: list[Column] = []
        readers: list[tuple[int, ValueKind]] = []
        if grain:
            columns.append(Column(TIME, grain.value, ValueKind.TIME))
            readers.append((result.columns.index(names[0]), ValueKind.TIME))
        for key, mf in p.group_by:
            spec = DIMENSION_BY_KEY[key]
            columns.append(Column(key, spec.label, spec.kind))
            readers.append((result.columns.index(mf), spec.kind))
        for m in p.metrics:
            columns.append(Column(m.name, m.label, m.kind))
            readers.append((result.columns.index(m.name), m.kind))
        rows = [tuple(_typed(r[i], kind) for i, kind in readers) for r in result.rows]
        if grain:  # offset metrics (month over month) can report a bucket after the data ends: not a figure
            rows = [r for r in rows if r[0] is None or r[0] <= p.as_of]
        if not p.order_by:
            rows.sort(key=lambda r: tuple(_sort_key(v) for v in r[: len(columns) - len(p.metrics)]))
        truncated = limit is not None and len(rows) > limit
        rows = rows[:limit] if limit is not None else rows
        partial: set[date] = set()
        if grain:
            last = p.period.last if p.period else p.as_of
            first = p.period.first if p.period else None
            for r in rows:
                start = r[0]
                if start is not None and (bucket_end(start, grain) > last or (first and start < first)):
                    partial.add(start)
        return MetricAnswer(
            query=p.query,
            columns=tuple(columns),
            rows=tuple(rows),
            as_of=p.as_of,
            period=p.period,
            definitions={m.name: m.one_line for m in p.metrics},
            labels={m.name: m.label for m in p.metrics},
            filters=p.filters,
            scoped_to=None if principal.scope is None else principal.scope.value,
            partial_buckets=frozenset(partial),
            truncated=truncated,
        )

    # -- validation helpers -----------------------------------------------------------------------------------
    @staticmethod
    def _metric(catalog: Catalog, principal: Principal, text: str, askable: list[str]) -> str:
        name = catalog.resolve_metric(text)  # any governed metric, so a forbidden one is refused, not "unknown"
        if not may_ask_metric(principal, name):
            raise AccessRefusedError(
                f"Sorry, {catalog.metrics[name].label} is not available to you. You can ask: {', '.join(askable)}.")
        return name

    @staticmethod
    def _dimension(catalog: Catalog, principal: Principal, text: str, metrics: tuple[str, ...],
                   usable: list[str]) -> str:
        key = catalog.resolve_dimension(text, usable)
        if not may_use_dimension(principal, key):
            raise AccessRefusedError(
                f"Sorry, you cannot group or filter by {DIMENSION_BY_KEY[key].label}. You can use: "
                f"{', '.join(usable) or 'no dimension'} (or no breakdown).")
        if key not in usable:
            raise InvalidInputError(
                f"{_names(tuple(catalog.metrics[m] for m in metrics))} cannot be broken down by "
                f"{DIMENSION_BY_KEY[key].label}. You can use: {', '.join(usable) or 'no dimension'}.")
        return key

    @staticmethod
    def _order(order: Order, metrics: tuple[str, ...], group_keys: tuple[str, ...], grain: Grain | None) -> Order:
        if order.by in metrics or order.by in group_keys or (order.by == TIME and grain is not None):
            return order
        raise InvalidInputError(f"Sort by one of: {', '.join(metrics + group_keys)}.")

    def _validated_values(self, metric: MetricInfo, key: str, mf_name: str, raw: Sequence[str],
                          scope: CustomerId | None) -> tuple[Any, ...]:
        """Each raw value matched to the dimension's actual values (within the scope) for the current load."""
        actual = self._actual_values(metric, mf_name, scope)
        spec = DIMENSION_BY_KEY[key]
        out: list[Any] = []
        for text in raw:
            wanted = text.strip().lower()
            if spec.kind is ValueKind.ID and key == "customer":
                with contextlib.suppress(InvalidInputError):
                    wanted = str(CustomerId.parse(text).value)
            if wanted in actual:
                value = actual[wanted]
                if isinstance(value, str) and any(ch in value for ch in "{}%\x00"):  # see filters.Category
                    raise InvalidInputError(f"The {spec.label} “{text[:40]}” cannot be used as a filter.")
                out.append(value)
                continue
            near = [str(actual[n]) for n in nearest(text, list(actual), limit=3)] if spec.kind is not ValueKind.ID \
                else []
            hint = f" Did you mean {', '.join(near)}?" if near else ""
            shown = " ".join(text.split())[:40]
            raise InvalidInputError(f"“{shown}” is not a known {spec.label} value here.{hint}")
        return tuple(dict.fromkeys(out))

    def _actual_values(self, metric: MetricInfo, mf_name: str, scope: CustomerId | None) -> dict[str, Any]:
        """Lower-cased text -> value, for every value the dimension takes with this metric (per load, per scope)."""
        key = (self.engine.load_id, metric.name, mf_name, scope)
        cached = self._values.get(key)
        if cached is not None:
            return cached
        where = [filters.customer_is(scope)] if scope is not None else []
        time = [f"metric_time__{metric.grains[0].value}"] if metric.needs_time and metric.grains else []
        result = self.engine.query([metric.name], [mf_name, *time], where=where)
        position = result.columns.index(mf_name)
        values = {str(r[position]).lower(): r[position] for r in result.rows if r[position] is not None}
        with self._lock:
            self._values = {k: v for k, v in self._values.items() if k[0] == key[0]}  # drop older loads
            self._values[key] = values
        return values


_SERVICES: weakref.WeakKeyDictionary[MetricFlowSemanticLayer, QueryService] = weakref.WeakKeyDictionary()
_SERVICES_LOCK = threading.Lock()


def query_service(sl: MetricFlowSemanticLayer) -> QueryService:
    """The query service of a semantic layer (one per semantic layer, built on first use)."""
    service = _SERVICES.get(sl)
    if service is None:
        with _SERVICES_LOCK:
            service = _SERVICES.get(sl)
            if service is None:
                service = _SERVICES[sl] = QueryService(sl)
    return service


def _in_filter(key: str, mf_name: str, values: tuple[Any, ...]) -> Filter:
    spec = DIMENSION_BY_KEY[key]
    typed: tuple[int | Category, ...]
    if spec.is_entity:
        column = "{{ Entity('" + mf_name + "') }}"
        typed = tuple(int(v) for v in values)
    else:
        column = "{{ Dimension('" + mf_name + "') }}"
        typed = tuple(Category(str(v)) for v in values)
    if len(typed) == 1:
        return Filter(f"{column} = §0§", typed)
    slots = ", ".join(f"§{i}§" for i in range(len(typed)))
    return Filter(f"{column} IN ({slots})", typed)


def _day_range(dimension: str, first: date, last: date) -> Filter:
    column = "{{ Dimension('" + dimension + "') }}"
    return Filter(f"{column} >= §0§ AND {column} <= §1§", (first, last))


def _mf_order(order: Order, group_by: tuple[tuple[str, str], ...], grain: Grain | None) -> str:
    if order.by == TIME:
        name = f"metric_time__{grain.value}" if grain else TIME
    else:
        name = dict(group_by).get(order.by, order.by)
    return f"-{name}" if order.descending else name


def _typed(value: Any, kind: ValueKind) -> Any:
    if kind is ValueKind.MONEY:
        return money(value)
    if kind is ValueKind.COUNT:
        return 0 if value is None else round(float(value))
    if kind is ValueKind.PERCENT:
        return percent(value)
    if kind is ValueKind.TIME:
        return value.date() if isinstance(value, datetime) else value
    if kind is ValueKind.ID:
        return None if value is None else int(value)
    return None if value is None else str(value)


def _sort_key(value: Any) -> tuple[int, Any]:
    return (1, "") if value is None else (0, value)


def _month(day: date) -> Month:
    return Month.of(day)


def _names(infos: tuple[MetricInfo, ...]) -> str:
    return ", ".join(i.label for i in infos)

