"""A follow-up in the thread of an answer, read against the query it follows: "and by tier?", "same for last year",
"only Gold", "monthly", "what about transaction volume?", "as a chart". The result is a whole new `MetricQuery`
that goes through the same checks (access, catalog) as a first question; words that change nothing known get a
clarification, never a guess.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from semantic_layer.catalog import Grain
from semantic_layer.nl.dates import DATE_WORDS, find_period
from semantic_layer.nl.parser import (
    FUNCTION,
    GRAIN_NOUNS,
    VAGUE,
    Outcome,
    Reading,
    Understanding,
    _clarify,
    _corrected,
    _customer_ids,
    _groupings,
    _Parse,
    _phrases,
    _refuse,
    checked,
)
from semantic_layer.nl.vocabulary import Vocabulary, tokens
from semantic_layer.policy import Principal
from semantic_layer.query import DimensionFilter, MetricQuery, Period, PeriodKind

# words of a follow-up that carry no query part
FOLLOW_WORDS = frozenset({"same", "instead", "again", "but", "only", "just", "chart", "graph", "table", "plot",
                          "without", "remove", "drop", "breakdown", "grouping", "else", "too", "ok", "okay", "now"})
_REMOVE = frozenset({"without", "remove", "drop"})


def follow_up(previous: MetricQuery, text: str, vocab: Vocabulary, principal: Principal) -> Understanding:
    raw = tokens(text)
    if not raw:
        return _clarify(vocab, principal, text, "What should change? E.g. “by tier”, “last year”, “only Gold”.")
    words, corrections = _corrected(raw, vocab)
    p = _Parse(words)
    found = find_period(words, vocab.as_of)
    if found.future:
        return _refuse(vocab, principal, text, f"I only have data up to {vocab.as_of.isoformat()}.")
    p.used |= found.used
    _customer_ids(p)
    _phrases(p, vocab, text)
    _groupings(p, vocab)
    unexplained = [w for i, w in enumerate(words) if i not in p.used and w not in FUNCTION and w not in VAGUE
                   and w not in DATE_WORDS and w not in GRAIN_NOUNS and w not in FOLLOW_WORDS]
    if unexplained:
        shown = ", ".join(f"“{w}”" for w in dict.fromkeys(unexplained))
        return _clarify(vocab, principal, text, f"I did not get {shown} as a change to the last answer. Ask a "
                                                "whole new question, or say e.g. “by tier”, “last year”, “only Gold”.")
    if principal.scope is not None and (p.customers or "customer" in p.group_by):
        return _refuse(vocab, principal, text, "You can only see your own accounts.")
    metrics = list(dict.fromkeys(h.target for _, h in sorted(p.metric_hits, key=lambda x: x[0]))) or \
        list(previous.metrics)
    removing = bool(set(words) & _REMOVE) or "no breakdown" in " ".join(words)
    group_by = [d for d in previous.group_by if not (removing and (d in p.group_by or not p.group_by))]
    if not removing:
        group_by += [d for d in p.group_by if d not in group_by]
    filters = {f.dimension: f.values for f in previous.filters}
    for key, values in p.values.items():
        filters[key] = tuple(values)  # "only Gold": the filter on tiers is now Gold
    if p.customers:
        filters["customer"] = tuple(dict.fromkeys(p.customers))
    grain = p.grain or previous.grain
    period = previous.period
    if found.period is not None:
        period = found.period
        if "same" in words and found.period.kind is PeriodKind.LAST_YEAR and previous.period is not None:
            period = _year_before(previous.period, vocab)  # "same for last year": the same span, a year earlier
    query_filters = tuple(DimensionFilter(k, v) for k, v in filters.items())
    if grain is not None and grain not in vocab.catalog.grains_of(metrics) and p.grain is None:
        grain = None  # the new metric cannot take the old grain: by its own
    problem = checked(vocab, principal, text, metrics, group_by, query_filters, grain)
    if problem is not None:
        return problem
    if any(vocab.catalog.metrics[m].needs_time for m in metrics) and grain is None:
        grain = Grain.MONTH
    query = replace(previous, metrics=tuple(metrics)[:5], group_by=tuple(group_by), grain=grain,
                    filters=query_filters, period=period,
                    order=previous.order if set(metrics) == set(previous.metrics) else ())
    changed = query != previous or bool(set(words) & {"chart", "graph", "table", "plot", "again"})
    if not changed:
        return _clarify(vocab, principal, text, "That changes nothing I can see: say e.g. “by tier”, “last year”, "
                                                "“only Gold” or “monthly”.")
    sources = tuple((part, " / ".join(t)) for part, t in p.sources.items())
    return Understanding(Outcome.ANSWER, (Reading(query, 1.0 - 0.04 * len(corrections), sources, found.compare),),
                         corrections=tuple(corrections))


def _year_before(period: Period, vocab: Vocabulary) -> Period:
    """The same days a year earlier (a period cut at the as-of date keeps its cut: year to date -> the same days)."""
    resolved = period.resolve(vocab.as_of)
    return Period.days(_back(resolved.first), _back(resolved.last))


def _back(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)
