"""Files attached to answers: statement PDF (fpdf2) and CSV, full lists as CSV, the transactions CSV (the chart is
bot.charts)."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from bot.answer import FileAttachment
from semantic_layer.types import Freshness, Statement, TransactionsPerMonth

log = logging.getLogger(__name__)


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if v is None else str(v) for v in row] for row in rows])
    return buf.getvalue().encode("utf-8")


def statement_csv(statement: Statement) -> FileAttachment:
    """Opening line, every booked transaction with its running balance, closing line."""
    rows: list[list[object]] = [["", "", "", "opening_balance", "Opening balance", "", statement.opening_balance]]
    rows += [
        [
            line.booked_at.isoformat(),
            line.transaction_id,
            line.account_id,
            line.transaction_type,
            line.description,
            line.amount,
            line.running_balance,
        ]
        for line in statement.lines
    ]
    rows.append(["", "", "", "closing_balance", "Closing balance", "", statement.closing_balance])
    content = csv_bytes(
        ["booked_at", "transaction_id", "account_id", "type", "description", "amount", "running_balance"], rows
    )
    return FileAttachment(f"statement-{statement.month}.csv", content, f"Statement {statement.month} (CSV)")


@lru_cache(maxsize=1)
def _unicode_font() -> Path | None:
    """DejaVuSans ships with matplotlib; it covers names Helvetica (latin-1 only) cannot print."""
    try:
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        return path if path.exists() and path.with_name("DejaVuSans-Bold.ttf").exists() else None
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        return None


def statement_pdf(statement: Statement, freshness: Freshness) -> FileAttachment:
    from fpdf import FPDF

    from bot.blocks import freshness_text, money

    pdf = FPDF(orientation="P", unit="mm", format="A4")
    font = _unicode_font()
    if font is not None:
        pdf.add_font("DejaVu", "", str(font))
        pdf.add_font("DejaVu", "B", str(font.with_name("DejaVuSans-Bold.ttf")))
        family = "DejaVu"
    else:
        family = "Helvetica"

    def text(value: str) -> str:
        return value if font is not None else value.encode("latin-1", "replace").decode("latin-1")

    pdf.set_title(f"FineFinance statement {statement.month}")
    pdf.add_page()
    pdf.set_font(family, size=16)
    pdf.cell(0, 10, text(f"FineFinance statement {statement.month}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, size=10)
    pdf.cell(0, 6, text(f"{statement.full_name} (customer {statement.customer_id})"), new_x="LMARGIN", new_y="NEXT")
    pdf.cell(
        0,
        6,
        text(f"Period {statement.month.first_day.isoformat()} to {statement.month.last_day.isoformat()}"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(3)
    pdf.cell(0, 7, text(f"Opening balance: {money(statement.opening_balance)}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    widths = (30, 16, 28, 56, 30, 30)
    pdf.set_font(family, size=8)
    with pdf.table(col_widths=widths, text_align=("LEFT", "RIGHT", "LEFT", "LEFT", "RIGHT", "RIGHT")) as table:
        table.row(["Booked", "Account", "Type", "Description", "Amount", "Balance"])
        for line in statement.lines:
            table.row(
                [
                    line.booked_at.strftime("%Y-%m-%d %H:%M"),
                    str(line.account_id),
                    text(line.transaction_type),
                    text(line.description[:60]),
                    money(line.amount),
                    money(line.running_balance),
                ]
            )
    pdf.ln(3)
    pdf.set_font(family, size=10)
    pdf.cell(
        0,
        7,
        text(f"Money in: {money(statement.total_in)}   Money out: {money(statement.total_out)}"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.cell(0, 7, text(f"Closing balance: {money(statement.closing_balance)}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, size=8)
    pdf.cell(0, 6, text(freshness_text(freshness)), new_x="LMARGIN", new_y="NEXT")
    return FileAttachment(f"statement-{statement.month}.pdf", bytes(pdf.output()), f"Statement {statement.month} (PDF)")


def transactions_csv(tpm: TransactionsPerMonth) -> FileAttachment:
    """Month, type (its human label: a P2P transfer is one "P2P transfer"), count, volume (currency in the header)."""
    from decimal import Decimal

    from bot.labels import transaction_type_label
    from bot.money import money_column

    totals: dict[tuple[str, str], tuple[int, Decimal]] = {}
    for r in tpm.rows:
        key = (str(r.month), transaction_type_label(r.transaction_type))
        count, volume = totals.get(key, (0, Decimal("0.00")))
        totals[key] = (count + r.transaction_count, volume + r.transaction_volume)
    rows = [[month, label, count, volume] for (month, label), (count, volume) in sorted(totals.items())]
    header = ["month", "type", "count", money_column("volume")]
    return FileAttachment("transactions.csv", csv_bytes(header, rows), "Transactions per month (CSV)")
