"""The bot's brain, without Slack: command text + identity → Answer. Slack, the console and the demo share it.

Order matters: parse the subcommand (no data touched) → check access → parse arguments into typed values
(CustomerId, Month, metric name) → call the semantic layer. `answer()` never raises.

The commands themselves live one module each under bot/commands/ (usage, argument parsing, handler, message),
registered in one table; this module resolves the user, checks the capability, dispatches through the table,
turns errors into polite messages and records the audit facts.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from rapidfuzz.distance import OSA

from bot import blocks as bk
from bot import commands as bot_commands
from bot.access import Capability, Identity, Role, allowed
from bot.answer import Answer, Outcome
from bot.commands.errors import AccessDenied as AccessDenied
from bot.commands.errors import BotUsageError as BotUsageError
from bot.commands.statement import StatementMismatchError as StatementMismatchError
from bot.commands.statement import check_reconciles as check_reconciles
from bot.commands.watchlist import watchlist_answer as watchlist_answer
from bot.escape import slack_text
from bot.identity import IdentityResolver
from bot.settings import BotSettings
from finefin.errors import FinefinError
from semantic_layer.api import SemanticLayer
from semantic_layer.errors import SemanticLayerError, UnknownCustomerError
from semantic_layer.inputs import CustomerId
from semantic_layer.types import Freshness

log = logging.getLogger(__name__)


# usage line and summary per capability, and the capability-gated command names, from the commands' table
HELP: dict[Capability, tuple[str, str]] = bot_commands.help_table()
SUBCOMMANDS: tuple[str, ...] = bot_commands.gated_names()
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
    form = bot_commands.gated()[name].form_for(args)  # `balance` vs `balance <customer>`
    if not form.min_args <= len(args) <= form.max_args:
        raise BotUsageError(f"Usage: `/finefin {form.usage}`.")
    return Request(form.capability, args)


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
            outcome = result.outcome or outcome  # a handler may say what it was (a clarifying question)
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
        found = bot_commands.lookup(text)  # commands over the query model: the semantic layer applies access
        if found is not None:
            return found[0].run(self, identity, found[1])
        try:
            request = parse(text)
        except BotUsageError:
            answered = self._question(identity, text)  # not a command: maybe a question in plain English
            if answered is None:
                raise
            return answered
        if not allowed(identity, request.capability):
            raise AccessDenied(self._refusal(identity, request.capability))
        if facts is not None:
            facts.customer_read = customer_to_read(identity, request)
        return bot_commands.forms()[request.capability].handler(self, identity, request.args)  # bot/commands/

    def _question(self, identity: Identity, text: str) -> Answer | None:
        """A text of two words or more that is not a command, read as a question (bot/commands/ask.py). None when
        it does not apply; a question after a known command's name that the parser does not answer keeps the
        command's usage message."""
        from bot.commands import ask

        if len(text.split()) < 2 or not ask.available(self):
            return None
        try:
            return ask.answer_question(self, identity, text)
        except ask.NotUnderstood as exc:
            first = text.split()[0].lower()
            if first in SUBCOMMANDS:
                return None
            near = [c for c in (*SUBCOMMANDS, *bot_commands.commands()) if len(first) >= 3 and OSA.distance(
                first, c) <= (1 if len(c) <= 5 else 2)]
            if near:  # "balanse 42": a command mistyped, not a question
                raise BotUsageError(f"I don't know “{slack_text(text.split()[0], 30)}”. Did you mean "
                                    f"`/finefin {near[0]}`? Try `/finefin help`.") from None
            raise (AccessDenied if exc.refused else BotUsageError)(str(exc)) from None

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
