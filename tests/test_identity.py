"""Identity a bank would sign off: the installed workspace only, confirmed emails, no guests, no stale access.

Everything goes through the Bolt app (signed requests) against the fake Slack Web API, as in production.
"""

# ruff: noqa: E402 - assertion rewriting must be registered before the support module is imported
from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.bot_support")

import json
import logging
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

from bot.workspace import FOREIGN_WORKSPACE, Installation
from finefin.errors import ConfigurationError
from tests.bot_support import People, ask_slack, command_body, dispatch, settings_for, sign, write_directory

pytest_plugins = ["tests.bot_support"]
UNKNOWN = "don't recognise you"


def _app(semantic_layer_impl: Any, fake_slack: Any, settings: Any) -> Any:
    from slack_sdk import WebClient

    from bot.app import build_app

    return build_app(semantic_layer_impl, settings, client=WebClient(token="xoxb-test", base_url=fake_slack.api_url))


def _command(fake_slack: Any, user: str, text: str, **fields: str) -> str:
    body = dict(parse_qsl(command_body(fake_slack, user, text)))
    body.update(fields)
    return urlencode(body)


def _answer_text(bolt_app: Any, fake_slack: Any, user: str, text: str = "balance") -> str:
    return ask_slack(bolt_app, fake_slack, user, text)[0]["text"]


def _event(event: dict[str, Any], event_id: str, team_id: str = "T0001") -> tuple[str, dict[str, str]]:
    body = json.dumps({
        "token": "legacy", "team_id": team_id, "api_app_id": "A0001", "type": "event_callback",
        "event_id": event_id, "event_time": int(time.time()), "event": event,
    })
    return body, {**sign(body), "content-type": "application/json"}


# --- the installed workspace only -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "why"),
    [({"team_id": "T0THEM"}, "foreign team"), ({"enterprise_id": "E0THEM"}, "foreign enterprise")],
)
def test_request_from_another_workspace_is_refused_before_any_lookup(
    bolt_app: Any, fake_slack: Any, people: People, fields: dict[str, str], why: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = _command(fake_slack, people.customer, "balance", **fields)
    with caplog.at_level(logging.WARNING, logger="bot.workspace"):
        resp = dispatch(bolt_app, body)
    assert resp.status == 200 and resp.body == FOREIGN_WORKSPACE, why
    time.sleep(0.3)
    assert not fake_slack.calls_to("response") and not fake_slack.calls_to("users.info")
    assert any("refused a request from a foreign" in r.getMessage() for r in caplog.records)
    assert len(fake_slack.calls_to("auth.test")) >= 1
    # the installed workspace is still answered, and auth.test is not asked again per request
    before = len(fake_slack.calls_to("auth.test"))
    assert "current balance" in _answer_text(bolt_app, fake_slack, people.customer)
    assert len(fake_slack.calls_to("auth.test")) == before


def test_foreign_event_is_dropped(bolt_app: Any, fake_slack: Any, people: People) -> None:
    body, headers = _event({"type": "app_home_opened", "user": people.customer, "tab": "home"}, "EvF1", "T0THEM")
    resp = dispatch(bolt_app, body, headers)
    assert resp.status == 200 and resp.body == ""
    time.sleep(0.3)
    assert not fake_slack.calls_to("views.publish")


def test_installation_rules() -> None:
    workspace = Installation("T1", None, False)
    assert workspace.refuses("T1", None) is None
    assert workspace.refuses("T2", None) and workspace.refuses(None, None) and workspace.refuses("T1", "E1")
    grid_workspace = Installation("T1", "E1", False)
    assert grid_workspace.refuses("T1", "E1") is None and grid_workspace.refuses("T2", "E1")
    org_wide = Installation(None, "E1", True)
    assert org_wide.refuses("T7", "E1") is None and org_wide.refuses("T7", "E2") and org_wide.refuses("T7", None)


def test_after_uninstall_a_failing_auth_test_refuses_politely(
    bolt_app: Any, fake_slack: Any, people: People
) -> None:
    """The installation is forgotten on app_uninstalled; auth.test now fails (token gone): nobody is answered."""
    body, headers = _event({"type": "app_uninstalled"}, "EvUninstall")
    assert dispatch(bolt_app, body, headers).status == 200
    fake_slack.error_for("auth.test", "invalid_auth")
    resp = dispatch(bolt_app, _command(fake_slack, people.customer, "balance"))
    assert resp.status == 200 and "cannot check where this request comes from" in resp.body
    time.sleep(0.3)
    assert not fake_slack.calls_to("response")


# --- who the user is ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("confirmed", [False, None], ids=["false", "missing"])
def test_customer_needs_a_confirmed_email(
    bolt_app: Any, fake_slack: Any, people: People, confirmed: bool | None
) -> None:
    user = fake_slack.users[people.customer]
    fake_slack.add_user(people.customer, user["profile"]["email"], user["name"], is_email_confirmed=confirmed)
    assert "is_email_confirmed" not in fake_slack.users[people.customer] or confirmed is False
    assert UNKNOWN in _answer_text(bolt_app, fake_slack, people.customer)


@pytest.mark.parametrize("flag", ["is_restricted", "is_ultra_restricted"])
def test_guests_get_no_customer_data_unless_allowed(
    semantic_layer_impl: Any, fake_slack: Any, people: People, flag: str
) -> None:
    for user_id in (people.customer, people.advisor):
        user = fake_slack.users[user_id]
        fake_slack.add_user(user_id, user["profile"]["email"], user["name"], **{flag: True})
    app = _app(semantic_layer_impl, fake_slack, settings_for(people))
    assert UNKNOWN in _answer_text(app, fake_slack, people.customer)
    assert "not available to you" in _answer_text(app, fake_slack, people.advisor, "watchlist") or UNKNOWN in (
        _answer_text(app, fake_slack, people.advisor, "watchlist")
    )
    allowed = _app(semantic_layer_impl, fake_slack, settings_for(people, allow_guests=True))
    assert "current balance" in _answer_text(allowed, fake_slack, people.customer)
    assert "Watchlist" in _answer_text(allowed, fake_slack, people.advisor, "watchlist")


@pytest.mark.parametrize("flag", ["deleted", "is_bot", "is_app_user"])
def test_deactivated_users_and_bots_are_refused_staff_included(
    bolt_app: Any, fake_slack: Any, people: People, flag: str
) -> None:
    for user_id in (people.customer, people.director):
        user = fake_slack.users[user_id]
        fake_slack.add_user(user_id, user["profile"]["email"], user["name"], **{flag: True})
    assert UNKNOWN in _answer_text(bolt_app, fake_slack, people.customer)
    assert UNKNOWN in _answer_text(bolt_app, fake_slack, people.director, "growth")


def test_deactivated_after_first_use_loses_access_on_user_change(
    bolt_app: Any, fake_slack: Any, people: People
) -> None:
    assert "current balance" in _answer_text(bolt_app, fake_slack, people.customer)
    user = fake_slack.users[people.customer]
    fake_slack.add_user(people.customer, user["profile"]["email"], user["name"], deleted=True)
    # cached for identity_cache_seconds (60 s here): without the event the user would still be answered
    assert "current balance" in _answer_text(bolt_app, fake_slack, people.customer)
    body, headers = _event({"type": "user_change", "user": fake_slack.users[people.customer]}, "EvUC1")
    assert dispatch(bolt_app, body, headers).status == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        text = _answer_text(bolt_app, fake_slack, people.customer)
        if UNKNOWN in text:
            break
        time.sleep(0.05)
    assert UNKNOWN in text


@pytest.mark.parametrize("event_type", ["tokens_revoked", "app_uninstalled"])
def test_revoked_or_uninstalled_drops_every_cached_identity(
    bolt_app: Any, fake_slack: Any, people: People, event_type: str
) -> None:
    assert "current balance" in _answer_text(bolt_app, fake_slack, people.customer)
    assert "Watchlist" in _answer_text(bolt_app, fake_slack, people.advisor, "watchlist")
    for user_id in (people.customer, people.advisor):
        user = fake_slack.users[user_id]
        fake_slack.add_user(user_id, user["profile"]["email"], user["name"], deleted=True)
    auth_tests = len(fake_slack.calls_to("auth.test"))
    event = {"type": event_type, **({"tokens": {"bot": ["UBOT"]}} if event_type == "tokens_revoked" else {})}
    body, headers = _event(event, f"Ev{event_type}")
    assert dispatch(bolt_app, body, headers).status == 200
    time.sleep(0.3)
    assert UNKNOWN in _answer_text(bolt_app, fake_slack, people.customer)
    assert UNKNOWN in _answer_text(bolt_app, fake_slack, people.advisor, "watchlist")
    assert len(fake_slack.calls_to("auth.test")) > auth_tests  # the installation is asked again


def test_failing_group_lookup_leaves_customers_answered(
    semantic_layer_impl: Any, fake_slack: Any, people: People, caplog: pytest.LogCaptureFixture
) -> None:
    fake_slack.groups["S0ADV"] = ["UGROUPADV"]
    fake_slack.add_user("UGROUPADV", "group.advisor@finefinance.example", "Group Advisor")
    settings = settings_for(people, advisor_group="S0ADV", director_group="S0DIR")
    app = _app(semantic_layer_impl, fake_slack, settings)
    assert "Watchlist" in _answer_text(app, fake_slack, "UGROUPADV", "watchlist")  # the group works...
    app = _app(semantic_layer_impl, fake_slack, settings)
    fake_slack.error_for("usergroups.users.list", "missing_scope")  # ...until the scope is removed
    with caplog.at_level(logging.WARNING, logger="bot.identity"):
        assert "current balance" in _answer_text(app, fake_slack, people.customer)
        assert "Watchlist" in _answer_text(app, fake_slack, people.advisor, "watchlist")  # configured by ID
        refused = _answer_text(app, fake_slack, "UGROUPADV", "watchlist")
    assert "something went wrong" not in refused and UNKNOWN in refused
    assert any("staff role unknown" in r.getMessage() and "missing_scope" in r.getMessage() for r in caplog.records)
    fake_slack.reset()  # the scope is back: nothing degraded was cached
    assert "Watchlist" in _answer_text(app, fake_slack, "UGROUPADV", "watchlist")


# --- the directory file is a console/demo stand-in --------------------------------------------------------------


def test_slack_modes_refuse_the_directory_file_unless_development(
    semantic_layer_impl: Any, fake_slack: Any, people: People, tmp_path: Any
) -> None:
    directory = write_directory(tmp_path / "slack_directory.json", semantic_layer_impl, people)
    with pytest.raises(ConfigurationError, match="FINEFIN_DEV_DIRECTORY"):
        _app(semantic_layer_impl, fake_slack, settings_for(people, directory_file=directory))
    dev = _app(semantic_layer_impl, fake_slack, settings_for(people, directory_file=directory, dev_directory=True))
    fake_slack.users.clear()  # users now come from the file only
    assert "current balance" in _answer_text(dev, fake_slack, people.customer)
    assert not fake_slack.calls_to("users.info")


def test_console_mode_keeps_the_directory_file(semantic_layer_impl: Any, people: People, tmp_path: Any) -> None:
    from tests.bot_support import make_assistant

    assistant = make_assistant(semantic_layer_impl, people, tmp_path)
    assert assistant.answer(people.customer, "balance").ok
    assert assistant.answer(people.advisor, "watchlist").ok


def test_manifest_subscribes_to_every_event_the_app_handles() -> None:
    """The listeners for these events are exercised above; Slack sends them only if the manifest asks."""
    from pathlib import Path

    import yaml

    manifest = yaml.safe_load((Path(__file__).parents[1] / "slack" / "manifest.yml").read_text())
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_home_opened", "user_change", "tokens_revoked", "app_uninstalled"} <= events
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert "chat:write.public" not in manifest["oauth_config"]["scopes"]["bot"]  # README: invite the bot to post


def test_a_change_seen_by_one_process_reaches_the_others(semantic_layer_impl: Any, people: People,
                                                          tmp_path: Any) -> None:
    """Two resolvers (two processes) share the revocations: user_change in one drops the other's cached identity."""
    from bot.identity import DirectoryFileLookup, IdentityResolver, LocalRevocations

    directory = write_directory(tmp_path / "directory.json", semantic_layer_impl, people)
    shared = LocalRevocations()
    settings = settings_for(people, identity_cache_seconds=3600)
    first, second = (IdentityResolver(DirectoryFileLookup(directory), semantic_layer_impl, settings,
                                      revocations=shared) for _ in range(2))
    assert first.resolve(people.customer).customer is not None
    assert second.resolve(people.customer).customer is not None
    entries = json.loads(directory.read_text())
    entries[people.customer]["deleted"] = True
    directory.write_text(json.dumps(entries))
    for resolver in (first, second):  # both re-read their lookup only when told
        resolver.lookup = DirectoryFileLookup(directory)
    assert second.resolve(people.customer).customer is not None  # cached: nobody said anything yet
    first.forget(people.customer)  # the user_change event reached the first process only
    assert not second.resolve(people.customer).known
    assert not first.resolve(people.customer).known
