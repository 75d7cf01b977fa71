"""The state tables, as SQLAlchemy models. Alembic migrations (bot/state/migrations) create them; a test checks
that the two agree. Later features (subscriptions, alerts, conversations) add tables here and a migration."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, Index, Integer, MetaData, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
COMMAND_MAX_CHARS = 500
QUERY_MAX_CHARS = 1000
NOW = text("now()")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class _ClaimColumns:
    """Claim/complete/release: `pending` from claim until the work is done (`done`) or released (row deleted)."""

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str] = mapped_column(String(64))
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DeliveryKey(_ClaimColumns, Base):
    """One Slack delivery (trigger_id / event_id / body hash): a retry of a delivery in hand or done is dropped."""

    __tablename__ = "delivery_keys"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'done')", name="state"),
        Index(None, "claimed_at"),
    )


class PostLedgerEntry(_ClaimColumns, Base):
    """One scheduled post (e.g. `watchlist:2026-11-24:C123`): made exactly once across processes and machines."""

    __tablename__ = "post_ledger"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'done')", name="state"),
        Index(None, "claimed_at"),
    )


class AuditEntry(Base):
    """One row per request: who asked what, as which role, whose data was read, and how it ended."""

    __tablename__ = "audit_log"
    __table_args__ = (
        CheckConstraint("outcome IN ('answered', 'clarified', 'refused', 'error')", name="outcome"),
        Index(None, "at"),
        Index(None, "user_id", "at"),
        Index(None, "customer_read", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)
    team_id: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(32))
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(32)), server_default=text("'{}'"))
    customer_id: Mapped[int | None] = mapped_column(BigInteger)  # the user's own customer id, if they are one
    command: Mapped[str] = mapped_column(String(COMMAND_MAX_CHARS))
    customer_read: Mapped[int | None] = mapped_column(BigInteger)  # whose data the request read (or tried to)
    outcome: Mapped[str] = mapped_column(String(16))
    latency_ms: Mapped[int | None] = mapped_column(Integer)


class IdentityRevocation(Base):
    """When a Slack user's identity last changed (`user_change`), or every identity (`*`: tokens revoked, app
    uninstalled). Each process caches identities; on a cache hit it re-resolves one cached before this time."""

    __tablename__ = "identity_revocations"

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    revoked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)


class Subscription(Base):
    """A user's subscription (a query delivered daily/weekly/monthly) or alert (a condition checked after each
    refresh), owned by one Slack user; `bot.state.subscriptions` edits them (owner only, audited)."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint("kind IN ('subscription', 'alert')", name="kind"),
        CheckConstraint("cadence IN ('daily', 'weekly', 'monthly')", name="cadence"),
        Index(None, "owner_user_id"),
        Index(None, "paused", "kind"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    owner_user_id: Mapped[str] = mapped_column(String(32))
    owner_team_id: Mapped[str | None] = mapped_column(String(32))
    query: Mapped[str] = mapped_column(String(QUERY_MAX_CHARS))  # bot.state.subscriptions.encode_query
    cadence: Mapped[str] = mapped_column(String(16))  # a subscription's schedule; an alert's grain
    condition: Mapped[str | None] = mapped_column(String(64))  # alerts: "below:1000", "change_below:-10%"
    target: Mapped[str | None] = mapped_column(String(32))  # a channel id; None: the owner's DM
    paused: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    disabled_reason: Mapped[str | None] = mapped_column(String(200))  # e.g. the owner was deactivated
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)
    last_state: Mapped[str | None] = mapped_column(String(16))  # alerts: "met" / "clear" (fire once per crossing)
    last_period: Mapped[str | None] = mapped_column(String(32))  # the last period delivered or evaluated
    stale_notified: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))  # told once: data stale
    at_time: Mapped[str | None] = mapped_column(String(5))  # subscriptions: "HH:MM" in the workspace's timezone
    last_members: Mapped[str | None] = mapped_column(Text)  # event alerts: JSON list of the keys last seen matching


class HomeOpen(Base):
    """Who opened the App Home tab, and when last: the deliveries run re-publishes the Home of those seen in the
    last FINEFIN_HOME_REFRESH_DAYS days after each data publish (one row per user, bounded by the prune)."""

    __tablename__ = "home_opens"
    __table_args__ = (Index(None, "opened_at"),)

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    team_id: Mapped[str | None] = mapped_column(String(32))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)


class Conversation(Base):
    """The query an answer in a Slack thread was read as, so a follow-up in that thread ("and by tier?") is read
    against it. Keyed by the thread; `user_id` is who asked: only they continue it."""

    __tablename__ = "conversations"
    __table_args__ = (Index(None, "updated_at"),)

    channel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    thread_ts: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32))
    query: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)
