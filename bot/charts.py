"""The directors' transactions chart: how many transactions and how much money per month, by type (PNG).

`transactions_chart_data` decides everything shown (months, series, colours, legend order, title, notes) and is tested
on its own; `render_png` only draws it. Rules:
- the period is the answer's real first and last month (complete months, never before the data starts);
- a P2P transfer counts once: the semantic layer returns its sending side only (metric transaction_count_p2p_once),
  and types sharing a label (p2p_in / p2p_out, "P2P transfer") are summed, never drawn twice;
- at most MAX_SERIES colours: the largest types (by their share of the count or of the volume, whichever is larger),
  the rest summed as "Other"; largest at the bottom of the stack, "Other" on top;
- the legend lists the series top of the stack first, as the eye reads the bars;
- amounts carry their currency; axes have thousands separators; a note says when the data is from.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal

from bot.answer import FileAttachment
from bot.blocks import money, plural
from bot.labels import aggregate_type_label
from bot.money import currency
from semantic_layer.inputs import Month
from semantic_layer.types import Freshness, TransactionsPerMonth

MAX_SERIES = 8
OTHER = "Other"
# Okabe & Ito's colour-blind-safe qualitative palette (without black), then grey for "Other"
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
OTHER_COLOUR = "#9E9E9E"
_MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Series:
    """One colour of the stacks: a label, the transaction types it sums, a value per month."""

    label: str
    colour: str
    types: tuple[str, ...]
    counts: tuple[int, ...]
    volumes: tuple[Decimal, ...]


@dataclass(frozen=True)
class TransactionsChart:
    title: str
    months: tuple[Month, ...]
    series: tuple[Series, ...]  # stack order: bottom first
    currency: str
    notes: tuple[str, ...]  # lines printed under the chart

    @property
    def legend(self) -> tuple[str, ...]:
        """Series labels, top of the stack first."""
        return tuple(s.label for s in reversed(self.series))

    def month_count(self, month: Month) -> int:
        i = self.months.index(month)
        return sum(s.counts[i] for s in self.series)

    def month_volume(self, month: Month) -> Decimal:
        i = self.months.index(month)
        return sum((s.volumes[i] for s in self.series), Decimal("0.00"))


def month_label(month: Month) -> str:
    return f"{_MONTH_ABBR[month.month - 1]} {month.year}"


def _months(first: Month, last: Month) -> tuple[Month, ...]:
    months = [first]
    while months[-1] < last:
        months.append(months[-1].next)
    return tuple(months)


def transactions_chart_data(tpm: TransactionsPerMonth, freshness: Freshness,
                            max_series: int = MAX_SERIES) -> TransactionsChart:
    months = _months(tpm.first_month, tpm.last_month)
    index = {m: i for i, m in enumerate(months)}
    counts: dict[str, list[int]] = {}
    volumes: dict[str, list[Decimal]] = {}
    types: dict[str, set[str]] = {}
    for row in tpm.rows:
        if row.month not in index:
            continue
        label = aggregate_type_label(row.transaction_type)
        counts.setdefault(label, [0] * len(months))[index[row.month]] += row.transaction_count
        volumes.setdefault(label, [Decimal("0.00")] * len(months))[index[row.month]] += row.transaction_volume
        types.setdefault(label, set()).add(row.transaction_type)
    total_count = sum(sum(c) for c in counts.values()) or 1
    total_volume = sum((sum(v, Decimal(0)) for v in volumes.values()), Decimal(0)) or Decimal(1)

    def share(label: str) -> Decimal:
        return max(Decimal(sum(counts[label])) / total_count, sum(volumes[label], Decimal(0)) / total_volume)

    ranked = sorted(counts, key=lambda label: (-share(label), label))
    named = ranked if len(ranked) <= max_series else ranked[: max_series - 1]
    series = [
        Series(label, PALETTE[i % len(PALETTE)], tuple(sorted(types[label])), tuple(counts[label]),
               tuple(volumes[label]))
        for i, label in enumerate(named)
    ]
    rest = ranked[len(named):]
    if rest:
        series.append(Series(
            OTHER, OTHER_COLOUR, tuple(sorted(t for label in rest for t in types[label])),
            tuple(sum(counts[label][i] for label in rest) for i in range(len(months))),
            tuple(sum((volumes[label][i] for label in rest), Decimal("0.00")) for i in range(len(months))),
        ))
    chart = TransactionsChart(
        title=f"Transactions per month by type, {tpm.first_month} – {tpm.last_month}",
        months=months,
        series=tuple(series),
        currency=currency(),
        notes=(),
    )
    last = months[-1]
    notes = [
        f"{month_label(last)}: {plural(chart.month_count(last), 'transaction')}, "
        f"volume {money(chart.month_volume(last))}.",
        "A P2P transfer between two customers counts once. Complete months only."
        + (f" Other: {', '.join(rest)}." if rest else ""),
        as_of_note(tpm, freshness),
    ]
    return TransactionsChart(chart.title, chart.months, chart.series, chart.currency, tuple(notes))


def as_of_note(tpm: TransactionsPerMonth, freshness: Freshness) -> str:
    """"Data as of <the data's last booking day>", and when it was loaded."""
    loaded = freshness.last_load_at
    load = "no load recorded" if loaded is None else f"loaded {loaded.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    if tpm.as_of is None:
        return f"Data {load}."
    return f"Data as of {tpm.as_of.isoformat()} (latest booking), {load}."


def _thousands(value: float, _position: int) -> str:
    return f"{value:,.0f}"


def render_png(chart: TransactionsChart) -> bytes:
    """Two stacked-bar panels sharing the month axis: counts on top, volume below; one legend, notes underneath."""
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
    if chart.series:  # top of the stack first, as the eye reads the bars
        fig.legend([handles[label] for label in chart.legend], list(chart.legend), loc="outside right upper",
                   frameon=False, fontsize=10)
    fig.supxlabel("\n".join(chart.notes), fontsize=8.5, color="#444444", x=0.01, ha="left")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


@functools.lru_cache(maxsize=8)
def render_png_once(chart: TransactionsChart) -> bytes:
    """`render_png` memoized on the chart's data (frozen, hashable): every director asking between two loads gets
    the same chart, and matplotlib takes ~0.3 s of CPU per render (a burst of 20 renders it once per process)."""
    return render_png(chart)


def transactions_chart(tpm: TransactionsPerMonth, freshness: Freshness) -> FileAttachment:
    chart = transactions_chart_data(tpm, freshness)
    return FileAttachment("transactions.png", render_png_once(chart), chart.title)
