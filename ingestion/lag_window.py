"""The cursor's lag window: re-read the last minutes before the high-water mark, load only what is new in them.

An `updated_at` cursor misses a row committed after the previous extract with an `updated_at` older than the mark
(a long source transaction, or a writer whose clock runs behind). So each run re-reads `lag` seconds before the mark
(dlt's incremental `lag`). Most rows in that window were loaded already, unchanged: they are dropped here when every
column equals the stored row, so a re-run still reports 0 rows; a late row, or a row changed (even without moving
updated_at), goes through.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import duckdb

Seen = dict[int, dict[str, Any]]
"""The rows raw already holds inside the lag window: primary key -> column -> value."""


def loaded_in_window(con: duckdb.DuckDBPyConnection, dataset: str, primary_keys: dict[str, str], cursor: str,
                     tables: Sequence[str], lag_seconds: float) -> dict[str, Seen]:
    """Per table, the rows raw already holds in the lag window before its newest `cursor` value."""
    out: dict[str, Seen] = {}
    for table in tables:
        key = primary_keys[table]
        result = con.execute(
            f'SELECT * FROM "{dataset}"."{table}" WHERE "{cursor}" >= '
            f'(SELECT max("{cursor}") FROM "{dataset}"."{table}") - to_microseconds(?)',
            [round(lag_seconds * 1_000_000)],
        )
        names = [d[0] for d in result.description]
        out[table] = {int(row[names.index(key)]): dict(zip(names, row, strict=True)) for row in result.fetchall()}
    return out


def drop_already_loaded(key: str, seen: Seen) -> Callable[[Any], Any]:
    """Map step over Arrow items: remove rows equal, column by column, to the stored row of the same key."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not seen:
        return lambda item: item
    keys = pa.array(sorted(seen), pa.int64())

    def _step(item: Any) -> Any:
        if not isinstance(item, pa.Table | pa.RecordBatch) or item.num_rows == 0:
            return item
        candidates = pc.is_in(item.column(key).cast(pa.int64()), value_set=keys)
        if not pc.any(candidates).as_py():
            return item
        keep = [not candidate or not _unchanged(item.slice(i, 1).to_pylist()[0], key, seen)
                for i, candidate in enumerate(candidates.to_pylist())]
        return item.filter(pa.array(keep, pa.bool_()))

    return _step


def _unchanged(row: dict[str, Any], key: str, seen: Seen) -> bool:
    stored = seen.get(int(row[key]))
    return stored is not None and all(stored.get(name, value) == value for name, value in row.items()
                                      if not name.startswith("_dlt"))
