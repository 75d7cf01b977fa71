"""The hostile-name test through the real chain: names planted in the operational PostgreSQL, ingested, built by
dbt, read by MetricFlow, and answered in Slack (the fake Web API) — nothing carries a mention, a link or emphasis.

A small chain (60 customers, 5 months) keeps it to one dbt build.
"""

# ruff: noqa: E402 - assertion rewriting must be registered before the support module is imported
from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.bot_support")

from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg

from semantic_layer.inputs import CustomerId
from semantic_layer.settings import SemanticLayerSettings
from tests.bot_support import People, ask_slack, people_for, settings_for
from tests.dbt_chain import Chain, make_chain
from tests.fake_slack import FakeSlack
from tests.test_security_hostile import CAMILLE, MENTION, _assert_inert, _captured, _settle

pytest_plugins = ["tests.bot_support"]
WATCH = SemanticLayerSettings(
    watch_withdrawals_min=Decimal("500"), watch_loans_min=Decimal("1000"), watch_investments_min=Decimal("1000")
)


@pytest.fixture(scope="module")
def chain(make_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> Chain:
    chain = make_chain(make_database, tmp_path_factory.mktemp("hostile"), customers=60, months=5,
                       end_date=date(2026, 2, 10))
    with psycopg.connect(chain.dsn) as conn:  # an update after the first load, as a real rename would come
        conn.execute(
            "UPDATE customers SET full_name = CASE WHEN customer_id %% 2 = 0 THEN %s ELSE %s END || ' ' || customer_id,"
            " updated_at = updated_at + interval '400 days'",
            (CAMILLE, MENTION),
        )
        conn.execute(
            "UPDATE transactions SET description = %s, updated_at = updated_at + interval '400 days'"
            " WHERE status = 'scheduled'",
            (f"{CAMILLE} {MENTION}",),
        )
    chain.ingest()
    chain.build()
    chain.publish()
    return chain


@pytest.fixture(scope="module")
def real_sl(chain: Chain) -> Iterator[Any]:
    sl = chain.semantic_layer(WATCH)
    yield sl
    sl.engine.close()


@pytest.fixture()
def semantic_layer_impl(real_sl: Any) -> Any:
    return real_sl


def test_real_warehouse_names_reach_slack_inert(
    bolt_app: Any, fake_slack: FakeSlack, people: People, real_sl: Any
) -> None:
    planted = [real_sl.customer(CustomerId(c)).full_name for c in (people.customer_id, people.red_customer_id)]
    assert all(name.startswith((CAMILLE, MENTION)) for name in planted), planted  # planted, and read back
    other = people_for(real_sl).other_customer_id
    for user, commands in (
        (people.customer, ["balance", "upcoming", "statement", "help"]),
        (people.red_customer, ["balance", "upcoming"]),
        (people.advisor, ["watchlist", "red", f"balance {people.customer_id}", f"balance {other}"]),
        (people.director, ["growth", "tiers", "transactions", "define revenue"]),
    ):
        for text in commands:
            ask_slack(bolt_app, fake_slack, user, text)
    from bot.app import make_client
    from bot.scheduled import post_advisor_watchlist

    settings = settings_for(people, slack_api_url=fake_slack.api_url, list_limit=2,
                            advisor_assignments={people.advisor: [people.customer_id, people.red_customer_id]},
                            freshness_sla_hours=10**6)
    post_advisor_watchlist(real_sl, make_client(settings), settings)
    _settle(fake_slack)
    sent = [text for _, text in _captured(fake_slack)]
    assert any("Camille &lt;!channel&gt; &amp; &lt;https://evil.example" in text for text in sent)  # shown, escaped
    assert not any("&amp;lt;" in text for text in sent)  # escaped once, not twice
    assert _assert_inert(fake_slack) > 20
