"""The state database's retention as a scheduled task (dags/finefin_state.py): what `finefin audit prune` does."""

from __future__ import annotations

import dataclasses

from bot.state.store import open_state


def prune_state(url: str | None = None) -> dict[str, int]:
    """Drop audit rows and post ledger entries older than FINEFIN_AUDIT_RETENTION_DAYS and finished delivery keys
    older than FINEFIN_DELIVERY_KEY_DAYS from the state database (FINEFIN_STATE_URL, else the embedded one); returns
    how many of each (the task's XCom, and its log line)."""
    store = open_state(url)
    try:
        return dataclasses.asdict(store.prune())
    finally:
        store.close()
