"""`finefin ask` (console mode) and `finefin bot …` (run the bot, scheduled posts, demo). Imports stay lazy so
the CLI loads fast and works before the semantic layer implementation lands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from finefin.errors import FinefinError

bot_app = typer.Typer(
    help="The Slack bot: run it, scheduled posts, demo. Socket Mode or HTTP; console demo without Slack.",
    no_args_is_help=True, rich_markup_mode=None,
)
_err = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    _err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code=1)


def _semantic_layer() -> Any:
    try:
        from semantic_layer import get_semantic_layer  # type: ignore[attr-defined]
    except ImportError:
        raise _fail("semantic_layer.get_semantic_layer() is not available yet.") from None
    try:
        return get_semantic_layer()
    except FinefinError as exc:
        raise _fail(str(exc)) from None


def _ledger(force: bool) -> Any:
    """Posts already made (the post ledger in the state database), so a retried DAG task never posts twice."""
    from bot.scheduled import open_post_ledger

    return None if force else open_post_ledger()


def _month(text: str | None) -> Any:
    if text is None:
        return None
    from semantic_layer.inputs import Month

    try:
        return Month.parse(text)
    except FinefinError as exc:
        raise _fail(str(exc)) from None


def ask(
    words: Annotated[list[str] | None, typer.Argument(
        help="The command as typed after /finefin, e.g. balance; none: the bot's help.", show_default=False)] = None,
    as_user: Annotated[str, typer.Option("--as", help="Slack user ID to act as (from the user directory).")] = ...,
    json_out: Annotated[bool, typer.Option("--json", help='Print {"text", "blocks", "data"} as JSON.')] = False,
    out: Annotated[Path | None, typer.Option(help="Folder for attached files (PDF, CSV, PNG).")] = None,
) -> None:
    """Ask the bot from the terminal, without Slack. Users and emails come from the directory file
    (FINEFIN_DIRECTORY_FILE, default the one `finefin demo` writes), staff from FINEFIN_ADVISORS / FINEFIN_DIRECTORS
    and the demo's staff file. Answers go to stdout; a refusal goes to stderr with exit status 1."""
    from bot.console import console_assistant, dumps, save_files
    from bot.render import blocks_to_text
    from bot.settings import get_bot_settings
    from finefin.config import get_settings

    settings = get_bot_settings()
    sl = _semantic_layer()
    try:
        assistant = console_assistant(sl, settings)
    except FinefinError as exc:
        raise _fail(str(exc)) from None
    answer = assistant.answer(as_user, " ".join(words or []))
    print(dumps(answer) if json_out else blocks_to_text(answer.blocks), file=sys.stdout if answer.ok else sys.stderr)
    for path in save_files(answer, out or get_settings().data_path / "bot-files"):
        _err.print(f"file: {path}", highlight=False, soft_wrap=True)
    if not answer.ok:
        raise typer.Exit(code=1)


@bot_app.command("socket")
def socket_mode() -> None:
    """Run the bot over Socket Mode (the Procfile's worker). Needs SLACK_APP_TOKEN and SLACK_BOT_TOKEN."""
    from bot.logs import configure_logging
    from bot.server import run_socket_mode

    configure_logging()
    try:
        run_socket_mode(sl=_semantic_layer())
    except FinefinError as exc:
        raise _fail(str(exc)) from None


@bot_app.command("http")
def http_mode(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "0.0.0.0",
    port: Annotated[int, typer.Option(envvar="PORT", help="Port (env PORT).")] = 3000,
) -> None:
    """Serve Slack's requests over HTTP (the Procfile's web). On /slack/events under uvicorn; needs
    SLACK_SIGNING_SECRET."""
    from bot.logs import configure_logging
    from bot.server import run_http

    configure_logging()
    run_http(host, port)


FORCE = typer.Option(help="Post even if this post was already made (ignores the post ledger).")


def _post(poster: Any, month: str | None, force: bool) -> None:
    """Run one scheduled post (watchlist or digest) and print what was posted and what the ledger skipped."""
    from bot.server import web_client
    from bot.settings import get_bot_settings

    m = _month(month)
    try:
        settings = get_bot_settings()
        report = poster(_semantic_layer(), web_client(settings), settings, m, ledger=_ledger(force))
    except FinefinError as exc:
        raise _fail(str(exc)) from None
    _err.print(
        f"posted: {', '.join(report.posted) or '-'}; already posted: {', '.join(report.skipped) or '-'}",
        highlight=False,
    )


@bot_app.command("post-watchlist")
def post_watchlist(
    month: Annotated[str | None, typer.Option(help="YYYY-MM; default the latest.")] = None,
    force: Annotated[bool, FORCE] = False,
) -> None:
    """Post the daily watchlist to the advisors. To FINEFIN_ADVISOR_CHANNEL, plus DMs to advisors with assigned
    customers."""
    from bot.scheduled import post_advisor_watchlist

    _post(post_advisor_watchlist, month, force)


@bot_app.command("post-digest")
def post_digest(
    month: Annotated[str | None, typer.Option(help="YYYY-MM; default the last complete.")] = None,
    force: Annotated[bool, FORCE] = False,
) -> None:
    """Post the monthly digest to the directors. Growth, tiers, chart and definitions, to FINEFIN_DIRECTOR_CHANNEL."""
    from bot.scheduled import post_director_digest

    _post(post_director_digest, month, force)


@bot_app.command("alert")
def alert(text: Annotated[str, typer.Argument(help="The alert text.")]) -> None:
    """Post an operational alert to FINEFIN_ALERTS_CHANNEL. The DAGs' failure callbacks use it."""
    from bot.scheduled import post_alert
    from bot.server import web_client
    from bot.settings import get_bot_settings

    try:
        settings = get_bot_settings()
        post_alert(web_client(settings), settings, text)
    except FinefinError as exc:
        raise _fail(str(exc)) from None


@bot_app.command("demo")
def demo(directory: Annotated[Path | None, typer.Option(help="Where to write the user directory.")] = None) -> None:
    """Show one answer per demo user and a refusal. Writes the demo users first (real customers, an advisor, a
    director), then prints commands to try next."""
    from bot.console import default_directory_path
    from bot.demo import finefin_command, next_steps, print_next_steps, show_demo, write_demo_people
    from bot.settings import get_bot_settings
    from finefin.text import make_console

    sl = _semantic_layer()
    path = directory or default_directory_path(get_bot_settings())
    console = make_console()
    try:
        people = write_demo_people(sl, path)
        show_demo(sl, path, console)
    except FinefinError as exc:
        raise _fail(str(exc)) from None
    # a --directory elsewhere than where `finefin ask` looks by default: the next steps say where
    env = {"FINEFIN_DIRECTORY_FILE": str(path.expanduser().resolve())} if directory is not None else {}
    print_next_steps(next_steps(people, finefin_command(env)), console)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(bot_app())
