"""`/finefin metrics`: the metrics this user may ask, with their definitions, dimensions and grains."""

from __future__ import annotations

from bot import blocks as bk
from bot.access import Identity
from bot.answer import Answer
from bot.commands import Command
from bot.commands.context import CommandContext, principal_of, queries
from bot.commands.grammar import USAGE

NAME = "metrics"


def handle(ctx: CommandContext, identity: Identity, text: str) -> Answer:
    askable = queries(ctx).askable(principal_of(identity))
    if not askable:
        msg = "There are no metrics you can ask."
        return Answer(text=msg, blocks=bk.error_blocks(msg), ok=False)
    lines = []
    for a in askable:
        grains = ", ".join(g.value for g in a.info.grains) or "as of now"
        dims = ", ".join(a.dimensions) or "none"
        lines.append(f"*{bk.esc(a.info.label)}* (`{a.info.name}`): {bk.esc(a.info.one_line)}. "
                     f"_By_: {bk.esc(dims)}. _Grains_: {grains}.")
    intro = f"You can ask {bk.plural(len(askable), 'metric')}. Write `/finefin {bk.esc(USAGE)}`."
    blocks = bk.message([bk.section(intro), *bk.lines_section(lines, len(lines), 40, "metrics"),
                         *bk.freshness_blocks(ctx.freshness())])
    text_lines = [f"{a.info.name}: {a.info.one_line}" for a in askable]
    return Answer(text="\n".join([intro, *text_lines]), blocks=blocks, data=askable)


COMMAND = Command(NAME, "metrics", "the metrics you can ask, with their dimensions and grains", handle)
