"""The directors' transactions chart and CSV: what is plotted (series, grouping, order, colours, title, notes) is
checked on the data the figure is drawn from; the PNG is rendered and its size read back."""

from __future__ import annotations

import csv
import io
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from bot import charts
from bot.blocks import money
from bot.files import transactions_csv
from bot.labels import aggregate_type_label
from semantic_layer.inputs import Month
from semantic_layer.types import Freshness, TransactionsMonthRow, TransactionsPerMonth

D = Decimal
LOADED = datetime(2026, 11, 2, 5, 30, tzinfo=UTC)
FRESH = Freshness(LOADED, LOADED + timedelta(hours=1), timedelta(hours=26))
MONTHS = (Month(2025, 12), Month(2026, 1), Month(2026, 2))
# type: (count, volume) per month; loans are few but large, interest payouts many but tiny
TYPES = {
    "card_payment": (900, "45000.00"),
    "deposit": (300, "600000.00"),
    "withdrawal": (250, "50000.00"),
    "p2p_out": (200, "40000.00"),
    "fee": (150, "750.00"),
    "loan_disbursement": (3, "90000.00"),
    "interest_payout": (120, "60.00"),
    "loan_repayment": (40, "8000.00"),
    "investment_buy": (10, "5000.00"),
    "interest_charge": (20, "100.00"),
    "investment_sell": (2, "900.00"),
}


def _tpm(types: dict[str, tuple[int, str]], months: tuple[Month, ...] = MONTHS,
         skip: frozenset[Month] = frozenset()) -> TransactionsPerMonth:
    rows = tuple(
        TransactionsMonthRow(m, t, n * (i + 1), D(v) * (i + 1))
        for i, m in enumerate(months) if m not in skip
        for t, (n, v) in sorted(types.items())
    )
    return TransactionsPerMonth(months[0], months[-1], rows, date(2026, 3, 17))


def test_at_most_eight_series_the_largest_named_the_rest_other() -> None:
    tpm = _tpm(TYPES)
    chart = charts.transactions_chart_data(tpm, FRESH)
    labels = [s.label for s in chart.series]
    assert len(chart.series) == charts.MAX_SERIES
    # largest share of the count or of the volume, whichever is larger, first (bottom of the stack); Other on top
    assert labels == ["Deposit", "Card payment", "Withdrawal", "Loan paid out", "P2P transfer", "Fee",
                      "Interest paid", "Other"]
    other = chart.series[-1]
    assert other.types == ("interest_charge", "investment_buy", "investment_sell", "loan_repayment")
    for i, month in enumerate(chart.months):
        rest = [r for r in tpm.rows if r.month == month and r.transaction_type in other.types]
        assert other.counts[i] == sum(r.transaction_count for r in rest)
        assert other.volumes[i] == sum((r.transaction_volume for r in rest), D("0.00"))
        # nothing lost or counted twice
        assert chart.month_count(month) == sum(r.transaction_count for r in tpm.rows if r.month == month)
        assert chart.month_volume(month) == sum((r.transaction_volume for r in tpm.rows if r.month == month), D(0))
    colours = [s.colour for s in chart.series]
    assert len(set(colours)) == len(colours) <= 8 and other.colour == charts.OTHER_COLOUR
    assert chart.legend == tuple(reversed(labels))  # top of the stack first
    assert chart.legend[0] == "Other" and chart.legend[-1] == "Deposit"


def test_human_labels_and_p2p_transfer_once() -> None:
    chart = charts.transactions_chart_data(_tpm(TYPES), FRESH)
    p2p = next(s for s in chart.series if s.label == "P2P transfer")
    assert p2p.types == ("p2p_out",) and p2p.counts == (200, 400, 600)
    assert not any("_" in s.label for s in chart.series)
    assert aggregate_type_label("card_payment") == "Card payment"
    assert aggregate_type_label("p2p_in") == aggregate_type_label("p2p_out") == "P2P transfer"
    assert aggregate_type_label("brand_new_type") == "Brand new type"


def test_few_types_no_other_and_title_is_the_real_period() -> None:
    few = {t: TYPES[t] for t in ("card_payment", "deposit", "p2p_out")}
    tpm = _tpm(few, skip=frozenset({Month(2026, 1)}))  # a month without any transaction stays on the axis, at zero
    chart = charts.transactions_chart_data(tpm, FRESH)
    assert [s.label for s in chart.series] == ["Deposit", "Card payment", "P2P transfer"]
    assert chart.months == MONTHS and chart.month_count(Month(2026, 1)) == 0
    assert chart.title == "Transactions per month by type, 2025-12 – 2026-02"


def test_notes_say_as_of_currency_and_the_last_month(monkeypatch: pytest.MonkeyPatch) -> None:
    tpm = _tpm(TYPES)
    chart = charts.transactions_chart_data(tpm, FRESH)
    last = [r for r in tpm.rows if r.month == MONTHS[-1]]
    count, volume = sum(r.transaction_count for r in last), sum((r.transaction_volume for r in last), D("0.00"))
    assert chart.notes[0] == f"Feb 2026: {count:,d} transactions, volume {money(volume)}."
    assert "counts once" in chart.notes[1] and chart.notes[1].endswith(
        "Other: Loan repayment, Interest charged, Investment purchase, Investment sale.")
    assert chart.notes[2] == "Data as of 2026-03-17 (latest booking), loaded 2026-11-02 05:30 UTC."
    assert chart.currency == "EUR"
    monkeypatch.setenv("FINEFIN_CURRENCY", "chf")
    assert charts.transactions_chart_data(tpm, FRESH).currency == "CHF"


def _png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_png_renders_twelve_months_and_an_empty_answer() -> None:
    months = [Month(2025, 3)]
    while len(months) < 12:
        months.append(months[-1].next)
    attachment = charts.transactions_chart(_tpm(TYPES, tuple(months)), FRESH)
    assert attachment.filename == "transactions.png"
    assert _png_size(attachment.content) == (1100, 850) and len(attachment.content) > 30_000
    empty = TransactionsPerMonth(Month(2026, 1), Month(2026, 1), (), None)
    chart = charts.transactions_chart_data(empty, FRESH)
    assert chart.series == () and chart.notes[2] == "Data loaded 2026-11-02 05:30 UTC."
    assert _png_size(charts.render_png(chart)) == (1100, 850)


def _twelve_months() -> tuple[Month, ...]:
    months = [Month(2025, 3)]
    while len(months) < 12:
        months.append(months[-1].next)
    return tuple(months)


def test_a_reused_figure_leaves_nothing_of_one_chart_in_the_next() -> None:
    """Each thread redraws one Figure: a chart rendered after others is byte for byte the chart rendered first, on a
    thread that never drew anything else."""
    year = charts.transactions_chart_data(_tpm(TYPES, _twelve_months()), FRESH)
    few = charts.transactions_chart_data(_tpm({"deposit": TYPES["deposit"]}, MONTHS[:1]), FRESH)
    empty = charts.transactions_chart_data(TransactionsPerMonth(Month(2026, 1), Month(2026, 1), (), None), FRESH)
    fresh: dict[str, bytes] = {}
    for name, chart in (("year", year), ("few", few), ("empty", empty)):
        thread = threading.Thread(target=lambda n=name, c=chart: fresh.__setitem__(n, charts.render_png(c)))
        thread.start()
        thread.join()
    assert len(set(fresh.values())) == 3
    assert [charts.render_png(c) for c in (year, few, empty, year, empty, few)] == [
        fresh["year"], fresh["few"], fresh["empty"], fresh["year"], fresh["empty"], fresh["few"]]


def test_threads_render_at_the_same_time_without_mixing_charts() -> None:
    year = charts.transactions_chart_data(_tpm(TYPES, _twelve_months()), FRESH)
    three = charts.transactions_chart_data(_tpm(TYPES), FRESH)
    expected = {year: charts.render_png(year), three: charts.render_png(three)}
    jobs = [year, three] * 6
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(charts.render_png, jobs))
    assert results == [expected[c] for c in jobs]


def test_the_widest_volume_label_fits_left_of_the_axes() -> None:
    """No layout engine: the left margin is computed from the largest tick label, here 12 digits."""
    huge = charts.transactions_chart_data(_tpm({"deposit": (3, "900000000000.00")}), FRESH)
    canvas = charts._canvas()
    png = canvas.render(huge)
    assert _png_size(png) == (1100, 850)
    renderer = canvas.canvas.get_renderer()
    for ax in (canvas.top, canvas.bottom):
        labels = [t.get_window_extent(renderer) for t in ax.get_yticklabels() if t.get_text()]
        assert labels and min(b.x0 for b in labels) >= 0
    assert max(len(t.get_text()) for t in canvas.bottom.get_yticklabels()) >= len("2,000,000,000,000")


def test_csv_has_labels_and_the_currency_in_the_volume_header(monkeypatch: pytest.MonkeyPatch) -> None:
    tpm = _tpm(TYPES)
    table = list(csv.reader(io.StringIO(transactions_csv(tpm).content.decode())))
    assert table[0] == ["month", "type", "count", "volume_eur"]
    assert ["2026-02", "P2P transfer", "600", "120000.00"] in table
    assert ["2025-12", "Card payment", "900", "45000.00"] in table
    assert len(table) == 1 + len(tpm.rows)
    monkeypatch.setenv("FINEFIN_CURRENCY", "USD")
    assert transactions_csv(tpm).content.decode().splitlines()[0] == "month,type,count,volume_usd"
