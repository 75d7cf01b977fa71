"""The words the plain-English parser knows, all generated from the catalog of the current load: metric names,
labels and governed synonyms (`config.meta.synonyms` in the dbt YAML), dimension names, labels, aliases and
synonyms, and the dimensions' actual values with their governed value synonyms. Nothing here names a metric."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from semantic_layer.catalog import DIMENSIONS, Catalog, ValueKind

if TYPE_CHECKING:
    from semantic_layer.nl.names import NameIndex

_TOKEN = re.compile(r"(?:19|20)\d\d-(?:q[1-4]|\d{1,2}(?:-\d{1,2})?)|[a-z0-9]+")


def fold(text: str) -> str:
    """Lower case without accents: "Lefèvre" -> "lefevre", "Ødegård" -> "odegard"."""
    text = text.replace("ø", "o").replace("Ø", "O").replace("ß", "ss").replace("æ", "ae").replace("œ", "oe")
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).lower()


def tokens(text: str) -> list[str]:
    """Lower-case word tokens, accents folded; `sign-ups` -> sign, ups; `customer's` -> customer; ISO dates kept
    whole."""
    text = fold(text).replace("’", "'").replace("'s ", " ").replace("s' ", "s ")
    text = re.sub(r"'s$", "", text)
    return _TOKEN.findall(text.replace("'", ""))


@dataclass(frozen=True)
class Phrase:
    words: tuple[str, ...]
    kind: str  # metric | dimension | value
    target: str  # metric name, dimension key
    value: str = ""  # the dimension value (as in the data)
    weight: int = 0  # 3 name, 2 label, 1 synonym: a tie goes to the stronger source


@dataclass
class Vocabulary:
    """The catalog of a load plus its dimension values, as phrases (build once per load with `Vocabulary.of`)."""

    catalog: Catalog
    as_of: date
    values: Mapping[str, Sequence[str]]  # dimension key -> its values in the current load
    phrases: dict[tuple[str, ...], list[Phrase]] = field(default_factory=dict)
    longest: int = 1
    words: frozenset[str] = frozenset()
    upper_values: dict[str, tuple[str, str]] = field(default_factory=dict)  # "FR" -> (country, FR)
    metric_phrases: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)  # metric -> its phrases
    names: NameIndex | None = None  # customers' names of the load (advisors may ask by name)

    @classmethod
    def of(cls, catalog: Catalog, as_of: date, values: Mapping[str, Sequence[str]],
           names: NameIndex | None = None) -> Vocabulary:
        vocab = cls(catalog, as_of, values, names=names)
        vocab._build()
        return vocab

    def _add(self, text: str, kind: str, target: str, value: str = "", weight: int = 1) -> None:
        words = tuple(tokens(text))
        if not words:
            return
        entry = Phrase(words, kind, target, value, weight)
        bucket = self.phrases.setdefault(words, [])
        if not any(p.kind == kind and p.target == target and p.value == value for p in bucket):
            bucket.append(entry)

    def _build(self) -> None:
        names_and_labels = set()
        for info in self.catalog.metrics.values():
            names_and_labels |= {tuple(tokens(info.name.replace("_", " "))), tuple(tokens(info.label))}
        for info in self.catalog.metrics.values():
            name = info.name.replace("_", " ")
            if not set(name.split()) & _GROUPING:  # `revenue_by_month` is not what "revenue by month" asks
                self._add(name, "metric", info.name, weight=3)
            self._add(info.label, "metric", info.name, weight=2)
            bare = re.sub(r"\s*\(.*?\)\s*", " ", info.label).strip()
            if bare != info.label and tuple(tokens(bare)) not in names_and_labels:
                self._add(bare, "metric", info.name, weight=2)
            for word in info.synonyms:
                self._add(word, "metric", info.name, weight=1)
        for words, entries in list(self.phrases.items()):  # "new customer" as "new customers"
            if len(words) > 1 and words[-1].endswith("s") and len(words[-1]) > 3 and not words[-1].endswith("ss"):
                singular = (*words[:-1], words[-1][:-1])
                if singular not in self.phrases:
                    self.phrases[singular] = [Phrase(singular, e.kind, e.target, e.value, 0) for e in entries]
        for spec in DIMENSIONS:
            words = self.catalog.dimension_words.get(spec.key)
            for text in (spec.key.replace("_", " "), spec.label, *spec.aliases, *(words.synonyms if words else ())):
                self._add(text, "dimension", spec.key, weight=2)
            if spec.kind is ValueKind.ID:
                continue
            for value in self.values.get(spec.key, ()):
                raw = str(value)
                if len(raw) <= 3 and raw.isupper():  # codes such as FR, IT, DE: only written in capitals
                    self.upper_values[raw] = (spec.key, raw)
                elif words is None or words.match_raw_values:
                    spaced = raw.replace("_", " ")
                    self._add(spaced, "value", spec.key, raw, 2)
                    self._add(_plural(spaced), "value", spec.key, raw, 2)
            if words is not None:
                present = {str(v) for v in self.values.get(spec.key, ())}
                for value, synonyms in words.value_synonyms:
                    if value in present:
                        for text in synonyms:
                            self._add(text, "value", spec.key, value, 1)
        for words, entries in self.phrases.items():
            for e in entries:
                if e.kind == "metric":
                    self.metric_phrases.setdefault(e.target, []).append(words)
        self.longest = max((len(k) for k in self.phrases), default=1)
        self.words = frozenset(w for k in self.phrases for w in k)


_GROUPING = frozenset({"by", "per"})


def _plural(text: str) -> str:
    if text.endswith("s"):
        return text
    if text.endswith("y"):
        return text[:-1] + "ies"
    return text + "s"
