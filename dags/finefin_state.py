"""state_retention (daily): the bot's state database kept to its retention, as `finefin audit prune` does.

Wiring only: the pruning is `bot.state.retention.prune_state` (audit rows and post ledger entries older than
FINEFIN_AUDIT_RETENTION_DAYS, finished delivery keys older than FINEFIN_DELIVERY_KEY_DAYS).

Configuration (environment, read when the DAG is parsed): FINEFIN_PRUNE_CRON (UTC, default 03:15 daily),
FINEFIN_TASK_RETRIES, FINEFIN_RETRY_DELAY_SECONDS, FINEFIN_MAX_RETRY_DELAY_SECONDS; the state database as the bot reads
it (FINEFIN_STATE_URL).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable, task

from bot.state.settings import StateSettings
from finefin import refresh

orchestration = refresh.OrchestrationSettings.from_env()

with DAG(
    dag_id="state_retention",
    description="Prune the bot's state database (audit log, post ledger, delivery keys) to its retention",
    schedule=CronTriggerTimetable(StateSettings().prune_cron, timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=refresh.default_args(orchestration),
    tags=["finefin", "state"],
):

    @task
    def prune_state() -> dict[str, int]:
        from bot.state.retention import prune_state

        return prune_state()

    prune_state()
