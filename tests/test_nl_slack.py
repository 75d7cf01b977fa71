"""Questions where people talk (bot/listeners/events/questions.py): an @mention in a channel is answered only to
the asker (chat.postEphemeral, never a channel post), a DM to the bot in that DM; the bot's own messages and
channel chatter without a mention are ignored; a redelivered event is answered once. Over the local fake Slack."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.bot_support")

import json  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from bot.blocks import money  # noqa: E402
from bot.listeners.events.questions import question_text  # noqa: E402
from semantic_layer.inputs import CustomerId  # noqa: E402
from tests.bot_support import People, dispatch, sign  # noqa: E402

pytest_plugins = ["tests.bot_support"]


def _event(event: dict[str, Any], event_id: str) -> tuple[str, dict[str, str]]:
    body = json.dumps({"token": "legacy", "team_id": "T0001", "api_app_id": "A0001", "type": "event_callback",
                       "event_id": event_id, "event_time": int(time.time()),
                       "event": {"event_ts": f"{time.time():.6f}", "ts": f"{time.time():.6f}", **event}})
    return body, {**sign(body), "content-type": "application/json"}


def test_mention_text_drops_the_bot() -> None:
    assert question_text("<@U0BOT> revenue by tier  last quarter") == "revenue by tier last quarter"
    assert question_text("<@U0BOT|finefin>") == "help"


def test_a_mention_in_a_channel_is_answered_only_to_the_asker(bolt_app: Any, fake_slack: Any,
                                                               people: People, semantic_layer_impl: Any) -> None:
    body, headers = _event({"type": "app_mention", "user": people.customer, "channel": "C0PUBLIC",
                            "text": "<@U0BOT> balance"}, "EvQ001")
    assert dispatch(bolt_app, body, headers).status == 200
    assert dispatch(bolt_app, body, {**headers, "x-slack-retry-num": "1"}).status == 200  # redelivery
    post = fake_slack.wait_calls("chat.postEphemeral")[0].params
    assert post["channel"] == "C0PUBLIC" and post["user"] == people.customer
    total = semantic_layer_impl.balance(CustomerId(people.customer_id)).total
    assert money(total) in json.dumps(post["blocks"])
    time.sleep(0.3)
    assert len(fake_slack.calls_to("chat.postEphemeral")) == 1
    assert fake_slack.calls_to("chat.postMessage") == []  # customer data never posted in the channel


def test_a_dm_is_answered_in_the_dm_and_noise_is_ignored(bolt_app: Any, fake_slack: Any, people: People) -> None:
    for n, event in enumerate([
        {"type": "message", "channel_type": "channel", "user": people.director, "channel": "C0PUBLIC",
         "text": "growth"},  # channel chatter: not for the bot
        {"type": "message", "channel_type": "im", "bot_id": "B0BOT", "user": people.director, "channel": "D0DIR",
         "text": "growth"},  # the bot's own message
        {"type": "message", "channel_type": "im", "user": people.director, "channel": "D0DIR", "text": "growth"},
    ]):
        body, headers = _event(event, f"EvQ1{n}")
        assert dispatch(bolt_app, body, headers).status == 200
    post = fake_slack.wait_calls("chat.postMessage")[0].params
    assert post["channel"] == "D0DIR" and "Growth" in json.dumps(post["blocks"]) + str(post.get("text"))
    time.sleep(0.3)
    assert len(fake_slack.calls_to("chat.postMessage")) == 1 and fake_slack.calls_to("chat.postEphemeral") == []


def test_a_reply_in_a_thread_is_answered_in_that_thread(bolt_app: Any, fake_slack: Any, people: People) -> None:
    """A reply in a DM thread goes to the question path with the thread's key (read against the thread's last
    answer: tests/test_nl_bot.py); the answer stays in the thread."""
    body, headers = _event({"type": "message", "channel_type": "im", "user": people.director, "channel": "D0DIR",
                            "text": "and by tier?", "thread_ts": "1700000000.000100", "ts": "1700000001.000200"},
                           "EvQ201")
    assert dispatch(bolt_app, body, headers).status == 200
    post = fake_slack.wait_calls("chat.postMessage")[0].params
    assert post["channel"] == "D0DIR" and post["thread_ts"] == "1700000000.000100"


def test_the_manifest_asks_for_mentions_and_dms() -> None:
    from pathlib import Path

    import yaml

    manifest = yaml.safe_load((Path(__file__).parents[1] / "slack" / "manifest.yml").read_text())
    assert {"app_mention", "message.im"} <= set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_mentions:read", "im:history"} <= set(manifest["oauth_config"]["scopes"]["bot"])
    assert manifest["features"]["app_home"]["messages_tab_read_only_enabled"] is False
