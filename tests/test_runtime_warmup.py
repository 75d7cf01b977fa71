"""What the answer workers prepare at start (bot/runtime_worker.py), and a start-up that cannot succeed."""

from __future__ import annotations

import dataclasses

import pytest

from bot import charts
from bot import statement_pdf as statements
from bot.runtime import ProcessAnswers, WorkersFailedError
from bot.runtime_worker import WorkerConfig, warm_renderers
from semantic_layer.inputs import CustomerId, Month
from tests.bot_support import build_double, people_for, settings_for


def test_warm_up_prepares_the_statement_font_and_renders_both_files() -> None:
    statements._european_fonts.cache_clear()
    warm_renderers()
    assert statements._european_fonts.cache_info().currsize == 1
    assert statements._european_fonts() is not None


def test_statement_font_is_the_small_subset_only_when_it_covers_the_data() -> None:
    sl = build_double()
    st = sl.statement(CustomerId(1), Month(2026, 10))
    bank = statements.Bank("FineFinance", "12 rue de la Banque", "legal")
    small = statements._european_fonts()
    assert small is not None
    assert statements._statement_font(st, bank) == small[0]  # "Ada Lovelace": Latin
    accented = dataclasses.replace(st, full_name="Chloé Dupré-Łukasiewicz")
    assert statements._statement_font(accented, bank) == small[0]
    for name in ("王小明", "Ольга Петрова"):  # outside the subset: the full font, so nothing prints as a box
        assert statements._statement_font(dataclasses.replace(st, full_name=name), bank) == statements._unicode_font()
    other = dataclasses.replace(st, lines=(dataclasses.replace(st.lines[0], description="Café ☕"), *st.lines[1:]))
    assert statements._statement_font(other, bank) == statements._unicode_font()


def test_the_chart_is_rendered_once_per_data() -> None:
    sl = build_double()
    tpm, fresh = sl.transactions_per_month(12), sl.freshness()
    first = charts.transactions_chart(tpm, fresh)
    again = charts.transactions_chart(tpm, fresh)
    assert again.content is first.content  # the memoized PNG
    later = dataclasses.replace(fresh, last_load_at=fresh.last_load_at.replace(hour=1))  # a new load: new notes
    assert charts.transactions_chart(tpm, later).content != first.content


def test_workers_that_cannot_start_fail_the_start_up_loudly() -> None:
    settings = settings_for(people_for(build_double()))
    answers = ProcessAnswers(WorkerConfig(settings, "tests.runtime_support:broken", warm=False), 1)
    try:
        with pytest.raises(WorkersFailedError, match="could not start"):
            answers.wait_ready(120)
    finally:
        answers.shutdown(wait=True)
