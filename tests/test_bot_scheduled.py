"""Scheduled posts: advisors' watchlist and directors' digest; 429 retried, failures reported, stale refused."""

# ruff: noqa: E402 - assertion rewriting must be registered before the support module is imported
from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.bot_support")

import json
from datetime import timedelta
from typing import Any

from bot.app import make_client
from bot.blocks import money
from bot.scheduled import PostFailedError, StaleDataError, post_advisor_watchlist, post_director_digest
from tests.bot_support import NOW, People, require_double, settings_for

pytest_plugins = ["tests.bot_support"]


def _setup(fake: Any, people: People, **overrides: Any) -> tuple[Any, Any]:
    settings = settings_for(people, slack_api_url=fake.api_url, **overrides)
    return settings, make_client(settings)


def test_watchlist_to_channel_and_assigned_advisor_dm(
    semantic_layer_impl: Any, fake_slack: Any, people: People
) -> None:
    settings, client = _setup(fake_slack, people, advisor_assignments={people.advisor: [people.red_customer_id]})
    report = post_advisor_watchlist(semantic_layer_impl, client, settings)
    assert report.failed == [] and len(report.posted) == 2
    posts = fake_slack.calls_to("chat.postMessage")
    assert [p.params["channel"] for p in posts] == ["CADV", f"D{people.advisor}"]
    channel_text = json.dumps(posts[0].params["blocks"], ensure_ascii=False)
    wl = semantic_layer_impl.watchlist(None)
    for entry in wl.entries:
        assert f"(#{entry.customer_id})" in channel_text
    assert "months in the red since" in channel_text
    dm_text = json.dumps(posts[1].params["blocks"], ensure_ascii=False)
    assert f"(#{people.red_customer_id})" in dm_text
    others = {e.customer_id.value for e in wl.entries} - {people.red_customer_id}
    assert all(f"(#{cid})" not in dm_text for cid in others)


def test_long_watchlist_attaches_csv(fake_slack: Any, people: People) -> None:
    from tests.bot_support import build_double

    sl = build_double(extra_watch_entries=60)
    settings, client = _setup(fake_slack, people)
    post_advisor_watchlist(sl, client, settings)
    files = fake_slack.uploaded()
    assert len(files["watchlist-2026-10.csv"].decode().strip().splitlines()) == 1 + 62
    assert fake_slack.calls_to("files.completeUploadExternal")[0].params["channel_id"] == "CADV"


def test_rate_limited_post_is_retried(semantic_layer_impl: Any, fake_slack: Any, people: People) -> None:
    settings, client = _setup(fake_slack, people)
    fake_slack.fail_next(2, retry_after=0)
    report = post_advisor_watchlist(semantic_layer_impl, client, settings)
    assert report.posted == ["watchlist → CADV"]
    limited = [c for c in fake_slack.calls if c.status == 429]
    assert [c.method for c in limited] == ["chat.postMessage", "chat.postMessage"]
    assert len(fake_slack.calls_to("chat.postMessage")) == 1


def test_failed_post_is_raised_not_dropped(semantic_layer_impl: Any, fake_slack: Any, people: People) -> None:
    settings, client = _setup(fake_slack, people)
    fake_slack.error_for("chat.postMessage", "channel_not_found")
    with pytest.raises(PostFailedError) as info:
        post_director_digest(semantic_layer_impl, client, settings)
    assert info.value.report.failed == ["director digest → CDIR: channel_not_found"]
    assert "channel_not_found" in str(info.value)


def test_rate_limit_beyond_retries_is_reported(semantic_layer_impl: Any, fake_slack: Any, people: People) -> None:
    settings, client = _setup(fake_slack, people)
    fake_slack.fail_next(10, retry_after=0)
    with pytest.raises(PostFailedError, match="ratelimited"):
        post_advisor_watchlist(semantic_layer_impl, client, settings)


def test_stale_data_is_not_posted(semantic_layer_impl: Any, fake_slack: Any, people: People) -> None:
    settings, client = _setup(fake_slack, people)
    require_double(semantic_layer_impl).last_load_at = NOW - timedelta(hours=40)
    with pytest.raises(StaleDataError, match="stale data"):
        post_advisor_watchlist(semantic_layer_impl, client, settings)
    with pytest.raises(StaleDataError):
        post_director_digest(semantic_layer_impl, client, settings)
    assert fake_slack.calls_to("chat.postMessage") == []


def test_configured_sla_overrides_the_semantic_layer(semantic_layer_impl: Any, fake_slack: Any, people: People) -> None:
    require_double(semantic_layer_impl)
    settings, client = _setup(fake_slack, people, freshness_sla_hours=1)  # data is 2 h old
    with pytest.raises(StaleDataError):
        post_director_digest(semantic_layer_impl, client, settings)


def test_director_digest(semantic_layer_impl: Any, fake_slack: Any, people: People) -> None:
    settings, client = _setup(fake_slack, people)
    report = post_director_digest(semantic_layer_impl, client, settings)
    assert report.posted == ["director digest → CDIR"]
    post = fake_slack.calls_to("chat.postMessage")[0].params
    text = json.dumps(post["blocks"], ensure_ascii=False)
    growth = semantic_layer_impl.monthly_growth(None, 6)
    assert f"Revenue: *{money(growth.current.revenue)}*" in text
    for tier in semantic_layer_impl.customers_per_tier(growth.month).tiers:
        assert f"{tier.tier}: *{tier.customers:,d}*" in text
    assert semantic_layer_impl.define("revenue").definition in text
    assert len(post["blocks"]) <= 50
    assert fake_slack.uploaded()["transactions.png"].startswith(b"\x89PNG")
    assert fake_slack.calls_to("files.completeUploadExternal")[0].params["channel_id"] == "CDIR"


def test_director_digest_refuses_a_month_not_over(semantic_layer_impl: Any, fake_slack: Any, people: People) -> None:
    from semantic_layer.errors import FutureMonthError
    from semantic_layer.inputs import Month

    require_double(semantic_layer_impl)
    settings, client = _setup(fake_slack, people)
    running = Month.of(semantic_layer_impl.today)
    assert semantic_layer_impl.monthly_growth(running).is_month_to_date  # what `growth` answers for it
    with pytest.raises(FutureMonthError, match=f"{running} is not over yet; the digest covers complete months"):
        post_director_digest(semantic_layer_impl, client, settings, running)
    assert fake_slack.calls_to("chat.postMessage") == [] and fake_slack.uploaded() == {}


def test_retried_task_never_posts_twice(
    semantic_layer_impl: Any, fake_slack: Any, people: People, state_store: Any
) -> None:
    from datetime import date

    settings, client = _setup(
        fake_slack,
        people,
        advisor_assignments={people.advisor: [people.red_customer_id], "UADV2": [people.customer_id]},
    )
    ledger = state_store.post_ledger
    fake_slack.error_for("conversations.open", "user_not_found")  # the DMs fail on the first run
    with pytest.raises(PostFailedError) as info:
        post_advisor_watchlist(semantic_layer_impl, client, settings, ledger=ledger, run_date=date(2026, 11, 24))
    assert info.value.report.posted == ["watchlist → CADV"] and len(info.value.report.failed) == 2
    fake_slack.reset()
    report = post_advisor_watchlist(semantic_layer_impl, client, settings, ledger=ledger, run_date=date(2026, 11, 24))
    assert report.skipped == ["watchlist → CADV"]
    assert [c.params["channel"] for c in fake_slack.calls_to("chat.postMessage")] == [f"D{people.advisor}", "DUADV2"]
    fake_slack.reset()
    report = post_advisor_watchlist(semantic_layer_impl, client, settings, ledger=ledger, run_date=date(2026, 11, 24))
    assert report.posted == [] and len(report.skipped) == 3 and fake_slack.calls_to("chat.postMessage") == []


def test_alert_and_cli_post(
    semantic_layer_impl: Any, fake_slack: Any, people: People, tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
    state_store: Any,
) -> None:
    from typer.testing import CliRunner

    import semantic_layer
    from bot.scheduled import post_alert
    from bot.settings import get_bot_settings
    from finefin.cli import app
    from finefin.config import get_settings

    settings, client = _setup(fake_slack, people, alerts_channel="CALERT")
    post_alert(client, settings, "dbt build failed <tests>")
    alert = fake_slack.calls_to("chat.postMessage")[0].params
    assert alert["channel"] == "CALERT" and "dbt build failed &lt;tests&gt;" in json.dumps(alert["blocks"])

    monkeypatch.setattr(semantic_layer, "get_semantic_layer", lambda: semantic_layer_impl, raising=False)
    for key, value in {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "FINEFIN_SLACK_API_URL": fake_slack.api_url,
        "FINEFIN_DIRECTOR_CHANNEL": "CDIR",
        "FINEFIN_DATA_DIR": str(tmp_path),
        "FINEFIN_STATE_URL": state_store.engine.url.render_as_string(hide_password=False),
    }.items():
        monkeypatch.setenv(key, value)
    get_bot_settings.cache_clear()
    get_settings.cache_clear()
    try:
        fake_slack.reset()
        result = CliRunner().invoke(app, ["bot", "post-digest"])
        assert result.exit_code == 0, result.output
        again = CliRunner().invoke(app, ["bot", "post-digest"])
        assert again.exit_code == 0 and "already posted: director digest → CDIR" in again.output
        assert len(fake_slack.calls_to("chat.postMessage")) == 1
        require_double(semantic_layer_impl).last_load_at = None
        stale = CliRunner().invoke(app, ["bot", "post-digest", "--force"])
        assert stale.exit_code == 1 and "stale data" in stale.output
    finally:
        get_bot_settings.cache_clear()
        get_settings.cache_clear()
