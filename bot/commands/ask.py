"""`/finefin <question>`: a plain-English question read onto the governed metrics (semantic_layer.nl), answered
through the same MetricQuery path as `/finefin metric`, with the asker's access (a customer's own-data filter
comes from identity, never from the text). Every answer starts with what the question was read as; a question the
parser is not sure about gets a clarification with the candidates, one nothing governed fits a refusal with the
closest metrics. Never a guess.

Under the receipt, buttons correct the reading: the other readings of the question (`ffq.q.read_N`), then the query
buttons of `/finefin metric` (grain, previous / next period, breakdowns…). A clarification that has candidate
readings asks its one question with one button per reading. Every button carries the corrected `MetricQuery` in the
versioned query-button value (bot/commands/query_buttons.py) and is re-validated as the clicking user by the query
buttons' handler: a click answers that reading exactly as the typed `/finefin metric` command would.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import replace

from bot import blocks as bk
from bot.access import Identity
from bot.answer import Answer
from bot.commands import Command
from bot.commands import query_render as render
from bot.commands.context import CommandContext, principal_of
from bot.commands.conversation import recall
from bot.commands.errors import AccessDenied, BotUsageError
from bot.commands.metric import customer_read
from bot.commands.query_buttons import MAX_ELEMENTS, QueryView, action_id, button, encode, query_buttons
from bot.escape import slack_text
from bot.serialized import unwrap
from semantic_layer.catalog import Catalog
from semantic_layer.errors import SemanticLayerError
from semantic_layer.nl import Outcome, Reading, Understanding, understand
from semantic_layer.nl.followup import follow_up
from semantic_layer.nl.live import vocabulary_of
from semantic_layer.policy import Principal
from semantic_layer.query import MetricAnswer, MetricQuery, PeriodKind
from semantic_layer.query_service import QueryService, query_service
from semantic_layer.service import MetricFlowSemanticLayer

NAME = "ask"
USAGE = "ask <question> (or just /finefin <question>)"


class NotUnderstood(Exception):
    """The question was not answered: `refused` tells a refusal from a clarification; the message is Slack-safe."""

    def __init__(self, message: str, refused: bool) -> None:
        super().__init__(message)
        self.refused = refused


def available(ctx: CommandContext) -> bool:
    """Questions are read on the MetricFlow semantic layer only (its catalog is the vocabulary)."""
    return isinstance(unwrap(ctx.sl)[0], MetricFlowSemanticLayer)


def handle(ctx: CommandContext, identity: Identity, text: str) -> Answer:
    """`/finefin ask <question>`: a clarification or a refusal is the bot's own short message."""
    try:
        return answer_question(ctx, identity, text)
    except NotUnderstood as exc:
        raise (AccessDenied if exc.refused else BotUsageError)(str(exc)) from None


def answer_question(ctx: CommandContext, identity: Identity, text: str) -> Answer:
    """Raises NotUnderstood for a question that gets a clarification or a refusal."""
    sl, lock = unwrap(ctx.sl)
    if not isinstance(sl, MetricFlowSemanticLayer):
        raise SemanticLayerError("Plain-English questions need the MetricFlow semantic layer.")
    service = query_service(sl)
    principal = principal_of(identity)
    thread, text = split_thread(text)
    previous = recall(thread, identity.user_id) if thread else None
    with lock if lock is not None else contextlib.nullcontext():
        vocab = vocabulary_of(service)
        understanding = follow_up(previous, text, vocab, principal) if previous is not None else None
        if understanding is None or understanding.outcome is not Outcome.ANSWER:
            understanding = understand(text, vocab, principal)  # a new question in the thread
        if understanding.outcome is not Outcome.ANSWER or understanding.best is None:
            message = not_understood(understanding, service)
            choices = reading_buttons(understanding.readings, service.catalog(), 0) \
                if understanding.outcome is Outcome.CLARIFY and not _command_like(text) else []
            if not choices:
                raise NotUnderstood(message, understanding.outcome is Outcome.REFUSE)
            return clarification(understanding, message, choices)
        reading = understanding.best
        answer = service.run(principal, reading.query)
        compared = service.run(principal, replace(reading.query, period=reading.compare)) if reading.compare \
            else None
        catalog = service.catalog()
    return render_answer(ctx, understanding, answer, compared, principal, catalog)


def _command_like(text: str) -> bool:
    """Text starting with a command's name (or a near miss): the assistant's usage message fits it better than a
    clarification with buttons."""
    from rapidfuzz.distance import OSA

    from bot.commands import commands, gated_names

    first = text.split()[0].lower() if text.split() else ""
    names = (*gated_names(), *commands())
    return first in names or any(len(first) >= 3 and OSA.distance(first, c) <= (1 if len(c) <= 5 else 2)
                                 for c in names)


def reading_label(query: MetricQuery, catalog: Catalog) -> str:
    return " + ".join(catalog.metrics[m].label if m in catalog.metrics else m for m in query.metrics)


def reading_buttons(readings: tuple[Reading, ...], catalog: Catalog, skip: int) -> list[dict[str, object]]:
    """One button per reading after the first `skip` (at most 10): its label the metric(s) (and the filters, when
    two readings share a metric), its value the reading's query in the query buttons' versioned format (the clicking
    user's access is checked again on the click)."""
    queries = list(dict.fromkeys(r.query for r in readings[skip:]))[:min(10, MAX_ELEMENTS)]
    plain = [reading_label(q, catalog) for q in queries]
    labels = list(plain)
    for k, query in enumerate(queries):
        if plain.count(plain[k]) > 1:  # the same metric read differently: say how
            said = " · ".join(", ".join(v.replace("_", " ") for v in f.values) for f in query.filters)
            labels[k] = f"{labels[k]} · {said}" if said else to_grammar(query).removeprefix("metric ")
    return [button(label, action_id("q", f"read_{k}"), encode(QueryView(query)))
            for k, (label, query) in enumerate(zip(labels, queries, strict=True))]


def clarification(understanding: Understanding, message: str, choices: list[dict[str, object]]) -> Answer:
    """The one question a clarification asks, with a button per candidate reading (a click answers it)."""
    head = slack_text(understanding.message, 400)
    blocks: list[bk.Block] = [bk.section(f":thinking_face: {head}")]
    if understanding.corrections:
        fixed = ", ".join(f"“{bk.esc(a)}” as “{bk.esc(b)}”" for a, b in understanding.corrections)
        blocks.append(bk.context(f"Read {fixed}."))
    blocks.append(bk.context("Pick the one you meant (or ask again in other words):"))
    blocks.append({"type": "actions", "block_id": "ffq_read", "elements": choices})
    answer = Answer(text=message, blocks=blocks, ok=False)
    answer.outcome = "clarified"  # the audit log tells a clarifying question from an answer or a refusal
    return answer


_THREAD = re.compile(r"thread=([A-Z0-9]{1,32}):(\d{1,12}\.\d{1,8})")


def split_thread(text: str) -> tuple[tuple[str, str] | None, str]:
    """`thread=<channel>:<ts> <text>`: a message in the thread of an earlier answer (the events listener adds it)."""
    first, _, rest = text.strip().partition(" ")
    match = _THREAD.fullmatch(first)
    return ((match.group(1), match.group(2)), rest) if match else (None, text)


def read_as(answer: MetricAnswer) -> str:
    """"I read this as: *Revenue* (definition) · by tier · monthly · 2026-07-01 to 2026-09-30" (escaped)."""
    metrics = " + ".join(f"*{bk.esc(answer.labels[m])}* ({bk.esc(answer.definitions[m])})"
                         for m in answer.query.metrics)
    rest = render.receipt(answer).split(" · ", 1)
    return "I read this as: " + metrics + (f" · {rest[1]}" if len(rest) > 1 else "")


def render_answer(ctx: CommandContext, understanding: Understanding, answer: MetricAnswer,
                  compared: MetricAnswer | None, principal: Principal, catalog: Catalog) -> Answer:
    blocks: list[bk.Block] = [bk.section(read_as(answer))]
    if understanding.corrections:
        fixed = ", ".join(f"“{bk.esc(a)}” as “{bk.esc(b)}”" for a, b in understanding.corrections)
        blocks.append(bk.context(f"Read {fixed}."))
    files = []
    limit = ctx.settings.list_limit
    if not answer.rows:
        blocks.append(bk.section("No figures for this question (nothing booked in that period or filter)."))
    else:
        table, shown = render.table_block(answer, limit)
        blocks.append(table)
        if shown < len(answer.rows):
            blocks.append(bk.context(f"Showing {shown} of {len(answer.rows)} rows; the full result is attached as "
                                     "a CSV file."))
            files.append(render.csv_file(answer))
        chart = render.chart_file(answer)
        if chart is not None:
            files.append(chart)
    if compared is not None and compared.period is not None:
        blocks.append(bk.section(f"Compared with {compared.period.describe()}:"))
        if compared.rows:
            blocks.append(render.table_block(compared, limit)[0])
        else:
            blocks.append(bk.context("No figures in that period."))
    note = render.partial_note(answer)
    if note:
        blocks.append(bk.context(f":hourglass_flowing_sand: {bk.esc(note)}"))
    others = understanding.readings[1:3]
    if others:
        tries = " or ".join(f"`/finefin {bk.esc(to_grammar(r.query))}`" for r in others)
        blocks.append(bk.context(f"Not what you meant? Try {tries}."))
    blocks += bk.freshness_blocks(ctx.freshness())
    others = reading_buttons(understanding.readings, catalog, 1)
    corrections = [{"type": "actions", "block_id": "ffq_read", "elements": others}] if others else []
    buttons = corrections + query_buttons(answer, principal, catalog)
    blocks = bk.message(blocks[: bk.MAX_BLOCKS - len(buttons)]) + buttons
    result = Answer(text="I read this as: " + render.summary_text(answer), blocks=blocks, data=answer,
                    files=files)
    result.customer_read = customer_read(answer)
    return result


_PERIOD_WORDS = {PeriodKind.THIS_MONTH: "this month", PeriodKind.LAST_MONTH: "last month",
                 PeriodKind.THIS_QUARTER: "this quarter", PeriodKind.LAST_QUARTER: "last quarter",
                 PeriodKind.THIS_YEAR: "ytd", PeriodKind.LAST_YEAR: "last year"}


def to_grammar(query: MetricQuery) -> str:
    """The `/finefin metric …` words of a query (what a candidate reading is, typed the deterministic way)."""
    parts = ["metric", ", ".join(query.metrics)]
    if query.group_by:
        parts += ["by", ", ".join(query.group_by)]
    if query.grain:
        parts.append(render.GRAIN_ADVERBS[query.grain])
    period = query.period
    if period is not None:
        if period.kind is PeriodKind.RANGE:
            assert period.first is not None and period.last is not None
            parts.append(period.first.isoformat() if period.first == period.last
                         else f"from {period.first.isoformat()} to {period.last.isoformat()}")
        elif period.kind is PeriodKind.LAST_MONTHS:
            parts.append(f"last {period.count} months")
        else:
            parts.append(_PERIOD_WORDS[period.kind])
    if query.filters:
        parts.append("where " + " and ".join(f"{f.dimension}={','.join(f.values)}" for f in query.filters))
    if query.limit:
        descending = not query.order or query.order[0].descending
        parts.append(f"{'top' if descending else 'bottom'} {query.limit}")
    return " ".join(parts)


def not_understood(understanding: Understanding, service: QueryService) -> str:
    """The clarification or refusal, with the readings or metrics to ask instead (names are the catalog's own)."""
    text = slack_text(understanding.message, 400)
    if understanding.readings:
        lines = "\n".join(f"• `/finefin {slack_text(to_grammar(r.query), 300)}`" for r in understanding.readings[:4])
        return f"{text}\nDid you mean one of these?\n{lines}"
    if understanding.suggestions:
        catalog = service.catalog()
        names = ", ".join(f"`{m}` ({slack_text(catalog.metrics[m].label, 60)})" for m in understanding.suggestions
                          if m in catalog.metrics)
        text += f"\nYou could ask about: {names}."
    if understanding.outcome is Outcome.CLARIFY:
        text += "\nSay it again with the metric and the period, e.g. “revenue by tier last quarter”."
    return text


COMMAND = Command(NAME, USAGE, "a question in plain English, read onto the governed metrics", handle)
