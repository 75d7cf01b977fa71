"""Shared fixtures: a real PostgreSQL server (FINEFIN_TEST_PG_URL, else an embedded pgserver) and fresh databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from ingestion.source import apply_schema, start_embedded, stop_embedded

# support modules whose helpers assert (imported by several test modules): rewrite them before any imports them
pytest.register_assert_rewrite("tests.query_support", "tests.bot_support")


@pytest.fixture(scope="session", autouse=True)
def _stop_embedded_servers_at_the_end() -> Iterator[None]:
    yield
    stop_embedded()


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """DSN of a maintenance database on a real PostgreSQL server."""
    url = os.environ.get("FINEFIN_TEST_PG_URL")
    if url:
        return url
    return start_embedded(tmp_path_factory.mktemp("pg") / "pgdata")


def _with_dbname(url: str, dbname: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**info)


@pytest.fixture(scope="session")
def make_database(pg_server_url: str) -> Iterator[Callable[[], str]]:
    """Factory of empty databases on the test server; all are dropped at the end of the session."""
    created: list[str] = []

    def make() -> str:
        name = f"finefin_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        return _with_dbname(pg_server_url, name)

    yield make
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        for name in created:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture()
def empty_source(make_database: Callable[[], str]) -> str:
    """A fresh database holding the operational schema and no rows."""
    dsn = make_database()
    apply_schema(dsn)
    return dsn


@pytest.fixture()
def warehouse_path(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"
