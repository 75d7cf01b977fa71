"""The operational PostgreSQL: attach to `FINEFIN_SOURCE_URL` or start the embedded one, and apply the schema."""

from __future__ import annotations

import logging
from importlib import resources

import psycopg

from finefin.config import Settings
from finefin.embedded_pg import start_embedded  # moved to the ground floor (bot.state uses it too)
from finefin.embedded_pg import stop_embedded as stop_embedded  # re-exported for callers
from finefin.errors import ConfigurationError, SourceUnavailableError

log = logging.getLogger(__name__)

SOURCE_TABLES: tuple[str, ...] = ("customers", "accounts", "loans", "investments", "transactions")
"""Source tables in foreign-key order (parents first)."""

PRIMARY_KEYS: dict[str, str] = {
    "customers": "customer_id",
    "accounts": "account_id",
    "loans": "loan_id",
    "investments": "investment_id",
    "transactions": "transaction_id",
}

def schema_sql() -> str:
    return resources.files("ingestion").joinpath("sql/001_operational_schema.sql").read_text()


def source_dsn(settings: Settings) -> str:
    """DSN of the operational database: the configured one, or the embedded server's."""
    if settings.source_url:
        return settings.source_url
    return start_embedded(settings.embedded_pgdata)


DEFAULT_CONNECT_TIMEOUT_S = 10.0
DEFAULT_STATEMENT_TIMEOUT_S = 300.0

_CONFIGURATION_MARKERS = (
    "password authentication failed", "does not exist", "no pg_hba.conf entry", "invalid connection option",
    "invalid sslmode", "invalid integer value", "could not translate host name", "permission denied",
)
"""libpq messages that mean the DSN (or the account) is wrong: anything else at connect time is an outage."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def connect(dsn: str, *, connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
            statement_timeout_s: float | None = None, **kwargs: object) -> psycopg.Connection:
    """Open a connection with a connect timeout (and, when given, a statement timeout for the session).

    A wrong DSN or account is a ConfigurationError; a server that is down, refuses or does not answer in time is a
    SourceUnavailableError (an outage: retrying later is the fix, not changing a setting)."""
    try:
        conn = psycopg.connect(dsn, connect_timeout=max(1, round(connect_timeout_s)), **kwargs)  # type: ignore[arg-type]
    except psycopg.OperationalError as exc:
        line = _first_line(exc)
        if any(marker in line for marker in _CONFIGURATION_MARKERS):
            raise ConfigurationError(f"cannot connect to the source PostgreSQL ({redact(dsn)}): {line}") from exc
        raise SourceUnavailableError(
            f"cannot connect to the source PostgreSQL ({redact(dsn)}): {line}") from exc
    except psycopg.ProgrammingError as exc:
        raise ConfigurationError(f"the source DSN is not valid: {_first_line(exc)}") from exc
    if statement_timeout_s:
        try:
            conn.execute("SELECT set_config('statement_timeout', %s, false)", (f"{int(statement_timeout_s * 1000)}ms",))
            if not conn.autocommit:
                conn.commit()
        except psycopg.Error as exc:
            conn.close()
            raise SourceUnavailableError(f"the source PostgreSQL ({redact(dsn)}) failed: {_first_line(exc)}") from exc
    return conn


def apply_schema(dsn: str) -> None:
    """Create the operational tables if they are missing (idempotent)."""
    with connect(dsn) as conn:
        conn.execute(schema_sql())  # type: ignore[arg-type]  # our own DDL file, no user input


def redact(dsn: str) -> str:
    """The DSN with any password hidden, for messages and logs."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparsable DSN>"
    if info.get("password"):
        info["password"] = "***"
    return psycopg.conninfo.make_conninfo(**info)
