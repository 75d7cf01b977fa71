"""The embedded PostgreSQL (pgserver) that runs when no server is configured: the operational source's default
(ingestion) and the bot's state default (bot.state) share it, so it lives on the ground floor."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import psycopg
from psycopg import errors, sql

from finefin.errors import ConfigurationError

_embedded_servers: dict[Path, object] = {}


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


def ensure_database(server_dsn: str, dbname: str) -> str:
    """Create `dbname` on the server of `server_dsn` unless it exists (safe when two processes race); returns its
    DSN (key=value form)."""
    info = psycopg.conninfo.conninfo_to_dict(server_dsn)
    try:
        with psycopg.connect(server_dsn, autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
            if exists is None:
                # another process may create it between the check and the CREATE
                with contextlib.suppress(errors.DuplicateDatabase, errors.UniqueViolation):
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    except psycopg.OperationalError as exc:
        raise ConfigurationError(f"cannot create the database {dbname}: {str(exc).strip().splitlines()[0]}") from exc
    info["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**info)  # type: ignore[arg-type]
