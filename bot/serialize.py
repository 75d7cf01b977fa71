"""Typed results → JSON-safe values: dataclasses and NamedTuples as dicts, Decimal as strings, ISO dates, `YYYY-MM`."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

from semantic_layer.inputs import CustomerId, Month


def to_jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, CustomerId):
        return value.value
    if isinstance(value, Month):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Enum):
        return to_jsonable(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        for name in ("is_stale", "total", "total_in", "total_out"):  # derived properties a reader needs
            attr = getattr(type(value), name, None)
            if isinstance(attr, property):
                out[name] = to_jsonable(getattr(value, name))
        return out
    if isinstance(value, tuple) and hasattr(value, "_asdict"):  # NamedTuple rows (watchlist entries, red streaks)
        return {name: to_jsonable(item) for name, item in value._asdict().items()}
    if isinstance(value, dict):
        return {str(to_jsonable(k)): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    raise TypeError(f"cannot serialize {type(value).__name__}")
