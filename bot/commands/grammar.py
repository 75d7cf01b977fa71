"""The deterministic grammar of `/finefin metric`: words -> a `MetricQuery`, or a message saying what to write.

    metric <metric>[, <metric>…] [by <dimension>[, <dimension>]] [daily|weekly|monthly|quarterly|yearly]
           [<period>] [where <dimension>=<value>[,<value>…] [and …]] [top N | bottom N | limit N]
           [sort by <metric|dimension|time> [asc|desc]]

Periods: `2026`, `2026-Q3`, `2026-03`, `2026-03-15`, `from 2026-01 to 2026-06`, `this month`, `last month`,
`last 6 months` (complete months), `this quarter`, `last quarter`, `this year`, `ytd` / `year to date`,
`last year`. Metric and dimension names are resolved against the catalog (names or labels, any case); filter values
stay text here and are matched to the data's values by the semantic layer. Only `InvalidInputError` leaves `parse`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from semantic_layer.catalog import Catalog, Grain
from semantic_layer.errors import InvalidInputError
from semantic_layer.query import DimensionFilter, MetricQuery, Order, Period, PeriodKind

T = TypeVar("T")

USAGE = ("metric <metric>[, <metric>] [by <dimension>] [daily|weekly|monthly|quarterly|yearly] "
         "[2026-Q3 | from 2026-01 to 2026-06 | last 6 months | ytd …] [where type=card_payment] [top 10]")
MAX_TEXT = 500

GRAIN_WORDS = {
    "daily": Grain.DAY, "weekly": Grain.WEEK, "monthly": Grain.MONTH, "quarterly": Grain.QUARTER,
    "yearly": Grain.YEAR, "annually": Grain.YEAR, "annual": Grain.YEAR,
}
GRAIN_NOUNS = {"day": Grain.DAY, "week": Grain.WEEK, "month": Grain.MONTH, "quarter": Grain.QUARTER,
               "year": Grain.YEAR}
_YEAR = re.compile(r"(\d{4})")
_MONTH = re.compile(r"(\d{4})-(\d{1,2})")
_DAY = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_QUARTER = re.compile(r"(\d{4})-?q([1-4])")
_PERIOD_TOKEN = re.compile(r"\d{4}(?:-q[1-4]|q[1-4]|-\d{1,2}(?:-\d{1,2})?)?")


@dataclass(frozen=True)
class _Clause:
    name: str
    words: list[str]


def parse(text: str, catalog: Catalog, metric_pool: Sequence[str] | None = None,
          may_use: Callable[[str], bool] = lambda dimension: True) -> MetricQuery:
    """`text` is what follows `metric`. `metric_pool` and `may_use`: the metrics and dimensions the asker may use
    (for the hints of an error message only; the semantic layer applies the access policy)."""
    if len(text) > MAX_TEXT:
        raise InvalidInputError(f"That is too long for a metric question (at most {MAX_TEXT} characters).")
    words = text.replace("，", ",").split()
    if not words:
        raise InvalidInputError(f"Usage: `/finefin {USAGE}`. `/finefin metrics` lists what you can ask.")
    clauses = _split(words)
    metrics_text = " ".join(clauses[0].words) if clauses and clauses[0].name == "metrics" else ""
    if not metrics_text.strip(" ,"):
        raise InvalidInputError(f"Name a metric first: `/finefin {USAGE}`.")
    metrics = tuple(dict.fromkeys(catalog.resolve_metric(piece, metric_pool)
                                  for piece in _pieces(metrics_text)))
    all_dims = [d for d in catalog.dimensions_of(metrics) if may_use(d)]
    group_by: list[str] = []
    grain: Grain | None = None
    period: Period | None = None
    filters: list[DimensionFilter] = []
    order: list[Order] = []
    limit: int | None = None
    for clause in clauses[1:]:
        match clause.name:
            case "grain":
                grain = _once(grain, GRAIN_WORDS.get(clause.words[0]) or GRAIN_NOUNS[clause.words[0]], "grain")
            case "by":
                for piece in _pieces(" ".join(clause.words)):
                    if piece.lower() in GRAIN_NOUNS:
                        grain = _once(grain, GRAIN_NOUNS[piece.lower()], "grain")
                    elif piece.lower() == "time":
                        continue
                    else:
                        group_by.append(catalog.resolve_dimension(piece, all_dims))
            case "period":
                period = _once(period, _period(clause.words), "period")
            case "where":
                filters += _filters(clause.words, catalog, all_dims)
            case "top" | "bottom" | "limit":
                limit = _once(limit, _count(clause.words, clause.name), "limit")
                if clause.name != "limit" and not order:
                    order.append(Order(metrics[0], descending=clause.name == "top"))
            case "sort":
                order = [_sort(clause.words, catalog, metrics, all_dims)]
    return MetricQuery(metrics, tuple(dict.fromkeys(group_by)), grain, tuple(filters), period, tuple(order), limit)


def _split(words: list[str]) -> list[_Clause]:
    """Cut the words into clauses at the keywords; the first clause holds the metric names."""
    clauses = [_Clause("metrics", [])]
    i = 0
    while i < len(words):
        word = words[i]
        low = word.lower().strip(",")
        nxt = words[i + 1].lower().strip(",") if i + 1 < len(words) else ""
        if low in GRAIN_WORDS:
            clauses.append(_Clause("grain", [low]))
        elif low == "per" and nxt in GRAIN_NOUNS:
            clauses.append(_Clause("grain", [nxt]))
            i += 1
        elif low == "by" and clauses[-1].name != "sort":
            clauses.append(_Clause("by", []))
        elif low == "where":
            clauses.append(_Clause("where", []))
        elif low in ("top", "bottom", "limit"):
            clauses.append(_Clause(low, []))
        elif low in ("sort", "order") and nxt == "by":
            clauses.append(_Clause("sort", []))
            i += 1
        elif low in ("from", "since") and _PERIOD_TOKEN.fullmatch(nxt):
            clauses.append(_Clause("period", [low]))
        elif low in ("in", "for", "during", "over", "the") and _starts_period(nxt, words[i + 2:i + 3]):
            pass  # a filler word before a period: the next word opens it
        elif _opens_period(low, nxt, clauses[-1].name):
            clauses.append(_Clause("period", [low]))
        else:
            clauses[-1].words.append(word)
        i += 1
    return clauses


def _opens_period(low: str, nxt: str, current: str) -> bool:
    if low in ("this", "last") and _starts_period(low, [nxt]):
        return True
    if low == "ytd" or (low == "year" and nxt == "to"):
        return True
    return bool(_PERIOD_TOKEN.fullmatch(low)) and current not in ("period", "where", "top", "bottom", "limit")


def _starts_period(word: str, following: list[str]) -> bool:
    after = following[0].lower().strip(",") if following else ""
    return bool(_PERIOD_TOKEN.fullmatch(word)) or word == "ytd" or (word == "year" and after == "to") or (
        word in ("this", "last") and (after in ("month", "quarter", "year") or after.isdigit())) or (
        word == "the" and after == "last")


def _pieces(text: str) -> list[str]:
    """Names separated by commas or `and`."""
    out = []
    for part in text.split(","):
        out += [p.strip() for p in re.split(r"\s+and\s+", part) if p.strip()]
    return out


def _once(current: T | None, new: T, what: str) -> T:
    if current is not None and current != new:
        raise InvalidInputError(f"Give one {what} only.")
    return new


def _count(words: list[str], name: str) -> int:
    if len(words) != 1 or not words[0].isdigit() or len(words[0]) > 4:
        raise InvalidInputError(f"Write `{name} 10`: a number from 1 to 1000.")
    value = int(words[0])
    if not 1 <= value <= 1000:
        raise InvalidInputError(f"Write `{name} 10`: a number from 1 to 1000.")
    return value


def _period(words: list[str]) -> Period:
    low = [w.lower().strip(",") for w in words]
    text = " ".join(low)
    if text in ("ytd", "year to date", "this year"):
        return Period(PeriodKind.THIS_YEAR)
    fixed = {"this month": PeriodKind.THIS_MONTH, "last month": PeriodKind.LAST_MONTH,
             "this quarter": PeriodKind.THIS_QUARTER, "last quarter": PeriodKind.LAST_QUARTER,
             "last year": PeriodKind.LAST_YEAR, "the last month": PeriodKind.LAST_MONTH}
    if text in fixed:
        return Period(fixed[text])
    last_n = re.fullmatch(r"(?:the )?last (\d{1,3}) months?", text)
    if last_n:
        return Period(PeriodKind.LAST_MONTHS, count=int(last_n.group(1)))
    if low and low[0] in ("from", "since"):
        if low[0] == "since" and len(low) == 2:
            raise InvalidInputError("Write `from 2026-01 to 2026-06` (a start and an end).")
        if len(low) != 4 or low[2] not in ("to", "until", "-"):
            raise InvalidInputError("Write a range as `from 2026-01 to 2026-06`.")
        first, _ = _bounds(low[1])
        _, last = _bounds(low[3])
        return Period.days(first, last)
    if len(low) == 1:
        first, last = _bounds(low[0])
        return Period.days(first, last)
    raise InvalidInputError(f"I don't understand the period “{' '.join(words)[:40]}”. Try `2026-Q3`, `2026-03`, "
                            "`from 2026-01 to 2026-06`, `last 6 months`, `this year` or `ytd`.")


def _bounds(token: str) -> tuple[date, date]:
    """First and last day of `2026`, `2026-Q3`, `2026-03` or `2026-03-15`."""
    try:
        if m := _DAY.fullmatch(token):
            day = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            return day, day
        if m := _MONTH.fullmatch(token):
            p = Period.month(int(m.group(1)), int(m.group(2)))
        elif m := _QUARTER.fullmatch(token):
            p = Period.quarter(int(m.group(1)), int(m.group(2)))
        elif m := _YEAR.fullmatch(token):
            p = Period.year(int(m.group(1)))
        else:
            raise InvalidInputError(f"“{token[:20]}” is not a date; write 2026, 2026-Q3, 2026-03 or 2026-03-15.")
    except ValueError:
        raise InvalidInputError(f"“{token[:20]}” is not a valid date.") from None
    if p.first is None or p.last is None or p.first.year < 1900:
        raise InvalidInputError(f"“{token[:20]}” is not a valid date.")
    return p.first, p.last


def _filters(words: list[str], catalog: Catalog, dims: Sequence[str]) -> list[DimensionFilter]:
    text = " ".join(words)
    out = []
    for condition in re.split(r"\s+and\s+", text):
        match = re.fullmatch(r"\s*(.+?)\s*(?:=|\s+is\s+|\s+in\s+)\s*(.+?)\s*", condition, flags=re.IGNORECASE)
        if match is None:
            raise InvalidInputError("Write a filter as `where type=card_payment` (several values: "
                                    "`where tier=Gold,Diamond`).")
        key = catalog.resolve_dimension(match.group(1), dims)
        values = tuple(v.strip().strip("'\"") for v in match.group(2).split(",") if v.strip().strip("'\""))
        out.append(DimensionFilter(key, values))
    return out


def _sort(words: list[str], catalog: Catalog, metrics: tuple[str, ...], dims: Sequence[str]) -> Order:
    low = [w.lower() for w in words]
    descending = True
    if low and low[-1] in ("asc", "ascending", "desc", "descending"):
        descending = low[-1].startswith("desc")
        words = words[:-1]
    target = " ".join(words)
    if not target:
        raise InvalidInputError("Write `sort by <metric> desc`.")
    if target.lower() == "time":
        return Order("time", descending)
    try:
        return Order(catalog.resolve_metric(target, metrics), descending)
    except InvalidInputError:
        return Order(catalog.resolve_dimension(target, dims), descending)
