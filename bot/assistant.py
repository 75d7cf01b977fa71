"""The bot's brain, without Slack: command text + identity → Answer. Slack, the console and the demo share it.

Order matters: parse the subcommand (no data touched) → check access → parse arguments into typed values
(CustomerId, Month, metric name) → call the semantic layer. `answer()` never raises.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from bot import blocks as bk
from bot import charts, files
from bot import commands as bot_commands
from bot import statement_pdf as statements
from bot.access import Capability, Identity, Role, allowed
from bot.answer import Answer, Outcome
from bot.escape import slack_text
from bot.identity import IdentityResolver
from bot.money import money_column
from bot.settings import BotSettings
from finefin.errors import FinefinError
from semantic_layer.api import SemanticLayer
from semantic_layer.errors import SemanticLayerError, UnknownCustomerError
from semantic_layer.inputs import CustomerId, Month, metric_name
from semantic_layer.types import CustomerBalance, Freshness, Statement, Watchlist

log = logging.getLogger(__name__)


class BotUsageError(FinefinError):
    """Command text the bot does not understand; the message says how to write it."""


class AccessDenied(FinefinError):
    """The user's roles do not allow the command; the message is polite and reveals no data."""


HELP: dict[Capability, tuple[str, str]] = {
    Capability.OWN_BALANCE: ("balance", "your accounts, total and as-of date"),
    Capability.UPCOMING: ("upcoming", "scheduled transactions in the next 30 days and your projected balance"),
    Capability.STATEMENT: ("statement [YYYY-MM]", "monthly statement as PDF + CSV in your DMs (default: last month)"),
    Capability.CUSTOMER_BALANCE: ("balance <customer>", "a customer's accounts and total"),
    Capability.WATCHLIST: ("watchlist", "customers with high withdrawals, loans or investments, with reasons"),
    Capability.RED: ("red", "customers in the red 3+ consecutive months"),
    Capability.GROWTH: ("growth [YYYY-MM]", "revenue, volume, new customers, month over month"),
    Capability.TIERS: ("tiers", "customers per tier and change"),
    Capability.TRANSACTIONS: ("transactions", "transactions per month by type, with a chart"),
    Capability.DEFINE: ("define <metric>", "the governed definition of a metric"),
}
SUBCOMMANDS = (
    "help",
    "balance",
    "upcoming",
    "statement",
    "watchlist",
    "red",
    "growth",
    "tiers",
    "transactions",
    "define",
)
UNKNOWN_USER = (
    "Sorry, I don't recognise you as a FineFinance customer or staff member. If you are a customer, "
    "make sure your Slack profile uses the email address of your FineFinance account."
)


@dataclass(frozen=True)
class Request:
    """A command reduced to its capability and raw argument words (not yet validated)."""

    capability: Capability
    args: tuple[str, ...]


def parse(text: str) -> Request:
    """Subcommand and raw arguments. Raises BotUsageError for unknown subcommands or wrong argument counts."""
    words = text.split()
    if not words:
        return Request(Capability.HELP, ())
    name, args = words[0].lower(), tuple(words[1:])
    if name not in SUBCOMMANDS:
        raise BotUsageError(f"I don't know “{slack_text(words[0], 30)}”. Try `/finefin help`.")
    cap = Capability(name)
    if cap is Capability.OWN_BALANCE and args:
        cap = Capability.CUSTOMER_BALANCE
    max_args = {
        Capability.STATEMENT: 1,
        Capability.GROWTH: 1,
        Capability.CUSTOMER_BALANCE: 1,
        Capability.DEFINE: 1,
        Capability.HELP: 1,
    }.get(cap, 0)
    min_args = 1 if cap in (Capability.CUSTOMER_BALANCE, Capability.DEFINE) else 0
    if not min_args <= len(args) <= max_args:
        usage = HELP[cap][0] if cap in HELP else name
        raise BotUsageError(f"Usage: `/finefin {usage}`.")
    return Request(cap, args)


@dataclass
class AuditFacts:
    """What the audit log records about a request, gathered while it is answered (even when it then fails)."""

    roles: tuple[str, ...] = ()
    customer_id: int | None = None
    customer_read: int | None = None

    def identify(self, identity: Identity) -> None:
        self.roles = tuple(sorted(identity.roles))
        self.customer_id = identity.customer.customer_id.value if identity.customer is not None else None


OWN_DATA = (Capability.OWN_BALANCE, Capability.UPCOMING, Capability.STATEMENT)


def customer_to_read(identity: Identity, request: Request) -> int | None:
    """Whose customer data an allowed request reads: the user's own, or the one an advisor named; None for
    aggregates. A customer id that does not parse reads nothing (the handler refuses it)."""
    if request.capability in OWN_DATA and identity.customer is not None:
        return identity.customer.customer_id.value
    if request.capability is Capability.CUSTOMER_BALANCE:
        try:
            return CustomerId.parse(request.args[0]).value
        except FinefinError:
            return None
    return None


def new_request_id() -> str:
    return uuid.uuid4().hex[:12]


class Assistant:
    def __init__(self, sl: SemanticLayer, settings: BotSettings, resolver: IdentityResolver) -> None:
        self.sl = sl
        self.settings = settings
        self.resolver = resolver

    def freshness(self) -> Freshness:
        """The semantic layer's freshness, judged against FINEFIN_FRESHNESS_SLA_HOURS when that is set."""
        fresh = self.sl.freshness()
        if self.settings.freshness_sla_hours is not None:
            fresh = dataclasses.replace(fresh, sla=timedelta(hours=self.settings.freshness_sla_hours))
        return fresh

    def answer(self, user_id: str, text: str, request_id: str | None = None) -> Answer:
        """Never raises: errors become a short message; unexpected ones are logged with the request id.

        The answer carries the audit facts: outcome (answered / refused / error), the user's roles and customer id,
        and whose data the request read."""
        return self._guarded(user_id, request_id, f"text={text[:200]!r}",
                             lambda identity, facts: self.answer_for(identity, text, facts))

    def act(self, user_id: str, action_id: str, value: str, request_id: str | None = None) -> Answer:
        """A click on one of the bot's buttons, as `user_id` (re-resolved here, like a command's sender): the action
        registered for the action id's prefix (bot/commands) re-validates the user-controlled value. Never raises;
        the same refusals, apologies and audit facts as `answer`."""
        def run(identity: Identity, facts: AuditFacts) -> Answer:
            if not identity.known:
                raise AccessDenied(UNKNOWN_USER)
            found = bot_commands.lookup_action(action_id)
            if found is None:
                raise BotUsageError("Sorry, that is not a button I know. `/finefin help` lists what you can ask.")
            return found[0].run(self, identity, action_id, value)

        return self._guarded(user_id, request_id, f"action={action_id[:80]!r} value={value[:200]!r}", run)

    def _guarded(self, user_id: str, request_id: str | None, what: str,
                 run: Callable[[Identity, AuditFacts], Answer]) -> Answer:
        request_id = request_id or new_request_id()
        facts = AuditFacts()
        outcome: Outcome = "answered"
        try:
            identity = self.resolver.resolve(user_id)
            facts.identify(identity)
            result = run(identity, facts)
        except (BotUsageError, AccessDenied, SemanticLayerError) as exc:
            log.info("request %s from %s refused: %s (%s)", request_id, user_id, exc, type(exc).__name__)
            # a semantic layer message may quote the user's words: escaped whole (the bot's own messages escape
            # the quoted words where they are built, and keep their formatting)
            shown = slack_text(str(exc)) if isinstance(exc, SemanticLayerError) else str(exc)
            blocks = bk.error_blocks(shown)
            if isinstance(exc, UnknownCustomerError):  # maybe too new for the last load: say how old the data is
                blocks += self._freshness_or_nothing()
            result, outcome = Answer(text=shown, blocks=blocks, ok=False), "refused"
        except Exception:
            log.exception("request %s from %s failed; %s", request_id, user_id, what)
            msg = f"Sorry, something went wrong on our side. Please try again later (reference {request_id})."
            result, outcome = Answer(text=msg, blocks=bk.error_blocks(msg), ok=False), "error"
        result.request_id = request_id
        result.outcome = outcome
        result.roles = facts.roles
        result.customer_id = facts.customer_id
        if result.customer_read is None:  # a handler may name the customer itself
            result.customer_read = facts.customer_read
        return result

    def _freshness_or_nothing(self) -> list[bk.Block]:
        try:
            return bk.freshness_blocks(self.freshness())
        except Exception:
            log.warning("freshness unavailable", exc_info=True)
            return []

    def answer_for(self, identity: Identity, text: str, facts: AuditFacts | None = None) -> Answer:
        if not identity.known:
            raise AccessDenied(UNKNOWN_USER)
        found = bot_commands.lookup(text)  # commands over the query model (bot/commands/), registered in one table
        if found is not None:
            return found[0].run(self, identity, found[1])
        request = parse(text)
        if not allowed(identity, request.capability):
            raise AccessDenied(self._refusal(identity, request.capability))
        if facts is not None:
            facts.customer_read = customer_to_read(identity, request)
        handler: Callable[[Identity, tuple[str, ...]], Answer] = getattr(self, f"_{request.capability.name.lower()}")
        return handler(identity, request.args)

    @staticmethod
    def _refusal(identity: Identity, capability: Capability) -> str:
        if capability is Capability.CUSTOMER_BALANCE and Role.CUSTOMER in identity.roles:
            return "Sorry, you can only see your own accounts: use `/finefin balance`."
        if capability in (Capability.OWN_BALANCE, Capability.UPCOMING, Capability.STATEMENT):
            return (
                "Sorry, that command shows a customer's own accounts, and your Slack email is not linked to a "
                "FineFinance account."
            )
        return "Sorry, that command is not available to you. `/finefin help` lists what you can use."

    def _customer_id(self, identity: Identity) -> CustomerId:
        assert identity.customer is not None  # guaranteed by ACCESS: these capabilities need Role.CUSTOMER
        return identity.customer.customer_id

    # --- handlers: one per capability -------------------------------------------------------------------------

    def _help(self, identity: Identity, args: tuple[str, ...]) -> Answer:
        commands = [usage for cap, usage in HELP.items() if allowed(identity, cap)]
        commands += [(c.usage, c.summary) for c in bot_commands.commands().values()]
        roles = ", ".join(sorted(identity.roles))
        intro = f"*FineFinance bot* — you are recognised as: {roles}. Commands:"
        lines = [f"/finefin {usage} — {what}" for usage, what in commands]
        return Answer(text="\n".join([intro, *lines]), blocks=bk.help_blocks(commands, intro))

    def _cut_list_csv(
        self, answer: Answer, total: int, filename: str, title: str, header: list[str], rows: list[list[object]]
    ) -> Answer:
        """Slack shows `list_limit` rows; when there are more, the whole list goes along as a CSV file."""
        if total > self.settings.list_limit:
            answer.files.append(files.FileAttachment(filename, files.csv_bytes(header, rows), title))
        return answer

    def _balance_answer(self, balance: CustomerBalance, text: str, title: str) -> Answer:
        answer = Answer(
            text=text,
            blocks=bk.balance_blocks(balance, title, self.freshness(), self.settings.list_limit),
            data=balance,
        )
        rows: list[list[object]] = [[a.account_id, a.account_type, a.status, a.balance] for a in balance.accounts]
        return self._cut_list_csv(
            answer,
            len(rows),
            f"accounts-{balance.customer_id}.csv",
            "Accounts (CSV)",
            ["account_id", "type", "status", money_column("current_balance")],
            rows,
        )

    def _own_balance(self, identity: Identity, args: tuple[str, ...]) -> Answer:
        balance = self.sl.balance(self._customer_id(identity))
        return self._balance_answer(
            balance, f"Your current balance: {bk.money(balance.total)} (as of {balance.as_of})", "Your balance"
        )

    def _customer_balance(self, identity: Identity, args: tuple[str, ...]) -> Answer:
        customer_id = CustomerId.parse(args[0])
        profile = self.sl.customer(customer_id)
        balance = self.sl.balance(customer_id)
        return self._balance_answer(
            balance,
            f"{slack_text(profile.full_name)}: current balance {bk.money(balance.total)} (as of {balance.as_of})",
            f"{slack_text(profile.full_name)} (#{customer_id}, {slack_text(profile.tier)})",
        )

    def _upcoming(self, identity: Identity, args: tuple[str, ...]) -> Answer:
        upcoming = self.sl.upcoming(self._customer_id(identity), 30)
        fresh = self.freshness()
        projected = upcoming.items[-1].projected_balance if upcoming.items else upcoming.starting_balance
        answer = Answer(
            text=f"{bk.plural(len(upcoming.items), 'upcoming transaction')}; projected balance {bk.money(projected)}",
            blocks=bk.upcoming_blocks(upcoming, fresh, self.settings.list_limit),
            data=upcoming,
        )
        rows: list[list[object]] = [
            [
                i.scheduled_for,
                i.transaction_id,
                i.account_id,
                i.transaction_type,
                i.description,
                i.amount,
                i.projected_balance,
            ]
            for i in upcoming.items
        ]
        return self._cut_list_csv(
            answer,
            len(rows),
            f"upcoming-{upcoming.customer_id}-{upcoming.as_of}.csv",  # per customer: never another one's file
            "Upcoming transactions (CSV)",
            ["scheduled_for", "transaction_id", "account_id", "type", "description", money_column("amount"),
             money_column("projected_balance")],
            rows,
        )

    def _statement(self, identity: Identity, args: tuple[str, ...]) -> Answer:
        month = Month.parse(args[0]) if args else None
        statement = self.sl.statement(self._customer_id(identity), month)
        check_reconciles(statement)
        fresh = self.freshness()
        return Answer(
            text=(
                f"Statement {statement.month}: opening {bk.money(statement.opening_balance)}, closing "
                f"{bk.money(statement.closing_balance)}. PDF and CSV sent to your DMs."
            ),
            blocks=bk.statement_blocks(statement, fresh),
            data=statement,
            files=[statements.statement_pdf(statement, fresh, statements.Bank.from_settings(self.settings)),
                   statements.statement_csv(statement)],
        )

    def _watchlist(self, identity: Identity, args: tuple[str, ...]) -> Answer:
        watchlist = self.sl.watchlist(None)
        fresh = self.freshness()
        return watchlist_answer(watchlist, fresh, self.settings.list_limit)

    def _red(self, identity: Identity, args: tuple[str, ...]) -> Answer:
        watchlist = self.sl.watchlist(None)
        fresh = self.freshness()
        answer = Answer(
            text=f"{bk.plural(len(watchlist.red_streaks), 'customer')} in the red {watchlist.min_red_months}+ months",
            blocks=bk.red_blocks(watchlist, fresh, self.settings.list_limit),
            data=watchlist.red_streaks,
        )
        rows: list[list[object]] = [
            [r.customer_id, r.full_name, r.months, r.since, r.balance] for r in watchlist.red_streaks
        ]
        return self._cut_list_csv(
            answer,
            len(rows),
            f"red-{watchlist.month}.csv",
            "Customers in the red (CSV)",
            ["customer_id", "name", "months", "since", money_column(f"balance_at_{watchlist.month.last_day}")],
            rows,
        )

    def _growth(self, identity: Identity, args: tuple[str, ...]) -> Answer:
        month = Month.parse(args[0]) if args else None
        growth = self.sl.monthly_growth(month, 6)
        fresh = self.freshness()
        c = growth.current
        period = f" {bk.growth_period(c)}" if c.is_month_to_date else ""
        return Answer(
            text=(
                f"Growth {growth.month}{period}: revenue {bk.money(c.revenue)} "
                f"({bk.pct(c.revenue_mom_pct)} {bk.growth_compared(c)}), new customers {c.new_customers}"
            ),
            blocks=bk.growth_blocks(growth, fresh),
            data=growth,
        )

    def _tiers(self, identity: Identity, args: tuple[str, ...]) -> Answer:
        tiers = self.sl.customers_per_tier(None)
        fresh = self.freshness()
        summary = ", ".join(f"{slack_text(t.tier)} {t.customers}" for t in tiers.tiers)
        return Answer(
            text=f"Customers per tier {tiers.month}: {summary}", blocks=bk.tiers_blocks(tiers, fresh), data=tiers
        )

    def _transactions(self, identity: Identity, args: tuple[str, ...]) -> Answer:
        tpm = self.sl.transactions_per_month(12)
        fresh = self.freshness()
        return Answer(
            text=f"Transactions per month {tpm.first_month} – {tpm.last_month} (chart in your DMs)",
            blocks=bk.transactions_blocks(tpm, fresh, self.settings.list_limit),
            data=tpm,
            files=[charts.transactions_chart(tpm, fresh), files.transactions_csv(tpm)],
        )

    def _define(self, identity: Identity, args: tuple[str, ...]) -> Answer:
        name = metric_name(args[0], set(self.sl.metric_names()))
        definition = self.sl.define(name)
        fresh = self.freshness()
        return Answer(
            text=f"{slack_text(definition.label)}: {bk.governed(definition.definition)}",
            blocks=bk.define_blocks(definition, fresh),
            data=definition,
        )


class StatementMismatchError(FinefinError):
    """A statement whose lines do not add up: never sent to a customer."""


def check_reconciles(statement: Statement) -> None:
    """Opening + every line = closing (the contract's invariant; per-line running balances are the layer's)."""
    running = statement.opening_balance + sum((line.amount for line in statement.lines), Decimal("0.00"))
    if running != statement.closing_balance:
        raise StatementMismatchError(
            f"statement {statement.customer_id}/{statement.month}: lines end at {running}, "
            f"closing balance is {statement.closing_balance}"
        )


def watchlist_answer(watchlist: Watchlist, fresh: Freshness, limit: int, title: str | None = None) -> Answer:
    """Shared by the `watchlist` command and the scheduled advisor post: blocks + the full list as CSV when cut."""
    answer = Answer(
        text=f"Watchlist {watchlist.month}: {bk.plural(len(watchlist.entries), 'entry', 'entries')}",
        blocks=bk.watchlist_blocks(watchlist, fresh, limit, title),
        data=watchlist,
    )
    if len(watchlist.entries) > limit:
        rows = [[e.customer_id, e.full_name, e.reason, e.value, e.threshold] for e in watchlist.entries]
        answer.files.append(
            files.FileAttachment(
                f"watchlist-{watchlist.month}.csv",
                files.csv_bytes(["customer_id", "name", "reason", money_column("value"), money_column("threshold")],
                               rows),
                "Watchlist (CSV)",
            )
        )
    return answer
