"""The plain-English parser on its own (manifest-only catalog, pinned load): governed synonyms reach the catalog,
dates resolve against any as-of date (the boundary days of tests/clock.py), and no text makes it raise or answer
outside the vocabulary, the catalog or the asker's access (Hypothesis)."""

from __future__ import annotations

import calendar
import dataclasses
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from semantic_layer.nl import Outcome, Vocabulary, understand
from semantic_layer.nl.evaluation import principal
from semantic_layer.policy import may_ask_metric, may_use_dimension
from semantic_layer.query import Period, PeriodKind
from tests.clock import BOUNDARY_DATES
from tests.test_nl_eval import vocab

__all__ = ["vocab"]  # the manifest-only vocabulary fixture of tests/test_nl_eval.py


def test_governed_synonyms_reach_the_catalog(vocab: Vocabulary) -> None:
    catalog = vocab.catalog
    assert {"income", "earnings"} <= set(catalog.metrics["revenue"].synonyms)
    assert "sign-ups" in catalog.metrics["new_customers"].synonyms
    assert "overdrawn" in catalog.metrics["customers_in_red_streak"].synonyms
    assert ("FR", ("france", "french")) in catalog.dimension_words["country"].value_synonyms
    assert catalog.dimension_words["account_type"].match_raw_values is False


def _at(vocab: Vocabulary, as_of: date) -> Vocabulary:
    return Vocabulary.of(vocab.catalog, as_of, vocab.values)


def _month_days(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


@pytest.mark.parametrize("as_of", BOUNDARY_DATES)
def test_relative_dates_resolve_against_the_as_of_date(vocab: Vocabulary, as_of: date) -> None:
    v = _at(vocab, as_of)
    director = principal("director")

    def period(text: str) -> tuple[date, date]:
        got = understand(text, v, director)
        assert got.outcome is Outcome.ANSWER and got.best is not None, (text, got.message)
        resolved = got.best.query.period.resolve(as_of)  # type: ignore[union-attr]
        return resolved.first, resolved.last

    prev = as_of.replace(day=1) - timedelta(days=1)
    assert period("revenue last month") == _month_days(prev.year, prev.month)
    assert period("revenue this month") == (as_of.replace(day=1), as_of)
    assert period("revenue year to date") == (date(as_of.year, 1, 1), as_of)
    assert period("revenue last year") == (date(as_of.year - 1, 1, 1), date(as_of.year - 1, 12, 31))
    assert period("revenue in the last 30 days") == (as_of - timedelta(days=29), as_of)
    assert period("revenue yesterday") == (as_of - timedelta(days=1),) * 2
    monday = as_of - timedelta(days=as_of.weekday())
    assert period("revenue last week") == (monday - timedelta(days=7), monday - timedelta(days=1))
    december = as_of.year if as_of.month == 12 else as_of.year - 1
    assert period("revenue in december") == (date(december, 12, 1), min(date(december, 12, 31), as_of))
    march = as_of.year if as_of.month >= 3 else as_of.year - 1
    assert period("revenue since march") == (date(march, 3, 1), as_of)
    assert period("revenue over the last 3 months")[1] == prev
    q = (as_of.month - 1) // 3
    first_of_quarter = date(as_of.year, 3 * q + 1, 1)
    last_q_end = first_of_quarter - timedelta(days=1)
    assert period("revenue last quarter")[1] == last_q_end
    assert understand("revenue next year", v, director).outcome is Outcome.REFUSE


_WORDS = ["revenue", "by", "tier", "gold", "customer", "42", "my", "balance", "last", "month", "since", "march",
          "compared", "with", "year", "top", "10", "customers", "per", "week", "withdrawals", "card", "payments",
          "how", "many", "much", "FR", "france", "growth", "weather", "<!channel>", "’s", "2026-13", "q5", "*_~",
          "'", "-", "all", "the", "bank", "of", "in", "daily", "new", "signups", "vs", "savings", "accounts"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.one_of(st.sampled_from(_WORDS), st.text(max_size=12)), max_size=14),
       role=st.sampled_from(["director", "advisor", "customer"]))
def test_fuzz_never_raises_never_answers_outside_catalog_or_access(vocab: Vocabulary, words: list[str],
                                                                  role: str) -> None:
    asker = principal(role)
    got = understand(" ".join(words), vocab, asker)
    assert isinstance(got.outcome, Outcome)
    if got.outcome is not Outcome.ANSWER:
        return
    assert got.best is not None
    query = got.best.query
    assert all(m in vocab.catalog.metrics and may_ask_metric(asker, m) for m in query.metrics)
    for f in query.filters:
        assert may_use_dimension(asker, f.dimension)
        if f.dimension == "customer":
            assert all(v.isdigit() for v in f.values)
        else:
            assert set(f.values) <= set(vocab.values[f.dimension])
    assert all(may_use_dimension(asker, d) for d in query.group_by)
    if asker.scope is not None:  # a customer's question never names a customer: identity scopes it
        assert "customer" not in {f.dimension for f in query.filters} | set(query.group_by)
    assert dataclasses.asdict(query)  # typed all the way down


@pytest.mark.parametrize("question", [
    "revenue by tier monthly last quarter", "withdrawals of customer 42 per month this year",
    "top 5 customers by revenue last quarter", "card payments per week since june", "new customers last 6 months",
    "revenue from french and german customers in 2025", "transaction volume on 2026-09-30",
])
def test_a_reading_is_also_a_metric_command(vocab: Vocabulary, question: str) -> None:
    """A candidate reading is offered as the `/finefin metric …` command that asks exactly it."""
    from bot.commands.ask import to_grammar
    from bot.commands.grammar import parse

    got = understand(question, vocab, principal("advisor"))
    assert got.outcome is Outcome.ANSWER and got.best is not None, got.message
    query = got.best.query
    typed = parse(to_grammar(query).removeprefix("metric "), vocab.catalog)
    assert (typed.metrics, typed.group_by, typed.grain, typed.period, typed.limit) == (
        query.metrics, query.group_by, query.grain, query.period, query.limit)
    assert {f.dimension: set(f.values) for f in typed.filters} == {f.dimension: set(f.values) for f in query.filters}


def test_a_clarification_offers_its_readings(vocab: Vocabulary) -> None:
    got = understand("growth by tier last month", vocab, principal("director"))
    assert got.outcome is Outcome.CLARIFY
    assert {r.query.metrics[0] for r in got.readings} == {"revenue_mom_growth", "transaction_volume_mom_growth",
                                                          "new_customers_mom_growth"}
    assert all(r.query.group_by == ("tier",) and r.query.period == Period(PeriodKind.LAST_MONTH)
               for r in got.readings)


def test_the_question_head_and_the_metric_kind_must_agree(vocab: Vocabulary) -> None:
    """"how much" read as a count, or "how many" as an amount, is never confident: the other kind is offered."""
    director, advisor = principal("director"), principal("advisor")
    worth = understand("how much is the customer base worth", vocab, director)
    assert worth.outcome is Outcome.CLARIFY
    assert worth.message.startswith("You asked for an amount of money, but Customers is a count")
    offered = [r.query.metrics[0] for r in worth.readings]
    assert offered[0] == "customers" and "current_balance" in offered
    loans = understand("how many loans do we have outstanding", vocab, advisor)
    assert loans.outcome is Outcome.CLARIFY and loans.message.startswith("You asked how many, but Loans outstanding")
    assert "transaction_count" in [r.query.metrics[0] for r in loans.readings]
    value = understand("value of accounts opened last month", vocab, director)
    assert value.outcome is Outcome.CLARIFY  # "the value of" a count: not sure either
    euros = understand("how many euros of transactions this year", vocab, director)
    assert euros.outcome is Outcome.CLARIFY and "transaction_volume" in [r.query.metrics[0] for r in euros.readings]
    for text, who in (("how much is in my accounts", principal("customer")),
                      ("how much do gold customers have in their accounts", advisor)):
        held = understand(text, vocab, who)  # money held: the balance, not a count of accounts or customers
        assert held.outcome is Outcome.ANSWER and held.best is not None
        assert held.best.query.metrics == ("current_balance",), text
    counted = understand("how many accounts were opened last month", vocab, director)
    assert counted.outcome is Outcome.ANSWER and counted.best.query.metrics == ("accounts_opened",)  # type: ignore


def test_the_metrics_offered_for_generic_questions_are_governed_in_the_dbt_yaml(vocab: Vocabulary) -> None:
    """The reader names no metric for "the money held", "a count of customers"…: each such question is answered by
    the one metric whose `config.meta.default_for` lists it, so moving it in the YAML moves the reading."""
    from semantic_layer.catalog import Catalog
    from semantic_layer.nl.parser import DEFAULT_QUESTIONS

    catalog = vocab.catalog
    for question in DEFAULT_QUESTIONS:
        declared = [name for name, info in catalog.metrics.items() if question in info.default_for]
        assert len(declared) == 1, (question, declared)
    assert catalog.default_for("money held now") == "current_balance"
    assert catalog.default_for("count of customers") == "customers"
    # the YAML says the money moved is answered by revenue (and the money held now by the dated balance): followed
    moved = {"transaction_volume": (), "revenue": ("money charged", "money moved"), "current_balance": (),
             "balance": ("money held on a date", "money held now")}
    metrics = {name: dataclasses.replace(info, default_for=moved.get(name, info.default_for))
               for name, info in catalog.metrics.items()}
    edited = Vocabulary.of(Catalog(catalog.load_id, metrics, catalog.dimension_words), vocab.as_of, vocab.values)
    director = principal("director")
    before = [r.query.metrics[0] for r in understand("how much is the customer base worth", vocab, director).readings]
    after = [r.query.metrics[0] for r in understand("how much is the customer base worth", edited, director).readings]
    assert {"current_balance", "transaction_volume"} <= set(before)
    assert {"balance", "revenue"} <= set(after) and not {"current_balance", "transaction_volume"} & set(after)
    held = understand("how much is in my accounts", edited, principal("customer"))
    assert held.best is not None and held.best.query.metrics == ("balance",)


def test_history_is_a_series_and_a_comparison_may_come_first(vocab: Vocabulary) -> None:
    director = principal("director")
    for text in ("revenue history", "transaction volume over time", "withdrawals trend for customer 12"):
        got = understand(text, vocab, principal("advisor") if "withdrawals" in text else director)
        assert got.outcome is Outcome.ANSWER and got.best is not None, (text, got.message)
        assert got.best.query.grain is not None and got.best.query.grain.value == "month", text
    mine = understand("my balance history", vocab, principal("customer"))
    assert mine.best is not None and mine.best.query.metrics == ("balance",)  # month-end balances, not today's
    first = understand("revenue vs last year for august", vocab, director)
    assert first.outcome is Outcome.ANSWER and first.best is not None
    resolved = first.best.query.period.resolve(vocab.as_of)  # type: ignore[union-attr]
    assert first.best.compare is not None
    compared = first.best.compare.resolve(vocab.as_of)
    assert (compared.first.year, compared.first.month) == (resolved.first.year - 1, 8) and resolved.first.month == 8
    assert understand("how did september go", vocab, director).outcome is Outcome.CLARIFY
    assert understand("when did i open my account", vocab, principal("customer")).outcome is Outcome.REFUSE


def test_a_word_naming_two_values_is_asked_with_a_reading_for_each(vocab: Vocabulary) -> None:
    got = understand("interest last year", vocab, principal("director"))
    assert got.outcome is Outcome.CLARIFY and "“interest” can mean several things" in got.message
    read = {(r.query.metrics, r.query.filters[0].values) for r in got.readings}
    assert read == {(("revenue",), ("interest_charge",)), (("transaction_volume",), ("interest_payout",))}
    assert all(r.confidence < 0.6 for r in got.readings)
    settled = understand("how much interest did we pay to savers last year", vocab, principal("director"))
    assert settled.outcome is Outcome.ANSWER and settled.best is not None
    assert settled.best.query.filters[0].values == ("interest_payout",)


def test_a_customer_may_ask_about_money_to_or_from_other_people(vocab: Vocabulary) -> None:
    me = principal("customer")
    got = understand("money i received from other people last month", vocab, me)
    assert got.outcome is Outcome.ANSWER and got.best is not None
    assert got.best.query.filters[0].values == ("p2p_in",)
    assert understand("what do other people spend", vocab, me).outcome is Outcome.REFUSE
    assert understand("revenue of all customers", vocab, me).outcome is Outcome.REFUSE
