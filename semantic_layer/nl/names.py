"""Customers' full names in a question ("withdrawals of Marie Dupont this year"), for the askers who may filter on a
customer (advisors). The names come from the current load (customer id -> full name), are indexed once per load, and
a name found in a question becomes the typed filter on the customer's id: never on the name text, never a guess.

Matching works on folded tokens (lower case, accents removed): a run of question words equal to a customer's whole
name, or within a small typo distance of it word by word (each word of the name corrected only against the words
names are made of, a few thousand at most, so a question costs the same at 96k customers as at 100). A name several
customers share, or a single name word (a first or a last name alone), is reported as ambiguous with the customers
it could mean, for the parser to ask which one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rapidfuzz import process
from rapidfuzz.distance import OSA

from semantic_layer.nl.vocabulary import fold, tokens

MAX_NAME_WORDS = 4


def name_key(full_name: str) -> tuple[str, ...]:
    """The folded words of a name: "Jean-Pierre  L'Hôte" -> ("jean", "pierre", "lhote")."""
    return tuple(tokens(fold(full_name)))


@dataclass(frozen=True)
class NameMatch:
    """Question words start..end (exclusive) read as a name; the customers (id, full name) it names."""

    start: int
    end: int
    customers: tuple[tuple[str, str], ...]
    whole: bool  # the whole name (else a single first or last name)
    typed: str  # the words as asked

    @property
    def unique(self) -> bool:
        return self.whole and len(self.customers) == 1


@dataclass
class NameIndex:
    """Customers' names of one load: name words -> customers; built once per load with `NameIndex.of`."""

    by_name: dict[tuple[str, ...], list[tuple[str, str]]] = field(default_factory=dict)
    by_word: dict[str, set[tuple[str, ...]]] = field(default_factory=dict)  # a name word -> the names holding it
    choices: list[str] = field(default_factory=list)  # the distinct name words, for typo correction

    @classmethod
    def of(cls, customers: Iterable[tuple[object, str]]) -> NameIndex:
        index = cls()
        keys: dict[str, tuple[str, ...]] = {}  # many customers share a name: fold each distinct name once
        for customer_id, full_name in customers:
            if not full_name:
                continue
            key = keys.get(full_name)
            if key is None:
                key = keys[full_name] = name_key(str(full_name))
            if not key or len(key) > MAX_NAME_WORDS:
                continue
            index.by_name.setdefault(key, []).append((str(customer_id), str(full_name)))
        for key in index.by_name:
            for word in key:
                index.by_word.setdefault(word, set()).add(key)
        index.choices = sorted(w for w in index.by_word if len(w) >= 4)
        return index

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_name.values())

    def find(self, words: Sequence[str], known: frozenset[str] | set[str], taken: set[int]) -> list[NameMatch]:
        """The names in `words` (folded tokens). `known`: words the rest of the vocabulary explains; they are never
        corrected into a name and never read as a lone first or last name (an exact whole name still matches)."""
        out: list[NameMatch] = []
        used = set(taken)
        corrected: dict[str, str | None] = {}
        for size in range(MAX_NAME_WORDS, 1, -1):  # whole names, longest first
            for i in range(len(words) - size + 1):
                span = range(i, i + size)
                if used & set(span):
                    continue
                key = tuple(words[i:i + size])
                customers = self.by_name.get(key)
                if customers is None:
                    fixed = tuple(self._corrected(w, known, corrected) for w in key)
                    if any(w is None for w in fixed) or fixed == key:
                        continue
                    customers = self.by_name.get(fixed)  # type: ignore[arg-type]
                    if customers is None:
                        continue
                out.append(NameMatch(i, i + size, tuple(sorted(customers, key=_id_order)), True, " ".join(key)))
                used.update(span)
        for i, word in enumerate(words):  # a first or a last name alone
            if i in used or word in known or word not in self.by_word:
                continue
            customers = [c for key in self.by_word[word] for c in self.by_name[key]]
            out.append(NameMatch(i, i + 1, tuple(sorted(customers, key=_id_order)), False, word))
            used.add(i)
        return sorted(out, key=lambda m: m.start)

    def _corrected(self, word: str, known: frozenset[str] | set[str], cache: dict[str, str | None]) -> str | None:
        if word in self.by_word:
            return word
        if word in cache:
            return cache[word]
        fixed = None
        if word.isalpha() and len(word) >= 4 and word not in known:
            limit = 1 if len(word) <= 6 else 2
            found = process.extract(word, self.choices, scorer=OSA.distance, score_cutoff=limit, limit=2)
            if found and (len(found) == 1 or found[0][1] < found[1][1]):
                fixed = found[0][0]
        cache[word] = fixed
        return fixed


def _id_order(customer: tuple[str, str]) -> tuple[int, str]:
    return (int(customer[0]) if customer[0].isdigit() else 0, customer[0])
