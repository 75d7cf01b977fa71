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
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from finefin import refresh_lock as lock
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
    task_timeout_seconds: float = Field(
        default=3600.0, gt=0, description="execution_timeout of every task: a hung step fails (and alerts).")

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

    @property
    def task_with_retries(self) -> timedelta:
        """The longest one task may take with all its tries and the delays between them (a status task waits that
        long for dbt_build's last word)."""
        return (timedelta(seconds=self.task_timeout_seconds) * (self.task_retries + 1)
                + self.max_retry_delay * self.task_retries)


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
        "execution_timeout": timedelta(seconds=orchestration.task_timeout_seconds),
    }


def dbt_executable() -> str:
    """The `dbt` next to this Python (a virtualenv's bin/ is often not on an Airflow worker's PATH)."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def dbt_env(settings: Settings) -> dict[str, str]:
    """The variables dbt reads, for cosmos (rendering and execution): the profile's. Nothing here depends on the
    warehouse: parsing the DAG never opens it. The daily test window is decided per run by `plan_build` and applied
    in each dbt task by `dbt_task_pre_execute`."""
    return {"FINEFIN_WAREHOUSE": str(settings.warehouse_path), "FINEFIN_TARGET": settings.target}


# ------------------------------------------------------------------------------------------- one refresh at a time


@contextmanager
def refresh_lock(settings: Settings) -> Iterator[None]:
    """Hold the data dir's refresh lock (`finefin.refresh_lock`); waits FINEFIN_REFRESH_LOCK_WAIT_S at most."""
    with lock.refresh_lock(settings.data_path, settings.refresh_lock_wait_s):
        yield


PLAN_TASK_ID = "plan_build"
BUILD_TASK_ID = "dbt_build"
WINDOW_ENV = "FINEFIN_DATA_TEST_WINDOW_DAYS"


def plan_build(settings: Settings) -> dict[str, Any]:
    """Decide, at run time and once per run, whether this build is a first (full) build or a daily one: a daily
    build's data tests check only the days it rewrote. Every dbt task of the run applies the same plan, so a first
    build never switches to windowed tests part way through."""
    with refresh_lock(settings):
        daily = warehouse_is_built(settings)
    window = daily_test_window_days() if daily else None
    log.info("dbt build plan: %s", f"daily, data tests on the last {window} days" if daily else "full, every row")
    return {"daily": daily, "data_test_window_days": window}


def apply_build_plan(plan: Mapping[str, Any] | None) -> None:
    """Set the dbt test window of this process from a `plan_build` result (cosmos runs dbt with our environment).
    No plan (a task run alone) means every test on every row."""
    window = (plan or {}).get("data_test_window_days")
    os.environ[WINDOW_ENV] = "" if window is None else str(int(window))


def dbt_task_pre_execute(context: Mapping[str, Any]) -> None:
    """`pre_execute` of every cosmos dbt task: take the refresh lock (the kernel drops it when the task process
    ends; `dbt_task_post_execute` releases it earlier) and apply the run's build plan."""
    settings = _fresh_settings()
    lock.acquire(settings.data_path, settings.refresh_lock_wait_s)
    ti = context.get("ti")
    plan = ti.xcom_pull(task_ids=PLAN_TASK_ID) if ti is not None else None
    apply_build_plan(plan if isinstance(plan, Mapping) else None)


def dbt_task_post_execute(context: Mapping[str, Any], result: Any = None) -> None:
    """`post_execute` of every cosmos dbt task: release the refresh lock."""
    lock.release(_fresh_settings().data_path)


def _fresh_settings() -> Settings:
    from finefin.config import load_settings

    return load_settings(Settings)


# ----------------------------------------------------------------------------------------------------- the refresh


def ingest(settings: Settings, mode: str, *, airbyte_http: httpx.Client | None = None) -> dict[str, Any]:
    """Load the operational data into the warehouse's `raw` schema, by dlt (embedded) or an Airbyte sync.

    `airbyte_http` replaces the HTTP client of the Airbyte SDK (tests pass one with an `httpx.MockTransport`).
    """
    with refresh_lock(settings):
        return _ingest(settings, mode, airbyte_http=airbyte_http)


def _ingest(settings: Settings, mode: str, *, airbyte_http: httpx.Client | None = None) -> dict[str, Any]:
    if mode == "dlt":
        from ingestion.pipeline import SourceTimeouts, run_ingest
        from ingestion.source import source_dsn

        report = run_ingest(source_dsn(settings), settings.warehouse_path, settings.data_path,
                            lag_seconds=settings.ingest_lag_seconds, timeouts=SourceTimeouts.from_settings(settings))
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


@dataclass
class Freshness:
    """What `dbt source freshness` said: status per source, the details of the failing ones, and each result as
    (unique id, status, detail, seconds) for the status tasks."""

    statuses: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    results: list[tuple[str, str, str, float]] = field(default_factory=list)
    success: bool = True

    def raise_for_problems(self) -> None:
        if self.problems or not self.success:
            raise SourceFreshnessError("dbt source freshness failed: " + ("; ".join(self.problems)
                                                                          or "see the task log"))


def source_freshness(settings: Settings, *, target_path: Path | None = None) -> Freshness:
    """`dbt source freshness`, read: warnings logged, failures listed (not raised)."""
    from finefin.transform import run_dbt

    with refresh_lock(settings):  # it opens the warehouse a concurrent refresh may be writing
        result = run_dbt(["source", "freshness"], settings, target_path=target_path or refresh_target(settings))
    found = Freshness(success=bool(result.success))
    for item in getattr(result.result, "results", None) or []:
        name = item.node.unique_id.removeprefix("source.finefin.")
        status = str(item.status)
        found.statuses[name] = status
        age = getattr(item, "age", None)
        aged = f"newest row {timedelta(seconds=int(age))} old" if age is not None else ""
        detail = f"{name}: {status}" + (f" ({aged})" if aged else "")
        message = getattr(item, "message", None)
        if status == "warn":
            log.warning("source freshness %s", detail)
        elif status != "pass":
            found.problems.append(detail + (f": {message}" if message else ""))
        found.results.append((item.node.unique_id, status, aged if status in {"pass", "warn"} else str(message or aged),
                              float(getattr(item, "execution_time", 0.0) or 0.0)))
    return found


def check_source_freshness(settings: Settings, *, target_path: Path | None = None) -> dict[str, str]:
    """`dbt source freshness`: raise SourceFreshnessError when a raw table is past `error_after`; log warnings.

    Returns source → status (pass / warn).
    """
    found = source_freshness(settings, target_path=target_path)
    found.raise_for_problems()
    log.info("source freshness: %s", found.statuses)
    return found.statuses


def publish(settings: Settings, *, target_path: Path | None = None, parse: bool = True) -> dict[str, Any]:
    """Publish the built DuckDB warehouse as a read-only snapshot (readers drop their caches on the new load id).

    The semantic manifest is parsed here into the refresh's own target folder, so the snapshot carries the
    manifest of the models just built, whatever another dbt run left in `dbt/target`; `parse=False` publishes the
    one `build_and_report` parsed there after its build (no dbt in this process). On Snowflake readers query the
    live tables: nothing to publish.
    """
    if settings.target != "duckdb":
        log.info("target %s: readers query the warehouse directly, no snapshot to publish", settings.target)
        return {"published": False, "target": settings.target}
    from semantic_layer.publish import publish_warehouse, semantic_manifest_path

    target_path = target_path or refresh_target(settings)
    with refresh_lock(settings):
        if parse:
            _parse_semantic_manifest(settings, target_path)
        elif not semantic_manifest_path(target_path).is_file():
            raise FinefinError(f"no semantic manifest in {target_path}: the dbt build task writes it; re-run it")
        snapshot = publish_warehouse(settings, semantic_manifest_path(target_path))
    log.info("published snapshot %s (%s)", snapshot.load_id, snapshot.warehouse)
    return {"published": True, "load_id": snapshot.load_id, "warehouse": str(snapshot.warehouse)}


def _parse_semantic_manifest(settings: Settings, target_path: Path) -> None:
    from finefin.transform import release_duckdb, run_dbt

    release_duckdb()  # cosmos may have run dbt in this process: close its handle before the checkpoint
    result = run_dbt(["parse"], settings, target_path=target_path)
    if not result.success:
        raise FinefinError("dbt parse failed: cannot write the semantic manifest to publish with the warehouse")


def build_and_report(settings: Settings, report: Callable[[dict[str, Any]], None], *, last_try: bool) -> dict[str, Any]:
    """finefin_refresh's one dbt task (FINEFIN_DBT_TASKS=build), in one process as `finefin refresh` runs it:
    `dbt source freshness` (stops on a stale source), the `dbt build` (full or daily, decided now), then the
    semantic manifest for `publish(parse=False)`. Every node's result is handed to `report` (the status tasks'
    XCom, `finefin.dbt_status.report`) before this returns or raises; `last_try` says whether a failure is final."""
    from finefin.dbt_status import report as status_report
    from finefin.transform import DbtError

    with refresh_lock(settings):
        target_path = refresh_target(settings)
        freshness = source_freshness(settings, target_path=target_path)

        def report_nodes(nodes: list[Any], *, final: bool, error: str | None = None) -> None:
            results = [*freshness.results, *((n.unique_id, n.status, n.message, n.seconds) for n in nodes)]
            report(status_report(results, final=final, error=error))

        try:
            freshness.raise_for_problems()
            built = build(settings, target_path=target_path, progress=False)
        except FinefinError as exc:
            nodes = exc.build.nodes if isinstance(exc, DbtError) and exc.build is not None else []
            report_nodes(nodes, final=last_try, error=str(exc).splitlines()[0])
            raise
        report_nodes(built.nodes, final=True)
        _parse_semantic_manifest(settings, target_path)
    log.info("%s", built)
    return {"build": str(built).splitlines()[0], "freshness": freshness.statuses}


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

    with refresh_lock(settings):
        daily = not full_refresh and warehouse_is_built(settings)
        return run_dbt_build(
            settings, full_refresh=full_refresh, target_path=target_path or refresh_target(settings),
            progress=progress, data_test_window_days=daily_test_window_days() if daily else None,
            unit_tests=not daily, debug_artifacts=not daily,
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
    from finefin.config import load_settings

    return load_settings(BotSettings)


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
