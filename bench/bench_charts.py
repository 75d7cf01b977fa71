"""The transactions chart PNG (bot/charts.py render_png): the renderer before issue 16's rework (constrained layout,
a Rectangle per bar, savefig at zlib level 6; kept here verbatim as `render_png_before`) against the current one,
interleaved in the same run (before, after, before, ...) on the same charts, so machine load hits both alike.

Charts: 12 months x 8 series (the directors' year), 3 months x 3 series, 1 month x 8 series (a delivery's month) and
an empty answer. BENCH_CHARTS renders of each kind per renderer (default 30). Not memoized (render_png, not
render_png_once). BENCH_SCALE=small: 3 renders. Also checks both renderers give the same 1100 x 850 PNG size.

    python -m bench.bench_charts
"""

from __future__ import annotations

import io
import os
import statistics
import struct
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from bot import charts
from bot.charts import TransactionsChart, _thousands, month_label
from semantic_layer.inputs import Month
from semantic_layer.types import Freshness, TransactionsMonthRow, TransactionsPerMonth

COMMAND = "python -m bench.bench_charts"
N = int(os.environ.get("BENCH_CHARTS", "3" if os.environ.get("BENCH_SCALE") == "small" else "30"))
LOADED = datetime(2026, 11, 2, 5, 30, tzinfo=UTC)
FRESH = Freshness(LOADED, LOADED + timedelta(hours=1), timedelta(hours=26))
TYPES = {"card_payment": 900_000, "deposit": 300_000, "withdrawal": 250_000, "p2p_out": 200_000, "fee": 150_000,
         "loan_disbursement": 3_000, "interest_payout": 120_000, "loan_repayment": 40_000, "investment_buy": 10_000,
         "interest_charge": 20_000, "investment_sell": 2_000}


def render_png_before(chart: TransactionsChart) -> bytes:
    """bot/charts.py render_png as merged before the rework (main 96159c5)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    fig = Figure(figsize=(11, 8.5), dpi=100, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    positions = list(range(len(chart.months)))
    handles = {}
    for ax, title, is_volume in ((top, "Number of transactions", False),
                                 (bottom, f"Volume ({chart.currency})", True)):
        base = [0.0] * len(positions)
        for s in chart.series:
            values = [float(v) for v in (s.volumes if is_volume else s.counts)]
            handles[s.label] = ax.bar(positions, values, bottom=base, color=s.colour, label=s.label, width=0.75,
                                      edgecolor="white", linewidth=0.5)
            base = [b + v for b, v in zip(base, values, strict=True)]
        ax.set_title(title, loc="left", fontsize=11)
        ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6))
        ax.grid(axis="y", color="#DDDDDD", linewidth=0.8)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    rotate = len(positions) > 8
    bottom.set_xticks(positions, [month_label(m) for m in chart.months], rotation=45 if rotate else 0,
                      ha="right" if rotate else "center")
    fig.suptitle(chart.title, fontsize=14, x=0.01, ha="left")
    if chart.series:
        fig.legend([handles[label] for label in chart.legend], list(chart.legend), loc="outside right upper",
                   frameon=False, fontsize=10)
    fig.supxlabel("\n".join(chart.notes), fontsize=8.5, color="#444444", x=0.01, ha="left")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def tpm(months: int, types: int) -> TransactionsPerMonth:
    ms = [Month(2025, 12)]
    while len(ms) < months:
        ms.append(ms[-1].next)
    chosen = dict(list(TYPES.items())[:types])
    rows = tuple(TransactionsMonthRow(m, t, n + 97 * i, Decimal(n) * Decimal("123.45") * (i + 1))
                 for i, m in enumerate(ms) for t, n in sorted(chosen.items()))
    return TransactionsPerMonth(ms[0], ms[-1], rows, date(2026, 11, 1))


CASES = {"12 months, 8 series": tpm(12, 11), "3 months, 3 series": tpm(3, 3), "1 month, 8 series": tpm(1, 11),
         "empty": TransactionsPerMonth(Month(2026, 1), Month(2026, 1), (), None)}


def size(png: bytes) -> tuple[int, int]:
    return struct.unpack(">II", png[16:24])


def main() -> None:
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    renderers = {"before": render_png_before, "after": charts.render_png}
    rows = []
    for name, data in CASES.items():
        chart = charts.transactions_chart_data(data, FRESH)
        for render in renderers.values():  # warm-up: imports, font cache
            render(chart)
        times: dict[str, list[float]] = {k: [] for k in renderers}
        sizes: dict[str, int] = {}
        for _ in range(N):
            for key, render in renderers.items():
                t0 = time.perf_counter()
                png = render(chart)
                times[key].append((time.perf_counter() - t0) * 1000)
                sizes[key] = len(png)
                assert size(png) == (1100, 850), size(png)
        before, after = statistics.median(times["before"]), statistics.median(times["after"])
        rows.append(f"| {name} | {before:.0f} | {after:.0f} | {before / after:.1f}x | "
                    f"{sizes['before'] // 1000} / {sizes['after'] // 1000} |")
    load_end = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    print("## Transactions chart PNG: before / after the rework (bench/bench_charts.py)\n")
    print(f"Command: `{COMMAND}` ({N} renders of each chart per renderer, interleaved). Load average (1 / 5 / 15 min) "
          f"at the start: {load}, at the end: {load_end}.\n")
    print("| chart | before ms (median) | after ms (median) | speed-up | PNG kB before / after |")
    print("|---|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
