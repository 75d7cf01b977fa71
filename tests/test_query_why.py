""""Why did it change": contributions add up exactly to the change, and the planted cause comes out on top."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest

from semantic_layer.errors import InvalidInputError
from semantic_layer.inputs import CustomerId, Month
from semantic_layer.policy import Audience, Principal
from semantic_layer.query_service import AccessRefusedError, QueryService
from semantic_layer.why import why
from tests.dbt_chain import Chain
from tests.query_support import PLANTED_AMOUNT, PLANTED_DAYS, PLANTED_MONTH, planted_account

DIRECTOR = Principal(frozenset({Audience.DIRECTOR}))
ADVISOR = Principal(frozenset({Audience.ADVISOR}))


pytest_plugins = ["tests.query_support"]  # chain, sl, qs: one warehouse per module


@pytest.mark.parametrize("metric", ["revenue", "transaction_volume", "transaction_count", "new_customers",
                                    "balance", "accounts_opened"])
@pytest.mark.parametrize("month", [Month(2025, 11), Month(2026, 1)])
def test_contributions_add_up_to_the_change(qs: QueryService, metric: str, month: Month) -> None:
    result = why(qs, ADVISOR, metric, month)
    assert result.change == result.current - result.previous
    assert result.breakdowns, "no dimension to split by"
    for breakdown in result.breakdowns:
        assert sum(c.change for c in breakdown.contributions) == result.change, breakdown.dimension
        assert sum(c.current for c in breakdown.contributions) == result.current, breakdown.dimension
    assert {b.dimension for b in result.breakdowns} == set(qs.catalog().metrics[result.metric].dimensions)


def test_the_planted_cause_is_the_top_contributor(qs: QueryService, chain: Chain,
                                                  tmp_path_factory: pytest.TempPathFactory) -> None:
    account = planted_account(tmp_path_factory)
    with psycopg.connect(chain.dsn) as conn:
        customer, country = conn.execute("SELECT c.customer_id, upper(trim(c.country)) FROM accounts a JOIN"
                                         " customers c USING (customer_id) WHERE a.account_id = %s",
                                         (account,)).fetchone()
    result = why(qs, ADVISOR, "revenue", PLANTED_MONTH)
    planted = PLANTED_AMOUNT * len(PLANTED_DAYS)
    assert result.change > planted / 2  # the plant dominates the month's change
    top = {b.dimension: b.contributions[0] for b in result.breakdowns}
    assert top["type"].value == "interest_charge"
    assert top["account_type"].value == "current"
    assert top["country"].value == country
    assert top["customer"].value == customer
    assert top["customer"].change >= planted - Decimal("50")  # the plant plus that customer's usual fees
    assert result.explains_most is not None
    # the customer's own move is the most concentrated one (one value carries nearly all the movement)
    assert result.explains_most.dimension in ("customer", "customer_name", "account")
    shares = [c.share_pct for c in result.breakdowns[0].contributions]
    assert shares[0] is not None and shares[0] > 90


def test_a_director_gets_no_customer_level_split_and_a_ratio_is_refused(qs: QueryService) -> None:
    result = why(qs, DIRECTOR, "revenue", PLANTED_MONTH)
    assert {b.dimension for b in result.breakdowns}.isdisjoint({"customer", "customer_name", "account"})
    top = {b.dimension: b.contributions[0] for b in result.breakdowns}
    assert top["type"].value == "interest_charge"
    with pytest.raises(InvalidInputError, match="cannot be split"):
        why(qs, DIRECTOR, "active_customers", PLANTED_MONTH)
    with pytest.raises(AccessRefusedError):
        why(qs, DIRECTOR, "withdrawals", PLANTED_MONTH)


def test_a_customer_why_is_about_their_own_accounts(qs: QueryService, tmp_path_factory: pytest.TempPathFactory,
                                                    chain: Chain) -> None:
    with psycopg.connect(chain.dsn) as conn:
        customer = conn.execute("SELECT customer_id FROM accounts WHERE account_id = %s",
                                (planted_account(tmp_path_factory),)).fetchone()[0]
    me = Principal(frozenset({Audience.CUSTOMER}), CustomerId(customer))
    result = why(qs, me, "revenue", PLANTED_MONTH)
    assert result.scoped_to == customer
    assert {b.dimension for b in result.breakdowns} <= {"type", "account_type", "account_status", "account"}
    everyone = why(qs, ADVISOR, "revenue", PLANTED_MONTH)
    assert result.current < everyone.current
