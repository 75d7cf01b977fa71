"""The operational PostgreSQL: attach to `FINEFIN_SOURCE_URL` or start the embedded one, and apply the schema."""

from __future__ import annotations

import logging
from importlib import resources

import psycopg

from finefin.config import Settings
from finefin.embedded_pg import start_embedded  # moved to the ground floor (bot.state uses it too)
from finefin.embedded_pg import stop_embedded as stop_embedded  # re-exported for callers
from finefin.errors import ConfigurationError

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


def connect(dsn: str, **kwargs: object) -> psycopg.Connection:
    """Open a connection, turning driver errors into one clear configuration error."""
    try:
        return psycopg.connect(dsn, connect_timeout=10, **kwargs)  # type: ignore[arg-type]
    except psycopg.OperationalError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigurationError(f"cannot connect to the source PostgreSQL ({redact(dsn)}): {first_line}") from exc


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
