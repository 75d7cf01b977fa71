"""A MetricFlow `SqlClient` over a read-only DuckDB snapshot.

MetricFlow's stock client goes through the dbt adapter, which keeps one read-write handle on the file. This one
opens the published snapshot read-only and gives each query its own cursor, so bot workers can query in parallel
and the refresh never waits on the bot.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
from metricflow.protocols.sql_client import SqlEngine
from metricflow.sql.render.duckdb_renderer import DuckDbSqlPlanRenderer
from metricflow.sql.render.sql_plan_renderer import SqlPlanRenderer

from semantic_layer.sql_client_base import FetchingSqlClient


class ReadOnlyDuckDbClient(FetchingSqlClient):
    """SqlClient for MetricFlow, plus `fetch()` for the few row listings read with bound parameters."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = duckdb.connect(str(path), read_only=True)
        self._lock = threading.Lock()
        self._renderer = DuckDbSqlPlanRenderer()

    @property
    def sql_engine_type(self) -> SqlEngine:
        return SqlEngine.DUCKDB

    @property
    def sql_plan_renderer(self) -> SqlPlanRenderer:
        return self._renderer

    def fetch(self, stmt: str, params: Sequence[Any] | dict[str, Any] | None = None) -> tuple[list[str], list[tuple]]:
        """Run a parameterized SELECT; values are bound by DuckDB, never formatted into the text."""
        with self._lock:
            cursor = self._conn.cursor()  # a cursor is a new connection to the same database: thread-safe use
        try:
            cursor.execute(stmt, params)
            names = [d[0] for d in cursor.description or ()]
            return names, cursor.fetchall()
        finally:
            cursor.close()

    def close(self) -> None:
        self._conn.close()

    def render_bind_parameter_key(self, bind_parameter_key: str) -> str:
        return f"${bind_parameter_key}"

