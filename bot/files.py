"""Files attached to answers: full lists as CSV, the transactions chart (PNG). The statement's PDF and CSV are in
bot/statement_pdf.py."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Sequence

from bot.answer import FileAttachment
from semantic_layer.types import TransactionsPerMonth

log = logging.getLogger(__name__)


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if v is None else str(v) for v in row] for row in rows])
    return buf.getvalue().encode("utf-8")


def transactions_csv(tpm: TransactionsPerMonth) -> FileAttachment:
    rows = [[str(r.month), r.transaction_type, r.transaction_count, r.transaction_volume] for r in tpm.rows]
    return FileAttachment(
        "transactions.csv", csv_bytes(["month", "type", "count", "volume"], rows), "Transactions per month (CSV)"
    )


def transactions_chart(tpm: TransactionsPerMonth) -> FileAttachment:
    """Stacked bars: transaction count per month, one colour per type. Agg backend: no display needed."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    months = sorted({r.month for r in tpm.rows})
    types = sorted({r.transaction_type for r in tpm.rows})
    counts = {(r.month, r.transaction_type): r.transaction_count for r in tpm.rows}
    fig = Figure(figsize=(9, 4.5), dpi=100)
    ax = fig.add_subplot()
    bottom = [0] * len(months)
    positions = list(range(len(months)))
    palette = matplotlib.colormaps["tab20"]  # up to 20 distinct colours: tab10 repeats after 10 types
    for i, ttype in enumerate(types):
        values = [counts.get((m, ttype), 0) for m in months]
        ax.bar(positions, values, bottom=bottom, label=ttype, color=palette(i % palette.N))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_title(f"Transactions per month by type, {tpm.first_month} – {tpm.last_month}")
    ax.set_ylabel("transactions")
    ax.set_xticks(positions, [str(m) for m in months], rotation=45)
    if types:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return FileAttachment("transactions.png", buf.getvalue(), "Transactions per month")
