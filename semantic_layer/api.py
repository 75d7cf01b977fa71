"""The semantic layer's public surface: one function per user story. The bot and the DAGs call only this.

`SemanticLayer` is the contract; `semantic_layer.service.MetricFlowSemanticLayer` implements it over MetricFlow.
"""

from __future__ import annotations

from typing import Protocol

from semantic_layer.inputs import CustomerId, Month
from semantic_layer.types import (
    CustomerBalance,
    CustomerProfile,
    Freshness,
    MetricDefinition,
    MonthlyGrowth,
    Statement,
    TierBreakdown,
    TransactionsPerMonth,
    Upcoming,
    Watchlist,
)


class SemanticLayer(Protocol):
    def freshness(self) -> Freshness: ...

    def customer_by_email(self, email: str) -> CustomerProfile | None:
        """The customer whose email matches (case-insensitive), or None."""
        ...

    def customer(self, customer_id: CustomerId) -> CustomerProfile:
        """Raises UnknownCustomerError."""
        ...

    def balance(self, customer_id: CustomerId) -> CustomerBalance: ...

    def upcoming(self, customer_id: CustomerId, days: int = 30) -> Upcoming: ...

    def statement(self, customer_id: CustomerId, month: Month | None = None) -> Statement:
        """Default month: the last complete one. Raises FutureMonthError for a month not over yet and
        NoAccountInMonthError for a month in which the customer held no account."""
        ...

    def monthly_growth(self, month: Month | None = None, history: int = 6) -> MonthlyGrowth: ...

    def customers_per_tier(self, month: Month | None = None) -> TierBreakdown: ...

    def transactions_per_month(self, months: int = 12) -> TransactionsPerMonth: ...

    def watchlist(self, month: Month | None = None) -> Watchlist: ...

    def metric_names(self) -> list[str]: ...

    def define(self, metric: str) -> MetricDefinition:
        """Raises UnknownMetricError."""
        ...
