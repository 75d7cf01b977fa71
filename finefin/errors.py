"""Errors that carry a message meant for a person: the CLI prints them on one line and exits non-zero."""


class FinefinError(Exception):
    """Base class: `str(exc)` is a complete, human-readable sentence."""


class ConfigurationError(FinefinError):
    """A setting points at something unusable: unreachable DSN, unwritable path, missing credential."""


class SourceDataError(FinefinError):
    """The source holds data the pipeline refuses to load (unknown type, broken row)."""


class SourceUnavailableError(FinefinError):
    """The source PostgreSQL is down, dropped the connection or did not answer in time: an outage, not a setting."""


class RefreshRunningError(FinefinError):
    """Another refresh holds the data dir's refresh lock."""
