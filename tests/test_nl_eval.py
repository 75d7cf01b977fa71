"""The plain-English evaluation set (tests/questions/): exact-interpretation accuracy per group, >= 95 % overall,
and no confident answer to a question that must be refused or clarified. The catalog comes from the semantic
manifest alone (`dbt parse`, no warehouse); the as-of date and the dimension values are pinned (load.yml)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from finefin.transform import run_dbt
from semantic_layer.nl import Outcome, Vocabulary, understand
from semantic_layer.nl.evaluation import interpretation, load_vocabulary, manifest_catalog, principal, questions

QUESTIONS = Path(__file__).parent / "questions"
GOAL = 0.95


@pytest.fixture(scope="module")
def vocab(tmp_path_factory: pytest.TempPathFactory) -> Vocabulary:
    target = tmp_path_factory.mktemp("nl_parse")
    import os

    os.environ.setdefault("FINEFIN_WAREHOUSE", str(target / "warehouse.duckdb"))
    assert run_dbt(["parse"], target="duckdb", target_path=target / "target").success
    return load_vocabulary(manifest_catalog(target / "target" / "semantic_manifest.json"), QUESTIONS)


def test_the_set_is_large_and_covers_every_role_and_outcome() -> None:
    qs = list(questions(QUESTIONS))
    assert len(qs) >= 250
    assert {q.role for q in qs} == {"director", "advisor", "customer"}
    assert {q.expect for q in qs} == {"answer", "clarify", "refuse"}


def test_accuracy_per_group_and_no_confident_answer_to_refuse_or_clarify(vocab: Vocabulary) -> None:
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    wrong: list[str] = []
    confident_when_not: list[str] = []
    for q in questions(QUESTIONS):
        got = understand(q.text, vocab, principal(q.role))
        total[q.group] += 1
        if q.expect == "answer":
            ok = interpretation(got, vocab.as_of) == q.interpretation
        else:
            ok = got.outcome.value == q.expect
            if got.outcome is Outcome.ANSWER:
                confident_when_not.append(f"{q.text!r} ({q.role}): answered {interpretation(got, vocab.as_of)}")
        if ok:
            right[q.group] += 1
        else:
            wrong.append(f"[{q.group}] {q.text!r} ({q.role}): got {got.outcome.value} "
                         f"{interpretation(got, vocab.as_of) or got.message}")
    report = "\n".join(f"{g}: {right[g]}/{total[g]} = {right[g] / total[g]:.1%}" for g in sorted(total))
    overall = sum(right.values()) / sum(total.values())
    print(f"\n{report}\noverall: {sum(right.values())}/{sum(total.values())} = {overall:.1%}")
    print("\n".join(wrong))
    assert confident_when_not == [], "\n".join(confident_when_not)
    assert overall >= GOAL, f"{overall:.1%} < {GOAL:.0%}\n{report}\n" + "\n".join(wrong)
