"""The operational PostgreSQL: attach to `FINEFIN_SOURCE_URL` or start the embedded one, and apply the schema."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

import psycopg

from finefin.config import Settings
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

_embedded_servers: dict[Path, object] = {}


def schema_sql() -> str:
    return resources.files("ingestion").joinpath("sql/001_operational_schema.sql").read_text()


def start_embedded(pgdata: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL in `pgdata`; returns its DSN. Stops when the process exits."""
    import pgserver  # heavy import: only when the embedded server is needed

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = _embedded_servers.get(pgdata)
    if server is None:
        try:
            server = pgserver.get_server(pgdata, cleanup_mode="stop")
        except Exception as exc:  # pgserver raises plain exceptions with the server log inside
            raise ConfigurationError(f"could not start the embedded PostgreSQL in {pgdata}: {exc}") from exc
        _embedded_servers[pgdata] = server
    return server.get_uri()  # type: ignore[attr-defined]


def stop_embedded() -> None:
    """Stop the embedded servers this process started (pgserver would otherwise stop them from an atexit hook,
    logging after the interpreter's log streams may be closed)."""
    while _embedded_servers:
        _, server = _embedded_servers.popitem()
        server.cleanup()  # type: ignore[attr-defined]
    logging.getLogger("pgserver").setLevel(logging.WARNING)


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
