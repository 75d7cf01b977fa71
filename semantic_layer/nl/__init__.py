"""Plain-English questions onto governed metrics only (issue 15): `understand(text, vocabulary, principal)`.

- `vocabulary`: the words of the current load (catalog names, labels, governed synonyms, dimension values);
- `dates`: periods in words, resolved against the data's as-of date;
- `parser`: question -> ranked `MetricQuery` readings with a confidence, a clarification, or a refusal.
"""

from semantic_layer.nl.parser import Outcome, Reading, Understanding, understand
from semantic_layer.nl.vocabulary import Vocabulary

__all__ = ["Outcome", "Reading", "Understanding", "Vocabulary", "understand"]
