"""Managing one's own subscriptions and alerts: list, pause, resume, delete — from text (`/finefin alerts pause 3`)
or from a button (action_id `ffm.pause` / `ffm.resume` / `ffm.delete`, value `alert:3` / `subscription:4`) on the
App Home or in the lists.

`handle` is the button handler, registered as `ACTION` (prefix `ffm.`) in bot/commands: it re-parses the
user-controlled value into the same typed request as the text command and goes through the same owner check (the
store only touches the asker's own rows). Configured admins (FINEFIN_ADMIN_USERS) may list anyone's (`alerts all`,
`alerts @someone`) and pause, resume or delete anyone's; each such change is audited under the admin's name with the
owner named.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, cast

from bot import blocks as bk
from bot.access import Identity
from bot.answer import Answer
from bot.commands import Action
from bot.state.subscriptions import Item, Kind, SubscriptionStore, describe
from semantic_layer.errors import InvalidInputError

if TYPE_CHECKING:
    from bot.commands.context import CommandContext

ACTION_PREFIX = "ffm."
VERBS = ("pause", "resume", "delete")
_VALUE = re.compile(r"(alert|subscription):(\d{1,12})")
_USER = re.compile(r"<@([UW][A-Z0-9]{2,30})(?:\|[^>]*)?>|([UW][A-Z0-9]{2,30})")


def store_of(ctx: CommandContext) -> SubscriptionStore:
    """The context's store (tests and the delivery engine set `ctx.subscriptions`), else the process's state DB."""
    store = getattr(ctx, "subscriptions", None)
    if store is not None:
        return cast(SubscriptionStore, store)
    from bot.state import shared_state

    return shared_state().subscriptions


def target_text(item: Item) -> str:
    """Where an item is delivered, as mrkdwn (a channel id is letters and digits only, checked when it was set)."""
    return f"<#{item.target}>" if item.target else "your DMs"


def is_admin(ctx: CommandContext, identity: Identity) -> bool:
    """A configured admin (FINEFIN_ADMIN_USERS) who is a known user today: may manage anyone's items."""
    return identity.known and identity.user_id in (getattr(ctx.settings, "admin_users", None) or ())


def item_line(item: Item, viewer: str | None = None) -> str:
    """One item; someone else's (an admin's list) names its owner."""
    owner = f" · owner <@{item.owner_user_id}>" if viewer is not None and item.owner_user_id != viewer else ""
    return (f"*#{item.id}* {bk.esc(describe(item).rsplit(' to ', 1)[0])} → {target_text(item)} · _{item.status}_"
            f"{owner}")


def list_answer(ctx: CommandContext, identity: Identity, kind: Kind, whose: str | None = None) -> Answer:
    """The asker's own items; an admin's `all` (everyone's) or `<@U123>` (that user's)."""
    if whose is not None:
        return admin_list(ctx, identity, kind, whose)
    items = store_of(ctx).mine(identity.user_id, kind)
    noun = "alerts" if kind == "alert" else "subscriptions"
    if not items:
        how = ("`/finefin alert revenue daily below 1000`" if kind == "alert"
               else "`/finefin subscribe revenue by tier monthly last 6 months weekly`")
        return Answer(text=f"You have no {noun}.", blocks=[bk.section(f"You have no {noun}. Create one: {how}")])
    blocks = [bk.section(f"*Your {noun}* ({len(items)})")]
    for item in items[:20]:
        blocks += item_blocks(item)
    blocks.append(bk.context(f"`/finefin {noun} pause|resume|delete <id>`"))
    return Answer(text=f"You have {bk.plural(len(items), kind)}.", blocks=bk.message(blocks), data=items)


def admin_list(ctx: CommandContext, identity: Identity, kind: Kind, whose: str) -> Answer:
    if not is_admin(ctx, identity):
        raise InvalidInputError("Only the configured admins may list other people's subscriptions and alerts.")
    noun = "alerts" if kind == "alert" else "subscriptions"
    store = store_of(ctx)
    if whose.lower() == "all":
        items, title = store.every(kind), f"*Everyone's {noun}*"
    else:
        match = _USER.fullmatch(whose)
        if match is None:
            raise InvalidInputError(f"Write `/finefin {noun} all` or `/finefin {noun} @someone`.")
        user = match.group(1) or match.group(2)
        items, title = store.mine(user, kind), f"*{noun.capitalize()} of <@{user}>*"
    blocks = [bk.section(f"{title} ({len(items)})")]
    for item in items[:20]:
        blocks += item_blocks(item, identity.user_id)
    if len(items) > 20:
        blocks.append(bk.context(f"…and {len(items) - 20} more."))
    blocks.append(bk.context(f"Admin: `/finefin {noun} pause|resume|delete <id>` works on anyone's (audited)."))
    return Answer(text=f"{bk.plural(len(items), kind)}.", blocks=bk.message(blocks), data=items)


def item_blocks(item: Item, viewer: str | None = None) -> list[bk.Block]:
    """One item and its buttons: Pause (or Resume) and Delete, each with the value `<kind>:<id>`."""
    toggle = "resume" if item.paused else "pause"
    value = f"{item.kind}:{item.id}"
    delete = {"type": "button", "action_id": f"{ACTION_PREFIX}delete", "value": value, "style": "danger",
              "text": {"type": "plain_text", "text": "Delete"},
              "confirm": {"title": {"type": "plain_text", "text": f"Delete {item.kind} #{item.id}?"},
                          "text": {"type": "plain_text", "text": "It cannot be undone."},
                          "confirm": {"type": "plain_text", "text": "Delete"},
                          "deny": {"type": "plain_text", "text": "Keep"}}}
    buttons = [{"type": "button", "action_id": f"{ACTION_PREFIX}{toggle}", "value": value,
                "text": {"type": "plain_text", "text": toggle.capitalize()}}, delete]
    return [bk.section(item_line(item, viewer)), {"type": "actions", "block_id": f"ffm-{value}", "elements": buttons}]


def manage(ctx: CommandContext, identity: Identity, kind: Kind | None, verb: str, id_text: str) -> Answer:
    """`pause|resume|delete <id>` on one of the asker's own items (someone else's is "not found")."""
    if verb not in VERBS:
        raise InvalidInputError(f"Write `{verb} <id>` as one of: {', '.join(VERBS)}.")
    text = id_text.strip().lstrip("#")
    if not text.isdigit() or len(text) > 12:
        raise InvalidInputError(f"Write `{verb} 3` with the number from the list.")
    store = store_of(ctx)
    admin = is_admin(ctx, identity)
    if verb == "delete":
        item = store.delete(int(text), identity.user_id, kind, admin=admin)
        done = "deleted"
    else:
        item = store.set_paused(int(text), identity.user_id, verb == "pause", kind, admin=admin)
        done = "paused" if verb == "pause" else "resumed"
    line = f"{item.kind.capitalize()} #{item.id} {done}: {bk.esc(describe(item).rsplit(' to ', 1)[0])}."
    if item.owner_user_id != identity.user_id:
        line += f" (owner <@{item.owner_user_id}>; as an admin, audited)"
    return Answer(text=line, blocks=[bk.section(line)], data=item)


def handle(ctx: CommandContext, identity: Identity, action_id: str, value: str) -> Answer:
    """A button: `ffm.pause|ffm.resume|ffm.delete` with value `alert:3` / `subscription:4`. The value is
    user-controlled: parsed strictly, then the same owner-checked change as the text command."""
    if not action_id.startswith(ACTION_PREFIX):
        raise InvalidInputError("Unknown action.")
    verb = action_id[len(ACTION_PREFIX):]
    match = _VALUE.fullmatch(value or "")
    if verb not in VERBS or match is None:
        raise InvalidInputError("Unknown action.")
    return manage(ctx, identity, cast(Kind, match.group(1)), verb, match.group(2))


ACTION = Action(ACTION_PREFIX, handle)


def manage_or_list(ctx: CommandContext, identity: Identity, kind: Kind, text: str) -> Answer:
    """`/finefin alerts` (list) or `/finefin alerts pause 3`."""
    words = text.split()
    if not words:
        return list_answer(ctx, identity, kind)
    if len(words) == 2 and words[0].lower() in VERBS:
        return manage(ctx, identity, kind, words[0].lower(), words[1])
    if len(words) == 1:  # an admin's `all` or `<@U123>`
        return list_answer(ctx, identity, kind, words[0])
    noun = f"{kind}s"
    raise InvalidInputError(f"Write `/finefin {noun}` to list yours, or `/finefin {noun} pause|resume|delete <id>`.")
