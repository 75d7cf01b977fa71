"""Block Kit for every answer: small pure functions from typed results to JSON-ready dicts.

Slack limits enforced here: a section's text holds at most 3,000 characters, a message at most 50 blocks.
Text from the warehouse or from users (names, descriptions, codes) goes through `bot.escape.slack_text`, the one
escaping function, so it cannot form links, mentions, emphasis or code spans.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, timedelta
from decimal import Decimal
from typing import Any

from bot.escape import slack_text
from bot.labels import aggregate_type_label
from bot.money import money
from finefin.text import plural
from semantic_layer.types import (
    CustomerBalance,
    Freshness,
    GrowthFigures,
    MetricDefinition,
    MonthlyGrowth,
    Statement,
    TierBreakdown,
    TransactionsPerMonth,
    Upcoming,
    Watchlist,
)

Block = dict[str, Any]
MAX_SECTION_CHARS = 3000
MAX_BLOCKS = 50
MAX_HEADER_CHARS = 150

REASON_LABELS = {
    "high_withdrawals": "high withdrawals",
    "loans_outstanding": "loans outstanding",
    "investments_held": "investments held",
}


def esc(text: object) -> str:
    """A value from data or users, made inert for mrkdwn: `bot.escape.slack_text` (kept as the short local name),
    bounded by what a section holds (lists cut their lines shorter)."""
    return slack_text(text, MAX_SECTION_CHARS)


def governed(text: object) -> str:
    """Metric metadata from the governed dbt YAML and the semantic layer (reviewed like code): its own `code` and
    emphasis are kept; `&`, `<`, `>` are still escaped, so it cannot ping or link."""
    return slack_text(text, MAX_SECTION_CHARS, markup=True)


def pct(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value:+.1f}%"


def signed(value: int) -> str:
    return f"{value:+,d}"


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def header(text: str) -> Block:
    """A header (plain_text): escaped here too, since titles often carry a name (escaping is idempotent)."""
    return {"type": "header", "text": {"type": "plain_text", "text": slack_text(text, MAX_HEADER_CHARS), "emoji": True}}


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION_CHARS)}}


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, MAX_SECTION_CHARS)}]}


def divider() -> Block:
    return {"type": "divider"}


def message(blocks: Iterable[Block]) -> list[Block]:
    """At most 50 blocks; if cut, the last one says so."""
    out = list(blocks)
    if len(out) > MAX_BLOCKS:
        out = [*out[: MAX_BLOCKS - 1], context("_Message shortened to fit Slack's limits._")]
    return out


def lines_section(lines: Sequence[str], total: int, limit: int, what: str) -> list[Block]:
    """A list as one or more sections (each ≤ 3,000 chars), at most `limit` lines, plus a note when cut."""
    shown = list(lines[:limit])
    blocks: list[Block] = []
    chunk: list[str] = []
    for line in shown:
        line = truncate(line, 500)
        if chunk and len("\n".join([*chunk, line])) > MAX_SECTION_CHARS:
            blocks.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append(section("\n".join(chunk)))
    if total > len(shown):
        blocks.append(context(f"Showing {len(shown)} of {total} {what}; the full list is attached as a CSV file."))
    return blocks


def _duration(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.1f} days"


def freshness_text(freshness: Freshness) -> str:
    if freshness.last_load_at is None:
        return "No successful data load is recorded yet."
    at = freshness.last_load_at
    at = at.astimezone(UTC) if at.tzinfo else at
    return f"Data as of {at:%Y-%m-%d %H:%M} UTC"


def freshness_blocks(freshness: Freshness) -> list[Block]:
    """The "as of" line every answer ends with, and a warning when the last load is older than the SLA."""
    blocks = [context(f":clock3: {freshness_text(freshness)}")]
    if freshness.is_stale:
        age = freshness.age
        why = "no load has succeeded yet" if age is None else f"the last load is {_duration(age)} old"
        blocks.append(
            section(
                f":warning: *Stale data*: {why}, beyond the {_duration(freshness.sla)} freshness "
                "target. Figures may be out of date."
            )
        )
    return blocks


def home_view(blocks: list[Block]) -> dict[str, Any]:
    """A Home tab view (views.publish) of `blocks`: Home tabs hold up to 100 blocks."""
    return {"type": "home", "blocks": blocks[:100]}


def error_blocks(text: str) -> list[Block]:
    """The bot's own message (values in it already escaped): `&`, `<`, `>` made safe, its formatting kept."""
    return [section(f":no_entry_sign: {slack_text(text, MAX_SECTION_CHARS - 20, multiline=True, markup=True)}")]


def help_blocks(commands: Sequence[tuple[str, str]], intro: str) -> list[Block]:
    lines = [f"`/finefin {esc(usage)}` — {what}" for usage, what in commands]  # `<customer>` is not a link
    return message([section(intro), *lines_section(lines, len(lines), 40, "commands")])


def balance_blocks(balance: CustomerBalance, title: str, freshness: Freshness, limit: int) -> list[Block]:
    lines = [
        f"• {esc(a.account_type)} #{a.account_id}"
        + ("" if a.status == "active" else f" ({esc(a.status)})")
        + f": *{money(a.balance)}*"
        for a in balance.accounts
    ]
    blocks = [header(title)]
    blocks += lines_section(lines, len(lines), limit, "accounts") if lines else [section("_No accounts._")]
    as_of = balance.as_of.isoformat()
    blocks.append(section(f"*Current balance: {money(balance.total)}* (all accounts, as of {as_of})"))
    return message([*blocks, *freshness_blocks(freshness)])


def upcoming_blocks(upcoming: Upcoming, freshness: Freshness, limit: int) -> list[Block]:
    lines = [
        f"• {item.scheduled_for.isoformat()} · {esc(item.transaction_type)} · {esc(item.description)}: "
        f"*{money(item.amount)}* → projected {money(item.projected_balance)}"
        for item in upcoming.items
    ]
    projected = upcoming.items[-1].projected_balance if upcoming.items else upcoming.starting_balance
    blocks = [
        header(f"Upcoming: next {upcoming.horizon_days} days"),
        section(f"Current balance: *{money(upcoming.starting_balance)}* (as of {upcoming.as_of.isoformat()})"),
    ]
    blocks += (
        lines_section(lines, len(lines), limit, "transactions") if lines else [section("_No scheduled transactions._")]
    )
    blocks.append(section(f"*Projected balance after {upcoming.horizon_days} days: {money(projected)}*"))
    return message([*blocks, *freshness_blocks(freshness)])


def statement_blocks(statement: Statement, freshness: Freshness) -> list[Block]:
    return message(
        [
            header(f"Statement {statement.month}"),
            section(
                f"Opening balance: *{money(statement.opening_balance)}*\n"
                f"Money in: {money(statement.total_in)} · Money out: {money(-statement.total_out)} "
                f"({plural(len(statement.lines), 'transaction')})\n"
                f"Closing balance: *{money(statement.closing_balance)}*"
            ),
            context("The PDF and CSV are in your direct messages with FineFinance."),
            *freshness_blocks(freshness),
        ]
    )


def reason_period(reason: str, watchlist: Watchlist) -> str:
    """When a watchlist figure applies: withdrawals are the month's total, loans and investments its month-end."""
    return f"in {watchlist.month}" if reason == "high_withdrawals" else f"at {watchlist.month.last_day.isoformat()}"


def watchlist_lines(watchlist: Watchlist) -> list[str]:
    return [
        f"• *{esc(e.full_name)}* (#{e.customer_id}) — {REASON_LABELS.get(e.reason) or esc(e.reason)} "
        f"{reason_period(e.reason, watchlist)}: {money(e.value)} (threshold {money(e.threshold)})"
        for e in watchlist.entries
    ]


def watchlist_blocks(watchlist: Watchlist, freshness: Freshness, limit: int, title: str | None = None) -> list[Block]:
    lines = watchlist_lines(watchlist)
    blocks = [header(title or f"Watchlist {watchlist.month}")]
    blocks += lines_section(lines, len(lines), limit, "entries") if lines else [section("_Nobody on the watchlist._")]
    if watchlist.red_streaks:
        blocks.append(
            context(
                f"{plural(len(watchlist.red_streaks), 'customer')} in the red {watchlist.min_red_months}+ months: "
                "`/finefin red`."
            )
        )
    return message([*blocks, *freshness_blocks(freshness)])


def red_lines(watchlist: Watchlist) -> list[str]:
    return [
        f"• *{esc(r.full_name)}* (#{r.customer_id}) — {plural(r.months, 'month')} in the red since "
        f"{r.since}, balance at {watchlist.month.last_day.isoformat()}: {money(r.balance)}"
        for r in watchlist.red_streaks
    ]


def red_blocks(watchlist: Watchlist, freshness: Freshness, limit: int) -> list[Block]:
    lines = red_lines(watchlist)
    blocks = [header(f"In the red {watchlist.min_red_months}+ months (to {watchlist.month})")]
    blocks += lines_section(lines, len(lines), limit, "customers") if lines else [section("_Nobody._")]
    return message([*blocks, *freshness_blocks(freshness)])


_MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day_range(first: date, last: date) -> str:
    """Days of one month: `1–29 Nov` (`1 Nov` for a single day)."""
    days = f"{first.day}" if first == last else f"{first.day}–{last.day}"
    return f"{days} {_MONTH_ABBR[last.month - 1]}"


def growth_period(g: GrowthFigures) -> str:
    """`month to date (1–29 Nov)` for a month not over yet; empty for a whole month."""
    return f"month to date ({day_range(g.month.first_day, g.last_day)})" if g.is_month_to_date else ""


def growth_compared(g: GrowthFigures) -> str:
    """What the percentages compare with: `MoM`, or for a month to date the same days of the month before."""
    if not g.is_month_to_date:
        return "MoM"
    return f"vs {day_range(g.month.previous.first_day, g.compared_last_day)}"


def growth_body(growth: MonthlyGrowth) -> list[Block]:
    c = growth.current
    history = [
        f"`{g.month}`" + (f" ({day_range(g.month.first_day, g.last_day)}, month to date)" if g.is_month_to_date else "")
        + f" revenue {money(g.revenue)} · volume {money(g.transaction_volume)} · new customers {g.new_customers:,d}"
        for g in growth.history
    ]
    vs = growth_compared(c)
    blocks = [
        header(f"Growth {growth.month}" + (f", {growth_period(c)}" if c.is_month_to_date else "")),
        section(
            f"Revenue: *{money(c.revenue)}* ({pct(c.revenue_mom_pct)} {vs})\n"
            f"Transaction volume: *{money(c.transaction_volume)}* ({pct(c.volume_mom_pct)} {vs}), "
            f"{plural(c.transaction_count, 'transaction')}\n"
            f"New customers: *{c.new_customers:,d}* ({pct(c.new_customers_mom_pct)} {vs})"
        ),
    ]
    if c.is_month_to_date:
        days, before = day_range(c.month.first_day, c.last_day), day_range(c.month.previous.first_day,
                                                                          c.compared_last_day)
        blocks.append(context(
            f":hourglass_flowing_sand: {growth.month} is not over: figures for {days} (data as of "
            f"{c.last_day.isoformat()}), compared with the same days of the month before ({before})."
        ))
    return [*blocks, *lines_section(history, len(history), 24, "months")]


def growth_blocks(growth: MonthlyGrowth, freshness: Freshness) -> list[Block]:
    return message([*growth_body(growth), *freshness_blocks(freshness)])


def tiers_body(tiers: TierBreakdown) -> list[Block]:
    lines = [f"• {esc(t.tier)}: *{t.customers:,d}* ({signed(t.change)} vs previous month)" for t in tiers.tiers]
    return [header(f"Customers per tier {tiers.month}"), section("\n".join(lines) + f"\nTotal: *{tiers.total:,d}*")]


def tiers_blocks(tiers: TierBreakdown, freshness: Freshness) -> list[Block]:
    return message([*tiers_body(tiers), *freshness_blocks(freshness)])


def transactions_lines(tpm: TransactionsPerMonth) -> list[str]:
    """One line per month, newest first: every type's count and volume (by label, largest count first; a P2P
    transfer is one "P2P transfer"), then the month's total."""
    by_month: dict[Any, dict[str, list[Any]]] = {}
    for row in tpm.rows:
        label = aggregate_type_label(row.transaction_type)
        totals = by_month.setdefault(row.month, {}).setdefault(label, [0, Decimal("0.00")])
        totals[0] += row.transaction_count
        totals[1] += row.transaction_volume
    lines = []
    for month in sorted(by_month, reverse=True):
        types = sorted(by_month[month].items(), key=lambda item: (-item[1][0], item[0]))
        parts = [f"{esc(label)}: {count:,d} ({money(volume)})" for label, (count, volume) in types]
        total = sum(count for count, _ in by_month[month].values())
        lines.append(f"`{month}` *{total:,d}* — " + " · ".join(parts))
    return lines


def transactions_blocks(tpm: TransactionsPerMonth, freshness: Freshness, limit: int) -> list[Block]:
    lines = transactions_lines(tpm)
    return message(
        [
            header(f"Transactions per month {tpm.first_month} – {tpm.last_month}"),
            *lines_section(lines, len(lines), max(limit, 24), "months"),
            context(
                "Transactions (volume) per type; a P2P transfer between two customers counts once. "
                "Chart: transactions.png, and the table as CSV, in your direct messages."
            ),
            *freshness_blocks(freshness),
        ]
    )


def define_blocks(definition: MetricDefinition, freshness: Freshness) -> list[Block]:
    return message(
        [
            header(f"{esc(definition.label)} ({esc(definition.name)})"),
            section(
                f"{governed(definition.description)}\n*Type:* {esc(definition.metric_type)}\n"
                f"*Definition:* {governed(definition.definition)}"
            ),
            *freshness_blocks(freshness),
        ]
    )


def digest_blocks(
    growth: MonthlyGrowth, tiers: TierBreakdown, definitions: Sequence[MetricDefinition], freshness: Freshness
) -> list[Block]:
    """The directors' monthly digest: growth, tiers, the definitions of the metrics it shows, freshness."""
    defs = [f"• *{esc(d.label)}* (`{esc(d.name)}`): {governed(d.definition)}" for d in definitions]
    return message(
        [
            header(f"Monthly digest {growth.month}"),
            *growth_body(growth)[1:],
            divider(),
            *tiers_body(tiers),
            divider(),
            section("*Definitions*"),
            *lines_section(defs, len(defs), 20, "definitions"),
            context("Chart: transactions per month by type, posted below."),
            *freshness_blocks(freshness),
        ]
    )
