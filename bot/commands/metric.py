"""`/finefin metric revenue, transaction_volume by tier monthly from 2026-01 to 2026-06 where type=card_payment top 10`

Parse (bot.commands.grammar) -> MetricQuery -> the semantic layer validates it against the catalog and the access
policy and runs it -> receipt, table, chart and CSV (bot.commands.query_render).
"""

from __future__ import annotations

from bot import blocks as bk
from bot.access import Identity
from bot.answer import Answer
from bot.commands import Command
from bot.commands import query_render as render
from bot.commands.context import CommandContext, principal_of, queries
from bot.commands.grammar import USAGE, parse
from semantic_layer.policy import may_use_dimension
from semantic_layer.query import MetricAnswer
from semantic_layer.types import Freshness

NAME = "metric"


def handle(ctx: CommandContext, identity: Identity, text: str) -> Answer:
    service = queries(ctx)
    principal = principal_of(identity)
    catalog = service.catalog()
    pool = [a.info.name for a in service.askable(principal)]
    query = parse(text, catalog, pool, lambda d: may_use_dimension(principal, d))
    answer = service.run(principal, query)
    result = answer_message(answer, ctx.freshness(), ctx.settings.list_limit)
    result.customer_read = customer_read(answer)  # for the audit log
    return result


def answer_message(answer: MetricAnswer, freshness: Freshness, limit: int) -> Answer:
    """A MetricAnswer as a message: receipt, definitions, table, CSV and chart files, freshness (also used by the
    subscriptions' deliveries)."""
    blocks: list[bk.Block] = [bk.section(render.receipt(answer)), bk.context(render.definitions(answer))]
    files = []
    if not answer.rows:
        blocks.append(bk.section("No figures for this question (nothing booked in that period or filter)."))
    else:
        table, shown = render.table_block(answer, limit)
        blocks.append(table)
        if shown < len(answer.rows):
            blocks.append(bk.context(f"Showing {shown} of {len(answer.rows)} rows; the full result is attached as "
                                     "a CSV file."))
            files.append(render.csv_file(answer))
        if answer.truncated:
            blocks.append(bk.context(f"Cut at {answer.query.limit} rows as asked."))
        chart = render.chart_file(answer)
        if chart is not None:
            files.append(chart)
    note = render.partial_note(answer)
    if note:
        blocks.append(bk.context(f":hourglass_flowing_sand: {bk.esc(note)}"))
    blocks += bk.freshness_blocks(freshness)
    return Answer(text=render.summary_text(answer), blocks=bk.message(blocks), data=answer, files=files)


def customer_read(answer: MetricAnswer) -> int | None:
    """Whose customer data the answer read: the asker's own (a customer), or the one customer an advisor filtered
    on; None for aggregates (several customers in a filter or a breakdown by customer are recorded as none)."""
    if answer.scoped_to is not None:
        return answer.scoped_to
    ids = [v for key, values in answer.filters if key == "customer" for v in values]
    return int(ids[0]) if len(ids) == 1 else None


COMMAND = Command(NAME, USAGE, "any governed metric by dimension, grain and period", handle)
