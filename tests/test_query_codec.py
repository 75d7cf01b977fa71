"""The one serialisation of a `MetricQuery` (semantic_layer/query_codec.py) and its three users: button values
(`v1:`), stored subscriptions and alerts (`q1:`), conversation state of threads.

The literals below were written by the code of `main` before the codec existed (the three hand-written encoders,
run on the queries of `QUERIES`): they must still decode to the same query, and the buttons and subscriptions still
write them byte for byte. Random valid queries round-trip through the codec and through each envelope; the strict
checks refuse what the bot does not write and admit everything it does.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.answer import Answer
from bot.commands import conversation
from bot.commands.conversation import compact_record
from bot.commands.query_buttons import (
    CADENCES,
    ActionValueError,
    QueryView,
    decode,
    decode_subscribe,
    encode,
    encode_subscribe,
)
from bot.state.subscriptions import decode_query, encode_query
from semantic_layer.catalog import Grain
from semantic_layer.errors import InvalidInputError
from semantic_layer.query import MAX_GROUP_BY, MAX_LIMIT, DimensionFilter, MetricAnswer, MetricQuery, Order, Period
from semantic_layer.query import PeriodKind as K
from semantic_layer.query_codec import (
    MAX_FILTERS,
    MAX_ORDER,
    MAX_VALUE_CHARS,
    MAX_VALUES,
    QueryDataError,
    query_from_data,
    query_to_data,
)

pytest_plugins = ["tests.bot_support"]

F, P = DimensionFilter, Period
QUERIES = {
    "plain": MetricQuery(("revenue",)),
    "full": MetricQuery(("revenue", "transaction_volume"), ("tier", "type"), Grain.MONTH,
                        (F("type", ("card_payment", "fee")),
                         F("customer_name", ("Zoë O'Brien-Łukasiewicz", 'Ann "Nan" Lee'))),
                        P.days(date(2025, 1, 1), date(2025, 6, 30)), (Order("revenue", True), Order("time", False)),
                        10),
    "last_months": MetricQuery(("withdrawals",), (), Grain.WEEK, (), P(K.LAST_MONTHS, count=6)),
    "this_year_asc": MetricQuery(("transaction_count",), period=P(K.THIS_YEAR), order=(Order("time", False),)),
    "this_month": MetricQuery(("balance",), ("customer", "account", "tier", "type", "country", "account_type"),
                              Grain.DAY, (F("customer", ("42", "7")),), P(K.THIS_MONTH), (Order("balance", False),),
                              1000),
    "last_month": MetricQuery(("new_customers",), period=P(K.LAST_MONTH), limit=1),
    "this_quarter": MetricQuery(("revenue", "transaction_volume", "transaction_count", "withdrawals", "new_customers"),
                                grain=Grain.QUARTER, period=P(K.THIS_QUARTER)),
    "last_quarter": MetricQuery(("revenue",), grain=Grain.YEAR, period=P(K.LAST_QUARTER),
                                order=(Order("revenue", True),)),
    "last_year": MetricQuery(("revenue",), ("country",), period=P(K.LAST_YEAR),
                             order=(Order("country", False), Order("revenue", True))),
    "max_months": MetricQuery(("revenue",), period=P(K.LAST_MONTHS, count=120)),
    "one_day": MetricQuery(("revenue",), period=P.days(date(2026, 2, 28), date(2026, 2, 28))),
}
# queries only the stored forms took before (beyond the buttons' old bounds: more than 10 filters, a value over 200
# characters, a period before 1900), which the bot can write: `where tier=Gold and tier=Gold and …` in a typed
# subscription, a long customer name, "same for last year" repeated in a thread
STORED = {
    "many_filters": MetricQuery(("revenue",), filters=tuple(F("tier", ("Gold",)) for _ in range(12))),
    "long_value": MetricQuery(("revenue",), filters=(F("customer_name", ("x" * 300,)),)),
    "pre_1900": MetricQuery(("revenue",), period=P.days(date(1899, 1, 1), date(1899, 12, 31))),
}

# --- written by main's code (query_buttons.encode / encode_subscribe, subscriptions.encode_query,
# followup.query_to_json) before this codec; do not regenerate
V1 = {  # name -> (the table's value, the chart's value)
    "plain": (
        'v1:{"m":["revenue"]}',
        'v1:{"m":["revenue"],"v":"c"}'),
    "full": (
        ('v1:{"m":["revenue","transaction_volume"],"g":["tier","type"],"t":"month","f":[["type",["card_payment",'
         '"fee"]],["customer_name",["Zoë O\'Brien-Łukasiewicz","Ann \\"Nan\\" Lee"]]],"p":["r","2025-01-01",'
         '"2025-06-30"],"o":[["revenue",1],["time",0]],"l":10}'),
        ('v1:{"m":["revenue","transaction_volume"],"g":["tier","type"],"t":"month","f":[["type",["card_payment",'
         '"fee"]],["customer_name",["Zoë O\'Brien-Łukasiewicz","Ann \\"Nan\\" Lee"]]],"p":["r","2025-01-01",'
         '"2025-06-30"],"o":[["revenue",1],["time",0]],"l":10,"v":"c"}')),
    "last_months": (
        'v1:{"m":["withdrawals"],"t":"week","p":["last_months",6]}',
        'v1:{"m":["withdrawals"],"t":"week","p":["last_months",6],"v":"c"}'),
    "this_year_asc": (
        'v1:{"m":["transaction_count"],"p":["this_year",1],"o":[["time",0]]}',
        'v1:{"m":["transaction_count"],"p":["this_year",1],"o":[["time",0]],"v":"c"}'),
    "this_month": (
        ('v1:{"m":["balance"],"g":["customer","account","tier","type","country","account_type"],"t":"day",'
         '"f":[["customer",["42","7"]]],"p":["this_month",1],"o":[["balance",0]],"l":1000}'),
        ('v1:{"m":["balance"],"g":["customer","account","tier","type","country","account_type"],"t":"day",'
         '"f":[["customer",["42","7"]]],"p":["this_month",1],"o":[["balance",0]],"l":1000,"v":"c"}')),
    "last_month": (
        'v1:{"m":["new_customers"],"p":["last_month",1],"l":1}',
        'v1:{"m":["new_customers"],"p":["last_month",1],"l":1,"v":"c"}'),
    "this_quarter": (
        ('v1:{"m":["revenue","transaction_volume","transaction_count","withdrawals","new_customers"],'
         '"t":"quarter","p":["this_quarter",1]}'),
        ('v1:{"m":["revenue","transaction_volume","transaction_count","withdrawals","new_customers"],'
         '"t":"quarter","p":["this_quarter",1],"v":"c"}')),
    "last_quarter": (
        'v1:{"m":["revenue"],"t":"year","p":["last_quarter",1],"o":[["revenue",1]]}',
        'v1:{"m":["revenue"],"t":"year","p":["last_quarter",1],"o":[["revenue",1]],"v":"c"}'),
    "last_year": (
        'v1:{"m":["revenue"],"g":["country"],"p":["last_year",1],"o":[["country",0],["revenue",1]]}',
        'v1:{"m":["revenue"],"g":["country"],"p":["last_year",1],"o":[["country",0],["revenue",1]],"v":"c"}'),
    "max_months": (
        'v1:{"m":["revenue"],"p":["last_months",120]}',
        'v1:{"m":["revenue"],"p":["last_months",120],"v":"c"}'),
    "one_day": (
        'v1:{"m":["revenue"],"p":["r","2026-02-28","2026-02-28"]}',
        'v1:{"m":["revenue"],"p":["r","2026-02-28","2026-02-28"],"v":"c"}'),
}
SUBSCRIBE = {  # name -> the "Subscribe…" value (weekly)
    "plain":
        'v1:{"m":["revenue"],"c":"weekly"}',
    "full":
        ('v1:{"m":["revenue","transaction_volume"],"g":["tier","type"],"t":"month","f":[["type",["card_payment",'
         '"fee"]],["customer_name",["Zoë O\'Brien-Łukasiewicz","Ann \\"Nan\\" Lee"]]],"p":["r","2025-01-01",'
         '"2025-06-30"],"o":[["revenue",1],["time",0]],"l":10,"c":"weekly"}'),
    "last_months":
        'v1:{"m":["withdrawals"],"t":"week","p":["last_months",6],"c":"weekly"}',
    "this_year_asc":
        'v1:{"m":["transaction_count"],"p":["this_year",1],"o":[["time",0]],"c":"weekly"}',
    "this_month":
        ('v1:{"m":["balance"],"g":["customer","account","tier","type","country","account_type"],"t":"day",'
         '"f":[["customer",["42","7"]]],"p":["this_month",1],"o":[["balance",0]],"l":1000,"c":"weekly"}'),
    "last_month":
        'v1:{"m":["new_customers"],"p":["last_month",1],"l":1,"c":"weekly"}',
    "this_quarter":
        ('v1:{"m":["revenue","transaction_volume","transaction_count","withdrawals","new_customers"],'
         '"t":"quarter","p":["this_quarter",1],"c":"weekly"}'),
    "last_quarter":
        'v1:{"m":["revenue"],"t":"year","p":["last_quarter",1],"o":[["revenue",1]],"c":"weekly"}',
    "last_year":
        'v1:{"m":["revenue"],"g":["country"],"p":["last_year",1],"o":[["country",0],["revenue",1]],"c":"weekly"}',
    "max_months":
        'v1:{"m":["revenue"],"p":["last_months",120],"c":"weekly"}',
    "one_day":
        'v1:{"m":["revenue"],"p":["r","2026-02-28","2026-02-28"],"c":"weekly"}',
}
Q1 = {  # name -> the text in subscriptions.query
    "plain":
        'q1:{"m":["revenue"]}',
    "full":
        ('q1:{"m":["revenue","transaction_volume"],"g":["tier","type"],"t":"month","f":[["type",["card_payment",'
         '"fee"]],["customer_name",["Zoë O\'Brien-Łukasiewicz","Ann \\"Nan\\" Lee"]]],"p":["range","2025-01-01",'
         '"2025-06-30"],"o":[["revenue",true],["time",false]],"l":10}'),
    "last_months":
        'q1:{"m":["withdrawals"],"t":"week","p":["last_months",6]}',
    "this_year_asc":
        'q1:{"m":["transaction_count"],"p":["this_year",1],"o":[["time",false]]}',
    "this_month":
        ('q1:{"m":["balance"],"g":["customer","account","tier","type","country","account_type"],"t":"day",'
         '"f":[["customer",["42","7"]]],"p":["this_month",1],"o":[["balance",false]],"l":1000}'),
    "last_month":
        'q1:{"m":["new_customers"],"p":["last_month",1],"l":1}',
    "this_quarter":
        ('q1:{"m":["revenue","transaction_volume","transaction_count","withdrawals","new_customers"],'
         '"t":"quarter","p":["this_quarter",1]}'),
    "last_quarter":
        'q1:{"m":["revenue"],"t":"year","p":["last_quarter",1],"o":[["revenue",true]]}',
    "last_year":
        'q1:{"m":["revenue"],"g":["country"],"p":["last_year",1],"o":[["country",false],["revenue",true]]}',
    "max_months":
        'q1:{"m":["revenue"],"p":["last_months",120]}',
    "one_day":
        'q1:{"m":["revenue"],"p":["range","2026-02-28","2026-02-28"]}',
    "many_filters":
        ('q1:{"m":["revenue"],"f":[["tier",["Gold"]],["tier",["Gold"]],["tier",["Gold"]],["tier",["Gold"]],'
         '["tier",["Gold"]],["tier",["Gold"]],["tier",["Gold"]],["tier",["Gold"]],["tier",["Gold"]],["tier",'
         '["Gold"]],["tier",["Gold"]],["tier",["Gold"]]]}'),
    "long_value":
        ('q1:{"m":["revenue"],"f":[["customer_name",'
         '["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'
         'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'
         'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]]]}'),
    "pre_1900":
        'q1:{"m":["revenue"],"p":["range","1899-01-01","1899-12-31"]}',
}
LONG_KEYS = {  # name -> the record in conversations.query (JSONB), as JSON text
    "plain":
        ('{"metrics": ["revenue"], "group_by": [], "grain": null, "filters": [], "period": null, "order": [], '
         '"limit": null}'),
    "full":
        ('{"metrics": ["revenue", "transaction_volume"], "group_by": ["tier", "type"], "grain": "month", '
         '"filters": [["type", ["card_payment", "fee"]], ["customer_name", ["Zoë O\'Brien-Łukasiewicz", "Ann '
         '\\"Nan\\" Lee"]]], "period": {"kind": "range", "first": "2025-01-01", "last": "2025-06-30", "count": 1},'
         ' "order": [["revenue", true], ["time", false]], "limit": 10}'),
    "last_months":
        ('{"metrics": ["withdrawals"], "group_by": [], "grain": "week", "filters": [], "period": {"kind": '
         '"last_months", "first": null, "last": null, "count": 6}, "order": [], "limit": null}'),
    "this_year_asc":
        ('{"metrics": ["transaction_count"], "group_by": [], "grain": null, "filters": [], "period": {"kind": '
         '"this_year", "first": null, "last": null, "count": 1}, "order": [["time", false]], "limit": null}'),
    "this_month":
        ('{"metrics": ["balance"], "group_by": ["customer", "account", "tier", "type", "country", "account_type"],'
         ' "grain": "day", "filters": [["customer", ["42", "7"]]], "period": {"kind": "this_month", "first": null,'
         ' "last": null, "count": 1}, "order": [["balance", false]], "limit": 1000}'),
    "last_month":
        ('{"metrics": ["new_customers"], "group_by": [], "grain": null, "filters": [], "period": {"kind": '
         '"last_month", "first": null, "last": null, "count": 1}, "order": [], "limit": 1}'),
    "this_quarter":
        ('{"metrics": ["revenue", "transaction_volume", "transaction_count", "withdrawals", "new_customers"], '
         '"group_by": [], "grain": "quarter", "filters": [], "period": {"kind": "this_quarter", "first": null, '
         '"last": null, "count": 1}, "order": [], "limit": null}'),
    "last_quarter":
        ('{"metrics": ["revenue"], "group_by": [], "grain": "year", "filters": [], "period": {"kind": '
         '"last_quarter", "first": null, "last": null, "count": 1}, "order": [["revenue", true]], "limit": null}'),
    "last_year":
        ('{"metrics": ["revenue"], "group_by": ["country"], "grain": null, "filters": [], "period": {"kind": '
         '"last_year", "first": null, "last": null, "count": 1}, "order": [["country", false], ["revenue", true]],'
         ' "limit": null}'),
    "max_months":
        ('{"metrics": ["revenue"], "group_by": [], "grain": null, "filters": [], "period": {"kind": "last_months",'
         ' "first": null, "last": null, "count": 120}, "order": [], "limit": null}'),
    "one_day":
        ('{"metrics": ["revenue"], "group_by": [], "grain": null, "filters": [], "period": {"kind": "range", '
         '"first": "2026-02-28", "last": "2026-02-28", "count": 1}, "order": [], "limit": null}'),
    "many_filters":
        ('{"metrics": ["revenue"], "group_by": [], "grain": null, "filters": [["tier", ["Gold"]], ["tier", '
         '["Gold"]], ["tier", ["Gold"]], ["tier", ["Gold"]], ["tier", ["Gold"]], ["tier", ["Gold"]], ["tier", '
         '["Gold"]], ["tier", ["Gold"]], ["tier", ["Gold"]], ["tier", ["Gold"]], ["tier", ["Gold"]], ["tier", '
         '["Gold"]]], "period": null, "order": [], "limit": null}'),
    "long_value":
        ('{"metrics": ["revenue"], "group_by": [], "grain": null, "filters": [["customer_name", '
         '["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'
         'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'
         'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]]], '
         '"period": null, "order": [], "limit": null}'),
    "pre_1900":
        ('{"metrics": ["revenue"], "group_by": [], "grain": null, "filters": [], "period": {"kind": "range", '
         '"first": "1899-01-01", "last": "1899-12-31", "count": 1}, "order": [], "limit": null}'),
}


# --- what was written before decodes to the same query ---------------------------------------------------------
@pytest.mark.parametrize("name", list(QUERIES))
def test_button_values_written_before_decode_to_the_same_query_and_are_still_written(name: str) -> None:
    query = QUERIES[name]
    table, chart = V1[name]
    assert decode(table) == QueryView(query) and decode(chart) == QueryView(query, True)
    assert decode_subscribe(SUBSCRIBE[name]) == (query, "weekly")
    assert (encode(QueryView(query)), encode(QueryView(query, True))) == (table, chart)  # byte for byte
    assert encode_subscribe(query, "weekly") == SUBSCRIBE[name]


@pytest.mark.parametrize("name", [*QUERIES, *STORED])
def test_stored_subscriptions_written_before_decode_to_the_same_query_and_are_still_written(name: str) -> None:
    query = {**QUERIES, **STORED}[name]
    assert decode_query(Q1[name]) == query
    assert encode_query(query) == Q1[name]  # byte for byte: a release before this one reads what this one writes


@pytest.mark.parametrize("name", [*QUERIES, *STORED])
def test_conversation_rows_written_before_decode_to_the_same_query(name: str) -> None:
    record = json.loads(LONG_KEYS[name])
    assert query_from_data(compact_record(record)) == {**QUERIES, **STORED}[name]


def test_conversation_rows_in_the_state_database(state_url: str, state_store: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A row of before (long keys) and a row written now, each through PostgreSQL's JSONB, recalled as the query."""
    monkeypatch.setenv("FINEFIN_STATE_URL", state_url)
    conversations = state_store.conversations
    for n, name in enumerate(["full", "this_month", "pre_1900"]):
        query = {**QUERIES, **STORED}[name]
        old, new = ("C0OLD", f"17000000{n:02}.000100"), ("C0NEW", f"17000000{n:02}.000100")
        conversations.remember(*old, "UASKER", json.loads(LONG_KEYS[name]))
        assert conversation.recall(old, "UASKER") == query
        assert conversation.recall(old, "UOTHER") is None  # only the asker continues a thread
        answer = MetricAnswer(query, (), (), date(2026, 1, 31), None, {}, {}, ())
        conversation.remember(new, "UASKER", Answer(text="", blocks=[], data=answer))
        assert conversations.recall(*new) == ("UASKER", query_to_data(query))  # the compact form
        assert conversation.recall(new, "UASKER") == query
    conversations.remember("C0BAD", "1", "UASKER", {"m": ["revenue"], "l": 0})
    assert conversation.recall(("C0BAD", "1"), "UASKER") is None  # unusable: read as a new question


# --- round trips ---------------------------------------------------------------------------------------------------
NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,63}", fullmatch=True)
VALUES = st.text(min_size=1, max_size=40) | st.text(min_size=1, max_size=MAX_VALUE_CHARS)
PERIODS = st.one_of(
    st.none(),
    st.tuples(st.dates(), st.dates()).map(lambda d: P.days(min(d), max(d))),
    st.builds(Period, st.sampled_from([k for k in K if k is not K.RANGE]), count=st.integers(1, 120)),
)
METRIC_QUERIES = st.builds(
    MetricQuery,
    st.lists(NAMES, min_size=1, max_size=5).map(tuple),
    st.lists(NAMES, max_size=MAX_GROUP_BY).map(tuple),
    st.none() | st.sampled_from(Grain),
    st.lists(st.builds(F, NAMES, st.lists(VALUES, min_size=1, max_size=4).map(tuple)), max_size=4).map(tuple),
    PERIODS,
    st.lists(st.builds(Order, NAMES, st.booleans()), max_size=MAX_ORDER).map(tuple),
    st.none() | st.integers(1, MAX_LIMIT),
)


@settings(max_examples=300, deadline=None)
@given(query=METRIC_QUERIES, chart=st.booleans(), cadence=st.sampled_from(CADENCES))
def test_valid_queries_round_trip_through_the_codec_and_each_envelope(query: MetricQuery, chart: bool,
                                                                       cadence: str) -> None:
    data = query_to_data(query)
    assert query_from_data(data) == query
    assert query_from_data(json.loads(json.dumps(data))) == query  # as JSON (a conversation row)
    assert query_from_data(compact_record(json.loads(json.dumps(data)))) == query  # as recall reads it
    value = encode(QueryView(query, chart))
    if len(value) <= 2000:  # a button's value holds 2,000 characters: a longer one is left out of the message
        assert decode(value) == QueryView(query, chart)
    else:
        with pytest.raises(ActionValueError):
            decode(value)
    subscribe = encode_subscribe(query, cadence)
    if len(subscribe) <= 2000:
        assert decode_subscribe(subscribe) == (query, cadence)
    try:
        stored = encode_query(query)
    except InvalidInputError:
        return  # too long to keep (over QUERY_MAX_CHARS): refused when the subscription is made
    assert decode_query(stored) == query


# --- strict on what it reads ---------------------------------------------------------------------------------------
def _with(**parts: Any) -> dict[str, Any]:
    return {"m": ["revenue"], **parts}


@pytest.mark.parametrize("data", [
    None, [], "revenue", {}, _with(v="c"), _with(c="daily"), _with(x=1), {"m": []}, {"m": "revenue"},
    {"m": ["revenue"] * 6}, {"m": ["Revenue"]}, {"m": ["revenue'; drop table x --"]}, {"m": ["a" * 65]}, {"m": [1]},
    _with(g=["tier"] * (MAX_GROUP_BY + 1)), _with(g="tier"), _with(g=[None]),
    _with(t="hour"), _with(t=None), _with(t=["month"]),
    _with(f=[["tier"]]), _with(f=[["tier", []]]), _with(f=[["tier", "Gold"]]), _with(f=[["tier", [""]]]),
    _with(f=[["tier", [1]]]), _with(f=[["Tier", ["Gold"]]]), _with(f=[["tier", ["x" * (MAX_VALUE_CHARS + 1)]]]),
    _with(f=[["tier", ["Gold"] * (MAX_VALUES + 1)]]), _with(f=[["tier", ["Gold"]]] * (MAX_FILTERS + 1)),
    _with(p=["r", "2026-02-01", "2026-01-01"]), _with(p=["r", "2026-02-30", "2026-03-01"]),
    _with(p=["r", "2026-2-1", "2026-03-01"]), _with(p=["r", "2026-02-01"]),
    _with(p=["range", "2026-01-01", "2026-01-31"]), _with(p=["r", "2026-01-01", "2026-01-31", 1]),
    _with(p=["this_year"]), _with(p=["this_year", 0]), _with(p=["last_months", 121]), _with(p=["last_months", "3"]),
    _with(p=["last_months", 3.0]), _with(p=["last_months", True]), _with(p=["hour", 1]),
    _with(p={"kind": "this_year"}),
    _with(o=[["revenue", True]]), _with(o=[["revenue", 2]]), _with(o=[["revenue"]]), _with(o=[["time", 1]] * 4),
    _with(o=[["Revenue", 1]]), _with(l=0), _with(l=MAX_LIMIT + 1), _with(l="10"), _with(l=True), _with(l=10.0),
])
def test_what_the_codec_does_not_write_is_refused(data: Any) -> None:
    with pytest.raises(QueryDataError):
        query_from_data(data)


def test_the_bounds_admit_what_the_bot_writes() -> None:
    biggest = _with(g=["tier"] * MAX_GROUP_BY, f=[["tier", ["x" * MAX_VALUE_CHARS] * MAX_VALUES]] * MAX_FILTERS,
                    o=[["time", 1]] * MAX_ORDER, l=MAX_LIMIT, p=["last_months", 120])
    assert len(query_from_data(biggest).filters) == MAX_FILTERS
    assert query_from_data(_with(p=["r", "0001-01-01", "9999-12-31"])).period == P.days(date.min, date.max)


@pytest.mark.parametrize("value", [
    'v1:{"m":["revenue"],"p":["range","2025-01-01","2025-01-31"]}',  # the stored subscriptions' spelling
    'v1:{"m":["revenue"],"o":[["revenue",true]]}',
    'v1:{"m":["revenue"],"v":"x"}', 'v1:{"m":["revenue"],"c":"daily"}', 'q1:{"m":["revenue"]}',
    'v1:{"m":["revenue"],"f":[["tier",["' + "x" * 1990 + '"]]]}',  # over 2,000 characters
])
def test_buttons_still_refuse_what_they_refused(value: str) -> None:
    with pytest.raises(ActionValueError):
        decode(value)


@pytest.mark.parametrize("value", [
    'v1:{"m":["revenue"],"v":"c","c":"daily"}', 'v1:{"m":["revenue"],"c":"hourly"}', 'v1:{"m":["revenue"]}',
    'v1:{"m":["revenue"],"l":0,"c":"daily"}',
])
def test_subscribe_values_still_refuse_what_they_refused(value: str) -> None:
    with pytest.raises(ActionValueError):
        decode_subscribe(value)


@pytest.mark.parametrize(("stored", "words"), [
    ('q2:{"m":["revenue"]}', "written by another version"), ('v1:{"m":["revenue"]}', "written by another version"),
    ("q1:{", "is malformed"), ("q1:" + "[" * 990, "is malformed"), ('q1:{"m":["revenue"],"x":1}', "is malformed"),
    ('q1:{"m":[]}', "is malformed"), ('q1:{"m":["revenue"],"p":["range","2026-02-01","2026-01-01"]}', "is malformed"),
    ('q1:{"m":["revenue"],"o":[["revenue",2]]}', "is malformed"),
])
def test_a_stored_text_that_cannot_be_read_says_why(stored: str, words: str) -> None:
    with pytest.raises(InvalidInputError, match=words):
        decode_query(stored)
