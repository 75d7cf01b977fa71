"""Conversations in PostgreSQL: thread -> (asker, query as JSON). Written by the web process when an answer is
posted in a thread, read by whichever answer worker gets the follow-up."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects.postgresql import insert

from bot.state.models import Conversation


class PgConversations:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def remember(self, channel_id: str, thread_ts: str, user_id: str, query: dict[str, Any]) -> None:
        values = {"channel_id": channel_id[:32], "thread_ts": thread_ts[:32], "user_id": user_id[:32],
                  "query": query}
        stmt = insert(Conversation).values(**values, updated_at=func.now())
        stmt = stmt.on_conflict_do_update(index_elements=["channel_id", "thread_ts"],
                                          set_={"user_id": stmt.excluded.user_id, "query": stmt.excluded.query,
                                                "updated_at": func.now()})
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def recall(self, channel_id: str, thread_ts: str) -> tuple[str, dict[str, Any]] | None:
        query = select(Conversation.user_id, Conversation.query).where(
            Conversation.channel_id == channel_id[:32], Conversation.thread_ts == thread_ts[:32])
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else (row[0], row[1])
