"""`/finefin metric revenue, transaction_volume by tier monthly from 2026-01 to 2026-06 where type=card_payment top 10`

Parse (bot.commands.grammar) -> MetricQuery -> the semantic layer validates it against the catalog and the access
policy and runs it -> receipt, table, chart and CSV (bot.commands.query_render), and the buttons that refine it
(bot.commands.query_buttons; their clicks come back through bot.commands.query_actions).
"""

from __future__ import annotations

from enum import Enum

from bot import blocks as bk
from bot.access import Identity
from bot.answer import Answer
from bot.commands import Command
from bot.commands import query_render as render
from bot.commands.context import CommandContext, principal_of, queries
from bot.commands.grammar import USAGE, parse
from bot.commands.query_buttons import chartable, query_buttons
from semantic_layer.catalog import Catalog
from semantic_layer.policy import Principal, may_use_dimension
from semantic_layer.query import MetricAnswer

NAME = "metric"


class View(Enum):
    """How an answer is shown: typed (table, with the chart and a long result's CSV in the DM, as always), or
    after a button click (table only, or chart only: files are sent when asked, not on every click)."""

    TYPED = "typed"
    TABLE = "table"
    CHART = "chart"


def handle(ctx: CommandContext, identity: Identity, text: str) -> Answer:
    service = queries(ctx)
    principal = principal_of(identity)
    catalog = service.catalog()
    pool = [a.info.name for a in service.askable(principal)]
    query = parse(text, catalog, pool, lambda d: may_use_dimension(principal, d))
    answer = service.run(principal, query)
    return metric_answer(ctx, principal, catalog, answer, View.TYPED)


def metric_answer(ctx: CommandContext, principal: Principal, catalog: Catalog, answer: MetricAnswer,
                  view: View) -> Answer:
    limit = ctx.settings.list_limit
    blocks: list[bk.Block] = [bk.section(render.receipt(answer)), bk.context(render.definitions(answer))]
    files = []
    chart = view is View.CHART and chartable(answer)
    if not answer.rows:
        blocks.append(bk.section("No figures for this question (nothing booked in that period or filter)."))
    elif chart:
        png = render.chart_file(answer)
        if png is not None:
            files.append(png)
        blocks.append(bk.context(":chart_with_upwards_trend: The chart is in your DMs."))
    else:
        table, shown = render.table_block(answer, limit)
        blocks.append(table)
        if shown < len(answer.rows):
            if view is View.TYPED:
                blocks.append(bk.context(f"Showing {shown} of {len(answer.rows)} rows; the full result is attached "
                                         "as a CSV file."))
                files.append(render.csv_file(answer))
            else:
                blocks.append(bk.context(f"Showing {shown} of {len(answer.rows)} rows; *Download CSV* sends them "
                                         "all."))
        if answer.truncated:
            blocks.append(bk.context(f"Cut at {answer.query.limit} rows as asked."))
        if view is View.TYPED:
            png = render.chart_file(answer)
            if png is not None:
                files.append(png)
    note = render.partial_note(answer)
    if note:
        blocks.append(bk.context(f":hourglass_flowing_sand: {bk.esc(note)}"))
    blocks += bk.freshness_blocks(ctx.freshness())
    buttons = query_buttons(answer, principal, catalog, chart=chart)
    blocks = bk.message(blocks[: bk.MAX_BLOCKS - len(buttons)]) + buttons
    result = Answer(text=render.summary_text(answer), blocks=blocks, data=answer, files=files)
    result.customer_read = customer_read(answer)  # for the audit log
    return result


def customer_read(answer: MetricAnswer) -> int | None:
    """Whose customer data the answer read: the asker's own (a customer), or the one customer an advisor filtered
    on; None for aggregates (several customers in a filter or a breakdown by customer are recorded as none)."""
    if answer.scoped_to is not None:
        return answer.scoped_to
    ids = [v for key, values in answer.filters if key == "customer" for v in values]
    return int(ids[0]) if len(ids) == 1 else None


COMMAND = Command(NAME, USAGE, "any governed metric by dimension, grain and period", handle)
