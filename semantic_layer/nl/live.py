"""The vocabulary of the current warehouse load: the catalog, the data's as-of date and each category dimension's
actual values (read through the query service, which caches them per load). Built once per load id."""

from __future__ import annotations

import threading
from typing import Any

from semantic_layer.catalog import DIMENSIONS, ValueKind
from semantic_layer.nl.names import NameIndex
from semantic_layer.nl.vocabulary import Vocabulary
from semantic_layer.query_service import QueryService

_CACHE: dict[int, Vocabulary] = {}
_LOCK = threading.Lock()
_SKIP = frozenset({"customer_name"})  # names are not words a question is parsed on (an id is)


def vocabulary_of(service: QueryService) -> Vocabulary:
    catalog = service.catalog()
    cached = _CACHE.get(id(service))
    if cached is not None and cached.catalog is catalog:
        return cached
    as_of, _ = service.sl.reporting_dates()
    values: dict[str, tuple[str, ...]] = {}
    for spec in DIMENSIONS:
        if spec.kind is not ValueKind.CATEGORY or spec.key in _SKIP:
            continue
        metric = next((m for m in catalog.metrics.values() if spec.key in m.dimensions and not m.needs_time), None)
        if metric is None:
            continue
        mf_name = catalog.mf_name(spec.key, [metric.name])
        if mf_name is None:
            continue
        actual: dict[str, Any] = service._actual_values(metric, mf_name, None)  # cached per load
        values[spec.key] = tuple(sorted({str(v) for v in actual.values()}))
    vocab = Vocabulary.of(catalog, as_of, values, _names(service))
    with _LOCK:
        _CACHE[id(service)] = vocab
    return vocab


def _names(service: QueryService) -> NameIndex | None:
    """Every customer's id and full name in the current load, indexed once per load (for advisors' questions by
    name): one MetricFlow query of the customer count grouped by customer and name."""
    catalog = service.catalog()
    fits = [m for m in catalog.metrics.values() if not m.needs_time
            and catalog.mf_name("customer", [m.name]) and catalog.mf_name("customer_name", [m.name])]
    # the count of customers has a row for every customer (revenue, volume... only for those with transactions)
    metric = next((m for m in fits if m.name == "customers"), fits[0] if fits else None)
    if metric is None:
        return None
    ids, names = catalog.mf_name("customer", [metric.name]), catalog.mf_name("customer_name", [metric.name])
    result = service.engine.query([metric.name], [ids, names])
    at_id, at_name = result.columns.index(ids), result.columns.index(names)
    return NameIndex.of((r[at_id], r[at_name]) for r in result.rows if r[at_id] is not None)
