"""One warm MetricFlow engine per process, reopened when a new warehouse snapshot is published.

Each call resolves the `current` snapshot (one readlink). A new load id builds a new read-only client and a new
MetricFlowEngine from the manifest published with that snapshot; in-flight queries finish on the old one. Results
are cached per (request, load id), so repeated digests don't recompute and a new load invalidates everything.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from semantic_layer import snapshots
from semantic_layer.errors import SemanticLayerError, WarehouseUnavailableError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueryResult:
    """Rows of a metric query; numbers as MetricFlow returns them (floats): callers quantize money."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass
class _Loaded:
    load_id: str
    client: Any  # ReadOnlyDuckDbClient (fetch + SqlClient)
    engine: Any  # MetricFlowEngine
    manifest: Any  # SemanticManifest
    metric_names: frozenset[str]
    relation_prefix: str  # quoted "catalog"."schema" of the marts, from the manifest


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
        log.info("loaded warehouse load %s (%d metrics) in %.2fs", load_id, len(names), time.perf_counter() - started)
        return _Loaded(load_id, client, engine, manifest, names, _relation_prefix(manifest))

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
        where: Sequence[str] = (),
        order_by: Sequence[str] = (),
        limit: int | None = None,
        saved_query: str | None = None,
    ) -> QueryResult:
        """Run a MetricFlow query. `where` items must be built from typed values only (see semantic_layer.filters)."""
        from metricflow.engine.metricflow_engine import MetricFlowQueryRequest

        loaded = self._current()
        key = ("mf", loaded.load_id, tuple(metrics), tuple(group_by), tuple(where), tuple(order_by), limit, saved_query)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        request = MetricFlowQueryRequest.create(
            saved_query_name=saved_query,
            metric_names=list(metrics) if metrics else None,
            group_by_names=list(group_by) if group_by else None,
            where_constraints=list(where) if where else None,
            order_by_names=list(order_by) if order_by else None,
            limit=limit,
        )
        try:
            result = loaded.engine.query(request)
        except Exception as exc:  # MetricFlow raises many kinds; the message is for the log, not the user
            log.exception("MetricFlow query failed: metrics=%s group_by=%s where=%s", metrics, group_by, where)
            raise SemanticLayerError("The metric query failed; the details are in the log.") from exc
        table = result.result_df
        out = QueryResult(tuple(table.column_names), tuple(tuple(r) for r in table.rows))
        self.cache.put(key, out)
        return out

    def explain(self, metrics: Sequence[str] = (), group_by: Sequence[str] = (), *,
                saved_query: str | None = None) -> str:
        from metricflow.engine.metricflow_engine import MetricFlowQueryRequest

        request = MetricFlowQueryRequest.create(
            saved_query_name=saved_query,
            metric_names=list(metrics) if metrics else None,
            group_by_names=list(group_by) if group_by else None,
        )
        return self._current().engine.explain(request).sql_statement.sql

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
        out = QueryResult(tuple(columns), tuple(tuple(r) for r in rows))
        self.cache.put(key, out)
        return out

    def close(self) -> None:
        with self._lock:
            if self._loaded is not None:
                self._loaded.client.close()
                self._loaded = None
            self.cache.clear()


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
