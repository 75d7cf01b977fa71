"""Plain-English question -> ranked `MetricQuery` readings, a clarification, or a refusal. Deterministic, offline.

Every word of the question must be explained: by the vocabulary of the current load (metric names, labels and
governed synonyms; dimensions and their values), by a date expression, a customer id, a grouping or grain word, or
a small list of English function words. A question with a word nothing explains is refused (it asks for something
no governed metric holds: "churn", "profit", "forecast"); a question whose words name no metric, or name several
readings that are equally likely, gets a clarification with the candidates. The parser never builds SQL and never
sees the warehouse: its output goes through `semantic_layer.query_service` like every other `MetricQuery`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from semantic_layer.catalog import DIMENSION_BY_KEY, Catalog, Grain, ValueKind, nearest
from semantic_layer.errors import InvalidInputError
from semantic_layer.nl.dates import DATE_WORDS, MONTHS, NUMBERS, find_period
from semantic_layer.nl.names import NameMatch
from semantic_layer.nl.vocabulary import Phrase, Vocabulary, tokens
from semantic_layer.policy import Principal, may_ask_metric, may_use_dimension
from semantic_layer.query import DimensionFilter, MetricQuery, Order, Period

MAX_TEXT = 500
CONFIDENT = 0.6  # below: ask, do not answer

GRAIN_ADVERBS = {"daily": Grain.DAY, "weekly": Grain.WEEK, "monthly": Grain.MONTH, "quarterly": Grain.QUARTER,
                 "yearly": Grain.YEAR, "annually": Grain.YEAR, "annual": Grain.YEAR}
GRAIN_NOUNS = {"day": Grain.DAY, "days": Grain.DAY, "week": Grain.WEEK, "weeks": Grain.WEEK, "month": Grain.MONTH,
               "months": Grain.MONTH, "quarter": Grain.QUARTER, "quarters": Grain.QUARTER, "year": Grain.YEAR,
               "years": Grain.YEAR}
GROUP_CUES = frozenset({"by", "per", "each", "every", "across", "which"})
COUNT_WORDS = frozenset({"many", "number", "count", "counts"})
# words that only make sense as part of a period: left unread, the period was not understood
PERIOD_MARKERS = frozenset({"since", "until", "till", "ago", "before", "after", "between", "yesterday", "today",
                            "last", "past", "previous",
                            "week", "weeks", "quarter", "quarters", "year", "years", "month", "months", "ytd", "mtd",
                            "qtd", "q1", "q2", "q3", "q4", "h1", "h2"})
PASSIVE = frozenset({"held", "owned", "made", "paid", "spent", "charged", "generated", "earned", "brought",
                     "withdrawn", "sent", "received", "done", "invested", "owed"})
SUPERLATIVES = frozenset({"most", "biggest", "largest", "highest", "top", "best", "bottom", "lowest", "smallest",
                          "least"})
# words that ask for figures without saying which: a clarification, not a refusal
VAGUE = frozenset({
    "doing", "numbers", "number", "report", "reports", "money", "activity", "performance", "stats", "statistics",
    "happened", "happen", "happening", "going", "spend", "spent", "spending", "summary", "overview", "trend",
    "trends", "lose", "lost", "usual", "kpi", "kpis", "metric", "metrics", "data", "update", "results", "business",
    "growth", "grow", "grew", "cash", "total", "totals", "figures", "figure", "sum", "amount", "amounts", "value",
    "how", "much", "many", "count", "counts", "rate", "develop", "developed", "evolve", "evolved", "evolution",
    "change", "changed", "changes", "moved", "go", "goes", "went", "history", "historical", "historically",
    "timeline"})
TREND = frozenset({"trend", "trends", "develop", "developed", "evolve", "evolved", "evolution", "history", "historical",
                   "historically", "timeline"})
POSSESSIVE = frozenset({"my", "our", "their", "his", "her", "your", "the"})
MONEY_HEADS = frozenset({"value", "amount", "amounts", "worth"})
CURRENCY = frozenset({"euro", "euros", "eur", "money", "cash"})
# Generic questions whose answer the dbt YAML governs (`config.meta.default_for` of one metric each): the money
# held (on a date, or now), the money moved, and the counts offered when "how many" meets an amount
HELD_ON_A_DATE, HELD_NOW, HELD_BY_MONTH = "money held on a date", "money held now", "money held by month"
MOVED, CHARGED = "money moved", "money charged"
COUNT_TRANSACTIONS, COUNT_ACCOUNTS, COUNT_CUSTOMERS = "count of transactions", "count of accounts", "count of customers"
COUNTED = (COUNT_TRANSACTIONS, COUNT_ACCOUNTS, COUNT_CUSTOMERS)
# "customers" over a period is ambiguous: one of these is asked
CUSTOMERS_IN_A_PERIOD = ("customers who signed up", "customers who transacted", "customers per tier")
DEFAULT_QUESTIONS = (HELD_ON_A_DATE, HELD_NOW, HELD_BY_MONTH, MOVED, CHARGED, *COUNTED, *CUSTOMERS_IN_A_PERIOD)
# "how much is in my accounts", "how much do they have": money held (a balance), not a count
HOLDING = frozenset({"in", "have", "has", "hold", "holds", "held", "got", "keep", "kept", "sitting"})
# English function words: explained, carry no meaning for the query
FUNCTION = frozenset(" ".join((
    "a an the of in on at to for from by per with and or vs versus what whats which who whom whose where when",
    "why how much many did do does done we our us ours i me my mine you your is are was were be been being have",
    "has had show give tell list get got see want need please can could would will should so far there their",
    "they them it its that this these those all overall level make made making bring brought come came each",
    "every split broken down breakdown across over under into out up about than then also just only still right",
    "now currently as end start beginning held hold most biggest largest highest top bottom lowest smallest",
    "least more less any some no not yet people charged paid pay paying worth off through via during within",
    "between since until till ago same period time times hi hey hello thanks thank pls plz quick quickly look",
    "like compared compare comparison against actual actually exactly roughly approximately around approx using",
    "use used put sent received if s t broke one ones whole full let lets know along together new generate",
    "generated generating brings pull looking looks collected collect euro euros eur",
)).split())
# a customer asking beyond their own accounts
WIDER_THAN_SELF = ("all customers", "other customers", "every customer", "all clients", "the bank", "everyone",
                   "everybody", "all accounts", "other people", "the company")
_ID = re.compile(r"\d{1,12}")


class Outcome(StrEnum):
    ANSWER = "answer"
    CLARIFY = "clarify"
    REFUSE = "refuse"


@dataclass(frozen=True)
class Reading:
    """One interpretation of a question: the query, how sure the parser is, which words each part came from, and
    the period to compare with (the bot runs the same query on it)."""

    query: MetricQuery
    confidence: float
    sources: tuple[tuple[str, str], ...] = ()
    compare: Period | None = None


@dataclass(frozen=True)
class Understanding:
    outcome: Outcome
    readings: tuple[Reading, ...] = ()
    message: str = ""
    suggestions: tuple[str, ...] = ()  # metric names to offer (a clarification or a refusal)
    corrections: tuple[tuple[str, str], ...] = ()  # typo -> word

    @property
    def best(self) -> Reading | None:
        return self.readings[0] if self.readings else None


@dataclass
class _Parse:
    words: list[str]
    used: set[int] = field(default_factory=set)
    metric_hits: list[tuple[int, Phrase]] = field(default_factory=list)
    weak_metric_hits: list[tuple[int, Phrase]] = field(default_factory=list)
    values: dict[str, list[str]] = field(default_factory=dict)
    value_positions: dict[str, list[int]] = field(default_factory=dict)
    group_by: list[str] = field(default_factory=list)
    grain: Grain | None = None
    customers: list[str] = field(default_factory=list)
    limit: int | None = None
    ascending: bool = False
    ranked: bool = False  # largest first
    today: bool = False  # the period is the as-of day ("balance today" is the current balance)
    ambiguous: list[str] = field(default_factory=list)  # words naming two values
    ambiguous_values: list[tuple[str, ...]] = field(default_factory=list)  # the values each of them names
    resolve: dict[str, str] = field(default_factory=dict)  # such words, read as one of their values
    sources: dict[str, list[str]] = field(default_factory=dict)

    def source(self, part: str, text: str) -> None:
        self.sources.setdefault(part, []).append(text)


def understand(text: str, vocab: Vocabulary, principal: Principal) -> Understanding:
    """Read a question as `principal` asks it. Never raises for any text."""
    return _understand(text, vocab, principal, {})


def _understand(text: str, vocab: Vocabulary, principal: Principal, resolve: dict[str, str],
                named: list[str] | None = None) -> Understanding:
    """`resolve`: words naming several values -> the value to read them as (the readings a clarification offers).
    `named`: the question's words with customers' names already read as ids (see `_by_name`)."""
    if len(text) > MAX_TEXT:
        return Understanding(Outcome.REFUSE, message=f"That is too long for a question (at most {MAX_TEXT} "
                                                      "characters).")
    if named is None and _may_name(vocab, principal):
        return _by_name(text, vocab, principal, resolve)
    raw = named if named is not None else tokens(text)
    if not raw:
        return _clarify(vocab, principal, text, "Ask me about a metric, e.g. “revenue by tier last quarter”.")
    words, corrections = _corrected(raw, vocab)
    if words[0] == "when" or " ".join(words[:2]) in ("what date", "which date", "what day", "which day"):
        return _refuse(vocab, principal, text, "I answer with figures (amounts, counts, balances) over periods, "
                                               "not with dates: ask e.g. “accounts opened by month”.")
    p = _Parse(words, resolve=resolve)
    _customer_ids(p)  # before the dates: "client 2001" is not a year
    found = find_period([w if i not in p.used else "#" for i, w in enumerate(words)], vocab.as_of)
    if found.future:
        return _refuse(vocab, principal, text, f"I only have data up to {vocab.as_of.isoformat()} and I don't "
                                               "forecast: ask about a period that has started.")
    p.used |= found.used
    if found.words:
        p.source("period", found.words)
    if found.period is not None and found.period.resolve(vocab.as_of).first == vocab.as_of:
        p.today = True
    _limit(p, vocab)
    _phrases(p, vocab, text)
    _groupings(p, vocab)
    if principal.scope is not None and _wider_than_self(words):
        return _refuse(vocab, principal, text, "You can only ask about your own accounts.")
    if principal.scope is not None and (p.customers or "customer" in p.group_by or "customer_name" in p.group_by):
        return _refuse(vocab, principal, text, "You can only see your own accounts: ask about “my balance”, "
                                               "“my card payments last month”…")
    if found.several:
        return _clarify(vocab, principal, text, "Which period? I read more than one: ask for one period (or a "
                                                "range, “from July to September”, or “compared with …”).")
    unexplained = [w for i, w in enumerate(words) if i not in p.used and w not in FUNCTION and w not in VAGUE
                   and w not in DATE_WORDS and w not in GRAIN_NOUNS and not _counts_time(words, i)]
    if unexplained:
        shown = ", ".join(f"“{w}”" for w in dict.fromkeys(unexplained))
        return _refuse(vocab, principal, text, f"I can only answer with governed metrics, and I don't know what "
                                               f"{shown} means here.")
    unread_dates = [w for i, w in enumerate(words) if i not in p.used and (
        w in PERIOD_MARKERS or w in MONTHS or re.fullmatch(r"(?:19|20)\d\d", w))]
    if unread_dates:  # a period was asked for but not read: never answer for all the data instead
        return _clarify(vocab, principal, text, "I could not read the period. Try “last quarter”, “in September”, "
                                                "“since March”, “from 2026-01 to 2026-06” or “the last 3 months”.")
    how_much, how_many = _head(words)
    count_cue = bool(set(words) & COUNT_WORDS) and not how_much
    if p.ambiguous:
        named = " or ".join(f"“{v.replace('_', ' ')}”" for v in p.ambiguous_values[0])
        asked = _clarify(vocab, principal, text, f"“{p.ambiguous[0]}” can mean several things here: {named}? "
                                                 "Say which.")
        if resolve:  # one word at a time
            return asked
        readings = []  # the question read with each of the values, as far as each reading is an answer
        for value in p.ambiguous_values[0]:
            each = _understand(text, vocab, principal, {p.ambiguous[0]: value}, raw)
            if each.outcome is Outcome.ANSWER and each.best is not None:
                readings.append(replace(each.best, confidence=min(each.best.confidence, 0.5)))
        return replace(asked, readings=tuple(readings))
    if _either_or(p, words):
        return _clarify(vocab, principal, text, "Which one do you mean?",
                        [h.target for _, h in p.metric_hits + p.weak_metric_hits])
    metrics, alternatives, message = _metrics(p, vocab, count_cue, found.period is not None)
    if message or not metrics:
        asked = _clarify(vocab, principal, text, message or "Which figure do you mean?", alternatives)
        return replace(asked, readings=_candidates(vocab, principal, text, p, found.period, asked.suggestions))
    if principal.scope is not None and (p.customers or "customer" in p.group_by or "customer_name" in p.group_by):
        return _refuse(vocab, principal, text, "You can only see your own accounts: ask about “my balance”, "
                                               "“my card payments last month”…")
    if how_much and {vocab.catalog.metrics[m].kind for m in metrics} == {ValueKind.COUNT} and _holding(words):
        held = vocab.catalog.default_for(HELD_ON_A_DATE if (found.period is not None and not p.today) or p.grain
                                         else HELD_NOW)
        if held is not None and may_ask_metric(principal, held):  # "how much is in my accounts": money held
            alternatives = [*metrics, *alternatives]
            metrics = [held]
            p.source("metric", "how much … held")
    filters = [DimensionFilter(k, tuple(v)) for k, v in p.values.items()]
    if p.customers:
        filters.append(DimensionFilter("customer", tuple(dict.fromkeys(p.customers))))
    group_by = list(dict.fromkeys(p.group_by))
    if p.limit is not None and "customer" not in group_by and not group_by:
        group_by.append("customer")
    catalog = vocab.catalog
    grain = p.grain
    if grain is None and any(catalog.metrics[m].needs_time for m in metrics):
        grain = Grain.MONTH
    problem = checked(vocab, principal, text, metrics, group_by, filters, grain)
    if problem is not None:
        return problem
    order: tuple[Order, ...] = ()
    if grain is None and _is_trend(words) and Grain.MONTH in catalog.grains_of(metrics):
        grain = Grain.MONTH  # a trend, a history: a series, by month
    if p.limit is not None or p.ranked:
        order = (Order(metrics[0], descending=not p.ascending),)
    try:
        period = None if p.today and metrics == [catalog.default_for(HELD_NOW)] else found.period  # the balance now
        query = MetricQuery(tuple(metrics), tuple(group_by), grain, tuple(filters), period, order, p.limit)
    except InvalidInputError as exc:
        return _clarify(vocab, principal, text, str(exc))
    if found.compare is None and any(w in words for w in ("compared", "vs", "versus", "against")) and \
            not p.sources.get("versus"):
        return _clarify(vocab, principal, text, "Compared with which period? Say e.g. “compared with last year”.",
                        metrics)
    confidence = max(0.0, 1.0 - 0.04 * len(corrections) - (0.1 if "fallback" in p.sources else 0.0))
    kinds = {catalog.metrics[m].kind for m in metrics}
    mismatch = (how_much and kinds == {ValueKind.COUNT}) or (how_many and ValueKind.COUNT not in kinds)
    if mismatch:
        # the question's head asks for money and the metric counts, or the other way round: not sure, ask
        confidence = min(confidence, CONFIDENT - 0.1)
        alternatives = [*alternatives, *_other_kind(vocab, principal, metrics, how_much, period is not None)]
    sources = tuple((part, " / ".join(texts)) for part, texts in p.sources.items())
    best = Reading(query, confidence, sources, found.compare)
    readings = [best] + [Reading(MetricQuery((alt,), query.group_by, grain, query.filters, query.period, query.order,
                                             query.limit), confidence * 0.6, sources, found.compare)
                         for alt in dict.fromkeys(alternatives) if alt not in metrics
                         and checked(vocab, principal, text, [alt], query.group_by, query.filters, grain) is None]
    if confidence >= CONFIDENT:
        return Understanding(Outcome.ANSWER, tuple(readings), corrections=tuple(corrections))
    asked = (f"You asked for an amount of money, but {_labels(vocab, metrics)} is a count" if how_much else
             f"You asked how many, but {_labels(vocab, metrics)} is an amount") if mismatch else \
        "I am not sure I read that right"
    return Understanding(Outcome.CLARIFY, tuple(readings), message=f"{asked}: which one do you mean?",
                         corrections=tuple(corrections))


def checked(vocab: Vocabulary, principal: Principal, text: str, metrics: list[str] | tuple[str, ...],
            group_by: list[str] | tuple[str, ...], filters: list[DimensionFilter] | tuple[DimensionFilter, ...],
            grain: Grain | None) -> Understanding | None:
    """A refusal (access) or a clarification (the catalog cannot do it) for a reading, or None when it is fine."""
    catalog = vocab.catalog
    denied = [m for m in metrics if not may_ask_metric(principal, m)]
    if denied:
        return _refuse(vocab, principal, text, f"Sorry, {catalog.metrics[denied[0]].label} is not available to you.")
    dims = [d for d in [*group_by, *(f.dimension for f in filters)]]
    forbidden = [d for d in dims if not may_use_dimension(principal, d)]
    if forbidden:
        return _refuse(vocab, principal, text,
                       f"Sorry, you cannot group or filter by {DIMENSION_BY_KEY[forbidden[0]].label}.")
    if principal.scope is not None and any("customer" not in catalog.metrics[m].group_by_items for m in metrics):
        return _refuse(vocab, principal, text, "Sorry, that metric cannot be restricted to your own accounts.")
    possible = set(catalog.dimensions_of(metrics))
    missing = [d for d in dims if d not in possible]
    if missing:
        return _clarify(vocab, principal, text, f"{_labels(vocab, metrics)} cannot be split by "
                                                f"{DIMENSION_BY_KEY[missing[0]].label}.", metrics)
    if grain is not None and grain not in catalog.grains_of(metrics):
        allowed = ", ".join(g.value for g in catalog.grains_of(metrics)) or "none"
        return _clarify(vocab, principal, text, f"{_labels(vocab, metrics)} cannot be shown by {grain.value}; "
                                                f"by: {allowed}.", metrics)
    return None


# -- steps ---------------------------------------------------------------------------------------------------------
def _counts_time(words: list[str], i: int) -> bool:
    """"3" in "3 months ago": part of a period (read or not), not an unknown word."""
    return words[i].isdigit() and i + 1 < len(words) and words[i + 1] in GRAIN_NOUNS


def _either_or(p: _Parse, words: list[str]) -> bool:
    """"volume or count?", "loans or investments": a choice between figures, not a filter."""
    positions = [i for i, _ in p.metric_hits + p.weak_metric_hits]
    for k, word in enumerate(words):
        if word != "or" or not any(i < k for i in positions):
            continue
        after = words[k + 1] if k + 1 < len(words) else ""
        if any(i > k for i in positions) or after in VAGUE or after in COUNT_WORDS:
            return True
    return False


def _is_trend(words: list[str]) -> bool:
    joined = " ".join(words)
    return bool(TREND & set(words)) or "over time" in joined


def _head(words: list[str]) -> tuple[bool, bool]:
    """Whether the question asks for an amount of money ("how much", "how many euros", "the value / amount of")
    or a count ("how many")."""
    joined = f" {' '.join(words)} "
    money = " how much " in joined or _money_many(words) or bool(MONEY_HEADS & set(words))
    return money, " how many " in joined and not _money_many(words)


def _wider_than_self(words: list[str]) -> bool:
    """A customer asking about others ("all customers", "the bank"); money sent to or received from other people
    is still their own transfers."""
    for phrase in WIDER_THAN_SELF:
        n = len(phrase.split())
        for i in range(len(words) - n + 1):
            if " ".join(words[i:i + n]) == phrase and not (i > 0 and words[i - 1] in ("from", "to", "with")):
                return True
    return False


def _holding(words: list[str]) -> bool:
    """"have", "hold", "held", or "in my / our / their …": the question is about money held."""
    return any(w in HOLDING and (w != "in" or (i + 1 < len(words) and words[i + 1] in POSSESSIVE))
               for i, w in enumerate(words))


def _money_many(words: list[str]) -> bool:
    """"how many euros of …": an amount of money, not a count."""
    return any(w == "many" and i + 1 < len(words) and words[i + 1] in CURRENCY for i, w in enumerate(words))


def _other_kind(vocab: Vocabulary, principal: Principal, metrics: list[str], money: bool, dated: bool
                ) -> list[str]:
    """Readings of the other kind to offer when the question's head and the metric disagree: for a count asked
    "how much", the money held or moved; for an amount asked "how many", the counts."""
    wanted = ValueKind.MONEY if money else ValueKind.COUNT
    base = _answers(vocab.catalog, *(((HELD_ON_A_DATE if dated else HELD_NOW), MOVED) if money else COUNTED))
    return [m for m in base if vocab.catalog.metrics[m].kind is wanted and m not in metrics
            and may_ask_metric(principal, m)]


def _corrected(raw: list[str], vocab: Vocabulary) -> tuple[list[str], list[tuple[str, str]]]:
    known = vocab.words | DATE_WORDS | FUNCTION | VAGUE | GRAIN_NOUNS.keys() | GRAIN_ADVERBS.keys()
    choices = sorted(w for w in vocab.words | set(MONTHS) | GRAIN_NOUNS.keys() | GRAIN_ADVERBS.keys()
                     | {"quarter", "month", "year", "week", "since", "last", "this"} if len(w) >= 4)
    out, corrections = [], []
    for word in raw:
        if word in known or not word.isalpha() or len(word) < 3:
            out.append(word)
            continue
        limit = 1 if len(word) <= 6 else 2
        found = process.extract(word, choices, scorer=OSA.distance, score_cutoff=limit, limit=3)
        found = [f for f in found if len(word) > 4 or f[0][0] == word[0]]
        if len(word) == 3:
            found = [f for f in found if len(f[0]) == 4 and f[0][0] == word[0]]
        if len(found) > 1 and found[0][1] == found[1][1]:  # a tie: same first letter, then the closer spelling
            ties = sorted((f for f in found if f[1] == found[0][1]),
                          key=lambda f: (f[0][0] != word[0], -fuzz.ratio(word, f[0])))
            first, second = ties[0], ties[1]
            if (first[0][0] == word[0]) != (second[0][0] == word[0]) or fuzz.ratio(word, first[0]) > fuzz.ratio(
                    word, second[0]):
                found = [first]
        if found and (len(found) == 1 or found[0][1] < found[1][1]):
            out.append(found[0][0])
            corrections.append((word, found[0][0]))
        else:
            out.append(word)
    return out, corrections


MAX_LISTED = 5  # customers a clarification lists by id
CUSTOMER_WORDS = ("customer", "customers", "client", "clients", "cust")


def _may_name(vocab: Vocabulary, principal: Principal) -> bool:
    """Names are read for staff who may filter on a customer (advisors); for the others a name stays an unknown
    word, refused as any other (customers never reach another customer, directors have no customer-level access)."""
    return vocab.names is not None and principal.scope is None and may_use_dimension(principal, "customer_name") \
        and may_use_dimension(principal, "customer")


def _by_name(text: str, vocab: Vocabulary, principal: Principal, resolve: dict[str, str]) -> Understanding:
    """The question with each customer's name it holds read as that customer's id ("withdrawals of Marie Dupont" ->
    "withdrawals of customer 42"), or a clarification when a name is several customers' or only a first or last
    name, never a guess. The name is noted beside the answer (“marie dupnt” as “Marie Dupont (customer 42)”)."""
    raw = tokens(text)
    assert vocab.names is not None
    known = vocab.words | DATE_WORDS | FUNCTION | VAGUE | GRAIN_NOUNS.keys() | GRAIN_ADVERBS.keys() | set(
        CUSTOMER_WORDS) | set(MONTHS) | set(NUMBERS)
    taken = {i for i, w in enumerate(raw) if _ID.fullmatch(w)}
    matches = vocab.names.find(raw, frozenset(known), taken)
    if not matches:
        return _understand(text, vocab, principal, resolve, raw)
    unclear = next((m for m in matches if not m.unique), None)
    if unclear is not None:
        return _which_customer(text, vocab, principal, resolve, raw, matches, unclear)
    words, notes = _named_words(raw, matches, {})
    read = _understand(text, vocab, principal, resolve, words)
    return replace(read, corrections=(*notes, *read.corrections))


def _named_words(raw: list[str], matches: list[NameMatch], chosen: dict[int, tuple[str, str]]
                 ) -> tuple[list[str], list[tuple[str, str]]]:
    """`raw` with each name replaced by "customer <id>" (`chosen`: match start -> the customer picked for it)."""
    out: list[str] = []
    notes: list[tuple[str, str]] = []
    i = 0
    for m in matches:
        out += raw[i:m.start]
        customer_id, full_name = chosen.get(m.start, m.customers[0])
        out += [customer_id] if out and out[-1] in CUSTOMER_WORDS else ["customer", customer_id]
        notes.append((m.typed, f"{full_name} (customer {customer_id})"))
        i = m.end
    return out + raw[i:], notes


def _which_customer(text: str, vocab: Vocabulary, principal: Principal, resolve: dict[str, str], raw: list[str],
                    matches: list[NameMatch], unclear: NameMatch) -> Understanding:
    count = len(unclear.customers)
    listed = ", ".join(f"{name} (customer {cid})" for cid, name in unclear.customers[:MAX_LISTED])
    more = f" and {count - MAX_LISTED} more" if count > MAX_LISTED else ""
    if unclear.whole:
        listed = ", ".join(f"customer {cid}" for cid, _ in unclear.customers[:MAX_LISTED])  # one name: say it once
        message = (f"{count} customers are named “{unclear.customers[0][1]}”: {listed}{more}. Which one? Ask again "
                   f"with the customer id, e.g. “customer {unclear.customers[0][0]}”.")
    elif count > MAX_LISTED:
        return _refuse(vocab, principal, text, f"“{unclear.typed}” alone is part of {count} customers' names: say "
                                               "the customer's full name or id (“customer 42”).")
    else:
        message = (f"“{unclear.typed}” alone could be {listed}. Which customer? Say the full name or the customer "
                   "id.")
    readings = []
    for customer in unclear.customers[:MAX_LISTED]:  # the question read for each of them, for the asker to pick
        others = {m.start: m.customers[0] for m in matches if m is not unclear and m.unique}
        words, _ = _named_words(raw, [m for m in matches if m is unclear or m.unique],
                                {**others, unclear.start: customer})
        if any(not m.unique and m is not unclear for m in matches):
            break  # two unclear names: ask about the first, offer no reading
        each = _understand(text, vocab, principal, resolve, words)
        if each.outcome is Outcome.ANSWER and each.best is not None:
            readings.append(replace(each.best, confidence=min(each.best.confidence, 0.5)))
    asked = _clarify(vocab, principal, text, message)
    return replace(asked, readings=tuple(readings))


def _customer_ids(p: _Parse) -> None:
    w = p.words
    i = 0
    while i < len(w):
        if w[i] in CUSTOMER_WORDS:
            j = i + 1
            while j < len(w) and w[j] in ("no", "number", "id", "nr"):
                j += 1
            if j < len(w) and _ID.fullmatch(w[j]):
                p.used.update(range(i, j + 1))
                p.customers.append(str(int(w[j])))
                p.source("filter", f"{w[i]} {w[j]}")
                j += 1
                while j < len(w) and (_ID.fullmatch(w[j]) or (
                        j + 1 < len(w) and w[j] in ("and", "or") and _ID.fullmatch(w[j + 1]))):
                    if not _ID.fullmatch(w[j]):
                        p.used.add(j)
                        j += 1
                    p.used.add(j)
                    p.customers.append(str(int(w[j])))
                    j += 1
                i = j
                continue
        i += 1


def _limit(p: _Parse, vocab: Vocabulary) -> None:
    w = p.words
    for i, word in enumerate(w):
        count = int(word) if word.isdigit() and len(word) <= 4 else NUMBERS.get(word)
        if count is None or i in p.used:
            continue
        before = w[i - 1] if i else ""
        after = w[i + 1] if i + 1 < len(w) else ""
        dims = [h for h in vocab.phrases.get((after,), []) if h.kind == "dimension"]
        if before in ("top", "bottom") and dims and dims[0].target != "customer":
            p.limit = max(1, min(count, 1000))
            p.ascending = before == "bottom"
            p.used.update({i - 1, i, i + 1})
            p.group_by.append(dims[0].target)
            p.source("limit", f"{before} {word} {after}")
            return
        if (before in ("top", "bottom", "which", "the", "first") and after in ("customers", "clients", "")) or (
                before in ("top", "bottom")):
            if before not in ("top", "bottom") and not (set(w) & SUPERLATIVES):
                continue
            p.limit = max(1, min(count, 1000))
            p.ascending = before == "bottom" or bool(set(w) & {"lowest", "smallest", "least"})
            p.used.update({i - 1, i} | ({i + 1} if after in ("customers", "clients") else set()))
            p.group_by.append("customer")
            p.source("limit", f"{before} {word}")
            return


def _phrases(p: _Parse, vocab: Vocabulary, text: str) -> None:
    """Longest phrases first, left to right, over the words no date, id or limit took."""
    w = p.words
    i = 0
    while i < len(w):
        if i in p.used:
            i += 1
            continue
        for length in range(min(vocab.longest, len(w) - i), 0, -1):
            span = range(i, i + length)
            if any(k in p.used for k in span):
                continue
            hits = vocab.phrases.get(tuple(w[i:i + length]))
            if not hits:
                continue
            p.used.update(span)
            words = " ".join(w[i:i + length])
            metric = [h for h in hits if h.kind == "metric"]
            values = [h for h in hits if h.kind == "value"]
            dimension = [h for h in hits if h.kind == "dimension"]
            if metric:
                best = max(metric, key=lambda h: h.weight)
                if values:  # "withdrawals": the metric, or transactions of that type when counted
                    p.weak_metric_hits.append((i, best))
                    p.source("value:" + values[0].target + "=" + values[0].value, words)
                elif dimension:  # "customers", "accounts": a metric only when nothing else is asked
                    p.weak_metric_hits.append((i, best))
                else:
                    p.metric_hits.append((i, best))
                    p.source("metric:" + best.target, words)
            elif values:
                value = _one_value(values, vocab, set(w)) or next(
                    (v for v in values if p.resolve.get(words) == v.value), None)
                if value is None:  # "interest": charged to customers or paid out to savers?
                    p.ambiguous.append(words)
                    p.ambiguous_values.append(tuple(dict.fromkeys(v.value for v in values)))
                else:
                    p.value_positions.setdefault(value.target, []).append(i)
                    _add_value(p, value.target, value.value, words)
            i += length - 1
            break
        i += 1
    for code in re.findall(r"\b[A-Z]{2,3}\b", text):
        if code in vocab.upper_values:
            key, value = vocab.upper_values[code]
            _add_value(p, key, value, code)
    # mark the capital codes' tokens as used
    for i, word in enumerate(w):
        if word.upper() in vocab.upper_values and re.search(rf"\b{word.upper()}\b", text):
            p.used.add(i)


def _one_value(values: list[Phrase], vocab: Vocabulary, words: set[str]) -> Phrase | None:
    """The value a word names; a word two values share is settled by the other words of the question (the words
    of each value's own phrases: "interest ... charged"), else None (ask)."""
    distinct = {(v.target, v.value): v for v in values}
    if len(distinct) == 1:
        return values[0]
    scores = {key: len(words & {t for phrase, entries in vocab.phrases.items() for e in entries
                                if (e.target, e.value) == key and e.kind == "value" for t in phrase})
              for key in distinct}
    best = max(scores.values())
    winners = [k for k, score in scores.items() if score == best]
    return distinct[winners[0]] if len(winners) == 1 else None


def _add_value(p: _Parse, key: str, value: str, words: str) -> None:
    bucket = p.values.setdefault(key, [])
    if value not in bucket:
        bucket.append(value)
    p.source("filter", words)


def _groupings(p: _Parse, vocab: Vocabulary) -> None:
    w = p.words
    for i, word in enumerate(w):
        if word in GRAIN_ADVERBS:
            p.grain = GRAIN_ADVERBS[word]
            p.used.add(i)
            p.source("grain", word)
        if word == "over" and i + 1 < len(w) and w[i - 1:i] and w[i - 1] == w[i + 1] and w[i + 1] in GRAIN_NOUNS:
            p.grain = GRAIN_NOUNS[w[i + 1]]  # month over month
            p.used.update({i - 1, i, i + 1})
        if word == "mom":
            p.grain = Grain.MONTH
            p.used.add(i)
        if word in GRAIN_NOUNS and i + 2 < len(w) and w[i + 1] == "by" and w[i + 2] == word:
            p.grain = GRAIN_NOUNS[word]
            p.used.update({i, i + 1, i + 2})
        if word not in GROUP_CUES and not (word == "in" and i + 1 < len(w) and w[i + 1] == "each"):
            continue
        if word == "by" and i > 0 and w[i - 1] in PASSIVE:
            continue  # "held by customers in Portugal": who holds it, not a breakdown
        j = i + 1
        while j < len(w) and w[j] in ("the", "each", "every", "a", "one"):
            j += 1
        if j >= len(w):
            continue
        if w[j] in GRAIN_NOUNS and j not in p.used:
            p.grain = GRAIN_NOUNS[w[j]]
            p.used.update(range(i, j + 1))
            p.source("grain", " ".join(w[i:j + 1]))
            continue
        for length in range(min(vocab.longest, len(w) - j), 0, -1):
            hits = vocab.phrases.get(tuple(w[j:j + length]))
            dims = [h for h in hits or () if h.kind == "dimension"]
            if not dims:
                continue
            key = dims[0].target
            nxt = w[j + length] if j + length < len(w) else ""
            if key == "customer" and _ID.fullmatch(nxt or "x"):
                break  # "held by customer 19": a filter, not a breakdown
            p.group_by.append(key)
            p.used.update(range(i, j + length))
            p.source("group_by", " ".join(w[i:j + length]))
            if word == "which" and set(w) & SUPERLATIVES:  # "which country brings the most revenue"
                p.ranked = True
            _more_dimensions(p, vocab, j + length)  # "by tier and country"
            break
    # two values of one dimension set against each other: a breakdown by that dimension
    for key, positions in p.value_positions.items():
        if len(positions) >= 2 and any(w[k] in ("vs", "versus", "compared") for k in range(positions[0],
                                                                                           positions[-1])):
            p.group_by.append(key)
            p.values.pop(key, None)
            p.source("versus", key)
            break


def _more_dimensions(p: _Parse, vocab: Vocabulary, k: int) -> None:
    w = p.words
    while k + 1 < len(w) and w[k] in ("and", "then"):
        hits = [h for length in range(min(vocab.longest, len(w) - k - 1), 0, -1)
                for h in vocab.phrases.get(tuple(w[k + 1:k + 1 + length]), []) if h.kind == "dimension"]
        if not hits:
            return
        length = len(hits[0].words)
        p.group_by.append(hits[0].target)
        p.used.update(range(k, k + 1 + length))
        k += 1 + length


def _metrics(p: _Parse, vocab: Vocabulary, count_cue: bool, has_period: bool
             ) -> tuple[list[str], list[str], str]:
    """The metrics asked, alternatives to offer, and a clarification message when the metric is unclear."""
    catalog = vocab.catalog
    hits = [h.target for _, h in sorted(p.metric_hits, key=lambda x: x[0])]
    weak = [h.target for _, h in sorted(p.weak_metric_hits, key=lambda x: x[0])]
    words = set(p.words)
    # a word both a metric and a transaction type ("withdrawals"): counted -> transactions of that type
    for pos, phrase in p.weak_metric_hits:
        span = " ".join(p.words[pos:pos + len(phrase.words)])
        typed = [h for h in vocab.phrases.get(phrase.words, []) if h.kind == "value"]
        if typed and (count_cue or hits):
            _add_value(p, typed[0].target, typed[0].value, span)
            weak.remove(phrase.target)
    if not hits and weak and not p.values.get("type"):
        hits = weak[:1]
    # "clients signed up": "clients" is a word of a phrase of the other metric (`new clients`), not a second one
    spans = {h.target: set(h.words) for _, h in p.metric_hits}
    hits = [m for m in hits if not any(o != m and any(spans[m] < set(words) for words in vocab.metric_phrases[o])
                                       for o in spans)] if len(spans) > 1 else hits
    metrics = list(dict.fromkeys(hits))
    metrics = [m for m in metrics if not any(o != m and o.startswith(m + "_") and not o.endswith("_mom_growth")
                                             for o in metrics)]
    if "growth" in words or "grow" in words or "grew" in words:
        growth = [m for m in catalog.metrics if m.endswith("_mom_growth")]
        named = [m for m in metrics if m.endswith("_mom_growth")]
        based = [f"{m}_mom_growth" for m in metrics if f"{m}_mom_growth" in catalog.metrics]
        if named:
            metrics = named
        elif based:
            metrics = based
        else:
            return [], growth, "Growth of what? Revenue, transaction volume or new customers?"
    balances = _answers(catalog, HELD_ON_A_DATE, HELD_NOW, HELD_BY_MONTH)
    if any(m in balances for m in metrics):
        series = p.grain is not None or _is_trend(p.words)  # "my balance history": month-end balances
        wanted = catalog.default_for(HELD_ON_A_DATE if (has_period and not p.today) or series else HELD_NOW)
        if wanted is not None:
            metrics = list(dict.fromkeys(wanted if m in balances else m for m in metrics))
    if metrics == _answers(catalog, COUNT_CUSTOMERS) and (has_period or p.grain is not None) \
            and "customer" not in p.group_by:
        return [], _answers(catalog, *CUSTOMERS_IN_A_PERIOD), (
            "Customers in a period: the new customers who signed up, the active customers who transacted, or the "
            "customers per tier at the period's end?")
    if not metrics:
        types = p.values.get("type", [])
        if types:
            p.source("fallback", "transaction type")
            if count_cue:
                return _answers(catalog, COUNT_TRANSACTIONS), _answers(catalog, MOVED), ""
            if set(types) <= {"fee", "interest_charge"}:
                return _answers(catalog, CHARGED), _answers(catalog, MOVED), ""
            return _answers(catalog, MOVED), _answers(catalog, COUNT_TRANSACTIONS), ""
        if p.values.get("account_type") or p.values.get("account_status"):
            p.source("fallback", "accounts")
            if count_cue:
                return _answers(catalog, COUNT_ACCOUNTS), [], ""
            return _answers(catalog, HELD_ON_A_DATE if has_period or p.grain else HELD_NOW), \
                _answers(catalog, COUNT_ACCOUNTS), ""
        if count_cue and (p.values.get("tier") or p.values.get("country")):
            p.source("fallback", "customers")
            return _answers(catalog, COUNT_CUSTOMERS), _answers(catalog, "customers per tier"), ""
        return [], [], ""
    for _, phrase in p.metric_hits + p.weak_metric_hits:
        if phrase.target not in metrics:
            continue
        for word in phrase.words:
            dims = [h for h in vocab.phrases.get((word,), []) if h.kind == "dimension"]
            if dims and DIMENSION_BY_KEY[dims[0].target].kind is ValueKind.CATEGORY:
                p.group_by.append(dims[0].target)
    return metrics[:5], [], ""


def _answers(catalog: Catalog, *questions: str) -> list[str]:
    """The metrics the dbt YAML names as the answers to generic questions (`config.meta.default_for`), in order;
    a question no metric answers is left out."""
    return [m for m in (catalog.default_for(q) for q in questions) if m is not None]


def _labels(vocab: Vocabulary, metrics: list[str] | tuple[str, ...]) -> str:
    return ", ".join(vocab.catalog.metrics[m].label for m in metrics)


def _closest(vocab: Vocabulary, principal: Principal, text: str, limit: int = 3) -> tuple[str, ...]:
    allowed = [m for m in vocab.catalog.metrics if may_ask_metric(principal, m)]
    choices: dict[str, str] = {}
    for m in allowed:
        info = vocab.catalog.metrics[m]
        for word in (info.label, m.replace("_", " "), *info.synonyms):
            choices.setdefault(word, m)
    near = nearest(text, list(choices), limit=10, cutoff=40)
    return tuple(dict.fromkeys(choices[n] for n in near))[:limit]


def _candidates(vocab: Vocabulary, principal: Principal, text: str, p: _Parse, period: Period | None,
                metrics: tuple[str, ...]) -> tuple[Reading, ...]:
    """The readings a clarification offers: each candidate metric with the rest of the question as read (only
    those the asker may ask and the catalog can answer), for the asker to pick from."""
    if principal.scope is not None and (p.customers or "customer" in p.group_by):
        return ()
    filters = tuple(DimensionFilter(k, tuple(v)) for k, v in p.values.items()) + (
        (DimensionFilter("customer", tuple(dict.fromkeys(p.customers))),) if p.customers else ())
    out = []
    for metric in metrics:
        grain = p.grain or (Grain.MONTH if vocab.catalog.metrics[metric].needs_time else None)
        group_by = tuple(dict.fromkeys(p.group_by))
        if checked(vocab, principal, text, [metric], group_by, filters, grain) is not None:
            continue
        try:
            out.append(Reading(MetricQuery((metric,), group_by, grain, filters, period), 0.5))
        except InvalidInputError:
            continue
    return tuple(out)


def _clarify(vocab: Vocabulary, principal: Principal, text: str, message: str,
             candidates: list[str] | tuple[str, ...] = ()) -> Understanding:
    allowed = tuple(m for m in candidates if may_ask_metric(principal, m))
    suggestions = allowed or _closest(vocab, principal, text)
    return Understanding(Outcome.CLARIFY, message=message, suggestions=suggestions)


def _refuse(vocab: Vocabulary, principal: Principal, text: str, message: str) -> Understanding:
    return Understanding(Outcome.REFUSE, message=message, suggestions=_closest(vocab, principal, text))
