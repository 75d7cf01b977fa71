"""Advisors ask about a customer by full name (issue 15, with issue 14 item 2): the name, read against the load's
customers with typos, accents and case tolerated, becomes the typed filter on the customer's id; a name several
customers share, or a first or last name alone, is a clarification listing them by id (never a guess); directors and
customers are refused as before. Unit level on the manifest-only vocabulary with a planted list of names, at 100k
synthetic names (the index is built once per load and stays cheap), and once through the real query path on
tests/query_support.py's warehouse: the answer equals the id-filtered answer."""

from __future__ import annotations

import json
import random
import statistics
import time

import pytest

from bot.access import Identity
from bot.assistant import AccessDenied, Assistant
from bot.commands.context import principal_of
from semantic_layer.catalog import Grain
from semantic_layer.nl import Outcome, Vocabulary, understand
from semantic_layer.nl.evaluation import principal
from semantic_layer.nl.live import vocabulary_of
from semantic_layer.nl.names import NameIndex, name_key
from semantic_layer.nl.parser import CONFIDENT
from semantic_layer.nl.vocabulary import fold
from semantic_layer.query import DimensionFilter, MetricQuery, Period, PeriodKind
from semantic_layer.query_service import QueryService
from tests.dbt_chain import Chain, query
from tests.test_nl_eval import vocab
from tests.test_query_bot import assistant, people

pytest_plugins = ["tests.query_support"]  # chain, sl, qs: one warehouse per module
__all__ = ["assistant", "people", "vocab"]

CUSTOMERS = [(42, "Marie Dupont"), (77, "Camille Lefèvre"), (1234, "Lucas Moreau"), (1300, "Lucas Moreau"),
             (500, "Nathalie Dupont"), (501, "Hugo Dupont"), (9, "Zoé <!channel> *Bold*")]


@pytest.fixture(scope="module")
def named(vocab: Vocabulary) -> Vocabulary:
    return Vocabulary.of(vocab.catalog, vocab.as_of, vocab.values, NameIndex.of(CUSTOMERS))


def _customer_filter(got) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    return next(f.values for f in got.best.query.filters if f.dimension == "customer")


@pytest.mark.parametrize("text", ["how much does camille lefevre owe", "How much does Camille Lefèvre owe?",
                                  "how much does CAMILLE LEFEVRE owe", "how much does camile lefevre owe",
                                  "how much does camille lefèvr owe"])
def test_a_full_name_is_the_filter_on_the_customers_id(named: Vocabulary, text: str) -> None:
    got = understand(text, named, principal("advisor"))
    assert got.outcome is Outcome.ANSWER, got.message
    assert got.best is not None and got.best.query.metrics == ("loans_outstanding",)
    assert got.best.query.filters == (DimensionFilter("customer", ("77",)),)  # the id, never the name text
    assert ("camille lefevre" in fold(text)) == (got.corrections[0][0] == "camille lefevre")
    assert got.corrections[0][1] == "Camille Lefèvre (customer 77)"  # said beside the answer


def test_the_rest_of_the_question_reads_as_with_an_id(named: Vocabulary) -> None:
    advisor = principal("advisor")
    by_name = understand("withdrawals of Marie Dupont per month this year", named, advisor)
    by_id = understand("withdrawals of customer 42 per month this year", named, advisor)
    assert by_name.best is not None and by_id.best is not None
    assert by_name.best.query == by_id.best.query
    assert by_name.best.query.grain is Grain.MONTH
    client = understand("balance of client marie dupont", named, advisor)  # "client <name>": one customer word
    assert client.outcome is Outcome.ANSWER and _customer_filter(client) == ("42",)


def test_a_shared_name_asks_which_customer_by_id(named: Vocabulary) -> None:
    got = understand("how much does lucas moreau owe", named, principal("advisor"))
    assert got.outcome is Outcome.CLARIFY
    assert "customer 1234" in got.message and "customer 1300" in got.message
    assert [r.query.filters for r in got.readings] == [(DimensionFilter("customer", ("1234",)),),
                                                       (DimensionFilter("customer", ("1300",)),)]
    assert all(r.confidence < CONFIDENT for r in got.readings)  # offered as buttons, none answered


def test_a_first_or_last_name_alone_is_never_a_guess(named: Vocabulary) -> None:
    advisor = principal("advisor")
    dupont = understand("balance of dupont", named, advisor)  # three Duponts
    assert dupont.outcome is Outcome.CLARIFY
    assert all(f"customer {i}" in dupont.message for i in (42, 500, 501))
    camille = understand("how much does camille owe", named, advisor)  # a single Camille: still asked
    assert camille.outcome is Outcome.CLARIFY and "customer 77" in camille.message
    many = Vocabulary.of(named.catalog, named.as_of, named.values,
                         NameIndex.of([(i, f"Sophie Name{chr(97 + i % 26)}{i}") for i in range(1, 40)]))
    sophie = understand("balance of sophie", many, advisor)
    assert sophie.outcome is Outcome.REFUSE and "39 customers" in sophie.message


def test_directors_and_customers_are_refused_and_learn_nothing(named: Vocabulary) -> None:
    for role in ("director", "customer"):
        for text in ("how much does camille lefevre owe", "balance of lucas moreau", "balance of dupont"):
            got = understand(text, named, principal(role))
            assert got.outcome is Outcome.REFUSE, (role, text)
            assert not got.readings and "customer 77" not in got.message and "1234" not in got.message


def test_names_from_data_are_escaped_in_slack(named: Vocabulary) -> None:
    from bot.commands.ask import clarification

    got = understand("balance of zoe channel bold", named, principal("advisor"))
    assert got.outcome is Outcome.ANSWER and _customer_filter(got) == ("9",)
    assert got.corrections[0][1] == "Zoé <!channel> *Bold* (customer 9)"
    shown = json.dumps(clarification(got, "?", []).blocks, ensure_ascii=False)
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown


def test_the_index_is_cheap_at_100k_customers(vocab: Vocabulary) -> None:
    rng = random.Random(15)
    first = [f"First{a}{b}" for a in "abcdefghij" for b in "klmnopqrst"]  # 100 first names
    last = [f"Lastname{a}{b}{c}" for a in "abcdefghij" for b in "klmnopqrst" for c in "uvwxy"]  # 500 last names
    customers = [(i, f"{rng.choice(first)} {rng.choice(last)}") for i in range(1, 100_001)]
    customers.append((100_001, "Marie Dupont"))
    started = time.perf_counter()
    index = NameIndex.of(customers)
    built = time.perf_counter() - started
    big = Vocabulary.of(vocab.catalog, vocab.as_of, vocab.values, index)
    advisor = principal("advisor")
    timings = []
    for text in ["withdrawals of marie dupnt this year", "revenue by tier last quarter",
                 "how much does customer 42 owe", "balance of firstak lastnameaku"] * 10:
        started = time.perf_counter()
        understand(text, big, advisor)
        timings.append(time.perf_counter() - started)
    p95 = statistics.quantiles(timings, n=20)[-1]
    print(f"\n100k names: index built in {built * 1000:.0f} ms, parse p95 {p95 * 1000:.1f} ms")
    assert len(index) == 100_001
    assert built < 5.0 and p95 < 0.1  # generous bounds on a shared 2-core machine (measured: see the report)
    got = understand("withdrawals of marie dupnt this year", big, advisor)
    assert got.outcome is Outcome.ANSWER and _customer_filter(got) == ("100001",)


# -- through the real query path (tests/query_support.py's warehouse) ---------------------------------------------
def test_by_name_equals_by_id_on_the_warehouse(assistant: Assistant, people: dict[str, Identity], qs: QueryService,
                                               chain: Chain) -> None:
    rows = query(chain.warehouse, "select customer_id, full_name from analytics.dim_customers order by customer_id")
    keys: dict[tuple[str, ...], list[int]] = {}
    for customer_id, full_name in rows:
        keys.setdefault(name_key(full_name), []).append(int(customer_id))
    customer_id, full_name = next((c, n) for c, n in rows if len(keys[name_key(n)]) == 1)
    vocab_ = vocabulary_of(qs)
    assert vocab_.names is not None and len(vocab_.names) == len(rows)  # every customer of the load
    advisor = people["advisor"]
    asked = full_name.lower().replace("é", "e")  # as an advisor types it
    answer = assistant.answer_for(advisor, f"withdrawals of {asked} this year")
    assert answer.ok
    assert answer.data.query.filters == (DimensionFilter("customer", (str(customer_id),)),)
    same = qs.run(principal_of(advisor), MetricQuery(
        ("withdrawals",), filters=(DimensionFilter("customer", (str(customer_id),)),),
        period=Period(PeriodKind.THIS_YEAR)))
    assert answer.data.rows == same.rows
    assert f"(customer {customer_id})" in json.dumps(answer.blocks, ensure_ascii=False)
    shared = next((n for n, ids in keys.items() if len(ids) > 1), None)
    assert shared is not None  # seeded data: 120 customers over ~2,100 names share some
    asked_shared = assistant.answer_for(advisor, f"how much does {' '.join(shared)} owe")
    assert not asked_shared.ok and all(f"customer {i}" in asked_shared.text for i in keys[shared][:5])
    with pytest.raises(AccessDenied):
        assistant.answer_for(people["director"], f"withdrawals of {asked} this year")
