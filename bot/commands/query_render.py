"""A `MetricAnswer` as Slack shows it: the receipt line, a compact table, the CSV, the chart (pure functions).

- Receipt: what was computed, in words (metrics with their one-line definitions, grouping, grain, period, filters).
- Table: monospace, within one section's 3,000 characters and the answer's row limit; a longer result goes along
  as CSV too. A time bucket not over at the data's as-of date is marked "to date".
- Chart: a line per series along the time axis, or bars per category; labelled, currency, as-of.
Every text from data or users is escaped (bot.blocks.esc) before it reaches mrkdwn.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from bot import blocks as bk
from bot.answer import FileAttachment
from bot.escape import slack_text
from bot.files import csv_bytes
from bot.money import currency, money_column
from semantic_layer.catalog import DIMENSION_BY_KEY, Grain, ValueKind
from semantic_layer.query import MetricAnswer, bucket_end

GRAIN_ADVERBS = {Grain.DAY: "daily", Grain.WEEK: "weekly", Grain.MONTH: "monthly", Grain.QUARTER: "quarterly",
                 Grain.YEAR: "yearly"}
MAX_CHART_SERIES = 8
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#9E9E9E")


def receipt(answer: MetricAnswer) -> str:
    """One line saying what was computed, in words (mrkdwn, escaped)."""
    q = answer.query
    parts = [" + ".join(f"*{bk.esc(answer.labels[m])}*" for m in q.metrics)]
    if q.group_by:
        parts.append("by " + ", ".join(bk.esc(DIMENSION_BY_KEY[d].label) for d in q.group_by))
    if q.grain:
        parts.append(GRAIN_ADVERBS[q.grain])
    parts.append(answer.period.describe() if answer.period else f"all data to {answer.as_of.isoformat()}")
    for key, values in answer.filters:
        parts.append(f"{bk.esc(DIMENSION_BY_KEY[key].label)} = " + ", ".join(bk.esc(str(v)) for v in values))
    if answer.scoped_to is not None:
        parts.append("your accounts only")
    if q.limit:
        order = q.order[0] if q.order else None
        word = "top" if order is None or order.descending else "bottom"
        parts.append(f"{word} {q.limit}")
    return " · ".join(parts)


def definitions(answer: MetricAnswer) -> str:
    return "\n".join(f"_{bk.esc(answer.labels[m])}_: {bk.esc(answer.definitions[m])}" for m in answer.query.metrics)


def cell(value: Any, kind: ValueKind, grain: Grain | None = None, partial: bool = False) -> str:
    if value is None:
        return "–"
    if kind is ValueKind.MONEY:
        return f"{value:,.2f}"
    if kind is ValueKind.COUNT:
        return f"{value:,d}"
    if kind is ValueKind.PERCENT:
        return f"{value:+.1f}%"
    if kind is ValueKind.TIME:
        return time_label(value, grain) + (" (to date)" if partial else "")
    return str(value)


def time_label(day: date, grain: Grain | None) -> str:
    match grain:
        case Grain.MONTH:
            return f"{day:%Y-%m}"
        case Grain.QUARTER:
            return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
        case Grain.YEAR:
            return str(day.year)
        case Grain.WEEK:
            return f"wk {day.isoformat()}"
    return day.isoformat()


def table_lines(answer: MetricAnswer, limit: int) -> list[str]:
    """The first `limit` rows as aligned text columns (header first), cut to fit one Slack section."""
    headers = [_header(c.label, c.kind) for c in answer.columns]
    body = [[cell(v, c.kind, answer.query.grain, c.kind is ValueKind.TIME and v in answer.partial_buckets)
             for v, c in zip(row, answer.columns, strict=True)] for row in answer.rows[:limit]]
    widths = [min(32, max(len(h), *(len(r[i]) for r in body))) if body else len(h) for i, h in enumerate(headers)]
    right = [c.kind in (ValueKind.MONEY, ValueKind.COUNT, ValueKind.PERCENT, ValueKind.ID) for c in answer.columns]

    def fmt(values: Sequence[str]) -> str:
        out = []
        for value, width, is_number in zip(values, widths, right, strict=True):
            value = bk.truncate(value, width)
            out.append(value.rjust(width) if is_number else value.ljust(width))
        return "  ".join(out).rstrip()

    lines = [fmt(headers)] + [fmt(r) for r in body]
    budget = bk.MAX_SECTION_CHARS - 10
    kept: list[str] = []
    for line in lines:
        if sum(len(k) + 1 for k in kept) + len(line) > budget:
            break
        kept.append(line)
    return kept


def _header(label: str, kind: ValueKind) -> str:
    return f"{label} ({currency()})" if kind is ValueKind.MONEY else label


def table_block(answer: MetricAnswer, limit: int) -> tuple[bk.Block, int]:
    """The table as one section, and how many rows it shows."""
    lines = table_lines(answer, limit)
    # values from the warehouse: escaped whole, the table's line breaks kept (a code block shows them as typed)
    text = "```" + slack_text("\n".join(lines), bk.MAX_SECTION_CHARS - 6, multiline=True) + "```"
    return bk.section(text), max(0, len(lines) - 1)


def csv_file(answer: MetricAnswer) -> FileAttachment:
    header = [money_column(c.name) if c.kind is ValueKind.MONEY else c.name for c in answer.columns]
    rows = [[v.isoformat() if isinstance(v, date) else v for v in row] for row in answer.rows]
    name = "-".join(answer.query.metrics)[:60]
    return FileAttachment(f"{name}-{answer.as_of}.csv", csv_bytes(header, rows), "Query result (CSV)")


def chart_file(answer: MetricAnswer) -> FileAttachment | None:
    """A PNG: lines along time (one per category of the first dimension), or bars per category; None when the
    answer is a single figure or has no plottable axis."""
    q = answer.query
    if not answer.rows or len(answer.rows) < 2:
        return None
    metric = q.metrics[0]
    mi = answer.column(metric)
    kind = answer.columns[mi].kind
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    fig = Figure(figsize=(10, 5.5), dpi=100, layout="constrained")
    ax = fig.subplots()
    unit = f" ({currency()})" if kind is ValueKind.MONEY else " (%)" if kind is ValueKind.PERCENT else ""
    title = answer.labels[metric] + (" by " + ", ".join(DIMENSION_BY_KEY[d].label for d in q.group_by)
                                     if q.group_by else "")
    if answer.has_time:
        series: dict[str, dict[date, float]] = {}
        for row in answer.rows:
            label = " / ".join(str(v) for v in row[1:mi]) or answer.labels[metric]
            if row[0] is not None and row[mi] is not None:
                series.setdefault(label, {})[row[0]] = float(row[mi])
        ranked = sorted(series, key=lambda s: -sum(abs(v) for v in series[s].values()))[:MAX_CHART_SERIES]
        times = sorted({t for s in ranked for t in series[s]})
        for colour, label in zip(PALETTE, ranked, strict=False):
            ax.plot(range(len(times)), [series[label].get(t, 0.0) for t in times], marker="o", color=colour,
                    label=label)
        ax.set_xticks(range(len(times)), [time_label(t, q.grain) + ("*" if t in answer.partial_buckets else "")
                                          for t in times], rotation=45 if len(times) > 8 else 0,
                      ha="right" if len(times) > 8 else "center")
        if len(ranked) > 1:
            ax.legend(frameon=False, fontsize=9)
        if len(series) > len(ranked):
            title += f" (largest {len(ranked)} of {len(series)})"
    elif q.group_by:
        labels = [" / ".join(str(v) for v in row[:mi]) for row in answer.rows][:30]
        values = [float(row[mi] or 0) for row in answer.rows][:30]
        ax.bar(range(len(values)), values, color=PALETTE[0])
        ax.set_xticks(range(len(values)), [bk.truncate(lbl, 20) for lbl in labels], rotation=45 if len(values) > 6
                      else 0, ha="right" if len(values) > 6 else "center")
    else:
        return None
    ax.set_title(title + unit, loc="left", fontsize=12)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))
    ax.grid(axis="y", color="#DDDDDD", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    note = f"Data to {answer.as_of.isoformat()}"
    if answer.partial_buckets:
        note += " · * period to date (not over yet)"
    fig.supxlabel(note, fontsize=8.5, color="#444444", x=0.01, ha="left")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return FileAttachment("chart.png", buf.getvalue(), bk.truncate(title, 100))


def summary_text(answer: MetricAnswer) -> str:
    """The notification fallback: the receipt without markup, and the figure when there is one row."""
    text = receipt(answer).replace("*", "")
    if len(answer.rows) == 1 and len(answer.query.metrics) == 1:
        row = answer.rows[0]
        column = answer.columns[-1]
        text += f": {cell(row[-1], column.kind)}" + (f" {currency()}" if column.kind is ValueKind.MONEY else "")
    return text


def partial_note(answer: MetricAnswer) -> str | None:
    if not answer.partial_buckets or answer.query.grain is None:
        return None
    grain = answer.query.grain
    latest = max(answer.partial_buckets)
    if bucket_end(latest, grain) > answer.as_of:
        return (f"{time_label(latest, grain)} is to date: the data ends on {answer.as_of.isoformat()}, before the "
                f"{grain.value} is over.")
    return "The first or last period is cut by the period asked for."


def as_decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(value or 0)
