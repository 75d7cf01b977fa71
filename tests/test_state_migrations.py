"""The state schema is managed by Alembic: upgrade from empty, models and migrations agree (`alembic check`),
downgrade to base, and two processes migrating at once (advisory lock) — on a real PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from bot.state import migrate, open_state
from bot.state.models import Base
from bot.state.store import engine_url

TABLES = {"delivery_keys", "post_ledger", "audit_log", "identity_revocations", "subscriptions", "conversations",
          "home_opens"}


def _tables(engine: object) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_from_empty_matches_the_models_and_downgrades_to_base(make_database: Callable[[], str]) -> None:
    engine = create_engine(engine_url(make_database()))
    try:
        assert _tables(engine) == set() and migrate.current(engine) is None
        migrate.upgrade(engine)
        assert migrate.current(engine) == migrate.head() == "0006"
        assert _tables(engine) == TABLES == set(Base.metadata.tables)
        assert migrate.differences(engine) == []  # nothing to autogenerate
        migrate.check(engine)  # `alembic check` itself agrees
        migrate.downgrade(engine)
        assert _tables(engine) == set() and migrate.current(engine) is None
        migrate.upgrade(engine)
        assert migrate.differences(engine) == []
    finally:
        engine.dispose()


def test_the_check_sees_a_model_the_migrations_lack(make_database: Callable[[], str]) -> None:
    """The agreement check itself: a column added to a model without a migration is reported."""
    from sqlalchemy import Column, MetaData, String, Table

    engine = create_engine(engine_url(make_database()))
    try:
        migrate.upgrade(engine)
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext

        extra = MetaData()
        for table in Base.metadata.tables.values():
            table.to_metadata(extra)
        Table("audit_log", extra, Column("channel_id", String(32)), extend_existing=True)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), extra)
        assert [d[0] for d in diff] == ["add_column"] and diff[0][3].name == "channel_id"
    finally:
        engine.dispose()


def test_two_processes_starting_together_migrate_once(make_database: Callable[[], str]) -> None:
    url = make_database()
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        try:
            barrier.wait()
            open_state(url).close()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = open_state(url, upgrade=False)
    try:
        assert migrate.current(store.engine) == migrate.head()
    finally:
        store.close()


def test_migrations_ship_inside_the_package() -> None:
    """No alembic.ini at run time: the scripts are package data beside the code."""
    root = resources.files("bot.state") / "migrations"
    assert (root / "env.py").is_file() and (root / "versions" / "0001_initial.py").is_file()
    assert migrate.alembic_config().get_main_option("script_location") == str(root)


def test_unset_url_means_a_finefin_state_database_on_the_embedded_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from finefin.config import get_settings

    monkeypatch.delenv("FINEFIN_STATE_URL", raising=False)
    monkeypatch.setenv("FINEFIN_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        store = open_state()
        try:
            with store.engine.connect() as conn:
                assert conn.execute(text("SELECT current_database()")).scalar() == "finefin_state"
            assert migrate.current(store.engine) == migrate.head()
            assert (tmp_path / "pgdata").is_dir()
        finally:
            store.close()
        open_state().close()  # a second start finds the database and the schema in place
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(("url", "expected"), [
    ("postgresql://u:p@db.internal:5433/state", "postgresql+psycopg://u:***@db.internal:5433/state"),
    ("postgres://u@db/state", "postgresql+psycopg://u@db/state"),
    ("host=/tmp/pg dbname=finefin_state user=postgres", "postgresql+psycopg://postgres@/finefin_state?host=%2Ftmp%2Fpg"),
])
def test_state_urls_are_read_in_every_usual_form(url: str, expected: str) -> None:
    from bot.state.store import engine_url

    assert engine_url(url).render_as_string(hide_password=True) == expected


@pytest.mark.parametrize(("url", "message"), [
    ("sqlite:///state.db", "must be a PostgreSQL URL"),
    ("not a url", "not a database URL"),
    ("postgresql://postgres@127.0.0.1:1/nowhere", "cannot use the state database"),
])
def test_a_bad_state_url_is_one_clear_error(url: str, message: str) -> None:
    from finefin.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=message):
        open_state(url)
