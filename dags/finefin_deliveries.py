"""finefin_deliveries: after each publish of the warehouse (the snapshot asset), evaluate users' alerts and deliver
their due subscriptions.

Wiring only: the logic is `bot.deliveries` (fresh data only — a stale warehouse holds every item and tells each
owner once; each distinct query computed once; alerts once per crossing; one delivery per (subscription, period)
through the post ledger, so a retried task posts only what failed). A failed post fails the task (retries with
back-off, then the failure callback posts to FINEFIN_ALERTS_CHANNEL).

Schedule: after each publish (the snapshot asset), and every 15 minutes (FINEFIN_DELIVERIES_CRON, in FINEFIN_TIMEZONE)
for the subscriptions set `at HH:MM` only.

Configuration (environment): FINEFIN_TIMEZONE, FINEFIN_DELIVERIES_CRON, FINEFIN_TASK_RETRIES,
FINEFIN_RETRY_DELAY_SECONDS, FINEFIN_MAX_RETRY_DELAY_SECONDS; Slack and state as read by
`bot.settings.BotSettings` and FINEFIN_STATE_URL.
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, task
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable

from finefin import refresh

orchestration = refresh.OrchestrationSettings.from_env()
START = pendulum.datetime(2026, 1, 1, tz=orchestration.timezone)
SNAPSHOT = Asset(name=refresh.SNAPSHOT_ASSET_NAME, uri=refresh.SNAPSHOT_ASSET_URI)
# between publishes, a short timetable delivers the subscriptions set `at HH:MM` (only those: alerts and the other
# subscriptions wait for the next publish)
TIMED_CRON = os.environ.get("FINEFIN_DELIVERIES_CRON", "*/15 * * * *")

with DAG(
    dag_id="finefin_deliveries",
    description="Users' alerts and subscriptions, evaluated and delivered after each data publish",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable(TIMED_CRON, timezone=orchestration.timezone),
                                 assets=[SNAPSHOT]),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=refresh.default_args(orchestration),
    tags=["finefin", "slack"],
):

    @task
    def evaluate_and_deliver(**context: Any) -> list[str]:
        from bot.deliveries import deliver_from_env

        run_type = getattr(context.get("dag_run"), "run_type", None)
        return deliver_from_env(timed=getattr(run_type, "value", run_type) == "scheduled")

    evaluate_and_deliver()
