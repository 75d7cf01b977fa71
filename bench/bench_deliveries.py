"""Users' alerts and subscriptions after a refresh: evaluate N alerts + M subscriptions, deliver to the fake Slack.

Subject: `bot.deliveries.Deliveries.run()` — resolve owners, plan, compute each distinct (principal, query) once,
evaluate, post (the fake Slack over HTTP, 1 message/s/channel pacing on), record — on the warehouse of
bench/bench_semantic_layer.py (~10 M transactions, 96,154 customers; BENCH_SCALE=small: 200). Baseline in the same run:
the same distinct queries run back to back through the query service (the floor the engine cannot go under), and
the naive cost (one query per item) estimated from it. Goal (issue 16): 10,000 alerts + 1,000 subscriptions
<= 60 s after a refresh at 10 M transactions.

Not wired into bench/run_all.py yet: `python -m bench.bench_deliveries` prints a markdown section.
BENCH_ALERTS / BENCH_SUBSCRIPTIONS set the counts (default 10,000 / 1,000). The customers who own alerts and
subscriptions: every customer at small scale; at 10 M, BENCH_CUSTOMER_OWNERS of them (default 2,000, spread over the
ids), so the 4,000 customer alerts and 300 customer subscriptions are ~2 items per customer owner.
"""

from __future__ import annotations

import os
import random
import sys
import time
from decimal import Decimal

import psycopg
from psycopg import sql

from bench.bench_semantic_layer import bench_warehouse

COMMAND = "python -m bench.bench_deliveries"
ALERTS = int(os.environ.get("BENCH_ALERTS", "10000"))
SUBSCRIPTIONS = int(os.environ.get("BENCH_SUBSCRIPTIONS", "1000"))
STAFF = int(os.environ.get("BENCH_STAFF", "200"))  # directors, and as many advisors
CUSTOMER_OWNERS = int(os.environ.get("BENCH_CUSTOMER_OWNERS", "2000"))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Phases:
    """Time spent in named functions during one run (wrapped in place; nested calls are counted in each)."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.on = False

    def wrap(self, owner: object, attribute: str, name: str) -> None:
        fn = getattr(owner, attribute)

        def timed(*args: object, **kwargs: object) -> object:
            if not self.on:
                return fn(*args, **kwargs)
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.ms[name] = self.ms.get(name, 0.0) + (time.perf_counter() - start) * 1000
                self.calls[name] = self.calls.get(name, 0) + 1

        setattr(owner, attribute, timed)


def main() -> None:
    from slack_sdk import WebClient
    from sqlalchemy import insert, text

    from bot.access import Identity, Role
    from bot.assistant import Assistant
    from bot.deliveries import Deliveries, alert_query
    from bot.identity import IdentityResolver
    from bot.settings import BotSettings
    from bot.state import open_state
    from bot.state.models import Subscription
    from bot.state.subscriptions import Condition, encode_query
    from semantic_layer.catalog import Grain
    from semantic_layer.engine import DuckDbSnapshotEngine
    from semantic_layer.inputs import CustomerId
    from semantic_layer.query import DimensionFilter, MetricQuery, Period, PeriodKind
    from semantic_layer.query_service import query_service
    from semantic_layer.service import MetricFlowSemanticLayer
    from tests.fake_slack import FakeSlack

    wh = bench_warehouse()
    small, customers, data_dir = wh.small, wh.customers, wh.data_dir
    sl = MetricFlowSemanticLayer(DuckDbSnapshotEngine(data_dir, "warehouse.duckdb"))
    url = os.environ.get("FINEFIN_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS finefin_bench_deliveries WITH (FORCE)"))
        conn.execute(sql.SQL("CREATE DATABASE finefin_bench_deliveries"))
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = "finefin_bench_deliveries"
    state = open_state(psycopg.conninfo.make_conninfo(**info))
    settings = BotSettings(slack_bot_token="xoxb-test", slack_signing_secret="s" * 32)
    ctx = Assistant(sl, settings, IdentityResolver.__new__(IdentityResolver))
    service = query_service(sl)
    rng = random.Random(7)

    people: dict[str, Identity] = {}
    for i in range(STAFF):
        people[f"UDIR{i}"] = Identity(f"UDIR{i}", frozenset({Role.DIRECTOR}))
        people[f"UADV{i}"] = Identity(f"UADV{i}", frozenset({Role.ADVISOR}))
    customer_users = []
    owners = customers if small else min(customers, CUSTOMER_OWNERS)
    for cid in sorted({1 + i * customers // owners for i in range(owners)}):  # the generator numbers from 1
        try:
            profile = sl.customer(CustomerId(cid))
        except Exception:
            continue
        people[f"UC{cid}"] = Identity(f"UC{cid}", frozenset({Role.CUSTOMER}), profile)
        customer_users.append(f"UC{cid}")
    staff_users = [u for u in people if not u.startswith("UC")]

    cadences = {"daily": Grain.DAY, "weekly": Grain.WEEK, "monthly": Grain.MONTH}
    types = [None, "card_payment", "fee", "p2p_out"]
    staff_alerts = [(m, c, t) for m in ("revenue", "transaction_volume", "transaction_count") for c in cadences
                    for t in types]
    customer_alerts = [("balance", "daily", None), ("transaction_volume", "weekly", None),
                       ("transaction_count", "monthly", None), ("withdrawals", "monthly", None)]
    staff_subs = [MetricQuery(("revenue",), ("tier",), Grain.MONTH, period=Period(PeriodKind.LAST_MONTHS, count=6)),
                  MetricQuery(("transaction_volume",), ("type",), Grain.WEEK, period=Period(PeriodKind.LAST_MONTH)),
                  MetricQuery(("transaction_count", "revenue"), grain=Grain.MONTH, period=Period(PeriodKind.THIS_YEAR)),
                  MetricQuery(("new_customers",), ("country",), Grain.MONTH, period=Period(PeriodKind.LAST_QUARTER))]
    customer_subs = [MetricQuery(("transaction_volume",), ("type",), Grain.MONTH,
                                 period=Period(PeriodKind.LAST_MONTHS, count=3))]
    rows = []
    for n in range(ALERTS):
        staff = n % 5 < 3  # 60 % staff alerts, 40 % customers' own
        owner = rng.choice(staff_users if staff else customer_users)
        metric, cadence, kind = rng.choice(staff_alerts if staff else customer_alerts)
        filters = (DimensionFilter("type", (kind,)),) if kind else ()
        query = MetricQuery((metric,), grain=cadences[cadence], filters=filters)
        top = 1000 if metric == "transaction_count" else 200_000
        condition = Condition(rng.choice(("below", "above")), Decimal(rng.randrange(0, top)))
        rows.append(dict(kind="alert", owner_user_id=owner, query=encode_query(query), cadence=cadence,
                         condition=condition.encode()))
    for n in range(SUBSCRIPTIONS):
        staff = n % 10 < 7
        owner = rng.choice(staff_users if staff else customer_users)
        query = rng.choice(staff_subs if staff else customer_subs)
        if staff and owner.startswith("UADV") and query.metrics == ("new_customers",):
            query = staff_subs[0]
        rows.append(dict(kind="subscription", owner_user_id=owner, query=encode_query(query),
                         cadence=rng.choice(list(cadences)), condition=None))
    with state.engine.begin() as conn:
        conn.execute(insert(Subscription.__table__), rows)

    import bot.commands.query_render as query_render
    import bot.deliveries as deliveries_module
    from bot.state.claims import ClaimKeys
    from bot.state.subscriptions import SubscriptionStore

    phases = Phases()  # where the first run's time goes
    phases.wrap(service, "run", "queries (query service, uncached)")
    phases.wrap(query_render, "chart_file", "chart PNGs (matplotlib)")
    phases.wrap(deliveries_module.Deliveries, "_subscription", "subscription messages (incl. their charts)")
    phases.wrap(deliveries_module.Deliveries, "_alert", "alert evaluation and messages")
    phases.wrap(deliveries_module.Deliveries, "_send_all", "posting (claims + Slack calls)")
    phases.wrap(WebClient, "api_call", "Slack Web API calls (fake Slack over HTTP)")
    phases.wrap(ClaimKeys, "claim_many", "post ledger claims (PostgreSQL)")
    phases.wrap(SubscriptionStore, "record_many", "recording states and periods (PostgreSQL)")
    fake = FakeSlack().start()
    client = WebClient(token="xoxb-test", base_url=fake.api_url)
    engine = Deliveries(ctx, lambda user: people[user], state.subscriptions, state.post_ledger, client)
    (transactions,) = sl.engine.fetch(f"SELECT count(*) FROM {sl.engine.relation('fct_transactions')}").rows[0]
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    sl.engine.cache.clear()
    phases.on = True
    started = time.perf_counter()
    report = engine.run()
    first = time.perf_counter() - started
    phases.on = False
    posts = len(fake.calls_to("chat.postMessage"))
    started = time.perf_counter()
    again = Deliveries(ctx, lambda user: people[user], state.subscriptions, state.post_ledger, client).run()
    second = time.perf_counter() - started
    # baseline: the distinct queries alone, back to back, cache cleared
    as_of, _ = sl.reporting_dates()
    from bot.commands.context import principal_of

    distinct = set()
    for item in state.subscriptions.active():
        q = item.metric_query if item.kind == "subscription" else alert_query(item, as_of)[0]
        distinct.add((principal_of(people[item.owner_user_id]), q))
    sl.engine.cache.clear()
    started = time.perf_counter()
    for principal, q in distinct:
        service.run(principal, q)
    floor = time.perf_counter() - started
    per_query = floor / max(len(distinct), 1)
    fake.stop()
    with state.engine.begin() as conn:
        (audit,) = conn.execute(text("SELECT count(*) FROM audit_log")).one()
    state.close()
    load_end = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    scale = f"BENCH_SCALE=small: {customers} customers" if small else f"{customers:,} customers"
    print(f"""## Alerts and subscriptions: evaluation and delivery after a refresh

Command: `{COMMAND}` ({scale}, {transactions:,} booked transactions). Goal: the first run after the refresh
<= 60 s. Load average (1 / 5 / 15 min) at the start: {load}, at the end: {load_end}.

| | value |
|---|---:|
| alerts / subscriptions | {ALERTS:,} / {SUBSCRIPTIONS:,} |
| owners (staff / customers) | {len(staff_users)} / {len(customer_users)} |
| distinct (principal, query) computed | {report.queries_run:,} (of {report.evaluated:,} items evaluated) |
| alerts fired / subscriptions delivered | {len(report.fired):,} / {len(report.delivered):,} |
| Slack messages posted (alerts merged per channel) | {posts:,} |
| **first run after the refresh** | **{first:.1f} s** |
| second run (states and periods recorded) | {second:.1f} s ({len(again.fired) + len(again.delivered)} new) |
| baseline: the {len(distinct):,} distinct queries alone | {floor:.1f} s ({per_query * 1000:.0f} ms each) |
| naive estimate: one query per item | {per_query * (ALERTS + SUBSCRIPTIONS):.0f} s |

Where the first run's {first:.1f} s go (time inside each function, wrapped in place; nested parts overlap):

| part | calls | s |
|---|---:|---:|
""" + "\n".join(f"| {name} | {phases.calls[name]:,} | {phases.ms[name] / 1000:.1f} |" for name in phases.ms) + "\n")
    log(f"refused={len(report.refused)} skipped={len(report.skipped)} failed={len(report.failed)} audit={audit}")


if __name__ == "__main__":
    main()
