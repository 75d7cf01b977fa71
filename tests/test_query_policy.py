"""The access policy of the query model: role x metric x dimension, and customers confined to their own data.

The expected table is written out here, independently of semantic_layer/policy.py. A refused query must not reach
the warehouse: the engine's `query` and `fetch` are counted.
"""

from __future__ import annotations

from typing import Any

import pytest

from semantic_layer.catalog import DIMENSIONS, Grain
from semantic_layer.errors import InvalidInputError
from semantic_layer.inputs import CustomerId
from semantic_layer.policy import Audience, Principal
from semantic_layer.query import DimensionFilter, MetricQuery
from semantic_layer.query_service import AccessRefusedError, QueryService, query_service
from semantic_layer.service import MetricFlowSemanticLayer
from tests.dbt_chain import Chain, query

AGGREGATES = {
    "revenue", "transaction_volume", "transaction_count", "transaction_volume_p2p_once", "transaction_count_p2p_once",
    "balance", "current_balance", "balance_by_month", "accounts_opened", "revenue_by_month",
    "transaction_volume_by_month", "revenue_mom_growth", "transaction_volume_mom_growth", "new_customers",
    "new_customers_mom_growth", "customers", "active_customers", "customers_in_red_streak", "tier_customers",
    "tier_customers_by_month",
}
WATCHLIST = {"withdrawals", "loans_outstanding", "investments_held"}
OWN_ACCOUNTS = {"revenue", "transaction_volume", "transaction_count", "transaction_volume_p2p_once",
                "transaction_count_p2p_once", "balance", "current_balance", "balance_by_month", "accounts_opened",
                *WATCHLIST}
NON_IDENTIFYING = {"type", "tier", "country", "account_type", "account_status"}
CUSTOMER_LEVEL = {"customer", "customer_name", "account"}
EXPECTED: dict[Audience, tuple[set[str], set[str]]] = {
    Audience.DIRECTOR: (AGGREGATES, NON_IDENTIFYING),
    Audience.ADVISOR: (AGGREGATES | WATCHLIST, NON_IDENTIFYING | CUSTOMER_LEVEL),
    Audience.CUSTOMER: (OWN_ACCOUNTS, {"type", "account_type", "account_status", "account"}),
}


class Counting:
    """Counts the engine's warehouse calls (query and fetch) while delegating to it."""

    def __init__(self) -> None:
        self.calls = 0


pytest_plugins = ["tests.query_support"]  # chain, sl, qs: one warehouse per module


@pytest.fixture(scope="module")
def counter(sl: MetricFlowSemanticLayer) -> Counting:
    counting = Counting()
    engine: Any = sl.engine
    real_query, real_fetch = engine.query, engine.fetch

    def counted_query(*args: Any, **kwargs: Any) -> Any:
        counting.calls += 1
        return real_query(*args, **kwargs)

    def counted_fetch(*args: Any, **kwargs: Any) -> Any:
        counting.calls += 1
        return real_fetch(*args, **kwargs)

    engine.query, engine.fetch = counted_query, counted_fetch
    return counting


@pytest.fixture(scope="module")
def qs(sl: MetricFlowSemanticLayer, counter: Counting) -> QueryService:
    return query_service(sl)


@pytest.fixture(scope="module")
def customers(chain: Chain) -> tuple[int, int]:
    """Two customers with transactions: the asker and someone else."""
    rows = query(chain.warehouse, "select customer_id from analytics.fct_transactions group by 1 order by count(*) desc"
                                  " limit 2")
    return rows[0][0], rows[1][0]


def principal_of(audience: Audience, customer: int) -> Principal:
    return Principal(frozenset({audience}), CustomerId(customer) if audience is Audience.CUSTOMER else None)


@pytest.mark.parametrize("audience", list(Audience))
def test_role_x_metric_x_dimension(qs: QueryService, counter: Counting, customers: tuple[int, int],
                                   audience: Audience) -> None:
    principal = principal_of(audience, customers[0])
    metrics_ok, dims_ok = EXPECTED[audience]
    catalog = qs.catalog()
    assert {a.info.name for a in qs.askable(principal)} == metrics_ok
    refused_reached = []
    for metric, info in sorted(catalog.metrics.items()):
        for dim in (None, *(d.key for d in DIMENSIONS)):
            q = MetricQuery((metric,), () if dim is None else (dim,), Grain.MONTH if Grain.MONTH in info.grains
                            else None)
            allowed = metric in metrics_ok and (dim is None or dim in dims_ok)
            before = counter.calls
            if not allowed:
                with pytest.raises(AccessRefusedError) as refused:
                    qs.run(principal, q)
                assert "You can" in str(refused.value)  # says what may be asked instead
                if counter.calls != before:
                    refused_reached.append((metric, dim))
            elif dim is not None and dim not in info.dimensions:
                with pytest.raises(InvalidInputError, match="cannot be broken down"):
                    qs.run(principal, q)
                assert counter.calls == before, "a dimension the metric lacks is refused before the warehouse"
            else:
                answer = qs.run(principal, q)
                assert answer.scoped_to == (customers[0] if audience is Audience.CUSTOMER else None)
    assert not refused_reached, f"refused queries reached the warehouse: {refused_reached}"


def test_a_customer_cannot_reach_another_customer(qs: QueryService, counter: Counting, chain: Chain,
                                                  customers: tuple[int, int]) -> None:
    me, other = customers
    principal = principal_of(Audience.CUSTOMER, me)
    before = counter.calls
    for q in (
        MetricQuery(("transaction_volume",), ("customer",)),
        MetricQuery(("transaction_volume",), filters=(DimensionFilter("customer", (str(other),)),)),
        MetricQuery(("transaction_volume",), filters=(DimensionFilter("customer_name", ("x",)),)),
        MetricQuery(("transaction_volume",), ("tier",)),
        MetricQuery(("new_customers",)),
        MetricQuery(("customers",), ("account",)),
    ):
        with pytest.raises(AccessRefusedError):
            qs.run(principal, q)
    assert counter.calls == before
    # another customer's account as a filter value: not among the asker's own values
    theirs = query(chain.warehouse, "select account_id from analytics.dim_accounts where customer_id = ?", [other])
    with pytest.raises(InvalidInputError, match="is not a known account value"):
        qs.run(principal, MetricQuery(("transaction_volume",), filters=(DimensionFilter("account",
                                                                                        (str(theirs[0][0]),)),)))
    # what the customer gets is their own total, never the company's
    mine = qs.run(principal, MetricQuery(("transaction_volume",))).rows[0][0]
    everyone = qs.run(Principal(frozenset({Audience.DIRECTOR})), MetricQuery(("transaction_volume",))).rows[0][0]
    own_total = query(chain.warehouse, "select sum(absolute_amount) from analytics.fct_transactions where customer_id"
                                       " = ?", [me])[0][0]
    assert mine == own_total and mine < everyone


def test_staff_who_is_also_a_customer_is_answered_as_staff(qs: QueryService, customers: tuple[int, int]) -> None:
    both = Principal(frozenset({Audience.DIRECTOR, Audience.CUSTOMER}), CustomerId(customers[0]))
    assert both.scope is None
    assert qs.run(both, MetricQuery(("new_customers",))).scoped_to is None


def test_a_customer_principal_needs_its_id() -> None:
    with pytest.raises(TypeError):
        Principal(frozenset({Audience.CUSTOMER}))
