"""Who may run what.

Roles combine: a person listed as advisor and director holds both; a staff member whose verified Slack email
matches a customer is also that customer. Directors see aggregates only — they do not get the advisor views
(individual customers) unless they are also configured as advisors: least privilege, since an aggregate never
names a customer. Advisors see individual customers but not the company-wide aggregates.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from semantic_layer.types import CustomerProfile


class Role(StrEnum):
    CUSTOMER = "customer"
    ADVISOR = "advisor"
    DIRECTOR = "director"


class Capability(StrEnum):
    HELP = "help"
    OWN_BALANCE = "balance"
    CUSTOMER_BALANCE = "balance <customer>"
    UPCOMING = "upcoming"
    STATEMENT = "statement"
    WATCHLIST = "watchlist"
    RED = "red"
    GROWTH = "growth"
    TIERS = "tiers"
    TRANSACTIONS = "transactions"
    DEFINE = "define"


ACCESS: dict[Capability, frozenset[Role]] = {
    Capability.HELP: frozenset(Role),
    Capability.OWN_BALANCE: frozenset({Role.CUSTOMER}),
    Capability.UPCOMING: frozenset({Role.CUSTOMER}),
    Capability.STATEMENT: frozenset({Role.CUSTOMER}),
    Capability.CUSTOMER_BALANCE: frozenset({Role.ADVISOR}),
    Capability.WATCHLIST: frozenset({Role.ADVISOR}),
    Capability.RED: frozenset({Role.ADVISOR}),
    Capability.GROWTH: frozenset({Role.DIRECTOR}),
    Capability.TIERS: frozenset({Role.DIRECTOR}),
    Capability.TRANSACTIONS: frozenset({Role.DIRECTOR}),
    Capability.DEFINE: frozenset({Role.DIRECTOR}),
}


@dataclass(frozen=True)
class Identity:
    """A Slack user as the bot sees them: roles, and the customer record when they are one."""

    user_id: str
    roles: frozenset[Role]
    customer: CustomerProfile | None = None
    display_name: str | None = None

    @property
    def known(self) -> bool:
        return bool(self.roles)


def allowed(identity: Identity, capability: Capability) -> bool:
    return bool(identity.roles & ACCESS[capability])
