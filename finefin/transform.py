"""Run the dbt project (`dbt/`) in-process through `dbtRunner`, with progress and one-line errors.

The profile (`dbt/profiles.yml`) reads the DuckDB file from `FINEFIN_WAREHOUSE` and the default target from
`FINEFIN_TARGET`; this module sets both from `Settings` for the duration of each call. Each target writes its
artifacts to its own target path (`dbt/target` for DuckDB, `dbt/target_snowflake` for Snowflake) so manifests and
partial-parse state never mix.

dbt-duckdb keeps the warehouse open in a class-level handle after a run; `run_dbt` closes it afterwards so the
file is not locked against other processes (or other connections of this one).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from finefin.config import DBT_PROJECT_DIR, Settings, default_target_path
from finefin.errors import FinefinError
from finefin.text import plural

log = logging.getLogger(__name__)

FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})


class DbtError(FinefinError):
    """dbt could not run, or some nodes failed; the message names each failed node on its own line. A build that
    ran carries its node results (`build`)."""

    build: BuildResult | None = None


@dataclass(frozen=True)
class NodeResult:
    unique_id: str
    resource_type: str
    name: str
    status: str
    message: str
    seconds: float


@dataclass
class BuildResult:
    target: str
    target_path: Path
    seconds: float
    nodes: list[NodeResult] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for node in self.nodes:
            counts[node.status] = counts.get(node.status, 0) + 1
        return counts

    @property
    def failed(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.status in FAILED_STATUSES]

    @property
    def manifest_path(self) -> Path:
        return self.target_path / "manifest.json"

    @property
    def semantic_manifest_path(self) -> Path:
        return self.target_path / "semantic_manifest.json"

    def __str__(self) -> str:
        counts = ", ".join(f"{status} {n}" for status, n in sorted(self.counts.items()))
        return f"dbt build on {self.target}: {plural(len(self.nodes), 'node')} in {self.seconds:.1f} s ({counts})"

    def __rich__(self) -> str:
        """The one-line summary (rich would otherwise pretty-print every node of the dataclass)."""
        return str(self)


@contextmanager
def _dbt_environment(settings: Settings | None, target: str, extra: Mapping[str, str] | None = None) -> Iterator[None]:
    """Set the variables the profile (and macros) read; restore the previous values afterwards."""
    wanted = {"FINEFIN_TARGET": target, **(extra or {})}
    if settings is not None:
        wanted["FINEFIN_WAREHOUSE"] = str(settings.warehouse_path)
    elif "FINEFIN_WAREHOUSE" not in os.environ:
        wanted["FINEFIN_WAREHOUSE"] = "unused.duckdb"  # the profile needs a value even when DuckDB is not used
    previous = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def release_duckdb() -> None:
    """Close the DuckDB database dbt-duckdb keeps open in-process (class-level `_ENV`), releasing the file lock."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # dbt-duckdb not installed: nothing to release
        return
    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        if env is not None:
            try:
                env.close()
            except Exception as exc:  # closing is best effort; the next open recreates the environment
                log.debug("closing the dbt-duckdb environment failed: %s", exc)
            DuckDBConnectionManager._ENV = None


def _first_line(text: object, limit: int = 300) -> str:
    """A multi-line dbt message squeezed onto one line (dbt puts the useful part on the second or third line)."""
    squeezed = " ".join(line.strip() for line in str(text or "").splitlines() if line.strip())
    return squeezed if len(squeezed) <= limit else squeezed[: limit - 1] + "…"


def run_dbt(
    args: Sequence[str],
    settings: Settings | None = None,
    *,
    target: str | None = None,
    target_path: Path | None = None,
    callbacks: Sequence[Any] = (),
    env: Mapping[str, str] | None = None,
) -> Any:
    """Invoke one dbt command in-process (`["parse"]`, `["compile", "--no-populate-cache"]`, `["source",
    "freshness"]`, ...) against `dbt/`, and return the `dbtRunnerResult`.

    Raises DbtError when dbt itself could not run (bad project, profile, connection); node failures are left to the
    caller (`result.success` is False).
    """
    from dbt.cli.main import dbtRunner

    target = target or (settings.target if settings is not None else "duckdb")
    target_path = target_path or default_target_path(target)
    command = [
        *args,
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target", target,
        "--target-path", str(target_path),
        "--log-path", str(target_path / "logs"),
        "--quiet",
    ]
    log.info("dbt %s", " ".join(command))
    with _dbt_environment(settings, target, env):
        try:
            result = dbtRunner(callbacks=list(callbacks)).invoke(command)
        finally:
            release_duckdb()
    if result.exception is not None:
        locked = lock_conflict(str(result.exception))
        if locked:
            raise DbtError(f"dbt {args[0] if args else ''} could not run: {locked}")
        raise DbtError(f"dbt {args[0] if args else ''} could not run: {_first_line(result.exception)}")
    return result


_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>\S+) \(PID (?P<pid>\d+)\)")


def lock_conflict(message: str) -> str | None:
    """DuckDB's "Could not set lock on file … Conflicting lock is held in … (PID n)" as one short sentence (None
    for any other message)."""
    if "Could not set lock" not in message and "Conflicting lock" not in message:
        return None
    holder = _LOCK_HOLDER.search(message)
    who = f" by {Path(holder['program']).name} (pid {holder['pid']})" if holder else ""
    return f"the warehouse is locked{who}: another refresh, dbt run or ingest holds it; retry when it has finished"


def run_dbt_build(
    settings: Settings,
    full_refresh: bool = False,
    select: str | None = None,
    target: str | None = None,
    *,
    target_path: Path | None = None,
    progress: bool = True,
    data_test_window_days: int | None = None,
    unit_tests: bool = True,
    debug_artifacts: bool = True,
    extra_args: Sequence[str] = (),
) -> BuildResult:
    """`dbt build` (models, snapshots, unit and data tests) on the target; raises DbtError naming failed nodes.

    Daily incremental runs (`finefin refresh`) pass `data_test_window_days`: generic tests on the large incremental
    models and the transactions source check only the rows of their last N days, the rows such a run rewrites (see
    dbt/macros/get_where_subquery.sql; passed as FINEFIN_DATA_TEST_WINDOW_DAYS so dbt's partial parse stays valid);
    and `unit_tests=False`: unit tests check model logic on fixed inputs, so they run with `make test` and on full
    builds, not again on every data refresh (dbt's advice for production). Default: every test, every row.
    `debug_artifacts=False` (daily runs) skips dbt's debug file log and JSON artifacts (manifest.json, run_results.json:
    results come back in the BuildResult, `publish` re-parses for the semantic manifest): ~0.3 s of a 2 s floor.
    """
    target = target or settings.target
    target_path = target_path or default_target_path(target)
    args = ["build"]
    if full_refresh:
        args.append("--full-refresh")
    if select:
        args += ["--select", select]
    env: dict[str, str] = {}
    if data_test_window_days is not None:
        env["FINEFIN_DATA_TEST_WINDOW_DAYS"] = str(int(data_test_window_days))
    if not unit_tests:
        args += ["--exclude-resource-type", "unit_test"]
    if not debug_artifacts:
        args += ["--log-level-file", "info", "--no-write-json"]
    args += list(extra_args)

    console = Console(stderr=True)
    bar = Progress(
        TextColumn("[bold]dbt build[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
        TimeElapsedColumn(), console=console, transient=True, disable=not progress,
    )
    task = bar.add_task("", total=None)

    def on_event(event: Any) -> None:
        name = event.info.name
        if name == "LogStartLine":
            bar.update(task, total=event.data.total, description=event.data.description[:60])
        elif name in {"LogModelResult", "LogTestResult", "LogSnapshotResult", "LogSeedResult", "LogNodeResult"}:
            bar.advance(task)

    start = time.perf_counter()
    with bar:
        result = run_dbt(args, settings, target=target, target_path=target_path, callbacks=[on_event], env=env)
    build = BuildResult(target=target, target_path=target_path, seconds=time.perf_counter() - start)
    run_results = getattr(result.result, "results", None) or []
    for item in run_results:
        node = item.node
        build.nodes.append(
            NodeResult(
                unique_id=node.unique_id,
                resource_type=str(node.resource_type),
                name=node.name,
                status=str(item.status),
                message=_first_line(item.message),
                seconds=float(item.execution_time or 0.0),
            )
        )
    if not result.success:
        failed = build.failed
        skipped = build.counts.get("skipped", 0)
        locked = next((lock_conflict(n.message) for n in failed if lock_conflict(n.message)), None)
        if locked:  # one line, not one per node (each repeats DuckDB's multi-line lock message)
            error = DbtError(f"dbt build on {target} failed: {locked} ({plural(len(failed), 'node')} failed, "
                             f"{skipped} skipped)")
        else:
            lines = [f"dbt build on {target} failed: {plural(len(failed), 'node')} failed, {skipped} skipped"]
            lines += [f"  {n.resource_type} {n.name}: {n.status}: {n.message}" for n in failed]
            error = DbtError("\n".join(lines))
        error.build = build
        raise error
    return build
