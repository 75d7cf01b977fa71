"""The App Home tab as each role's dashboard (issue 16), built by pure-ish functions over the semantic layer:

- customer: current balance by account, the next 7 days of upcoming transactions with the projected balance, and a
  button that sends their last statement (PDF + CSV) to their DM (`ffh.statement`, bot.commands.home_actions);
- advisor: the watchlist's counts by reason, the customers in red streaks, how many customers are assigned to them;
- director: the month's KPIs with their month-over-month change, customers per tier with the change (as
  `/finefin tiers`), and a small revenue trend drawn as a text sparkline (a Home view cannot show a freshly rendered
  PNG: an image block needs a public URL or an uploaded `slack_file`, which this bot does not host);
- everyone: their own alerts and subscriptions, each with Pause/Resume and Delete buttons (`ffm.*`, handled by
  bot.commands.manage_actions.handle), and the freshness stamp.

Each part is computed on its own: a part that fails shows "unavailable" and the others still show. A user the bot
does not recognise gets the same refusal as a command. Every value from data goes through `bot.blocks.esc`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from bot import blocks as bk
from bot.access import Identity, Role
from bot.answer import Answer
from bot.assistant import UNKNOWN_USER, AuditFacts, new_request_id
from bot.commands.home_actions import statement_button
from bot.commands.manage_actions import item_blocks, store_of
from bot.money import money
from semantic_layer.inputs import CustomerId

log = logging.getLogger(__name__)
MAX_HOME_BLOCKS = 100
UPCOMING_DAYS = 7
MAX_LINES = 10
MAX_ITEMS = 20  # two blocks each
TREND_MONTHS = 12
SPARKS = "▁▂▃▄▅▆▇█"


def home_answer(ctx: Any, user_id: str, request_id: str | None = None, *, notice: str | None = None,
                team_id: str | None = None) -> Answer:
    """The Home view's blocks for `user_id` (the answer runtime's kind="home": the tab was opened, or one of its
    buttons clicked; `notice` is the click's outcome, shown on top); never raises. The open is recorded, so that
    the deliveries run re-publishes this user's Home after the next data publish."""
    request_id = request_id or new_request_id()
    try:
        store_of(ctx).home_opened(user_id, team_id)
    except Exception:  # the state database down: the Home still shows, it is only not refreshed later
        log.warning("request %s: could not record the home open of %s", request_id, user_id, exc_info=True)
    facts = AuditFacts()
    try:
        identity = ctx.resolver.resolve(user_id)
        facts.identify(identity)
        blocks = home_blocks(ctx, identity)
        if notice:
            blocks = [blocks[0], bk.section(notice), *blocks[1:]]
    except Exception:
        log.exception("request %s: the home tab of %s failed", request_id, user_id)
        text = f"Sorry, your home tab is unavailable right now (reference {request_id})."
        return Answer(text=text, blocks=bk.error_blocks(text), ok=False, request_id=request_id, outcome="error",
                      roles=facts.roles, customer_id=facts.customer_id)
    # the audit facts: a customer's Home reads their own accounts; an advisor's watchlist and a director's KPIs
    # are aggregates (no one customer, as for the `watchlist` command); an unknown user gets the refusal
    return Answer(text="FineFinance home", blocks=blocks, request_id=request_id,
                  outcome="answered" if identity.known else "refused", roles=facts.roles,
                  customer_id=facts.customer_id, customer_read=home_customer_read(identity))


def home_customer_read(identity: Identity) -> int | None:
    """Whose customer data the Home view reads: a customer's own (their accounts part), else none."""
    if identity.known and Role.CUSTOMER in identity.roles and identity.customer is not None:
        return identity.customer.customer_id.value
    return None


def home_blocks(ctx: Any, identity: Identity) -> list[bk.Block]:
    if not identity.known:
        return [bk.header("FineFinance"), bk.section(UNKNOWN_USER)]
    roles = ", ".join(r.value for r in sorted(identity.roles))
    blocks: list[bk.Block] = [bk.header("FineFinance"), bk.context(f"You are recognised as: {roles}. "
                                                                   "`/finefin help` lists what you can ask.")]
    if Role.CUSTOMER in identity.roles and identity.customer is not None:
        blocks += _part("Your accounts", lambda: customer_part(ctx, identity.customer.customer_id))  # type: ignore[union-attr]
    if Role.ADVISOR in identity.roles:
        blocks += _part("Watchlist", lambda: advisor_part(ctx, identity.user_id))
    if Role.DIRECTOR in identity.roles:
        blocks += _part("This month", lambda: director_part(ctx))
    blocks += _part("Your alerts and subscriptions", lambda: items_part(ctx, identity))
    blocks += _part("Freshness", lambda: [bk.divider(), *bk.freshness_blocks(ctx.freshness())])
    if len(blocks) > MAX_HOME_BLOCKS:
        blocks = [*blocks[: MAX_HOME_BLOCKS - 1], bk.context("_Shortened to fit the Home tab._")]
    return blocks


def _part(title: str, build: Callable[[], list[bk.Block]]) -> list[bk.Block]:
    try:
        return build()
    except Exception:
        log.warning("home: %s unavailable", title, exc_info=True)
        return [bk.section(f"*{title}*\n_unavailable right now_")]


def customer_part(ctx: Any, customer_id: CustomerId) -> list[bk.Block]:
    balance = ctx.sl.balance(customer_id)
    lines = [f"*Your balance: {money(balance.total)}* (as of {balance.as_of.isoformat()})"]
    lines += [f"• {bk.esc(a.account_type)} #{a.account_id}: {money(a.balance)}" for a in balance.accounts[:MAX_LINES]]
    upcoming = ctx.sl.upcoming(customer_id, UPCOMING_DAYS)
    blocks = [bk.divider(), bk.section("\n".join(lines))]
    if upcoming.items:
        projected = upcoming.items[-1].projected_balance
        rows = [f"• {i.scheduled_for.isoformat()} {bk.esc(i.description or i.transaction_type)}: {money(i.amount)}"
                for i in upcoming.items[:MAX_LINES]]
        more = len(upcoming.items) - MAX_LINES
        if more > 0:
            rows.append(f"_…and {more} more: `/finefin upcoming`_")
        blocks.append(bk.section(f"*Next {UPCOMING_DAYS} days* ({bk.plural(len(upcoming.items), 'transaction')})\n"
                                 + "\n".join(rows) + f"\nProjected balance: *{money(projected)}*"))
    else:
        blocks.append(bk.section(f"*Next {UPCOMING_DAYS} days*: nothing scheduled."))
    blocks.append({"type": "actions", "block_id": "ffh-statement", "elements": [statement_button()]})
    blocks.append(bk.context("Your last complete month's statement, PDF + CSV, in your DMs "
                             "(`/finefin statement YYYY-MM` for another month)."))
    return blocks


def advisor_part(ctx: Any, user_id: str) -> list[bk.Block]:
    watchlist = ctx.sl.watchlist(None)
    counts = Counter(e.reason for e in watchlist.entries)
    lines = [f"*Watchlist {watchlist.month}*: {bk.plural(len({e.customer_id for e in watchlist.entries}), 'customer')}"]
    lines += [f"• {bk.REASON_LABELS.get(reason) or bk.esc(reason)}: {n:,d}" for reason, n in sorted(counts.items())]
    red = watchlist.red_streaks
    red_lines = [f"*In the red {watchlist.min_red_months}+ months*: {bk.plural(len(red), 'customer')}"]
    red_lines += [f"• *{bk.esc(r.full_name)}* (#{r.customer_id}): {bk.plural(r.months, 'month')}, {money(r.balance)}"
                  for r in sorted(red, key=lambda r: -r.months)[:5]]
    blocks = [bk.divider(), bk.section("\n".join(lines)), bk.section("\n".join(red_lines))]
    assigned = ctx.settings.advisor_assignments.get(user_id) or []
    if assigned:
        on_list = {e.customer_id.value for e in watchlist.entries} | {r.customer_id.value for r in red}
        mine = len(set(assigned) & on_list)
        blocks.append(bk.context(f"Your assigned customers: {len(assigned):,d}, {mine:,d} of them on the watchlist "
                                 "or in the red."))
    blocks.append(bk.context("`/finefin watchlist` · `/finefin red`"))
    return blocks


def director_part(ctx: Any) -> list[bk.Block]:
    growth = ctx.sl.monthly_growth(None, TREND_MONTHS)
    c = growth.current
    to_date = f" (to {c.through.isoformat()})" if c.is_month_to_date and c.through else ""
    text = (f"*{c.month}{to_date}* vs the month before\n"
            f"• Revenue: *{money(c.revenue)}* ({bk.pct(c.revenue_mom_pct)})\n"
            f"• Transaction volume: *{money(c.transaction_volume)}* ({bk.pct(c.volume_mom_pct)})\n"
            f"• Transactions: *{c.transaction_count:,d}*\n"
            f"• New customers: *{c.new_customers:,d}* ({bk.pct(c.new_customers_mom_pct)})")
    blocks = [bk.divider(), bk.section(text)]
    blocks += _part("Customers per tier", lambda: tiers_part(ctx))
    trend = trend_line([(str(f.month), f.revenue) for f in growth.history if not f.is_month_to_date])
    if trend:
        blocks.append(bk.section(trend))
    blocks.append(bk.context("`/finefin growth` · `/finefin tiers` · `/finefin transactions`"))
    return blocks


def tiers_part(ctx: Any) -> list[bk.Block]:
    """Customers per tier and the change since the month before, as `/finefin tiers` computes them."""
    tiers = ctx.sl.customers_per_tier(None)
    lines = [f"• {bk.esc(t.tier)}: *{t.customers:,d}* ({bk.signed(t.change)})" for t in tiers.tiers[:MAX_LINES]]
    return [bk.section(f"*Customers per tier {tiers.month}* (change vs the month before)\n" + "\n".join(lines)
                       + f"\nTotal: *{tiers.total:,d}*")]


def sparkline(values: list[Any]) -> str:
    """One block character per value, scaled between the smallest and the largest (all equal: the middle one)."""
    low, high = min(values), max(values)
    if high == low:
        return SPARKS[len(SPARKS) // 2] * len(values)
    return "".join(SPARKS[int((v - low) * (len(SPARKS) - 1) / (high - low) + Decimal("0.5"))] for v in values)


def trend_line(points: list[tuple[str, Decimal]]) -> str | None:
    """The revenue of the last whole months, oldest first, as a sparkline with its range; None under 2 months."""
    points = points[-TREND_MONTHS:]
    if len(points) < 2:
        return None
    values = [v for _, v in points]
    return (f"*Revenue, last {len(points)} months* ({points[0][0]} → {points[-1][0]})\n"
            f"`{sparkline(values)}`  low {money(min(values))} · high {money(max(values))} · "
            f"latest {money(values[-1])}")


def items_part(ctx: Any, identity: Identity) -> list[bk.Block]:
    items = store_of(ctx).mine(identity.user_id)
    blocks: list[bk.Block] = [bk.divider(), bk.section(f"*Your alerts and subscriptions* ({len(items)})")]
    if not items:
        blocks.append(bk.context("None yet: `/finefin alert revenue daily below 1000`, "
                                 "`/finefin subscribe revenue by tier monthly last 6 months weekly`"))
    for item in items[:MAX_ITEMS]:
        blocks += item_blocks(item)
    if len(items) > MAX_ITEMS:
        blocks.append(bk.context(f"…and {len(items) - MAX_ITEMS} more: `/finefin alerts`, `/finefin subscriptions`"))
    return blocks
