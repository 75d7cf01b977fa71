"""The answer worker process: one warm Assistant per process, fed (request id, user id, text) jobs.

Everything here runs in the worker processes of bot/runtime.py (multiprocessing "spawn"): `init_worker` builds the
process's Assistant with its own semantic layer and Slack client, then warms the semantic layer's queries and the
PDF and chart renderers, so the first `statement` or `transactions` after start does not pay the cold start.
Jobs and answers cross the process boundary by pickle: `AnswerJob` in, `Answer` (text, blocks, data, file bytes) out.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.answer import Answer
from bot.settings import BotSettings

log = logging.getLogger(__name__)

DEFAULT_SEMANTIC_LAYER = "semantic_layer:get_semantic_layer"


@dataclass(frozen=True)
class AnswerJob:
    """One request to answer, as the web process parsed it from Slack's payload (pickled to a worker)."""

    request_id: str
    user_id: str
    text: str
    kind: str = "command"  # "command" (/finefin), "home" (App Home tab) or "action" (a button click)
    team_id: str | None = None
    enterprise_id: str | None = None
    channel_id: str | None = None
    trigger_id: str | None = None
    received_at: float = 0.0  # time.monotonic() in the web process: latency = answered - received
    action_id: str = ""  # kind "action": the clicked element's action_id and value (user-controlled, bounded)
    value: str = ""
    message_ts: str | None = None  # the message holding the button (for the log)


def run_job(assistant: Any, job: AnswerJob) -> Answer:
    """The job on an Assistant: a button click goes to `act`, the Home tab is the role's dashboard (bot/home.py),
    anything else a command. Every line logged for the job carries the web process's request id."""
    from bot.logs import request_context

    with request_context(job.request_id):
        if job.kind == "action":
            return assistant.act(job.user_id, job.action_id, job.value, request_id=job.request_id)  # type: ignore[no-any-return]
        if job.kind == "home":
            from bot.home import home_answer

            return home_answer(assistant, job.user_id, job.request_id, notice=job.text or None,
                               team_id=job.team_id)
        return assistant.answer(job.user_id, job.text, request_id=job.request_id)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker needs to build its Assistant: the bot settings and where its semantic layer comes from.

    `semantic_layer` is "module:function" returning a SemanticLayer (the default reads the warehouse that
    FINEFIN_* configure; tests name a test double's factory).
    """

    settings: BotSettings
    semantic_layer: str = DEFAULT_SEMANTIC_LAYER
    warm: bool = True
    log_level: int = logging.INFO
    nice: int = 10  # added to the workers' scheduling niceness: the web process's acks go first on a busy CPU


_assistant: Any = None
_status: Path | None = None  # this worker's status file: the request id it is computing, "" when idle


def _mark(request_id: str) -> None:
    if _status is not None:
        _status.write_text(request_id)


def _terminated(signum: int, frame: Any) -> None:
    """SIGTERM (the pool stops its workers after one died): not this worker's job that broke the pool."""
    _mark("")
    os._exit(0)


def load_factory(spec: str) -> Callable[[], Any]:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def init_worker(config: WorkerConfig, status_dir: str | None = None) -> None:
    """ProcessPoolExecutor initializer: build and warm this process's Assistant.

    `status_dir`: where this worker writes which request it is computing (file named by its pid), so that when a
    worker dies the web process knows whose request killed it and retries the others (bot/runtime.py).
    """
    global _assistant, _status
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the web process, which then stops its workers
    if config.nice > 0:
        os.nice(config.nice)
    if status_dir is not None:
        _status = Path(status_dir) / str(os.getpid())
        _mark("")
        signal.signal(signal.SIGTERM, _terminated)
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # fpdf2's font subsetting logs every glyph at INFO
    _exit_with_parent()
    from bot.logs import configure_logging

    configure_logging(config.log_level)  # spawned: the web process's logging set-up is not inherited
    from bot.app import build_assistant, make_client

    started = time.perf_counter()
    sl = load_factory(config.semantic_layer)()
    _assistant = build_assistant(sl, config.settings, make_client(config.settings), revocations=_revocations())
    if config.warm:
        warm_semantic_layer(sl)
        warm_renderers()
    log.info("answer worker %d ready in %.1f s", os.getpid(), time.perf_counter() - started)


def _revocations() -> Any:
    """The identity revocations in the state database, so a `user_change` seen by any web process reaches this
    worker's identity cache. Without the state database the cache still expires (FINEFIN_IDENTITY_CACHE_SECONDS)."""
    from bot.state import shared_state

    try:
        return shared_state().revocations
    except Exception:
        log.warning("state database unavailable: identity changes reach this worker only when its cache expires",
                    exc_info=True)
        return None


def _exit_with_parent() -> None:
    """Leave when the web process is gone, however it went: uvicorn re-raises SIGTERM after its shutdown, so the
    pool's atexit clean-up never runs, and a SIGKILLed parent runs nothing at all; without this the workers would
    live on as orphans, blocked on their call queue (each holds the queue's write end, so they never see EOF)."""
    import multiprocessing
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def answer_job(job: AnswerJob) -> Answer:
    """The work itself (in a worker): `Assistant.answer` never raises; errors come back as a polite Answer."""
    if _assistant is None:
        raise RuntimeError("answer worker used before init_worker")
    _mark(job.request_id)
    try:
        return run_job(_assistant, job)
    finally:
        _mark("")


def worker_freshness() -> dict[str, Any]:
    """The data freshness this worker's Assistant sees (SLA applied), as /readyz shows it."""
    if _assistant is None:
        raise RuntimeError("answer worker used before init_worker")
    from bot.http_guard import freshness_facts

    return freshness_facts(_assistant.freshness())


def worker_pid(pause: float = 0.0) -> int:
    """A no-op job: its result proves that a worker finished `init_worker` (start-up waits on these)."""
    time.sleep(pause)
    return os.getpid()


def warm_semantic_layer(sl: Any) -> None:
    """Run each kind of query the bot makes once (MetricFlow plans, DuckDB caches), for a watchlist customer."""
    calls: list[tuple[str, Callable[[], Any]]] = [
        ("freshness", sl.freshness), ("watchlist", lambda: sl.watchlist(None))
    ]
    for name, call in calls:
        try:
            call()
        except Exception:
            log.warning("warm-up: %s failed", name, exc_info=True)
    try:
        watchlist = sl.watchlist(None)
        customer = (watchlist.entries or watchlist.red_streaks)[0].customer_id
    except Exception:
        log.warning("warm-up: no customer to warm the per-customer queries with", exc_info=True)
        customer = None
    per_customer: list[tuple[str, Callable[[], Any]]] = [
        ("customer", lambda: sl.customer(customer)),
        ("balance", lambda: sl.balance(customer)),
        ("upcoming", lambda: sl.upcoming(customer, 30)),
        ("statement", lambda: sl.statement(customer, None)),
    ] if customer is not None else []
    aggregates: list[tuple[str, Callable[[], Any]]] = [
        ("monthly_growth", lambda: sl.monthly_growth(None, 6)),
        ("customers_per_tier", lambda: sl.customers_per_tier(None)),
        ("transactions_per_month", lambda: sl.transactions_per_month(12)),
        ("metric_names", sl.metric_names),
        ("metric catalog", lambda: _query_catalog(sl)),
        ("question vocabulary", lambda: _question_vocabulary(sl)),
    ]
    for name, call in per_customer + aggregates:
        try:
            call()
        except Exception:  # e.g. a customer with no statement for last month: the others still warm
            log.info("warm-up: %s skipped", name, exc_info=True)


def _query_catalog(sl: Any) -> Any:
    """The ad-hoc query catalog (metrics x dimensions, from the manifest and MetricFlow), built on first use."""
    from semantic_layer.query_service import query_service

    return query_service(sl).catalog()


def _question_vocabulary(sl: Any) -> Any:
    """The plain-English vocabulary of the load (the dimensions' values: a few queries), built on first use."""
    from semantic_layer.nl.live import vocabulary_of
    from semantic_layer.query_service import query_service

    return vocabulary_of(query_service(sl))


def warm_renderers() -> None:
    """Render a small statement PDF and a transactions chart: imports fpdf2 and matplotlib, loads the fonts."""
    from bot import charts
    from bot import statement_pdf as statements
    from semantic_layer.inputs import CustomerId, Month
    from semantic_layer.types import (
        Freshness,
        PostalAddress,
        Statement,
        StatementAccount,
        StatementLine,
        TransactionsMonthRow,
        TransactionsPerMonth,
    )

    month = Month(2026, 1)
    booked = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
    fresh = Freshness(booked, booked, timedelta(hours=26))
    account = StatementAccount(1, "FR7630006000011234567890189", "checking", date(2025, 1, 1), None)
    line = StatementLine(1, 1, booked, "deposit", "warm-up", Decimal("1.00"), Decimal("1.00"))
    statement = Statement(CustomerId(1), month, "Warm Up", Decimal("0.00"), (line,), Decimal("1.00"),
                          PostalAddress("1 rue", "75001", "Paris", "FR"), (account,), date(2026, 2, 1))
    statements.statement_pdf(statement, fresh, statements.Bank("FineFinance", "Paris", "Warm-up"))
    rows = tuple(TransactionsMonthRow(month, kind, 1, Decimal("1.00")) for kind in ("deposit", "withdrawal"))
    charts.transactions_chart(TransactionsPerMonth(month, month, rows), fresh)
