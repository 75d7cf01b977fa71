"""The refresh and the scheduled posts as plain functions: the Airflow DAGs in `dags/` only wire them together.

Nothing here imports Airflow, so every step runs (and is tested) without it. Each step returns a small
JSON-serialisable dict (it becomes the task's XCom) and raises a `FinefinError` whose message says what went
wrong: Airflow shows it in the task log and the failure callback (`finefin.alerts`) posts it to Slack.

Order of the refresh: `ingest` (dlt or Airbyte) → `check_source_freshness` (dbt) → dbt build (cosmos, in the DAG)
→ the marts Asset → `publish` (warehouse snapshot for the bot; a new snapshot invalidates the semantic layer caches).
The posting DAGs run `freshness_gate` before `post_watchlist` / `post_digest`, so stale numbers are never posted.
"""

from __future__ import annotations

import logging
import shutil
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from finefin.config import DBT_PROJECT_DIR, Settings
from finefin.errors import ConfigurationError, FinefinError

if TYPE_CHECKING:
    import httpx

    from bot.scheduled import PostLedger
    from bot.settings import BotSettings
    from finefin.transform import BuildResult
    from semantic_layer.api import SemanticLayer

log = logging.getLogger(__name__)

MARTS_ASSET_NAME = "finefin_marts"
MARTS_ASSET_URI = "finefin://warehouse/marts"
SNAPSHOT_ASSET_NAME = "finefin_warehouse_snapshot"
SNAPSHOT_ASSET_URI = "finefin://warehouse/snapshot"


class SourceFreshnessError(FinefinError):
    """`dbt source freshness` found a raw table older than its `error_after`: building would publish old data."""


class IngestError(FinefinError):
    """The ingest step failed; the message names the mode and, for Airbyte, the job id and its status."""


class OrchestrationSettings(BaseSettings):
    """Schedules, retries and the ingest mode of the DAGs; every field reads `FINEFIN_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="FINEFIN_", extra="ignore")

    ingest_mode: Literal["dlt", "airbyte"] = Field(
        default="dlt", description="dlt: embedded PostgreSQL→DuckDB load; airbyte: trigger the Airbyte connection.")
    refresh_schedule: str | None = Field(
        default="@hourly", description="Schedule of finefin_refresh (cron or preset, UTC); 'none' = manual only.")
    timezone: str = Field(default="UTC", description="IANA time zone of the watchlist and digest crons.")
    watchlist_cron: str = Field(default="0 7 * * *", description="When the advisors' watchlist is posted (local).")
    watchlist_trigger: Literal["cron", "asset"] = Field(
        default="cron", description="cron: at FINEFIN_WATCHLIST_CRON; asset: after each published warehouse snapshot.")
    digest_cron: str = Field(default="0 8 1 * *", description="When the directors' digest is posted (local).")
    task_retries: int = Field(default=3, ge=0, description="Retries of every task.")
    retry_delay_seconds: float = Field(default=60.0, gt=0, description="First retry delay; doubles on each retry.")
    max_retry_delay_seconds: float = Field(default=1800.0, gt=0, description="Upper bound of the retry delay.")

    @field_validator("refresh_schedule", mode="before")
    @classmethod
    def _none_is_manual(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in {"", "none", "manual"}:
            return None
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (expected an IANA name such as Europe/Paris)") from None
        return value

    @classmethod
    def from_env(cls) -> OrchestrationSettings:
        """Read the environment; a bad value becomes a ConfigurationError naming the variable."""
        try:
            return cls()
        except ValidationError as exc:
            first = exc.errors()[0]
            name = str(first["loc"][0]) if first["loc"] else "?"
            raise ConfigurationError(f"FINEFIN_{name.upper()}: {first['msg']}") from exc

    @property
    def retry_delay(self) -> timedelta:
        return timedelta(seconds=self.retry_delay_seconds)

    @property
    def max_retry_delay(self) -> timedelta:
        return timedelta(seconds=self.max_retry_delay_seconds)


def default_args(orchestration: OrchestrationSettings) -> dict[str, Any]:
    """`default_args` of every finefin DAG: retries with exponential back-off and the Slack failure alert."""
    from finefin.alerts import on_task_failure

    return {
        "owner": "finefin-data",
        "retries": orchestration.task_retries,
        "retry_delay": orchestration.retry_delay,
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": orchestration.max_retry_delay,
        "on_failure_callback": on_task_failure,
    }


def dbt_executable() -> str:
    """The `dbt` next to this Python (a virtualenv's bin/ is often not on an Airflow worker's PATH)."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def dbt_env(settings: Settings) -> dict[str, str]:
    """The variables dbt reads, for cosmos (rendering and execution): the profile's, and the daily test window once
    the warehouse is built (as `build` does; read when the DAG is parsed)."""
    env = {"FINEFIN_WAREHOUSE": str(settings.warehouse_path), "FINEFIN_TARGET": settings.target}
    if warehouse_is_built(settings):
        env["FINEFIN_DATA_TEST_WINDOW_DAYS"] = str(daily_test_window_days())
    return env


# ----------------------------------------------------------------------------------------------------- the refresh


def ingest(settings: Settings, mode: str, *, airbyte_http: httpx.Client | None = None) -> dict[str, Any]:
    """Load the operational data into the warehouse's `raw` schema, by dlt (embedded) or an Airbyte sync.

    `airbyte_http` replaces the HTTP client of the Airbyte SDK (tests pass one with an `httpx.MockTransport`).
    """
    if mode == "dlt":
        from ingestion.pipeline import run_ingest
        from ingestion.source import source_dsn

        report = run_ingest(source_dsn(settings), settings.warehouse_path, settings.data_path,
                            lag_seconds=settings.ingest_lag_seconds)
        log.info("%s", report)
        return {"mode": "dlt", "run_id": report.run_id, "rows_loaded": report.rows_loaded,
                "tables": {t.table: t.rows_loaded for t in report.tables}}
    if mode == "airbyte":
        from ingestion.airbyte import AirbyteSettings, AirbyteSyncClient, AirbyteSyncError
        from ingestion.airbyte_load_log import record_sync

        airbyte = AirbyteSettings.from_env()
        started = datetime.now(UTC)
        with AirbyteSyncClient(airbyte, http_client=airbyte_http) as client:
            try:
                result = client.run_sync()
            except AirbyteSyncError as exc:
                record_sync(settings, exc.result, started, connection_id=str(airbyte.connection_id), error=str(exc))
                raise IngestError(
                    f"Airbyte sync failed: job {exc.job_id} status {exc.result.airbyte_status}: {exc}") from exc
        # freshness (bot, posting DAGs) reads ops.ingest_runs: record the sync there as the dlt pipeline does
        record_sync(settings, result, started, connection_id=str(airbyte.connection_id))
        log.info("Airbyte job %s succeeded: %s rows", result.job_id, result.rows_synced)
        return {"mode": "airbyte", "job_id": result.job_id, "status": result.airbyte_status,
                "rows_synced": result.rows_synced}
    raise ConfigurationError(f"FINEFIN_INGEST_MODE must be dlt or airbyte, got {mode!r}")


def check_source_freshness(settings: Settings, *, target_path: Path | None = None) -> dict[str, str]:
    """`dbt source freshness`: raise SourceFreshnessError when a raw table is past `error_after`; log warnings.

    Returns source → status (pass / warn).
    """
    from finefin.transform import run_dbt

    result = run_dbt(["source", "freshness"], settings, target_path=target_path or refresh_target(settings))
    statuses: dict[str, str] = {}
    problems: list[str] = []
    for item in getattr(result.result, "results", None) or []:
        name = item.node.unique_id.removeprefix("source.finefin.")
        status = str(item.status)
        statuses[name] = status
        age = getattr(item, "age", None)
        detail = f"{name}: {status}" + (f" (newest row {timedelta(seconds=int(age))} old)" if age is not None else "")
        if status == "warn":
            log.warning("source freshness %s", detail)
        elif status != "pass":
            problems.append(detail + (f": {item.message}" if getattr(item, "message", None) else ""))
    if problems or not result.success:
        raise SourceFreshnessError("dbt source freshness failed: " + ("; ".join(problems) or "see the task log"))
    log.info("source freshness: %s", statuses)
    return statuses


def publish(settings: Settings, *, target_path: Path | None = None) -> dict[str, Any]:
    """Publish the built DuckDB warehouse as a read-only snapshot (readers drop their caches on the new load id).

    The semantic manifest is parsed here into the refresh's own target folder, so the snapshot carries the
    manifest of the models just built, whatever another dbt run left in `dbt/target`. On Snowflake readers query
    the live tables: nothing to publish.
    """
    if settings.target != "duckdb":
        log.info("target %s: readers query the warehouse directly, no snapshot to publish", settings.target)
        return {"published": False, "target": settings.target}
    from finefin.transform import release_duckdb, run_dbt
    from semantic_layer.publish import publish_warehouse, semantic_manifest_path

    target_path = target_path or refresh_target(settings)
    release_duckdb()  # cosmos may have run dbt in this process: close its handle before the checkpoint
    result = run_dbt(["parse"], settings, target_path=target_path)
    if not result.success:
        raise FinefinError("dbt parse failed: cannot write the semantic manifest to publish with the warehouse")
    snapshot = publish_warehouse(settings, semantic_manifest_path(target_path))
    log.info("published snapshot %s (%s)", snapshot.load_id, snapshot.warehouse)
    return {"published": True, "load_id": snapshot.load_id, "warehouse": str(snapshot.warehouse)}


def daily_test_window_days() -> int:
    """The days a daily incremental build rewrites, so the days its data tests check: dbt var `lookback_days`."""
    import yaml

    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    return int(project["vars"]["lookback_days"])


def warehouse_is_built(settings: Settings) -> bool:
    """True when the DuckDB warehouse already holds the marts (so this build is incremental). On Snowflake the
    tables are assumed to exist: a first Snowflake build should be run with --full-refresh."""
    if settings.target != "duckdb":
        return True
    path = settings.warehouse_path
    if not path.exists():
        return False
    import duckdb

    from finefin.transform import release_duckdb

    release_duckdb()
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            found = con.execute(
                "select count(*) from information_schema.tables where table_name = 'fct_account_balances_daily'"
            ).fetchone()
    except duckdb.Error:
        return False
    return bool(found and found[0])


def build(settings: Settings, *, full_refresh: bool = False, target_path: Path | None = None,
          progress: bool = True) -> BuildResult:
    """The refresh's `dbt build`. A daily (incremental) build tests only what it rewrote: data tests on the large
    incremental facts and the transactions source check the days it rewrote (dbt var lookback_days), unit tests (model
    logic on fixed inputs, run by `make test`) are left out, and so are dbt's debug log and JSON artifacts.
    A first build or a --full-refresh runs every test on every row."""
    from finefin.transform import run_dbt_build

    daily = not full_refresh and warehouse_is_built(settings)
    return run_dbt_build(
        settings, full_refresh=full_refresh, target_path=target_path or refresh_target(settings), progress=progress,
        data_test_window_days=daily_test_window_days() if daily else None, unit_tests=not daily,
        debug_artifacts=not daily,
    )


def refresh_target(settings: Settings) -> Path:
    """dbt artifacts of the scheduled refresh, apart from `dbt/target` (the CLI's and developers')."""
    return settings.data_path / "dbt-target" / settings.target


# ------------------------------------------------------------------------------------------------ scheduled posts


def semantic_layer() -> SemanticLayer:
    """The process's semantic layer (`semantic_layer.get_semantic_layer()`)."""
    try:
        from semantic_layer import get_semantic_layer  # type: ignore[attr-defined]
    except ImportError:
        raise ConfigurationError("semantic_layer.get_semantic_layer() is not available in this install") from None
    return get_semantic_layer()  # type: ignore[no-any-return]


def bot_settings() -> BotSettings:
    """Read fresh each call (not the cached one): a long-lived worker picks up changed variables."""
    from bot.settings import BotSettings

    return BotSettings()


def freshness_gate(sl: SemanticLayer | None = None, settings: BotSettings | None = None) -> dict[str, Any]:
    """Raise `bot.scheduled.StaleDataError` (with the age and the SLA) when the warehouse is too old to post from."""
    from bot.scheduled import checked_freshness

    fresh = checked_freshness(sl or semantic_layer(), settings or bot_settings())
    log.info("warehouse fresh: last load %s (SLA %s)", fresh.last_load_at, fresh.sla)
    return {"last_load_at": fresh.last_load_at.isoformat() if fresh.last_load_at else None,
            "age_seconds": fresh.age.total_seconds() if fresh.age else None}


def post_ledger() -> PostLedger:
    """Posts already made (the state database's post ledger, as `finefin bot post-…`): a retried task, or the same
    post run on two workers, never posts twice."""
    from bot.scheduled import open_post_ledger

    return open_post_ledger()


def post_watchlist(run_date: date | None = None, sl: SemanticLayer | None = None,
                   settings: BotSettings | None = None) -> list[str]:
    """Post the advisors' watchlist of `run_date` (default today); raises PostFailedError if a post failed.

    Returns what was posted (or skipped, already posted by an earlier try).
    """
    from bot.app import make_client
    from bot.scheduled import post_advisor_watchlist

    settings = settings or bot_settings()
    report = post_advisor_watchlist(sl or semantic_layer(), make_client(settings), settings,
                                    ledger=post_ledger(), run_date=run_date)
    return report.posted + [f"{what} (already posted)" for what in report.skipped]


def post_digest(sl: SemanticLayer | None = None, settings: BotSettings | None = None) -> list[str]:
    """Post the directors' digest of the last complete month; raises PostFailedError if the post failed."""
    from bot.app import make_client
    from bot.scheduled import post_director_digest

    settings = settings or bot_settings()
    report = post_director_digest(sl or semantic_layer(), make_client(settings), settings, ledger=post_ledger())
    return report.posted + [f"{what} (already posted)" for what in report.skipped]


def local_date(moment: datetime | None, timezone: str) -> date | None:
    """The calendar day of an Airflow logical date in the posting time zone (None stays None)."""
    return None if moment is None else moment.astimezone(ZoneInfo(timezone)).date()
