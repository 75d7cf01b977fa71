"""`/finefin why revenue 2026-10`: the change of a metric from the month before, split by each dimension the user
may use, top contributors with their share, and the dimension that explains most (semantic_layer.why)."""

from __future__ import annotations

from bot import blocks as bk
from bot.access import Identity
from bot.answer import Answer
from bot.commands import Command
from bot.commands.context import CommandContext, principal_of, queries
from bot.commands.query_buttons import why_buttons
from bot.commands.query_render import cell
from semantic_layer.catalog import ValueKind
from semantic_layer.errors import InvalidInputError
from semantic_layer.inputs import Month
from semantic_layer.why import WhyAnswer, why

NAME = "why"
USAGE = "why <metric> [YYYY-MM]"
TOP = 3


def handle(ctx: CommandContext, identity: Identity, text: str) -> Answer:
    words = text.split()
    if not words:
        raise InvalidInputError(f"Usage: `/finefin {USAGE}`, e.g. `/finefin why revenue 2026-01`.")
    month_text = words[-1] if len(words) > 1 and words[-1][:1].isdigit() else None
    metric_text = " ".join(words[:-1] if month_text else words)
    if month_text:
        month = Month.parse(month_text)
    else:
        _, month = queries(ctx).sl.reporting_dates()  # the last complete month
    return why_answer(ctx, identity, metric_text, month)


def why_answer(ctx: CommandContext, identity: Identity, metric_text: str, month: Month) -> Answer:
    """The why answer for a metric and month (typed, or from a button: the same validation either way)."""
    result = why(queries(ctx), principal_of(identity), metric_text, month)
    buttons = why_buttons(result)
    blocks = why_blocks(result) + bk.freshness_blocks(ctx.freshness())
    answer = Answer(text=summary(result), blocks=bk.message(blocks[: bk.MAX_BLOCKS - len(buttons)]) + buttons,
                    data=result)
    answer.customer_read = result.scoped_to  # for the audit log
    return answer


def _fmt(value: object, kind: ValueKind) -> str:
    return cell(value, kind) + (" EUR" if kind is ValueKind.MONEY else "")


def _kind(result: WhyAnswer) -> ValueKind:
    return ValueKind.COUNT if isinstance(result.current, int) else ValueKind.MONEY


def summary(result: WhyAnswer) -> str:
    kind = _kind(result)
    pct = "" if result.change_pct is None else f" ({result.change_pct:+.1f}%)"
    text = (f"{result.label} {result.month}{' to date' if result.to_date else ''}: {_fmt(result.current, kind)}, "
            f"{'+' if result.change >= 0 else ''}{_fmt(result.change, kind)}{pct} vs {result.previous_month}")
    top = result.explains_most
    if top is not None and top.contributions:
        first = top.contributions[0]
        text += f". {top.label.capitalize()} explains most: {first.value} {_fmt(first.change, kind)}"
    return text


def why_blocks(result: WhyAnswer) -> list[bk.Block]:
    kind = _kind(result)
    blocks = [bk.section(bk.esc(summary(result))),
              bk.context(f"_{bk.esc(result.label)}_: {bk.esc(result.definition)}"
                         + (" · your accounts only" if result.scoped_to is not None else ""))]
    if result.change == 0:
        blocks.append(bk.section("No change from the month before: nothing to explain."))
        return blocks
    for breakdown in result.breakdowns:
        lines = [f"*By {bk.esc(breakdown.label)}*"]
        for c in breakdown.contributions[:TOP]:
            share = "" if c.share_pct is None else f" ({c.share_pct:+.1f}% of the change)"
            lines.append(f"• {bk.esc(str(c.value if c.value is not None else '(none)'))}: "
                         f"{'+' if c.change >= 0 else ''}{_fmt(c.change, kind)}{share}")
        if len(breakdown.contributions) > TOP:
            lines.append(f"_…and {len(breakdown.contributions) - TOP} more_")
        blocks.append(bk.section("\n".join(lines)))
    if result.to_date:
        blocks.append(bk.context(f":hourglass_flowing_sand: {result.month} is to date: not over in the data yet."))
    return blocks


COMMAND = Command(NAME, USAGE, "what drove a metric's change from the month before", handle)
