"""Typed errors of the semantic layer. Messages are short sentences safe to show to a Slack user."""

from finefin.errors import FinefinError


class SemanticLayerError(FinefinError):
    """Base class of everything the API raises on purpose."""


class InvalidInputError(SemanticLayerError):
    """User text that does not parse into the expected typed value (customer id, month, metric name)."""


class UnknownCustomerError(SemanticLayerError):
    """A well-formed customer id that the warehouse does not know."""


class FutureMonthError(InvalidInputError):
    """A month that has not started yet (or, for statements, not ended yet)."""


class NoAccountInMonthError(InvalidInputError):
    """A statement asked for a month in which the customer held no account (before the first one opened, which is
    also the case before the data starts, or after the last one closed)."""


class UnknownMetricError(InvalidInputError):
    """A metric name that is not defined in the semantic layer."""


class WarehouseUnavailableError(SemanticLayerError):
    """No published warehouse snapshot yet, or it cannot be read right now."""
