"""The monthly statement as a bank issues it: a PDF (fpdf2) and the same lines as CSV.

The PDF repeats a header (bank, period, customer) and a footer (legal line, "Page x of y") on every page, and the
transactions table repeats its column headings after each page break. Accounts are named by their IBAN, never by the
warehouse's ids; amounts go through bot.money (currency from FINEFIN_CURRENCY). The issue date is the data's as-of
date, so the same data gives the same document. File names carry the customer and the month: two customers' files
never overwrite each other in a shared folder (console mode writes every attachment to one folder).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.answer import FileAttachment
from bot.files import csv_bytes
from bot.labels import account_type_label, country_name, transaction_type_label
from bot.money import money, money_column
from bot.settings import BotSettings, get_bot_settings
from semantic_layer.types import Freshness, Statement, StatementAccount

log = logging.getLogger(__name__)

MARGIN = 10.0  # mm, A4: 190 mm of usable width
# Transactions table: date, description, type, account, money in, money out, balance (mm, sums to 190). At 7.5 pt
# the generator's longest description, type label and account reference fit on one line, and amounts up to
# "123,456.78 EUR" (balances to "-1,234,567.89 EUR"); a longer description wraps inside its cell.
COLUMN_WIDTHS = (17.5, 44.5, 31.0, 23.0, 23.5, 23.5, 27.0)
COLUMN_ALIGN = ("LEFT", "LEFT", "LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT")
ROW_HEIGHT = 4.6  # mm, one line of text in the transactions table
GRID = (170, 170, 170)
HEADING_FILL = (228, 232, 238)
ROW_FILL = (246, 247, 249)


def _table_style() -> dict[str, Any]:
    """Light rules and a shaded heading row, as printed statements look (fpdf2 `table()` keywords)."""
    from fpdf.fonts import FontFace

    return {"borders_layout": "HORIZONTAL_LINES", "headings_style": FontFace(emphasis="BOLD", fill_color=HEADING_FILL),
            "first_row_as_headings": True}


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


@dataclass(frozen=True)
class Bank:
    """Who issues the statement (FINEFIN_BANK_NAME, FINEFIN_BANK_ADDRESS, FINEFIN_BANK_LEGAL)."""

    name: str
    address: str
    legal: str

    @classmethod
    def from_settings(cls, settings: BotSettings | None = None) -> Bank:
        settings = settings or get_bot_settings()
        return cls(settings.bank_name, settings.bank_address, settings.bank_legal)


def statement_filename(statement: Statement, extension: str) -> str:
    """`statement-<customer id>-<YYYY-MM>.<ext>`: unique per customer and month."""
    return f"statement-{statement.customer_id}-{statement.month}.{extension}"


def iban_groups(iban: str) -> str:
    """The IBAN's paper form: groups of four characters (`FR76 1756 9104 …`)."""
    compact = iban.replace(" ", "")
    return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))


def account_reference(account: StatementAccount | None, iban: str | None) -> str:
    """What a transaction line shows for its account: the type and the IBAN's last four characters."""
    kind = account.account_type.capitalize() if account is not None else "Account"
    return f"{kind} …{iban[-4:]}" if iban else kind


def balance_text(value: Decimal) -> str:
    """A balance, an overdraft named as such: `-120.00 EUR (overdrawn)`."""
    return f"{money(value)} (overdrawn)" if value < 0 else money(value)


def long_date(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def issue_date(statement: Statement, freshness: Freshness | None) -> date:
    """The data's as-of date the statement was produced from (not the wall clock)."""
    if statement.as_of is not None:
        return statement.as_of
    if freshness is not None and freshness.last_load_at is not None:
        return freshness.last_load_at.date()
    return statement.month.last_day


# -- CSV ----------------------------------------------------------------------------------------------------------
def statement_csv(statement: Statement) -> FileAttachment:
    """Opening line, every booked transaction with its account's IBAN and the running balance, closing line."""
    rows: list[list[object]] = [
        [statement.month.previous.last_day.isoformat(), "", "", "Opening balance", "", "", statement.opening_balance]
    ]
    for line in statement.lines:
        rows.append([
            line.booked_at.isoformat(),
            line.transaction_id,
            statement.iban_of(line.account_id) or "",
            transaction_type_label(line.transaction_type),
            line.description,
            line.amount,
            line.running_balance,
        ])
    rows.append([statement.month.last_day.isoformat(), "", "", "Closing balance", "", "", statement.closing_balance])
    header = ["booked_at", "transaction_id", "iban", "type", "description", money_column("amount"),
              money_column("running_balance")]
    return FileAttachment(statement_filename(statement, "csv"), csv_bytes(header, rows),
                          f"Statement {statement.month} (CSV)")


# -- PDF ----------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _unicode_font() -> Path | None:
    """DejaVuSans ships with matplotlib; it covers names Helvetica (latin-1 only) cannot print."""
    try:
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        return path if path.exists() and path.with_name("DejaVuSans-Bold.ttf").exists() else None
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        return None


# Latin scripts and the punctuation the statement prints (·, –, …, €): a subset of DejaVu this small parses and
# embeds in milliseconds, where the full font (~6,000 glyphs) costs ~0.2 s of CPU per statement.
EUROPEAN_CODEPOINTS = frozenset(
    [*range(0x20, 0x7F), *range(0xA0, 0x250), *range(0x2000, 0x2070), 0x20AC, 0x2122, 0xFFFD]
)


@lru_cache(maxsize=1)
def _european_fonts() -> tuple[Path, frozenset[int]] | None:
    """DejaVuSans and its bold, subset to EUROPEAN_CODEPOINTS, written once per process to a temporary folder;
    with the code points the subset covers. None when fontTools cannot subset (the full font is used)."""
    full = _unicode_font()
    if full is None:
        return None
    try:
        import tempfile

        from fontTools import subset
        from fontTools.ttLib import TTFont

        folder = Path(tempfile.mkdtemp(prefix="finefin-fonts-"))
        covered: set[int] = set()
        for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"):
            options = subset.Options()
            options.notdef_outline = True
            options.name_IDs = ["*"]
            options.layout_features = ["*"]
            options.drop_tables += ["FFTM"]  # FontForge's timestamps: nothing to print
            font = TTFont(str(full.with_name(name)), recalcTimestamp=False)
            subsetter = subset.Subsetter(options)
            subsetter.populate(unicodes=EUROPEAN_CODEPOINTS)
            subsetter.subset(font)
            font.save(str(folder / name))
            cmap = set(font.getBestCmap())
            covered = cmap if not covered else covered & cmap
        return folder / "DejaVuSans.ttf", frozenset(covered)
    except Exception:  # an unexpected fontTools: the full font still prints everything
        log.warning("could not subset the statement font; using the full font", exc_info=True)
        return None


def _statement_font(statement: Statement, bank: Bank) -> Path | None:
    """The small European subset when it covers every character of this statement's data, else the full font."""
    full = _unicode_font()
    small = _european_fonts()
    if full is None or small is None:
        return full
    texts = [statement.full_name, bank.name, bank.address, bank.legal,
             *(line.description for line in statement.lines), *(line.transaction_type for line in statement.lines)]
    if statement.address is not None:
        a = statement.address
        texts += [a.street, a.postal_code, a.city, a.country_code, country_name(a.country_code)]
    path, covered = small
    return path if all(ord(ch) in covered for text in texts for ch in text) else full


def _document(statement: Statement, bank: Bank) -> Any:
    """An FPDF whose header and footer repeat the bank, the period, the customer, the legal line and the page."""
    from fpdf import FPDF

    font = _statement_font(statement, bank)

    class StatementDocument(FPDF):  # type: ignore[misc]
        face = "DejaVu" if font is not None else "Helvetica"

        def safe(self, value: str) -> str:
            """Text the font can print (Helvetica, without DejaVu, is latin-1 only)."""
            return value if font is not None else value.encode("latin-1", "replace").decode("latin-1")

        def header(self) -> None:
            width = self.w - 2 * MARGIN
            self.set_font(self.face, "B", 13)
            self.cell(width / 2, 7, self.safe(bank.name))
            self.cell(width / 2, 7, self.safe(f"Account statement · {statement.month.first_day:%B %Y}"), align="R",
                      new_x="LMARGIN", new_y="NEXT")
            self.set_font(self.face, "", 8)
            self.cell(width / 2, 4.5, self.safe(bank.address))
            self.cell(width / 2, 4.5, self.safe(f"{statement.full_name} · customer {statement.customer_id}"),
                      align="R", new_x="LMARGIN", new_y="NEXT")
            self.set_draw_color(120, 120, 120)
            self.line(MARGIN, self.get_y() + 1.5, self.w - MARGIN, self.get_y() + 1.5)
            self.ln(5)

        def footer(self) -> None:
            self.set_y(-16)
            self.set_draw_color(120, 120, 120)
            self.line(MARGIN, self.get_y(), self.w - MARGIN, self.get_y())
            self.ln(1)
            self.set_font(self.face, "", 6.5)
            self.multi_cell(self.w - 2 * MARGIN - 24, 3, self.safe(bank.legal), align="L", new_x="RIGHT",
                            new_y="TOP")
            self.set_x(self.w - MARGIN - 20)
            self.set_font(self.face, "", 8)
            # left-aligned: fpdf2 measures the "{nb}" alias before it becomes the page count
            self.cell(20, 3, f"Page {self.page_no()} of {{nb}}")

    pdf = StatementDocument(orientation="P", unit="mm", format="A4")
    if font is not None:
        pdf.add_font("DejaVu", "", str(font))
        pdf.add_font("DejaVu", "B", str(font.with_name("DejaVuSans-Bold.ttf")))
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(True, margin=20)
    pdf.set_title(f"{bank.name} statement {statement.month}, customer {statement.customer_id}")
    pdf.set_author(bank.name)
    return pdf


def _addresses(pdf: Any, statement: Statement, issued: date) -> None:
    """The customer's postal address on the left (as for a window envelope); period and issue date on the right."""
    top, half = pdf.get_y(), (pdf.w - 2 * MARGIN) / 2
    lines = [statement.full_name]
    if statement.address is not None:
        a = statement.address
        lines += [a.street, f"{a.postal_code} {a.city}", country_name(a.country_code)]
    for i, line in enumerate(lines):
        pdf.set_font(pdf.face, "B" if i == 0 else "", 10)
        pdf.cell(half, 5, pdf.safe(line), new_x="LMARGIN", new_y="NEXT")
    bottom = pdf.get_y()
    pdf.set_y(top)
    facts = [
        ("Period", f"{long_date(statement.month.first_day)} to {long_date(statement.month.last_day)}"),
        ("Issued on", long_date(issued)),
        ("Customer number", str(statement.customer_id)),
    ]
    for label, value in facts:
        pdf.set_x(MARGIN + half)
        pdf.set_font(pdf.face, "", 8)
        pdf.cell(30, 5, pdf.safe(label))
        pdf.set_font(pdf.face, "B", 9)
        pdf.cell(half - 30, 5, pdf.safe(value), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(max(bottom, pdf.get_y()) + 4)


def _section_title(pdf: Any, title: str) -> None:
    pdf.set_font(pdf.face, "B", 10)
    pdf.cell(0, 6, pdf.safe(title), new_x="LMARGIN", new_y="NEXT")


def _accounts(pdf: Any, statement: Statement) -> None:
    _section_title(pdf, "Your accounts")
    pdf.set_font(pdf.face, "", 8.5)
    pdf.set_draw_color(*GRID)
    with pdf.table(col_widths=(50, 80, 60), text_align=("LEFT", "LEFT", "LEFT"), line_height=5,
                   **_table_style()) as table:
        table.row(["Account", "IBAN", "Opened"])
        for account in statement.accounts:
            closed = f", closed {account.closed_on.isoformat()}" if account.closed_on else ""
            table.row([pdf.safe(account_type_label(account.account_type)), iban_groups(account.iban),
                       f"{account.opened_on.isoformat()}{closed}"])
    pdf.ln(3)


def _summary(pdf: Any, statement: Statement) -> None:
    _section_title(pdf, "Summary")
    pdf.set_font(pdf.face, "", 9)
    opening_day, closing_day = statement.month.previous.last_day, statement.month.last_day
    rows = [
        (f"Opening balance on {long_date(opening_day)}", balance_text(statement.opening_balance)),
        (f"Money in ({plural(sum(1 for line in statement.lines if line.amount > 0), 'transaction')})",
         money(statement.total_in)),
        (f"Money out ({plural(sum(1 for line in statement.lines if line.amount < 0), 'transaction')})",
         money(statement.money_out)),
        (f"Closing balance on {long_date(closing_day)}", balance_text(statement.closing_balance)),
    ]
    pdf.set_draw_color(*GRID)
    with pdf.table(col_widths=(120, 70), text_align=("LEFT", "RIGHT"), line_height=5.5,
                   **{**_table_style(), "first_row_as_headings": False}) as table:
        for label, value in rows:
            table.row([pdf.safe(label), value])
    pdf.ln(3)


HEADINGS = ("Date", "Description", "Type", "Account", "Money in", "Money out", "Balance")
CELL_PADDING = 1.0  # mm, left and right inside a cell


def _transactions(pdf: Any, statement: Statement) -> None:
    """The transactions table, or a sentence when there is none. Rows are drawn cell by cell (fpdf2's `table()`
    costs ~40 ms a row): the headings repeat at the top of every page the table continues on, and the last
    transaction moves to the next page with the totals row rather than leave the totals alone there."""
    _section_title(pdf, "Transactions")
    if not statement.lines:
        pdf.set_font(pdf.face, "", 9)
        pdf.cell(0, 6, "No transactions were booked in this period.", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(pdf.face, "B", 9)
        pdf.cell(0, 6, pdf.safe(f"Closing balance on {long_date(statement.month.last_day)}: "
                                f"{balance_text(statement.closing_balance)}"), new_x="LMARGIN", new_y="NEXT")
        return
    accounts = {a.account_id: a for a in statement.accounts}
    overdrawn = " (overdrawn)" if statement.closing_balance < 0 else ""
    totals = (f"Totals, and closing balance on {long_date(statement.month.last_day)}{overdrawn}", "", "", "",
              money(statement.total_in), money(statement.money_out), money(statement.closing_balance))
    _table_row(pdf, HEADINGS, "B", HEADING_FILL)
    for i, line in enumerate(statement.lines):
        cells = (
            line.booked_at.date().isoformat(),
            pdf.safe(line.description),
            transaction_type_label(line.transaction_type),
            pdf.safe(account_reference(accounts.get(line.account_id), statement.iban_of(line.account_id))),
            money(line.amount) if line.amount > 0 else "",
            money(-line.amount) if line.amount < 0 else "",
            money(line.running_balance),
        )
        height = _row_height(pdf, cells, "")
        keep = _row_height(pdf, totals, "B", span_first=4) if i == len(statement.lines) - 1 else 0.0
        if pdf.will_page_break(height + keep):
            pdf.add_page()
            _table_row(pdf, HEADINGS, "B", HEADING_FILL)
        _table_row(pdf, cells, "", ROW_FILL if i % 2 else None)
    _table_row(pdf, totals, "B", HEADING_FILL, span_first=4)


def _cell_lines(pdf: Any, text: str, width: float) -> list[str]:
    """The text as the lines it takes in a cell of `width` (one line when it fits, which is nearly always)."""
    if not text or pdf.get_string_width(text) <= width - 2 * CELL_PADDING:
        return [text]
    return pdf.multi_cell(width - 2 * CELL_PADDING, ROW_HEIGHT, text, dry_run=True, output="LINES")


def _widths(span_first: int) -> list[float]:
    return [sum(COLUMN_WIDTHS[:span_first]), *COLUMN_WIDTHS[span_first:]] if span_first else list(COLUMN_WIDTHS)


def _row_height(pdf: Any, cells: tuple[str, ...], style: str, span_first: int = 0) -> float:
    texts = list(cells) if not span_first else [cells[0], *cells[span_first:]]
    lines = 1
    for i, (text, width) in enumerate(zip(texts, _widths(span_first), strict=True)):
        pdf.set_font(pdf.face, _cell_style(style, i, span_first), 7.5)
        lines = max(lines, len(_cell_lines(pdf, text, width)))
    return ROW_HEIGHT * lines


def _cell_style(style: str, index: int, span_first: int) -> str:
    """A row's style, except in a totals row (span_first) where only the label is bold: bold amounts wrap."""
    return style if index == 0 or not span_first else ""


def _table_row(pdf: Any, cells: tuple[str, ...], style: str, fill: tuple[int, int, int] | None,
               span_first: int = 0) -> None:
    """One row at the current position: a light rule under it, wrapped cells when a text does not fit."""
    texts = list(cells) if not span_first else [cells[0], *cells[span_first:]]
    aligns = list(COLUMN_ALIGN) if not span_first else ["LEFT", *COLUMN_ALIGN[span_first:]]
    height = _row_height(pdf, cells, style, span_first)
    x, y = pdf.l_margin, pdf.get_y()
    if fill is not None:
        pdf.set_fill_color(*fill)
        pdf.rect(x, y, sum(COLUMN_WIDTHS), height, style="F")
    for i, (text, width, align) in enumerate(zip(texts, _widths(span_first), aligns, strict=True)):
        pdf.set_font(pdf.face, _cell_style(style, i, span_first), 7.5)
        for k, part in enumerate(_cell_lines(pdf, text, width)):
            pdf.set_xy(x + CELL_PADDING, y + k * ROW_HEIGHT)
            pdf.cell(width - 2 * CELL_PADDING, ROW_HEIGHT, part, align=align[0])
        x += width
    pdf.set_draw_color(*GRID)
    pdf.line(pdf.l_margin, y + height, pdf.l_margin + sum(COLUMN_WIDTHS), y + height)
    pdf.set_xy(pdf.l_margin, y + height)


def statement_pdf(statement: Statement, freshness: Freshness | None = None, bank: Bank | None = None
                  ) -> FileAttachment:
    bank = bank or Bank.from_settings()
    pdf = _document(statement, bank)
    pdf.add_page()
    _addresses(pdf, statement, issue_date(statement, freshness))
    _accounts(pdf, statement)
    _summary(pdf, statement)
    _transactions(pdf, statement)
    return FileAttachment(statement_filename(statement, "pdf"), bytes(pdf.output()),
                          f"Statement {statement.month} (PDF)")
