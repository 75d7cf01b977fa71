"""Production warehouse: MetricFlow and the row listings over Snowflake (snowflake-connector, qmark binding).

Readers query the live marts; there is no snapshot to publish. The load id is the end of the last successful
ingest run (ops.ingest_runs), checked at most every `poll_seconds`, so caches turn over with each refresh.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from metricflow.protocols.sql_client import SqlEngine
from metricflow.sql.render.snowflake import SnowflakeSqlPlanRenderer
from metricflow.sql.render.sql_plan_renderer import SqlPlanRenderer

from finefin.config import snowflake_connect_kwargs
from finefin.errors import ConfigurationError
from semantic_layer.errors import WarehouseUnavailableError
from semantic_layer.sql_client_base import FetchingSqlClient


def connect_kwargs_from_env(env: dict[str, str] | None = None) -> dict[str, Any]:
    """The SNOWFLAKE_* connection settings (finefin.config); missing ones make the warehouse unavailable."""
    try:
        return snowflake_connect_kwargs(env)
    except ConfigurationError as exc:
        raise WarehouseUnavailableError(str(exc)) from exc


class SnowflakeClient(FetchingSqlClient):
    """SqlClient for MetricFlow plus `fetch()`; one connection, a cursor per query, serialized by a lock."""

    def __init__(self, connect_kwargs: dict[str, Any]) -> None:
        import snowflake.connector

        self._conn = snowflake.connector.connect(**connect_kwargs)
        self._lock = threading.Lock()
        self._renderer = SnowflakeSqlPlanRenderer()

    @property
    def sql_engine_type(self) -> SqlEngine:
        return SqlEngine.SNOWFLAKE

    @property
    def sql_plan_renderer(self) -> SqlPlanRenderer:
        return self._renderer

    def fetch(self, stmt: str, params: Sequence[Any] | dict[str, Any] | None = None) -> tuple[list[str], list[tuple]]:
        with self._lock:
            cursor = self._conn.cursor()
            try:
                cursor.execute(stmt, params)
                names = [d[0].lower() for d in cursor.description or ()]
                return names, [tuple(r) for r in cursor.fetchall()]
            finally:
                cursor.close()

    def close(self) -> None:
        self._conn.close()

    def render_bind_parameter_key(self, bind_parameter_key: str) -> str:
        return f":{bind_parameter_key}"


class SnowflakeWarehouse:
    """WarehouseSource over live Snowflake marts; `manifest_path` comes from `dbt parse --target snowflake`."""

    def __init__(self, connect_kwargs: dict[str, Any], manifest_path: Path, poll_seconds: float = 60.0) -> None:
        self._kwargs = connect_kwargs
        self._manifest_path = manifest_path
        self._poll_seconds = poll_seconds
        self._client: SnowflakeClient | None = None
        self._load_id: tuple[float, str] | None = None
        self._lock = threading.Lock()

    def _shared_client(self) -> SnowflakeClient:
        with self._lock:
            if self._client is None:
                self._client = SnowflakeClient(self._kwargs)
            return self._client

    def current_load_id(self) -> str:
        from semantic_layer.service import LAST_SUCCESSFUL_LOAD_SQL

        now = time.monotonic()
        if self._load_id is not None and now - self._load_id[0] < self._poll_seconds:
            return self._load_id[1]
        _, rows = self._shared_client().fetch(LAST_SUCCESSFUL_LOAD_SQL)
        load_id = f"snowflake@{rows[0][0]}" if rows and rows[0][0] is not None else "snowflake@never"
        self._load_id = (now, load_id)
        return load_id

    def open(self, load_id: str) -> tuple[Any, str]:
        if not self._manifest_path.exists():
            raise WarehouseUnavailableError(f"no semantic manifest at {self._manifest_path}: run dbt parse first.")
        return self._shared_client(), self._manifest_path.read_text()

