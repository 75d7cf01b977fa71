"""Who may ask which metric, grouped or filtered by which dimension: the access policy, as data, in one place.

Every caller of the query model (the `metric` and `why` commands, buttons, plain-English questions, subscriptions)
goes through `semantic_layer.query_service`, which applies this policy before anything reaches the warehouse.

- Directors: every aggregate metric, grouped or filtered by the dimensions that identify nobody.
- Advisors: the same, plus the dimensions that name a customer or an account (customer id, name, account) and the
  watchlist measures (withdrawals, loans outstanding, investments held).
- Customers: only the metrics about their own accounts and transactions, always with `customer = <own id>`, a
  filter the service adds from the principal's identity (never from the question's text).

A principal holding a staff audience is answered as staff (no customer filter); a principal who is only a customer
is answered as that customer. The semantic layer does not import the bot: the bot maps its roles to `Audience`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from semantic_layer.inputs import CustomerId


class Audience(StrEnum):
    DIRECTOR = "director"
    ADVISOR = "advisor"
    CUSTOMER = "customer"


STAFF = frozenset({Audience.DIRECTOR, Audience.ADVISOR})
_ALL = frozenset(Audience)
_STAFF_AND_CUSTOMERS = _ALL
_DIRECTORS_AND_ADVISORS = STAFF
_ADVISORS = frozenset({Audience.ADVISOR})

# metric -> audiences that may ask it (a metric missing here is asked by nobody: new metrics start closed)
METRIC_ACCESS: dict[str, frozenset[Audience]] = {
    # money moved on accounts: every audience (customers see their own)
    "revenue": _STAFF_AND_CUSTOMERS,
    "transaction_volume": _STAFF_AND_CUSTOMERS,
    "transaction_count": _STAFF_AND_CUSTOMERS,
    "transaction_volume_p2p_once": _STAFF_AND_CUSTOMERS,
    "transaction_count_p2p_once": _STAFF_AND_CUSTOMERS,
    "balance": _STAFF_AND_CUSTOMERS,
    "current_balance": _STAFF_AND_CUSTOMERS,
    "balance_by_month": _STAFF_AND_CUSTOMERS,
    "accounts_opened": _STAFF_AND_CUSTOMERS,
    # the watchlist measures: advisors (and customers, about themselves)
    "withdrawals": frozenset({Audience.ADVISOR, Audience.CUSTOMER}),
    "loans_outstanding": frozenset({Audience.ADVISOR, Audience.CUSTOMER}),
    "investments_held": frozenset({Audience.ADVISOR, Audience.CUSTOMER}),
    # company-wide aggregates about the customer base and growth: staff only
    "revenue_by_month": _DIRECTORS_AND_ADVISORS,
    "transaction_volume_by_month": _DIRECTORS_AND_ADVISORS,
    "revenue_mom_growth": _DIRECTORS_AND_ADVISORS,
    "transaction_volume_mom_growth": _DIRECTORS_AND_ADVISORS,
    "new_customers": _DIRECTORS_AND_ADVISORS,
    "new_customers_mom_growth": _DIRECTORS_AND_ADVISORS,
    "customers": _DIRECTORS_AND_ADVISORS,
    "active_customers": _DIRECTORS_AND_ADVISORS,
    "customers_in_red_streak": _DIRECTORS_AND_ADVISORS,
    "tier_customers": _DIRECTORS_AND_ADVISORS,
    "tier_customers_by_month": _DIRECTORS_AND_ADVISORS,
}

# dimension key (semantic_layer.catalog.DIMENSIONS) -> audiences that may group or filter by it
DIMENSION_ACCESS: dict[str, frozenset[Audience]] = {
    "type": _ALL,
    "account_type": _ALL,
    "account_status": _ALL,
    "account": frozenset({Audience.ADVISOR, Audience.CUSTOMER}),  # a customer's own accounts only (scope filter)
    "tier": _DIRECTORS_AND_ADVISORS,
    "country": _DIRECTORS_AND_ADVISORS,
    "customer": _ADVISORS,
    "customer_name": _ADVISORS,
}


@dataclass(frozen=True)
class Principal:
    """Who asks: their audiences, and their customer id when they are a customer (from their verified identity)."""

    audiences: frozenset[Audience]
    customer_id: CustomerId | None = None

    def __post_init__(self) -> None:
        if Audience.CUSTOMER in self.audiences and not isinstance(self.customer_id, CustomerId):
            raise TypeError("a customer principal carries their CustomerId")

    @property
    def is_staff(self) -> bool:
        return bool(self.audiences & STAFF)

    @property
    def scope(self) -> CustomerId | None:
        """The customer every answer is restricted to, or None for staff (who see aggregates)."""
        return None if self.is_staff else self.customer_id

    @property
    def acting_as(self) -> frozenset[Audience]:
        """The audiences whose rules apply: the staff ones when there are any (answers unscoped), else customer."""
        staff = self.audiences & STAFF
        return staff if staff else self.audiences & {Audience.CUSTOMER}


def may_ask_metric(principal: Principal, metric: str) -> bool:
    return bool(principal.acting_as & METRIC_ACCESS.get(metric, frozenset()))


def may_use_dimension(principal: Principal, dimension: str) -> bool:
    return bool(principal.acting_as & DIMENSION_ACCESS.get(dimension, frozenset()))


def allowed_metrics(principal: Principal, names: frozenset[str] | set[str]) -> list[str]:
    return sorted(name for name in names if may_ask_metric(principal, name))
