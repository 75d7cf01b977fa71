"""One warm MetricFlow engine per process, reopened when a new warehouse snapshot is published.

Each call resolves the `current` snapshot (one readlink). A new load id builds a new read-only client and a new
MetricFlowEngine from the manifest published with that snapshot; in-flight queries finish on the old one. Results
are cached per (request, load id), so repeated digests don't recompute and a new load invalidates everything.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from semantic_layer import snapshots
from semantic_layer.errors import SemanticLayerError, WarehouseUnavailableError
from semantic_layer.filters import Category, Filter, FilterValue, fill_slots, literal, slot
from semantic_layer.joins import MatchedJoins, inner_joins, matched_joins

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueryResult:
    """Rows of a metric query; numbers as MetricFlow returns them (floats): callers quantize money."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def positions(self, *names: str) -> tuple[int, ...]:
        """Column positions by name, for reading many rows without building a dict per row."""
        return tuple(self.columns.index(name) for name in names)


@dataclass
class _Loaded:
    load_id: str
    client: Any  # ReadOnlyDuckDbClient (fetch + SqlClient)
    engine: Any  # MetricFlowEngine
    manifest: Any  # SemanticManifest
    metric_names: frozenset[str]
    relation_prefix: str  # quoted "catalog"."schema" of the marts, from the manifest
    joins: MatchedJoins  # the dimension joins every row matches (semantic_layer.joins)


class ResultCache:
    """A small LRU keyed on (load id, request key)."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class WarehouseSource(Protocol):
    """Where the engine reads from: it names the current load and opens a client for it."""

    def current_load_id(self) -> str: ...

    def open(self, load_id: str) -> tuple[Any, str]:
        """A SqlClient (with `fetch`) for that load, and the semantic manifest JSON that goes with it."""
        ...


class DuckDbSnapshots:
    """The published read-only DuckDB snapshots of `data_dir` (embedded default)."""

    def __init__(self, data_dir: Path, warehouse_name: str) -> None:
        self.data_dir = data_dir
        self.warehouse_name = warehouse_name

    def current_load_id(self) -> str:
        return self._snapshot_with_retry().load_id

    def open(self, load_id: str) -> tuple[Any, str]:
        from semantic_layer.duckdb_client import ReadOnlyDuckDbClient

        snap = self._snapshot_with_retry()
        if snap.manifest is None:
            raise WarehouseUnavailableError(f"snapshot {snap.load_id} has no semantic manifest: run `dbt parse`.")
        return ReadOnlyDuckDbClient(snap.warehouse), snap.manifest.read_text()

    def _snapshot_with_retry(self) -> snapshots.Snapshot:
        for attempt in range(3):
            snap = snapshots.current(self.data_dir, self.warehouse_name)
            if snap.warehouse.exists():
                return snap
            time.sleep(0.05 * (attempt + 1))  # pruned between readlink and open: re-resolve
        raise WarehouseUnavailableError("The published warehouse snapshot disappeared; try again in a moment.")


class SemanticEngine:
    """MetricFlow over a WarehouseSource, reloaded when the source reports a new load id."""

    def __init__(self, source: WarehouseSource, cache_size: int = 256) -> None:
        self.source = source
        self._loaded: _Loaded | None = None
        self._lock = threading.RLock()
        self.cache = ResultCache(cache_size)
        self.plans = ResultCache(128)  # SQL planned per query shape, per load
        # MetricFlow's LEFT OUTER JOINs to a dimension every row matches run as INNER JOINs (semantic_layer.joins);
        # False only to measure or compare the SQL as MetricFlow wrote it
        self.inner_joins = True

    # -- loading ----------------------------------------------------------------------------------------------
    def _current(self) -> _Loaded:
        load_id = self.source.current_load_id()
        loaded = self._loaded
        if loaded is not None and loaded.load_id == load_id:
            return loaded
        with self._lock:
            if self._loaded is not None and self._loaded.load_id == load_id:
                return self._loaded
            self._loaded = self._load(load_id)
            self.cache.clear()
            self.plans.clear()
            return self._loaded

    def _load(self, load_id: str) -> _Loaded:
        from metricflow.engine.metricflow_engine import MetricFlowEngine
        from metricflow_semantics.model.dbt_manifest_parser import parse_manifest_from_dbt_generated_manifest
        from metricflow_semantics.model.semantic_manifest_lookup import SemanticManifestLookup

        started = time.perf_counter()
        client, manifest_json = self.source.open(load_id)
        manifest = parse_manifest_from_dbt_generated_manifest(manifest_json_string=manifest_json)
        engine = MetricFlowEngine(semantic_manifest_lookup=SemanticManifestLookup(manifest), sql_client=client)
        names = frozenset(m.name for m in manifest.metrics)
        _freeze_long_lived_heap()
        log.info("loaded warehouse load %s (%d metrics) in %.2fs", load_id, len(names), time.perf_counter() - started)
        return _Loaded(load_id, client, engine, manifest, names, _relation_prefix(manifest), matched_joins(manifest))

    # -- queries ----------------------------------------------------------------------------------------------
    @property
    def load_id(self) -> str:
        return self._current().load_id

    @property
    def metric_names(self) -> frozenset[str]:
        return self._current().metric_names

    @property
    def manifest(self) -> Any:
        return self._current().manifest

    @property
    def metricflow(self) -> Any:
        """The current load's MetricFlowEngine, for what it reports about the manifest (group-by items per metric);
        queries go through `query()`."""
        return self._current().engine

    def relation(self, model_name: str) -> str:
        """Quoted relation name of a dbt model in the marts' schema (a trusted name, never user text)."""
        if not model_name.replace("_", "").isalnum():
            raise ValueError(f"bad model name {model_name!r}")
        return f"{self._current().relation_prefix}.{model_name}"

    def query(
        self,
        metrics: Sequence[str] = (),
        group_by: Sequence[str] = (),
        *,
        where: Sequence[Filter | str] = (),
        order_by: Sequence[str] = (),
        limit: int | None = None,
        saved_query: str | None = None,
    ) -> QueryResult:
        """Run a MetricFlow query. `where` holds Filters built from typed values (semantic_layer.filters); a plain
        string is accepted only for constant filters written in this package."""
        loaded = self._current()
        filters = [w if isinstance(w, Filter) else Filter(w) for w in where]
        values = tuple(v for f in filters for v in f.values)
        shape = (tuple(metrics), tuple(group_by), tuple(f.template for f in filters), tuple(order_by), limit,
                 saved_query)
        key = ("mf", loaded.load_id, shape, values)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        try:
            plan = self._plan(loaded, shape, filters, values)
            if plan is not None:
                plan_key, sql = plan
                columns, rows = loaded.client.fetch_planned(plan_key, sql, values)
                out = QueryResult(tuple(columns), tuple(rows))  # DB-API rows are tuples already
            else:
                result = loaded.engine.query(self._request(shape, filters))
                table = result.result_df
                out = QueryResult(tuple(table.column_names), tuple(tuple(r) for r in table.rows))
        except SemanticLayerError:
            raise
        except Exception as exc:  # MetricFlow raises many kinds; the message is for the log, not the user
            log.exception("MetricFlow query failed: metrics=%s group_by=%s where=%s values=%s", metrics, group_by,
                          [f.template for f in filters], values)
            raise SemanticLayerError("The metric query failed; the details are in the log.") from exc
        self.cache.put(key, out)
        return out

    @staticmethod
    def _request(shape: tuple, filters: Sequence[Filter], values: tuple | None = None) -> Any:
        from metricflow.engine.metricflow_engine import MetricFlowQueryRequest

        metrics, group_by, _, order_by, limit, saved_query = shape
        rendered: list[str] = []
        offset = 0
        for f in filters:
            own = None if values is None else values[offset:offset + len(f.values)]
            rendered.append(f.render(own))
            offset += len(f.values)
        return MetricFlowQueryRequest.create(
            saved_query_name=saved_query,
            metric_names=list(metrics) or None,
            group_by_names=list(group_by) or None,
            where_constraints=rendered or None,
            order_by_names=list(order_by) or None,
            limit=limit,
        )

    def _plan(self, loaded: _Loaded, shape: tuple, filters: Sequence[Filter],
              values: tuple) -> tuple[Hashable, str] | None:
        """The SQL of this query's shape, planned once: MetricFlow plans with unique sentinel values, which become
        numbered slots (filters.slot) that the client fills with each call's typed values (or binds, for a
        prepared statement). None: plan the usual way (a sentinel did not reach the SQL)."""
        plan_key = ("plan", loaded.load_id, shape, tuple(type(v).__name__ for v in values), self.inner_joins)
        plan = self.plans.get(plan_key)
        if plan is None:
            sentinels = tuple(_sentinel(i, v) for i, v in enumerate(values))
            sql = loaded.engine.explain(self._request(shape, filters, sentinels)).sql_statement.sql
            texts = [literal(v) for v in sentinels]
            # every sentinel must reach the SQL (MetricFlow may repeat a filter in subqueries: count >= 1)
            if all(t in sql for t in texts):
                # longest first: an int sentinel (987654000000) is a prefix of the Decimal ones (987654000000.00017)
                for position, text in sorted(enumerate(texts), key=lambda item: -len(item[1])):
                    sql = sql.replace(text, slot(position))
                plan = inner_joins(sql, loaded.joins) if self.inner_joins else sql
            else:
                plan = ""
            self.plans.put(plan_key, plan)
        return (plan_key, plan) if plan else None

    def _planned_sql(self, loaded: _Loaded, shape: tuple, filters: Sequence[Filter], values: tuple) -> str | None:
        """The planned SQL of this query with its values written in as literals (for tests and tools)."""
        plan = self._plan(loaded, shape, filters, values)
        return None if plan is None else fill_slots(plan[1], values)

    def fetch(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> QueryResult:
        """A row listing read from a mart with bound parameters (statement lines, upcoming transactions).

        `sql` is a constant string of this package; user values only ever travel in `params`.
        """
        loaded = self._current()
        key = ("sql", loaded.load_id, sql, _freeze(params))
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        columns, rows = loaded.client.fetch(sql, params)
        out = QueryResult(tuple(columns), tuple(rows))
        self.cache.put(key, out)
        return out

    def close(self) -> None:
        with self._lock:
            if self._loaded is not None:
                self._loaded.client.close()
                self._loaded = None
            self.cache.clear()


def _freeze_long_lived_heap() -> None:
    """Keep the cyclic garbage collector off the engine's long-lived objects.

    MetricFlow's manifest lookup and engine are hundreds of thousands of objects that live as long as the load. Every
    full collection walked them all (~25 ms, every few calls that build many result objects: at 10 M transactions
    the watchlist's p95 was mostly that). `gc.freeze()` moves the objects alive now out of the collector's sight.
    The load being replaced is still referenced here, so it is frozen too; the next load unfreezes it (unreachable
    by then) and collects it: at most one old load's cyclic garbage waits in memory. Process-wide, once per load.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _sentinel(position: int, value: FilterValue) -> FilterValue:
    """A value no real query uses, unique per slot: 12-digit numbers, odd decimals, days of 1901, or odd words."""
    if isinstance(value, Category):
        return Category(f"finefin_sentinel_{position}_q")
    if isinstance(value, date):
        return date(1901, 1, 1) + timedelta(days=position)
    if isinstance(value, Decimal):
        return Decimal(f"987654000000.{position + 1:04d}7")
    return 987_654_000_000 + position


def _relation_prefix(manifest: Any) -> str:
    """`catalog.schema` of the marts exactly as dbt rendered it for the adapter (DuckDB quotes, Snowflake does not:
    quoting a lower-case name there would make it case-sensitive and miss the table)."""
    relation = manifest.semantic_models[0].node_relation
    rendered = relation.relation_name
    for suffix in (f'."{relation.alias}"', f".{relation.alias}"):
        if rendered.endswith(suffix):
            return rendered[: -len(suffix)]
    raise ValueError(f"cannot split {rendered!r} into schema and table")


def _freeze(params: Sequence[Any] | dict[str, Any] | None) -> Hashable:
    if params is None:
        return None
    if isinstance(params, dict):
        return tuple(sorted(params.items()))
    return tuple(params)


class DuckDbSnapshotEngine(SemanticEngine):
    """The embedded default: MetricFlow over the published DuckDB snapshots of `data_dir`."""

    def __init__(self, data_dir: Path, warehouse_name: str, cache_size: int = 256) -> None:
        super().__init__(DuckDbSnapshots(data_dir, warehouse_name), cache_size)
