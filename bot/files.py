"""Files attached to answers: full lists as CSV, the transactions CSV. The statement's PDF and CSV are in
bot/statement_pdf.py, the chart in bot/charts.py."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Sequence

from bot.answer import Answer, FileAttachment
from semantic_layer.types import TransactionsPerMonth

log = logging.getLogger(__name__)


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if v is None else str(v) for v in row] for row in rows])
    return buf.getvalue().encode("utf-8")


def cut_list_csv(
    answer: Answer, total: int, limit: int, filename: str, title: str, header: Sequence[str],
    rows: Iterable[Sequence[object]],
) -> Answer:
    """Slack shows `limit` rows; when there are more (`total`), the whole list goes along as a CSV file."""
    if total > limit:
        answer.files.append(FileAttachment(filename, csv_bytes(header, rows), title))
    return answer


def transactions_csv(tpm: TransactionsPerMonth) -> FileAttachment:
    """Month, type (its human label: a P2P transfer is one "P2P transfer"), count, volume (currency in the header)."""
    from decimal import Decimal

    from bot.labels import aggregate_type_label
    from bot.money import money_column

    totals: dict[tuple[str, str], tuple[int, Decimal]] = {}
    for r in tpm.rows:
        key = (str(r.month), aggregate_type_label(r.transaction_type))
        count, volume = totals.get(key, (0, Decimal("0.00")))
        totals[key] = (count + r.transaction_count, volume + r.transaction_volume)
    rows = [[month, label, count, volume] for (month, label), (count, volume) in sorted(totals.items())]
    header = ["month", "type", "count", money_column("volume")]
    return FileAttachment("transactions.csv", csv_bytes(header, rows), "Transactions per month (CSV)")
