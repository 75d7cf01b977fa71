"""advisor_watchlist (daily) and director_digest (monthly, on the 1st): freshness gate → post to Slack.

Wiring only: the steps live in `finefin.refresh`, the messages in `bot.scheduled`. When the warehouse is older than
the SLA the gate fails with the reason (age, SLA); the post task does not run and the failure callback posts that
reason to FINEFIN_ALERTS_CHANNEL. Retries with back-off give a late refresh time to land before the alert.

Configuration (environment, read when the DAGs are parsed): FINEFIN_TIMEZONE, FINEFIN_WATCHLIST_CRON,
FINEFIN_WATCHLIST_TRIGGER (cron | asset), FINEFIN_DIGEST_CRON, FINEFIN_TASK_RETRIES, FINEFIN_RETRY_DELAY_SECONDS,
FINEFIN_MAX_RETRY_DELAY_SECONDS; channels and Slack token as read by `bot.settings.BotSettings`.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, CronTriggerTimetable, task

from finefin import refresh

orchestration = refresh.OrchestrationSettings.from_env()
START = pendulum.datetime(2026, 1, 1, tz=orchestration.timezone)
SNAPSHOT = Asset(name=refresh.SNAPSHOT_ASSET_NAME, uri=refresh.SNAPSHOT_ASSET_URI)

watchlist_schedule: Any = (
    [SNAPSHOT] if orchestration.watchlist_trigger == "asset"
    else CronTriggerTimetable(orchestration.watchlist_cron, timezone=orchestration.timezone)
)

with DAG(
    dag_id="advisor_watchlist",
    description="Daily watchlist and red streaks to the advisors' channel",
    schedule=watchlist_schedule,
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=refresh.default_args(orchestration),
    tags=["finefin", "slack"],
):

    @task
    def freshness_gate() -> dict[str, Any]:
        """Fail with the reason when the warehouse is stale: no post from old numbers."""
        return refresh.freshness_gate()

    @task
    def post_watchlist(*, logical_date: Any = None) -> list[str]:
        """Post once per local day: a retry or a re-run of the same day skips what was already posted."""
        return refresh.post_watchlist(refresh.local_date(logical_date, orchestration.timezone))

    freshness_gate() >> post_watchlist()


with DAG(
    dag_id="director_digest",
    description="Monthly digest (growth, tiers, definitions, chart) to the directors' channel",
    schedule=CronTriggerTimetable(orchestration.digest_cron, timezone=orchestration.timezone),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=refresh.default_args(orchestration),
    tags=["finefin", "slack"],
):

    @task
    def freshness_gate() -> dict[str, Any]:
        """Fail with the reason when the warehouse is stale: no post from old numbers."""
        return refresh.freshness_gate()

    @task
    def post_digest() -> list[str]:
        return refresh.post_digest()

    freshness_gate() >> post_digest()
