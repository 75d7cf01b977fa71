"""Scheduled posts the Airflow DAGs call (and `finefin bot post-…`): advisors' daily watchlist, directors' digest.

A post from stale data is refused (StaleDataError, with the reason) so the DAG can alert instead. Rate limits are
handled by the client (RateLimitErrorRetryHandler honours Retry-After); any post that still fails is recorded
and the call raises PostFailedError after trying the rest — never a silent drop.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol

from slack_sdk.errors import SlackApiError, SlackClientError

from bot import blocks as bk
from bot import charts
from bot.answer import Answer, FileAttachment
from bot.commands.watchlist import watchlist_answer
from bot.delivery import fallback_text, open_dm, upload_files
from bot.escape import slack_text
from bot.files import csv_bytes
from bot.money import money_column
from bot.settings import BotSettings
from finefin.errors import ConfigurationError, FinefinError
from semantic_layer.api import SemanticLayer
from semantic_layer.errors import FutureMonthError
from semantic_layer.inputs import Month
from semantic_layer.types import Freshness, Watchlist

log = logging.getLogger(__name__)
DIGEST_METRICS = ("revenue", "transaction_volume", "transaction_count", "new_customers", "customers")


class StaleDataError(FinefinError):
    """The warehouse is older than the freshness SLA: posting would spread old numbers."""


@dataclass
class PostReport:
    posted: list[str] = field(default_factory=list)  # "<what> → <channel>"
    failed: list[str] = field(default_factory=list)  # "<what> → <channel>: <error>"
    skipped: list[str] = field(default_factory=list)  # already posted earlier (a retried DAG task)


class PostLedger(Protocol):
    """Keys of posts made, claimed before posting (`bot.state`, PostgreSQL): across processes and machines a post
    is made once; a failed one is released, so a retried DAG task re-posts only what failed."""

    def claim(self, key: str) -> bool: ...
    def complete(self, key: str) -> bool: ...
    def release(self, key: str) -> bool: ...


def open_post_ledger(url: str | None = None) -> PostLedger:
    """The post ledger in the state database (FINEFIN_STATE_URL, else the embedded one), migrated to head."""
    from bot.state import open_state, shared_state

    return (open_state(url) if url else shared_state()).post_ledger


class PostFailedError(FinefinError):
    def __init__(self, report: PostReport) -> None:
        self.report = report
        super().__init__(f"{bk.plural(len(report.failed), 'Slack post')} failed: {'; '.join(report.failed)}")


def checked_freshness(sl: SemanticLayer, settings: BotSettings) -> Freshness:
    fresh = sl.freshness()
    if settings.freshness_sla_hours is not None:
        fresh = dataclasses.replace(fresh, sla=timedelta(hours=settings.freshness_sla_hours))
    if fresh.is_stale:
        age = "no successful load recorded" if fresh.age is None else f"last load {fresh.age} ago"
        raise StaleDataError(f"Refusing to post from stale data: {age}, SLA {fresh.sla}.")
    return fresh


def _post(
    client: Any,
    channel: str,
    answer: Answer,
    what: str,
    report: PostReport,
    ledger: PostLedger | None = None,
    key: str | None = None,
) -> None:
    target = f"{what} → {channel}"
    if ledger is not None and key is not None and not ledger.claim(key):
        log.info("already posted (or being posted by another process) %s (%s): skipped", target, key)
        report.skipped.append(target)
        return
    try:
        client.chat_postMessage(
            channel=channel, text=fallback_text(answer.text), blocks=answer.blocks, unfurl_links=False
        )
        if answer.files:
            upload_files(client, channel, answer.files)
    except (SlackApiError, SlackClientError, OSError) as exc:
        error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
        log.error("post failed: %s: %s", target, error)
        report.failed.append(f"{target}: {error}")
        if ledger is not None and key is not None:
            ledger.release(key)  # a retry posts it
        return
    except BaseException:
        if ledger is not None and key is not None:
            ledger.release(key)
        raise
    log.info("posted %s", target)
    report.posted.append(target)
    if ledger is not None and key is not None:
        ledger.complete(key)


def _attach_red_csv(answer: Answer, watchlist: Watchlist, limit: int) -> None:
    """The red streaks cut at `limit` in the message go along whole as a CSV, as `/finefin red` does."""
    if len(watchlist.red_streaks) <= limit:
        return
    header = ["customer_id", "name", "months", "since", money_column(f"balance_at_{watchlist.month.last_day}")]
    rows = [[r.customer_id, r.full_name, r.months, r.since, r.balance] for r in watchlist.red_streaks]
    answer.files.append(FileAttachment(f"red-{watchlist.month}.csv", csv_bytes(header, rows),
                                       "Customers in the red (CSV)"))


def _only(watchlist: Watchlist, customer_ids: set[int]) -> Watchlist:
    return dataclasses.replace(
        watchlist,
        entries=tuple(e for e in watchlist.entries if e.customer_id.value in customer_ids),
        red_streaks=tuple(r for r in watchlist.red_streaks if r.customer_id.value in customer_ids),
    )


def post_advisor_watchlist(
    sl: SemanticLayer,
    client: Any,
    settings: BotSettings,
    month: Month | None = None,
    ledger: PostLedger | None = None,
    run_date: date | None = None,
) -> PostReport:
    """The watchlist (and red streaks) to the advisors' channel; each assigned advisor gets their customers by DM."""
    if not settings.advisor_channel:
        raise ConfigurationError("FINEFIN_ADVISOR_CHANNEL is not set.")
    fresh = checked_freshness(sl, settings)
    watchlist = sl.watchlist(month)
    report = PostReport()
    answer = watchlist_answer(watchlist, fresh, settings.list_limit, f"Daily watchlist {watchlist.month}")
    answer.blocks = bk.message([*answer.blocks[:-1], *bk.red_blocks(watchlist, fresh, settings.list_limit)])
    _attach_red_csv(answer, watchlist, settings.list_limit)
    day = (run_date or date.today()).isoformat()
    _post(
        client,
        settings.advisor_channel,
        answer,
        "watchlist",
        report,
        ledger,
        f"watchlist:{day}:{settings.advisor_channel}",
    )
    for advisor, customer_ids in sorted(settings.advisor_assignments.items()):
        mine = _only(watchlist, set(customer_ids))
        personal = watchlist_answer(mine, fresh, settings.list_limit, f"Your customers on the watchlist {mine.month}")
        if mine.red_streaks:
            personal.blocks = bk.message([*personal.blocks[:-1], *bk.red_blocks(mine, fresh, settings.list_limit)])
            _attach_red_csv(personal, mine, settings.list_limit)
        try:
            channel = open_dm(client, advisor)
        except (SlackApiError, SlackClientError, OSError) as exc:
            report.failed.append(f"watchlist DM → {advisor}: {exc}")
            continue
        _post(client, channel, personal, f"watchlist DM for {advisor}", report, ledger, f"watchlist:{day}:dm:{advisor}")
    if report.failed:
        raise PostFailedError(report)
    return report


def post_director_digest(
    sl: SemanticLayer, client: Any, settings: BotSettings, month: Month | None = None, ledger: PostLedger | None = None
) -> PostReport:
    """Growth, tiers, the governed definitions, and the transactions chart, to the directors' channel."""
    if not settings.director_channel:
        raise ConfigurationError("FINEFIN_DIRECTOR_CHANNEL is not set.")
    fresh = checked_freshness(sl, settings)
    growth = sl.monthly_growth(month, 6)
    if growth.is_month_to_date:  # a running month is a month to date: the digest reports complete months only
        raise FutureMonthError(f"{growth.month} is not over yet; the digest covers complete months.")
    tiers = sl.customers_per_tier(growth.month)
    tpm = sl.transactions_per_month(12)
    known = set(sl.metric_names())
    definitions = [sl.define(name) for name in DIGEST_METRICS if name in known]
    answer = Answer(
        text=f"Monthly digest {growth.month}: revenue {bk.money(growth.current.revenue)}",
        blocks=bk.digest_blocks(growth, tiers, definitions, fresh),
        files=[charts.transactions_chart(tpm, fresh)],
    )
    report = PostReport()
    _post(
        client,
        settings.director_channel,
        answer,
        "director digest",
        report,
        ledger,
        f"digest:{growth.month}:{settings.director_channel}",
    )
    if report.failed:
        raise PostFailedError(report)
    return report


def post_alert(client: Any, settings: BotSettings, text: str) -> None:
    """An operational alert (e.g. from a DAG's failure callback) to FINEFIN_ALERTS_CHANNEL. Raises on failure."""
    if not settings.alerts_channel:
        raise ConfigurationError("FINEFIN_ALERTS_CHANNEL is not set.")
    # the alert text carries exception messages (data, paths, user input): escaped, its lines kept
    shown = slack_text(text, bk.MAX_SECTION_CHARS - 20, multiline=True)
    answer = Answer(text=shown, blocks=[bk.section(f":rotating_light: {shown}")])
    report = PostReport()
    _post(client, settings.alerts_channel, answer, "alert", report)
    if report.failed:
        raise PostFailedError(report)
