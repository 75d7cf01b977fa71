"""The `finefin` command line. Commands are thin: they read settings, call the packages, and print results."""

from __future__ import annotations

import logging
import sys
import warnings
from datetime import UTC, date, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

import typer

from bot.cli import ask, bot_app
from finefin.config import get_settings
from finefin.demo import DEMO_CUSTOMERS, DEMO_MONTHS, DEMO_SEED
from finefin.errors import FinefinError
from finefin.text import make_console


def one_line_error(exc: BaseException) -> str | None:
    """The one line for an error raised outside a command's own handler (settings read before its `try`): a finefin
    error's message, or an invalid setting's name and reason; None for anything else (a bug: keep its traceback)."""
    from pydantic import ValidationError

    if isinstance(exc, FinefinError):
        return str(exc)
    if isinstance(exc, ValidationError):
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": str(exc)}
        where = ".".join(str(part) for part in first["loc"]) or exc.title
        return f"invalid setting {where.upper()} ({exc.title}): {first['msg']}"
    return None


class _OneLineErrors(typer.Typer):
    """The app: an error that escapes a command is one line on stderr and exit status 1, never a traceback."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:
            message = one_line_error(exc)
            if message is None:
                raise
            console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
            sys.exit(1)


# Plain click help (rich_markup_mode=None): Typer's rich help labels every flag `<bool>`, as if it took a value.
app = _OneLineErrors(help="FineFinance data platform: PostgreSQL -> warehouse -> dbt + MetricFlow -> Slack.",
                  no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None)
source_app = typer.Typer(help="The operational PostgreSQL. Embedded unless FINEFIN_SOURCE_URL is set.",
                         no_args_is_help=True, rich_markup_mode=None)
app.add_typer(source_app, name="source")
app.add_typer(bot_app, name="bot")
audit_app = typer.Typer(help="The bot's audit log (the state database, FINEFIN_STATE_URL): one row per request.",
                        rich_markup_mode=None)
app.add_typer(audit_app, name="audit")
# words that look like options (`balance -5`) belong to the bot's command, which answers them
app.command("ask", context_settings={"ignore_unknown_options": True})(ask)

console = make_console(stderr=True)


# platformdirs (via dlt/dbt) warns on machines without XDG_RUNTIME_DIR (containers, CI); it changes nothing for us.
warnings.filterwarnings("ignore", message=r".*XDG_RUNTIME_DIR is not set.*")


def fail(message: str) -> typer.Exit:
    """Print one clear error line and return the exit to raise (status 1)."""
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=1)


def package_version() -> str:
    try:
        return version("finefin")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _print_version(value: bool) -> None:
    if value:
        print(f"finefin {package_version()}")
        raise typer.Exit()


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details.")] = False,
    show_version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                               help="Print the version and exit.")] = False,
) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@source_app.command("init")
def source_init() -> None:
    """Create the operational tables if missing."""
    from ingestion.source import apply_schema, redact, source_dsn

    try:
        dsn = source_dsn(get_settings())
        apply_schema(dsn)
    except FinefinError as exc:
        raise fail(str(exc)) from None
    console.print(f"schema ready on {redact(dsn)}")


@source_app.command("generate")
def source_generate(
    customers: Annotated[int, typer.Option(min=1, help="Customers at the end of the history.")] = 5000,
    months: Annotated[int, typer.Option(min=1, max=120, help="Months of history.")] = 12,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same data.")] = 42,
    end_date: Annotated[str | None, typer.Option(help="Last day of history, YYYY-MM-DD (default: today).")] = None,
    replace: Annotated[bool, typer.Option(help="Empty the source tables first.")] = False,
) -> None:
    """Fill the source with realistic synthetic data (bulk COPY)."""
    from ingestion.generator import generate
    from ingestion.source import apply_schema, source_dsn

    try:
        now = datetime.now(UTC)  # rows are written now: none may be updated or booked after this moment
        end = date.fromisoformat(end_date) if end_date else now.date()
    except ValueError:
        raise fail(f"--end-date must be YYYY-MM-DD, got {end_date!r}") from None
    try:
        dsn = source_dsn(get_settings())
        apply_schema(dsn)
        summary = generate(dsn, customers=customers, months=months, seed=seed, end_date=end, replace=replace,
                           now=now)
    except FinefinError as exc:
        raise fail(str(exc)) from None
    console.print(summary)


@source_app.command("simulate-day")
def source_simulate_day(
    days: Annotated[int, typer.Option(min=1, max=366, help="Days of new activity to add.")] = 1,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
) -> None:
    """Add new days of activity after the last one: new rows and updated rows."""
    from ingestion.generator import simulate_days
    from ingestion.source import source_dsn

    try:
        summary = simulate_days(source_dsn(get_settings()), days=days, seed=seed)
    except FinefinError as exc:
        raise fail(str(exc)) from None
    console.print(summary)


@app.command("ingest")
def ingest() -> None:
    """Copy the source into the warehouse's raw schema, incrementally. Merge on primary keys, updated_at cursor."""
    from finefin.refresh import refresh_lock
    from ingestion.pipeline import SourceTimeouts, run_ingest
    from ingestion.source import source_dsn

    try:
        settings = get_settings()
        with refresh_lock(settings):
            report = run_ingest(source_dsn(settings), settings.warehouse_path, settings.data_path,
                                lag_seconds=settings.ingest_lag_seconds,
                                timeouts=SourceTimeouts.from_settings(settings))
    except FinefinError as exc:
        raise fail(str(exc)) from None
    console.print(report)


@app.command("transform")
def transform(
    full_refresh: Annotated[bool, typer.Option(help="Rebuild incremental models from scratch.")] = False,
    select: Annotated[str | None, typer.Option(
        help="dbt node selection, e.g. 'fct_transactions+' (a model and what depends on it).")] = None,
) -> None:
    """Run `dbt build` (models + tests) on the configured target."""
    from finefin.refresh import refresh_lock
    from finefin.transform import run_dbt_build

    try:
        settings = get_settings()
        with refresh_lock(settings):
            result = run_dbt_build(settings, full_refresh=full_refresh, select=select)
    except FinefinError as exc:
        raise fail(str(exc)) from None
    console.print(result)


@app.command("refresh")
def refresh(
    full_refresh: Annotated[bool, typer.Option(help="Rebuild incremental models from scratch.")] = False,
    skip_freshness: Annotated[bool, typer.Option(
        help="Skip `dbt source freshness` (replaying historical data, whose newest rows are old on purpose).")] = False,
) -> None:
    """One refresh, as the Airflow DAG runs it. Ingest (FINEFIN_INGEST_MODE) -> source freshness -> dbt build ->
    publish for readers."""
    from finefin import refresh as steps

    try:
        settings = get_settings()
        mode = steps.OrchestrationSettings.from_env().ingest_mode
        with steps.refresh_lock(settings):  # the whole refresh: a second one fails at once with who holds it
            loaded = steps.ingest(settings, mode)
            console.print(f"ingest ({mode}): {loaded}", highlight=False)
            if not skip_freshness:
                console.print(f"source freshness: {steps.check_source_freshness(settings)}", highlight=False)
            built = steps.build(settings, full_refresh=full_refresh)
            console.print(str(built).splitlines()[0], highlight=False)
            published = steps.publish(settings)
    except FinefinError as exc:
        raise fail(str(exc)) from None
    console.print(f"published: {published}", highlight=False)


@app.command("demo")
def demo(
    customers: Annotated[int, typer.Option(min=1, help="Customers to generate when the source is empty.")] = (
        DEMO_CUSTOMERS),
    months: Annotated[int, typer.Option(min=1, max=120, help="Months of history to generate.")] = DEMO_MONTHS,
    seed: Annotated[int, typer.Option(help="Random seed.")] = DEMO_SEED,
    end_date: Annotated[str | None, typer.Option(help="Last day of the generated history, YYYY-MM-DD (default: "
                                                      "today).")] = None,
) -> None:
    """Everything end to end, then the bot's answers. Runs the main job on the configured (default: embedded)
    source and warehouse, shows the bot answering the demo users and prints commands to try next."""
    from finefin.demo import run_demo

    try:
        end = date.fromisoformat(end_date) if end_date else None
    except ValueError:
        raise fail(f"--end-date must be YYYY-MM-DD, got {end_date!r}") from None
    settings = get_settings()
    try:
        summary = run_demo(settings, customers=customers, months=months, seed=seed, console=console, end_date=end)
    except FinefinError as exc:
        raise fail(str(exc)) from None
    summary.print(make_console())


def _moment(text: str | None, option: str) -> datetime | None:
    """YYYY-MM-DD (midnight UTC) or an ISO date-time (UTC unless it says otherwise)."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"{option} must be YYYY-MM-DD or an ISO date-time, got {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@audit_app.callback(invoke_without_command=True)
def audit(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="From this day (YYYY-MM-DD, UTC) or date-time; default: the "
                                                   "newest rows.")] = None,
    until: Annotated[str | None, typer.Option(help="Before this day or date-time.")] = None,
    user: Annotated[str | None, typer.Option(help="Only this Slack user ID.")] = None,
    customer: Annotated[int | None, typer.Option(help="Only requests that read this customer's data.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many rows.")] = 100,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Print the audit log: who asked what, as which role, whose data was read, the outcome and the latency.
    Oldest first; `finefin audit prune` drops what is older than FINEFIN_AUDIT_RETENTION_DAYS."""
    if ctx.invoked_subcommand is not None:
        return
    from bot.state import AuditQuery, open_state
    from bot.state.audit_report import json_lines, text_lines

    query = AuditQuery(since=_moment(since, "--since"), until=_moment(until, "--until"), user_id=user,
                       customer=customer, limit=limit, newest_first=since is None)
    try:
        store = open_state()
    except FinefinError as exc:
        raise fail(str(exc)) from None
    try:
        rows = store.audit.rows(query)
    finally:
        store.close()
    if query.newest_first:
        rows.reverse()
    for line in json_lines(rows) if json_out else text_lines(rows):
        print(line)
    if not json_out:
        console.print(f"{len(rows)} row{'s' if len(rows) != 1 else ''}", highlight=False)


@audit_app.command("prune")
def audit_prune() -> None:
    """Delete audit rows and post ledger entries older than FINEFIN_AUDIT_RETENTION_DAYS (default 400) and
    finished delivery keys older than FINEFIN_DELIVERY_KEY_DAYS (default 7)."""
    from bot.state import open_state

    try:
        store = open_state()
    except FinefinError as exc:
        raise fail(str(exc)) from None
    try:
        report = store.prune()
    finally:
        store.close()
    console.print(f"pruned: {report.audit_rows} audit rows, {report.ledger_entries} post ledger entries, "
                  f"{report.delivery_keys} delivery keys", highlight=False)


if __name__ == "__main__":
    app()
