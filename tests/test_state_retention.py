"""The state database's retention on a schedule: the state_retention DAG (dags/finefin_state.py) prunes as
`finefin audit prune` does, with FINEFIN_AUDIT_RETENTION_DAYS / FINEFIN_DELIVERY_KEY_DAYS."""

# ruff: noqa: E402 - assertion rewriting must be registered before the support modules are imported
from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.bot_support", "tests.airflow_support")

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bot.state import AuditQuery, AuditRecord
from tests.airflow_support import parse_dags, run_dag, task_states

pytest_plugins = ["tests.airflow_support", "tests.bot_support"]


def test_the_retention_dag_prunes_the_state_database(
    airflow_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, state_store: Any, state_url: str
) -> None:
    for n, age in enumerate((1, 45)):
        state_store.audit.record(AuditRecord(request_id=f"req{age}", user_id="U1", command="balance",
                                             outcome="answered", roles=("customer",), customer_read=n))
        key = f"trigger_id:{age}"
        assert state_store.deliveries.claim(key) and state_store.deliveries.complete(key)
    with state_store.engine.begin() as conn:
        for age in (1, 45):
            conn.execute(text(f"UPDATE audit_log SET at = now() - interval '{age} days' WHERE request_id = 'req{age}'"))
            conn.execute(text(f"UPDATE delivery_keys SET claimed_at = now() - interval '{age} days' "
                              f"WHERE key = 'trigger_id:{age}'"))
    bag = parse_dags(monkeypatch, tmp_path, FINEFIN_STATE_URL=state_url, FINEFIN_AUDIT_RETENTION_DAYS="30",
                     FINEFIN_DELIVERY_KEY_DAYS="7", FINEFIN_PRUNE_CRON="45 2 * * *")
    dag = bag.get_dag("state_retention")
    assert dag.timetable.expression == "45 2 * * *" and dag.catchup is False
    assert list(dag.task_dict) == ["prune_state"]
    run = run_dag(bag, "state_retention", datetime(2026, 11, 24, 2, 45, tzinfo=UTC))
    assert task_states(run) == {"prune_state": "success"}
    assert [r.request_id for r in state_store.audit.rows(AuditQuery())] == ["req1"]
    assert state_store.deliveries.is_done("trigger_id:1") and not state_store.deliveries.is_done("trigger_id:45")
