"""PostgreSQL binary COPY encoding of numpy columns, without a per-row Python loop.

Binary COPY halves PostgreSQL's parse time compared with CSV (measured on 1 M transactions: 2.5 s vs 5.2 s). Rows in
binary format have variable length (text values, NULLs), so rows are grouped by *layout*: the combination of their
text values and NULL pattern. Within one layout every row has the same byte length and constant text, so the whole
group is one numpy structured array. Groups are emitted one after the other: the physical order of rows changes,
their content does not (tables have no meaningful heap order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
TRAILER = (-1).to_bytes(2, "big", signed=True)
PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in Unix microseconds
PG_EPOCH_DAYS = 10_957


@dataclass(frozen=True)
class Col:
    """One column: kind is 'int8', 'money' (numeric, int64 cents), 'timestamptz' (epoch us), 'date' (epoch days),
    or 'text' (codes into `vocabulary`). `null` marks NULLs (bool array) or is None."""

    kind: str
    values: np.ndarray
    null: np.ndarray | None = None
    vocabulary: Sequence[str] = ()


_WIDTH = {"int8": 8, "money": 16, "timestamptz": 8, "date": 4}


def _numeric_words(cents: np.ndarray) -> np.ndarray:
    """numeric binary as 8 int16 words: ndigits=4, weight=2, sign, dscale=2, then base-10000 digits.

    Fixed 4 digits (1e8, 1e4, 1, 1e-4 places) cover numeric(14,2); PostgreSQL strips the leading/trailing zero digits.
    """
    a = np.abs(cents)
    whole, frac = a // 100, a % 100
    words = np.empty((len(cents), 8), dtype=">i2")
    words[:, 0] = 4
    words[:, 1] = 2
    words[:, 2] = np.where(cents < 0, 0x4000, 0).astype(np.int16)
    words[:, 3] = 2
    words[:, 4] = whole // 100_000_000
    words[:, 5] = (whole // 10_000) % 10_000
    words[:, 6] = whole % 10_000
    words[:, 7] = frac * 100
    return words


def encode(columns: Sequence[Col]) -> bytes:
    """Binary COPY tuples (no header/trailer) for the given columns."""
    n = len(columns[0].values)
    if n == 0:
        return b""
    # layout key: text codes and NULL bits, mixed into one int64 per row
    key = np.zeros(n, np.int64)
    for col in columns:
        if col.kind == "text":
            key = key * (len(col.vocabulary) + 1) + col.values.astype(np.int64)
        if col.null is not None:
            key = key * 2 + col.null.astype(np.int64)
    layouts, inverse = np.unique(key, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(layouts) + 1))
    prepared = [(_numeric_words(c.values) if c.kind == "money" else None) for c in columns]
    out: list[bytes] = []
    for k in range(len(layouts)):
        rows = order[bounds[k]:bounds[k + 1]]
        first = rows[0]
        fields: list[tuple[str, str]] = [("count", ">i2")]
        fill: list[tuple[str, object]] = [("count", len(columns))]
        for i, col in enumerate(columns):
            is_null = col.null is not None and bool(col.null[first])
            fields.append((f"l{i}", ">i4"))
            if is_null:
                fill.append((f"l{i}", -1))
                continue
            if col.kind == "text":
                text = col.vocabulary[int(col.values[first])].encode()
                fill.append((f"l{i}", len(text)))
                if text:
                    fields.append((f"v{i}", f"S{len(text)}"))
                    fill.append((f"v{i}", text))
                continue
            fill.append((f"l{i}", _WIDTH[col.kind]))
            if col.kind == "int8":
                fields.append((f"v{i}", ">i8"))
                fill.append((f"v{i}", col.values[rows]))
            elif col.kind == "timestamptz":
                fields.append((f"v{i}", ">i8"))
                fill.append((f"v{i}", col.values[rows] - PG_EPOCH_US))
            elif col.kind == "date":
                fields.append((f"v{i}", ">i4"))
                fill.append((f"v{i}", col.values[rows] - PG_EPOCH_DAYS))
            else:  # money
                fields.append((f"v{i}", ">i2", (8,)))  # type: ignore[arg-type]
                fill.append((f"v{i}", prepared[i][rows]))  # type: ignore[index]
        block = np.empty(len(rows), dtype=np.dtype(fields))
        for name, value in fill:
            block[name] = value
        out.append(block.tobytes())
    return b"".join(out)
