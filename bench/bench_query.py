"""Ad-hoc metric queries: 20 representative `/finefin metric` questions vs hand-written DuckDB SQL, parse time, "why".

Subject: the grammar's `MetricQuery` run by `semantic_layer.query_service` (validation, access policy, MetricFlow
in-process) with the engine's result cache cleared before every call (dimension values and the catalog stay: they
are per-load metadata). Baseline, in the same run on the same snapshot: hand-written DuckDB SQL for the same answer
over one read-only connection, its calls interleaved with ours. Goals (issue 14): p95 <= 300 ms and <= 1.5x the
SQL's p95 per query; parse p95 <= 5 ms; why p95 <= 1 s.
"Before" column: the same query with the engine's inner-join rewrite off (semantic_layer/joins.py), i.e. MetricFlow's
SQL as generated, its calls interleaved with the two others in the same run.
Data: the warehouse of bench/bench_semantic_layer.py (same folder bench/out/semantic_layer_<customers>, built once
and reused; BENCH_SCALE=small: 200 customers). BENCH_ROUNDS sets the calls per query (default 60).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import duckdb

from bench.bench_semantic_layer import bench_warehouse, summary

COMMAND = "python -m bench.bench_query"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "60"))

# (who, grammar text) — several metrics, breakdowns, grains, filters, periods, limits
QUERIES: tuple[tuple[str, str], ...] = (
    ("director", "revenue monthly"),
    ("director", "revenue, transaction_volume by tier monthly from {y0}-{m0} to {y1}-{m1} where type=card_payment,fee"
                 " top 10"),
    ("director", "transaction volume by type weekly last 3 months"),
    ("director", "transaction_count by type monthly"),
    ("director", "revenue by country quarterly this year"),
    ("director", "transaction_volume_p2p_once by type monthly last 6 months"),
    ("director", "revenue by tier, type monthly last quarter"),
    ("director", "new customers by country monthly"),
    ("director", "new_customers quarterly"),
    ("director", "revenue_by_month, transaction_volume_by_month by tier monthly"),
    ("director", "revenue daily last month"),
    ("director", "transaction_count, transaction_volume where tier=Gold,Diamond monthly"),
    ("director", "revenue by account_type monthly ytd"),
    ("director", "transaction volume by tier yearly"),
    ("advisor", "withdrawals by tier monthly last 6 months"),
    ("advisor", "revenue by customer last month top 20"),
    ("advisor", "withdrawals by customer monthly where customer={customer}"),
    ("advisor", "transaction_volume by type monthly where customer={customer}"),
    ("customer", "transaction volume by type monthly"),
    ("customer", "withdrawals monthly last 6 months"),
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the hand-written SQL ----------------------------------------------------------------------------------------
A = "analytics"
TX_MEASURES = {
    "revenue": "sum(t.revenue_amount)", "transaction_volume": "sum(t.absolute_amount)",
    "transaction_count": "count(*)",
    "transaction_volume_p2p_once": "sum(t.absolute_amount)",  # with the metric's filter (P2P_ONCE) in WHERE
    "transaction_count_p2p_once": "count(*)",
}
P2P_ONCE = "t.transaction_type <> 'p2p_in'"
MONTH_MEASURES = {"withdrawals": "sum(m.withdrawal_amount)", "revenue_by_month": "sum(m.revenue_amount)",
                  "transaction_volume_by_month": "sum(m.credit_amount + m.debit_amount)"}
DIM_SQL = {"type": "t.transaction_type", "tier": "c.tier", "country": "c.country_code",
           "account_type": "a.account_type", "customer": "{alias}.customer_id"}


def hand_sql(answer: Any) -> tuple[str, list[Any]]:
    """SQL over the marts giving the same rows as the answer's validated query (what an analyst would write)."""
    q = answer.query
    metrics = q.metrics
    if all(m in TX_MEASURES for m in metrics):
        base, alias, day = f"{A}.fct_transactions t", "t", "t.booked_date"
        measures = [TX_MEASURES[m] for m in metrics]
    elif all(m in MONTH_MEASURES for m in metrics):
        base, alias, day = f"{A}.fct_customer_months m", "m", "m.month_start"
        measures = [MONTH_MEASURES[m] for m in metrics]
    elif metrics == ("new_customers",):
        base, alias, day = f"{A}.dim_customers c", "c", "c.signup_date"
        measures = ["count(*)"]
    else:
        raise ValueError(f"no hand SQL for {metrics}")
    dims = [DIM_SQL[d].format(alias=alias) for d in q.group_by]
    filters = [(DIM_SQL[k].format(alias=alias), vals) for k, vals in answer.filters]
    needs_c = any(x.startswith("c.") for x in dims + [f for f, _ in filters]) and alias != "c"
    needs_a = any(x.startswith("a.") for x in dims + [f for f, _ in filters])
    joins = (f" JOIN {A}.dim_customers c ON c.customer_id = {alias}.customer_id" if needs_c else "") + (
        f" JOIN {A}.dim_accounts a ON a.account_id = {alias}.account_id" if needs_a else "")
    select = ([f"date_trunc('{q.grain.value}', {day})"] if q.grain else []) + dims
    where, params = ["TRUE"], []
    if any(m.endswith("_p2p_once") for m in metrics):
        if not all(m.endswith("_p2p_once") for m in metrics):
            raise ValueError("hand SQL mixes P2P-once metrics with others")
        where.append(P2P_ONCE)
    for column, values in filters:
        where.append(f"{column} IN ({', '.join('?' for _ in values)})")
        params += list(values)
    if answer.scoped_to is not None:
        where.append(f"{alias}.customer_id = ?")
        params.append(answer.scoped_to)
    if answer.period is not None:
        where.append(f"{day} BETWEEN ? AND ?")
        params += [answer.period.first, answer.period.last]
    group = f" GROUP BY {', '.join(str(i + 1) for i in range(len(select)))}" if select else ""
    order = ""
    if q.order:
        position = len(select) + 1 + metrics.index(q.order[0].by) if q.order[0].by in metrics else 1
        order = f" ORDER BY {position} {'DESC' if q.order[0].descending else 'ASC'}"
    limit = f" LIMIT {q.limit}" if q.limit else ""
    sql = (f"SELECT {', '.join(select + measures)} FROM {base}{joins} WHERE {' AND '.join(where)}{group}{order}"
           f"{limit}")
    return sql, params


def interleaved(calls: list[tuple[Callable[[], Any], Callable[[], None]]], rounds: int) -> list[tuple[float, float]]:
    """(p50, p95) of each call, the calls interleaved round by round with a rotating first one, so load from other
    processes on a shared machine weighs on all alike. Each call is (function, preparation not timed)."""
    samples: list[list[float]] = [[] for _ in calls]
    for i in range(rounds):
        for k in range(len(calls)):
            j = (i + k) % len(calls)
            fn, prepare = calls[j]
            prepare()
            start = time.perf_counter()
            fn()
            samples[j].append((time.perf_counter() - start) * 1000)
    return [summary(s) for s in samples]


def as_generated(engine: Any, call: Callable[[], Any]) -> Callable[[], Any]:
    """The call with the engine's inner-join rewrite off: MetricFlow's SQL as generated."""
    def run() -> Any:
        engine.inner_joins = False
        try:
            return call()
        finally:
            engine.inner_joins = True
    return run


def main() -> None:
    from bot.commands.grammar import parse
    from semantic_layer.engine import DuckDbSnapshotEngine
    from semantic_layer.inputs import CustomerId
    from semantic_layer.policy import Audience, Principal
    from semantic_layer.query_service import query_service
    from semantic_layer.service import MetricFlowSemanticLayer
    from semantic_layer.snapshots import current
    from semantic_layer.why import why

    wh = bench_warehouse()
    small, data_dir = wh.small, wh.data_dir
    engine = DuckDbSnapshotEngine(data_dir, "warehouse.duckdb")
    sl = MetricFlowSemanticLayer(engine)
    service = query_service(sl)
    catalog = service.catalog()
    _, last_complete = sl.reporting_dates()
    conn = duckdb.connect(str(current(data_dir, "warehouse.duckdb").warehouse), read_only=True)
    customer = conn.execute(f"SELECT customer_id FROM {A}.fct_transactions GROUP BY 1 ORDER BY count(*) DESC"
                            " LIMIT 1").fetchone()[0]
    (transactions,) = conn.execute(f"SELECT count(*) FROM {A}.fct_transactions").fetchone()
    principals = {"director": Principal(frozenset({Audience.DIRECTOR})),
                  "advisor": Principal(frozenset({Audience.ADVISOR})),
                  "customer": Principal(frozenset({Audience.CUSTOMER}), CustomerId(int(customer)))}
    first = date(last_complete.year - 1 + (last_complete.month >= 6), (last_complete.month - 6) % 12 + 1, 1)
    words = {"y0": first.year, "m0": f"{first.month:02d}", "y1": last_complete.year,
             "m1": f"{last_complete.month:02d}", "customer": customer}
    texts = [(who, text.format(**words)) for who, text in QUERIES]
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    rows: list[str] = []
    met: list[str] = []
    missed: list[str] = []
    for number, (who, text) in enumerate(texts, 1):
        principal = principals[who]
        query = parse(text, catalog)
        call: Callable[[], Any] = lambda q=query, p=principal: service.run(p, q)  # noqa: E731
        answer = call()  # warm (plans the query shape, reads the dimension values once)
        before = as_generated(engine, call)
        engine.cache.clear()
        if before().rows != answer.rows:  # also plans the shape without the rewrite
            raise AssertionError(f"query {number} ({text}): rows differ with the inner-join rewrite off")
        sql, params = hand_sql(answer)
        baseline: Callable[[], Any] = lambda s=sql, v=params: conn.execute(s, v).fetchall()  # noqa: E731
        expected = baseline()
        if len(expected) != len(answer.rows):
            raise AssertionError(f"query {number} ({text}): {len(answer.rows)} rows vs hand SQL {len(expected)}")
        (p50, p95), (g50, g95), (b50, b95) = interleaved(
            [(call, engine.cache.clear), (before, engine.cache.clear), (baseline, lambda: None)], ROUNDS)
        ok = p95 <= 300 and p95 <= 1.5 * b95
        (met if ok else missed).append(str(number))
        rows.append(f"| {number} | {who} | `{text}` | {len(answer.rows)} | {p50:.1f} | {p95:.1f} | {g50:.1f} | "
                    f"{g95:.1f} | {b50:.1f} | {b95:.1f} | {p95 / b95:.2f} | {'yes' if ok else 'no'} |")
        log(rows[-1])
    parse_samples = []
    for _ in range(max(ROUNDS, 50)):
        for _, text in texts:
            start = time.perf_counter()
            parse(text, catalog)
            parse_samples.append((time.perf_counter() - start) * 1000)
    parse50, parse95 = summary(parse_samples)
    month = last_complete
    why_calls = max(10, ROUNDS // 3)
    why_metrics = ("revenue", "transaction_volume", "transaction_count")
    for metric in why_metrics:  # warm: plans the shapes
        why(service, principals["director"], metric, month)
    turn = iter(range(10**9))
    why_call: Callable[[], Any] = lambda: why(  # noqa: E731
        service, principals["director"], why_metrics[next(turn) // 2 % 3], month)
    (why50, why95), (wg50, wg95) = interleaved(
        [(why_call, engine.cache.clear), (as_generated(engine, why_call), engine.cache.clear)], why_calls)
    why_samples = range(why_calls)
    conn.close()
    load_end = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"## Ad-hoc metric queries ({transactions:,} booked transactions)\n")
    env = (" (BENCH_SCALE=small)" if small else "") + (f" BENCH_ROUNDS={ROUNDS}" if ROUNDS != 60 else "")
    print(
        f"Command: `{COMMAND}`{env}. {ROUNDS} calls per query, warm engine, result cache cleared before every call"
        " (the catalog and the dimension values of the load stay); baseline = hand-written DuckDB SQL for the same"
        " rows on the same snapshot, calls interleaved. Goals: p95 <= 300 ms and <= 1.5x the SQL's p95;"
        " parse p95 <= 5 ms; why p95 <= 1 s."
        f" Load average (1 / 5 / 15 min) at the start: {load}, at the end: {load_end}.\n"
    )
    print("| # | as | query | rows | p50 ms | p95 ms | before p50 ms | before p95 ms | SQL p50 ms | SQL p95 ms "
          "| p95 ratio | goal met |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\nQueries meeting both goals: {len(met)} of {len(texts)}; not met: {', '.join(missed) or 'none'}.")
    print(f"\nParse (grammar -> MetricQuery, {len(parse_samples)} parses of the 20 texts): p50 {parse50:.2f} ms, "
          f"p95 {parse95:.2f} ms (goal <= 5 ms: {'met' if parse95 <= 5 else 'not met'}).")
    print(f"\nWhy ({len(why_samples)} calls, revenue / volume / count of {month} by every director dimension, cache "
          f"cleared): p50 {why50:.0f} ms, p95 {why95:.0f} ms (goal <= 1 s: {'met' if why95 <= 1000 else 'not met'}); "
          f"before (MetricFlow's joins as generated), interleaved: p50 {wg50:.0f} ms, p95 {wg95:.0f} ms.")


if __name__ == "__main__":
    main()
