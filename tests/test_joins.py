"""The inner-join rewrite (semantic_layer/joins.py): declared only where the dbt tests prove every row matches,
applied only to the joins it can prove, and giving the same rows as MetricFlow's SQL as generated."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from semantic_layer.catalog import Grain
from semantic_layer.joins import META_KEY, MatchedJoins, inner_joins, matched_joins
from semantic_layer.policy import Audience, Principal
from semantic_layer.query import DimensionFilter, MetricQuery
from semantic_layer.query_service import QueryService

pytest_plugins = ["tests.query_support"]  # chain, sl, qs: one warehouse per module

DBT = Path(__file__).resolve().parents[1] / "dbt"
ADVISOR = Principal(frozenset({Audience.ADVISOR}))


# -- the declaration matches the dbt tests ------------------------------------------------------------------------
def _yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def _model_specs() -> dict[str, dict[str, Any]]:
    specs = {}
    for path in (DBT / "models").rglob("*.yml"):
        for model in _yaml(path).get("models") or []:
            specs[model["name"]] = model
    return specs


def _ref(text: str) -> str:
    found = re.fullmatch(r"\s*ref\('(\w+)'\)\s*", text)
    assert found, text
    return found.group(1)


def _tests(spec: dict[str, Any], column: str) -> tuple[bool, set[tuple[str, str]]]:
    """(not null, {(referenced model, field)}) as the model's YAML tests declare them for `column`."""
    not_null = False
    references: set[tuple[str, str]] = set()
    for test in spec.get("data_tests") or []:
        if isinstance(test, dict) and "not_null_columns" in test:
            not_null |= column in test["not_null_columns"]["arguments"]["column_names"]
    for col in spec.get("columns") or []:
        if col["name"] != column:
            continue
        for test in col.get("data_tests") or []:
            if test == "not_null":
                not_null = True
            elif isinstance(test, dict) and "not_null" in test:
                not_null |= not (test["not_null"] or {}).get("config", {}).get("where")  # a partial one is not enough
            elif isinstance(test, dict) and "relationships" in test:
                rel = test["relationships"]
                args = rel.get("arguments", rel)
                assert (rel.get("config") or {}).get("severity", "error") == "error"
                references.add((_ref(args["to"]), args["field"]))
    return not_null, references


def test_each_flagged_entity_is_proved_by_not_null_and_relationships_tests() -> None:
    semantic = [m for p in sorted((DBT / "models").rglob("*.yml")) for m in _yaml(p).get("semantic_models") or []]
    primaries = {(_ref(m["model"]), e["name"]): e.get("expr") or e["name"]
                 for m in semantic for e in m["entities"] if e["type"] == "primary"}
    specs = _model_specs()
    flagged = []
    for model in semantic:
        for entity in model["entities"]:
            declared = ((entity.get("config") or {}).get("meta") or {}).get(META_KEY)
            if declared is None:
                continue
            assert entity["type"] == "foreign" and isinstance(declared, list) and declared, entity
            table, column = _ref(model["model"]), entity.get("expr") or entity["name"]
            not_null, references = _tests(specs[table], column)
            assert not_null, f"{table}.{column} has no not_null test: it cannot declare {META_KEY}"
            for target in declared:
                key = primaries[(target, entity["name"])]  # the entity is primary there
                assert (target, key) in references, f"{table}.{column} has no relationships test to {target}.{key}"
            flagged.append((table, column))
    # the tests fail the build (a build that fails them is not published)
    assert _yaml(DBT / "dbt_project.yml")["tests"]["finefin"]["+severity"] == "error"
    assert ("fct_transactions", "customer_id") in flagged and ("fct_transactions", "account_id") in flagged
    # fct_account_balances_current.customer_id has no relationships test: it must not be flagged
    assert ("fct_account_balances_current", "customer_id") not in flagged


# -- the rewrite on SQL as MetricFlow renders it --------------------------------------------------------------------
FACT, DIM, OTHER = '"w"."a"."fct_transactions"', '"w"."a"."dim_customers"', '"w"."a"."fct_account_balances_current"'
JOINS = MatchedJoins(primaries={(DIM, "customer_id"): "customer", (OTHER, "customer_id"): "customer"},
                     flagged=frozenset({(FACT, "customer_id", DIM)}))

DIRECT = f"""SELECT
  customers_src_1.tier AS customer__tier
  , SUM(transactions_src_1.absolute_amount) AS transaction_volume
FROM {FACT} transactions_src_1
LEFT OUTER JOIN
  {DIM} customers_src_1
ON
  transactions_src_1.customer_id = customers_src_1.customer_id
GROUP BY
  customers_src_1.tier
"""

SUBQUERY = f"""SELECT
  metric_time__month
  , SUM(transaction_count) AS transaction_count
FROM (
  -- Join Standard Outputs
  -- Select: ['__transaction_count', 'customer__tier', 'metric_time__month']
  SELECT
    subq_1.metric_time__month AS metric_time__month
    , customers_src_1.tier AS customer__tier
    , subq_1.__transaction_count AS transaction_count
  FROM (
    -- Read Elements From Semantic Model 'transactions'
    -- Metric Time Dimension 'booked_date'
    SELECT
      DATE_TRUNC('month', booked_date) AS metric_time__month
      , customer_id AS customer
      , 1 AS __transaction_count
    FROM {FACT} transactions_src_1
    WHERE transaction_type IN ('a)', 'b')
  ) subq_1
  LEFT OUTER JOIN
    {DIM} customers_src_1
  ON
    subq_1.customer = customers_src_1.customer_id
) subq_6
WHERE customer__tier IN ('Gold', 'Diamond')
GROUP BY
  metric_time__month
"""


ACCOUNTS = '"w"."a"."dim_accounts"'
CHAINED = f"""SELECT
  accounts_src_1.account_type AS account__account_type
  , customers_src_1.tier AS customer__tier
  , transactions_src_1.revenue_amount AS revenue
FROM {FACT} transactions_src_1
LEFT OUTER JOIN
  {ACCOUNTS} accounts_src_1
ON
  transactions_src_1.account_id = accounts_src_1.account_id
LEFT OUTER JOIN
  {DIM} customers_src_1
ON
  transactions_src_1.customer_id = customers_src_1.customer_id
"""
CHAINED_JOINS = MatchedJoins(
    primaries={**JOINS.primaries, (ACCOUNTS, "account_id"): "account"},
    flagged=JOINS.flagged | {(FACT, "account_id", ACCOUNTS)})


def test_a_join_from_a_flagged_column_becomes_an_inner_join() -> None:
    assert inner_joins(DIRECT, JOINS) == DIRECT.replace("LEFT OUTER JOIN", "INNER JOIN")
    assert inner_joins(SUBQUERY, JOINS) == SUBQUERY.replace("LEFT OUTER JOIN", "INNER JOIN")
    assert inner_joins(CHAINED, CHAINED_JOINS) == CHAINED.replace("LEFT OUTER JOIN", "INNER JOIN")


def test_each_join_of_a_chain_is_judged_alone() -> None:
    only_customers = inner_joins(CHAINED, JOINS)  # the accounts join is not declared: it stays
    assert only_customers.count("LEFT OUTER JOIN") == 1 and only_customers.count("INNER JOIN") == 1
    assert only_customers.index("LEFT OUTER JOIN") < only_customers.index(ACCOUNTS) < only_customers.index(
        "INNER JOIN") < only_customers.index(DIM)
    # after a full outer join the fact's columns can be null: the next join stays as it is
    full = CHAINED.replace("LEFT OUTER JOIN\n  " + ACCOUNTS, "FULL OUTER JOIN\n  " + ACCOUNTS)
    assert inner_joins(full, CHAINED_JOINS) == full
    # a join on the previous joined table's column (a multi-hop join) is not the fact's column
    hop = CHAINED.replace("transactions_src_1.customer_id = ", "accounts_src_1.customer_id = ")
    assert inner_joins(hop, CHAINED_JOINS).count("LEFT OUTER JOIN") == 1


@pytest.mark.parametrize("sql", [
    DIRECT.replace(FACT, OTHER),  # a table whose column is not flagged
    SUBQUERY.replace(FACT, OTHER),
    DIRECT.replace("transactions_src_1.customer_id = ", "transactions_src_1.counterparty_id = "),  # another column
    DIRECT.replace(f"{DIM} customers_src_1", f"{FACT} customers_src_1"),  # no entity is primary there
    DIRECT.replace(f"{DIM} customers_src_1", f"{OTHER} customers_src_1"),  # primary there, but not declared
    DIRECT.replace("customers_src_1.customer_id\n", "customers_src_1.customer_id\n  AND x.y = z.w\n"),  # compound
    SUBQUERY.replace(f"FROM {FACT} transactions_src_1\n",  # the left side went through another join
                     f"FROM {FACT} transactions_src_1\n    LEFT OUTER JOIN t s ON s.day = booked_date\n"),
    SUBQUERY.replace(f"FROM {FACT} transactions_src_1\n",  # ... or reads a subquery (a time spine, an offset)
                     f"FROM (SELECT * FROM {FACT} x) transactions_src_1\n"),
    SUBQUERY.replace("customer_id AS customer", "account_id AS customer"),  # the entity's name on another column
])
def test_a_join_it_cannot_prove_is_left_as_metricflow_wrote_it(sql: str) -> None:
    assert "LEFT OUTER JOIN" in sql
    assert inner_joins(sql, JOINS) == sql


def test_nothing_flagged_changes_nothing() -> None:
    assert inner_joins(DIRECT, MatchedJoins(JOINS.primaries, frozenset())) == DIRECT


# -- on the published warehouse: the manifest's declaration, and the same rows with and without --------------------
def test_the_published_manifest_declares_the_tested_joins(qs: QueryService) -> None:
    joins = matched_joins(qs.engine.manifest)
    name = lambda table: table.rsplit(".", 1)[-1].strip('"')  # noqa: E731
    tables = {(name(left), name(right), column) for left, column, right in joins.flagged}
    assert ("fct_transactions", "dim_customers", "customer_id") in tables
    assert ("fct_transactions", "dim_accounts", "account_id") in tables
    assert not any("fct_account_balances_current" in t for t in tables)


def _rows(qs: QueryService, query: MetricQuery, rewrite: bool) -> tuple:
    qs.engine.inner_joins = rewrite
    qs.engine.cache.clear()
    try:
        return qs.run(ADVISOR, query).rows
    finally:
        qs.engine.inner_joins = True


def test_every_metric_by_every_dimension_gives_the_same_rows_with_and_without_the_rewrite(qs: QueryService) -> None:
    rewritten = 0
    for askable in qs.askable(ADVISOR):
        info = askable.info
        grain = Grain.MONTH if Grain.MONTH in info.grains else None
        for dim in askable.dimensions:
            query = MetricQuery((info.name,), (dim,), grain)
            assert _rows(qs, query, True) == _rows(qs, query, False), (info.name, dim)
            plans = [p for p in qs.engine.plans._items.values() if p]
            rewritten = sum("INNER JOIN" in p for p in plans)
    assert rewritten > 0  # the rewrite did apply to some of them


def test_a_filter_on_a_joined_dimension_gives_the_same_rows(qs: QueryService) -> None:
    query = MetricQuery(("transaction_count", "transaction_volume"), ("type",), Grain.MONTH,
                        filters=(DimensionFilter("tier", ("Gold", "Bronze")),))
    with_rewrite = _rows(qs, query, True)
    assert with_rewrite and with_rewrite == _rows(qs, query, False)
