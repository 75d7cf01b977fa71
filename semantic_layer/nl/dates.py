"""Dates in plain English -> a typed `Period`, resolved against the data's as-of date (never the wall clock).

`find_period(tokens, as_of)` scans lower-cased tokens for the period of a question and returns the `Period`, the
comparison period ("compared with last year", "vs the previous month"), whether the question points to the future
(never answered), and the token positions it used. Relative words keep their `PeriodKind` ("last quarter",
"this year", "the last 6 months"); the rest become explicit days ("in September" = the latest September that has
started by the as-of date, "since March" = March 1st to the as-of date, "the last 30 days").
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from semantic_layer.errors import InvalidInputError
from semantic_layer.query import Period, PeriodKind

MONTHS = {name: i for i, name in enumerate(calendar.month_name) if name} | {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10,
    "nov": 11, "dec": 12}
MONTHS = {k.lower(): v for k, v in MONTHS.items()}
# month names that are also common English words: only a month after a date preposition or before a year
_WORDY_MONTHS = frozenset({"may", "march", "mar", "jan", "dec"})
NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
           "ten": 10, "eleven": 11, "twelve": 12, "eighteen": 18, "twenty": 20, "thirty": 30, "ninety": 90}
FUTURE_WORDS = frozenset({"tomorrow", "next", "upcoming", "coming", "future", "forecast", "predict", "projected"})
DATE_WORDS = frozenset({
    "today", "yesterday", "week", "weeks", "month", "months", "quarter", "quarters", "year", "years", "day", "days",
    "this", "last", "past", "previous", "prior", "since", "from", "to", "until", "till", "between", "and", "ytd",
    "mtd", "qtd", "date", "so", "far", "in", "of", "the", "end", "during", "for", "over", "same", "ago", "a",
    "first", "second", "half", "h1", "h2", "q1", "q2", "q3", "q4", "compared", "comparison", "compare", "vs",
    "versus", "against", "with", "on", "at", "as", "full", "whole", "calendar", "current", "through", "before",
    *MONTHS, *NUMBERS})
_YEAR = re.compile(r"(19|20)\d\d")
_ISO_MONTH = re.compile(r"((?:19|20)\d\d)-(\d{1,2})")
_ISO_DAY = re.compile(r"((?:19|20)\d\d)-(\d{1,2})-(\d{1,2})")
_ISO_QUARTER = re.compile(r"((?:19|20)\d\d)-?q([1-4])")
_QUARTER = re.compile(r"q([1-4])")
_HALF = re.compile(r"h([12])")


@dataclass
class DateFinding:
    period: Period | None = None
    compare: Period | None = None
    future: bool = False
    used: set[int] = field(default_factory=set)
    words: str = ""  # the words the period came from
    several: bool = False  # more than one period, not as a range or a comparison ("yesterday and today")


@dataclass(frozen=True)
class _Point:
    """A date expression: its first and last day, and how many tokens it took."""

    first: date
    last: date
    length: int
    kind: PeriodKind | None = None  # a relative kind, kept typed
    count: int = 1


def find_period(tokens: list[str], as_of: date) -> DateFinding:
    out = DateFinding()
    n = len(tokens)
    i = 0
    spans: list[tuple[int, int, Period]] = []
    compare_at: int | None = None
    while i < n:
        t = tokens[i]
        if t in FUTURE_WORDS and _future_context(tokens, i):
            out.future = True
            out.used.add(i)
            i += 1
            continue
        if t in ("compared", "vs", "versus", "against", "compare") and compare_at is None and _compare_follows(
                tokens, i):
            compare_at = i
            out.used.add(i)
            if i + 1 < n and tokens[i + 1] in ("with", "to"):
                out.used.add(i + 1)
            i += 1
            continue
        if t in ("since", "from", "between") and i + 1 < n:
            start = _point(tokens, i + 1, as_of)
            if start is not None:
                j = i + 1 + start.length
                if t != "since" and j < n and tokens[j] in ("to", "until", "till", "and", "through") and (
                        end := _point(tokens, j + 1, as_of, prefer_year=_explicit_year(tokens, j + 1))) is not None:
                    first, last = start.first, end.last
                    if end.first < start.first and not _explicit_year(tokens, i + 1):
                        first = _shift_year(start.first, -1)
                    spans.append((i, j + 1 + end.length, Period.days(first, max(first, last))))
                    i = j + 1 + end.length
                    continue
                if t == "since" or t == "from":
                    if start.first > as_of:
                        out.future = True
                    spans.append((i, j, Period.days(start.first, max(start.first, as_of))))
                    i = j
                    continue
        point = _point(tokens, i, as_of)
        if point is not None:
            period = Period(point.kind, count=point.count) if point.kind is not None else Period.days(
                point.first, point.last)
            spans.append((i, i + point.length, period))
            i += point.length
            continue
        i += 1
    for start, end, _ in spans:
        out.used.update(range(start, end))
        # a filler word before the period ("in", "for", "during", "over", "at the end of") is the period's too
        k = start - 1
        while k >= 0 and tokens[k] in ("in", "for", "during", "over", "the", "of", "end", "at", "on", "as"):
            out.used.add(k)
            k -= 1
    main = [s for s in spans if compare_at is None or s[0] < compare_at]
    after = [s for s in spans if compare_at is not None and s[0] > compare_at]
    if compare_at is None and len(main) > 1 and "compare" in tokens:  # "compare X this month with last month"
        compare_at = main[1][0] - 1
        after, main = main[1:], main[:1]
    if compare_at is not None and not main and len(after) == 2:  # "X vs last year for August": the comparison
        main, after = after[1:], after[:1]  # written before the period it compares
    out.several = len(main) > 1
    if main:
        out.period = main[0][2]
        out.words = " ".join(tokens[main[0][0]:main[0][1]])
    if compare_at is not None and out.period is not None:
        out.compare = _comparison(tokens[compare_at + 1:], out.period, after, as_of)
        if out.compare is not None:  # the words of the comparison ("the same quarter last year") are read
            out.used.update(k for k in range(compare_at + 1, len(tokens)) if tokens[k] in DATE_WORDS
                            or _YEAR.fullmatch(tokens[k]) or _QUARTER.fullmatch(tokens[k]))
    for _, _, period in spans:
        try:
            period.resolve(as_of)
        except InvalidInputError:
            out.future = True
    return out


def _future_context(tokens: list[str], i: int) -> bool:
    t = tokens[i]
    if t in ("next", "coming", "upcoming"):
        return i + 1 < len(tokens) and (tokens[i + 1] in ("week", "month", "quarter", "year", "weeks", "months",
                                                          "days", "quarters", "years") or tokens[i + 1] in NUMBERS
                                        or tokens[i + 1].isdigit())
    return True


def _compare_follows(tokens: list[str], i: int) -> bool:
    """A period follows the comparison word (skipping "with", "to", "the", "same"): "vs last year", "compared to
    the same quarter last year", "against August" — not "current accounts vs savings accounts last month"."""
    j = i + 1
    while j < len(tokens) and tokens[j] in ("with", "to", "the", "a", "same"):
        j += 1
    w = tokens[j] if j < len(tokens) else ""
    return w in ("last", "previous", "prior", "year", "month", "quarter", "week", "this", "period") or \
        w in MONTHS or bool(_YEAR.fullmatch(w) or _QUARTER.fullmatch(w))


def _comparison(rest: list[str], period: Period, after: list[tuple[int, int, Period]], as_of: date) -> Period | None:
    """The period compared with: a year earlier ("last year", "the same quarter last year", "a year ago"), the
    period just before ("the previous month"), or an explicit one ("compared to August")."""
    first, last = _days(period, as_of)
    words = " ".join(rest)
    if "year" in rest and ("last" in rest or "previous" in rest or "prior" in rest or "ago" in rest
                           or "same" in rest):
        return Period.days(_shift_year(first, -1), _shift_year(last, -1))
    if any(w in rest for w in ("previous", "prior", "before")) or "last month" in words or "last quarter" in words:
        span = (last - first).days + 1
        if (first.day == 1 and _is_month_end(last)) or (first.day == 1 and last == as_of):
            months = (last.year - first.year) * 12 + last.month - first.month + 1
            prev_first = _add_months(first, -months)
            return Period.days(prev_first, _add_months(first, 0) - timedelta(days=1))
        return Period.days(first - timedelta(days=span), first - timedelta(days=1))
    if after:
        return after[0][2]
    return None


def _days(period: Period, as_of: date) -> tuple[date, date]:
    resolved = period.resolve(as_of)
    return resolved.first, resolved.last


def _explicit_year(tokens: list[str], i: int) -> bool:
    return any(_YEAR.fullmatch(t) or _ISO_MONTH.fullmatch(t) for t in tokens[i:i + 3])


def _point(tokens: list[str], i: int, as_of: date, prefer_year: bool = False) -> _Point | None:
    """The date expression starting at token i, if any."""
    n = len(tokens)
    t = tokens[i] if i < n else ""
    nxt = tokens[i + 1] if i + 1 < n else ""
    nxt2 = tokens[i + 2] if i + 2 < n else ""
    if t == "month" and nxt == "of" and nxt2 in MONTHS:  # "the month of September"
        inner = _point(tokens, i + 2, as_of)
        return None if inner is None else _Point(inner.first, inner.last, inner.length + 2, inner.kind, inner.count)
    if t == "the" and nxt in ("last", "past", "previous", "first", "second", "end", "same", "whole", "full",
                              "start", "beginning", "month"):
        inner = _point(tokens, i + 1, as_of)
        return None if inner is None else _Point(inner.first, inner.last, inner.length + 1, inner.kind, inner.count)
    if t in ("ytd",) or (t == "year" and nxt == "to" and nxt2 == "date"):
        return _relative(PeriodKind.THIS_YEAR, as_of, 1 if t == "ytd" else 3)
    if t in ("mtd",) or (t == "month" and nxt == "to" and nxt2 == "date"):
        return _relative(PeriodKind.THIS_MONTH, as_of, 1 if t == "mtd" else 3)
    if t in ("qtd",) or (t == "quarter" and nxt == "to" and nxt2 == "date"):
        return _relative(PeriodKind.THIS_QUARTER, as_of, 1 if t == "qtd" else 3)
    if t == "so" and nxt == "far" and nxt2 == "this" and i + 3 < n and tokens[i + 3] == "year":
        return _relative(PeriodKind.THIS_YEAR, as_of, 4)
    if t in ("this", "current") and nxt in ("month", "quarter", "year", "week"):
        if nxt == "week":
            monday = as_of - timedelta(days=as_of.weekday())
            return _Point(monday, as_of, 2)
        kind = {"month": PeriodKind.THIS_MONTH, "quarter": PeriodKind.THIS_QUARTER, "year": PeriodKind.THIS_YEAR}[nxt]
        return _relative(kind, as_of, 2)
    if t in ("last", "past", "previous", "prior"):
        if nxt in ("month", "quarter", "year", "week"):
            if nxt == "week":
                monday = as_of - timedelta(days=as_of.weekday() + 7)
                return _Point(monday, monday + timedelta(days=6), 2)
            kind = {"month": PeriodKind.LAST_MONTH, "quarter": PeriodKind.LAST_QUARTER,
                    "year": PeriodKind.LAST_YEAR}[nxt]
            return _relative(kind, as_of, 2)
        count = NUMBERS.get(nxt) or (int(nxt) if nxt.isdigit() and len(nxt) <= 3 else None)
        if count and nxt2 in ("months", "month", "days", "day", "weeks", "week", "years", "year", "quarters"):
            if nxt2.startswith("month"):
                return _relative(PeriodKind.LAST_MONTHS, as_of, 3, min(count, 120))
            if nxt2.startswith("quarter"):
                return _relative(PeriodKind.LAST_MONTHS, as_of, 3, min(3 * count, 120))
            if nxt2.startswith("year"):
                return _relative(PeriodKind.LAST_MONTHS, as_of, 3, min(12 * count, 120))
            days = count * (7 if nxt2.startswith("week") else 1)
            return _Point(as_of - timedelta(days=days - 1), as_of, 3)
        if nxt in ("months", "days", "weeks"):  # "the past months": not a period
            return None
    if t in ("start", "beginning") and nxt == "of":  # "since the start of the year"
        j = i + 2 + (1 if nxt2 in ("the", "this") else 0)
        unit = tokens[j] if j < n else ""
        kind = {"year": PeriodKind.THIS_YEAR, "month": PeriodKind.THIS_MONTH, "quarter": PeriodKind.THIS_QUARTER}
        if unit in kind:
            return _relative(kind[unit], as_of, j + 1 - i)
    if t == "today":
        return _Point(as_of, as_of, 1)
    if t == "yesterday":
        return _Point(as_of - timedelta(days=1), as_of - timedelta(days=1), 1)
    if (t in ("first", "second") and nxt == "half") or _HALF.fullmatch(t):
        half = 1 if t in ("first", "h1") else 2
        length = 2 if t in ("first", "second") else 1
        tail = tokens[i + length:i + length + 3]
        if tail[:1] == ["of"] and tail[1:2] in (["the"], ["this"], ["last"]) and tail[2:3] == ["year"]:
            length += 3  # "the first half of the year": this year's ("of last year": the year before)
            if tail[1] == "last":
                first = date(as_of.year - 1, 1 if half == 1 else 7, 1)
                return _Point(first, date(first.year, 6, 30) if half == 1 else date(first.year, 12, 31), length)
        year, used = _year_after(tokens, i + length)
        if year is None:
            year = as_of.year if date(as_of.year, 1 if half == 1 else 7, 1) <= as_of else as_of.year - 1
        first = date(year, 1 if half == 1 else 7, 1)
        return _Point(first, date(year, 6, 30) if half == 1 else date(year, 12, 31), length + used)
    if m := _ISO_DAY.fullmatch(t):
        try:
            day = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return None
        return _Point(day, day, 1)
    if m := _ISO_QUARTER.fullmatch(t):
        p = Period.quarter(int(m.group(1)), int(m.group(2)))
        return _Point(p.first, p.last, 1)  # type: ignore[arg-type]
    if m := _ISO_MONTH.fullmatch(t):
        if not 1 <= int(m.group(2)) <= 12:
            return None
        p = Period.month(int(m.group(1)), int(m.group(2)))
        return _Point(p.first, p.last, 1)  # type: ignore[arg-type]
    if m := _QUARTER.fullmatch(t):
        q = int(m.group(1))
        year, used = _year_after(tokens, i + 1)
        if year is None:
            year = as_of.year if date(as_of.year, 3 * q - 2, 1) <= as_of else as_of.year - 1
        p = Period.quarter(year, q)
        return _Point(p.first, p.last, 1 + used)  # type: ignore[arg-type]
    if t in MONTHS:
        year, used = _year_after(tokens, i + 1)
        prev = tokens[i - 1] if i > 0 else ""
        if t in _WORDY_MONTHS and year is None and prev not in ("in", "since", "from", "of", "during", "to", "and",
                                                                  "until", "between", "for", "through"):
            return None
        month = MONTHS[t]
        day = re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)?", tokens[i + 1] if i + 1 < n else "")
        if day and year is None:  # "October 1st", "oct 12 2026"
            year, used = _year_after(tokens, i + 2)
            year = year or (as_of.year if date(as_of.year, month, 1) <= as_of else as_of.year - 1)
            try:
                one = date(year, month, int(day.group(1)))
            except ValueError:
                return None
            return _Point(one, one, 2 + used)
        if year is None:
            year = as_of.year if date(as_of.year, month, 1) <= as_of else as_of.year - 1
        p = Period.month(year, month)
        return _Point(p.first, p.last, 1 + used)  # type: ignore[arg-type]
    if _YEAR.fullmatch(t):
        p = Period.year(int(t))
        return _Point(p.first, p.last, 1)  # type: ignore[arg-type]
    return None


def _relative(kind: PeriodKind, as_of: date, length: int, count: int = 1) -> _Point:
    resolved = Period(kind, count=count).resolve(as_of)
    return _Point(resolved.first, resolved.last, length, kind, count)


def _year_after(tokens: list[str], i: int) -> tuple[int | None, int]:
    if i < len(tokens) and _YEAR.fullmatch(tokens[i]):
        return int(tokens[i]), 1
    return None, 0


def _shift_year(day: date, k: int) -> date:
    try:
        return day.replace(year=day.year + k)
    except ValueError:  # 29 February
        return day.replace(year=day.year + k, day=28)


def _is_month_end(day: date) -> bool:
    return day.day == calendar.monthrange(day.year, day.month)[1]


def _add_months(first: date, k: int) -> date:
    index = first.year * 12 + first.month - 1 + k
    return date(index // 12, index % 12 + 1, 1)
