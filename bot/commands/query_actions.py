"""Clicks on the query buttons (action ids `ffq.…`, bot/commands/query_buttons.py), as the clicking user.

The value is decoded into the same typed `MetricQuery` the grammar builds (a forged or garbled value is refused
before anything else) and run through the query service with the principal of the user who clicked, re-resolved
from Slack: names, the access policy and filter values are checked exactly as for a typed command, and a refusal
reaches nothing in the warehouse. The answer says how it is delivered (`Answer.delivery`): a view change replaces
the message holding the button, a CSV, a why answer or a new subscription's receipt comes as a new ephemeral
message, a share goes to the channel.
"""

from __future__ import annotations

import re

from bot import blocks as bk
from bot.access import Identity
from bot.answer import Answer
from bot.commands import Action
from bot.commands import query_render as render
from bot.commands.context import CommandContext, principal_of, queries
from bot.commands.metric import View, customer_read, metric_answer
from bot.commands.query_buttons import PREFIX, decode, decode_subscribe, decode_why, may_share, verb_of
from bot.commands.subscribe import subscribe
from bot.commands.why import why_answer
from semantic_layer.catalog import Catalog
from semantic_layer.policy import Principal
from semantic_layer.query import MetricAnswer
from semantic_layer.query_service import AccessRefusedError
from semantic_layer.why import IDENTIFYING

NOT_SHAREABLE = ("Sorry, only staff can share an answer to a channel, and only an aggregate that every member of "
                 "the channel may see (no breakdown or filter by customer, name or account).")
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")


def handle(ctx: CommandContext, identity: Identity, action: str, value: str) -> Answer:
    verb = verb_of(action)  # a forged action id: refused before the value is even read
    principal = principal_of(identity)
    if verb in ("why", "whynav"):
        metric, month = decode_why(value)
        answer = why_answer(ctx, identity, metric, month)
        answer.delivery = "replace" if verb == "whynav" else "new"
        return answer
    if verb == "sub":  # the clicking user's own subscription, to their DMs, exactly as `/finefin subscribe` makes it
        query, cadence = decode_subscribe(value)
        answer = subscribe(ctx, identity, query, cadence)
        answer.delivery = "new"
        return answer
    view = decode(value)
    if verb == "share" and not principal.is_staff:  # the button is never shown to customers
        raise AccessRefusedError(NOT_SHAREABLE)
    service = queries(ctx)
    catalog = service.catalog()
    prepared = service.prepare(principal, view.query)  # names, access policy, filter values, period
    if verb == "share" and (set(prepared.query.group_by) | {k for k, _ in prepared.filters}) & IDENTIFYING:
        raise AccessRefusedError(NOT_SHAREABLE)
    answer = service.execute(prepared, principal)
    if verb == "csv":
        result = Answer(text=f"CSV of {render.summary_text(answer)} sent to your DMs.",
                        blocks=[bk.context(f":page_facing_up: The CSV of {render.receipt(answer)} is in your DMs.")],
                        data=answer, files=[render.csv_file(answer)])
        result.customer_read = customer_read(answer)
        return result
    if verb == "share":
        if not may_share(principal, answer):
            raise AccessRefusedError(NOT_SHAREABLE)
        return shared_answer(ctx, identity, principal, catalog, answer)
    result = metric_answer(ctx, principal, catalog, answer, View.CHART if view.chart else View.TABLE)
    result.delivery = "replace"
    return result


def shared_answer(ctx: CommandContext, identity: Identity, principal: Principal, catalog: Catalog,
                  answer: MetricAnswer) -> Answer:
    """The answer as the channel sees it: the same figures, no buttons (they would act as whoever clicks), and who
    shared it."""
    shown = metric_answer(ctx, principal, catalog, answer, View.TABLE)
    blocks = [b for b in shown.blocks if b.get("type") != "actions"]
    who = f"<@{identity.user_id}>" if _USER_ID.fullmatch(identity.user_id) else bk.esc(identity.user_id)
    blocks.append(bk.context(f":mega: Shared by {who} with `/finefin metric`"))
    result = Answer(text=shown.text, blocks=bk.message(blocks), data=shown.data,
                    delivery="channel")
    result.customer_read = None  # an aggregate: no customer's data
    return result


ACTION = Action(PREFIX, handle)
