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
import threading
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


# Fixed layout of the 1100 x 850 px figure (fractions of the figure): constrained layout solved the same boxes on
# every render and cost about a third of it. These leave room for rotated month labels, three note lines and a legend
# of MAX_SERIES labels of up to ~22 characters; the left margin grows with the widest y tick label (_fit_left_margin).
WIDTH_IN, HEIGHT_IN, DPI = 11, 8.5, 100
_LEFT, _RIGHT = 0.07, 0.80
_TOP_AXES = (_LEFT, 0.565, _RIGHT - _LEFT, 0.345)
_BOTTOM_AXES = (_LEFT, 0.165, _RIGHT - _LEFT, 0.345)
_LEGEND_ANCHOR = (_RIGHT + 0.01, 0.91)
_PNG_OPTIONS = {"compress_level": 3}  # zlib level 6 (the default) took ~20 % of a render for ~10 % smaller files


class _Canvas:
    """One thread's Figure, its two axes and its texts, made once and redrawn for every chart.

    Making a Figure, two Axes and their ~40 tick artists took about a third of a render; what a chart changes (bars,
    limits, month ticks, texts, legend) is set again on every render, and the bars and legend are removed after it,
    so nothing of one chart is left in the next. Never shared between threads (see `_canvas`)."""

    def __init__(self) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter, MaxNLocator

        self.figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
        self.canvas = FigureCanvasAgg(self.figure)
        self.top = self.figure.add_axes(_TOP_AXES)
        self.bottom = self.figure.add_axes(_BOTTOM_AXES, sharex=self.top)
        self.panel_titles = []
        for ax in (self.top, self.bottom):
            # a plain text above the axes: set_title re-measures every tick label to place itself on every draw
            self.panel_titles.append(ax.text(0, 1.02, "", fontsize=11, ha="left", va="bottom", transform=ax.transAxes))
            ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
            ax.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))  # an empty chart: 0, 1 (not 0, 0, 1)
            ax.grid(axis="y", color="#DDDDDD", linewidth=0.8)
            ax.set_axisbelow(True)
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
        self.top.tick_params(axis="x", labelbottom=False)
        self.title = self.figure.text(0.01, 0.985, "", fontsize=14, ha="left", va="top")
        self.notes = self.figure.text(0.01, 0.012, "", fontsize=8.5, color="#444444", ha="left", va="bottom")

    def render(self, chart: TransactionsChart) -> bytes:
        positions = list(range(len(chart.months)))
        added = []
        try:
            handles: list = []
            for ax, text, title, is_volume in ((self.top, self.panel_titles[0], "Number of transactions", False),
                                               (self.bottom, self.panel_titles[1], f"Volume ({chart.currency})", True)):
                text.set_text(title)
                handles = self._stack(ax, positions, chart, is_volume, added)
            self._fit_left_margin()
            rotate = len(positions) > 8
            self.bottom.set_xticks(positions, [month_label(m) for m in chart.months], rotation=45 if rotate else 0,
                                   ha="right" if rotate else "center")
            self.title.set_text(chart.title)
            if chart.series:  # top of the stack first, as the eye reads the bars
                added.append(self.figure.legend(handles[::-1], list(chart.legend), loc="upper left",
                                                bbox_to_anchor=_LEGEND_ANCHOR, frameon=False, fontsize=10))
            self.notes.set_text("\n".join(chart.notes))
            buf = io.BytesIO()
            self.canvas.print_png(buf, pil_kwargs=_PNG_OPTIONS)  # imsave copies the dict before adding to it
            return buf.getvalue()
        finally:
            for artist in added:
                artist.remove()

    @staticmethod
    def _stack(ax, positions: list[int], chart: TransactionsChart, is_volume: bool, added: list) -> list:
        """One PolyCollection per series (not a Rectangle artist per bar); returns the legend handles, bottom first."""
        from matplotlib.collections import PolyCollection
        from matplotlib.patches import Patch

        half = 0.75 / 2
        base = [0.0] * len(positions)
        handles = []
        for s in chart.series:
            values = [float(v) for v in (s.volumes if is_volume else s.counts)]
            bars = [((x - half, b), (x - half, b + v), (x + half, b + v), (x + half, b))
                    for x, b, v in zip(positions, base, values, strict=True)]
            added.append(ax.add_collection(
                PolyCollection(bars, facecolors=s.colour, edgecolors="white", linewidths=0.5), autolim=False))
            handles.append(Patch(facecolor=s.colour, edgecolor="white", linewidth=0.5, label=s.label))
            base = [b + v for b, v in zip(base, values, strict=True)]
        top = max(base, default=0.0)
        ax.set_ylim(0, top * 1.05 if top > 0 else 1)  # as autoscaling did: bars from 0, a 5 % margin above
        ax.set_xlim(-0.6, len(positions) - 0.4)
        return handles

    def _fit_left_margin(self) -> None:
        """Both panels start where the widest tick label ("3,000,000,000") ends: no label cut, no layout engine."""
        widest = max(_label_width_px(ax.get_ylim()[1]) for ax in (self.top, self.bottom))
        left = max(_LEFT, (widest + 16) / (WIDTH_IN * DPI))
        for ax, box in ((self.top, _TOP_AXES), (self.bottom, _BOTTOM_AXES)):
            ax.set_position((left, box[1], _RIGHT - left, box[3]))


def _label_width_px(value: float) -> float:
    """A y tick label's width at 10 pt, 100 dpi, at most, in DejaVu Sans (matplotlib's default font): a digit is
    0.636 em (8.8 px), a comma 0.318 em; plus the tick (3.5 pt) and its padding (3.5 pt). Tick labels never exceed the
    axis's upper limit."""
    text = f"{value:,.0f}"
    return sum(8.9 if c.isdigit() else 4.5 for c in text) + 10


_local = threading.local()


def _canvas() -> _Canvas:
    """This thread's canvas: matplotlib Figures are not thread-safe, and the bot renders on several threads at once
    (InProcessAnswers' pool, deliveries) and in worker processes (each has its own)."""
    canvas = getattr(_local, "canvas", None)
    if canvas is None:
        canvas = _local.canvas = _Canvas()
    return canvas


def render_png(chart: TransactionsChart) -> bytes:
    """Two stacked-bar panels sharing the month axis: counts on top, volume below; one legend, notes underneath.
    Drawn with a fixed layout by this thread's reused Figure, the Agg canvas straight to PNG."""
    try:
        return _canvas().render(chart)
    except Exception:
        _local.canvas = None  # a half-drawn figure is not reused
        raise


@functools.lru_cache(maxsize=8)
def render_png_once(chart: TransactionsChart) -> bytes:
    """`render_png` memoized on the chart's data (frozen, hashable): every director asking between two loads gets
    the same chart, and matplotlib takes ~0.1 s of CPU per render (a burst of 20 renders it once per process)."""
    return render_png(chart)


def transactions_chart(tpm: TransactionsPerMonth, freshness: Freshness) -> FileAttachment:
    chart = transactions_chart_data(tpm, freshness)
    return FileAttachment("transactions.png", render_png_once(chart), chart.title)
