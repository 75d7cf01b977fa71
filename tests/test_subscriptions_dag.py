"""The `finefin_deliveries` DAG end to end with `dag.test()`, the query warehouse, the state database and the fake
Slack: run twice -> each subscription delivered once for the period and the alert fired once (once per crossing);
personalised at delivery time (a customer's subscription shows their own figure, checked against SQL); a deactivated
owner's subscription is disabled, not delivered; nothing goes to the alerts channel."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.state import open_state
from bot.state.subscriptions import Condition, SubscriptionStore
from semantic_layer.catalog import Grain
from semantic_layer.inputs import CustomerId
from semantic_layer.query import MetricQuery, Period, PeriodKind
from semantic_layer.service import MetricFlowSemanticLayer
from tests.airflow_support import parse_dags, run_dag, task_states
from tests.clock import TODAY, at
from tests.dbt_chain import Chain, query
from tests.fake_slack import FakeSlack

pytest_plugins = ["tests.airflow_support", "tests.query_support", "tests.bot_support"]

LAST_MONTH_VOLUME = MetricQuery(("transaction_volume",), grain=Grain.MONTH, period=Period(PeriodKind.LAST_MONTH))


@pytest.fixture()
def store(state_url: str) -> Iterator[SubscriptionStore]:
    state = open_state(state_url)
    with state.engine.begin() as conn:
        conn.execute(text("TRUNCATE subscriptions, post_ledger"))
    yield state.subscriptions
    state.close()


def test_the_deliveries_dag(airflow_home: Path, chain: Chain, sl: MetricFlowSemanticLayer, state_url: str,
                            store: SubscriptionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    customer_id = query(chain.warehouse, "select customer_id from analytics.fct_transactions group by 1"
                                         " order by count(*) desc limit 1")[0][0]
    customer = sl.customer(CustomerId(customer_id))
    fake = FakeSlack().start()
    fake.add_user("UDIR", "director@finefinance.example", "Director")
    fake.add_user("UCUST", customer.email, "Customer")
    fake.add_user("UGONE", "gone@finefinance.example", "Gone", deleted=True)
    director_sub = store.add("UDIR", "subscription", LAST_MONTH_VOLUME, "daily")
    customer_sub = store.add("UCUST", "subscription", LAST_MONTH_VOLUME, "daily")
    gone_sub = store.add("UGONE", "subscription", LAST_MONTH_VOLUME, "daily")
    alert = store.add("UDIR", "alert", MetricQuery(("transaction_count",), grain=Grain.DAY), "daily",
                      condition=Condition("above", Decimal(-1)))
    env = {"FINEFIN_WAREHOUSE": str(chain.warehouse), "SLACK_BOT_TOKEN": "xoxb-test",
           "FINEFIN_SLACK_API_URL": fake.api_url, "FINEFIN_ALERTS_CHANNEL": "CALERT", "FINEFIN_DIRECTORS": "UDIR",
           "FINEFIN_STATE_URL": state_url}
    try:
        bag = parse_dags(monkeypatch, chain.data_dir, **env)
        for hour in (7, 8):  # a second publish of the same data (or a re-run): nothing new to deliver
            run = run_dag(bag, "finefin_deliveries", at(TODAY, hour))
            assert run.state == "success", task_states(run)
        posts: dict[str, list[dict[str, Any]]] = {}
        for call in fake.calls_to("chat.postMessage"):
            posts.setdefault(call.params["channel"], []).append(call.params)
    finally:
        fake.stop()
    assert set(posts) == {"DUDIR", "DUCUST"}, posts.get("CALERT")
    assert sorted(p["text"].split(":")[0] for p in posts["DUDIR"]) == [f"Alert #{alert.id}",
                                                                        f"Subscription #{director_sub.id}"]
    assert [p["text"].split(":")[0] for p in posts["DUCUST"]] == [f"Subscription #{customer_sub.id}"]
    own = json.dumps(posts["DUCUST"][0]["blocks"], ensure_ascii=False)
    total = json.dumps(next(p for p in posts["DUDIR"] if p["text"].startswith("Sub"))["blocks"], ensure_ascii=False)
    (volume,) = query(chain.warehouse, "select sum(abs(amount)) from analytics.fct_transactions where customer_id = ?"
                      " and booked_date between '2026-01-01' and '2026-01-31'", [customer_id])[0]
    (everyone,) = query(chain.warehouse, "select sum(abs(amount)) from analytics.fct_transactions"
                        " where booked_date between '2026-01-01' and '2026-01-31'")[0]
    assert "your accounts only" in own and f"{volume:,.2f}" in own and f"{everyone:,.2f}" not in own
    assert "your accounts only" not in total and f"{everyone:,.2f}" in total
    disabled = store.get(gone_sub.id)
    assert disabled is not None and disabled.disabled_reason is not None
    assert store.get(alert.id).last_state == "met"  # type: ignore[union-attr]


def test_the_deliveries_dag_also_runs_on_a_timetable_for_at_subscriptions(
        airflow_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After each publish (the snapshot asset) or on FINEFIN_DELIVERIES_CRON in FINEFIN_TIMEZONE (a timetable run
    delivers only the `at HH:MM` subscriptions: `Deliveries.run(timed=True)`, tested in tests/test_alerts.py)."""
    from airflow.timetables.assets import AssetOrTimeSchedule

    bag = parse_dags(monkeypatch, tmp_path, FINEFIN_DELIVERIES_CRON="*/5 * * * *", FINEFIN_TIMEZONE="Europe/Paris")
    dag = bag.get_dag("finefin_deliveries")
    assert isinstance(dag.timetable, AssetOrTimeSchedule)
    assert dag.timetable.summary == "Asset or */5 * * * *"
    assert str(dag.timetable.timetable._timezone.name) == "Europe/Paris"
