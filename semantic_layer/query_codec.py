"""The one serialisation of a `MetricQuery`: `query_to_data` gives its compact form (a JSON-ready dict with short
keys), `query_from_data` reads it back, checking everything.

    {"m": ["revenue"], "g": ["tier"], "t": "month", "f": [["type", ["card_payment", "fee"]]],
     "p": ["r", "2025-07-01", "2025-12-31"], "o": [["revenue", 1]], "l": 10}

`m` metrics, `g` group-by, `t` grain, `f` filters (dimension, values), `p` the period (`["r", first, last]` for
explicit days, else `[kind, count]`), `o` the order (`[by, 1]` descending, `[by, 0]` ascending), `l` the limit;
empty parts are left out. Its users add their own envelope: a button's value is `v1:` + this JSON (plus the view,
bot/commands/query_buttons.py), a stored subscription or alert `q1:` + this JSON (bot/state/subscriptions.py, which
keeps writing a range as `"range"` and a direction as a JSON bool, as it always has), and a thread's conversation
state is this dict (bot/commands/conversation.py, which still reads the long-key rows written before).

Reading is strict because a button's value comes back from Slack and anyone can forge one: the shape of every part,
names (`[a-z][a-z0-9_]{0,63}`), list lengths, text lengths, dates and ints are checked, and anything else raises
`QueryDataError`, which each caller turns into its own message. Names are only checked for their shape: the query
service resolves them against the catalog and the access policy, and matches filter values to the data. The bounds
admit every query the bot itself writes, so nothing it stored is refused later: the `/finefin metric` grammar's
500-character question can hold ~45 filters (`where tier=Gold and tier=Gold …`) or a value almost as long as itself,
and each "same for last year" in a thread moves a period a year back, past 1900 if asked.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from semantic_layer.catalog import Grain
from semantic_layer.errors import InvalidInputError
from semantic_layer.query import MAX_GROUP_BY, MAX_LIMIT, DimensionFilter, MetricQuery, Order, Period, PeriodKind

QUERY_KEYS = frozenset({"m", "g", "t", "f", "p", "o", "l"})
RANGE = "r"  # the period kind of explicit days in the compact form
NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")  # a metric, a dimension key or `time`
MAX_METRICS = 5  # as MetricQuery
MAX_FILTERS = 50  # the grammar's question holds ~45
MAX_VALUES = 50  # per filter, as DimensionFilter
MAX_VALUE_CHARS = 1000  # a filter value: one typed in a 500-character question, matched to the data's
MAX_ORDER = 3
MAX_MONTHS = 120  # as Period
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_GRAINS = {g.value: g for g in Grain}
_KINDS = {k.value: k for k in PeriodKind if k is not PeriodKind.RANGE}


class QueryDataError(InvalidInputError):
    """Data that is not a query's compact form (malformed, out of bounds, or refused by the query model)."""

    def __init__(self, message: str = "That question cannot be read.") -> None:
        super().__init__(message)


def query_to_data(query: MetricQuery) -> dict[str, Any]:
    """The compact form of `query` (the keys in this order, empty parts left out)."""
    data: dict[str, Any] = {"m": list(query.metrics)}
    if query.group_by:
        data["g"] = list(query.group_by)
    if query.grain is not None:
        data["t"] = query.grain.value
    if query.filters:
        data["f"] = [[f.dimension, list(f.values)] for f in query.filters]
    if query.period is not None:
        p = query.period
        data["p"] = [RANGE, p.first.isoformat(), p.last.isoformat()] if p.kind is PeriodKind.RANGE and p.first \
            and p.last else [p.kind.value, p.count]
    if query.order:
        data["o"] = [[o.by, int(o.descending)] for o in query.order]
    if query.limit is not None:
        data["l"] = query.limit
    return data


def query_from_data(data: object) -> MetricQuery:
    """The query of a compact form; QueryDataError for anything `query_to_data` does not write."""
    if not isinstance(data, dict) or not set(data) <= QUERY_KEYS:
        raise QueryDataError()
    try:
        metrics = tuple(_name(m) for m in _list(data.get("m"), MAX_METRICS, 1))
        group_by = tuple(_name(d) for d in _list(data.get("g", []), MAX_GROUP_BY))
        grain = None
        if "t" in data:
            if not isinstance(data["t"], str) or data["t"] not in _GRAINS:
                raise QueryDataError()
            grain = _GRAINS[data["t"]]
        filters = []
        for item in _list(data.get("f", []), MAX_FILTERS):
            key, values = _list(item, 2, 2)
            filters.append(DimensionFilter(_name(key), tuple(_text(v) for v in _list(values, MAX_VALUES, 1))))
        period = _period(data["p"]) if "p" in data else None
        order = []
        for item in _list(data.get("o", []), MAX_ORDER):
            by, descending = _list(item, 2, 2)
            order.append(Order(_name(by), bool(_int(descending, 0, 1))))
        limit = _int(data["l"], 1, MAX_LIMIT) if "l" in data else None
        return MetricQuery(metrics, group_by, grain, tuple(filters), period, tuple(order), limit)
    except QueryDataError:
        raise
    except (InvalidInputError, ValueError, TypeError):  # a value the model itself refuses (a reversed period…)
        raise QueryDataError() from None


def int_directions(order: Any) -> Any:
    """An order written `[[by, true|false], …]` (stored subscriptions, conversation rows of before the compact form)
    as the compact form's `[[by, 1|0], …]`; anything else unchanged, for `query_from_data` to check."""
    if not isinstance(order, list):
        return order
    return [[item[0], int(item[1])] if isinstance(item, list) and len(item) == 2 and isinstance(item[1], bool)
            else item for item in order]


def _list(value: Any, most: int, least: int = 0) -> list[Any]:
    if not isinstance(value, list) or not least <= len(value) <= most:
        raise QueryDataError()
    return value


def _name(value: Any) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise QueryDataError()
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_VALUE_CHARS:
        raise QueryDataError()
    return value


def _int(value: Any, least: int, most: int) -> int:
    if type(value) is not int or not least <= value <= most:
        raise QueryDataError()
    return value


def _day(value: Any) -> date:
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise QueryDataError()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise QueryDataError() from None


def _period(value: Any) -> Period:
    parts = _list(value, 3, 2)
    if parts[0] == RANGE and len(parts) == 3:
        return Period.days(_day(parts[1]), _day(parts[2]))
    if len(parts) != 2 or not isinstance(parts[0], str) or parts[0] not in _KINDS:
        raise QueryDataError()
    return Period(_KINDS[parts[0]], count=_int(parts[1], 1, MAX_MONTHS))
