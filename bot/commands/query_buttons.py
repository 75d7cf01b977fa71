"""The buttons on metric and why answers, and the compact, versioned value each one carries (pure functions).

A button's value is the whole question it asks, not a reference to server state: `v1:` + the compact JSON of the
`MetricQuery` it runs (semantic_layer/query_codec.py: metrics, group-by, grain, filters, period, order, limit) and the
view (`"v":"c"` for a chart), e.g. `v1:{"m":["revenue"],"t":"quarter","p":["r","2025-07-01","2025-12-31"]}`; a "why"
button carries `v1:{"w":"revenue","mo":"2026-01"}`. The value is user-controlled (anyone can post a crafted
`block_actions` payload): `decode` checks its shape strictly (at most 2,000 characters, then the codec's
`query_from_data`) and builds the same typed `MetricQuery` the grammar builds, and the handler
(bot/commands/query_actions.py) runs it through the query service with the clicking user's identity, so names,
access and filter values are validated exactly as for a typed command. Nothing in a value is trusted: no customer
id, role or scope is ever read from it (a customer's scope comes from their verified identity).

Action ids: `ffq.<verb>[.<suffix>]`; the verb says what to do with the value (`q` show it in place of the message,
`csv` send the CSV, `why` explain a month's change, `whynav` move a why answer to another month, `share` post it
to the channel, `sub` subscribe the clicking user to the question: its value is the query's plus `"c"`, the
cadence); the suffix only keeps action ids unique within an actions block.
"""

from __future__ import annotations

import calendar
import json
import re
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from bot import blocks as bk
from bot.escape import slack_text
from semantic_layer.catalog import DIMENSION_BY_KEY, GRAIN_ORDER, Catalog, Grain
from semantic_layer.errors import InvalidInputError
from semantic_layer.inputs import Month
from semantic_layer.policy import Principal, may_use_dimension
from semantic_layer.query import MAX_GROUP_BY, MetricAnswer, MetricQuery, Period
from semantic_layer.query_codec import NAME, QUERY_KEYS, QueryDataError, query_from_data, query_to_data
from semantic_layer.why import IDENTIFYING, WhyAnswer

PREFIX = "ffq."
VERSION = "v1:"
MAX_VALUE = 2000  # Block Kit: a button's value holds at most 2,000 characters
MAX_ACTION_ID = 255
MAX_BUTTON_TEXT = 75
MAX_ELEMENTS = 25  # per actions block
# verb -> the suffixes its buttons carry (anything else is not an id the bot made)
SUFFIXES = {
    "q": re.compile(r"grain_(?:day|week|month|quarter|year|none)|prev|next|view|read_[0-9]"
                     r"|(?:add|remove)_[a-z][a-z_]{0,30}"),  # read_N: another reading of a question
    "csv": re.compile(""),
    "why": re.compile(r"[0-9]"),
    "whynav": re.compile(r"prev|next"),
    "share": re.compile(""),
    "sub": re.compile(r"[0-2]?"),  # the "Subscribe…" menu (no suffix), or its three buttons when too long for one
}
VERBS = frozenset(SUFFIXES)
BAD_VALUE = ("Sorry, I can't read that button (it may come from an older message or have been altered). "
             "Ask again with /finefin metric.")
BAD_ACTION = "Sorry, that is not a button I know. Ask again with `/finefin metric …`."
GRAIN_BUTTON = {Grain.DAY: "Daily", Grain.WEEK: "Weekly", Grain.MONTH: "Monthly", Grain.QUARTER: "Quarterly",
                Grain.YEAR: "Yearly"}
WHY_MONTHS = 3  # why buttons for the last months of a monthly series

_MONTH = re.compile(r"\d{4}-\d{2}")
_WHY_KEYS = frozenset({"w", "mo"})
CADENCES = ("daily", "weekly", "monthly")
MAX_OPTION_VALUE = 150  # Block Kit: an option's value holds at most 150 characters


class ActionValueError(InvalidInputError):
    """A button value or action id that is not one the bot made: refused politely, nothing is run."""


@dataclass(frozen=True)
class QueryView:
    """What a query button shows: the question, as a table (default) or a chart."""

    query: MetricQuery
    chart: bool = False


# -- action ids -------------------------------------------------------------------------------------------------
def action_id(verb: str, suffix: str = "") -> str:
    assert verb in VERBS and SUFFIXES[verb].fullmatch(suffix), (verb, suffix)
    return f"{PREFIX}{verb}" + (f".{suffix}" if suffix else "")


def verb_of(action: str) -> str:
    """The verb of a query button's action id; ActionValueError for any id the bot does not make."""
    if not isinstance(action, str) or len(action) > MAX_ACTION_ID or not action.startswith(PREFIX):
        raise ActionValueError(BAD_ACTION)
    verb, dot, suffix = action[len(PREFIX):].partition(".")
    if verb not in VERBS or not SUFFIXES[verb].fullmatch(suffix) or (dot and not suffix):
        raise ActionValueError(BAD_ACTION)
    return verb


# -- values -----------------------------------------------------------------------------------------------------
def _dump(data: dict[str, Any]) -> str:
    return VERSION + json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def encode(view: QueryView) -> str:
    data = query_to_data(view.query)
    if view.chart:
        data["v"] = "c"
    return _dump(data)


def _load(value: object, keys: frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, str) or len(value) > MAX_VALUE or not value.startswith(VERSION):
        raise ActionValueError(BAD_VALUE)
    try:
        data = json.loads(value[len(VERSION):])
    except (ValueError, RecursionError):
        raise ActionValueError(BAD_VALUE) from None
    if not isinstance(data, dict) or not set(data) <= keys:
        raise ActionValueError(BAD_VALUE)
    return data


def _query(data: dict[str, Any]) -> MetricQuery:
    try:
        return query_from_data(data)
    except QueryDataError:
        raise ActionValueError(BAD_VALUE) from None


def decode(value: object) -> QueryView:
    """The typed question a query button's value holds; ActionValueError for anything the bot did not write.

    Names are only checked for their shape here: the query service resolves them against the catalog and the
    access policy, and matches filter values to the data, as for a typed question."""
    data = _load(value, QUERY_KEYS | {"v"})
    view = data.pop("v", "t")
    if view not in ("t", "c"):
        raise ActionValueError(BAD_VALUE)
    return QueryView(_query(data), view == "c")


def encode_subscribe(query: MetricQuery, cadence: str) -> str:
    assert cadence in CADENCES, cadence
    return encode(QueryView(query))[:-1] + f',"c":"{cadence}"}}'


def decode_subscribe(value: object) -> tuple[MetricQuery, str]:
    """The question and the cadence of a "Subscribe…" choice; ActionValueError for anything the bot did not write."""
    data = _load(value, QUERY_KEYS | {"c"})
    cadence = data.pop("c", None)
    if not isinstance(cadence, str) or cadence not in CADENCES:
        raise ActionValueError(BAD_VALUE)
    return _query(data), cadence


def encode_why(metric: str, month: Month) -> str:
    return _dump({"w": metric, "mo": str(month)})


def decode_why(value: object) -> tuple[str, Month]:
    data = _load(value, _WHY_KEYS)
    month = data.get("mo")
    if not isinstance(month, str) or not _MONTH.fullmatch(month):
        raise ActionValueError(BAD_VALUE)
    try:
        parsed = Month.parse(month)
    except InvalidInputError:
        raise ActionValueError(BAD_VALUE) from None
    metric = data.get("w")
    if not isinstance(metric, str) or not NAME.fullmatch(metric):
        raise ActionValueError(BAD_VALUE)
    return metric, parsed


# -- periods ----------------------------------------------------------------------------------------------------
def _add_months(first: date, k: int) -> date | None:
    index = first.year * 12 + first.month - 1 + k
    return date(index // 12, index % 12 + 1, 1) if 1900 * 12 <= index < 10000 * 12 else None


def _month_end(day: date) -> date:
    return date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])


def shifted(period: Period, as_of: date, step: int) -> Period | None:
    """The period of the same length just before (step -1) or after (step +1), as explicit days; None when it
    would start after the data ends. Whole months move by whole months (a quarter by a quarter)."""
    first, last = period._days(as_of)  # the period as named, before the as-of date cuts it
    if first.day == 1 and last == _month_end(last):
        months = (last.year - first.year) * 12 + last.month - first.month + 1
        start = _add_months(first, step * months)
        end = _add_months(first, step * months + months - 1)
        if start is None or end is None:
            return None
        new_first, new_last = start, _month_end(end)
    else:
        span = timedelta(days=(last - first).days + 1)
        try:
            new_first, new_last = first + step * span, last + step * span
        except OverflowError:
            return None
    if new_first > as_of or new_first.year < 1900:
        return None
    return Period.days(new_first, new_last)


# -- Block Kit --------------------------------------------------------------------------------------------------
def button(text: str, action: str, value: str, style: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "button", "text": {"type": "plain_text", "emoji": True,
                                                          "text": slack_text(text, MAX_BUTTON_TEXT)},
                               "action_id": action, "value": value}
    if style:
        element["style"] = style
    return element


def subscribe_elements(query: MetricQuery) -> list[dict[str, Any]]:
    """A "Subscribe…" overflow menu (daily / weekly / monthly) for the question; three buttons instead when a choice's
    value would not fit an option (150 characters)."""
    values = [encode_subscribe(query, c) for c in CADENCES]
    if all(len(v) <= MAX_OPTION_VALUE for v in values):
        options = [{"text": {"type": "plain_text", "text": f"Subscribe {c}"}, "value": v}
                   for c, v in zip(CADENCES, values, strict=True)]
        return [{"type": "overflow", "action_id": action_id("sub"), "options": options}]
    return [button(f"Subscribe {c}", action_id("sub", str(n)), v)
            for n, (c, v) in enumerate(zip(CADENCES, values, strict=True))]


def _actions(block_id: str, elements: list[dict[str, Any]]) -> list[bk.Block]:
    """One actions block (at most 25 elements; buttons whose value would not fit are left out)."""
    kept = [e for e in elements if len(e.get("value", "")) <= MAX_VALUE][:MAX_ELEMENTS]
    return [{"type": "actions", "block_id": block_id, "elements": kept}] if kept else []


def may_share(principal: Principal, answer: MetricAnswer) -> bool:
    """Staff only, and only an aggregate every member of a channel may see: no customer scope, no breakdown or
    filter by customer, name or account."""
    keys = set(answer.query.group_by) | {key for key, _ in answer.filters}
    return principal.is_staff and principal.scope is None and answer.scoped_to is None and not keys & IDENTIFYING


def chartable(answer: MetricAnswer) -> bool:
    return len(answer.rows) >= 2 and (answer.has_time or bool(answer.query.group_by))


def query_buttons(answer: MetricAnswer, principal: Principal, catalog: Catalog, chart: bool = False
                  ) -> list[bk.Block]:
    """Buttons under a metric answer: grain, previous / next period, add / remove a breakdown among the
    dimensions this user may use, table / chart, CSV, why (monthly series), share (staff, aggregates), subscribe."""
    q = answer.query
    base = QueryView(q, chart)

    def with_query(**changes: Any) -> str:
        return encode(QueryView(replace(q, **changes), chart))

    metrics_info = [catalog.metrics[m] for m in q.metrics if m in catalog.metrics]
    time_row: list[dict[str, Any]] = []
    grains = catalog.grains_of(q.metrics)
    for grain in GRAIN_ORDER:
        if grain in grains and grain is not q.grain:
            order = tuple(o for o in q.order if o.by != "time") if q.grain is None else q.order
            time_row.append(button(GRAIN_BUTTON[grain], action_id("q", f"grain_{grain.value}"),
                                   with_query(grain=grain, order=order)))
    if q.grain is not None and not any(i.needs_time for i in metrics_info):
        time_row.append(button("Total", action_id("q", "grain_none"),
                               with_query(grain=None, order=tuple(o for o in q.order if o.by != "time"))))
    if q.period is not None:
        for step, label, suffix in ((-1, "◀ Previous period", "prev"), (1, "Next period ▶", "next")):
            period = shifted(q.period, answer.as_of, step)
            if period is not None:
                time_row.append(button(label, action_id("q", suffix), with_query(period=period)))
    breakdown_row: list[dict[str, Any]] = []
    if len(q.group_by) < MAX_GROUP_BY:
        for dim in catalog.dimensions_of(q.metrics):
            if dim not in q.group_by and may_use_dimension(principal, dim):
                breakdown_row.append(button(f"+ {DIMENSION_BY_KEY[dim].label}", action_id("q", f"add_{dim}"),
                                            with_query(group_by=(*q.group_by, dim))))
    for dim in q.group_by:
        kept = tuple(d for d in q.group_by if d != dim)
        order = tuple(o for o in q.order if o.by != dim)
        breakdown_row.append(button(f"− {DIMENSION_BY_KEY[dim].label}", action_id("q", f"remove_{dim}"),
                                    with_query(group_by=kept, order=order)))
    more_row: list[dict[str, Any]] = []
    if chartable(answer):
        more_row.append(button("Show table" if chart else "Show chart", action_id("q", "view"),
                               encode(QueryView(q, not chart))))
    if answer.rows:
        more_row.append(button("Download CSV", action_id("csv"), encode(base)))
    if q.grain is Grain.MONTH and answer.has_time and answer.rows:
        additive = next((i for i in metrics_info if i.additive), None)
        if additive is not None:
            months = sorted({r[0] for r in answer.rows if r[0] is not None}, reverse=True)[:WHY_MONTHS]
            for n, first in enumerate(months):
                month = Month.of(first)
                more_row.append(button(f"Why {month}?", action_id("why", str(n)), encode_why(additive.name, month)))
    if answer.rows and may_share(principal, answer):
        more_row.append(button("Share to channel", action_id("share"), encode(QueryView(q, False)),
                               style="primary"))
    more_row += subscribe_elements(q)
    return (_actions("ffq_time", time_row) + _actions("ffq_breakdown", breakdown_row)
            + _actions("ffq_more", more_row))


def why_buttons(result: WhyAnswer) -> list[bk.Block]:
    """Under a why answer: the month before / after (not past the data), as the same question."""
    elements = []
    previous = result.month.previous
    if previous.year >= 1900:
        elements.append(button(f"◀ Why {previous}?", action_id("whynav", "prev"),
                               encode_why(result.metric, previous)))
    if not result.to_date and (result.month.year, result.month.month) < (9999, 12):
        elements.append(button(f"Why {result.month.next}? ▶", action_id("whynav", "next"),
                               encode_why(result.metric, result.month.next)))
    return _actions("ffq_why", elements)
