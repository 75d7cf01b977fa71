"""Open the state database: resolve the URL (FINEFIN_STATE_URL or the embedded PostgreSQL), migrate to head, and
hand out the typed tables (delivery keys, post ledger, audit log)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from bot.state import migrate
from bot.state.audit import AuditLog
from bot.state.claims import ClaimKeys
from bot.state.conversations import PgConversations
from bot.state.models import DeliveryKey, PostLedgerEntry
from bot.state.revocations import PgRevocations
from bot.state.settings import STATE_DATABASE, StateSettings
from bot.state.subscriptions import SubscriptionStore
from finefin.errors import ConfigurationError

log = logging.getLogger(__name__)


def resolve_url(settings: StateSettings) -> str:
    """FINEFIN_STATE_URL, or the `finefin_state` database on the embedded PostgreSQL (created if missing)."""
    if settings.state_url:
        return settings.state_url
    from finefin.config import get_settings
    from finefin.embedded_pg import ensure_database, start_embedded

    return ensure_database(start_embedded(get_settings().embedded_pgdata), STATE_DATABASE)


def engine_url(url: str) -> URL:
    """A SQLAlchemy URL on psycopg 3, from a `postgresql://…` URL or a libpq `key=value` DSN."""
    if "://" not in url:
        import psycopg

        try:
            info = psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.ProgrammingError:
            raise ConfigurationError(
                "FINEFIN_STATE_URL is not a database URL (postgresql://user@host:5432/db).") from None
        query = {k: str(v) for k, v in info.items() if k not in ("user", "password", "dbname", "port", "host")}
        host = str(info.get("host") or "")
        if host.startswith("/"):  # a socket directory goes in the query, as libpq expects
            query["host"] = host
            host = ""
        return URL.create("postgresql+psycopg", username=info.get("user"), password=info.get("password"),
                          host=host or None, port=int(info["port"]) if info.get("port") else None,
                          database=info.get("dbname"), query=query)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError("FINEFIN_STATE_URL is not a database URL (postgresql://user@host:5432/db).") from None
    if parsed.drivername.split("+")[0] not in ("postgresql", "postgres"):
        raise ConfigurationError(f"FINEFIN_STATE_URL must be a PostgreSQL URL, not {parsed.drivername}://…")
    return parsed.set(drivername="postgresql+psycopg")


@dataclass(frozen=True)
class PruneReport:
    audit_rows: int
    delivery_keys: int
    ledger_entries: int


class StateStore:
    """The bot's state tables on one SQLAlchemy engine (a small pool, shared by threads)."""

    def __init__(self, engine: Engine, settings: StateSettings, ack_engine: Engine | None = None) -> None:
        self.engine, self.settings, self.ack_engine = engine, settings, ack_engine
        self.deliveries = ClaimKeys(engine, DeliveryKey.__table__, settings.claim_timeout_seconds,  # type: ignore[arg-type]
                                    ack_engine=ack_engine)
        self.post_ledger = ClaimKeys(engine, PostLedgerEntry.__table__, settings.claim_timeout_seconds)  # type: ignore[arg-type]
        self.audit = AuditLog(engine)
        self.revocations = PgRevocations(engine)
        self.subscriptions = SubscriptionStore(engine, self.audit)
        self.conversations = PgConversations(engine)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def prune(self) -> PruneReport:
        """Drop what is older than the retention: audit rows and ledger entries (FINEFIN_AUDIT_RETENTION_DAYS),
        finished delivery keys (FINEFIN_DELIVERY_KEY_DAYS)."""
        report = PruneReport(
            audit_rows=self.audit.prune(self.settings.audit_retention_days),
            delivery_keys=self.deliveries.prune(self.settings.delivery_key_days),
            ledger_entries=self.post_ledger.prune(self.settings.audit_retention_days),
        )
        log.info("state pruned: %s", report)
        return report

    def close(self) -> None:
        self.engine.dispose()
        if self.ack_engine is not None:
            self.ack_engine.dispose()


def open_state(
    url: str | None = None,
    settings: StateSettings | None = None,
    upgrade: bool = True,
    *,
    on_request_path: bool = False,
) -> StateStore:
    """Connect, and (by default) bring the schema to the newest migration first.

    `on_request_path`: the bot's store, used before Slack's ack. Its waits are bounded — connecting
    (FINEFIN_STATE_TIMEOUT_SECONDS), a free pool connection, and every statement — so a slow or unreachable state
    database fails a claim quickly (the request is then handled without de-duplication) instead of missing the ack.
    """
    settings = settings or StateSettings()
    if url is not None:
        settings = settings.model_copy(update={"state_url": url})
    sa_url = engine_url(resolve_url(settings))
    connect_args: dict[str, object] = {"connect_timeout": 10}
    pool: dict[str, float] = {}
    if on_request_path:
        limit = settings.timeout_seconds
        connect_args = {"connect_timeout": max(2, round(limit)),  # libpq's smallest
                        "options": f"-c statement_timeout={round(limit * 1000)}"}
        pool = {"pool_timeout": limit}
    engine = create_engine(sa_url, pool_size=10, max_overflow=10, pool_pre_ping=True, connect_args=connect_args,
                           **pool)
    ack_engine = None
    if on_request_path:
        # the delivery claims (bot/state/claims.py): autocommit and no pre-ping (one round trip per claim); up to
        # FINEFIN_ACK_POOL_SIZE connections, opened when first needed (the answer workers open this store for the
        # identity revocations only and never claim) and then kept: no overflow connection opened and closed again
        # in every burst
        ack_engine = create_engine(sa_url, pool_size=settings.ack_pool_size, max_overflow=0, pool_pre_ping=False,
                                   isolation_level="AUTOCOMMIT", pool_reset_on_return=None,
                                   connect_args=connect_args, **pool)
    try:
        if upgrade:
            migrate.upgrade(engine)
        else:
            StateStore(engine, settings).ping()
    except SQLAlchemyError as exc:
        engine.dispose()
        if ack_engine is not None:
            ack_engine.dispose()
        first = str(exc.orig if getattr(exc, "orig", None) else exc).strip().splitlines()[0]
        raise ConfigurationError(
            f"cannot use the state database ({sa_url.render_as_string(hide_password=True)}): {first}") from exc
    return StateStore(engine, settings, ack_engine)


_shared: dict[str, StateStore] = {}
_shared_lock = threading.Lock()


def shared_state() -> StateStore:
    """One store per process for the state URL of the environment (the bot and the scheduled posts use it)."""
    settings = StateSettings()
    if settings.state_url:
        key = settings.state_url
    else:
        from finefin.config import get_settings

        key = str(get_settings().embedded_pgdata)
    with _shared_lock:
        if key not in _shared:
            _shared[key] = open_state(settings=settings, on_request_path=True)
        return _shared[key]
