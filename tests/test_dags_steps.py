"""The DAGs' plain-Python parts, without Airflow: orchestration settings, the failure alert, the freshness gate."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.scheduled import StaleDataError
from finefin import alerts, refresh
from finefin.config import Settings
from finefin.errors import ConfigurationError
from tests.bot_support import NOW, build_double
from tests.fake_slack import FakeSlack


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FINEFIN_INGEST_MODE", "FINEFIN_REFRESH_SCHEDULE", "FINEFIN_TIMEZONE", "FINEFIN_TASK_RETRIES",
                 "FINEFIN_WATCHLIST_CRON", "FINEFIN_WATCHLIST_TRIGGER", "FINEFIN_DIGEST_CRON",
                 "SLACK_BOT_TOKEN", "FINEFIN_ALERTS_CHANNEL", "FINEFIN_SLACK_API_URL", "FINEFIN_FRESHNESS_SLA_HOURS"):
        monkeypatch.delenv(name, raising=False)


def test_orchestration_defaults() -> None:
    o = refresh.OrchestrationSettings.from_env()
    assert (o.ingest_mode, o.refresh_schedule, o.timezone) == ("dlt", "@hourly", "UTC")
    assert (o.watchlist_cron, o.watchlist_trigger, o.digest_cron) == ("0 7 * * *", "cron", "0 8 1 * *")
    args = refresh.default_args(o)
    assert args["retries"] == 3 and args["retry_delay"] == timedelta(minutes=1)
    assert args["retry_exponential_backoff"] == 2.0 and args["max_retry_delay"] == timedelta(minutes=30)
    assert args["on_failure_callback"] is alerts.on_task_failure


@pytest.mark.parametrize("value", ["none", "None", "", "manual"])
def test_refresh_can_be_manual_only(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("FINEFIN_REFRESH_SCHEDULE", value)
    assert refresh.OrchestrationSettings.from_env().refresh_schedule is None


@pytest.mark.parametrize(("name", "value"), [("FINEFIN_TIMEZONE", "Mars/Olympus"), ("FINEFIN_TASK_RETRIES", "-1"),
                                             ("FINEFIN_INGEST_MODE", "fivetran")])
def test_bad_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=name):
        refresh.OrchestrationSettings.from_env()


def test_local_date_of_a_logical_date() -> None:
    moment = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    assert refresh.local_date(moment, "Europe/Paris") == date(2026, 11, 24)
    assert refresh.local_date(moment, "UTC") == date(2026, 11, 23)
    assert refresh.local_date(None, "UTC") is None


def test_publish_is_a_no_op_on_snowflake(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, target="snowflake")
    assert refresh.publish(settings) == {"published": False, "target": "snowflake"}
    assert not (tmp_path / "serving").exists()


# --------------------------------------------------------------------------------------------------- the gate


@pytest.mark.parametrize(("built", "full_refresh", "window", "unit_tests"), [
    (False, False, None, True),  # first build: every test on every row
    (True, False, refresh.daily_test_window_days(), False),  # daily incremental build
    (True, True, None, True),  # --full-refresh
])
def test_refresh_build_tests_what_it_rewrote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, built: bool,
                                             full_refresh: bool, window: int | None, unit_tests: bool) -> None:
    import duckdb

    from finefin import transform

    settings = Settings(data_dir=tmp_path, warehouse=tmp_path / "w.duckdb")
    if built:
        with duckdb.connect(str(settings.warehouse_path)) as con:
            con.execute("create schema analytics; create table analytics.fct_account_balances_daily (x int)")
    calls: list[dict[str, object]] = []
    monkeypatch.setattr(transform, "run_dbt_build", lambda *args, **kwargs: calls.append(kwargs))
    refresh.build(settings, full_refresh=full_refresh, progress=False)
    assert refresh.warehouse_is_built(settings) is built
    assert [(c["full_refresh"], c["data_test_window_days"], c["unit_tests"], c["debug_artifacts"]) for c in calls] == [
        (full_refresh, window, unit_tests, unit_tests)]
    assert refresh.daily_test_window_days() == 7  # dbt var lookback_days
    # the Airflow DAG's cosmos build gets the same window, decided at run time by plan_build (never at parse time)
    assert "FINEFIN_DATA_TEST_WINDOW_DAYS" not in refresh.dbt_env(settings)
    if not full_refresh:
        assert refresh.plan_build(settings)["data_test_window_days"] == window


def test_freshness_gate_passes_fresh_data() -> None:
    sl = build_double()
    result = refresh.freshness_gate(sl, refresh.bot_settings())
    assert result["last_load_at"] == sl.last_load_at.isoformat()
    assert result["age_seconds"] == 2 * 3600


def test_freshness_gate_stops_stale_data_with_the_reason() -> None:
    sl = build_double()
    sl.last_load_at = NOW - timedelta(days=2)
    with pytest.raises(StaleDataError, match=r"last load 2 days, 0:00:00 ago, SLA 1 day, 2:00:00"):
        refresh.freshness_gate(sl, refresh.bot_settings())
    sl.last_load_at = None
    with pytest.raises(StaleDataError, match="no successful load recorded"):
        refresh.freshness_gate(sl, refresh.bot_settings())


# -------------------------------------------------------------------------------------------------- the alert


@dataclass
class FakeTI:
    dag_id: str = "finefin_refresh"
    task_id: str = "ingest"
    run_id: str = "scheduled__2026-11-24T07:00:00+00:00"
    try_number: int = 4
    max_tries: int = 3
    log_url: str = "http://airflow.example/dags/finefin_refresh/runs/x/tasks/ingest"


def test_failure_text_says_what_which_try_why_and_where() -> None:
    error = RuntimeError("Airbyte sync failed: job 42 status failed")
    text = alerts.failure_text(alerts.TaskFailure.from_context({"ti": FakeTI(), "exception": error}))
    assert text.splitlines() == [
        "finefin_refresh.ingest failed (try 4 of 4), run scheduled__2026-11-24T07:00:00+00:00",
        "RuntimeError: Airbyte sync failed: job 42 status failed",
        "log: http://airflow.example/dags/finefin_refresh/runs/x/tasks/ingest",
    ]


def test_failure_text_is_bounded() -> None:
    failure = alerts.TaskFailure.from_context({"ti": FakeTI(), "exception": ValueError("x" * 10_000)})
    assert len(alerts.failure_text(failure)) < 2000


def test_alert_is_posted_to_the_alerts_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeSlack().start()
    try:
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
        monkeypatch.setenv("FINEFIN_SLACK_API_URL", fake.api_url)
        monkeypatch.setenv("FINEFIN_ALERTS_CHANNEL", "CALERT")
        alerts.on_task_failure({"ti": FakeTI(), "exception": StaleDataError("Refusing to post <from> stale data")})
        [post] = fake.calls_to("chat.postMessage")
        assert post.params["channel"] == "CALERT"
        assert "finefin_refresh.ingest failed (try 4 of 4)" in post.params["text"]
        assert "Refusing to post &lt;from&gt; stale data" in str(post.params["blocks"])  # escaped by the bot
    finally:
        fake.stop()


def test_alert_callback_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    """No Slack token: the alert cannot be sent; the callback logs it and returns (the task's error stays)."""
    with caplog.at_level(logging.ERROR, logger="finefin.alerts"):
        alerts.on_task_failure({"ti": FakeTI(), "exception": RuntimeError("boom")})
    assert "could not post the failure alert" in caplog.text
    assert "SLACK_BOT_TOKEN is not set" in caplog.text
