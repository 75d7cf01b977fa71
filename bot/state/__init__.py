"""The bot's state in PostgreSQL (FINEFIN_STATE_URL): delivery de-duplication keys, the post ledger, the audit log.

Schema by Alembic migrations in bot/state/migrations, applied by `open_state()` at bot and refresh start.
"""

from bot.state.audit import AuditLog, AuditQuery, AuditRecord, AuditRow
from bot.state.claims import ClaimKeys
from bot.state.store import PruneReport, StateStore, open_state, shared_state

__all__ = ["AuditLog", "AuditQuery", "AuditRecord", "AuditRow", "ClaimKeys", "PruneReport", "StateStore",
           "open_state", "shared_state"]
