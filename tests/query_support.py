"""One small warehouse shared by the query tests of a session (built once: the chain takes ~30 s).

It holds a planted scenario for "why did it change": PLANTED_AMOUNT of interest charged on PLANTED_DAYS of
PLANTED_MONTH to the current account of one customer, so that month's revenue rises far more than the generated
data ever moves, all of it from type `interest_charge`, that customer's country, and a current account.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from slack_sdk.models.blocks import Block

from bot.blocks import MAX_BLOCKS, MAX_SECTION_CHARS
from ingestion.generator import generate
from ingestion.source import apply_schema
from semantic_layer.inputs import Month
from semantic_layer.query_service import QueryService, query_service
from semantic_layer.service import MetricFlowSemanticLayer
from tests.dbt_chain import END_DATE, SEED, Chain

CUSTOMERS = 120
MONTHS = 8
PLANTED_MONTH = Month(2026, 1)
PLANTED_DAYS = (date(2026, 1, 12), date(2026, 1, 19), date(2026, 1, 26))
PLANTED_AMOUNT = Decimal("4000.00")  # per day

_built: dict[str, tuple[Chain, int]] = {}


def query_chain(make_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> Chain:
    """The chain of 120 customers the query tests read (generator -> plant -> PostgreSQL -> dlt -> DuckDB -> dbt)."""
    key = str(tmp_path_factory.getbasetemp())
    if key not in _built:
        dsn = make_database()
        apply_schema(dsn)
        generate(dsn, customers=CUSTOMERS, months=MONTHS, seed=SEED, end_date=END_DATE)
        account = plant(dsn)
        root = Path(tmp_path_factory.mktemp("query"))
        chain = Chain(dsn=dsn, root=root, warehouse=root / "warehouse.duckdb", data_dir=root / "data")
        chain.ingest()
        chain.build()
        chain.publish()
        _built[key] = (chain, account)
    return _built[key][0]


def planted_account(tmp_path_factory: pytest.TempPathFactory) -> int:
    return _built[str(tmp_path_factory.getbasetemp())][1]


def plant(dsn: str) -> int:
    """Insert the planted interest charges (booked, before the first ingest); returns the account charged."""
    with psycopg.connect(dsn) as conn:
        account = conn.execute(
            "SELECT account_id FROM accounts WHERE account_type = 'current' AND opened_at < %s"
            " ORDER BY account_id LIMIT 1", (PLANTED_DAYS[0],)).fetchone()[0]
        next_id = conn.execute("SELECT coalesce(max(transaction_id), 0) + 1 FROM transactions").fetchone()[0]
        for i, day in enumerate(PLANTED_DAYS):
            conn.execute(
                "INSERT INTO transactions (transaction_id, account_id, transaction_type, amount, status, booked_at,"
                " description, created_at, updated_at) VALUES (%s, %s, 'interest_charge', %s, 'booked',"
                " %s::timestamptz, 'planted', %s::timestamptz, %s::timestamptz)",
                (next_id + i, account, -PLANTED_AMOUNT, f"{day} 09:00+00", f"{day} 09:00+00", f"{day} 09:00+00"))
    return int(account)


# -- fixtures shared by the query tests (`pytest_plugins = ["tests.query_support"]`): one warehouse per module -----
@pytest.fixture(scope="module")
def chain(make_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> Chain:
    return query_chain(make_database, tmp_path_factory)


@pytest.fixture(scope="module")
def sl(chain: Chain) -> Iterator[MetricFlowSemanticLayer]:
    sl = chain.semantic_layer()
    yield sl
    sl.engine.close()


@pytest.fixture(scope="module")
def qs(sl: MetricFlowSemanticLayer) -> QueryService:
    return query_service(sl)


def valid_blocks(blocks: list[dict[str, Any]]) -> None:
    """A message Slack accepts: at most 50 blocks, each valid for slack_sdk's Block Kit models (which check the
    limits of actions blocks, buttons, values and action ids too), sections within 3,000 characters."""
    assert len(blocks) <= MAX_BLOCKS
    for raw in blocks:
        block = Block.parse(raw)
        assert block is not None
        block.validate_json()
        if raw["type"] == "actions":  # slack_sdk does not validate nested elements by itself
            assert 1 <= len(block.elements) <= 25
            for element in block.elements:
                element.validate_json()
            ids = [e["action_id"] for e in raw["elements"]]
            assert len(ids) == len(set(ids)), ids  # unique within the block
        if raw["type"] == "section":
            assert len(raw["text"]["text"]) <= MAX_SECTION_CHARS
