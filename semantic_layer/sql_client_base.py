"""What every finefin MetricFlow SqlClient shares: MetricFlow's query/execute/dry_run on top of one `fetch()`."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from metricflow.data_table.mf_table import MetricFlowDataTable
from metricflow_semantics.sql.sql_bind_parameters import SqlBindParameterSet

from semantic_layer.filters import FilterValue, fill_slots

NO_PARAMS = SqlBindParameterSet()


class FetchingSqlClient:
    """Subclasses implement `fetch(stmt, params) -> (column names, rows)`, the engine type and the renderer."""

    def fetch(self, stmt: str, params: Sequence[Any] | dict[str, Any] | None = None) -> tuple[list[str], list[tuple]]:
        raise NotImplementedError

    def fetch_planned(self, key: Hashable, stmt: str, values: Sequence[FilterValue]) -> tuple[list[str], list[tuple]]:
        """Run a statement planned once per query shape: `stmt` holds slot(i) where the i-th typed value goes.

        `key` names the plan (a client may keep work per plan). Here each slot becomes the value's SQL literal.
        """
        return self.fetch(fill_slots(stmt, values))

    def query(self, stmt: str, sql_bind_parameter_set: SqlBindParameterSet = NO_PARAMS) -> MetricFlowDataTable:
        names, rows = self.fetch(stmt, bind_values(sql_bind_parameter_set))
        return MetricFlowDataTable.create_from_rows(column_names=names, rows=rows)

    def execute(self, stmt: str, sql_bind_parameter_set: SqlBindParameterSet = NO_PARAMS) -> None:
        self.fetch(stmt, bind_values(sql_bind_parameter_set))

    def dry_run(self, stmt: str, sql_bind_parameter_set: SqlBindParameterSet = NO_PARAMS) -> None:
        self.fetch(f"EXPLAIN {stmt}", bind_values(sql_bind_parameter_set))


def bind_values(params: SqlBindParameterSet) -> dict[str, Any] | None:
    if not params.param_dict:
        return None
    return {key: value.union_value for key, value in params.param_dict.items()}
