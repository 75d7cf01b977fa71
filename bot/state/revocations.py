"""`bot.identity.Revocations` in PostgreSQL: an identity change seen by one web process reaches every process.

`user_change` arrives at one web process, while every answer worker (and every other web process) caches the
identities it resolved. `revoke` upserts the change time; each resolver asks `revoked_since` on a cache hit (one
primary-key lookup of at most two rows) and resolves the user again when its entry is older. Times are the database's
clock for `revoke` and epoch seconds of the caller's clock for `since`: the small skew between machines is covered by
the resolver's own TTL (FINEFIN_IDENTITY_CACHE_SECONDS).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects.postgresql import insert

from bot.state.models import IdentityRevocation

EVERYONE = "*"


class PgRevocations:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def revoke(self, user_id: str | None) -> None:
        key = (user_id or EVERYONE)[:32]
        stmt = insert(IdentityRevocation).values(user_id=key, revoked_at=func.now())
        stmt = stmt.on_conflict_do_update(index_elements=["user_id"], set_={"revoked_at": func.now()})
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def revoked_since(self, user_id: str, since: float) -> bool:
        moment = datetime.fromtimestamp(since, UTC)
        query = select(func.count()).where(
            IdentityRevocation.user_id.in_([user_id[:32], EVERYONE]), IdentityRevocation.revoked_at >= moment)
        with self.engine.connect() as conn:
            return bool(conn.execute(query).scalar_one())
