"""The evaluation set of tests/questions/ read against a catalog built from the semantic manifest alone (no
warehouse): shared by tests/test_nl_eval.py and bench/bench_nl.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from semantic_layer.catalog import Catalog
from semantic_layer.inputs import CustomerId
from semantic_layer.nl.names import NameIndex
from semantic_layer.nl.parser import Outcome, Understanding
from semantic_layer.nl.vocabulary import Vocabulary
from semantic_layer.policy import Audience, Principal

ASKING_CUSTOMER = 4242  # the id of the customer who asks the customer questions (from identity, never text)


def manifest_catalog(semantic_manifest: Path) -> Catalog:
    """The catalog of a `semantic_manifest.json` (as `dbt parse` writes it), with MetricFlow's group-by items
    computed in process and no SQL client: no warehouse is opened."""
    from metricflow.engine.metricflow_engine import MetricFlowEngine
    from metricflow_semantics.model.dbt_manifest_parser import parse_manifest_from_dbt_generated_manifest
    from metricflow_semantics.model.semantic_manifest_lookup import SemanticManifestLookup

    manifest = parse_manifest_from_dbt_generated_manifest(manifest_json_string=semantic_manifest.read_text())
    engine = MetricFlowEngine(semantic_manifest_lookup=SemanticManifestLookup(manifest), sql_client=None)
    return Catalog.from_manifest("manifest", manifest, engine)


def principal(role: str) -> Principal:
    audience = Audience(role)
    if audience is Audience.CUSTOMER:
        return Principal(frozenset({audience}), CustomerId(ASKING_CUSTOMER))
    return Principal(frozenset({audience}))


@dataclass(frozen=True)
class Question:
    group: str  # the file's stem
    text: str
    role: str
    expect: str  # answer | clarify | refuse
    interpretation: dict[str, Any]


def load_vocabulary(catalog: Catalog, questions_dir: Path) -> Vocabulary:
    load = yaml.safe_load((questions_dir / "load.yml").read_text())
    names = NameIndex.of((c["id"], c["name"]) for c in load["customers"]) if load.get("customers") else None
    return Vocabulary.of(catalog, load["as_of"], {k: tuple(v) for k, v in load["values"].items()}, names)


def questions(questions_dir: Path) -> Iterator[Question]:
    for path in sorted(questions_dir.glob("*.yml")):
        if path.name == "load.yml":
            continue
        data = yaml.safe_load(path.read_text())
        for q in data["questions"]:
            expect = q.get("expect", "answer")
            yield Question(path.stem, q["q"], q.get("role", data["role"]), expect, {
                "metrics": sorted(q.get("metrics") or ()),
                "by": sorted(q.get("by") or ()),
                "grain": q.get("grain"),
                "period": _days(q.get("period")),
                "filters": {k: sorted(str(v) for v in vs) for k, vs in (q.get("filters") or {}).items()},
                "compare": _days(q.get("compare")),
                "limit": q.get("limit"),
            })


def interpretation(understanding: Understanding, as_of: date) -> dict[str, Any] | None:
    """The best reading in the shape of a question's expectation (None when the parser did not answer)."""
    best = understanding.best
    if understanding.outcome is not Outcome.ANSWER or best is None:
        return None
    q = best.query
    period = q.period.resolve(as_of) if q.period else None
    compare = best.compare.resolve(as_of) if best.compare else None
    filters: dict[str, list[str]] = {}
    for f in q.filters:
        filters.setdefault(f.dimension, [])
        filters[f.dimension] = sorted({*filters[f.dimension], *f.values})
    return {
        "metrics": sorted(q.metrics),
        "by": sorted(q.group_by),
        "grain": q.grain.value if q.grain else None,
        "period": (period.first, period.last) if period else None,
        "filters": filters,
        "compare": (compare.first, compare.last) if compare else None,
        "limit": q.limit,
    }


def _days(pair: list[date] | None) -> tuple[date, date] | None:
    return None if not pair else (pair[0], pair[1])
